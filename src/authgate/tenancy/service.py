"""Managing tenants and memberships: the functions the admin console, the importer and host
apps call. Each owns its unit of work and answers plain records (``TenantView``,
``MembershipView``), never ORM objects.

Security rules kept here, once: a tenant that is deactivated or deleted, and a membership
that is removed or deactivated, end the sessions open in that tenant as soon as the change
commits (whatever ``authz.role_changes`` says: losing a tenant is not a role edit). In
isolated mode an account belongs to its own tenant only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from authgate.errors import AuthError, Code
from authgate.identity import store as users
from authgate.identity.models import Role, Tenant, User
from authgate.resources import Resources
from authgate.tenancy import store
from authgate.tenancy.models import MEMBERSHIP_STATUSES, Membership
from authgate.tx import readonly, transaction

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,253}[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class TenantView:
    id: str
    name: str
    slug: str | None
    description: str | None
    metadata: dict[str, Any]
    is_active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MembershipView:
    id: str
    user_id: str
    tenant_id: str
    is_default: bool
    status: str
    metadata: dict[str, Any]
    created_at: datetime


def tenant_view(t: Tenant) -> TenantView:
    return TenantView(id=t.id, name=t.name, slug=t.slug, description=t.description,
                      metadata=dict(t.meta or {}), is_active=t.is_active,
                      created_at=t.created_at, updated_at=t.updated_at)


def membership_view(m: Membership) -> MembershipView:
    return MembershipView(id=m.id, user_id=m.user_id, tenant_id=m.tenant_id,
                          is_default=m.is_default, status=m.status, metadata=dict(m.meta or {}),
                          created_at=m.created_at)


def check_slug(slug: str) -> str:
    """INVALID_SLUG_FORMAT unless lowercase letters, digits and inner hyphens."""
    if not _SLUG.match(slug):
        raise AuthError(Code.INVALID_SLUG_FORMAT)
    return slug


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 255:
        raise AuthError(Code.INVALID_INPUT, "name must be 1-255 characters")
    return name


# tenants ---------------------------------------------------------------------------------
async def create_tenant(res: Resources, *, name: str, slug: str | None = None,
                        description: str | None = None, metadata: dict[str, Any] | None = None,
                        is_active: bool = True, tenant_id: str | None = None) -> TenantView:
    """Raises INVALID_INPUT (name), INVALID_SLUG_FORMAT, TENANT_ALREADY_EXISTS (slug or
    ``tenant_id`` taken; the importer passes the source id)."""
    name = _check_name(name)
    if slug is not None:
        check_slug(slug)
    now = res.clock.now()
    try:
        async with transaction(res.sessionmaker) as tx:
            t = Tenant(name=name, slug=slug, description=description, meta=dict(metadata or {}),
                       is_active=is_active, created_at=now, updated_at=now)
            if tenant_id is not None:
                t.id = tenant_id
            tx.session.add(t)
            await tx.session.flush()
            view = tenant_view(t)
    except IntegrityError:
        raise AuthError(Code.TENANT_ALREADY_EXISTS) from None
    return view


async def get_tenant(res: Resources, tenant_id: str) -> TenantView:
    async with readonly(res.readmaker) as s:
        t = await store.tenant_by_id(s, tenant_id)
    if t is None:
        raise AuthError(Code.TENANT_NOT_FOUND)
    return tenant_view(t)


async def find_tenant_by_slug(res: Resources, slug: str) -> TenantView | None:
    async with readonly(res.readmaker) as s:
        t = await store.tenant_by_slug(s, slug)
    return tenant_view(t) if t is not None else None


async def list_tenants(res: Resources, *, search: str | None = None, offset: int = 0,
                       limit: int = 100) -> tuple[list[TenantView], int]:
    """A page of tenants (by name) and the total matching ``search`` (name or slug)."""
    stmt = select(Tenant)
    if search:
        like = f"%{search.lower()}%"
        stmt = stmt.where(or_(func.lower(Tenant.name).like(like),
                              func.lower(Tenant.slug).like(like)))
    async with readonly(res.readmaker) as s:
        total = (await s.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
        rows = (await s.execute(stmt.order_by(Tenant.name, Tenant.id)
                                .offset(max(0, offset)).limit(max(1, min(limit, 1000))))
                ).scalars().all()
    return [tenant_view(t) for t in rows], int(total)


_UNSET: Any = object()


async def update_tenant(res: Resources, tenant_id: str, *, name: str | None = None,
                        slug: str | None = _UNSET, description: str | None = _UNSET,
                        metadata: dict[str, Any] | None = None,
                        is_active: bool | None = None) -> TenantView:
    """Change what is given and nothing else (upstream's PATCH reset ``metadata``: W17).
    Deactivating ends the sessions open in the tenant. Raises TENANT_NOT_FOUND,
    INVALID_SLUG_FORMAT, TENANT_ALREADY_EXISTS."""
    if slug is not _UNSET and slug is not None:
        check_slug(slug)
    now = res.clock.now()
    try:
        async with transaction(res.sessionmaker) as tx:
            t = await store.tenant_by_id(tx.session, tenant_id)
            if t is None:
                raise AuthError(Code.TENANT_NOT_FOUND)
            was_active = t.is_active
            if name is not None:
                t.name = _check_name(name)
            if slug is not _UNSET:
                t.slug = slug
            if description is not _UNSET:
                t.description = description
            if metadata is not None:
                t.meta = dict(metadata)
            if is_active is not None:
                t.is_active = is_active
            t.updated_at = now
            await tx.session.flush()
            view = tenant_view(t)
            members = (await store.member_ids(tx.session, tenant_id)
                       if was_active and not t.is_active else [])
    except IntegrityError:
        raise AuthError(Code.TENANT_ALREADY_EXISTS) from None
    await end_tenant_sessions(res, members, tenant_id)
    return view


async def delete_tenant(res: Resources, tenant_id: str) -> None:
    """Delete the tenant, its memberships and its roles (cascade); its sessions end. In
    isolated mode its accounts are deleted too. Raises TENANT_NOT_FOUND."""
    async with transaction(res.sessionmaker) as tx:
        t = await store.tenant_by_id(tx.session, tenant_id)
        if t is None:
            raise AuthError(Code.TENANT_NOT_FOUND)
        members = await store.member_ids(tx.session, tenant_id)
        await tx.session.execute(delete(Role).where(Role.tenant_scope == tenant_id))
        await tx.session.execute(delete(User).where(User.tenant_scope == tenant_id))
        await tx.session.delete(t)
    await end_tenant_sessions(res, members, tenant_id)


# memberships ------------------------------------------------------------------------------
async def add_member(res: Resources, user_id: str, tenant_id: str, *,
                     is_default: bool | None = None, status: str = "active",
                     metadata: dict[str, Any] | None = None) -> MembershipView:
    """Make ``user_id`` a member of ``tenant_id`` (or update the existing membership:
    idempotent). ``is_default`` None: default only when it is the user's first membership.
    Raises USER_NOT_FOUND, TENANT_NOT_FOUND, INVALID_INPUT (status), ACCESS_DENIED (isolated
    mode: an account joins no tenant but its own)."""
    if status not in MEMBERSHIP_STATUSES:
        raise AuthError(Code.INVALID_INPUT, "status must be one of: active, inactive")
    now = res.clock.now()
    async with transaction(res.sessionmaker) as tx:
        s = tx.session
        user = await users.by_id(s, user_id)
        if user is None:
            raise AuthError(Code.USER_NOT_FOUND)
        if await store.tenant_by_id(s, tenant_id) is None:
            raise AuthError(Code.TENANT_NOT_FOUND)
        if res.settings.tenant.mode == "isolated" and user.tenant_scope != tenant_id:
            raise AuthError(Code.ACCESS_DENIED,
                            "In isolated mode an account belongs to its own tenant only")
        m = await store.membership(s, user_id, tenant_id, for_update=True)
        deactivated = m is not None and m.status == "active" and status != "active"
        if m is None:
            first = not await store.memberships_of(s, user_id)
            m = Membership(user_id=user_id, tenant_id=tenant_id,
                           is_default=first if is_default is None else is_default,
                           status=status, meta=dict(metadata or {}),
                           created_at=now, updated_at=now)
            s.add(m)
        else:
            m.status = status
            if metadata is not None:
                m.meta = dict(metadata)
            if is_default is not None:
                m.is_default = is_default
            m.updated_at = now
        if m.is_default:
            await s.execute(update(Membership).where(
                Membership.user_id == user_id, Membership.tenant_id != tenant_id,
                Membership.is_default.is_(True)).values(is_default=False, updated_at=now))
        await s.flush()
        view = membership_view(m)
    if deactivated:
        await end_tenant_sessions(res, [user_id], tenant_id)
    return view


async def remove_member(res: Resources, user_id: str, tenant_id: str) -> bool:
    """Remove the membership (and the roles held through it); the user's sessions in that
    tenant end. False when there was none."""
    async with transaction(res.sessionmaker) as tx:
        m = await store.membership(tx.session, user_id, tenant_id, for_update=True)
        if m is not None:
            await tx.session.delete(m)
    if m is None:
        return False
    await end_tenant_sessions(res, [user_id], tenant_id)
    return True


async def set_default_tenant(res: Resources, user_id: str, tenant_id: str) -> MembershipView:
    """Raises NOT_A_MEMBER_OF_TENANT when the user has no membership there."""
    async with readonly(res.readmaker) as s:
        m = await store.membership(s, user_id, tenant_id)
    if m is None:
        raise AuthError(Code.NOT_A_MEMBER_OF_TENANT)
    return await add_member(res, user_id, tenant_id, is_default=True, status=m.status)


async def list_memberships(res: Resources, user_id: str) -> list[MembershipView]:
    async with readonly(res.readmaker) as s:
        return [membership_view(m) for m in await store.memberships_of(s, user_id)]


async def list_members(res: Resources, tenant_id: str) -> list[MembershipView]:
    async with readonly(res.readmaker) as s:
        rows = (await s.execute(select(Membership).where(Membership.tenant_id == tenant_id)
                                .order_by(Membership.created_at, Membership.id))).scalars().all()
    return [membership_view(m) for m in rows]


async def end_tenant_sessions(res: Resources, user_ids: list[str], tenant_id: str) -> int:
    """End the live sessions of ``user_ids`` that are open in ``tenant_id`` (after the
    change committed: never with a writer transaction open)."""
    now = res.clock.now()
    ended = 0
    for uid in dict.fromkeys(user_ids):
        for rec in await res.store.list_for_user(uid, now):
            if rec.tenant_id == tenant_id and await res.store.delete(rec.id):
                ended += 1
    return ended
