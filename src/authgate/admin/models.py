"""Admin accounts and their sessions: a table of their own, never an end user."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from authgate.db import Base, IdPk, Utc, UtcDateTime, UtcOpt


class AdminUser(Base):
    """``token_version`` is in every session cookie of this admin: bumping it (a password
    change or reset, "sign out everywhere") ends them all at once."""

    __tablename__ = "authgate_admin_users"

    id: Mapped[IdPk]
    email: Mapped[str] = mapped_column(String(320), unique=True)
    """Lower-cased."""
    name: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    last_login_at: Mapped[UtcOpt]
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    totp_secret_enc: Mapped[str | None] = mapped_column(String(512))
    """The admin's own authenticator seed (secretbox ciphertext); pending until enabled."""
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    """Replay guard: a TOTP time step is accepted at most once."""
    created_at: Mapped[Utc]
    updated_at: Mapped[Utc]


class AdminSession(Base):
    """One signed-in browser. The cookie names it (``sid``): signing out deletes this row
    only, so the admin's other browsers stay signed in (W17)."""

    __tablename__ = "authgate_admin_sessions"

    id: Mapped[IdPk]
    admin_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("authgate_admin_users.id", ondelete="CASCADE"), index=True)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[Utc]
    expires_at: Mapped[Utc] = mapped_column(UtcDateTime(), index=True)  # the purge

