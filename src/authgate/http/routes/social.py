"""Social and OpenID Connect sign-in beyond ``POST /auth/login``: the server-side
authorization-code flow (start → provider → ``GET /auth/callback/{provider}`` → cookies or
a one-time result the opener exchanges) and the signed-in owner's linked identities."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from pydantic import Field, StrictStr
from starlette.responses import HTMLResponse, RedirectResponse, Response

from authgate.accounts import identities, oauth
from authgate.accounts.social import LinkedIdentity
from authgate.errors import AuthError
from authgate.federation.codeflow import STATE_PREFIX
from authgate.http import callback_page, cookies, csrf
from authgate.http.deps import Client, MfaCompleted, Res
from authgate.http.errors import STATUS
from authgate.http.rate_limits import rate_limit
from authgate.http.responses import auth_response
from authgate.http.schemas import SECURED, AuthOut, MessageOut, _In, _Out, errors, iso, respond
from authgate.resources import Resources

router = APIRouter(tags=["Social sign-in"])

BINDING_COOKIE = "authgate_oauth"
"""Ties a code flow to the browser that started it (HttpOnly, SameSite=Lax: the provider's
redirect back is a top-level navigation, which carries it). Its path is the provider's
callback path as the browser sees it (``/auth/callback/<provider>``): the one request that
reads it (ASVS 3.4.5)."""


class OAuthExchangeIn(_In):
    code: StrictStr = Field(..., description="The one-time code the callback page posted")


class IdentityOut(_Out):
    id: str
    provider: str
    email: str | None
    emailVerified: bool
    details: dict[str, Any]
    createdAt: str
    lastUsedAt: str | None


class IdentitiesOut(_Out):
    identities: list[IdentityOut]


class LinkIdentityIn(_In):
    providerName: StrictStr = Field(..., examples=["google"])
    credentials: dict[str, Any] = Field(..., examples=[{"token": "<ID token>",
                                                        "type": "idToken"}])


def _identity(i: LinkedIdentity) -> IdentityOut:
    def at(t: datetime | None) -> str | None:
        return iso(t) if t is not None else None
    return IdentityOut(id=i.id, provider=i.provider, email=i.email,
                       emailVerified=i.email_verified, details=i.details,
                       createdAt=iso(i.created_at), lastUsedAt=at(i.last_used_at))


def _redirect_uri(res: Resources, request: Request, provider: str) -> str:
    base = res.settings.social.redirect_base_url
    if base is not None:
        return f"{base}/callback/{provider}"
    return str(request.url_for("oauth_callback", provider=provider))


def _binding_cookie(res: Resources, response: Response, value: str | None, *,
                    redirect_uri: str) -> None:
    c = res.settings.session.cookie
    path = urlsplit(redirect_uri).path or "/"
    if value is None:
        response.delete_cookie(BINDING_COOKIE, path=path, secure=c.secure, httponly=True,
                               samesite="lax")
        return
    response.set_cookie(BINDING_COOKIE, value, path=path, secure=c.secure, httponly=True,
                        samesite="lax",
                        max_age=int(res.settings.social.flow_lifetime.total_seconds()))


@router.get("/oauth/{provider}/start", status_code=302, response_class=RedirectResponse,
            responses={302: {"description": "To the provider's sign-in page"},
                       **errors(400, 401, 503)},
            dependencies=[rate_limit("login", by="token")],
            summary="Start the authorization-code flow (PKCE) with a provider")
async def oauth_start(
    provider: str, request: Request, res: Res,
    mode: Literal["cookie", "message"] = Query(
        "message", description="cookie: the callback signs in with cookies; message: it "
                               "posts a one-time code to the opener"),
    origin: str | None = Query(None, max_length=256,
                               description="The opener's origin (one of "
                                           "social.callback_origins)"),
    returnTo: str | None = Query(None, max_length=2048,
                                 description="Where the page goes when it has no opener"),
    createUserIfNotExists: bool = Query(True),
    tenantId: str | None = Query(None, max_length=64,
                                 description="The tenant to sign in to (as for login)"),
) -> Response:
    redirect_uri = _redirect_uri(res, request, provider)
    url, binding = await oauth.start(
        res, provider, redirect_uri=redirect_uri, mode=mode,
        origin=origin, return_to=returnTo, create_user=createUserIfNotExists,
        tenant_id=tenantId)
    response = RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store",
                                                                  "Pragma": "no-cache"})
    _binding_cookie(res, response, binding, redirect_uri=redirect_uri)
    return response


@router.get("/callback/{provider}", name="oauth_callback", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}},
                             "description": "A page that posts the outcome to its opener"},
                       400: {"content": {"text/html": {}},
                             "description": "Unknown, used or expired state"},
                       401: {"content": {"text/html": {}}, "description": "Sign-in refused"},
                       403: {"content": {"text/html": {}}, "description": "Sign-in refused"},
                       429: {"description": "Too many requests"},
                       503: {"content": {"text/html": {}},
                             "description": "The provider did not answer"}},
            dependencies=[rate_limit("login", by="token")],
            summary="Where the provider sends the browser back")
async def oauth_callback(provider: str, request: Request, res: Res, client: Client) -> Response:
    q = request.query_params
    state = q.get("state")
    allowed = list(res.settings.social.callback_origins)
    if state is None or not state.startswith(STATE_PREFIX):
        # Upstream's client-side flow: relay the query to the opener, to allowed origins only.
        return callback_page.page(dict(q.items()), origins=allowed)
    try:
        out = await oauth.callback(res, provider, state=state, code=q.get("code"),
                                   error=q.get("error"),
                                   binding=request.cookies.get(BINDING_COOKIE), client=client)
    except AuthError as exc:  # no flow of this browser: nothing to tell but that
        response = callback_page.page(
            {"provider": provider, "success": False, "error": exc.code, "message": exc.message},
            origins=allowed, status=STATUS.get(exc.code, 400), text=exc.message)
        return response  # the binding cookie stays: the real callback may still come
    flow = out.flow
    origins = [flow.origin] if flow.origin else []
    if out.error is not None:
        response = callback_page.page(
            {"provider": provider, "success": False, "error": out.error.code,
             "message": out.error.message},
            origins=origins, status=STATUS.get(out.error.code, 400), text=out.error.message)
    elif out.login is not None:
        outcome = out.login
        message: dict[str, Any] = {"provider": provider, "success": True, "mode": "cookie",
                                   "isRequiresMfa": outcome.requires_mfa}
        if outcome.requires_mfa:
            message["mfaMethods"] = outcome.mfa_methods
        response = callback_page.page(message, origins=origins, return_to=flow.return_to,
                                      text="Signed in.")
        cookies.write_tokens(res.settings, request, response,
                             access=outcome.tokens.access_token,
                             refresh=outcome.tokens.refresh_token, trust=None,
                             remember_me=None,
                             csrf_token=csrf.mint(res, outcome.tokens.session_id or None),
                             account=outcome.tokens.user_id)
    else:
        response = callback_page.page(
            {"provider": provider, "success": True, "mode": "message",
             "code": out.result_code}, origins=origins, text="Signed in.")
    _binding_cookie(res, response, None, redirect_uri=_redirect_uri(res, request, provider))
    return response


@router.post("/oauth/exchange", response_model=AuthOut, responses=errors(400, 401),
             dependencies=[rate_limit("login", by="token")],
             summary="Exchange the callback's one-time code for the session")
async def oauth_exchange(body: OAuthExchangeIn, request: Request, res: Res,
                         client: Client) -> Response:
    outcome = await oauth.exchange(res, body.code, client=client)
    return auth_response(res, request, tokens=outcome.tokens, message="Login successful",
                         requires_mfa=outcome.requires_mfa, user=outcome.user,
                         mfa_methods=outcome.mfa_methods,
                         default_method=outcome.default_method)


@router.get("/identities", response_model=IdentitiesOut, responses=errors(401, 403),
            summary="The provider accounts linked to the current user", openapi_extra=SECURED)
async def list_identities(res: Res, principal: MfaCompleted) -> Response:
    linked = await identities.listed(res, principal)
    return respond(IdentitiesOut(identities=[_identity(i) for i in linked]))


@router.post("/identities", status_code=201, response_model=IdentityOut,
             responses=errors(400, 401, 403, 409, 503),
             dependencies=[rate_limit("login", by="token")],
             summary="Link a provider account (its token) to the current user",
             openapi_extra=SECURED)
async def link_identity(body: LinkIdentityIn, res: Res, principal: MfaCompleted) -> Response:
    linked = await identities.link(res, principal, body.providerName, body.credentials)
    return respond(_identity(linked), status=201)


@router.delete("/identities/{identityId}", response_model=MessageOut,
               responses=errors(401, 403, 404, 409),
               summary="Unlink a provider account (never the last way to sign in)",
               openapi_extra=SECURED)
async def unlink_identity(identityId: str, res: Res, principal: MfaCompleted) -> Response:
    await identities.unlink(res, principal, identityId)
    return respond(MessageOut(message="Identity unlinked"))
