"""Time as a seam: services ask a Clock, tests inject a controllable one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


def iso_millis(dt: datetime | None) -> str | None:
    """ISO-8601 with milliseconds and Z, as the contract emits timestamps (the value is
    UTC: every stored time is). On every response: ``isoformat`` is C, ``strftime`` was 5% of
    a GET /auth/user's samples."""
    if dt is None:
        return None
    return dt.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that moves only when told to; for tests and simulations."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | float) -> None:
        self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)

    def set(self, when: datetime) -> None:
        self._now = when
