"""What a user holds: the roles (and their permissions) of one tenant, or of no tenant.

One function, ``grants``, used wherever a session's snapshot is built (login, refresh,
tenant switch, an immediate role change), so the rule is written once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import BindParameter, Executable, bindparam, literal_column, select
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


def role_claim(r: Any) -> dict[str, Any]:
    """The claim of a role row (a mapping with the ``Role`` columns' names)."""
    return {"id": r["id"], "name": r["name"], "guard": r["guard"],
            "tenantId": r["tenant_scope"] or None, "isSystem": bool(r["is_system"]),
            "isActive": bool(r["is_active"])}


Run = Callable[[Executable, dict[str, Any]], Awaitable[Sequence[Mapping[str, Any]]]]
"""Runs one statement and answers its rows as mappings: a unit of work's session
(``in_session``) or the hot path (``Database.hot_fetch_all``)."""


def in_session(s: AsyncSession) -> Run:
    """``Run`` on a unit of work's session (what it has written is seen)."""
    async def run(stmt: Executable, params: dict[str, Any]) -> Sequence[Mapping[str, Any]]:
        return cast(Sequence[Mapping[str, Any]], (await s.execute(stmt, params)).mappings().all())
    return run


# Built once (the hot path compiles a statement once, keyed by identity). Each role comes
# once per permission it grants (or once with ``permission`` NULL), ordered by name.
_UID: BindParameter[str] = bindparam("uid")
_TID: BindParameter[str] = bindparam("tid")
_MID: BindParameter[str] = bindparam("mid")
_R, _RP, _P = Role.__table__, RolePermission.__table__, Permission.__table__
_ROLE_COLS = (_R.c.id, _R.c.name, _R.c.guard, _R.c.tenant_scope, _R.c.is_system, _R.c.is_active)


def _with_permissions(holding: Any, *where: Any) -> Executable:
    return (select(*_ROLE_COLS, _P.c.name.label("permission"))
            .select_from(holding.outerjoin(_RP, _RP.c.role_id == _R.c.id)
                         .outerjoin(_P, _P.c.id == _RP.c.permission_id))
            .where(_R.c.is_active.is_(True), *where)
            .order_by(_R.c.name, _R.c.id, _P.c.name))


_OUTSIDE_TENANTS = _with_permissions(
    _R.join(UserRole.__table__, UserRole.__table__.c.role_id == _R.c.id),
    UserRole.__table__.c.user_id == _UID)
_IN_TENANT = _with_permissions(
    _R.join(MembershipRole.__table__, MembershipRole.__table__.c.role_id == _R.c.id),
    MembershipRole.__table__.c.membership_id == _MID,
    _R.c.tenant_scope.in_((literal_column("''"), _TID)))


async def grants(run: Run, user_id: str, tenant_id: str | None) -> Grants | None:
    """The active roles ``user_id`` holds in ``tenant_id`` (through an active membership of
    an active tenant) or, for ``None``, outside any tenant; and their permissions. None when
    ``tenant_id`` is given and the user is not (or no longer) an active member there.
    ``run``: ``in_session(s)`` inside a unit of work, or ``res.db.hot_fetch_all`` (one
    statement outside tenants, two inside one)."""
    if tenant_id is None:
        rows = await run(_OUTSIDE_TENANTS, {"uid": user_id})
    else:
        member = await run(tenants.ACTIVE_MEMBERSHIP, {"uid": user_id, "tid": tenant_id})
        if not member:
            return None
        rows = await run(_IN_TENANT, {"mid": member[0]["id"], "tid": tenant_id})
    roles: dict[str, dict[str, Any]] = {}
    perms: set[str] = set()
    for r in rows:
        if r["id"] not in roles:
            roles[r["id"]] = role_claim(r)
        if r["permission"] is not None:
            perms.add(r["permission"])
    return Grants(roles=list(roles.values()), permissions=sorted(perms))
