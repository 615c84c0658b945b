"""MFA rows: authenticator devices, recovery codes, trusted devices."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from authgate.db import Base, IdPk, Utc, UtcOpt


class TotpDevice(Base):
    """An authenticator app. The secret is AES-GCM ciphertext prefixed with its key id;
    ``last_used_step`` is the replay guard (a time step is accepted at most once)."""

    __tablename__ = "authgate_totp_devices"

    id: Mapped[IdPk]
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("authgate_users.id", ondelete="CASCADE"), index=True
    )
    secret_enc: Mapped[str] = mapped_column(String(512))
    secret_lookup: Mapped[str] = mapped_column(String(64), index=True)
    """HMAC of the secret, so verify-totp-setup can find the row without decrypting all."""
    device_name: Mapped[str] = mapped_column(String(255))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    last_used_step: Mapped[int | None] = mapped_column(Integer)
    last_used_at: Mapped[UtcOpt]
    expires_at: Mapped[UtcOpt]
    """Unverified set-ups expire; verified devices have no expiry."""
    created_at: Mapped[Utc]


class RecoveryCode(Base):
    __tablename__ = "authgate_recovery_codes"

    id: Mapped[IdPk]
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("authgate_users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(128), index=True)
    used_at: Mapped[UtcOpt]
    created_at: Mapped[Utc]


class TrustedDevice(Base):
    __tablename__ = "authgate_trusted_devices"

    id: Mapped[IdPk]
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("authgate_users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    user_agent: Mapped[str | None] = mapped_column(String(512))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[Utc]
    revoked_at: Mapped[UtcOpt]
    last_used_at: Mapped[UtcOpt]
    created_at: Mapped[Utc]
