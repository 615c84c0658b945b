"""Memberships: a user's place in a tenant, with the roles held there."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from authgate.db import Base, IdPk, Utc, UtcOpt

MEMBERSHIP_STATUSES = ("active", "inactive")


class Membership(Base):
    """A user's access to one tenant (upstream's ``user_access``). In ``shared`` mode one
    account has several; in ``isolated`` mode an account has exactly the one of its own
    tenant. At most one per user is the default (the tenant a login without ``tenantId``
    opens)."""

    __tablename__ = "authgate_memberships"
    __table_args__ = (UniqueConstraint("user_id", "tenant_id"),)

    id: Mapped[IdPk]
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("authgate_users.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("authgate_tenants.id", ondelete="CASCADE"), index=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[Utc]
    updated_at: Mapped[Utc]


class MembershipRole(Base):
    """A role held inside a tenant. Roles held outside any tenant (tenancy off, or a
    platform role) are ``identity.models.UserRole`` rows."""

    __tablename__ = "authgate_membership_roles"

    membership_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("authgate_memberships.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("authgate_roles.id", ondelete="CASCADE"), primary_key=True,
        index=True)
    created_at: Mapped[UtcOpt]
