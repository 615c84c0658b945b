"""Single statements of the request hot path: on asyncpg's connection directly (PostgreSQL),
synchronously on a query-only connection (SQLite).

Every authenticated request reads its session with one statement (``GET /auth/mfa/status``
its MFA rows in that same statement: a rider, ``sessions.store``). Through SQLAlchemy's
async engine such a read costs several times its cost on the driver connection (pool
checkout and reset, the greenlet bridge, result adaptation; figures in
docs/DESIGN-NOTES.md). So the hot
statements are compiled by SQLAlchemy once, and run here on a few connections that are
checked out of the ``hot`` engine once and kept: they come with the engine's connect-time
set-up (JSON codecs, timeouts), and a connection found broken is invalidated and replaced.

Rows are asyncpg Records: mappings keyed like SQLAlchemy's (column name or label).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Executable, create_engine, event, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authgate.errors import ServiceUnavailable

Rows = Sequence[Mapping[str, Any]]

# SQLSTATE classes that mean "the database cannot serve us right now", not "this statement is
# wrong": 08 connection exception, 53 insufficient resources ("too many clients"), 57 operator
# intervention (shutting down, starting up, cancelled).
UNAVAILABLE_SQLSTATE = ("08", "53", "57")


class _Compiled:
    __slots__ = ("names", "sql")

    def __init__(self, sql: str, names: tuple[str, ...]) -> None:
        self.sql = sql
        self.names = names


class _Held:
    __slots__ = ("conn", "raw")

    def __init__(self, conn: AsyncConnection, raw: Any) -> None:
        self.conn = conn  # keeps the pool's checkout (and its invalidation) in reach
        self.raw = raw  # the asyncpg connection


class HotConnections:
    """Up to ``size`` connections held out of ``engine``'s pool for the hot statements."""

    def __init__(self, engine: AsyncEngine, size: int) -> None:
        import asyncpg  # type: ignore[import-untyped]  # only PostgreSQL builds this

        self._engine = engine
        self._size = size
        self._open = 0
        self._idle: list[_Held] = []
        # Waiters in arrival order. A connection given back goes straight to the first of them
        # (None: a slot freed by a discarded connection; the waiter opens its own), never to
        # whoever asks next: with a queue a request that had just released one could take it
        # again at once, and busy clients starved the rest (PostgreSQL's p99 tail).
        self._waiters: collections.deque[asyncio.Future[_Held | None]] = collections.deque()
        self._compiled: dict[int, tuple[Executable, _Compiled]] = {}
        self._broken: tuple[type[BaseException], ...] = (
            asyncpg.InterfaceError, asyncpg.InternalClientError,
            asyncpg.PostgresConnectionError, ConnectionError, OSError, TimeoutError)
        self._pg_error: type[BaseException] = asyncpg.PostgresError
        self._closed = False

    def _compile(self, stmt: Executable) -> _Compiled:
        hit = self._compiled.get(id(stmt))
        if hit is not None and hit[0] is stmt:
            return hit[1]
        compiled = stmt.compile(dialect=self._engine.dialect)  # type: ignore[attr-defined]
        out = _Compiled(str(compiled), tuple(compiled.positiontup or ()))
        self._compiled[id(stmt)] = (stmt, out)  # the statement is kept alive with its id
        return out

    async def _acquire(self) -> _Held:
        if self._idle and not self._waiters:
            return self._idle.pop()
        if self._open < self._size and not self._waiters:
            return await self._connect()
        fut: asyncio.Future[_Held | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            got = await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # handed one just as we were cancelled
                self._hand_over(fut.result())
            else:
                self._waiters.remove(fut)
            raise
        return got if got is not None else await self._connect()

    async def _connect(self) -> _Held:
        self._open += 1
        try:
            conn = await self._engine.connect()
            try:
                raw = (await conn.get_raw_connection()).driver_connection
            except BaseException:
                await conn.close()
                raise
            return _Held(conn, raw)
        except BaseException:
            self._open -= 1
            self._hand_over(None)  # the slot is free again: let a waiter try
            raise

    def _hand_over(self, held: _Held | None) -> None:
        """Give a connection (or, None, a free slot) to the longest waiter, else keep it."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(held)
                return
        if held is not None:
            self._idle.append(held)

    async def _release(self, held: _Held) -> None:
        if self._closed:
            self._open -= 1
            await held.conn.close()
        else:
            self._hand_over(held)

    async def _discard(self, held: _Held) -> None:
        self._open -= 1
        try:
            await held.conn.invalidate()
            await held.conn.close()
        except Exception:  # noqa: S110 - it is being thrown away because it is broken
            pass
        self._hand_over(None)

    async def fetch(self, stmt: Executable, params: Mapping[str, Any]) -> Rows:
        """The rows of ``stmt``: one round trip; a broken connection is replaced and the
        statement retried once, then the database counts as unavailable (503)."""
        c = self._compile(stmt)
        args = [params[n] for n in c.names]
        for attempt in (1, 2):
            try:
                held = await self._acquire()
            except self._broken as exc:  # cannot even connect (refused, reset, timed out)
                raise ServiceUnavailable("Database unavailable", backend="database") from exc
            try:
                rows: Rows = await held.raw.fetch(c.sql, *args)
            except self._broken as exc:
                # What broke one (a server restart, terminated backends) broke its idle
                # siblings too: replace them all, as SQLAlchemy's pool does on a disconnect.
                await self._discard(held)
                while self._idle:
                    await self._discard(self._idle.pop())
                if attempt == 2:
                    raise ServiceUnavailable("Database unavailable", backend="database") from exc
                continue
            except BaseException as exc:
                if isinstance(exc, self._pg_error):
                    await self._release(held)  # the statement failed; the connection is fine
                    state = str(getattr(exc, "sqlstate", "") or "")
                    if state[:2] in UNAVAILABLE_SQLSTATE:
                        raise ServiceUnavailable("Database unavailable", backend="database") from exc
                else:  # cancelled mid-statement: the connection's state is unknown
                    await self._discard(held)
                raise
            await self._release(held)
            return rows
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            held = self._idle.pop()
            self._open -= 1
            await held.conn.close()


class SqliteHotReader:
    """SQLite's hot statements, run synchronously on the event loop's thread.

    A point read on a WAL database is cheap; aiosqlite's hand-off to its connection thread
    and back costs far more (docs/DESIGN-NOTES.md). WAL readers never wait for the writer, so the loop is not held up;
    the short busy timeout bounds the rare case that does wait (recovery of a crashed
    writer's WAL): past it the read fails as a 503 rather than stalling every request.
    """

    def __init__(self, url: str) -> None:
        sync_url = make_url(url).set(drivername="sqlite+pysqlite")
        self._engine = create_engine(sync_url, hide_parameters=True, pool_size=2,
                                     max_overflow=4,
                                     connect_args={"timeout": 0.5, "check_same_thread": False})

        @event.listens_for(self._engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # autocommit: each read is its own snapshot
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA query_only=ON")
            cur.close()

    async def fetch(self, stmt: Executable, params: Mapping[str, Any]) -> Rows:
        with self._engine.connect() as conn:
            return cast(Rows, conn.execute(stmt, dict(params)).mappings().all())

    async def close(self) -> None:
        self._engine.dispose()
