"""Token transport: header mode (tokens in the body) or cookie mode (httpOnly cookies).

Multi-account cookie mode (``session.allow_multiple_accounts``, contract §1.4/§1.5/§3.16):
each account's tokens live in ``accessToken_<userId>``/``refreshToken_<userId>`` and the
readable cookie ``nest_auth_active_account`` says which one requests use; the plain
``accessToken``/``refreshToken`` are still read (after the active account's) and cleared.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from authgate.config import Settings

ACCESS_COOKIE = "accessToken"
REFRESH_COOKIE = "refreshToken"
REMEMBER_COOKIE = "nest_auth_remember"
ACTIVE_ACCOUNT_COOKIE = "nest_auth_active_account"
TOKEN_FIELDS = ("accessToken", "refreshToken", "trustToken")
MAX_ACCOUNTS = 20
"""Per-account refresh cookies a request is looked at for (``GET /auth/accounts``, logout)."""
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


def cookie_name(settings: Settings, name: str) -> str:
    """The name a cookie is set and read under (``session.cookie.host_prefix``)."""
    return settings.session.cookie.named(name)


def cookie_mode(settings: Settings, request: Request) -> bool:
    """Config 'cookie', or config unset and the client asks with x-access-token-type."""
    configured = settings.session.access_token_type
    if configured is not None:
        return configured == "cookie"
    return request.headers.get("x-access-token-type", "").lower() == "cookie"


def _set(settings: Settings, response: Response, name: str, value: str, max_age: int | None,
         *, httponly: bool = True) -> None:
    c = settings.session.cookie
    response.set_cookie(
        cookie_name(settings, name), value, max_age=max_age, path=c.path, domain=c.domain, secure=c.secure,
        httponly=httponly, samesite=c.same_site,
    )


def clear(settings: Settings, response: Response, name: str, *, httponly: bool = True) -> None:
    """Expire a cookie, with the attributes it was set with (a clearing header is a cookie
    too: ASVS 3.2.3 holds for it as well)."""
    c = settings.session.cookie
    response.delete_cookie(cookie_name(settings, name), path=c.path, domain=c.domain, secure=c.secure,
                           httponly=httponly, samesite=c.same_site)


def multi_account(settings: Settings) -> bool:
    return settings.session.allow_multiple_accounts


def active_account(settings: Settings, request: Request) -> str | None:
    """The account ``nest_auth_active_account`` names (multi-account mode), if well-formed."""
    if not multi_account(settings):
        return None
    value = request.cookies.get(cookie_name(settings, ACTIVE_ACCOUNT_COOKIE))
    return value if value and _ACCOUNT_ID.fullmatch(value) else None


def _read(settings: Settings, request: Request, base: str) -> str | None:
    account = active_account(settings, request)
    if account is not None:
        token = request.cookies.get(cookie_name(settings, f"{base}_{account}"))
        if token:
            return token
    return request.cookies.get(cookie_name(settings, base)) or None


def access_cookie(settings: Settings, request: Request) -> str | None:
    """The access token cookie requests authenticate with (the active account's first)."""
    return _read(settings, request, ACCESS_COOKIE)


def refresh_cookie(settings: Settings, request: Request) -> str | None:
    """The refresh token cookie a cookie-mode refresh uses (the active account's first)."""
    return _read(settings, request, REFRESH_COOKIE)


def account_refresh_cookies(settings: Settings, request: Request) -> list[tuple[str, str]]:
    """(account id, refresh token) of every ``refreshToken_<id>`` cookie, in the order the
    browser sent them (at most ``MAX_ACCOUNTS``); none outside multi-account mode."""
    if not multi_account(settings):
        return []
    prefix = cookie_name(settings, REFRESH_COOKIE + "_")
    found: list[tuple[str, str]] = []
    for name, value in request.cookies.items():
        if name.startswith(prefix) and value:
            account = name[len(prefix):]
            if _ACCOUNT_ID.fullmatch(account):
                found.append((account, value))
                if len(found) == MAX_ACCOUNTS:
                    break
    return found


def write_tokens(
    settings: Settings,
    request: Request,
    response: Response,
    *,
    access: str,
    refresh: str,
    trust: str | None,
    remember_me: bool | None,
    csrf_token: str | None,
    account: str = "",
) -> None:
    """Set the token cookies; ``remember_me=False`` makes them session cookies. In
    multi-account mode they are named after ``account`` (the user id), which becomes the
    active account. ``csrf_token``: the fresh CSRF token bound to the new pair's session
    (``http.csrf``), written whenever CSRF is on, never the one the request brought."""
    if remember_me is None:
        remember_me = request.cookies.get(cookie_name(settings, REMEMBER_COOKIE)) != "0"
    jwt = settings.jwt
    persistent = remember_me
    refresh_age = int(jwt.refresh_token_expires_in.total_seconds()) if persistent else None
    suffix = f"_{account}" if multi_account(settings) and account else ""
    _set(settings, response, ACCESS_COOKIE + suffix, access,
         int(jwt.access_token_expires_in.total_seconds()) if persistent else None)
    _set(settings, response, REFRESH_COOKIE + suffix, refresh, refresh_age)
    if suffix:
        _set(settings, response, ACTIVE_ACCOUNT_COOKIE, account, refresh_age, httponly=False)
    if persistent:
        clear(settings, response, REMEMBER_COOKIE)
    else:
        _set(settings, response, REMEMBER_COOKIE, "0", None)
    if trust is not None and settings.mfa.trusted_device_duration is not None:
        _set(settings, response, settings.mfa.trust_device_storage_name, trust,
             int(settings.mfa.trusted_device_duration.total_seconds()))
    if settings.security.csrf.enabled and csrf_token is not None:
        _set(settings, response, settings.security.csrf.cookie_name, csrf_token,
             int(jwt.refresh_token_expires_in.total_seconds()), httponly=False)


def write_csrf(settings: Settings, response: Response, token: str) -> None:
    _set(settings, response, settings.security.csrf.cookie_name, token, None, httponly=False)


def clear_tokens(settings: Settings, request: Request, response: Response) -> None:
    """Logout's cookies: the plain pair always; in multi-account mode also the active
    account's pair, and the active account moves to another signed-in one (the first
    ``refreshToken_*`` cookie left) or is cleared."""
    clear(settings, response, ACCESS_COOKIE)
    clear(settings, response, REFRESH_COOKIE)
    if not multi_account(settings):
        return
    active = active_account(settings, request)
    if active is not None:
        clear(settings, response, f"{ACCESS_COOKIE}_{active}")
        clear(settings, response, f"{REFRESH_COOKIE}_{active}")
    others = [a for a, _ in account_refresh_cookies(settings, request) if a != active]
    if others:
        persistent = request.cookies.get(cookie_name(settings, REMEMBER_COOKIE)) != "0"
        age = int(settings.jwt.refresh_token_expires_in.total_seconds()) if persistent else None
        _set(settings, response, ACTIVE_ACCOUNT_COOKIE, others[0], age, httponly=False)
    else:
        clear(settings, response, ACTIVE_ACCOUNT_COOKIE, httponly=False)


_MAX_TRUST_TOKEN_LEN = 128


def trust_token(settings: Settings, request: Request) -> str | None:
    """The trusted-device token a login presents: the cookie (first) or the header named
    ``mfa.trust_device_storage_name``; None when absent or implausibly long."""
    name = settings.mfa.trust_device_storage_name
    token = request.cookies.get(cookie_name(settings, name)) or request.headers.get(name)
    if not token or len(token) > _MAX_TRUST_TOKEN_LEN:
        return None
    return token.strip() or None
