"""The session store interface; database, Redis and memory implementations follow it.

The hot path is ``load``: one round trip returns the session and the user snapshot
(a join in SQL; one MGET in Redis). Rotation is a compare-and-swap on the generation so
concurrent refreshes can never produce two live successors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from authgate.identity.snapshot import UserSnapshot
from authgate.sessions.records import SessionRecord

UserLoader = Callable[[str], Awaitable[UserSnapshot | None]]


class SessionStore(Protocol):
    async def create(self, record: SessionRecord) -> None: ...

    async def load(
        self, session_id: str, user_id: str, now: datetime
    ) -> tuple[SessionRecord, UserSnapshot | None] | None:
        """The live (unexpired) session and its user, or None; expired rows are dropped."""
        ...

    async def get(self, session_id: str, now: datetime) -> SessionRecord | None: ...

    async def rotate(
        self, session_id: str, expected_generation: int, changes: dict[str, Any]
    ) -> bool:
        """Apply ``changes`` and bump the generation iff it still equals ``expected``."""
        ...

    async def update(self, session_id: str, changes: dict[str, Any]) -> None: ...

    async def delete(self, session_id: str) -> bool: ...

    async def delete_for_user(self, user_id: str, *, keep: str | None = None) -> int: ...

    async def list_for_user(self, user_id: str, now: datetime) -> list[SessionRecord]:
        """Live sessions, most recently active first."""
        ...

    async def user_changed(self, user_id: str) -> None:
        """Drop any cached user snapshot (no-op where the user is read live)."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
