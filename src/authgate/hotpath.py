"""Single statements of the request hot path: on asyncpg's connection directly (PostgreSQL),
synchronously on a query-only connection (SQLite reads) or on a writer connection that never
waits for the write lock (SQLite writes, ``SqliteHotWriter``).

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
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Engine, Executable, create_engine, event, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authgate.errors import ServiceUnavailable

Rows = Sequence[Mapping[str, Any]]

# SQLSTATE classes that mean "the database cannot serve us right now", not "this statement is
# wrong": 08 connection exception, 53 insufficient resources ("too many clients"), 57 operator
# intervention (shutting down, starting up, cancelled).
UNAVAILABLE_SQLSTATE = ("08", "53", "57")


class _Compiled:
    __slots__ = ("names", "procs", "sql")

    def __init__(self, sql: str, names: tuple[str, ...],
                 procs: tuple[Callable[[Any], Any] | None, ...]) -> None:
        self.sql = sql
        self.names = names
        self.procs = procs
        """Each parameter's bind processor (None: passed as given), as the engine applies
        them: a JSON column's value goes to asyncpg as text, a UTC column's in UTC."""


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
        names = tuple(compiled.positiontup or ())
        procs = compiled._bind_processors  # noqa: SLF001 - SQLAlchemy's per-statement table
        out = _Compiled(str(compiled), names, tuple(procs.get(n) for n in names))
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
        args = [params[n] if p is None else p(params[n]) for n, p in zip(c.names, c.procs,
                                                                         strict=True)]
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


def _sync_sqlite(url: str, *, pool_size: int, timeout: float,
                 pragmas: tuple[str, ...]) -> Engine:
    """A pysqlite engine on the async engines' file, used from the event loop's thread:
    autocommit at the driver (no implicit BEGIN), ``timeout`` the busy timeout (seconds)."""
    engine = create_engine(make_url(url).set(drivername="sqlite+pysqlite"),
                           hide_parameters=True, pool_size=pool_size, max_overflow=4,
                           connect_args={"timeout": timeout, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in pragmas:
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    return engine


class SqliteHotReader:
    """SQLite's hot statements, run synchronously on the event loop's thread.

    A point read on a WAL database is cheap; aiosqlite's hand-off to its connection thread
    and back costs far more (docs/DESIGN-NOTES.md). WAL readers never wait for the writer, so the loop is not held up;
    the short busy timeout bounds the rare case that does wait (recovery of a crashed
    writer's WAL): past it the read fails as a 503 rather than stalling every request.
    """

    def __init__(self, url: str) -> None:
        # autocommit: each read is its own snapshot
        self._engine = _sync_sqlite(url, pool_size=2, timeout=0.5, pragmas=("query_only=ON",))

    async def fetch(self, stmt: Executable, params: Mapping[str, Any]) -> Rows:
        with self._engine.connect() as conn:
            return cast(Rows, conn.execute(stmt, dict(params)).mappings().all())

    async def close(self) -> None:
        self._engine.dispose()


SQLITE_BUSY = 5
"""SQLite's primary result code for "another connection holds the lock"."""


class SqliteHotWriter:
    """SQLite's single-statement writes (a counter's upsert, a session's insert), tried
    synchronously on the event loop's thread.

    On a WAL database with ``synchronous=NORMAL`` such a write (``BEGIN IMMEDIATE``, the
    statement, ``COMMIT``: a WAL append, no fsync) costs tens of µs; through aiosqlite and the
    async engine it cost ~400 µs of CPU, mostly hand-offs to its thread and back
    (docs/DESIGN-NOTES.md). The loop must never wait for a lock, so the write lock is only
    *tried* (busy timeout 0): while another connection holds it (a unit of work in flight,
    another worker process) ``try_write`` answers None and the caller sends the statement
    through the writer engine, which waits in its own thread. It holds the lock only within
    one synchronous call, so it never makes anyone else wait longer than that. This
    connection never checkpoints (``wal_autocheckpoint=0``): copying the WAL back (and its
    fsync) is left to the writer engine's connections, off the loop.
    """

    def __init__(self, url: str) -> None:
        # we issue BEGIN IMMEDIATE ourselves; synchronous and foreign_keys are per connection,
        # set as the engines set them
        self._engine = _sync_sqlite(url, pool_size=1, timeout=0, pragmas=(
            "synchronous=NORMAL", "foreign_keys=ON", "wal_autocheckpoint=0"))

    def try_write(self, stmt: Executable, params: Mapping[str, Any]) -> Rows | None:
        """The statement's rows (``RETURNING``; empty without it), committed; None when the
        write lock is taken (nothing was done)."""
        with self._engine.connect() as conn:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except OperationalError as exc:
                if getattr(exc.orig, "sqlite_errorcode", None) == SQLITE_BUSY or \
                        "locked" in str(exc.orig):
                    conn.rollback()
                    return None
                raise
            try:
                result = conn.execute(stmt, dict(params))
                rows = cast(Rows, result.mappings().all() if result.returns_rows else [])
                conn.exec_driver_sql("COMMIT")
            except BaseException:
                if conn.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
                    conn.exec_driver_sql("ROLLBACK")
                raise
            conn.commit()  # SQLAlchemy's own (autobegun) transaction: nothing left to do
            return rows

    def close(self) -> None:
        self._engine.dispose()
