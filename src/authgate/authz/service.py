"""Managing roles, permissions and who holds them: the functions the admin console, the
importer and host apps call. Each owns its unit of work and answers plain records.

Scopes: a role belongs to one tenant (``tenant_id``) or to none (a platform role, usable in
every tenant and outside tenants). A user holds roles *in* a tenant through their membership
there (``assign_role(..., tenant_id=T)``), or outside any tenant (``tenant_id=None``: tenancy
off, or the platform). A tenant's role can never be held in another tenant.

After a change commits, ``authz.role_changes`` decides when live sessions see it:
``immediate`` rewrites the affected sessions' snapshot now (``push_grants``), ``refresh``
leaves it to their next refresh or tenant switch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from authgate.authz.store import Grants, grants, in_session
from authgate.errors import AuthError, Code
from authgate.identity import store as users
from authgate.identity.models import Permission, Role, RolePermission, UserRole
from authgate.resources import Resources
from authgate.tenancy import store as tenants
from authgate.tenancy.models import Membership, MembershipRole
from authgate.tx import readonly, transaction


@dataclass(frozen=True, slots=True)
class PermissionView:
    id: str
    name: str
    guard: str
    description: str | None
    category: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RoleView:
    id: str
    name: str
    guard: str
    tenant_id: str | None
    is_system: bool
    is_active: bool
    permissions: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


def _permission_view(p: Permission) -> PermissionView:
    return PermissionView(id=p.id, name=p.name, guard=p.guard, description=p.description,
                          category=p.category, created_at=p.created_at)


async def _role_view(s: AsyncSession, r: Role) -> RoleView:
    names = (await s.execute(
        select(Permission.name).join(RolePermission, RolePermission.permission_id == Permission.id)
        .where(RolePermission.role_id == r.id).order_by(Permission.name))).scalars().all()
    return RoleView(id=r.id, name=r.name, guard=r.guard, tenant_id=r.tenant_scope or None,
                    is_system=r.is_system, is_active=r.is_active, permissions=tuple(names),
                    created_at=r.created_at, updated_at=r.updated_at)


def _check_guard(res: Resources, guard: str) -> str:
    if guard not in res.settings.authz.role_guards:
        raise AuthError(Code.GUARD_NOT_ALLOWED,
                        f"Guard '{guard[:64]}' is not allowed. Allowed guards: "
                        + ", ".join(res.settings.authz.role_guards))
    return guard


def _check_name(name: str, what: str) -> str:
    name = name.strip()
    if not name or len(name) > 255:
        raise AuthError(Code.INVALID_INPUT, f"{what} name must be 1-255 characters")
    return name


# permissions -----------------------------------------------------------------------------
async def create_permission(res: Resources, *, name: str, guard: str = "web",
                            description: str | None = None, category: str | None = None,
                            permission_id: str | None = None) -> PermissionView:
    """Raises INVALID_INPUT, GUARD_NOT_ALLOWED, PERMISSION_ALREADY_EXISTS (name+guard, or
    ``permission_id`` taken: an importer keeps the source ids)."""
    name = _check_name(name, "permission")
    _check_guard(res, guard)
    now = res.clock.now()
    try:
        async with transaction(res.sessionmaker) as tx:
            p = Permission(name=name, guard=guard, description=description, category=category,
                           created_at=now, updated_at=now)
            if permission_id is not None:
                p.id = permission_id
            tx.session.add(p)
            await tx.session.flush()
            view = _permission_view(p)
    except IntegrityError:
        raise AuthError(Code.PERMISSION_ALREADY_EXISTS) from None
    return view


async def ensure_permissions(res: Resources, names: Iterable[str], *,
                             guard: str = "web") -> list[PermissionView]:
    """The permissions named (created when missing): idempotent, for seeding and imports."""
    _check_guard(res, guard)
    out: list[PermissionView] = []
    for name in dict.fromkeys(names):
        try:
            out.append(await create_permission(res, name=name, guard=guard))
        except AuthError as err:
            if err.code is not Code.PERMISSION_ALREADY_EXISTS:
                raise
            async with readonly(res.readmaker) as s:
                p = (await s.execute(select(Permission).where(
                    Permission.name == name.strip(), Permission.guard == guard))).scalar_one()
            out.append(_permission_view(p))
    return out


async def list_permissions(res: Resources, *, guard: str | None = None) -> list[PermissionView]:
    stmt = select(Permission).order_by(Permission.name, Permission.guard)
    if guard is not None:
        stmt = stmt.where(Permission.guard == guard)
    async with readonly(res.readmaker) as s:
        return [_permission_view(p) for p in (await s.execute(stmt)).scalars().all()]


async def delete_permission(res: Resources, permission_id: str) -> None:
    """Raises PERMISSION_NOT_FOUND. Roles lose it; their holders' sessions follow."""
    async with transaction(res.sessionmaker) as tx:
        p = await tx.session.get(Permission, permission_id)
        if p is None:
            raise AuthError(Code.PERMISSION_NOT_FOUND)
        role_ids = list((await tx.session.execute(select(RolePermission.role_id).where(
            RolePermission.permission_id == permission_id))).scalars().all())
        affected = await _holders(tx.session, role_ids)
        await tx.session.delete(p)
    await push_grants(res, affected)


