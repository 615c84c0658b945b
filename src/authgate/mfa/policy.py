"""Which MFA methods a user has, what ``GET /auth/mfa/status`` says, and the toggle.

Method rules: a method counts only when it is
configured for the app *and* usable by this user (``MfaMethod.usable`` and, when the method
has rows of its own, ``usable_sql``): ``totp`` with a verified device, ``email`` with a
verified address and an email channel, ``sms`` with a verified phone and an SMS channel.
Weak methods (email, SMS) step aside for a strong one (see ``_methods``). The methods are the
registered ones (``authgate.registry.mfa_methods``, built-ins in ``authgate.mfa.methods``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authgate.errors import AuthError, Code
from authgate.events import MFA_DISABLED, MFA_ENABLED, Event
from authgate.identity.models import User
from authgate.identity.snapshot import UserSnapshot
from authgate.mfa import store as mfa_store
from authgate.mfa.models import TotpDevice
from authgate.mfa.reauth import require_recent_auth
from authgate.registry import mfa_methods
from authgate.resources import Resources
from authgate.sessions.service import Principal
from authgate.sessions.store import Rider, RiderRows
from authgate.tx import transaction

if TYPE_CHECKING:  # the methods build on this module (methods.totp -> mfa.totp -> policy)
    from authgate.mfa.methods.base import MfaMethod


async def totp_devices(s: AsyncSession, user_id: str, now: datetime) -> list[TotpDevice]:
    """All the user's devices (verified, and unverified set-ups not yet expired), newest use
    first."""
    return _live_devices(await _all_devices(s, user_id), now)


async def _all_devices(s: AsyncSession, user_id: str) -> list[TotpDevice]:
    return list((
        await s.execute(select(TotpDevice).where(TotpDevice.user_id == user_id))
    ).scalars().all())


_Device = TypeVar("_Device", TotpDevice, "DeviceInfo")


def _live_devices(rows: list[_Device], now: datetime) -> list[_Device]:
    """Verified devices and set-ups not yet expired, most recently used first."""
    live = [d for d in rows if d.verified or d.expires_at is None or d.expires_at > now]
    return sorted(
        live, key=lambda d: (d.last_used_at or d.created_at, d.created_at), reverse=True
    )


def configured(res: Resources) -> tuple[MfaMethod, ...]:
    """The registered methods this app configures (``mfa.methods``), in that order."""
    return _statements(res).methods


_PLANS: dict[tuple[int, tuple[str, ...]], mfa_store.Statements] = {}


def _statements(res: Resources) -> mfa_store.Statements:
    """The configured methods and their composed statements (once per configuration and
    registry version: the status and the toggle are hot routes)."""
    key = (mfa_methods.version, res.settings.mfa.methods)
    found = _PLANS.get(key)
    if found is None:
        methods = [m for m in (mfa_methods.get(n) for n in key[1]) if m is not None]
        found = _PLANS[key] = mfa_store.compose(methods)
    return found


def _methods(res: Resources, st: mfa_store.Statements, user: UserSnapshot,
             facts: dict[str, bool], *, offered: bool = True) -> list[str]:
    """The usable methods in status order; ``facts``: the SQL facts (``usable_sql``).

    ``offered`` (issue #12 item 2): what the MFA step accepts. Once the user has a strong
    method, the weak ones (email, SMS: the inbox that also resets the password) are left
    out unless ``mfa.allow_weak_methods_with_strong``; after a password reset
    (``mfa_strong_factor_required``) only strong ones count, whatever the setting.
    """
    usable = [m for m in st.by_status if m.usable(res, user) and facts.get(m.name, True)]
    if offered and (user.mfa_strong_factor_required or (
            not res.settings.mfa.allow_weak_methods_with_strong
            and any(m.strong for m in usable))):
        usable = [m for m in usable if m.strong]
    return [m.name for m in usable]


async def verified_methods(res: Resources, s: AsyncSession, user: UserSnapshot, *,
                           offered: bool = True) -> list[str]:
    """Status order (totp, email, sms for the built-ins): the methods the MFA step accepts
    now; ``offered=False``: every method the user can use (whether the user has any)."""
    if not res.settings.mfa.enabled:
        return []
    st = _statements(res)
    facts: dict[str, bool] = {}
    if st.facts:
        row = (await s.execute(st.facts_query, {"uid": user.id})).mappings().one()
        facts = mfa_store.facts_of(st, row)
    return _methods(res, st, user, facts, offered=offered)


def login_order(methods: list[str]) -> list[str]:
    """Login responses list methods as the contract does: email, sms, then totp."""
    def rank(name: str) -> int:
        m = mfa_methods.get(name)
        return m.login_rank if m is not None else 0
    return sorted(methods, key=rank)


def default_method(res: Resources, methods: list[str]) -> str | None:
    preferred = res.settings.mfa.default_method
    if preferred in methods:
        return preferred
    return methods[0] if methods else None


async def strong_factor_proven(res: Resources, user: UserSnapshot) -> UserSnapshot:
    """A strong method or a recovery code finished the MFA step: the weak methods count
    again (clears ``mfa_strong_factor_required``, set by a password reset)."""
    if not user.mfa_strong_factor_required:
        return user
    async with transaction(res.sessionmaker) as tx:
        await tx.session.execute(update(User).where(
            User.id == user.id, User.mfa_strong_factor_required.is_(True))
            .values(mfa_strong_factor_required=False))
    await res.store.user_changed(user.id)  # after the commit (tx.py)
    return replace(user, mfa_strong_factor_required=False)


def mfa_required_for(res: Resources, user: UserSnapshot) -> bool:
    cfg = res.settings.mfa
    return cfg.enabled and (cfg.required or user.is_mfa_enabled)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the status lists of a device (never its secret)."""

    id: str
    device_name: str
    verified: bool
    last_used_at: datetime | None
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class MfaStatus:
    is_enabled: bool
    verified_methods: list[str]
    configured_methods: list[str]
    allow_user_toggle: bool
    allow_method_selection: bool
    totp_devices: list[DeviceInfo]
    has_recovery_code: bool
    required: bool
    can_toggle: bool


def can_toggle(res: Resources) -> bool:
    cfg = res.settings.mfa
    return cfg.enabled and cfg.allow_user_toggle and not cfg.required


def status_rider(res: Resources) -> Rider:
    """The status read as a session-load rider (``sessions.store.Rider``): ``GET
    /auth/mfa/status`` gets its rows with the session, in the same round trip on the
    database session store (``Principal.rider``); built once per configuration."""
    return _statements(res).status  # type: ignore[no-any-return]


async def status(res: Resources, user: UserSnapshot, rows: RiderRows | None = None
                 ) -> MfaStatus:
    """``rows``: the rows of ``status_rider`` for ``user``, read with the session; None:
    read them now."""
    cfg = res.settings.mfa
    now = res.clock.now()
    st = _statements(res)
    if rows is None:
        rows = await mfa_store.status_rows(res.db, st, user.id)
    has_rc = bool(rows[0]["has_rc"]) if rows else False
    devices: list[DeviceInfo] = []
    methods: list[str] = []
    if cfg.enabled:
        found = [DeviceInfo(r["id"], r["device_name"], bool(r["verified"]), r["last_used_at"],
                            r["created_at"], r["expires_at"]) for r in rows if r["id"] is not None]
        devices = _live_devices(found, now)
        methods = _methods(res, st, user, mfa_store.facts_of(st, rows[0]) if rows else {})
    return MfaStatus(
        is_enabled=cfg.enabled and (cfg.required or user.is_mfa_enabled),
        verified_methods=methods,
        configured_methods=list(cfg.methods) if cfg.enabled else [],
        allow_user_toggle=cfg.allow_user_toggle if cfg.enabled else False,
        allow_method_selection=cfg.allow_method_selection,
        totp_devices=devices,
        has_recovery_code=has_rc,
        required=cfg.required,
        can_toggle=can_toggle(res),
    )


def toggle_rider(res: Resources) -> Rider | None:
    """The toggle's facts (``mfa_store.Statements.toggle_facts``: a live trust token, each
    method's SQL fact) as a session-load rider, where the store reads them in the session's
    own statement (the database store): with the flag from that same read they answer a
    toggle that changes nothing, the common case, without a second round trip. None with a
    store that would run it as a trip of its own (Redis, memory): there the conditional
    write alone is cheaper, and the cached user's flag is no snapshot to decide on."""
    if not res.store.live_user:
        return None
    return _statements(res).toggle_facts  # type: ignore[no-any-return]


async def toggle(res: Resources, principal: Principal, enabled: bool) -> None:
    """Turn the caller's MFA flag on or off.

    Raises REAUTH_REQUIRED (turning it off outside the step-up window), MFA_NOT_ENABLED (app
    MFA off), MFA_TOGGLING_NOT_ALLOWED (toggle disallowed or MFA required),
    MFA_CANNOT_ENABLE_WITHOUT_METHOD (enabling with no usable method). Idempotent:
    one conditional write (a single statement on PostgreSQL), so concurrent toggles end in a
    consistent state and a repeated one writes nothing; when the principal carries
    ``toggle_rider``'s row (read in one statement with the user's flag), a toggle that row
    shows to change nothing is answered from it without the write.
    """
    user = principal.user
    if not enabled and user.is_mfa_enabled and can_toggle(res):
        require_recent_auth(res, principal)
    cfg = res.settings.mfa
    if not cfg.enabled:
        raise AuthError(Code.MFA_NOT_ENABLED)
    if not can_toggle(res):
        raise AuthError(Code.MFA_TOGGLING_NOT_ALLOWED)
    st = _statements(res)
    rows = principal.rider
    wrote = await mfa_store.set_mfa_flag(
        res.db, st, user.id, enabled=enabled, now=res.clock.now(),
        can=[m.usable(res, user) for m in st.methods],
        seen=(user.is_mfa_enabled, rows[0]) if rows else None)
    if not wrote.allowed:
        raise AuthError(Code.MFA_CANNOT_ENABLE_WITHOUT_METHOD)
    if wrote.changed:
        await res.store.user_changed(user.id)
        methods = _methods(res, st, user, wrote.facts) if enabled else []
        data = {"method": methods[0]} if methods else {}
        await res.events.emit(Event(MFA_ENABLED if enabled else MFA_DISABLED, user.id, data))
