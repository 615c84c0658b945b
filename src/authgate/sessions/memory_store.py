"""Sessions in process memory: development and single-process use only."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from authgate.identity.snapshot import UserSnapshot
from authgate.sessions.records import SessionRecord
from authgate.sessions.store import Loaded, Rider, UserLoader


class MemorySessionStore:
    """Keeps a user snapshot beside the sessions like the Redis store, with the same
    invalidation rules, so both behave alike in tests."""

    live_user = False  # sessions.store.SessionStore.live_user

    def __init__(self, user_loader: UserLoader, *, user_ttl_seconds: float = 300.0) -> None:
        self._sessions: dict[str, SessionRecord] = {}
        self._users: dict[str, tuple[float, UserSnapshot]] = {}
        # bumped by user_changed: a snapshot read across a change is not cached
        self._changes: dict[str, int] = {}
        self._load_user = user_loader
        self._ttl = user_ttl_seconds

    async def create(self, record: SessionRecord) -> None:
        self._sessions[record.id] = record

    async def _user(self, user_id: str) -> UserSnapshot | None:
        hit = self._users.get(user_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        changes = self._changes.get(user_id, 0)
        snap = await self._load_user(user_id)
        if snap is not None and self._changes.get(user_id, 0) == changes:
            self._users[user_id] = (time.monotonic() + self._ttl, snap)
        return snap

    async def load(
        self, session_id: str, user_id: str, now: datetime, *, rider: Rider | None = None
    ) -> Loaded | None:
        """A rider (SQL) is not run here: the caller runs it (``Loaded.rider`` None)."""
        rec = await self.get(session_id, now)
        if rec is None or rec.user_id != user_id:
            return None
        return Loaded(rec, await self._user(user_id))

    async def get(self, session_id: str, now: datetime) -> SessionRecord | None:
        rec = self._sessions.get(session_id)
        if rec is None:
            return None
        if rec.expires_at <= now:
            self._sessions.pop(session_id, None)
            return None
        return rec

    async def rotate(
        self, session_id: str, expected_generation: int, changes: dict[str, Any]
    ) -> bool:
        rec = self._sessions.get(session_id)
        if rec is None or rec.generation != expected_generation:
            return False
        self._sessions[session_id] = rec.with_changes(
            generation=expected_generation + 1, **_normalise(changes)
        )
        return True

    async def update(self, session_id: str, changes: dict[str, Any]) -> None:
        rec = self._sessions.get(session_id)
        if rec is not None:
            self._sessions[session_id] = rec.with_changes(**_normalise(changes))

    async def delete(self, session_id: str) -> bool:
        return self._sessions.pop(session_id, None) is not None

    async def delete_for_user(self, user_id: str, *, keep: str | None = None) -> int:
        doomed = [s.id for s in self._sessions.values() if s.user_id == user_id and s.id != keep]
        for sid in doomed:
            del self._sessions[sid]
        return len(doomed)

    async def list_for_user(self, user_id: str, now: datetime) -> list[SessionRecord]:
        live = [s for s in self._sessions.values() if s.user_id == user_id and s.expires_at > now]
        return sorted(live, key=lambda s: s.last_active, reverse=True)

    async def user_changed(self, user_id: str) -> None:
        self._users.pop(user_id, None)
        self._changes[user_id] = self._changes.get(user_id, 0) + 1

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


def _normalise(changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(changes)
    if "amr" in out:
        out["amr"] = tuple(out["amr"])
    return out
