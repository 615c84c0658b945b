"""The session row (database session store)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from authgate.db import Base, IdPk, Utc, UtcDateTime, UtcOpt


class SessionRow(Base):
    """One login. Tokens carry its id; deleting the row revokes them all at once.

    ``generation`` counts refresh rotations: the refresh token for generation g is valid only
    while the row holds g (or g+1 within the reuse grace after ``rotated_at``). The token's
    secret part is derived from the server key and (id, generation), so nothing secret is
    stored here.
    """

    __tablename__ = "authgate_sessions"
    __table_args__ = (Index("ix_authgate_sessions_user_active", "user_id", "last_active"),)

    id: Mapped[IdPk]
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("authgate_users.id", ondelete="CASCADE")
    )
    generation: Mapped[int] = mapped_column(Integer, default=0)
    rotated_at: Mapped[Utc]
    expires_at: Mapped[Utc] = mapped_column(UtcDateTime(), index=True)  # the purge
    last_active: Mapped[Utc]
    created_at: Mapped[Utc]
    authenticated_at: Mapped[Utc]
    mfa_state: Mapped[str] = mapped_column(String(10), default="none")
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    tenant_id: Mapped[str | None] = mapped_column(String(36))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    device_name: Mapped[str | None] = mapped_column(String(64))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    revoked_at: Mapped[UtcOpt]
