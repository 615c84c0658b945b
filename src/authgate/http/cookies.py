"""Token transport: header mode (tokens in the body) or cookie mode (httpOnly cookies)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authgate.config import Settings

ACCESS_COOKIE = "accessToken"
REFRESH_COOKIE = "refreshToken"
REMEMBER_COOKIE = "nest_auth_remember"
TOKEN_FIELDS = ("accessToken", "refreshToken", "trustToken")


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


def clear(settings: Settings, response: Response, name: str) -> None:
    c = settings.session.cookie
    response.delete_cookie(cookie_name(settings, name), path=c.path, domain=c.domain, secure=c.secure,
                           samesite=c.same_site)


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
) -> None:
    """Set the token cookies; ``remember_me=False`` makes them session cookies.
    ``csrf_token``: the fresh CSRF token bound to the new pair's session (``http.csrf``),
    written whenever CSRF is on, never the one the request brought."""
    if remember_me is None:
        remember_me = request.cookies.get(cookie_name(settings, REMEMBER_COOKIE)) != "0"
    jwt = settings.jwt
    persistent = remember_me
    _set(settings, response, ACCESS_COOKIE, access,
         int(jwt.access_token_expires_in.total_seconds()) if persistent else None)
    _set(settings, response, REFRESH_COOKIE, refresh,
         int(jwt.refresh_token_expires_in.total_seconds()) if persistent else None)
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


def clear_tokens(settings: Settings, response: Response) -> None:
    clear(settings, response, ACCESS_COOKIE)
    clear(settings, response, REFRESH_COOKIE)


_MAX_TRUST_TOKEN_LEN = 128


def trust_token(settings: Settings, request: Request) -> str | None:
    """The trusted-device token a login presents: the cookie (first) or the header named
    ``mfa.trust_device_storage_name``; None when absent or implausibly long."""
    name = settings.mfa.trust_device_storage_name
    token = request.cookies.get(cookie_name(settings, name)) or request.headers.get(name)
    if not token or len(token) > _MAX_TRUST_TOKEN_LEN:
        return None
    return token.strip() or None
