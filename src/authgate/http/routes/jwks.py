"""``GET /.well-known/jwks.json``: the public keys access tokens are signed with (RFC 7517),
for services that verify them offline (``authgate.verifier``, any JOSE library).

Outside ``/auth`` (``AuthGate.install`` adds it at the root; ``gate.jwks_router`` for a host
that wants it elsewhere), never rate limited and cacheable by anyone: ``max-age`` is
``jwt.jwks_max_age`` (default the access-token lifetime, the rotation overlap). With HS*
there is no public key: 404 ``JWKS_NOT_AVAILABLE``.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.responses import Response

from authgate.http.deps import Res
from authgate.http.schemas import errors

router = APIRouter(tags=["Keys"])


class JwkOut(BaseModel):
    """A public key (RFC 7517/7518/8037); ``kid`` is its RFC 7638 thumbprint."""

    kty: Literal["RSA", "EC", "OKP"]
    kid: str
    alg: Literal["RS256", "ES256", "EdDSA"]
    use: Literal["sig"]
    n: str | None = None
    e: str | None = None
    crv: Literal["P-256", "Ed25519", "Ed448"] | None = None
    x: str | None = None
    y: str | None = None


class JwksOut(BaseModel):
    keys: list[JwkOut]
    """The current signing key first, then the previous ones still accepted."""


@router.get("/.well-known/jwks.json", response_model=JwksOut,
            summary="Public keys of the access tokens (JWKS)",
            responses=errors(404))
async def jwks(res: Res) -> Response:
    body = res.tokens.public_keys()
    return Response(body, media_type="application/json", headers={
        "Cache-Control": f"public, max-age={res.settings.jwt.jwks_cache_seconds}",
        "X-Content-Type-Options": "nosniff",
        "Access-Control-Allow-Origin": "*",  # public data, fetched without credentials
    })
