"""Declarative base, column types and engine construction shared by every model."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, cast

from sqlalchemy import JSON, DateTime, Executable, MetaData, String, TypeDecorator, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, mapped_column
from sqlalchemy.util import await_only

from authgate.hotpath import (
    UNAVAILABLE_SQLSTATE,
    HotConnections,
    Rows,
    SqliteHotReader,
    SqliteHotWriter,
)

# aiosqlite logs every statement *with its parameters* (password hashes among them) at DEBUG,
# so a root logger at DEBUG would write them out. Quiet unless configured explicitly, as
# SQLAlchemy does for its own logger; our engines also hide parameters (hide_parameters).
if logging.getLogger("aiosqlite").level == logging.NOTSET:
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
log = logging.getLogger("authgate.db")

CHECKPOINT_EVERY = 1000
"""SQLite: hot-path commits between two passive WAL checkpoints (``Database.hot_write``)."""

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which stores naive text) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def database_unavailable(exc: BaseException) -> bool:
    """True for failures that are the database's state (answer 503 and retry), not a bug."""
    if isinstance(exc, (OperationalError, SATimeoutError)):  # incl. pool checkout timeout
        return True
    if isinstance(exc, DBAPIError):
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return exc.connection_invalidated or (
            isinstance(state, str) and state[:2] in UNAVAILABLE_SQLSTATE)
    return False


def new_id() -> str:
    return str(uuid.uuid4())


IdPk = Annotated[str, mapped_column(String(36), primary_key=True, default=new_id)]
UserFk = Annotated[str, mapped_column(String(36), index=True)]
Utc = Annotated[datetime, mapped_column(UtcDateTime())]
UtcOpt = Annotated[datetime | None, mapped_column(UtcDateTime(), nullable=True)]
JsonDict = Annotated[dict[str, Any], mapped_column(JSON(), default=dict)]


