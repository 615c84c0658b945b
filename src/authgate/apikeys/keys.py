"""A user's API keys: create, list, revoke, and authenticate a request by one.

A key reads ``<publicKey>.<secret>``: ``publicKey`` (``agk_`` + 24 hex digits) finds the row,
the secret (32 random bytes, base64url) is kept only as an HMAC under a key derived for this
purpose and compared in constant time, so a database dump holds no usable key. A key acts
as its user, in the tenant of the session that created it, with the user's *current* roles
and permissions there (``authz.store.grants``, read at each use: a role taken away stops
working at once); it stops when it expires, is revoked, its user is deactivated or deleted,
or the user is no longer an active member of its tenant. It never stands for a
session: the library's own routes (password, MFA, sessions, keys) refuse it
(``INVALID_AUTH_TYPE``), only host-app dependencies accept it.

``lastUsedAt`` costs no write on the request: the row read tells when it was last stamped,
and at most once per ``api_keys.last_used_interval`` a background task stamps it again (a
conditional UPDATE, so several workers do not all write).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, or_, select, update

from authgate import background
from authgate.apikeys.models import ApiKey
from authgate.authz.store import Grants, grants, in_session
from authgate.crypto.keys import equal, keyed_hash
from authgate.errors import AuthError, Code
from authgate.events import API_KEY_CREATED, API_KEY_REVOKED, Event
from authgate.identity import store as users
from authgate.identity.models import User
from authgate.identity.snapshot import USER_COLS, UserSnapshot, user_from_row
from authgate.mfa.reauth import require_recent_auth
from authgate.resources import Resources
from authgate.sessions.records import SessionRecord
from authgate.sessions.service import Principal
from authgate.tx import readonly, transaction

log = logging.getLogger("authgate.apikeys")

K = cast(Table, ApiKey.__table__)
U = cast(Table, User.__table__)
PUBLIC_PREFIX = "agk_"
_FORMAT = re.compile(r"[A-Za-z0-9_-]{1,128}\.[A-Za-z0-9_-]{1,256}")
_DUMMY_HASH = "0" * 64
"""Compared against when no key has the public part, so a miss costs what a hit costs."""

# One statement: the key joined to its user.
_LOAD = (
    select(K.c.id, K.c.secret_hash, K.c.is_active, K.c.expires_at, K.c.revoked_at,
           K.c.last_used_at, K.c.tenant_scope, K.c.created_at,
           *[c.label(f"u_{c.name}") for c in USER_COLS])
    .select_from(K.join(U, U.c.id == K.c.user_id))
    .where(K.c.public_key == bindparam("pub"))
)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key as its owner sees it (never the secret, never its hash)."""

    id: str
    name: str
    description: str | None
    public_key: str
    tenant_id: str | None
    is_active: bool
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewKey:
    info: KeyInfo
    key: str
    """``<publicKey>.<secret>``: shown once, at creation."""


def _info(k: ApiKey, now: datetime) -> KeyInfo:
    expired = k.expires_at is not None and k.expires_at <= now
    return KeyInfo(id=k.id, name=k.name, description=k.description, public_key=k.public_key,
                   tenant_id=k.tenant_scope or None,
                   is_active=bool(k.is_active) and k.revoked_at is None and not expired,
                   expires_at=k.expires_at, last_used_at=k.last_used_at,
                   revoked_at=k.revoked_at, created_at=k.created_at)


def _session_only(principal: Principal) -> None:
    if principal.api_key_id is not None:
        raise AuthError(Code.INVALID_AUTH_TYPE)


# the owner's routes --------------------------------------------------------------------
async def create(res: Resources, principal: Principal, *, name: str, description: str | None,
                 expires_at: datetime | None) -> NewKey:
    """A new key for the caller; the step-up window applies (``mfa.reauth_window``): a key
    outlives every session, so a stolen old session must not mint one."""
    _session_only(principal)
    require_recent_auth(res, principal)
    cfg = res.settings.api_keys
    now = res.clock.now()
    if expires_at is not None and expires_at <= now:
        raise AuthError(Code.INVALID_INPUT, "expiresAt must be in the future")
    if cfg.max_lifetime is not None:
        latest = now + cfg.max_lifetime
        if expires_at is None:
            expires_at = latest
        elif expires_at > latest:
            raise AuthError(Code.INVALID_INPUT,
                            "expiresAt is later than the longest key lifetime allowed")
    public = PUBLIC_PREFIX + secrets.token_hex(12)
    secret = secrets.token_urlsafe(32)
    user_id = principal.user.id
    async with transaction(res.sessionmaker) as tx:
        s = tx.session
        # the user row's lock serialises two creations racing past the cap (PostgreSQL;
        # SQLite writers are serialised already)
        if await users.by_id(s, user_id, for_update=True) is None:
            raise AuthError(Code.USER_NOT_FOUND)
        active = await s.scalar(select(func.count()).select_from(K).where(
            K.c.user_id == user_id, K.c.is_active.is_(True), K.c.revoked_at.is_(None),
            or_(K.c.expires_at.is_(None), K.c.expires_at > now)))
        if (active or 0) >= cfg.max_per_user:
            raise AuthError(Code.API_KEY_LIMIT_REACHED)
        row = ApiKey(user_id=user_id, tenant_scope=principal.session.tenant_id or "",
                     name=name, description=description, public_key=public,
                     secret_hash=keyed_hash(res.keys.api_key, secret), is_active=True,
                     expires_at=expires_at, created_at=now)
        s.add(row)
        await s.flush()
        info = _info(row, now)
        tx.after_commit(lambda: res.events.emit(Event(
            API_KEY_CREATED, user_id, {"apiKeyId": info.id, "name": name})))
    return NewKey(info=info, key=f"{public}.{secret}")


