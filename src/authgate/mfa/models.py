"""MFA rows: authenticator devices, recovery codes, trusted devices, passkeys and their
ceremony challenges."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from authgate.db import Base, IdPk, Utc, UtcDateTime, UtcOpt


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


class WebauthnCredential(Base):
    """A passkey (WebAuthn public-key credential). Only public material is stored: the
    credential id and its COSE public key (base64url). ``sign_count`` is the clone check:
    an authenticator that counts must present a larger count each time."""

    __tablename__ = "authgate_webauthn_credentials"

    id: Mapped[IdPk]
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("authgate_users.id", ondelete="CASCADE"), index=True
    )
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    """base64url of the raw credential id (at most 1023 bytes per the spec)."""
    public_key: Mapped[str] = mapped_column(String(2048))
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    name: Mapped[str] = mapped_column(String(255))
    transports: Mapped[str] = mapped_column(String(255), default="")
    """Comma-separated hints from registration (``internal``, ``usb``, ``hybrid``...)."""
    aaguid: Mapped[str] = mapped_column(String(36))
    backup_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    last_used_at: Mapped[UtcOpt]
    created_at: Mapped[Utc]


class WebauthnChallenge(Base):
    """A ceremony challenge, kept server-side until its one use. Stored as a keyed hash;
    the assertion's client data carries the challenge, which finds (and deletes) the row.
    ``purpose``: ``register`` / ``mfa`` (bound to the user and the session that asked) or
    ``login`` (a passwordless sign-in: no user yet)."""

    __tablename__ = "authgate_webauthn_challenges"

    id: Mapped[IdPk]
    challenge_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("authgate_users.id", ondelete="CASCADE"), index=True,
        nullable=True
    )
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expires_at: Mapped[Utc] = mapped_column(UtcDateTime(), index=True)
    created_at: Mapped[Utc]
