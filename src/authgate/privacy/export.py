"""Self-service export: what authgate holds about the signed-in user, in one read.

Everything the account owns, read from the rows themselves (not through the feature flows,
which refuse when a feature is switched off: data from before the switch is still the
owner's): the profile, roles outside tenants, memberships with their roles, live sessions,
authenticators, recovery-code counts, trusted devices, passkeys, linked identities and API
keys, and the account's security activity from the audit trail (as ``GET /auth/activity``
shows it: someone else's address and agent left out). Never a secret or what stands for one: no password or code hash, no TOTP seed, no
passkey public key or credential id, no API-key secret hash, no token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from authgate.accounts.activity import own_activity
from authgate.apikeys.models import ApiKey
from authgate.audit.query import Entry
from authgate.errors import AuthError, Code
from authgate.federation.models import Identity
from authgate.identity.models import Role, Tenant, User, UserRole
from authgate.mfa.models import RecoveryCode, TotpDevice, TrustedDevice, WebauthnCredential
from authgate.resources import Resources
from authgate.sessions.records import SessionRecord
from authgate.sessions.service import Principal
from authgate.tenancy.models import Membership, MembershipRole
from authgate.tx import readonly


@dataclass(frozen=True)
class RoleHeld:
    id: str
    name: str
    guard: str


@dataclass(frozen=True)
class MembershipHeld:
    tenant_id: str
    name: str
    slug: str | None
    is_default: bool
    status: str
    roles: list[RoleHeld]
    joined_at: datetime


@dataclass(frozen=True)
class AccountExport:
    """The rows themselves (ORM objects detached after the read: the HTTP edge picks the
    fields it shows; ``sessions`` are the store's records)."""

    exported_at: datetime
    user: User
    roles: list[RoleHeld]
    memberships: list[MembershipHeld]
    sessions: list[SessionRecord]
    totp_devices: list[TotpDevice]
    recovery_codes_total: int
    recovery_codes_unused: int
    trusted_devices: list[TrustedDevice]
    passkeys: list[WebauthnCredential]
    identities: list[Identity]
    api_keys: list[ApiKey]
    activity: list[Entry]
    """Newest first, at most ``ACTIVITY_LIMIT`` rows (the trail keeps ``audit.retention``)."""


ACTIVITY_LIMIT = 10_000


async def _all(s: Any, model: Any, user_id: str) -> list[Any]:
    rows = await s.execute(select(model).where(model.user_id == user_id)
                           .order_by(model.created_at, model.id))
    return list(rows.scalars().all())


async def export(res: Resources, principal: Principal) -> AccountExport:
    """The caller's data (USER_NOT_FOUND if the account went while the request ran)."""
    uid = principal.user.id
    async with readonly(res.readmaker) as s:
        user = await s.get(User, uid)
        if user is None:
            raise AuthError(Code.USER_NOT_FOUND)
        roles = [RoleHeld(r.id, r.name, r.guard) for r in (await s.execute(
            select(Role).join(UserRole, UserRole.role_id == Role.id)
            .where(UserRole.user_id == uid).order_by(Role.name))).scalars()]
        held: dict[str, list[RoleHeld]] = {}
        for membership_id, role in (await s.execute(
                select(MembershipRole.membership_id, Role)
                .join(Role, Role.id == MembershipRole.role_id)
                .join(Membership, Membership.id == MembershipRole.membership_id)
                .where(Membership.user_id == uid).order_by(Role.name))).all():
            held.setdefault(membership_id, []).append(RoleHeld(role.id, role.name, role.guard))
        memberships = [
            MembershipHeld(tenant_id=t.id, name=t.name, slug=t.slug, is_default=m.is_default,
                           status=m.status, roles=held.get(m.id, []), joined_at=m.created_at)
            for m, t in (await s.execute(
                select(Membership, Tenant).join(Tenant, Tenant.id == Membership.tenant_id)
                .where(Membership.user_id == uid).order_by(Membership.created_at))).all()]
        codes = await _all(s, RecoveryCode, uid)
        out = AccountExport(
            exported_at=res.clock.now(), user=user, roles=roles, memberships=memberships,
            sessions=[], totp_devices=await _all(s, TotpDevice, uid),
            recovery_codes_total=len(codes),
            recovery_codes_unused=sum(1 for c in codes if c.used_at is None),
            trusted_devices=await _all(s, TrustedDevice, uid),
            passkeys=await _all(s, WebauthnCredential, uid),
            identities=await _all(s, Identity, uid), api_keys=await _all(s, ApiKey, uid),
            activity=[])
    sessions = await res.store.list_for_user(uid, res.clock.now())
    out.sessions.extend(sessions)
    entries, _ = await own_activity(res, principal, page=1, limit=ACTIVITY_LIMIT)
    out.activity.extend(entries)
    return out
