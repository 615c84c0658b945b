"""Provider identities linked to accounts, and the short-lived code-flow grants."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from authgate.db import Base, IdPk, Utc, UtcOpt


class Identity(Base):
    """One provider account (``provider`` + its stable ``subject``) linked to a user, in
    the account scope of ``identity``'s users (a tenant in isolated mode, else ``""``). The
    unique triple, not a prior read, decides a race between two first sign-ins."""

    __tablename__ = "authgate_identities"
    __table_args__ = (UniqueConstraint("tenant_scope", "provider", "subject"),)

    id: Mapped[IdPk]
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("authgate_users.id", ondelete="CASCADE"), index=True
    )
    tenant_scope: Mapped[str] = mapped_column(String(36), default="")
    provider: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    """Profile bits the provider gave (name, picture): shown, never trusted."""
    created_at: Mapped[Utc]
    last_used_at: Mapped[UtcOpt]


class OAuthGrant(Base):
    """A started code flow (``kind="state"``) or its one-time result for the opener
    (``kind="result"``). ``id`` is a keyed hash of the random value the browser holds, the
    payload is encrypted (it holds the PKCE verifier); a row is deleted when used, so each
    is single-use."""

    __tablename__ = "authgate_oauth_grants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[Utc] = mapped_column(index=True)
