"""The server-side authorization-code flow with PKCE (RFC 7636, S256), ``state`` and, for
OpenID Connect, ``nonce``: for apps that do not want provider tokens in the browser.

``start`` stores the flow (keyed hash of the random ``state``; the PKCE verifier, nonce,
mode and opener origin encrypted) and returns the provider's authorization URL plus a
*binding* value the HTTP edge puts in a cookie: the callback must come back to the browser
that started the flow (a victim cannot be made to complete an attacker's flow, login CSRF).
``take`` spends the flow (a ``DELETE … RETURNING``: a replayed or tampered ``state``
finds nothing); ``exchange`` trades the code (with the verifier) for the verified
profile. ``issue_result``/``take_result`` are the opener's one-time result.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlencode

from sqlalchemy import delete

from authgate.config import GithubSettings, OidcProviderSettings, Settings
from authgate.crypto.keys import derive, equal, keyed_hash
from authgate.errors import AuthError, Code
from authgate.federation import apis, oidc, outbound
from authgate.federation.models import OAuthGrant
from authgate.federation.profile import Profile, text
from authgate.resources import Resources
from authgate.tx import transaction

Mode = Literal["cookie", "message"]
STATE_PREFIX = "ag."
"""Our ``state`` values start with it: the callback tells its own flows from upstream's
client-side ones (whose query it only relays to the opener)."""


@dataclass(frozen=True)
class Flow:
    """A flow taken by its callback."""

    provider: str
    mode: Mode
    origin: str | None
    return_to: str | None
    create_user: bool
    tenant_id: str | None = None
    verifier: str = field(repr=False, default="")
    nonce: str = field(repr=False, default="")
    redirect_uri: str = ""


def provider_config(settings: Settings, name: str) -> OidcProviderSettings | GithubSettings | None:
    """The provider ``name`` if it can run the code flow (it has a client secret):
    ``social.google``, a ``social.oidc`` entry, or ``social.github``."""
    social = settings.social
    cfg: OidcProviderSettings | GithubSettings | None = (
        social.google if name == "google" else social.github if name == "github"
        else social.oidc.get(name))
    if cfg is None or cfg.client_id is None or cfg.client_secret is None:
        return None
    return cfg


def _grant_id(res: Resources, kind: str, value: str) -> str:
    return keyed_hash(derive(res.keys.root, "oauth-grant"), f"{kind}:{value}")


def _binding_hash(binding: str) -> str:
    return hashlib.sha256(binding.encode()).hexdigest()


def allowed_return(settings: Settings, url: str | None) -> bool:
    """``returnTo`` must be a page of a configured origin (no open redirect)."""
    if url is None:
        return True
    return any(url == o or url.startswith(o + "/") for o in settings.social.callback_origins)


async def start(res: Resources, name: str, *, redirect_uri: str, mode: Mode,
                origin: str | None, return_to: str | None, create_user: bool,
                tenant_id: str | None) -> tuple[str, str]:
    """``(authorization URL, binding)``. INVALID_PROVIDER for a provider without the code
    flow; INVALID_INPUT for an origin or return URL that is not configured."""
    cfg = provider_config(res.settings, name)
    if cfg is None:
        raise AuthError(Code.INVALID_PROVIDER)
    origins = res.settings.social.callback_origins
    if mode == "message" and origin is None:
        raise AuthError(Code.INVALID_INPUT, "origin is required with mode=message")
    if origin is not None and origin not in origins:
        raise AuthError(Code.INVALID_INPUT, "origin is not one of social.callback_origins")
    if not allowed_return(res.settings, return_to):
        raise AuthError(Code.INVALID_INPUT, "returnTo is not on one of social.callback_origins")
    if mode == "cookie" and res.settings.session.access_token_type == "header":
        raise AuthError(Code.INVALID_INPUT, "mode=cookie needs cookie sessions")
    state = STATE_PREFIX + secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    nonce = secrets.token_urlsafe(24)
    binding = secrets.token_urlsafe(32)
    from authlib.oauth2.rfc7636 import (  # type: ignore[import-untyped]
        create_s256_code_challenge,
    )

    params = {"response_type": "code", "client_id": cfg.client_id or "",
              "redirect_uri": redirect_uri, "state": state,
              "code_challenge": create_s256_code_challenge(verifier),
              "code_challenge_method": "S256"}
    if isinstance(cfg, OidcProviderSettings):
        authorize = (await oidc.discovery(res, name, cfg)).get("authorization_endpoint")
        if not text(authorize, 2048):
            raise AuthError(Code.OAUTH_PROVIDER_ERROR, "The provider has no authorization "
                                                       "endpoint")
        params |= {"scope": " ".join(cfg.scopes), "nonce": nonce}
    else:
        authorize = cfg.authorize_url
        params |= {"scope": "read:user user:email"}
    payload = {"verifier": verifier, "nonce": nonce, "mode": mode, "origin": origin,
               "returnTo": return_to, "binding": _binding_hash(binding),
               "redirectUri": redirect_uri, "create": create_user, "tenantId": tenant_id}
    await _put(res, "state", state, name, payload)
    sep = "&" if "?" in str(authorize) else "?"
    return f"{authorize}{sep}{urlencode(params)}", binding


async def _put(res: Resources, kind: str, value: str, provider: str,
               payload: dict[str, Any]) -> None:
    now = res.clock.now()
    gid = _grant_id(res, kind, value)
    async with transaction(res.sessionmaker) as tx:
        await tx.session.execute(delete(OAuthGrant).where(OAuthGrant.expires_at < now))
        tx.session.add(OAuthGrant(
            id=gid, kind=kind, provider=provider,
            payload=res.secretbox.encrypt(json.dumps(payload), aad=gid.encode()),
            expires_at=now + res.settings.social.flow_lifetime))


async def _take(res: Resources, kind: str, value: str) -> tuple[str, dict[str, Any]]:
    """Delete the grant and return ``(provider, payload)``; OAUTH_STATE_INVALID when it
    does not exist (never issued, already used, tampered) or has expired."""
    if not value or len(value) > 512:
        raise AuthError(Code.OAUTH_STATE_INVALID)
    gid = _grant_id(res, kind, value)
    async with transaction(res.sessionmaker) as tx:
        row = (await tx.session.execute(
            delete(OAuthGrant).where(OAuthGrant.id == gid, OAuthGrant.kind == kind)
            .returning(OAuthGrant.provider, OAuthGrant.payload, OAuthGrant.expires_at)
        )).first()
    if row is None or _expired(res, row.expires_at):
        raise AuthError(Code.OAUTH_STATE_INVALID)
    return row.provider, json.loads(res.secretbox.decrypt(row.payload, aad=gid.encode()))


def _expired(res: Resources, at: datetime) -> bool:
    return res.clock.now() >= at


async def take(res: Resources, name: str, *, state: str, binding: str | None) -> Flow:
    """The flow ``state`` started, spent now. OAUTH_STATE_INVALID: unknown, used or expired
    state, another provider's, or a browser without the flow's binding cookie."""
    provider, p = await _take(res, "state", state)
    if provider != name or binding is None or not equal(_binding_hash(binding), p["binding"]):
        raise AuthError(Code.OAUTH_STATE_INVALID)
    return Flow(provider=name, mode=p["mode"], origin=p["origin"], return_to=p["returnTo"],
                create_user=bool(p["create"]), tenant_id=p["tenantId"],
                verifier=p["verifier"], nonce=p["nonce"],
                redirect_uri=p["redirectUri"])


async def exchange(res: Resources, flow: Flow, *, code: str | None,
                   error: str | None) -> Profile:
    """The profile the callback's code proves. OAUTH_PROVIDER_ERROR: the provider refused
    (its ``error``), or the code exchange or the ID token (nonce included) failed."""
    if error is not None or not code:
        raise AuthError(Code.OAUTH_PROVIDER_ERROR,
                        f"The provider did not sign you in ({(error or 'no code')[:64]})")
    name = flow.provider
    cfg = provider_config(res.settings, name)
    if cfg is None:
        raise AuthError(Code.INVALID_PROVIDER)
    assert cfg.client_secret is not None and cfg.client_id is not None
    form = {"grant_type": "authorization_code", "code": code[:2048],
            "redirect_uri": flow.redirect_uri, "client_id": cfg.client_id,
            "client_secret": cfg.client_secret.get_secret_value(),
            "code_verifier": flow.verifier}
    if isinstance(cfg, OidcProviderSettings):
        token_url = (await oidc.discovery(res, name, cfg)).get("token_endpoint")
    else:
        token_url = cfg.token_url
    if not text(token_url, 2048):
        raise AuthError(Code.OAUTH_PROVIDER_ERROR, "The provider has no token endpoint")
    status, tokens = await outbound.call(res, "POST", str(token_url), data=form, provider=name)
    if status != 200 or not isinstance(tokens, dict) or "error" in tokens:
        raise AuthError(Code.OAUTH_PROVIDER_ERROR, "The provider refused the sign-in code")
    if isinstance(cfg, OidcProviderSettings):
        id_token = text(tokens.get("id_token"), oidc.MAX_TOKEN)
        if id_token is None:
            raise AuthError(Code.OAUTH_PROVIDER_ERROR, "The provider sent no ID token")
        return await oidc.verify_id_token(res, name, cfg, id_token, nonce=flow.nonce)
    access = text(tokens.get("access_token"), apis.MAX_TOKEN)
    if access is None:
        raise AuthError(Code.OAUTH_PROVIDER_ERROR, "The provider sent no access token")
    return await apis.github(res, cfg, access)


async def issue_result(res: Resources, flow: Flow, user_id: str) -> str:
    """A one-time code the opener exchanges for the session (``take_result``)."""
    code = secrets.token_urlsafe(32)
    await _put(res, "result", code, flow.provider,
               {"userId": user_id, "tenantId": flow.tenant_id})
    return code


async def take_result(res: Resources, code: str) -> tuple[str, str | None]:
    """``(user id, tenant id)`` of a one-time result; OAUTH_STATE_INVALID when unknown,
    used or expired."""
    _, payload = await _take(res, "result", code)
    return str(payload["userId"]), payload["tenantId"]
