"""Declarative base, column types and engine construction shared by every model."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import JSON, DateTime, Executable, MetaData, String, TypeDecorator, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, mapped_column
from sqlalchemy.util import await_only

from authgate.hotpath import UNAVAILABLE_SQLSTATE, HotConnections, Rows, SqliteHotReader

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
    request hot path (``hot_fetch_one``/``hot_fetch_all``) run in ``hotpath``.

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
    """

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.writer = _sqlite_engine(url, immediate=True)
            self.reader = _sqlite_engine(url, immediate=False)
            self._engines = [self.writer, self.reader]
            self._hot: HotConnections | SqliteHotReader = SqliteHotReader(url)
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

    async def hot_fetch_one(self, stmt: Executable, params: dict[str, Any]) -> Any:
        """The first row (a mapping) of a single-statement read on the hot path, or None."""
        rows = await self.hot_fetch_all(stmt, params)
        return rows[0] if rows else None

    async def hot_fetch_all(self, stmt: Executable, params: dict[str, Any]) -> Rows:
        """The rows (mappings) of a single-statement read of the request hot path, in one
        round trip (``hotpath``)."""
        return await self._hot.fetch(stmt, params)

    async def dispose(self) -> None:
        await self._hot.close()
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
