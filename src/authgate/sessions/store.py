"""The session store interface; database, Redis and memory implementations follow it.

The hot path is ``load``: one round trip returns the session and the user snapshot
(a join in SQL; one MGET in Redis). Rotation is a compare-and-swap on the generation so
concurrent refreshes can never produce two live successors.

A route that needs more about the caller than the session and user (``GET
/auth/mfa/status``: the MFA devices and facts) hands ``load`` a *rider*: a single-statement
read keyed by the user id (bound parameter ``uid``) that the database store runs in the
same statement as the session (``DatabaseSessionStore``), so the route makes one round
trip in all; the Redis store keeps a ``cacheable`` rider's rows beside the user snapshot and
fetches them in the session's MGET. A store that cannot (memory; Redis for a live rider or on
a cluster) answers no rider rows and the caller runs the rider itself
(``Sessions.authenticate``). The rider is defined above this package (the
MFA layer): the store only composes SQL it is given and never looks inside the rows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Select

from authgate.identity.snapshot import UserSnapshot
from authgate.sessions.records import SessionRecord

UserLoader = Callable[[str], Awaitable[UserSnapshot | None]]

Rider = Select[Any]
"""A read about the session's user that binds ``uid`` (the user id) and nothing else
(constants inline, as every hot statement: ``hotpath``); built once and reused (stores
cache what they compose from it by identity). Its rows come back unordered."""

RiderRows = Sequence[Mapping[str, Any]]
RiderLoader = Callable[[Rider, str], Awaitable[RiderRows]]
"""Runs a rider for a user id (the composition root binds it to the database)."""

_CACHE_AS = "authgate_rider_cache"


def cacheable(rider: Rider, name: str) -> Rider:
    """``rider`` marked as one whose rows a store may keep between requests (under
    ``name``): only for a rider every write to whose rows is followed, after its commit, by
    ``user_changed`` for the user — a rider that must be read live is never marked. The
    mark is an execution option, so the statement runs unchanged everywhere."""
    return rider.execution_options(**{_CACHE_AS: name})


def cache_name(rider: Rider) -> str | None:
    """The name ``cacheable`` gave the rider, or None: read it live."""
    name = rider.get_execution_options().get(_CACHE_AS)
    return name if isinstance(name, str) else None


class Loaded(NamedTuple):
    """What ``load`` found: the live session, its user (None: no such user) and, when a
    rider was given and the store ran it in the same round trip, the rider's rows as if it
    had run alone (None: not run, the caller runs it)."""

    session: SessionRecord
    user: UserSnapshot | None
    rider: RiderRows | None = None


class SessionStore(Protocol):
    live_user: bool
    """``load`` reads the user row in the session's own statement, never from a cache:
    the user it gives is as fresh as the database, and a live rider costs no extra trip
    (the database store). False: the user may come from a cache (Redis, memory)."""

    async def create(self, record: SessionRecord) -> None: ...

    async def load(
        self, session_id: str, user_id: str, now: datetime, *, rider: Rider | None = None
    ) -> Loaded | None:
        """The live (unexpired) session of ``user_id`` and its user, or None; expired rows
        are dropped. ``rider``: run it for ``user_id`` in the same round trip if the store
        can (``Loaded.rider``)."""
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
        """Drop what is cached about the user: the snapshot and cacheable riders' rows
        (no-op where they are read live). Call it after the commit of any change."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