async def permission_changed(res: Resources, permission_id: str) -> None:
    """After a permission was renamed (committed): the holders' sessions follow."""
    async with readonly(res.readmaker) as s:
        role_ids = list((await s.execute(select(RolePermission.role_id).where(
            RolePermission.permission_id == permission_id))).scalars().all())
        affected = await _holders(s, role_ids)
    await push_grants(res, affected)


# roles -----------------------------------------------------------------------------------
async def _permissions_by_name(s: AsyncSession, names: Sequence[str],
                               guard: str) -> list[Permission]:
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    found = (await s.execute(select(Permission).where(
        Permission.name.in_(wanted), Permission.guard == guard))).scalars().all()
    missing = sorted(set(wanted) - {p.name for p in found})
    if missing:
        raise AuthError(Code.PERMISSION_NOT_FOUND,
                        f"Permission not found: {', '.join(m[:64] for m in missing)}")
    return list(found)


async def create_role(res: Resources, *, name: str, guard: str = "web",
                      tenant_id: str | None = None, permissions: Sequence[str] = (),
                      is_system: bool = False, is_active: bool = True,
                      role_id: str | None = None) -> RoleView:
    """A role of ``tenant_id`` (or a platform role), carrying the named permissions (same
    guard). Raises INVALID_INPUT, GUARD_NOT_ALLOWED, TENANT_NOT_FOUND,
    PERMISSION_NOT_FOUND, ROLE_ALREADY_EXISTS (name+guard+tenant, or ``role_id`` taken: an
    importer keeps the source ids)."""
    name = _check_name(name, "role")
    _check_guard(res, guard)
    now = res.clock.now()
    try:
        async with transaction(res.sessionmaker) as tx:
            s = tx.session
            if tenant_id is not None and await tenants.tenant_by_id(s, tenant_id) is None:
                raise AuthError(Code.TENANT_NOT_FOUND)
            perms = await _permissions_by_name(s, permissions, guard)
            r = Role(name=name, guard=guard, tenant_scope=tenant_id or "", is_system=is_system,
                     is_active=is_active, created_at=now, updated_at=now)
            if role_id is not None:
                r.id = role_id
            s.add(r)
            await s.flush()
            for p in perms:
                s.add(RolePermission(role_id=r.id, permission_id=p.id))
            await s.flush()
            view = await _role_view(s, r)
    except IntegrityError:
        raise AuthError(Code.ROLE_ALREADY_EXISTS) from None
    return view


async def get_role(res: Resources, role_id: str) -> RoleView:
    async with readonly(res.readmaker) as s:
        r = await s.get(Role, role_id)
        if r is None:
            raise AuthError(Code.ROLE_NOT_FOUND)
        return await _role_view(s, r)


_ANY: str = "*"


async def list_roles(res: Resources, *, tenant_id: str | None = _ANY,
                     guard: str | None = None) -> list[RoleView]:
    """Roles of one tenant (``tenant_id``), the platform roles (``None``), or all (default)."""
    stmt = select(Role).order_by(Role.name, Role.guard, Role.id)
    if tenant_id != _ANY:
        stmt = stmt.where(Role.tenant_scope == (tenant_id or ""))
    if guard is not None:
        stmt = stmt.where(Role.guard == guard)
    async with readonly(res.readmaker) as s:
        return [await _role_view(s, r) for r in (await s.execute(stmt)).scalars().all()]


