"""One active code per user and purpose; stored as a keyed hash, never in clear."""

from __future__ import annotations

from typing import get_args

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from authgate.db import Base, IdPk, Utc, UtcDateTime
from authgate.vocabulary import Purpose

PURPOSES: tuple[str, ...] = get_args(Purpose)


class OneTimeCode(Base):
    __tablename__ = "authgate_one_time_codes"
    __table_args__ = (UniqueConstraint("user_id", "purpose"),)

    id: Mapped[IdPk]
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("authgate_users.id", ondelete="CASCADE")
    )
    purpose: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    """``email`` or ``sms``: a code is only accepted on the channel it was sent to."""
    code_hash: Mapped[str] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[Utc] = mapped_column(UtcDateTime(), index=True)  # the purge
    sent_at: Mapped[Utc]
    created_at: Mapped[Utc]
