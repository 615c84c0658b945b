"""Managing end users from the admin console: list, create, inspect, update, delete, and
their sessions and authenticators.

Fixes upstream's admin bugs (contract W17, W18): a created user's ``password`` is honoured;
an update writes only the columns it was given (it never touches the password hash unless a
new password is given); deactivating a user or setting a password ends the user's sessions
and revokes its trusted devices; ``canPasswordLogin`` and ``hasRecoveryCode`` read the real
rows. Each flow owns its unit of work and ends sessions only after it committed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from authgate.admin.actor import Actor, Auditor
from authgate.admin.ids import parse_id
from authgate.admin.roles_view import RoleView, views
from authgate.authz import service as authz
from authgate.errors import AuthError, Code
from authgate.events import USER_CREATED, USER_DELETED, Event
from authgate.identity import password_policy
from authgate.identity import store as users
from authgate.identity.models import Role, Tenant, User, UserRole
from authgate.mfa import policy
from authgate.mfa.models import TotpDevice, TrustedDevice
from authgate.mfa.totp import remove_device
from authgate.mfa.trust import revoke_all_trust
from authgate.resources import Resources
from authgate.sessions.records import SessionRecord
from authgate.sessions.service import Sessions
from authgate.tenancy import service as tenancy
from authgate.tenancy import store as tenant_store
from authgate.tenancy.models import Membership, MembershipRole
from authgate.tx import readonly, transaction

Status = Literal["active", "inactive", "verified", "unverified"]
Scope = Literal["all", "platform", "tenant"]
MAX_LIMIT = 100


@dataclass(frozen=True)
class Access:
    """A membership of the user in a tenant, with the roles held there."""

    membership: Membership
    tenant: Tenant | None
    roles: list[RoleView]


@dataclass(frozen=True)
class AdminUser:
    """A user row (secrets are never read from it by the edge), the roles it holds outside
    any tenant, and its memberships."""

    user: User
    roles: list[RoleView]
    accesses: list[Access] = field(default_factory=list)


@dataclass(frozen=True)
class UserPage:
    items: list[AdminUser]
    page: int
    limit: int
    total: int
    scope: Scope


def _user_not_found() -> AuthError:
    return AuthError(Code.USER_NOT_FOUND, "User not found")


async def _with_roles(s: AsyncSession, rows: list[User]) -> list[AdminUser]:
    """The users with their roles and memberships: four statements for the whole page."""
    if not rows:
        return []
    ids = [u.id for u in rows]
    pairs = (await s.execute(
        select(UserRole.user_id, Role)
        .join(Role, Role.id == UserRole.role_id)
        .where(UserRole.user_id.in_(ids))
        .order_by(Role.name))).all()
    members = (await s.execute(
        select(Membership, Tenant).join(Tenant, Tenant.id == Membership.tenant_id)
        .where(Membership.user_id.in_(ids))
        .order_by(Membership.created_at, Membership.id))).all()
    held = (await s.execute(
        select(MembershipRole.membership_id, Role)
        .join(Role, Role.id == MembershipRole.role_id)
        .where(MembershipRole.membership_id.in_([m.id for m, _ in members]))
        .order_by(Role.name))).all() if members else []
    every = {r.id: r for _, r in [*pairs, *held]}
    role_views = {v.role.id: v for v in await views(s, every.values())}
    by_user: dict[str, list[RoleView]] = defaultdict(list)
    for user_id, role in pairs:
        by_user[user_id].append(role_views[role.id])
    by_membership: dict[str, list[RoleView]] = defaultdict(list)
    for membership_id, role in held:
        by_membership[membership_id].append(role_views[role.id])
    accesses: dict[str, list[Access]] = defaultdict(list)
    for m, t in members:
        accesses[m.user_id].append(Access(membership=m, tenant=t,
                                          roles=by_membership.get(m.id, [])))
    return [AdminUser(user=u, roles=by_user.get(u.id, []), accesses=accesses.get(u.id, []))
            for u in rows]


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# list ----------------------------------------------------------------------------------------
async def list_users(res: Resources, *, page: int = 1, limit: int = 10,
                     search: str | None = None, status: str | None = None,
                     tenant_id: str | None = None, role_name: str | None = None,
                     scope: str | None = None) -> UserPage:
    """Newest first. Out-of-range paging is brought into range (as upstream); an unknown
    ``status`` or ``scope`` filters nothing (``scope`` reads ``all``)."""
    page = max(1, page)
    limit = min(MAX_LIMIT, limit) if limit > 0 else 10
    resolved: Scope = "platform" if (scope or "").strip().lower() == "platform" else (
        "tenant" if (scope or "").strip().lower() == "tenant" else "all")
    cond: list[Any] = []
    if status == "active":
        cond.append(User.status == "active")
    elif status == "inactive":
        cond.append(User.status != "active")
    elif status == "verified":
        cond.append(User.email_verified_at.is_not(None))
    elif status == "unverified":
        cond.append(User.email_verified_at.is_(None))
    if search and search.strip():
        pattern = _like(search.strip().lower())
        cond.append(or_(func.lower(User.email).like(pattern, escape="\\"),
                        User.phone.like(_like(search.strip()), escape="\\")))
    if tenant_id and tenant_id.strip():
        tid = tenant_id.strip()
        cond.append(or_(User.tenant_scope == tid, exists().where(
            Membership.user_id == User.id, Membership.tenant_id == tid)))
    if role_name and role_name.strip():
        name = role_name.strip()
        cond.append(or_(
            exists().where(UserRole.user_id == User.id, Role.id == UserRole.role_id,
                           Role.name == name),
            exists().where(Membership.user_id == User.id,
                           MembershipRole.membership_id == Membership.id,
                           Role.id == MembershipRole.role_id, Role.name == name)))
    if resolved == "tenant":
        cond.append(exists().where(Membership.user_id == User.id))
    if resolved == "platform":
        cond.append(User.id.is_(None))  # platform access is not offered (see DIFFERENCES)
    async with readonly(res.stale_readmaker) as s:
        total = int((await s.execute(
            select(func.count()).select_from(User).where(*cond))).scalar_one())
        rows = list((await s.execute(
            select(User).where(*cond).order_by(User.created_at.desc(), User.id)
            .offset((page - 1) * limit).limit(limit))).scalars().all())
        items = await _with_roles(s, rows)
    return UserPage(items=items, page=page, limit=limit, total=total, scope=resolved)


# create --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewUser:
    email: str
    phone: str | None = None
    password: str | None = None
    is_active: bool = True
    email_verified_at: datetime | None = None
    phone_verified_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    tenant_id: str | None = None
    is_platform_user: bool = False


def _taken(what: str) -> AuthError:
    return AuthError(Code.USER_ALREADY_EXISTS, f"User with this {what} already exists")


async def create_user(res: Resources, actor: Actor, new: NewUser) -> AdminUser:
    """Raises PLATFORM_ACCESS_DISABLED, TENANT_NOT_ENABLED (a ``tenantId`` while tenancy is
    off), TENANT_ID_REQUIRED (isolated mode without one), TENANT_NOT_FOUND,
    INVALID_PHONE_FORMAT, the password-policy codes, USER_ALREADY_EXISTS (409). In a tenant
    mode the user joins ``tenantId`` (its default tenant)."""
    if new.is_platform_user:
        raise _platform_disabled()
    cfg = res.settings
    mode = cfg.tenant.mode
    tenant_id = (new.tenant_id or "").strip() or None
    if mode == "off" and tenant_id is not None:
        raise AuthError(Code.TENANT_NOT_ENABLED)
    if mode == "isolated" and tenant_id is None:
        raise AuthError(Code.TENANT_ID_REQUIRED,
                        "tenantId is required when tenant mode is isolated")
    email = users.normalise_email(new.email)
    phone = users.normalise_phone(new.phone, cfg.phone_default_region) if new.phone else None
    password_hash = None
    if new.password is not None:
        password_policy.check(cfg.password, new.password, identifiers=(email, phone or ""))
        password_hash = await res.hasher.hash(new.password)
    now = res.clock.now()
    scope = tenant_id if mode == "isolated" and tenant_id else ""
    async with transaction(res.sessionmaker) as tx:
        s = tx.session
        if tenant_id is not None and await tenant_store.tenant_by_id(s, tenant_id) is None:
            raise AuthError(Code.TENANT_NOT_FOUND, "Tenant not found")
        if await users.by_email(s, email, scope):
            raise _taken("email")
        if phone and await users.by_phone(s, phone, scope):
            raise _taken("phone")
        user = User(email=email, phone=phone, password_hash=password_hash,
                    status="active" if new.is_active else "inactive",
                    email_verified_at=new.email_verified_at,
                    phone_verified_at=new.phone_verified_at, is_mfa_enabled=False,
                    must_change_password=False, meta=dict(new.metadata), tenant_scope=scope,
                    password_changed_at=now if password_hash else None,
                    created_at=now, updated_at=now)
        s.add(user)
        try:
            await s.flush()
        except IntegrityError:
            raise _taken("email") from None
        uid = user.id
        if tenant_id is not None:
            await tenant_store.join(s, uid, tenant_id, now)
        [made] = await _with_roles(s, [user])
        tx.after_commit(lambda: res.events.emit(
            Event(USER_CREATED, uid, {"email": email, "provider": "admin"})))
    await actor.record(res, "user.create", uid, email=email,
                       withPassword=password_hash is not None, tenantId=tenant_id)
    return made


def _platform_disabled() -> AuthError:
    return AuthError(Code.PLATFORM_ACCESS_DISABLED)


# detail --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UserDetail:
    admin_user: AdminUser
    trusted_devices: list[TrustedDevice]
    totp_devices: list[TotpDevice]
    mfa: policy.MfaStatus
    enabled_methods: list[str]
    has_password: bool
    sessions: list[SessionRecord]


async def _load(s: AsyncSession, user_id: str, *, for_update: bool = False) -> User:
    uid = parse_id(user_id)
    user = await users.by_id(s, uid, for_update=for_update) if uid else None
    if user is None:
        raise _user_not_found()
    return user


async def user_detail(res: Resources, user_id: str) -> UserDetail:
    now = res.clock.now()
    async with readonly(res.readmaker) as s:
        user = await _load(s, user_id)
        [admin_user] = await _with_roles(s, [user])
        trusted = list((await s.execute(
            select(TrustedDevice).where(TrustedDevice.user_id == user.id)
            .order_by(TrustedDevice.created_at.desc()).limit(50))).scalars().all())
        totp = await policy.totp_devices(s, user.id, now)
        snap = users.snapshot(user)
        enabled = await policy.verified_methods(res, s, snap, offered=False)
    mfa = await policy.status(res, snap)
    sessions = await res.store.list_for_user(user.id, now)
    return UserDetail(admin_user=admin_user, trusted_devices=trusted, totp_devices=totp,
                      mfa=mfa, enabled_methods=enabled,
                      has_password=user.password_hash is not None, sessions=sessions)


# update --------------------------------------------------------------------------------------
_UNSET: Any = object()


@dataclass(frozen=True)
class UserPatch:
    """Only the fields the request carried are set (``_UNSET`` otherwise)."""

    email: Any = _UNSET
    phone: Any = _UNSET
    is_active: Any = _UNSET
    email_verified_at: Any = _UNSET
    phone_verified_at: Any = _UNSET
    password: Any = _UNSET
    metadata: Any = _UNSET
    is_mfa_enabled: Any = _UNSET
    email_login_enabled: Any = _UNSET
    phone_login_enabled: Any = _UNSET
    tenant_ids: Any = _UNSET
    tenant_roles: Any = _UNSET
    role_ids: Any = _UNSET
    platform_role_ids: Any = _UNSET
    is_platform_user: Any = _UNSET

    @staticmethod
    def given(value: Any) -> bool:
        return value is not _UNSET

    def changed_fields(self) -> list[str]:
        return [k for k, v in vars(self).items() if v is not _UNSET]


UNSET = _UNSET


async def _role_ids_exist(s: AsyncSession, role_ids: list[str], *,
                          tenant_id: str | None = None) -> list[str]:
    """The roles, when each exists and may be held there: a platform (tenant-less) role
    anywhere, a tenant's role only in that tenant (another tenant's does not exist here)."""
    parsed = [parse_id(r) for r in role_ids]
    wanted = list(dict.fromkeys(p for p in parsed if p is not None))
    found = set((await s.execute(select(Role.id).where(
        Role.id.in_(wanted), Role.tenant_scope.in_({"", tenant_id or ""})))).scalars().all()
                ) if wanted else set()
    missing = [r for r, p in zip(role_ids, parsed, strict=True) if p is None or p not in found]
    if missing:
        raise AuthError(Code.ROLE_NOT_FOUND,
                        f"Role(s) not found: {', '.join(m[:64] for m in missing)}")
    return wanted


async def _tenant_ids_exist(s: AsyncSession, tenant_ids: list[str]) -> list[str]:
    parsed = [parse_id(t) for t in tenant_ids]
    wanted = list(dict.fromkeys(p for p in parsed if p is not None))
    found = set((await s.execute(select(Tenant.id).where(Tenant.id.in_(wanted)))
                 ).scalars().all()) if wanted else set()
    missing = [t for t, p in zip(tenant_ids, parsed, strict=True) if p is None or p not in found]
    if missing:
        raise AuthError(Code.TENANT_NOT_FOUND, "Invalid or unresolved tenant ID(s): "
                        + ", ".join(m[:64] for m in missing))
    return wanted


@dataclass(frozen=True)
class _AccessPlan:
    """The checked role and membership changes of a patch, applied after its fields."""

    tenant_ids: list[str] | None = None
    tenant_roles: list[tuple[str, list[str]]] = field(default_factory=list)
    role_ids: list[str] | None = None


async def _plan_access(res: Resources, patch: UserPatch) -> _AccessPlan:
    """Check every tenant and role a patch names before anything is written."""
    g = UserPatch.given
    mode = res.settings.tenant.mode
    if (g(patch.tenant_ids) or g(patch.tenant_roles)) and mode == "off":
        raise AuthError(Code.TENANT_NOT_ENABLED)
    if g(patch.tenant_ids) and patch.tenant_ids is not None and mode != "shared":
        raise AuthError(Code.INVALID_INPUT,
                        "tenantIds applies in shared tenant mode only: in isolated mode an "
                        "account belongs to its own tenant")
    async with readonly(res.readmaker) as s:
        tenant_ids = (await _tenant_ids_exist(s, list(patch.tenant_ids))
                      if g(patch.tenant_ids) and patch.tenant_ids is not None else None)
        tenant_roles: list[tuple[str, list[str]]] = []
        for item in (patch.tenant_roles or []) if g(patch.tenant_roles) else []:
            [tid] = await _tenant_ids_exist(s, [item["tenantId"]])
            tenant_roles.append((tid, await _role_ids_exist(
                s, list(item.get("roleIds") or []), tenant_id=tid)))
        role_ids = (await _role_ids_exist(s, list(patch.role_ids))
                    if g(patch.role_ids) and patch.role_ids is not None else None)
    return _AccessPlan(tenant_ids=tenant_ids, tenant_roles=tenant_roles, role_ids=role_ids)


async def _apply_access(res: Resources, user: User, plan: _AccessPlan) -> None:
    """Memberships and roles through the tenancy and authz services (they end or update
    the sessions concerned after their own commits)."""
    if plan.tenant_ids is not None:
        current = {m.tenant_id for m in await tenancy.list_memberships(res, user.id)}
        for tid in plan.tenant_ids:
            if tid not in current:
                await tenancy.add_member(res, user.id, tid)
        for tid in current - set(plan.tenant_ids):
            await tenancy.remove_member(res, user.id, tid)
    for tid, role_ids in plan.tenant_roles:
        if res.settings.tenant.mode == "shared":
            async with readonly(res.readmaker) as s:
                member = await tenant_store.membership(s, user.id, tid)
            if member is None:
                await tenancy.add_member(res, user.id, tid)
        await authz.set_user_roles(res, user.id, role_ids, tenant_id=tid)
    if plan.role_ids is not None:
        await authz.set_user_roles(res, user.id, plan.role_ids, tenant_id=None)


async def update_user(res: Resources, actor: Auditor, user_id: str,
                      patch: UserPatch) -> AdminUser:
    """Apply ``patch``: the user's columns in one unit of work, then its memberships and
    roles. Every tenant and role named is checked first, so a bad id changes nothing.
    Raises USER_NOT_FOUND (404), USER_ALREADY_EXISTS (409), PLATFORM_ACCESS_DISABLED,
    NOT_PLATFORM_USER, TENANT_NOT_ENABLED, TENANT_NOT_FOUND ("Invalid or unresolved tenant
    ID(s)"), ROLE_NOT_FOUND, NOT_A_MEMBER_OF_TENANT (isolated mode: another tenant's roles),
    NO_EMAIL_ADDRESS/NO_PHONE_NUMBER (login enabled without the address),
    MFA_CANNOT_ENABLE_WITHOUT_METHOD, INVALID_PHONE_FORMAT, the password-policy codes."""
    g = UserPatch.given
    if g(patch.is_platform_user):
        raise _platform_disabled()
    if g(patch.platform_role_ids):
        raise AuthError(Code.NOT_PLATFORM_USER)
    async with readonly(res.readmaker) as s:
        await _load(s, user_id)
    plan = await _plan_access(res, patch)
    cfg = res.settings
    new_hash: str | None = None
    if g(patch.password) and patch.password is not None:
        async with readonly(res.readmaker) as s:
            current = await _load(s, user_id)
        email_for_policy = patch.email if g(patch.email) and patch.email else current.email
        password_policy.check(cfg.password, patch.password,
                              identifiers=(email_for_policy or "", current.phone or ""))
        new_hash = await res.hasher.hash(patch.password)
    now = res.clock.now()
    end_sessions = False
    async with transaction(res.sessionmaker) as tx:
        s = tx.session
        user = await _load(s, user_id, for_update=True)
        values: dict[str, Any] = {}
        if g(patch.email) and patch.email is not None:
            email = users.normalise_email(patch.email)
            if email != user.email:
                other = await users.by_email(s, email, user.tenant_id)
                if other is not None and other.id != user.id:
                    raise _taken("email")
                values["email"] = email
                if not g(patch.email_verified_at):
                    values["email_verified_at"] = None  # the new address is not proven
        if g(patch.phone):
            phone = (users.normalise_phone(patch.phone, cfg.phone_default_region)
                     if patch.phone else None)
            if phone != user.phone:
                if phone is not None:
                    other = await users.by_phone(s, phone, user.tenant_id)
                    if other is not None and other.id != user.id:
                        raise _taken("phone")
                values["phone"] = phone
                if not g(patch.phone_verified_at):
                    values["phone_verified_at"] = None
        if g(patch.email_verified_at):
            values["email_verified_at"] = patch.email_verified_at
        if g(patch.phone_verified_at):
            values["phone_verified_at"] = patch.phone_verified_at
        if g(patch.email_login_enabled):
            _switch_login(values, user, "email", bool(patch.email_login_enabled), now)
        if g(patch.phone_login_enabled):
            _switch_login(values, user, "phone", bool(patch.phone_login_enabled), now)
        if g(patch.metadata):
            values["meta"] = dict(patch.metadata or {})
        if g(patch.is_active) and patch.is_active is not None:
            values["status"] = "active" if patch.is_active else "inactive"
            end_sessions = end_sessions or not patch.is_active
        if new_hash is not None:
            values.update(password_hash=new_hash, password_changed_at=now)
            end_sessions = True
        if values:
            values["updated_at"] = now
            try:
                await s.execute(update(User).where(User.id == user.id).values(**values))
                await s.flush()
            except IntegrityError:
                raise _taken("email" if "email" in values else "phone") from None
        if g(patch.is_mfa_enabled) and patch.is_mfa_enabled is not None:
            await _set_mfa(res, tx, user, bool(patch.is_mfa_enabled))
        if end_sessions:
            await revoke_all_trust(res, tx, user.id)
        uid = user.id
    if end_sessions:
        await Sessions(res).revoke_all(uid)
    await res.store.user_changed(uid)
    await _apply_access(res, user, plan)
    async with readonly(res.readmaker) as s:
        [result] = await _with_roles(s, [await _load(s, uid)])
    await actor.record(res, "user.update", uid, fields=patch.changed_fields(),
                       sessionsEnded=end_sessions)
    return result


def _switch_login(values: dict[str, Any], user: User, channel: Literal["email", "phone"],
                  enabled: bool, now: datetime) -> None:
    """``emailLoginEnabled``/``phoneLoginEnabled``: on marks the (new) address verified, off
    clears the verification (authgate has no per-channel identity rows to remove)."""
    column = f"{channel}_verified_at"
    if not enabled:
        values[column] = None
        return
    if not values.get(channel, getattr(user, channel)):
        raise AuthError(Code.NO_EMAIL_ADDRESS if channel == "email" else Code.NO_PHONE_NUMBER)
    current = values[column] if column in values else getattr(user, column)
    values[column] = current or now


async def _set_mfa(res: Resources, tx: Any, user: User, enabled: bool) -> None:
    """Turning MFA on needs a method the user can use (else the account could never finish
    a login); turning it off revokes the trusted devices, as the user's own toggle does."""
    if enabled == user.is_mfa_enabled:
        return
    if enabled:
        snap = users.snapshot(user)
        if not await policy.verified_methods(res, tx.session, snap, offered=False):
            raise AuthError(Code.MFA_CANNOT_ENABLE_WITHOUT_METHOD)
    await tx.session.execute(update(User).where(User.id == user.id).values(
        is_mfa_enabled=enabled, updated_at=res.clock.now()))
    if not enabled:
        await revoke_all_trust(res, tx, user.id)


# delete --------------------------------------------------------------------------------------
async def delete_user(res: Resources, actor: Actor, user_id: str) -> None:
    """Remove the user (its rows go with it); its sessions end after the commit.

    ``user.deleted`` is emitted as when the owner deletes the account (the owner's notice,
    webhooks, the subject's audit row), ``initiatedBy: admin``; the admin's own action row
    is written beside it."""
    async with transaction(res.sessionmaker) as tx:
        user = await _load(tx.session, user_id, for_update=True)
        uid, email, phone = user.id, user.email, user.phone
        await tx.session.execute(delete(User).where(User.id == uid))
    await Sessions(res).revoke_all(uid)
    await res.store.user_changed(uid)
    await actor.record(res, "user.delete", uid, email=email)
    await res.events.emit(Event(USER_DELETED, uid, {
        "initiatedBy": "admin", "email": email, "phone": phone}))


# sessions and devices ------------------------------------------------------------------------
async def _existing_id(res: Resources, user_id: str) -> str:
    async with readonly(res.readmaker) as s:
        return (await _load(s, user_id)).id


async def list_sessions(res: Resources, user_id: str) -> list[SessionRecord]:
    """The user's live sessions, most recently active first."""
    uid = await _existing_id(res, user_id)
    found = await res.store.list_for_user(uid, res.clock.now())
    return sorted(found, key=lambda r: r.last_active, reverse=True)


async def revoke_session(res: Resources, actor: Actor, user_id: str, session_id: str) -> None:
    """End one of the user's sessions; another user's session id is not found here."""
    uid = await _existing_id(res, user_id)
    sid = parse_id(session_id)
    live = {r.id for r in await res.store.list_for_user(uid, res.clock.now())}
    if sid is None or sid not in live or not await Sessions(res).revoke(sid):
        raise AuthError(Code.SESSION_NOT_FOUND, "Session not found for this user")
    await actor.record(res, "user.session.revoke", uid, sessionId=sid)


async def revoke_sessions(res: Resources, actor: Auditor, user_id: str) -> int:
    uid = await _existing_id(res, user_id)
    n = await Sessions(res).revoke_all(uid)
    await actor.record(res, "user.sessions.revoke_all", uid, count=n)
    return n


async def delete_totp_device(res: Resources, actor: Actor, user_id: str,
                             device_id: str) -> None:
    """Remove one of the user's authenticators; with no method left the user's MFA flag
    goes off (and its trusted devices are revoked) rather than locking the account out."""
    async with transaction(res.sessionmaker) as tx:
        user = await _load(tx.session, user_id)
        try:
            await remove_device(res, tx, users.snapshot(user), device_id)
        except AuthError as exc:
            if exc.code is Code.MFA_DEVICE_NOT_FOUND:
                raise AuthError(Code.MFA_DEVICE_NOT_FOUND, "TOTP device not found") from None
            raise
        uid = user.id
    await actor.record(res, "user.totp_device.delete", uid, deviceId=parse_id(device_id))
