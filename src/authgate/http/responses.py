"""Shaping of the AuthResponse (signup, login, refresh, MFA verify) in header or cookie mode."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from authgate.http import cookies
from authgate.http.schemas import json_response
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
    body: dict[str, Any] = {
        "accessToken": tokens.access_token if tokens else "",
        "refreshToken": tokens.refresh_token if tokens else "",
        "isRequiresMfa": requires_mfa,
    }
    if user is not None and user.must_change_password:
        body["mustChangePassword"] = True
    if requires_mfa:
        body["mfaMethods"] = mfa_methods or []
        if default_method:
            body["defaultMfaMethod"] = default_method
    if trust_token is not None:
        body["trustToken"] = trust_token
    body["message"] = message
    if tokens is not None and cookies.cookie_mode(res.settings, request):
        for key in cookies.TOKEN_FIELDS:
            body.pop(key, None)
        response = json_response(body)
        cookies.write_tokens(
            res.settings, request, response, access=tokens.access_token,
            refresh=tokens.refresh_token, trust=trust_token, remember_me=remember_me,
        )
        return response
    return json_response(body)
