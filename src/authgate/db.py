"""Declarative base, column types and engine construction shared by every model."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, cast

from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    Executable,
    MetaData,
    String,
    TypeDecorator,
    create_engine,
    event,
    make_url,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, mapped_column
from sqlalchemy.util import await_only

from authgate.hotpath import HotConnections, Rows

# aiosqlite logs every statement *with its parameters* (password hashes among them) at DEBUG,
# so a root logger at DEBUG would write them out. Quiet unless configured explicitly, as
# SQLAlchemy does for its own logger; our engines also hide parameters (hide_parameters).
if logging.getLogger("aiosqlite").level == logging.NOTSET:
    logging.getLogger("aiosqlite").setLevel(logging.INFO)

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


# SQLSTATE classes that mean "the database cannot serve us right now", not "this statement is
# wrong": 08 connection exception, 53 insufficient resources ("too many clients"), 57 operator
# intervention (shutting down, starting up, cancelled).
_UNAVAILABLE_SQLSTATE = ("08", "53", "57")


def database_unavailable(exc: BaseException) -> bool:
    """True for failures that are the database's state (answer 503 and retry), not a bug."""
    if isinstance(exc, (OperationalError, SATimeoutError)):  # incl. pool checkout timeout
        return True
    if isinstance(exc, DBAPIError):
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return exc.connection_invalidated or (
            isinstance(state, str) and state[:2] in _UNAVAILABLE_SQLSTATE)
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

    ``writer`` runs units of work. ``reader`` serves read-only flows and ``hot`` the
    single-statement read of the request hot path (``SessionStore.load``).

    On PostgreSQL ``reader`` shares the writer's pool in autocommit mode: under READ
    COMMITTED every statement has its own snapshot anyway, so a read-only transaction only
    added a BEGIN and a ROLLBACK round trip. ``hot`` is a small pool of its own, also in
    autocommit, checked out without a ping: its one caller retries once on a connection found
    dead (``hot_fetch_one``). The other pool pings each connection it hands out, as
    ``pool_pre_ping`` did, but with one round trip where SQLAlchemy's asyncpg ping spends
    three (BEGIN, ``;``, ROLLBACK).

    On SQLite they differ: write transactions start with ``BEGIN IMMEDIATE`` so two writers
    queue on the busy timeout instead of failing a read-to-write lock upgrade, while reads
    stay lock-free under WAL; ``hot`` is the reader.
    """

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.writer = _sqlite_engine(url, immediate=True)
            self.reader = _sqlite_engine(url, immediate=False)
            self.hot = self.reader
            self._engines = [self.writer, self.reader]
            self._hot_connections: HotConnections | None = None
            self._hot_sqlite: Engine | None = _sqlite_hot_engine(url)
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
            self._hot_connections = HotConnections(self.hot, pool_size)
            self._hot_sqlite = None

    async def hot_fetch_one(self, stmt: Executable, params: dict[str, Any]) -> Any:
        """The first row (a mapping) of a single-statement read on the hot path, or None."""
        rows = await self.hot_fetch_all(stmt, params)
        return rows[0] if rows else None

    async def hot_fetch_all(self, stmt: Executable, params: dict[str, Any]) -> Rows:
        """The rows (mappings) of a single-statement read of the request hot path: one round
        trip; a connection found dead is replaced and the read retried once. On PostgreSQL
        it runs on the driver directly (``hotpath``)."""
        if self._hot_connections is not None:
            return await self._hot_connections.fetch(stmt, params)
        if self._hot_sqlite is not None:
            with self._hot_sqlite.connect() as conn:  # see _sqlite_hot_engine
                return cast(Rows, conn.execute(stmt, params).mappings().all())
        for attempt in (1, 2):
            try:
                async with self.hot.connect() as conn:
                    return cast(Rows, (await conn.execute(stmt, params)).mappings().all())
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        return []  # pragma: no cover - the loop returns or raises

    async def dispose(self) -> None:
        if self._hot_connections is not None:
            await self._hot_connections.close()
        if self._hot_sqlite is not None:
            self._hot_sqlite.dispose()
        for engine in self._engines:
            await engine.dispose()


def _ping_on_checkout(engine: AsyncEngine) -> None:
    """``pool_pre_ping`` in one round trip: a dead connection is replaced before use."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        try:
            await_only(dbapi_conn.driver_connection.fetchrow(";"))
        except Exception as exc:
            raise DisconnectionError("connection found dead at checkout") from exc


def _sqlite_hot_engine(url: str) -> Engine:
    """The hot path's reads on SQLite, run synchronously on the event loop's thread.

    A point read on a WAL database takes tens of microseconds; aiosqlite's hand-off to its
    connection thread and back cost far more (GET /auth/verify-session: ~1,000 µs of CPU per
    request through it). WAL readers never wait for the writer, so the loop is not held up;
    the short busy timeout bounds the rare case that does wait (recovery of a crashed
    writer's WAL): past it the read fails as a 503 rather than stalling every request.
    """
    sync_url = make_url(url).set(drivername="sqlite+pysqlite")
    engine = create_engine(sync_url, hide_parameters=True, pool_size=2, max_overflow=4,
                           connect_args={"timeout": 0.5, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # autocommit: each read is its own snapshot
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA query_only=ON")
        cur.close()

    return engine


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
