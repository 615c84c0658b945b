"""Tenant and membership queries. They take the unit of work's session; they flush, never
commit."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import bindparam, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from authgate.identity.models import Tenant
from authgate.tenancy.models import Membership

_UUIDISH = re.compile(r"^[0-9A-Za-z-]{1,36}$")


async def tenant_by_id(s: AsyncSession, tenant_id: str) -> Tenant | None:
    if not _UUIDISH.match(tenant_id):  # an id we never issue: no query, no driver error
        return None
    return (await s.execute(select(Tenant).where(Tenant.id == tenant_id))).scalar_one_or_none()


async def tenant_by_slug(s: AsyncSession, slug: str) -> Tenant | None:
    if not slug or len(slug) > 255:
        return None
    return (await s.execute(select(Tenant).where(Tenant.slug == slug))).scalar_one_or_none()


async def membership(s: AsyncSession, user_id: str, tenant_id: str, *,
                     for_update: bool = False) -> Membership | None:
    stmt = select(Membership).where(Membership.user_id == user_id,
                                    Membership.tenant_id == tenant_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await s.execute(stmt)).scalar_one_or_none()


ACTIVE_MEMBERSHIP = (select(Membership.id).join(Tenant, Tenant.id == Membership.tenant_id)
                     .where(Membership.user_id == bindparam("uid"),
                            Membership.tenant_id == bindparam("tid"),
                            Membership.status == literal_column("'active'"),
                            Tenant.is_active.is_(True)))
"""The id of the user's (``uid``) active membership of the active tenant ``tid``, built once
(``authz.store.grants`` runs it on the hot path too)."""


async def active_membership(s: AsyncSession, user_id: str, tenant_id: str) -> Membership | None:
    """The user's active membership of an active tenant, or None."""
    stmt = (select(Membership).join(Tenant, Tenant.id == Membership.tenant_id)
            .where(Membership.user_id == user_id, Membership.tenant_id == tenant_id,
                   Membership.status == "active", Tenant.is_active.is_(True)))
    return (await s.execute(stmt)).scalar_one_or_none()


async def default_membership(s: AsyncSession, user_id: str) -> Membership | None:
    """The active default membership of an active tenant, or None."""
    stmt = (select(Membership).join(Tenant, Tenant.id == Membership.tenant_id)
            .where(Membership.user_id == user_id, Membership.is_default.is_(True),
                   Membership.status == "active", Tenant.is_active.is_(True)))
    return (await s.execute(stmt)).scalars().first()


async def memberships_of(s: AsyncSession, user_id: str) -> list[Membership]:
    stmt = (select(Membership).where(Membership.user_id == user_id)
            .order_by(Membership.created_at, Membership.id))
    return list((await s.execute(stmt)).scalars().all())


async def member_ids(s: AsyncSession, tenant_id: str) -> list[str]:
    stmt = select(Membership.user_id).where(Membership.tenant_id == tenant_id)
    return list((await s.execute(stmt)).scalars().all())


async def join(s: AsyncSession, user_id: str, tenant_id: str, now: datetime, *,
               is_default: bool = True) -> Membership:
    """Add an active membership inside the caller's unit of work (a new account's first:
    its default tenant)."""
    m = Membership(user_id=user_id, tenant_id=tenant_id, is_default=is_default,
                   status="active", meta={}, created_at=now, updated_at=now)
    s.add(m)
    await s.flush()
    return m
