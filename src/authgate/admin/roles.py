"""Roles from the admin console, through ``authgate.authz.service`` (which keeps the
holders' live sessions in step); the contract's codes for its refusals."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from authgate.admin.actor import Actor
from authgate.admin.ids import parse_id
from authgate.admin.roles_view import RoleView, views
from authgate.authz import service as authz
from authgate.errors import AuthError, Code
from authgate.identity.models import Role
from authgate.resources import Resources
from authgate.tx import readonly

NO_FIELDS = "At least one field must be provided for update (name, isActive, or permissions)"


def _not_found() -> AuthError:
    return AuthError(Code.ROLE_NOT_FOUND)


async def _view(res: Resources, role_id: str) -> RoleView:
    async with readonly(res.readmaker) as s:
        role = await s.get(Role, role_id)
        if role is None:
            raise _not_found()
        [view] = await views(s, [role])
    return view


async def list_roles(res: Resources, *, tenant_id: str | None = None,
                     guard: str | None = None) -> list[RoleView]:
    """By name; ``tenant_id``: that tenant's roles only."""
    stmt = select(Role).order_by(Role.name, Role.guard, Role.id)
    if tenant_id:
        stmt = stmt.where(Role.tenant_scope == tenant_id)
    if guard:
        stmt = stmt.where(Role.guard == guard)
    async with readonly(res.stale_readmaker) as s:
        return await views(s, (await s.execute(stmt)).scalars().all())


def _permission_refusal(exc: AuthError) -> AuthError:
    """Unknown permission names answer 400 ROLE_PERMISSION_VALIDATION_FAILED (contract)."""
    if exc.code is Code.PERMISSION_NOT_FOUND:
        return AuthError(Code.ROLE_PERMISSION_VALIDATION_FAILED,
                         exc.message.replace("Permission not found",
                                             "Unknown permission(s) for this guard"))
    return exc


async def create_role(res: Resources, actor: Actor, *, name: str, guard: str,
                      tenant_id: str | None, is_system: bool, is_active: bool,
                      permissions: Sequence[str]) -> RoleView:
    """Raises ROLE_NAME_REQUIRED, GUARD_NOT_ALLOWED, TENANT_NOT_FOUND,
    ROLE_PERMISSION_VALIDATION_FAILED, ROLE_ALREADY_EXISTS."""
    if not name.strip():
        raise AuthError(Code.ROLE_NAME_REQUIRED)
    if tenant_id is not None and parse_id(tenant_id) is None:
        raise AuthError(Code.TENANT_NOT_FOUND)
    try:
        made = await authz.create_role(res, name=name, guard=guard, tenant_id=tenant_id,
                                       permissions=permissions, is_system=is_system,
                                       is_active=is_active)
    except AuthError as exc:
        raise _permission_refusal(exc) from None
    await actor.record(res, "role.create", made.id, name=made.name, guard=made.guard,
                       tenantId=made.tenant_id, permissions=list(made.permissions))
    return await _view(res, made.id)


async def update_role(res: Resources, actor: Actor, role_id: str, *, name: str | None,
                      is_active: bool | None, permissions: Sequence[str] | None) -> RoleView:
    """Raises INVALID_INPUT (nothing to change), ROLE_NOT_FOUND, ROLE_NAME_REQUIRED,
    ROLE_PERMISSION_VALIDATION_FAILED, ROLE_ALREADY_EXISTS."""
    if name is None and is_active is None and permissions is None:
        raise AuthError(Code.INVALID_INPUT, NO_FIELDS)
    rid = parse_id(role_id)
    if rid is None:
        raise _not_found()
    if name is not None and not name.strip():
        raise AuthError(Code.ROLE_NAME_REQUIRED)
    try:
        await authz.update_role(res, rid, name=name, is_active=is_active,
                                permissions=permissions)
    except AuthError as exc:
        raise _permission_refusal(exc) from None
    await actor.record(res, "role.update", rid, name=name, isActive=is_active,
                       permissions=list(permissions) if permissions is not None else None)
    return await _view(res, rid)


async def delete_role(res: Resources, actor: Actor, role_id: str) -> None:
    rid = parse_id(role_id)
    if rid is None:
        raise _not_found()
    await authz.delete_role(res, rid)
    await actor.record(res, "role.delete", rid)
