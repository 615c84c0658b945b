"""User queries. They take the unit of work's session; they flush, never commit."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authgate.identity.models import Permission, Role, RolePermission, User, UserRole
from authgate.identity.snapshot import UserSnapshot

_EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f.]{2,}$")


def valid_email(email: str) -> bool:
    return len(email) <= 320 and bool(_EMAIL.match(email.strip()))


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_phone(phone: str) -> str:
    return "".join(phone.split())


async def by_id(s: AsyncSession, user_id: str, *, for_update: bool = False) -> User | None:
    stmt = select(User).where(User.id == user_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await s.execute(stmt)).scalar_one_or_none()


async def by_email(s: AsyncSession, email: str, tenant_id: str | None = None) -> User | None:
    stmt = select(User).where(
        User.email == normalise_email(email), User.tenant_scope == (tenant_id or "")
    )
    return (await s.execute(stmt)).scalar_one_or_none()


async def by_phone(s: AsyncSession, phone: str, tenant_id: str | None = None) -> User | None:
    stmt = select(User).where(
        User.phone == normalise_phone(phone), User.tenant_scope == (tenant_id or "")
    )
    return (await s.execute(stmt)).scalar_one_or_none()


async def set_flags(s: AsyncSession, user_id: str, now: datetime, **values: object) -> None:
    """Single conditional UPDATE (atomic, no read-modify-write race)."""
    await s.execute(update(User).where(User.id == user_id).values(updated_at=now, **values))


async def roles_and_permissions(
    s: AsyncSession, user_id: str
) -> tuple[list[dict[str, object]], list[str]]:
    rows = (
        await s.execute(
            select(Role).join(UserRole, UserRole.role_id == Role.id).where(
                UserRole.user_id == user_id, Role.is_active.is_(True)
            )
        )
    ).scalars().all()
    roles: list[dict[str, object]] = [
        {"id": r.id, "name": r.name, "guard": r.guard, "tenantId": r.tenant_scope or None,
         "isSystem": r.is_system, "isActive": r.is_active}
        for r in rows
    ]
    perms: list[str] = []
    if rows:
        perms = sorted(set((
            await s.execute(
                select(Permission.name)
                .join(RolePermission, RolePermission.permission_id == Permission.id)
                .where(RolePermission.role_id.in_([r.id for r in rows]))
            )
        ).scalars().all()))
    return roles, perms


def snapshot(u: User) -> UserSnapshot:
    return UserSnapshot(
        id=u.id,
        email=u.email,
        phone=u.phone,
        email_verified_at=u.email_verified_at,
        phone_verified_at=u.phone_verified_at,
        status=u.status,
        is_mfa_enabled=u.is_mfa_enabled,
        must_change_password=u.must_change_password,
        meta=dict(u.meta or {}),
        tenant_id=u.tenant_scope or None,
        created_at=u.created_at,
        updated_at=u.updated_at,
        mfa_strong_factor_required=bool(u.mfa_strong_factor_required),
    )
