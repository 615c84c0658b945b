"""Fixed-window counters in the database (used when Redis is not configured)."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from authgate.db import Base, Utc, UtcDateTime


class Counter(Base):
    __tablename__ = "authgate_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    window_start: Mapped[Utc]
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[Utc] = mapped_column(UtcDateTime(), index=True)  # the purge
