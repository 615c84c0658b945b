"""Admin sessions: the signed cookie, its CSRF token, and the check behind every admin route.

The cookie is an HS256 JWT ``{sub, email, tv, sid, iat, exp}`` signed with
``admin_console.session_secret`` or a key derived from the console's secret key (never the
end users' JWT key: an access token can never pass as an admin session). It is accepted
only while

* the admin still exists and ``tv`` equals their ``token_version`` (a password change or
  reset, or "sign out everywhere", bumps it: all of that admin's sessions end), and
* the session row ``sid`` exists and has not expired (signing out deletes only that row).

CSRF: state-changing admin requests carry ``x-csrf-token`` equal to an HMAC of the session
id (``csrf_token``); the console reads it from the non-HttpOnly CSRF cookie set at sign-in.
A token is bound to its session, so a cookie planted by a sibling subdomain is useless.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import select

from authgate.admin.models import AdminSession, AdminUser
from authgate.config import Settings
from authgate.crypto.keys import derive, equal
from authgate.errors import AuthError, Code
from authgate.resources import Resources
from authgate.tx import readonly

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class SafeAdmin:
    """An admin without secrets: what routes answer and the console shows."""

    id: str
    email: str
    name: str | None
    metadata: dict[str, Any]
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime
    totp_enabled: bool


def safe(admin: AdminUser) -> SafeAdmin:
    return SafeAdmin(id=admin.id, email=admin.email, name=admin.name,
                     metadata=dict(admin.meta or {}), last_login_at=admin.last_login_at,
                     created_at=admin.created_at, updated_at=admin.updated_at,
                     totp_enabled=admin.totp_enabled)


@dataclass(frozen=True, slots=True)
class AdminPrincipal:
    """The admin behind a request (``authgate.admin.http.deps.AdminAuthed``)."""

    admin: SafeAdmin
    session_id: str
    ip: str | None

    @property
    def id(self) -> str:
        return self.admin.id

    @property
    def email(self) -> str:
        return self.admin.email


def require_console(settings: Settings) -> None:
    """404 ``ADMIN_CONSOLE_DISABLED`` unless the console is on (enabled + secret key)."""
    if not settings.admin_console.active():
        raise AuthError(Code.ADMIN_CONSOLE_DISABLED)


def _session_key(settings: Settings) -> bytes:
    cfg = settings.admin_console
    if cfg.session_secret is not None:
        return cfg.session_secret.get_secret_value().encode()
    assert cfg.secret_key is not None  # require_console ran
    return derive(cfg.secret_key.get_secret_value().encode(), "admin-session")


def issue(res: Resources, admin: AdminUser, session_id: str, now: datetime) -> str:
    """The cookie value for a new session of ``admin``."""
    ttl = res.settings.admin_console.session_duration
    claims = {"sub": admin.id, "email": admin.email, "tv": admin.token_version,
              "sid": session_id, "iat": int(now.timestamp()),
              "exp": int((now + ttl).timestamp())}
    return jwt.encode(claims, _session_key(res.settings), algorithm=ALGORITHM)


def csrf_token(settings: Settings, session_id: str) -> str:
    key = derive(_session_key(settings), "admin-csrf")
    mac = hmac.new(key, session_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def check_csrf(settings: Settings, session_id: str, presented: str | None) -> None:
    if not presented or not equal(presented, csrf_token(settings, session_id)):
        raise AuthError(Code.CSRF_TOKEN_INVALID)


def _decode(res: Resources, token: str) -> dict[str, Any]:
    if len(token) > 4096:
        raise AuthError(Code.ADMIN_SESSION_INVALID)
    try:
        claims: dict[str, Any] = jwt.decode(
            token, _session_key(res.settings), algorithms=[ALGORITHM],
            options={"require": ["sub", "tv", "sid", "iat", "exp"], "verify_exp": False,
                     "verify_iat": False})
    except jwt.PyJWTError:
        raise AuthError(Code.ADMIN_SESSION_INVALID) from None
    exp, tv = claims.get("exp"), claims.get("tv")
    if (not isinstance(exp, int) or not isinstance(tv, int) or isinstance(tv, bool)
            or not isinstance(claims.get("sub"), str) or not isinstance(claims.get("sid"), str)
            or exp <= res.clock.now().timestamp()):
        raise AuthError(Code.ADMIN_SESSION_INVALID)
    return claims


async def authenticate(res: Resources, token: str | None, *, ip: str | None) -> AdminPrincipal:
    """The admin a session cookie stands for, or the guard's coded 401/404."""
    require_console(res.settings)
    if not token:
        raise AuthError(Code.ADMIN_AUTH_REQUIRED)
    claims = _decode(res, token)
    async with readonly(res.readmaker) as s:
        row = (await s.execute(
            select(AdminUser, AdminSession)
            .outerjoin(AdminSession, (AdminSession.admin_id == AdminUser.id)
                       & (AdminSession.id == claims["sid"]))
            .where(AdminUser.id == claims["sub"]))).first()
    if row is None:
        raise AuthError(Code.ADMIN_SESSION_INVALID, "Admin account not found")
    admin, session = row
    if admin.token_version != claims["tv"] or session is None:
        raise AuthError(Code.ADMIN_SESSION_REVOKED)
    if session.expires_at <= res.clock.now():
        raise AuthError(Code.ADMIN_SESSION_REVOKED)
    return AdminPrincipal(admin=safe(admin), session_id=session.id, ip=ip)


def expiry(res: Resources, now: datetime) -> datetime:
    ttl: timedelta = res.settings.admin_console.session_duration
    return now + ttl
