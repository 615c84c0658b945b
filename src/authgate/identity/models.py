"""Users and the authorisation data attached to them (tenants, roles, permissions)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from authgate.db import Base, IdPk, Utc, UtcOpt

USER_STATUSES = ("active", "suspended", "inactive")


class User(Base):
    __tablename__ = "authgate_users"
    __table_args__ = (
        # tenant_scope is the tenant id or "" so uniqueness also holds without a tenant.
        UniqueConstraint("tenant_scope", "email"),
        UniqueConstraint("tenant_scope", "phone"),
    )

    id: Mapped[IdPk]
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="active")
    email_verified_at: Mapped[UtcOpt]
    phone_verified_at: Mapped[UtcOpt]
    is_mfa_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    mfa_strong_factor_required: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false())
    """Set by a password reset (proved over email/SMS) for an MFA user: the next MFA step
    needs a strong factor (an authenticator) or a recovery code. Cleared by either."""
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    tenant_scope: Mapped[str] = mapped_column(String(36), default="")
    password_changed_at: Mapped[UtcOpt]
    created_at: Mapped[Utc]
    updated_at: Mapped[Utc]

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def tenant_id(self) -> str | None:
        return self.tenant_scope or None


class Tenant(Base):
    __tablename__ = "authgate_tenants"

    id: Mapped[IdPk]
    name: Mapped[str] = mapped_column(String(255))
    slug: Mapped[str | None] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(1000))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[Utc]
    updated_at: Mapped[Utc]


class Role(Base):
    __tablename__ = "authgate_roles"
    __table_args__ = (UniqueConstraint("name", "guard", "tenant_scope"),)

    id: Mapped[IdPk]
    name: Mapped[str] = mapped_column(String(255))
    guard: Mapped[str] = mapped_column(String(64), default="web")
    tenant_scope: Mapped[str] = mapped_column(String(36), default="")
    is_system: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[Utc]
    updated_at: Mapped[Utc]


class Permission(Base):
    __tablename__ = "authgate_permissions"
    __table_args__ = (UniqueConstraint("name", "guard"),)

    id: Mapped[IdPk]
    name: Mapped[str] = mapped_column(String(255))
    guard: Mapped[str] = mapped_column(String(64), default="web")
    description: Mapped[str | None] = mapped_column(String(1000))
    category: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[Utc]
    updated_at: Mapped[Utc]


class RolePermission(Base):
    __tablename__ = "authgate_role_permissions"

    role_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("authgate_roles.id", ondelete="CASCADE"), primary_key=True
    )
    permission_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("authgate_permissions.id", ondelete="CASCADE"), primary_key=True
    )


class UserRole(Base):
    __tablename__ = "authgate_user_roles"

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("authgate_users.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("authgate_roles.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[UtcOpt]


class BlockedEmailDomain(Base):
    """A domain refused at signup (``email_auth.disposable``); ``source`` is ``manual``
    (added by an admin) or ``default`` (imported from the shipped list)."""

    __tablename__ = "authgate_blocked_email_domains"

    id: Mapped[IdPk]
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    source: Mapped[str] = mapped_column(String(16), default="manual")
    created_at: Mapped[Utc]
