"""What a user holds: the roles (and their permissions) of one tenant, or of no tenant.

One function, ``grants``, used wherever a session's snapshot is built (login, refresh,
tenant switch, an immediate role change), so the rule is written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from authgate.identity.models import Permission, Role, RolePermission, UserRole
from authgate.tenancy import store as tenants
from authgate.tenancy.models import MembershipRole


@dataclass(frozen=True, slots=True)
class Grants:
    roles: list[dict[str, Any]] = field(default_factory=list)
    """``{id, name, guard, tenantId, isSystem, isActive}`` (the token's ``roles`` claim)."""
    permissions: list[str] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        """The keys a session's ``data`` carries."""
        return {"roles": self.roles, "permissions": self.permissions}


def role_claim(r: Role) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "guard": r.guard, "tenantId": r.tenant_scope or None,
            "isSystem": r.is_system, "isActive": r.is_active}


async def grants(s: AsyncSession, user_id: str, tenant_id: str | None) -> Grants | None:
    """The active roles ``user_id`` holds in ``tenant_id`` (through an active membership of
    an active tenant) or, for ``None``, outside any tenant; and their permissions. None when
    ``tenant_id`` is given and the user is not (or no longer) an active member there."""
    if tenant_id is None:
        stmt = (select(Role).join(UserRole, UserRole.role_id == Role.id)
                .where(UserRole.user_id == user_id, Role.is_active.is_(True)))
    else:
        member = await tenants.active_membership(s, user_id, tenant_id)
        if member is None:
            return None
        stmt = (select(Role).join(MembershipRole, MembershipRole.role_id == Role.id)
                .where(MembershipRole.membership_id == member.id, Role.is_active.is_(True),
                       Role.tenant_scope.in_(("", tenant_id))))
    rows = (await s.execute(stmt.order_by(Role.name, Role.id))).scalars().all()
    perms: list[str] = []
    if rows:
        perms = sorted(set((await s.execute(
            select(Permission.name)
            .join(RolePermission, RolePermission.permission_id == Permission.id)
            .where(RolePermission.role_id.in_([r.id for r in rows]))
        )).scalars().all()))
    return Grants(roles=[role_claim(r) for r in rows], permissions=perms)