class Base(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Database:
    """The engines for one database URL.

    ``writer`` runs units of work, ``reader`` read-only flows; the single statements of the
    request hot path (``hot_fetch_one``/``hot_fetch_all``, and the self-contained writes of
    ``hot_write``) run in ``hotpath``.

    On PostgreSQL ``reader`` shares the writer's pool in autocommit mode: under READ
    COMMITTED every statement has its own snapshot anyway, so a read-only transaction only
    added a BEGIN and a ROLLBACK round trip. ``hot`` is a small pool of its own, also in
    autocommit, whose connections the hot path holds (a dead one is replaced and the read
    retried once). The writer's pool pings each connection it hands out, as
    ``pool_pre_ping`` did, but with one round trip where SQLAlchemy's asyncpg ping spends
    three (BEGIN, ``;``, ROLLBACK).

    On SQLite they differ: write transactions start with ``BEGIN IMMEDIATE`` so two writers
    queue on the busy timeout instead of failing a read-to-write lock upgrade, while reads
    stay lock-free under WAL.

    ``stale`` is for the reads that tolerate replication lag (admin lists and statistics,
    audit history, role/permission/tenant listings): a PostgreSQL streaming replica when
    ``replica_url`` is given (``ReplicaRouter``: a replica that cannot be reached sends them
    to the primary for ``replica_retry`` seconds, logged), else the same engine as
    ``reader``. Everything that must be fresh — sessions, counters, one-time codes, MFA
    state, anything read in or right after a write — stays on ``writer``/``reader``/``hot``.
    """

    def __init__(self, url: str, *, pool_size: int = 10, replica_url: str | None = None,
                 replica_retry: float = 30.0, replica_max_lag: float | None = None) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._hot_writes = 0
        self._checkpoint: asyncio.Task[None] | None = None
        self.replica: ReplicaRouter | None = None
        if replica_url and self.is_sqlite:
            raise ValueError("a read replica needs PostgreSQL")
        if self.is_sqlite:
            self.writer = _sqlite_engine(url, immediate=True)
            self.reader = _sqlite_engine(url, immediate=False)
            self._engines = [self.writer, self.reader]
            self._hot: HotConnections | SqliteHotReader = SqliteHotReader(url)
            self._hot_writer: SqliteHotWriter | None = SqliteHotWriter(url)
        else:
            connect_args = {"timeout": 5, "command_timeout": 10}
            self.writer = create_async_engine(
                url,
                hide_parameters=True,  # statement parameters (hashes, emails) stay out of
                # logs and exception messages
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_timeout=10,
                connect_args=connect_args,
            )
            _ping_on_checkout(self.writer)
            self.reader = self.writer.execution_options(isolation_level="AUTOCOMMIT")
            self.hot = create_async_engine(
                url,
                hide_parameters=True,
                pool_size=pool_size,
                max_overflow=0,
                pool_timeout=10,
                isolation_level="AUTOCOMMIT",
                connect_args=connect_args,
            )
            self._engines = [self.writer, self.hot]
            self._hot = HotConnections(self.hot, pool_size)
            self._hot_writer = None
        self.stale: AsyncEngine = self.reader
        if replica_url:
            self.replica = ReplicaRouter(replica_url, url, pool_size=pool_size,
                                         retry=replica_retry, max_lag=replica_max_lag)
            self.stale = self.replica.engine
            self._engines.append(self.stale)

    async def hot_fetch_one(self, stmt: Executable, params: dict[str, Any]) -> Any:
        """The first row (a mapping) of a single-statement read on the hot path, or None."""
        rows = await self.hot_fetch_all(stmt, params)
        return rows[0] if rows else None

    async def hot_fetch_all(self, stmt: Executable, params: dict[str, Any]) -> Rows:
        """The rows (mappings) of a single-statement read of the request hot path, in one
        round trip (``hotpath``)."""
        return await self._hot.fetch(stmt, params)

    async def hot_write(self, stmt: Executable, params: dict[str, Any]) -> Rows:
        """Run a single-statement write that is atomic on its own (a counter's upsert, a
        session's insert) and return its ``RETURNING`` rows (empty without). PostgreSQL: on
        the hot connections, like ``hot_fetch_all``. SQLite: committed synchronously when
        the write lock is free at once (``SqliteHotWriter``), else in a transaction of the
        writer engine, which waits for the lock in its own thread. Never call it while the
        caller holds a writer transaction (on SQLite it would wait for itself)."""
        if self._hot_writer is None:
            return await self._hot.fetch(stmt, params)
        await asyncio.sleep(0)  # the loop's turn first (see SqliteHotWriter)
        rows = self._hot_writer.try_write(stmt, params)
        if rows is not None:
            self._hot_writes += 1
            if self._hot_writes >= CHECKPOINT_EVERY:
                self._checkpoint_soon()
            return rows
        async with self.writer.begin() as conn:
            result = await conn.execute(stmt, params)
            return cast(Rows, result.mappings().all() if result.returns_rows else [])

    def _checkpoint_soon(self) -> None:
        """The hot writer never checkpoints (``SqliteHotWriter``), so after every
        ``CHECKPOINT_EVERY`` of its commits a checkpoint runs on the writer engine's thread:
        the loop never does the copying or its fsync. RESTART, not PASSIVE: a passive one
        racing a stream of hot writes never finds the WAL wholly copied at a write's start,
        so the WAL never starts over and grows for as long as the writes go on; RESTART holds
        new writers off while it copies (the hot writer then hands its write to the writer
        engine, which waits in its own thread) and the next write starts the WAL afresh."""
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        self._hot_writes = 0

        async def checkpoint() -> None:
            try:
                async with self.writer.connect() as conn:  # outside any transaction
                    raw = (await conn.get_raw_connection()).driver_connection
                    assert raw is not None
                    await (await raw.execute("PRAGMA wal_checkpoint(RESTART)")).close()
            except Exception:  # the next round tries again; the writer's commits also do
                log.warning("SQLite WAL checkpoint failed", exc_info=True)

        self._checkpoint = asyncio.get_running_loop().create_task(checkpoint())

    async def dispose(self) -> None:
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
        await self._hot.close()
        if self._hot_writer is not None:
            self._hot_writer.close()
        for engine in self._engines:
            await engine.dispose()


class ReplicaRouter:
    """The lag-tolerant engine: connections to the read replica, or to the primary while the
    replica cannot be reached.

    A connection is opened on the replica; when that fails (refused, timed out, a replica
    still starting) it is opened on the primary instead and the replica is left alone for
    ``retry`` seconds (one warning per outage, the error's class only: no host, no
    password). Each checkout pings the connection (a dead replica connection is replaced
    the same way) and hands a primary connection back for replacement once the pause is
    over, so reads return to the replica by themselves. A failover costs no request: the
    answer comes from the primary, fresher than the replica's would have been.

    The checkout's ping also reads the replica's lag (0 when it has replayed all it
    received, else the age of the last transaction it replayed); beyond ``max_lag`` the
    replica is treated as down. It cannot see WAL the replica never received (a replica cut
    off from its primary reports no lag): monitor ``pg_stat_replication`` on the primary.
    """

    def __init__(self, replica_url: str, primary_url: str, *, pool_size: int,
                 retry: float, max_lag: float | None = None) -> None:
        from sqlalchemy.engine import make_url

        self.retry = retry
        self.down_until = 0.0
        """``time.monotonic()`` until which reads go to the primary."""
        self.fallbacks = 0
        """Connections opened on the primary instead of the replica (tests and operators read it)."""
        connect_args = {"timeout": 2, "command_timeout": 10}
        self.engine = create_async_engine(
            replica_url, hide_parameters=True, pool_size=pool_size, max_overflow=0,
            pool_timeout=10, isolation_level="AUTOCOMMIT", connect_args=connect_args)
        dialect = self.engine.sync_engine.dialect
        primary_args, primary_kw = dialect.create_connect_args(make_url(primary_url))
        primary_kw = {**primary_kw, **connect_args}
        router = self

        @event.listens_for(self.engine.sync_engine, "do_connect")
        def _connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
            if router.replica_due():
                try:
                    conn = dialect.connect(*cargs, **cparams)
                except Exception as exc:  # any failure: the primary answers instead
                    router.replica_failed(exc)
                else:
                    record.info["on_replica"] = True
                    return conn
            record.info["on_replica"] = False
            router.fallbacks += 1
            return dialect.connect(*primary_args, **primary_kw)

        @event.listens_for(self.engine.sync_engine, "checkout")
        def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
            on_replica = record.info.get("on_replica")
            if not on_replica and router.replica_due():
                raise DisconnectionError("the replica may be back: reconnect")
            try:  # the ping: on the replica it measures the lag in the same round trip
                lag = await_only(dbapi_conn.driver_connection.fetchval(
                    _LAG if on_replica else "SELECT 0", timeout=2))
            except Exception as exc:
                if on_replica:
                    router.replica_failed(exc)
                raise DisconnectionError("connection found dead at checkout") from exc
            if on_replica and max_lag is not None and lag is not None and lag > max_lag:
                router.replica_failed(ReplicaLagging())
                raise DisconnectionError("the replica lags too far behind")

    def replica_due(self) -> bool:
        return time.monotonic() >= self.down_until

    def replica_failed(self, exc: BaseException) -> None:
        if self.replica_due():
            log.warning("read replica unavailable (%s): lag-tolerant reads go to the "
                        "primary for %.0f s", type(exc).__name__, self.retry)
        self.down_until = time.monotonic() + self.retry


_LAG = ("SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
        "ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END")


class ReplicaLagging(Exception):
    """The replica's replay is further behind than ``database_replica_max_lag``."""


def _ping_on_checkout(engine: AsyncEngine) -> None:
    """``pool_pre_ping`` in one round trip: a dead connection is replaced before use."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        try:
            await_only(dbapi_conn.driver_connection.fetchrow(";"))
        except Exception as exc:
            raise DisconnectionError("connection found dead at checkout") from exc


def _sqlite_engine(url: str, *, immediate: bool) -> AsyncEngine:
    if ":memory:" in url:
        raise ValueError("in-memory SQLite is not supported; use a file path")
    engine = create_async_engine(url, connect_args={"timeout": 30}, pool_size=5, max_overflow=10,
                                 hide_parameters=True)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
