"""The API-key row: the public part in clear (the look-up), the secret only as a keyed hash."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from authgate.db import Base, IdPk, Utc, UtcOpt


class ApiKey(Base):
    __tablename__ = "authgate_api_keys"

    id: Mapped[IdPk]
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("authgate_users.id", ondelete="CASCADE"), index=True
    )
    tenant_scope: Mapped[str] = mapped_column(String(36), default="")
    """The tenant the key acts in (the creating session's), or "" without tenants."""
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(1000))
    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    """Hex HMAC-SHA256 of the secret under a key derived for API keys (``Keys.api_key``)."""
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[UtcOpt]
    last_used_at: Mapped[UtcOpt]
    revoked_at: Mapped[UtcOpt]
    created_at: Mapped[Utc]
