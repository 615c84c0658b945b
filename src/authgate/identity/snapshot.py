"""The user as every request sees it: a plain, secret-free record, and its one-statement load.

It lives with the users (``identity``) because every feature reads it: the session stores
cache it beside a session, the MFA rules and the account flows decide on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select

from authgate.db import Database
from authgate.identity.models import User

U = cast(Table, User.__table__)


@dataclass(frozen=True, slots=True)
class UserSnapshot:
    """Every user column the hot path needs (and GET /auth/user returns): no secrets."""

    id: str
    email: str | None
    phone: str | None
    email_verified_at: datetime | None
    phone_verified_at: datetime | None
    status: str
    is_mfa_enabled: bool
    must_change_password: bool
    meta: dict[str, Any]
    tenant_id: str | None
    created_at: datetime
    updated_at: datetime
    mfa_strong_factor_required: bool = False
    """A password reset over email/SMS happened since the last strong MFA step."""

    @property
    def is_active(self) -> bool:
        return self.status == "active"


USER_COLS = [
    U.c.id,
    U.c.email,
    U.c.phone,
    U.c.email_verified_at,
    U.c.phone_verified_at,
    U.c.status,
    U.c.is_mfa_enabled,
    U.c.must_change_password,
    U.c.metadata,
    U.c.tenant_scope,
    U.c.created_at,
    U.c.updated_at,
    U.c.mfa_strong_factor_required,
]

def user_from_row(m: Any, prefix: str = "") -> UserSnapshot:
    return UserSnapshot(
        id=m[f"{prefix}id"],
        email=m[f"{prefix}email"],
        phone=m[f"{prefix}phone"],
        email_verified_at=m[f"{prefix}email_verified_at"],
        phone_verified_at=m[f"{prefix}phone_verified_at"],
        status=m[f"{prefix}status"],
        is_mfa_enabled=bool(m[f"{prefix}is_mfa_enabled"]),
        must_change_password=bool(m[f"{prefix}must_change_password"]),
        meta=m[f"{prefix}metadata"] or {},
        tenant_id=m[f"{prefix}tenant_scope"] or None,
        created_at=m[f"{prefix}created_at"],
        updated_at=m[f"{prefix}updated_at"],
        mfa_strong_factor_required=bool(m[f"{prefix}mfa_strong_factor_required"]),
    )


async def load_user_snapshot(db: Database, user_id: str) -> UserSnapshot | None:
    async with db.reader.connect() as conn:
        row = (await conn.execute(select(*USER_COLS).where(U.c.id == user_id))).mappings().first()
    return user_from_row(row) if row is not None else None