async def list_keys(res: Resources, principal: Principal) -> list[KeyInfo]:
    """Every key of the caller, newest first, revoked and expired ones included (marked
    ``isActive: false``) so the owner sees what existed."""
    _session_only(principal)
    now = res.clock.now()
    async with readonly(res.readmaker) as s:
        rows = (await s.execute(select(ApiKey).where(ApiKey.user_id == principal.user.id)
                                .order_by(ApiKey.created_at.desc(), ApiKey.id))).scalars().all()
    return [_info(k, now) for k in rows]


async def revoke(res: Resources, principal: Principal, key_id: str) -> None:
    """Revoke one of the caller's keys for good (revoking a revoked key is a no-op); another
    user's key id answers like an unknown one."""
    _session_only(principal)
    now = res.clock.now()
    user_id = principal.user.id
    async with transaction(res.sessionmaker) as tx:
        row = (await tx.session.execute(select(ApiKey).where(
            ApiKey.id == key_id, ApiKey.user_id == user_id))).scalar_one_or_none()
        if row is None:
            raise AuthError(Code.API_KEY_NOT_FOUND)
        if row.revoked_at is None:
            row.is_active = False
            row.revoked_at = now
            tx.after_commit(lambda: res.events.emit(Event(
                API_KEY_REVOKED, user_id, {"apiKeyId": key_id})))


# authentication ------------------------------------------------------------------------
def parse(value: str) -> tuple[str, str]:
    """``<publicKey>.<secret>`` → its parts, or INVALID_API_KEY_FORMAT."""
    if not _FORMAT.fullmatch(value):
        raise AuthError(Code.INVALID_API_KEY_FORMAT)
    public, _, secret = value.partition(".")
    return public, secret


async def authenticate(res: Resources, value: str) -> Principal:
    """The caller behind an ``ApiKey`` header value: INVALID_API_KEY_FORMAT when malformed;
    INVALID_API_KEY for an unknown, wrong, revoked or expired key (one answer: the caller
    learns nothing about which); ACCOUNT_INACTIVE when its user is deactivated."""
    public, secret = parse(value)
    now = res.clock.now()
    row = await res.db.hot_fetch_one(_LOAD, {"pub": public})
    presented = keyed_hash(res.keys.api_key, secret)
    matches = equal(presented, row["secret_hash"] if row is not None else _DUMMY_HASH)
    if (row is None or not matches or not row["is_active"] or row["revoked_at"] is not None
            or (row["expires_at"] is not None and row["expires_at"] <= now)):
        raise AuthError(Code.INVALID_API_KEY)
    user = user_from_row(row, prefix="u_")
    if not user.is_active:
        raise AuthError(Code.ACCOUNT_INACTIVE, "User is not active")
    tenant = row["tenant_scope"] or None
    async with readonly(res.readmaker) as s:
        held = await grants(in_session(s), user.id, tenant)
    if held is None:  # no longer an active member of the key's tenant
        raise AuthError(Code.INVALID_API_KEY)
    last = row["last_used_at"]
    interval = res.settings.api_keys.last_used_interval
    if last is None or now - last >= interval:
        background.spawn(res, _stamp(res, row["id"], now), name="api key last used")
    return _principal(row, user, held)


def _principal(row: Any, user: UserSnapshot, held: Grants) -> Principal:
    tenant = row["tenant_scope"] or None
    created = row["created_at"]
    stand_in = SessionRecord(
        id=row["id"], user_id=user.id, generation=0, rotated_at=created,
        expires_at=row["expires_at"] or datetime.max.replace(tzinfo=created.tzinfo),
        last_active=created, created_at=created, authenticated_at=created,
        mfa_state="none", amr=("apikey",), tenant_id=tenant,
        data={**held.snapshot(), "apiKeyId": row["id"]},
    )
    claims = {"id": user.id, "sub": user.id, "apiKeyId": row["id"], "tenantId": tenant,
              "type": "api-key"}
    return Principal(session=stand_in, user=user, claims=claims, api_key_id=row["id"])


async def _stamp(res: Resources, key_id: str, now: datetime) -> None:
    """Record the use unless another request (or worker) already did within the interval."""
    since = now - res.settings.api_keys.last_used_interval
    async with transaction(res.sessionmaker) as tx:
        await tx.session.execute(update(ApiKey).where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= since),
        ).values(last_used_at=now))
