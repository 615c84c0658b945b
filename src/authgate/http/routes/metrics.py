"""``GET /metrics``: the Prometheus exposition (``authgate.metrics``), added at the root only
with ``metrics.enabled``; with ``metrics.token`` set it asks for ``Authorization: Bearer
<token>``. Not under ``/auth`` and never rate limited (a scraper calls it every few seconds).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from authgate.crypto.keys import equal
from authgate.errors import AuthError, Code
from authgate.http.deps import Res
from authgate.http.schemas import errors

router = APIRouter(tags=["Health"])
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/metrics", response_class=Response, summary="Prometheus metrics",
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition"}, **errors(401)})
async def metrics(res: Res, request: Request) -> Response:
    token = res.settings.metrics.token
    if token is not None:
        header = request.headers.get("authorization", "")
        if not header:
            raise AuthError(Code.NO_AUTH_PROVIDED)
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not equal(given.strip().encode(),
                                                   token.get_secret_value().encode()):
            raise AuthError(Code.INVALID_TOKEN)
    assert res.metrics is not None  # the route exists only with metrics.enabled
    return Response(res.metrics.render(), media_type=CONTENT_TYPE,
                    headers={"Cache-Control": "no-store"})
