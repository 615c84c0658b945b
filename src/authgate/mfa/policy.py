"""Which MFA methods a user has, what ``GET /auth/mfa/status`` says, and the toggle.

Method rules (contract §3.9/§3.10, with W5/W16 fixed): a method counts only when it is
configured for the app *and* usable by this user: ``totp`` with a verified device, ``email``
with an address and an email channel, ``sms`` with a phone and an SMS channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from authgate.errors import AuthError, Code
from authgate.events import MFA_DISABLED, MFA_ENABLED, Event
from authgate.mfa import store as mfa_store
from authgate.mfa.models import TotpDevice
from authgate.resources import Resources
from authgate.sessions.records import UserSnapshot


async def has_verified_totp(s: AsyncSession, user_id: str) -> bool:
    stmt = select(func.count()).select_from(TotpDevice).where(
        TotpDevice.user_id == user_id, TotpDevice.verified.is_(True)
    )
    return bool((await s.execute(stmt)).scalar_one())


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


async def verified_methods(res: Resources, s: AsyncSession, user: UserSnapshot) -> list[str]:
    """Status order: totp, email, sms."""
    cfg = res.settings.mfa
    if not cfg.enabled:
        return []
    return _methods(res, user, totp="totp" in cfg.methods and await has_verified_totp(s, user.id))


def _methods(res: Resources, user: UserSnapshot, *, totp: bool) -> list[str]:
    cfg = res.settings.mfa
    out: list[str] = []
    if "totp" in cfg.methods and totp:
        out.append("totp")
    if "email" in cfg.methods and user.email and "email" in res.channels:
        out.append("email")
    if "sms" in cfg.methods and user.phone and "sms" in res.channels:
        out.append("sms")
    return out


def login_order(methods: list[str]) -> list[str]:
    """Login responses list methods as the contract does: email, sms, then totp."""
    return [m for m in ("email", "sms", "totp") if m in methods]


def default_method(res: Resources, methods: list[str]) -> str | None:
    preferred = res.settings.mfa.default_method
    if preferred in methods:
        return preferred
    return methods[0] if methods else None


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


async def status(res: Resources, user: UserSnapshot) -> MfaStatus:
    cfg = res.settings.mfa
    now = res.clock.now()
    rows = await mfa_store.status_rows(res.db, user.id)
    has_rc = bool(rows[0]["has_rc"]) if rows else False
    devices: list[DeviceInfo] = []
    methods: list[str] = []
    if cfg.enabled:
        found = [DeviceInfo(r["id"], r["device_name"], bool(r["verified"]), r["last_used_at"],
                            r["created_at"], r["expires_at"]) for r in rows if r["id"] is not None]
        devices = _live_devices(found, now)
        methods = _methods(res, user, totp=any(d.verified for d in found))
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


async def toggle(res: Resources, user: UserSnapshot, enabled: bool) -> None:
    """Turn the user's MFA flag on or off.

    Raises MFA_NOT_ENABLED (app MFA off), MFA_TOGGLING_NOT_ALLOWED (toggle disallowed or MFA
    required), MFA_CANNOT_ENABLE_WITHOUT_METHOD (enabling with no usable method). Idempotent:
    one conditional write (a single statement on PostgreSQL), so concurrent toggles end in a
    consistent state and a repeated one writes nothing.
    """
    cfg = res.settings.mfa
    if not cfg.enabled:
        raise AuthError(Code.MFA_NOT_ENABLED)
    if not can_toggle(res):
        raise AuthError(Code.MFA_TOGGLING_NOT_ALLOWED)
    others = _methods(res, user, totp=False)
    wrote = await mfa_store.set_mfa_flag(
        res.db, user.id, enabled=enabled, now=res.clock.now(), other_method=bool(others),
        totp_counts="totp" in cfg.methods)
    if not wrote.allowed:
        raise AuthError(Code.MFA_CANNOT_ENABLE_WITHOUT_METHOD)
    if wrote.changed:
        await res.store.user_changed(user.id)
        methods = _methods(res, user, totp=wrote.has_totp) if enabled else []
        data = {"method": methods[0]} if methods else {}
        await res.events.emit(Event(MFA_ENABLED if enabled else MFA_DISABLED, user.id, data))
