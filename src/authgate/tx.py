"""The unit of work: one AsyncSession per request or command, committed once at the edge.

Flows add rows and register what must happen only after commit (cache invalidation,
events, message delivery); the edge calls ``commit``. Nothing is half-written: either the
whole unit commits or none of it does.

Session-store writes happen outside an open unit of work: on SQLite a second writer
connection would wait on the first one's lock.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from authgate.db import database_unavailable
from authgate.errors import ServiceUnavailable

log = logging.getLogger("authgate.tx")
AfterCommit = Callable[[], Awaitable[None]]


class Tx:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._after: list[AfterCommit] = []

    def after_commit(self, action: AfterCommit) -> None:
        self._after.append(action)

    async def _run_after(self) -> None:
        for action in self._after:
            await action()


_DATABASE_FAILURES = (DBAPIError, SATimeoutError, ConnectionError, OSError, TimeoutError)


@contextmanager
def _outages_as_503() -> Iterator[None]:
    """A database that cannot serve us (unreachable, "too many clients", pool exhausted)
    becomes ServiceUnavailable; any other error passes through."""
    try:
        yield
    except _DATABASE_FAILURES as exc:
        if isinstance(exc, (DBAPIError, SATimeoutError)) and not database_unavailable(exc):
            raise
        log.warning("database unavailable: %s", exc.__class__.__name__)
        raise ServiceUnavailable("Database unavailable") from exc


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[Tx]:
    """Commit on success, roll back on any error; database outages become 503s."""
    with _outages_as_503():
        async with factory() as session:
            tx = Tx(session)
            try:
                yield tx
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
    await tx._run_after()


@asynccontextmanager
async def readonly(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for reads only (the reader engine); never commits."""
    with _outages_as_503():
        async with factory() as session:
            yield session
