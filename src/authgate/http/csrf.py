"""CSRF defence for cookie-authenticated writes (contract §1.6, hardened by issue #19 item 9).

Three checks, in order, on every state-changing request whose credentials came from a cookie:

1. where it comes from (``security.csrf.check_origin``, on by default): a browser that says
   ``Sec-Fetch-Site: cross-site``/``same-site`` is refused unless its ``Origin`` is listed in
   ``allowed_origins``; without that header, an ``Origin`` (or ``Referer``) that is neither
   this server nor listed is refused. A request with neither header is no browser's
   cross-site request (browsers send one of them on every cross-site write) and goes on to
   the token check. 403 ``CSRF_ORIGIN_REJECTED``.
2. double submit: the header equals the (script-readable) cookie, compared in constant time.
3. binding: the token is ``<nonce>.<HMAC(csrf key, session id, nonce)>`` for the session the
   request authenticates as. A fresh one is written beside every token write (login,
   refresh, the MFA step), so a token planted before sign-in (a sibling subdomain's cookie)
   or taken from another session is worthless. 403 ``CSRF_TOKEN_INVALID`` for both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from authgate.crypto.keys import equal
from authgate.errors import AuthError, Code
from authgate.http.cookies import (
    access_cookie,
    account_refresh_cookies,
    active_account,
    cookie_name,
    refresh_cookie,
    write_csrf,
)
from authgate.resources import Resources

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_BROWSER_SAYS_OK = frozenset({"same-origin", "none"})  # ``none``: typed or bookmarked


def _mac(key: bytes, session_id: str, nonce: str) -> str:
    digest = hmac.new(key, f"{session_id}\x00{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def mint(res: Resources, session_id: str | None) -> str:
    """A fresh token, bound to ``session_id`` (unbound without a session: it then passes no
    authenticated write, and the next sign-in replaces it)."""
    nonce = secrets.token_urlsafe(24)
    if session_id is None:
        return nonce
    return f"{nonce}.{_mac(res.keys.csrf, session_id, nonce)}"


def bound_to(res: Resources, token: str, session_id: str) -> bool:
    nonce, dot, mac = token.partition(".")
    return bool(dot) and equal(mac, _mac(res.keys.csrf, session_id, nonce))


def session_of_cookies(res: Resources, request: Request) -> str | None:
    """The session the caller's token cookies name (signature checked, expiry not: a token
    for ``GET /auth/csrf`` only has to match the session the next write authenticates as).
    In multi-account mode that is the active account's (after a switch, ``GET /auth/csrf``
    gives the token the newly active account's writes need)."""
    now = res.clock.now()
    access = access_cookie(res.settings, request)
    if access:
        try:
            return str(res.tokens.authentic_access(access, now)["sessionId"])
        except AuthError:
            pass
    refresh = refresh_cookie(res.settings, request)
    if refresh:
        try:
            return res.tokens.decode_refresh(refresh, now).session_id
        except AuthError:
            pass
    return None


def _origin_of(value: str) -> str | None:
    parts = urlsplit(value)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _check_origin(res: Resources, request: Request) -> None:
    cfg = res.settings.security.csrf
    origin = request.headers.get("origin")
    if origin is None and (ref := request.headers.get("referer")):
        origin = _origin_of(ref) or ref
    allowed = {o.lower().rstrip("/") for o in cfg.allowed_origins}
    if not cfg.check_origin:  # upstream's rule
        if allowed and origin is not None and origin.lower() not in allowed:
            raise AuthError(Code.CSRF_ORIGIN_REJECTED)
        return
    listed = origin is not None and origin.lower() in allowed
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site.lower() not in _BROWSER_SAYS_OK and not listed:
            raise AuthError(Code.CSRF_ORIGIN_REJECTED)
        return
    if origin is None or listed:
        return
    host = request.headers.get("host", "")
    own = _origin_of(origin)
    if own is None or not host or own.split("://", 1)[1] != host.lower():
        raise AuthError(Code.CSRF_ORIGIN_REJECTED)


def check_request(res: Resources, request: Request) -> None:
    """Checks 1 and 2 (before the session is known)."""
    csrf = res.settings.security.csrf
    if not csrf.enabled or request.method in _SAFE_METHODS:
        return
    _check_origin(res, request)
    header = request.headers.get(csrf.header_name, "")
    cookie = request.cookies.get(cookie_name(res.settings, csrf.cookie_name), "")
    if not header or not cookie or not equal(header, cookie):
        raise AuthError(Code.CSRF_TOKEN_INVALID)


def check_bound(res: Resources, request: Request, session_id: str) -> None:
    """Check 3, once the request's session is known (after ``check_request``)."""
    csrf = res.settings.security.csrf
    if not csrf.enabled or request.method in _SAFE_METHODS:
        return
    header = request.headers.get(csrf.header_name, "")
    if not bound_to(res, header, session_id) and not _bound_to_another_account(res, request,
                                                                                 header):
        raise AuthError(Code.CSRF_TOKEN_INVALID)


def _bound_to_another_account(res: Resources, request: Request, token: str) -> bool:
    """Multi-account cookie mode: one CSRF cookie serves every account the browser holds (the
    official SDK switches accounts by rewriting ``nest_auth_active_account``, not the token),
    so a token bound to the session of another account whose refresh cookie this request
    carries (signature checked) passes too. Outside that mode there are none."""
    return any(bound_to(res, token, sid) for sid in _account_sessions(res, request))


def _account_sessions(res: Resources, request: Request,
                      skip: str | None = None) -> Iterator[str]:
    """The sessions of the browser's account cookies (multi-account mode; signature checked),
    in cookie order, leaving out ``skip``'s."""
    now = res.clock.now()
    for account, refresh in account_refresh_cookies(res.settings, request):
        if account == skip:
            continue
        try:
            yield res.tokens.decode_refresh(refresh, now).session_id
        except AuthError:
            continue


def follow_active_account(res: Resources, request: Request, response: Response) -> None:
    """Multi-account logout: the account signed out of leaves, the next one signed in becomes
    active (``cookies.clear_tokens``), and the CSRF cookie is re-bound to its session, so the
    browser's next write (the SDK's next ``removeAccount``) is not refused."""
    if not res.settings.security.csrf.enabled:
        return
    ended = active_account(res.settings, request)
    session_id = next(_account_sessions(res, request, skip=ended), None)
    if session_id is not None:
        write_csrf(res.settings, response, mint(res, session_id))