async def update_role(res: Resources, role_id: str, *, name: str | None = None,
                      is_active: bool | None = None,
                      permissions: Sequence[str] | None = None) -> RoleView:
    """Rename, (de)activate, or replace the permission set (``permissions``, names of the
    role's guard). Holders' sessions follow. Raises ROLE_NOT_FOUND, PERMISSION_NOT_FOUND,
    ROLE_ALREADY_EXISTS."""
    now = res.clock.now()
    try:
        async with transaction(res.sessionmaker) as tx:
            s = tx.session
            r = await s.get(Role, role_id, with_for_update=True)
            if r is None:
                raise AuthError(Code.ROLE_NOT_FOUND)
            if name is not None:
                r.name = _check_name(name, "role")
            if is_active is not None:
                r.is_active = is_active
            if permissions is not None:
                perms = await _permissions_by_name(s, permissions, r.guard)
                await s.execute(delete(RolePermission).where(RolePermission.role_id == r.id))
                for p in perms:
                    s.add(RolePermission(role_id=r.id, permission_id=p.id))
            r.updated_at = now
            await s.flush()
            view = await _role_view(s, r)
            affected = await _holders(s, [r.id])
    except IntegrityError:
        raise AuthError(Code.ROLE_ALREADY_EXISTS) from None
    await push_grants(res, affected)
    return view


async def delete_role(res: Resources, role_id: str) -> None:
    """Raises ROLE_NOT_FOUND. Holders lose it; their sessions follow."""
    async with transaction(res.sessionmaker) as tx:
        r = await tx.session.get(Role, role_id)
        if r is None:
            raise AuthError(Code.ROLE_NOT_FOUND)
        affected = await _holders(tx.session, [role_id])
        await tx.session.delete(r)
    await push_grants(res, affected)


# holding roles ---------------------------------------------------------------------------
async def _assignable(s: AsyncSession, role_id: str, tenant_id: str | None) -> Role:
    """The role, if it may be held in ``tenant_id``: a platform role anywhere, a tenant's
    role only in that tenant. Another tenant's role answers ROLE_NOT_FOUND (it does not
    exist from here)."""
    r = await s.get(Role, role_id)
    if r is None or (r.tenant_scope and r.tenant_scope != (tenant_id or "")):
        raise AuthError(Code.ROLE_NOT_FOUND)
    return r


async def _membership_for(s: AsyncSession, user_id: str, tenant_id: str) -> Membership:
    m = await tenants.membership(s, user_id, tenant_id)
    if m is None:
        raise AuthError(Code.NOT_A_MEMBER_OF_TENANT)
    return m


async def assign_role(res: Resources, user_id: str, role_id: str, *,
                      tenant_id: str | None = None) -> None:
    """Give ``user_id`` the role in ``tenant_id`` (through their membership there) or
    outside any tenant. Idempotent. Raises USER_NOT_FOUND, ROLE_NOT_FOUND,
    NOT_A_MEMBER_OF_TENANT."""
    now = res.clock.now()
    async with transaction(res.sessionmaker) as tx:
        s = tx.session
        if await users.by_id(s, user_id) is None:
            raise AuthError(Code.USER_NOT_FOUND)
        await _assignable(s, role_id, tenant_id)
        if tenant_id is None:
            if await s.get(UserRole, (user_id, role_id)) is None:
                s.add(UserRole(user_id=user_id, role_id=role_id, created_at=now))
        else:
            m = await _membership_for(s, user_id, tenant_id)
            if await s.get(MembershipRole, (m.id, role_id)) is None:
                s.add(MembershipRole(membership_id=m.id, role_id=role_id, created_at=now))
        try:
            await s.flush()
        except IntegrityError:  # a concurrent identical assignment: same outcome
            pass
    await push_grants(res, [user_id])


async def unassign_role(res: Resources, user_id: str, role_id: str, *,
                        tenant_id: str | None = None) -> bool:
    """Take the role away (in ``tenant_id``, or outside tenants). False when not held."""
    async with transaction(res.sessionmaker) as tx:
        s = tx.session
        if tenant_id is None:
            done = await s.execute(delete(UserRole).where(
                UserRole.user_id == user_id, UserRole.role_id == role_id))
        else:
            m = await tenants.membership(s, user_id, tenant_id)
            if m is None:
                return False
            done = await s.execute(delete(MembershipRole).where(
                MembershipRole.membership_id == m.id, MembershipRole.role_id == role_id))
    removed = bool(done.rowcount)  # type: ignore[attr-defined]
    if removed:
        await push_grants(res, [user_id])
    return removed


