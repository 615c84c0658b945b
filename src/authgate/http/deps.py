"""Request-scoped helpers: resources, client metadata, and the auth guard dependencies.

Guard flags follow the contract's legend: M = allowed while MFA is pending, P = allowed
while a password change is forced, E = allowed with an unverified email.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network
from typing import Annotated

from fastapi import Depends, Request
from starlette.types import Scope

from authgate import events
from authgate.apikeys import keys as apikey_flows
from authgate.authz.check import check
from authgate.errors import AuthError, Code
from authgate.http import csrf
from authgate.http.cookies import access_cookie, refresh_cookie, trust_token
from authgate.resources import Resources
from authgate.sessions.records import SessionRecord
from authgate.sessions.service import ClientMeta, Principal, Sessions
from authgate.sessions.store import Rider


def get_resources(request: Request) -> Resources:
    res: Resources = request.app.state.authgate
    return res


async def _resources(request: Request) -> Resources:
    # Dependencies are async on purpose: FastAPI runs a plain ``def`` dependency in a worker
    # thread, which cost each request that used ``Res`` ~60 µs of CPU (measured).
    return get_resources(request)


Res = Annotated[Resources, Depends(_resources)]


def client_ip(res: Resources, request: Request) -> str | None:
    """The peer address, or the first untrusted hop of X-Forwarded-For when the peer is a
    configured trusted proxy (never trust the header from anyone else)."""
    return client_address(request.scope, res.settings.security.trusted_proxies)


def client_address(scope: Scope, proxies: tuple[str, ...]) -> str | None:
    """``client_ip`` from the ASGI scope (the Edge's request log builds no ``Request``)."""
    client = scope.get("client")
    peer: str | None = client[0] if client else None
    if not peer or not proxies or not trusted_peer(peer, proxies):
        return peer
    forwarded = b",".join(v for k, v in scope["headers"] if k == b"x-forwarded-for")
    hops = [h.strip() for h in forwarded.decode("latin-1").split(",") if h.strip()]
    for hop in reversed(hops):
        if not trusted_peer(hop, proxies):
            return hop[:64]
    return peer


@lru_cache(maxsize=64)
def _networks(proxies: tuple[str, ...]) -> tuple[IPv4Network | IPv6Network, ...]:
    nets: list[IPv4Network | IPv6Network] = []
    for p in proxies:
        try:
            nets.append(ipaddress.ip_network(p, strict=False))
        except ValueError:
            continue
    return tuple(nets)


def trusted_peer(addr: str, proxies: tuple[str, ...]) -> bool:
    """``addr`` is one of the configured trusted proxies (``security.trusted_proxies``)."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in _networks(proxies))


REQUEST_ID_KEY = "authgate.request_id"
"""Where the Edge leaves the request's id in the ASGI scope."""


def request_origin(scope: Scope) -> events.Origin:
    """The request's client, session and id, for the events it emits (security log,
    notices)."""
    request = Request(scope)
    state = scope.get("state", {})
    principal = state.get("principal")  # set by the auth guard
    admin = state.get("admin")  # set by the admin console's guard
    session = principal.session if principal is not None else None
    return events.Origin(ip=client_ip(get_resources(request), request),
                         user_agent=request.headers.get("user-agent"),
                         session_id=session.id if session is not None else None,
                         tenant_id=session.tenant_id if session is not None else None,
                         admin_id=getattr(admin, "id", None),
                         request_id=scope.get(REQUEST_ID_KEY))


def client_meta(request: Request) -> ClientMeta:
    res = get_resources(request)
    return ClientMeta(ip=client_ip(res, request), user_agent=request.headers.get("user-agent"),
                      trust_token=trust_token(res.settings, request))


async def _client(request: Request) -> ClientMeta:
    return client_meta(request)


Client = Annotated[ClientMeta, Depends(_client)]


def extract_token(res: Resources, request: Request) -> tuple[str, str] | None:
    """(token, 'header'|'cookie'|'apikey') or None. An Authorization header (Bearer, or
    ApiKey: ``<publicKey>.<secret>``) wins over the cookie; another scheme counts as absent."""
    mode = res.settings.session.access_token_type
    if mode != "cookie":
        auth = request.headers.get("authorization")
        if auth:
            scheme, _, rest = auth.strip().partition(" ")
            scheme = scheme.lower()
            if scheme == "bearer":
                token = rest.strip()
                if not token or " " in token:
                    raise AuthError(Code.INVALID_AUTH_FORMAT)
                return token, "header"
            if scheme == "apikey":
                return rest.strip(), "apikey"
    if mode != "header":
        cookie = access_cookie(res.settings, request)
        if cookie:
            return cookie, "cookie"
    return None


async def _api_key_principal(res: Resources, value: str, *, accepted: bool) -> Principal:
    """An ``ApiKey`` header: checked where keys are accepted (host-app dependencies);
    elsewhere (the library's own routes) refused once its format is known good."""
    if not res.settings.api_keys.enabled:
        raise AuthError(Code.INVALID_API_KEY)
    if not accepted:
        apikey_flows.parse(value)
        raise AuthError(Code.INVALID_AUTH_TYPE)
    return await apikey_flows.authenticate(res, value)


RiderFactory = Callable[[Resources], Rider | None]
"""Builds a route's session-load rider for the app (``sessions.store.Rider``), or None."""


def guard(
    *, mfa_pending: bool = False, must_change: bool = False, unverified_email: bool = False,
    api_keys: bool = False, rider: RiderFactory | None = None,
) -> Callable[[Request], Awaitable[Principal]]:
    """Build the dependency that authenticates a route with the given skip flags.
    ``api_keys``: an API key may stand for the user (host-app routes only, never the
    library's own: a key must not change passwords, MFA, sessions or keys). ``rider``: the
    route's own read about the user, run with the session load (``Principal.rider``; see
    ``sessions.store``), so the route makes one round trip in all; the factory may answer
    None (no rider for this app's store)."""
    accept_keys = api_keys

    async def _principal(request: Request) -> Principal:
        res = get_resources(request)
        found = extract_token(res, request)
        if found is None:
            raise AuthError(Code.NO_AUTH_PROVIDED)
        token, source = found
        if source == "apikey":
            principal = await _api_key_principal(res, token, accepted=accept_keys)
        else:
            if source == "cookie":
                csrf.check_request(res, request)
            principal = await Sessions(res).authenticate(
                token, allow_mfa_pending=mfa_pending,
                rider=rider(res) if rider is not None else None)
            if source == "cookie":
                csrf.check_bound(res, request, principal.session.id)
        user = principal.user
        if (not must_change and res.settings.enforce_must_change_password
                and user.must_change_password):
            raise AuthError(Code.MUST_CHANGE_PASSWORD)
        if (not unverified_email and res.settings.registration.require_verified_email
                and user.email_verified_at is None):
            raise AuthError(Code.EMAIL_NOT_VERIFIED)
        request.state.principal = principal
        return principal

    return _principal


async def logout_target(res: Resources, request: Request,
                        body_refresh: str | None) -> SessionRecord | None:
    """The session ``POST /auth/logout`` ends (ASVS 3.3.1): the one the access token names,
    expired or not as long as this server signed it, else the one the refresh token (body,
    then cookie) names. Cookie credentials pass the CSRF checks first (a failure there is
    the one error logout answers); any other failure means there is nothing to end."""
    sessions = Sessions(res)
    try:
        found = extract_token(res, request)
    except AuthError:
        found = None
    if found is not None and found[1] != "apikey":  # a key names no session
        token, source = found
        if source == "cookie":
            csrf.check_request(res, request)
        rec = await sessions.named_by_access(token)
        if rec is not None:
            if source == "cookie":
                csrf.check_bound(res, request, rec.id)
            return rec
    if body_refresh:
        return await sessions.named_by_refresh(body_refresh)
    cookie = (refresh_cookie(res.settings, request)  # the active account's first
              if res.settings.session.access_token_type != "header" else None)
    if not cookie:
        return None
    csrf.check_request(res, request)
    rec = await sessions.named_by_refresh(cookie)
    if rec is not None:
        csrf.check_bound(res, request, rec.id)
    return rec


def require(
    *, roles: tuple[str, ...] = (), permissions: tuple[str, ...] = (), any_of: bool = True,
    guard: str | None = None,
    api_keys: bool = True,
) -> Callable[..., Awaitable[Principal]]:
    """Host-app dependency: a fully authenticated user holding every role in ``roles`` and
    one (``any_of``) or all of ``permissions`` in the session's tenant, with a role of
    ``guard`` when given (``authz.check``: GUARD_MISMATCH, NO_ROLES_ASSIGNED,
    MISSING_REQUIRED_ROLES, MISSING_REQUIRED_PERMISSIONS, all 403). Decided on the session
    snapshot the guard already loaded: no extra round trip. The caller may be an API key of
    the user's (its grants are read when the key is), unless ``api_keys=False``."""
    base = current_principal if api_keys else session_principal

    # The dependency is given as a default, not inside Annotated: this module's annotations
    # are strings, and FastAPI could not resolve the local ``base`` from one (it would take
    # ``principal`` for a request-body field).
    async def _check(principal: Principal = Depends(base)) -> Principal:  # noqa: B008
        data = principal.session.data
        check(data.get("roles", []), data.get("permissions", []), roles=roles,
              permissions=permissions, any_of=any_of, guard=guard)
        return principal

    return _check


# Ready-made guards -------------------------------------------------------------------
current_principal = guard(api_keys=True)
"""A fully authenticated caller, through a session or an API key: MFA done, no forced
password change pending, email verified when the app requires it (host routes are never
exempt from those gates, contract §1.9)."""
session_principal = guard()
"""Like ``current_principal`` but a session only (no API key)."""

Authed = Annotated[Principal, Depends(session_principal)]
def pending_mfa_allowed(rider: RiderFactory | None = None
                        ) -> Callable[[Request], Awaitable[Principal]]:
    """``PendingMfaAllowed``'s guard, with the route's own ``rider`` if it has one."""
    return guard(mfa_pending=True, must_change=True, unverified_email=True, rider=rider)


def mfa_completed(rider: RiderFactory | None = None
                  ) -> Callable[[Request], Awaitable[Principal]]:
    """``MfaCompleted``'s guard, with the route's own ``rider`` if it has one."""
    return guard(must_change=True, unverified_email=True, rider=rider)


PendingMfaAllowed = Annotated[Principal, Depends(pending_mfa_allowed())]
"""Any live session, even one whose MFA step is still pending (the MFA step itself, status,
session checks); also while a password change is forced or the email is unverified."""
PendingMfaNoForcedChange = Annotated[Principal, Depends(guard(mfa_pending=True,
                                                               unverified_email=True))]
"""Like ``PendingMfaAllowed``, but not while a password change is forced."""
MfaCompleted = Annotated[Principal, Depends(mfa_completed())]
"""MFA completed; allowed while a password change is forced or the email is unverified."""
MfaCompletedNoForcedChange = Annotated[Principal, Depends(guard(unverified_email=True))]
"""MFA completed and no password change forced; allowed with an unverified email."""
