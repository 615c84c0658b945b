"""Roles as the admin API shows them: the row, its permission names and its tenant.

Read in two statements for any number of roles (no query per role), for the role routes
and for the users' access lists alike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from authgate.identity.models import Permission, Role, RolePermission, Tenant


@dataclass(frozen=True)
class RoleView:
    role: Role
    permissions: list[str]
    """Names, sorted."""
    tenant: Tenant | None


async def views(s: AsyncSession, roles: Iterable[Role]) -> list[RoleView]:
    """The views of ``roles``, in the given order."""
    roles = list(roles)
    if not roles:
        return []
    ids = [r.id for r in roles]
    perms: dict[str, list[str]] = defaultdict(list)
    for role_id, name in (await s.execute(
            select(RolePermission.role_id, Permission.name)
            .join(Permission, Permission.id == RolePermission.permission_id)
            .where(RolePermission.role_id.in_(ids)))).all():
        perms[role_id].append(name)
    tenant_ids = {r.tenant_scope for r in roles if r.tenant_scope}
    tenants: dict[str, Tenant] = {}
    if tenant_ids:
        tenants = {t.id: t for t in (await s.execute(
            select(Tenant).where(Tenant.id.in_(tenant_ids)))).scalars().all()}
    return [RoleView(role=r, permissions=sorted(perms.get(r.id, [])),
                     tenant=tenants.get(r.tenant_scope)) for r in roles]
