"""The unit of work: one AsyncSession per flow step, committed once.

The rule that holds everywhere:

* **Flows own their units of work.** A flow opens ``transaction(...)`` (or
  ``codes.consume(...)``, which is one) around its writes, registers what must happen only
  after the commit (``tx.after_commit``: cache invalidation, events, message delivery) and
  commits by leaving the block. Routes never open one: they parse, call one flow, serialise.
  Nothing is half-written: either the whole unit commits or none of it does.
* **Never write the session store while a writer transaction is open.** Commit first, then
  revoke/rotate sessions or drop the cached user (``res.store``, ``Sessions``): on SQLite a
  second writer connection waits on the first one's lock for the busy timeout, and on every
  database a session must not outlive a rolled-back change. ``tests/http/test_flows_edge.py``
  checks the source for store writes inside these blocks.
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
        raise ServiceUnavailable("Database unavailable", backend="database") from exc


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