async def set_user_roles(res: Resources, user_id: str, role_ids: Sequence[str], *,
                         tenant_id: str | None = None) -> None:
    """Replace the roles ``user_id`` holds in ``tenant_id`` (or outside tenants) with
    ``role_ids``, in one unit of work. Raises as ``assign_role``."""
    now = res.clock.now()
    async with transaction(res.sessionmaker) as tx:
        s = tx.session
        if await users.by_id(s, user_id) is None:
            raise AuthError(Code.USER_NOT_FOUND)
        wanted = list(dict.fromkeys(role_ids))
        for rid in wanted:
            await _assignable(s, rid, tenant_id)
        if tenant_id is None:
            await s.execute(delete(UserRole).where(UserRole.user_id == user_id))
            for rid in wanted:
                s.add(UserRole(user_id=user_id, role_id=rid, created_at=now))
        else:
            m = await _membership_for(s, user_id, tenant_id)
            await s.execute(delete(MembershipRole).where(MembershipRole.membership_id == m.id))
            for rid in wanted:
                s.add(MembershipRole(membership_id=m.id, role_id=rid, created_at=now))
        await s.flush()
    await push_grants(res, [user_id])


async def user_roles(res: Resources, user_id: str, *,
                     tenant_id: str | None = None) -> list[RoleView]:
    """The roles ``user_id`` holds in ``tenant_id`` (or outside tenants), active or not."""
    async with readonly(res.readmaker) as s:
        if tenant_id is None:
            stmt = (select(Role).join(UserRole, UserRole.role_id == Role.id)
                    .where(UserRole.user_id == user_id))
        else:
            stmt = (select(Role).join(MembershipRole, MembershipRole.role_id == Role.id)
                    .join(Membership, Membership.id == MembershipRole.membership_id)
                    .where(Membership.user_id == user_id, Membership.tenant_id == tenant_id))
        rows = (await s.execute(stmt.order_by(Role.name, Role.id))).scalars().all()
        return [await _role_view(s, r) for r in rows]


async def user_grants(res: Resources, user_id: str,
                      tenant_id: str | None = None) -> tuple[list[str], list[str]]:
    """(role names, permission names) ``user_id`` holds in ``tenant_id`` right now (empty
    when not an active member there)."""
    async with readonly(res.readmaker) as s:
        g = await grants(in_session(s), user_id, tenant_id)
    if g is None:
        return [], []
    return [str(r["name"]) for r in g.roles], g.permissions


# reaching live sessions ------------------------------------------------------------------
async def _holders(s: AsyncSession, role_ids: Sequence[str]) -> list[str]:
    """Every user holding one of ``role_ids``, in or outside tenants."""
    if not role_ids:
        return []
    direct = (await s.execute(select(UserRole.user_id).where(
        UserRole.role_id.in_(role_ids)))).scalars().all()
    through = (await s.execute(
        select(Membership.user_id).join(MembershipRole,
                                        MembershipRole.membership_id == Membership.id)
        .where(MembershipRole.role_id.in_(role_ids)))).scalars().all()
    return list(dict.fromkeys([*direct, *through]))


async def push_grants(res: Resources, user_ids: Sequence[str]) -> None:
    """Under ``authz.role_changes = "immediate"``: rebuild the roles/permissions snapshot of
    every live session of ``user_ids`` (each for its own tenant) now. Call it after the
    change committed. A session whose tenant membership is gone is ended."""
    if res.settings.authz.role_changes != "immediate" or not user_ids:
        return
    now = res.clock.now()
    for uid in dict.fromkeys(user_ids):
        live = await res.store.list_for_user(uid, now)
        if not live:
            continue
        by_tenant: dict[str | None, Grants | None] = {}
        async with readonly(res.readmaker) as s:
            for tid in {rec.tenant_id for rec in live}:
                by_tenant[tid] = await grants(in_session(s), uid, tid)
        for rec in live:
            g = by_tenant[rec.tenant_id]
            if g is None:
                await res.store.delete(rec.id)
                continue
            await res.store.update(rec.id, {"data": {**rec.data, **g.snapshot()}})
