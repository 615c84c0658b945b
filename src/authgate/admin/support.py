"""Everyday support work on end users, for the operator commands (``authgate users …``,
``sessions revoke``, ``mfa reset``, ``unlock``): each flow finds the account an operator
named (an email or an id) and then reuses the console's management flows
(``authgate.admin.users``) or the services below them, so the same rules hold and the same
audit trail records it.

An email may name several accounts in ``tenant.mode = "isolated"`` (one per tenant): the
look-up then refuses with TENANT_ID_REQUIRED, listing the tenants, until one is given.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Delete, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authgate.admin import users as admin_users
from authgate.admin.actor import Auditor
from authgate.admin.ids import parse_id
from authgate.errors import AuthError, Code
from authgate.events import MFA_DEVICE_REMOVED, MFA_DISABLED, Event
from authgate.identity import store as users
from authgate.identity.models import User
from authgate.mfa import attempt_budget
from authgate.mfa.models import RecoveryCode, TotpDevice, WebauthnCredential
from authgate.mfa.trust import revoke_all_trust
from authgate.resources import Resources
from authgate.sessions.service import Sessions
from authgate.tenancy import store as tenant_store
from authgate.throttling import attempts, rate
from authgate.tx import readonly, transaction

MAX_LIST = 10_000


@dataclass(frozen=True, slots=True)
class UserRef:
    """What the operator typed: an email address or a user id, and (isolated mode) the
    tenant whose account is meant."""

    value: str
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class Found:
    id: str
    email: str | None


async def find(res: Resources, ref: UserRef) -> Found:
    """The one account ``ref`` names. Raises INVALID_INPUT (neither an email nor an id;
    ``--tenant`` outside isolated mode), TENANT_NOT_FOUND, USER_NOT_FOUND, and
    TENANT_ID_REQUIRED when an email names accounts in several tenants."""
    value = ref.value.strip()
    mode = res.settings.tenant.mode
    tenant = (ref.tenant or "").strip() or None
    if tenant is not None and mode != "isolated":
        raise AuthError(Code.INVALID_INPUT, "--tenant selects an account only when "
                        f"tenant.mode is isolated (it is {mode})")
    async with readonly(res.readmaker) as s:
        if tenant is not None and await tenant_store.tenant_by_id(s, tenant) is None:
            raise AuthError(Code.TENANT_NOT_FOUND, "Tenant not found")
        uid = parse_id(value)
        if uid is not None:
            user = await users.by_id(s, uid)
            if user is None or (tenant is not None and user.tenant_scope != tenant):
                raise AuthError(Code.USER_NOT_FOUND)
            return Found(user.id, user.email)
        if not users.valid_email(value):
            raise AuthError(Code.INVALID_INPUT, "Give an email address or a user id")
        query = select(User).where(User.email == users.normalise_email(value))
        if tenant is not None:
            query = query.where(User.tenant_scope == tenant)
        found = list((await s.execute(query.order_by(User.tenant_scope).limit(21))
                      ).scalars().all())
    if not found:
        raise AuthError(Code.USER_NOT_FOUND)
    if len(found) > 1:
        scopes = ", ".join(u.tenant_scope or "(none)" for u in found[:20])
        raise AuthError(Code.TENANT_ID_REQUIRED, f"{len(found) if len(found) <= 20 else 'Over 20'}"
                        f" accounts use this email (tenants: {scopes}): name one with --tenant")
    return Found(found[0].id, found[0].email)


# read ----------------------------------------------------------------------------------------
async def list_users(res: Resources, *, search: str | None = None, limit: int = 50,
                     status: str | None = None,
                     tenant: str | None = None) -> tuple[list[admin_users.AdminUser], int]:
    """Newest first, at most ``limit`` (up to ``MAX_LIST``); the total matching."""
    limit = max(1, min(limit, MAX_LIST))
    out: list[admin_users.AdminUser] = []
    page, total = 1, 0
    while len(out) < limit:
        got = await admin_users.list_users(res, page=page, limit=admin_users.MAX_LIMIT,
                                           search=search, status=status, tenant_id=tenant)
        total = got.total
        out.extend(got.items)
        if len(got.items) < admin_users.MAX_LIMIT:
            break
        page += 1
    return out[:limit], total


async def show(res: Resources, ref: UserRef) -> admin_users.UserDetail:
    return await admin_users.user_detail(res, (await find(res, ref)).id)


# change --------------------------------------------------------------------------------------
async def set_active(res: Resources, actor: Auditor, ref: UserRef,
                     active: bool) -> admin_users.AdminUser:
    """Enable or disable the account (the console's update flow): disabling ends its
    sessions and revokes its trusted devices; sign-ins are refused while it is inactive."""
    found = await find(res, ref)
    return await admin_users.update_user(res, actor, found.id,
                                         admin_users.UserPatch(is_active=active))


async def end_sessions(res: Resources, actor: Auditor, ref: UserRef) -> tuple[Found, int]:
    """End every session of the account; returns how many there were."""
    found = await find(res, ref)
    return found, await admin_users.revoke_sessions(res, actor, found.id)


async def _delete_count(s: AsyncSession, stmt: Delete) -> int:
    return int((await s.execute(stmt)).rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class MfaReset:
    user: Found
    was_enabled: bool
    totp_devices: int
    recovery_codes: int
    trusted_devices: int
    passkeys: int
    sessions: int


async def reset_mfa(res: Resources, actor: Auditor, ref: UserRef, *,
                    passkeys: bool = False) -> MfaReset:
    """The account lost its second factor: remove its authenticators and recovery codes
    (and its passkeys with ``passkeys``), revoke its trusted devices and turn its MFA flag
    off in one unit of work, then end its sessions. The owner is told (``mfa.disabled``,
    ``mfa.device_removed``: the security notices) and the change is audited."""
    found = await find(res, ref)
    now = res.clock.now()
    async with transaction(res.sessionmaker) as tx:
        s = tx.session
        user = await users.by_id(s, found.id, for_update=True)
        if user is None:  # deleted meanwhile
            raise AuthError(Code.USER_NOT_FOUND)
        was_enabled = user.is_mfa_enabled
        devices = (await s.execute(
            delete(TotpDevice).where(TotpDevice.user_id == user.id)
            .returning(TotpDevice.id, TotpDevice.verified))).all()
        codes = await _delete_count(s, delete(RecoveryCode).where(
            RecoveryCode.user_id == user.id))
        keys = await _delete_count(s, delete(WebauthnCredential).where(
            WebauthnCredential.user_id == user.id)) if passkeys else 0
        trusted = await revoke_all_trust(res, tx, user.id)
        await s.execute(update(User).where(User.id == user.id).values(
            is_mfa_enabled=False, mfa_strong_factor_required=False, updated_at=now))
        for dev_id, verified in devices:
            if verified:
                tx.after_commit(lambda d=dev_id: res.events.emit(  # type: ignore[misc]
                    Event(MFA_DEVICE_REMOVED, found.id, {"deviceId": d, "reason": "reset"})))
        if was_enabled:
            tx.after_commit(lambda: res.events.emit(
                Event(MFA_DISABLED, found.id, {"reason": "reset"})))
    ended = await Sessions(res).revoke_all(found.id)
    await res.store.user_changed(found.id)
    done = MfaReset(user=found, was_enabled=was_enabled,
                    totp_devices=sum(1 for _, v in devices if v), recovery_codes=codes,
                    trusted_devices=trusted, passkeys=keys, sessions=ended)
    await actor.record(res, "user.mfa.reset", found.id, wasEnabled=was_enabled,
                       totpDevices=done.totp_devices, recoveryCodes=done.recovery_codes,
                       trustedDevices=trusted, passkeys=done.passkeys, sessionsEnded=ended)
    return done


@dataclass(frozen=True, slots=True)
class Unlocked:
    user: Found
    lock_seconds_left: int | None
    """The account-wide sign-in lock that was lifted (seconds it had left), or None."""
    mfa_seconds_left: int | None
    """The second-factor attempt block that was lifted, or None."""


async def unlock(res: Resources, actor: Auditor, ref: UserRef) -> Unlocked:
    """Lift the account's sign-in locks (account-wide and per client), forget its password
    failures and lock history, and its second-factor attempt counters (the account's and
    every client's on it). Rate-limit windows are left to run out."""
    found = await find(res, ref)
    locked = await rate.account_lock_remaining(res, found.id)
    mfa_block = await attempts.blocked_for(res, attempts.MFA_SCOPE, found.id)
    await rate.unlock_account(res, found.id)
    await attempts.clear(res, attempts.MFA_SCOPE, found.id)
    await attempts.clear_prefix(res, (attempt_budget.CLIENT_SCOPE,), f"{found.id}:")
    await actor.record(res, "user.unlock", found.id, lockSecondsLeft=locked,
                       mfaSecondsLeft=mfa_block)
    return Unlocked(user=found, lock_seconds_left=locked, mfa_seconds_left=mfa_block)
