"""Session flows: start a session, authenticate a request (the hot path), rotate refresh
tokens with reuse detection, upgrade after MFA, and revoke.

MFA-pending sessions (the password given, a second factor owed) are kept apart (issue #12):
they live at most ``session.mfa_pending_lifetime`` from the password step (the record's own
``created_at``, so the hot path needs no extra look-up; refreshing never extends it), they
have their own small cap (``session.max_pending_sessions_per_user``, the oldest pending one
makes room) and never count toward or evict from ``session.max_sessions_per_user``: a
password alone cannot sign the owner out. A pending session takes a place among the others
only when its second factor is given (``complete_mfa``).

Every session also ends ``session.absolute_lifetime`` after its sign-in (``created_at``) and,
with ``session.idle_timeout``, that long after its last recorded activity (``last_active``,
written at most every ``touch_interval``). Both are folded into the record's ``expires_at``
whenever it is written (so the stores' own expiry, the per-user caps and the session list
see them) and checked again from the record's own times on the hot path (rows stored under
older settings; no extra look-up). Tokens minted before the MFA step stop working once it is
completed: the record says ``verified``, their ``isMfaVerified`` claim says otherwise
(ASVS 3.2.1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from authgate.authz.store import grants, in_session
from authgate.clock import iso_millis
from authgate.db import new_id
from authgate.errors import AuthError, Code
from authgate.events import REFRESH_REUSE_DETECTED, Event
from authgate.identity.snapshot import UserSnapshot, load_user_snapshot
from authgate.resources import Resources
from authgate.sessions.records import MfaState, SessionRecord
from authgate.sessions.store import Rider, RiderRows
from authgate.tx import readonly

log = logging.getLogger("authgate.sessions")

_MFA_GENERATION = "mfa_generation"
"""Key in a session's ``data``: the generation its last completed MFA step started."""


@dataclass(frozen=True, slots=True)
class ClientMeta:
    ip: str | None = None
    user_agent: str | None = None
    trust_token: str | None = field(default=None, repr=False)
    """The trusted-device token the request presented (``http.cookies.trust_token``), if
    any: the lockout lets the owner's known device past an account-wide lock. Never stored."""


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    user_id: str = ""
    """Whose tokens (multi-account cookies are named after the user)."""
    session_id: str = ""
    """The session the pair belongs to (the CSRF token written beside it is bound to it)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the live session and the user behind it.

    A caller authenticated by an API key (``api_key_id`` set) has no session: ``session`` is
    a stand-in built from the key (its id, user, tenant, the user's current roles and
    permissions in ``data``) that no session store holds, and ``claims`` say
    ``"type": "api-key"``. Only host-app dependencies let such a caller in."""

    session: SessionRecord
    user: UserSnapshot
    claims: dict[str, Any]
    api_key_id: str | None = None
    rider: RiderRows | None = None
    """The rows of the rider the request's guard asked for (``authenticate(rider=...)``),
    read for this user after the session checks passed; None when none was asked for."""

    @property
    def mfa_pending(self) -> bool:
        return self.session.mfa_state == "pending"


def device_name(user_agent: str | None) -> str:
    ua = (user_agent or "").lower()
    for needle, name in (("android", "Android"), ("iphone", "iOS"), ("ipad", "iOS"),
                         ("windows", "Windows"), ("mac os", "Mac"), ("linux", "Linux")):
        if needle in ua:
            return name
    return "Unknown Device"


def _whole_seconds(dt: datetime) -> datetime:
    # A token's exp has whole seconds: session expiry is aligned with it. ``rotated_at`` keeps
    # full precision: the grace window is measured from the real rotation time, and a
    # successor re-minted from it is still byte-identical (iat = int(rotated_at)).
    return dt.replace(microsecond=0)


