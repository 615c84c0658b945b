"""Shaping of the AuthResponse (signup, login, refresh, MFA verify) in header or cookie mode."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authgate.http import cookies, csrf
from authgate.http.schemas import AuthOut, respond
from authgate.identity.snapshot import UserSnapshot
from authgate.resources import Resources
from authgate.sessions.service import TokenPair


def auth_response(
    res: Resources,
    request: Request,
    *,
    tokens: TokenPair | None,
    message: str,
    requires_mfa: bool = False,
    user: UserSnapshot | None = None,
    mfa_methods: list[str] | None = None,
    default_method: str | None = None,
    trust_token: str | None = None,
    remember_me: bool | None = None,
) -> Response:
    cookie = tokens is not None and cookies.cookie_mode(res.settings, request)
    body = AuthOut(isRequiresMfa=requires_mfa, message=message)
    if not cookie:  # cookie mode: the tokens (cookies.TOKEN_FIELDS) travel in cookies only
        body.accessToken = tokens.access_token if tokens else ""
        body.refreshToken = tokens.refresh_token if tokens else ""
    if user is not None and user.must_change_password:
        body.mustChangePassword = True
    if requires_mfa:
        body.mfaMethods = mfa_methods or []
        if default_method:
            body.defaultMfaMethod = default_method
    if trust_token is not None and not cookie:
        body.trustToken = trust_token
    response = respond(body)
    if cookie:
        assert tokens is not None
        cookies.write_tokens(
            res.settings, request, response, access=tokens.access_token,
            refresh=tokens.refresh_token, trust=trust_token, remember_me=remember_me,
            csrf_token=csrf.mint(res, tokens.session_id or None), account=tokens.user_id,
        )
    return response