class Sessions:
    def __init__(self, res: Resources) -> None:
        self.res = res
        self._refresh_ttl: timedelta = res.settings.jwt.refresh_token_expires_in
        self._grace: timedelta = res.settings.jwt.refresh_reuse_grace
        self._pending_ttl: timedelta = res.settings.session.mfa_pending_lifetime
        self._absolute: timedelta | None = res.settings.session.absolute_lifetime
        self._idle: timedelta | None = res.settings.session.idle_timeout

    def pending_deadline(self, rec: SessionRecord) -> datetime:
        """When an MFA-pending session ends, whatever its refreshes (whole seconds, like the
        tokens' ``exp``)."""
        return _whole_seconds(rec.created_at) + self._pending_ttl

    def absolute_deadline(self, created_at: datetime) -> datetime | None:
        """When a session signed in at ``created_at`` ends whatever its refreshes."""
        return None if self._absolute is None else _whole_seconds(created_at) + self._absolute

    def _capped(self, expires: datetime, *, created_at: datetime,
                last_active: datetime) -> datetime:
        """``expires`` no later than the absolute deadline and the idle deadline."""
        absolute = self.absolute_deadline(created_at)
        if absolute is not None:
            expires = min(expires, absolute)
        if self._idle is not None:
            expires = min(expires, last_active + self._idle)
        return expires

    def timed_out(self, rec: SessionRecord, now: datetime) -> bool:
        """Past the absolute lifetime or idle for too long, from the record's own times
        (also for records written before a shorter setting)."""
        absolute = self.absolute_deadline(rec.created_at)
        if absolute is not None and now >= absolute:
            return True
        return self._idle is not None and now - rec.last_active >= self._idle

    def _refresh_cap(self, rec: SessionRecord) -> datetime | None:
        """What a refresh token's ``exp`` may not pass: the pending deadline, the absolute
        one (not the idle one: activity moves it without minting tokens)."""
        caps = [d for d in (self.absolute_deadline(rec.created_at),
                            rec.expires_at if rec.mfa_state == "pending" else None)
                if d is not None]
        return min(caps) if caps else None

    # minting ------------------------------------------------------------------------
    def access_claims(self, rec: SessionRecord, user: UserSnapshot) -> dict[str, Any]:
        """The contract's claims (§5.1), without the personal data unless
        ``jwt.personal_data_in_tokens`` (issue #19 item 15: a token is readable by anyone
        holding it; the SDK reads ``sub``, ``sessionId``, ``tenantId``, ``exp`` only)."""
        claims: dict[str, Any] = {"id": user.id, "sub": user.id, "sessionId": rec.id}
        if self.res.settings.jwt.personal_data_in_tokens:
            claims.update(email=user.email, phone=user.phone,
                          emailVerifiedAt=iso_millis(user.email_verified_at),
                          phoneVerifiedAt=iso_millis(user.phone_verified_at))
        claims.update(roles=rec.data.get("roles", []), tenantId=rec.tenant_id,
                      isMfaEnabled=user.is_mfa_enabled or rec.mfa_state != "none",
                      isMfaVerified=rec.mfa_state == "verified")
        return claims

    def mint(self, rec: SessionRecord, user: UserSnapshot, now: datetime) -> TokenPair:
        access = self.res.tokens.issue_access(self.access_claims(rec, user), now)
        refresh = self.res.tokens.issue_refresh(
            user_id=user.id, session_id=rec.id, generation=rec.generation,
            issued_at=rec.rotated_at, expires_at=self._refresh_cap(rec),
        )
        return TokenPair(access, refresh, user.id, rec.id)

    # start --------------------------------------------------------------------------
    async def start(
        self,
        user: UserSnapshot,
        *,
        mfa_state: MfaState,
        amr: tuple[str, ...],
        client: ClientMeta,
        data: dict[str, Any] | None = None,
        tenant_id: str | None = None,
    ) -> tuple[SessionRecord, TokenPair]:
        """Open a session of ``user`` in ``tenant_id`` (``data``: the roles/permissions
        snapshot of that tenant, ``authz.store.grants``)."""
        now = self.res.clock.now()
        await self._make_room(user.id, now, pending=mfa_state == "pending")
        issued = _whole_seconds(now)
        expires = issued + self._refresh_ttl
        if mfa_state == "pending":
            expires = min(expires, issued + self._pending_ttl)
        expires = self._capped(expires, created_at=now, last_active=now)
        rec = SessionRecord(
            id=new_id(),
            user_id=user.id,
            generation=0,
            rotated_at=now,
            expires_at=expires,
            last_active=now,
            created_at=now,
            authenticated_at=now,
            mfa_state=mfa_state,
            amr=amr,
            tenant_id=tenant_id,
            user_agent=(client.user_agent or None) and client.user_agent[:512],
            device_name=device_name(client.user_agent),
            ip_address=client.ip,
            data=data or {},
        )
        await self.res.store.create(rec)
        return rec, self.mint(rec, user, now)

    async def _make_room(self, user_id: str, now: datetime, *, pending: bool,
                         keep: str | None = None) -> None:
        """Apply the cap of the group a new (or newly verified) session joins: pending
        sessions evict only pending ones; the others evict (or reject) only non-pending
        ones. A pending login is refused under ``reject`` when the others are full, as its
        second factor could not be completed anyway."""
        cfg = self.res.settings.session
        live = [s for s in await self.res.store.list_for_user(user_id, now) if s.id != keep]
        verified = [s for s in live if s.mfa_state != "pending"]
        if cfg.on_max_sessions == "reject" and len(verified) >= cfg.max_sessions_per_user:
            raise AuthError(Code.MAX_SESSIONS_REACHED)
        if pending:
            group = [s for s in live if s.mfa_state == "pending"]
            cap = cfg.max_pending_sessions_per_user
        else:
            group, cap = verified, cfg.max_sessions_per_user
        excess = len(group) - cap + 1
        if excess > 0:
            for old in sorted(group, key=lambda s: s.last_active)[:excess]:
                await self.res.store.delete(old.id)

    # the hot path -------------------------------------------------------------------
    async def authenticate(self, token: str, *, allow_mfa_pending: bool,
                           rider: Rider | None = None) -> Principal:
        """Verify an access token and load its live session and user in one store trip.

        ``rider`` (``sessions.store``): a read about the user the route needs; the database
        store runs it in that same trip, with any other store it is run here once every
        check has passed. Its rows are ``Principal.rider``, never handed out for a session
        refused here."""
        now = self.res.clock.now()
        claims = self.res.tokens.decode_access(token, now)
        sid, sub = claims["sessionId"], claims["sub"]
        loaded = await self.res.store.load(sid, sub, now, rider=rider)
        if loaded is None:
            if await load_user_snapshot(self.res.db, sub) is None:
                raise AuthError(Code.USER_NOT_FOUND)
            raise AuthError(Code.SESSION_NOT_FOUND)
        rec, user, rows = loaded
        if user is None:
            raise AuthError(Code.USER_NOT_FOUND)
        if not user.is_active:
            raise AuthError(Code.ACCOUNT_INACTIVE, "User is not active")
        if rec.mfa_state == "pending":
            # from the record itself: also ends pending sessions stored before a shorter
            # setting (no extra look-up on the hot path)
            if now >= self.pending_deadline(rec):
                raise AuthError(Code.SESSION_NOT_FOUND)
            if not allow_mfa_pending:
                raise AuthError(Code.MFA_REQUIRED)
        elif rec.mfa_state == "verified" and claims.get("isMfaVerified") is not True:
            # minted before the second factor was given: the MFA step retired it
            raise AuthError(Code.INVALID_TOKEN)
        if self.timed_out(rec, now):
            await self.res.store.delete(rec.id)
            raise AuthError(Code.SESSION_NOT_FOUND)
        cfg = self.res.settings.session
        if ((cfg.sliding_expiration or self._idle is not None) and rec.mfa_state != "pending"
                and now - rec.last_active >= cfg.touch_interval):
            rec = await self._touch(rec, now)
        if rider is not None and rows is None:  # the store could not carry it
            rows = await self.res.db.hot_fetch_all(rider, {"uid": user.id})
        return Principal(session=rec, user=user, claims=claims, rider=rows)

    async def _touch(self, rec: SessionRecord, now: datetime) -> SessionRecord:
        """Record activity (at most every ``touch_interval``): it moves the idle deadline
        and, with sliding expiration, the refresh-lifetime one; never the absolute one."""
        base = (now if self.res.settings.session.sliding_expiration
                else _whole_seconds(rec.rotated_at))
        changes = {"last_active": now,
                   "expires_at": self._capped(base + self._refresh_ttl,
                                              created_at=rec.created_at, last_active=now)}
        await self.res.store.update(rec.id, changes)
        return rec.with_changes(**changes)

    # refresh ------------------------------------------------------------------------
    async def refresh(self, token: str) -> tuple[SessionRecord, UserSnapshot, TokenPair]:
        """Rotate: the presented token's generation must be current (or the immediately
        previous one within the grace window, which returns the same successor). Anything
        older is reuse: the whole session is revoked."""
        now = self.res.clock.now()
        claims = self.res.tokens.decode_refresh(token, now)
        store = self.res.store
        user: UserSnapshot | None = None
        if store.live_user:
            # the session joined to its user row: one hot statement, the user as fresh as
            # load_user_snapshot would read it (no session: none, as for a deleted user)
            loaded = await store.load(claims.session_id, claims.user_id, now)
            rec, user = (loaded.session, loaded.user) if loaded is not None else (None, None)
        else:  # another store's load gives its cached user: read the row itself below
            rec = await store.get(claims.session_id, now)
        if rec is None or rec.user_id != claims.user_id:
            # same answer as the guard: a deleted account is told apart from a lost session
            if await load_user_snapshot(self.res.db, claims.user_id) is None:
                raise AuthError(Code.USER_NOT_FOUND)
            raise AuthError(Code.SESSION_NOT_FOUND)
        pending = rec.mfa_state == "pending"
        if (pending and now >= self.pending_deadline(rec)) or self.timed_out(rec, now):
            await store.delete(rec.id)  # stored before a shorter setting; its time is up
            raise AuthError(Code.REFRESH_TOKEN_EXPIRED)
        if user is None:
            user = await load_user_snapshot(self.res.db, rec.user_id)
        if user is None or not user.is_active:
            await store.delete(rec.id)
            raise AuthError(Code.USER_NOT_FOUND if user is None else Code.ACCOUNT_INACTIVE)
        if claims.generation == rec.generation:
            issued = _whole_seconds(now)
            expires = issued + self._refresh_ttl
            if pending:  # refreshed only within its deadline, never past it
                expires = min(expires, self.pending_deadline(rec))
            expires = self._capped(expires, created_at=rec.created_at, last_active=now)
            # role and permission changes reach a session at its next refresh at the latest
            async with readonly(self.res.readmaker) as s:
                held = await grants(in_session(s), rec.user_id, rec.tenant_id)
            if held is None:  # no longer an active member of the session's tenant
                await store.delete(rec.id)
                raise AuthError(Code.ACCESS_DENIED, "User does not belong to this tenant")
            changes = {"rotated_at": now, "expires_at": expires,
                       "last_active": now, "data": {**rec.data, **held.snapshot()}}
            if await store.rotate(rec.id, rec.generation, changes):
                rec = rec.with_changes(generation=rec.generation + 1, **changes)
                return rec, user, self.mint(rec, user, now)
            fresh = await store.get(rec.id, now)  # lost a race: see what the winner wrote
            if fresh is None:
                raise AuthError(Code.SESSION_NOT_FOUND)
            rec = fresh
        if claims.generation == rec.generation - 1 and now - rec.rotated_at <= self._grace:
            if rec.data.get(_MFA_GENERATION) == rec.generation:
                # the last rotation was the MFA step: a token minted before it gets no
                # share of the verified successor, and the session (whose owner holds the
                # new pair) lives on
                raise AuthError(Code.REFRESH_TOKEN_INVALID,
                                "Refresh token is no longer valid (rotated or replayed)")
            return rec, user, self.mint(rec, user, now)
        await store.delete(rec.id)
        log.warning("refresh token reuse detected; session %s revoked", rec.id)
        await self.res.events.emit(Event(REFRESH_REUSE_DETECTED, rec.user_id,
                                         {"sessionId": rec.id}))
        raise AuthError(
            Code.REFRESH_TOKEN_INVALID, "Refresh token is no longer valid (rotated or replayed)"
        )

    # MFA upgrade --------------------------------------------------------------------
    async def complete_mfa(
        self, principal: Principal, method: str
    ) -> tuple[SessionRecord, TokenPair]:
        """Mark the session verified and rotate its tokens (the pending pair is retired).
        Only now does it take a place under ``session.max_sessions_per_user``."""
        now = self.res.clock.now()
        rec = principal.session
        if rec.mfa_state == "pending":
            await self._make_room(rec.user_id, now, pending=False, keep=rec.id)
        issued = _whole_seconds(now)

        def upgrade(base: SessionRecord) -> dict[str, Any]:
            return {
                "mfa_state": "verified",
                "amr": tuple(dict.fromkeys((*base.amr, method))),
                "authenticated_at": now,
                "rotated_at": now,
                "expires_at": self._capped(issued + self._refresh_ttl,
                                           created_at=base.created_at, last_active=now),
                "last_active": now,
                # the generation this step starts: tokens of earlier ones never share it
                "data": {**base.data, _MFA_GENERATION: base.generation + 1},
            }

        changes = upgrade(rec)
        if not await self.res.store.rotate(rec.id, rec.generation, changes):
            current = await self.res.store.get(rec.id, now)
            if current is None:
                raise AuthError(Code.SESSION_NOT_FOUND)
            changes = upgrade(current)
            if not await self.res.store.rotate(rec.id, current.generation, changes):
                raise AuthError(Code.SESSION_NOT_FOUND)
            rec = current
        rec = rec.with_changes(generation=rec.generation + 1, **changes)
        return rec, self.mint(rec, principal.user, now)

    # tenant switch ------------------------------------------------------------------
    async def switch_tenant(self, principal: Principal, tenant_id: str,
                            data: dict[str, Any]) -> tuple[SessionRecord, TokenPair]:
        """Move the session to ``tenant_id`` in place (same id, MFA state kept) with that
        tenant's roles/permissions snapshot (``data``), and rotate its tokens: the previous
        refresh token is retired like at a refresh."""
        now = self.res.clock.now()
        rec = principal.session
        changes: dict[str, Any] = {"tenant_id": tenant_id, "data": {**rec.data, **data},
                                   "rotated_at": now, "last_active": now}
        if not await self.res.store.rotate(rec.id, rec.generation, changes):
            current = await self.res.store.get(rec.id, now)
            if current is None or not await self.res.store.rotate(
                    rec.id, current.generation, changes):
                raise AuthError(Code.SESSION_NOT_FOUND)
            rec = current
        rec = rec.with_changes(generation=rec.generation + 1, **changes)
        return rec, self.mint(rec, principal.user, now)

    # logout -------------------------------------------------------------------------
    async def named_by_access(self, token: str) -> SessionRecord | None:
        """The live session an access token names, expired or not, as long as this server
        signed it (logout ends a session whatever its access token's age); else None."""
        now = self.res.clock.now()
        try:
            claims = self.res.tokens.authentic_access(token, now)
        except AuthError:
            return None
        return await self._owned(str(claims["sessionId"]), str(claims["sub"]), now)

    async def named_by_refresh(self, token: str) -> SessionRecord | None:
        """The live session a valid refresh token names (any generation: a stale one may
        end its session, as presenting it to ``refresh`` would); else None."""
        now = self.res.clock.now()
        try:
            claims = self.res.tokens.decode_refresh(token, now)
        except AuthError:
            return None
        return await self._owned(claims.session_id, claims.user_id, now)

    async def _owned(self, session_id: str, user_id: str, now: datetime) -> SessionRecord | None:
        rec = await self.res.store.get(session_id, now)
        return rec if rec is not None and rec.user_id == user_id else None

    # revoke -------------------------------------------------------------------------
    async def revoke(self, session_id: str) -> bool:
        return await self.res.store.delete(session_id)

    async def revoke_all(self, user_id: str, *, keep: str | None = None) -> int:
        return await self.res.store.delete_for_user(user_id, keep=keep)
