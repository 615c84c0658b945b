"""Housekeeping: purge the rows that have served their purpose, in bounded batches, one
process at a time.

Each table that collects dead rows owns its purge: the module of the table registers a
task with ``purges`` — ``purges.register("kind", purge, count=count)``, where
``purge(res, now)`` deletes and answers how many rows went and ``count(res, now)`` (for
``--dry-run``) how many would; ``purges.register_rows("kind", table, where)`` builds both
for a "delete the rows matching ``where``" task. The built-ins live in the ``purge`` module
of each package named in ``BUILTINS``, imported by name the first time the registry is read
(as ``authgate.registry`` does), so this module imports no feature.

``run(res)`` takes the purge lock, runs every task (a failing one is logged and the others
still run) and reports the rows per kind; ``Scheduler`` runs it inside the server every
``housekeeping.interval`` plus a random jitter and stops with the app. The lock is one per
deployment: Redis (``SET NX PX`` with a random token, extended while the run lasts and
released only by its holder) when ``redis_url`` is set, else a PostgreSQL session advisory
lock, else an exclusive ``flock`` on a file beside the SQLite database (every worker on the
machine). Two overlapping runs would still be correct (each batch deletes only rows that
are already dead, and PostgreSQL skips rows another transaction holds); the lock keeps the
processes from doing the same work twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import importlib
import logging
import os
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import ColumnElement, Table, delete, func, select, text

from authgate.config import sqlite_path
from authgate.db import database_unavailable
from authgate.errors import ServiceUnavailable
from authgate.tx import readonly, transaction

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from authgate.redisconn import RedisClient
    from authgate.resources import Resources

log = logging.getLogger("authgate.housekeeping")

PurgeFn = Callable[["Resources", datetime], Awaitable[int]]
Where = Callable[["Resources", datetime], ColumnElement[bool]]

BUILTINS = (
    "authgate.sessions.purge",
    "authgate.otp.purge",
    "authgate.throttling.purge",
    "authgate.mfa.purge",
    "authgate.federation.purge",
    "authgate.admin.purge",
    "authgate.audit.purge",
)
"""Modules that register the built-in tasks when imported."""

LOCK_TTL = timedelta(minutes=2)
"""The Redis lock's lifetime; a run extends it every third of that, so a process that dies
mid-run frees the lock within this long."""


@dataclass(frozen=True, slots=True)
class PurgeTask:
    name: str
    purge: PurgeFn
    count: PurgeFn | None = None
    """Rows ``purge`` would delete now (the dry run); None: the task cannot tell."""
    applies: Callable[[Resources], bool] | None = None
    """False: nothing to do in this deployment (e.g. the Redis index without Redis)."""

    def wanted(self, res: Resources) -> bool:
        return self.applies is None or self.applies(res)


class PurgeTasks:
    """The registry of purge tasks, in registration order."""

    def __init__(self, builtins: tuple[str, ...]) -> None:
        self._builtins = builtins
        self._loaded = False
        self._tasks: dict[str, PurgeTask] = {}

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self._builtins:
                importlib.import_module(module)

    def register(self, name: str, purge: PurgeFn, *, count: PurgeFn | None = None,
                 applies: Callable[[Resources], bool] | None = None) -> PurgeTask:
        """Add a task; a name is registered once."""
        if name in self._tasks:
            raise ValueError(f"purge task {name!r} is already registered")
        task = PurgeTask(name, purge, count, applies)
        self._tasks[name] = task
        return task

    def register_rows(self, name: str, table: Table, where: Where, *,
                      applies: Callable[[Resources], bool] | None = None) -> PurgeTask:
        """A task deleting ``table``'s rows matching ``where(res, now)`` in batches."""

        async def purge(res: Resources, now: datetime) -> int:
            return await delete_rows(res, table, where(res, now))

        async def count(res: Resources, now: datetime) -> int:
            return await count_rows(res, table, where(res, now))

        return self.register(name, purge, count=count, applies=applies)

    def unregister(self, name: str) -> None:
        del self._tasks[name]

    def names(self) -> tuple[str, ...]:
        self._load()
        return tuple(self._tasks)

    def __iter__(self) -> Iterator[PurgeTask]:
        self._load()
        return iter(list(self._tasks.values()))


purges = PurgeTasks(BUILTINS)


def cutoff(res: Resources, now: datetime) -> datetime:
    """Rows that expired before this are purged (``housekeeping.grace`` ago)."""
    grace = res.settings.housekeeping.grace
    return now - grace if grace is not None else now


# batches -------------------------------------------------------------------------------------
async def delete_rows(res: Resources, table: Table, where: ColumnElement[bool], *,
                      batch: int | None = None) -> int:
    """Delete the rows matching ``where``, ``batch`` (``housekeeping.batch_size``) at a
    time, each batch in a transaction of its own (a backlog never holds a long lock; on
    SQLite other writers get the lock between batches). Stops early when the run is asked
    to stop."""
    [key] = table.primary_key.columns
    size = batch or res.settings.housekeeping.batch_size
    total = 0
    while True:
        picked = select(key).where(where).limit(size)
        if not res.db.is_sqlite:  # never wait for a row a request is using right now
            picked = picked.with_for_update(skip_locked=True)
        async with transaction(res.sessionmaker) as tx:
            result = await tx.session.execute(delete(table).where(key.in_(picked)))
        done = int(result.rowcount)  # type: ignore[attr-defined]
        total += done
        if done < size or not await checkpoint():
            return total


async def count_rows(res: Resources, table: Table, where: ColumnElement[bool]) -> int:
    async with readonly(res.readmaker) as s:
        return int((await s.execute(
            select(func.count()).select_from(table).where(where))).scalar_one())


# the run's state, for tasks between batches -----------------------------------------------------
class _Lock(Protocol):
    kind: str

    async def acquire(self) -> bool: ...

    async def extend(self) -> bool: ...

    async def release(self) -> None: ...


@dataclass
class _Run:
    lock: _Lock
    res: Resources
    stop: asyncio.Event | None
    extended: float = field(default_factory=time.monotonic)
    interrupted: bool = False

    async def checkpoint(self) -> bool:
        """False once the run should end: stop asked, the process draining, the lock lost."""
        if (self.stop is not None and self.stop.is_set()) or self.res.drain.active:
            self.interrupted = True
            return False
        if time.monotonic() - self.extended > LOCK_TTL.total_seconds() / 3:
            if not await self.lock.extend():
                log.warning("housekeeping: the purge lock was lost; stopping this run")
                self.interrupted = True
                return False
            self.extended = time.monotonic()
        return True


_current: contextvars.ContextVar[_Run | None] = contextvars.ContextVar(
    "authgate_housekeeping_run", default=None)


async def checkpoint() -> bool:
    """For a task working in steps: False when the run should stop (call between steps)."""
    run_state = _current.get()
    return True if run_state is None else await run_state.checkpoint()


# locks ---------------------------------------------------------------------------------------
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class RedisLock:
    kind = "redis"

    def __init__(self, client: RedisClient, key: str, ttl: timedelta = LOCK_TTL) -> None:
        self._r = client
        self._key = key
        self._token = secrets.token_hex(16)
        self._ttl_ms = int(ttl.total_seconds() * 1000)

    async def acquire(self) -> bool:
        return bool(await self._r.set(self._key, self._token, nx=True, px=self._ttl_ms))

    async def extend(self) -> bool:
        return bool(await self._r.eval(_EXTEND, 1, self._key, self._token, self._ttl_ms))

    async def release(self) -> None:
        await self._r.eval(_RELEASE, 1, self._key, self._token)


ADVISORY_KEY = int.from_bytes(hashlib.sha256(b"authgate:housekeeping").digest()[:8], "big",
                              signed=True)


class AdvisoryLock:
    """A PostgreSQL session-level advisory lock, held by one connection for the run (if the
    process dies, the server ends the connection and the lock with it)."""

    kind = "postgresql"

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None

    async def acquire(self) -> bool:
        conn = await self._engine.connect()
        try:
            got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                      {"k": ADVISORY_KEY})).scalar_one()
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def extend(self) -> bool:
        return self._conn is not None and not self._conn.closed

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
        except Exception:
            await conn.invalidate()  # a closed connection releases its locks
        finally:
            await conn.close()


class FileLock:
    """An exclusive ``flock`` on a file beside the SQLite database: every process on the
    machine that opens the same database sees it (two opens in one process do too)."""

    kind = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    async def acquire(self) -> bool:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def extend(self) -> bool:
        return self._fd is not None

    async def release(self) -> None:
        import fcntl

        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def lock_for(res: Resources) -> _Lock:
    """The deployment's purge lock (see the module docstring)."""
    if res.redis is not None:
        return RedisLock(res.redis, f"{res.settings.redis_prefix}housekeeping:lock")
    if not res.db.is_sqlite:
        return AdvisoryLock(res.db.reader)
    path = sqlite_path(res.settings.database_url)
    if path is None:  # pragma: no cover - Database refuses in-memory SQLite
        raise ValueError("housekeeping needs a SQLite file")
    return FileLock(path.with_name(path.name + ".purge-lock"))


async def _acquire(lock: _Lock) -> bool:
    """Outages of the lock's store (Redis, PostgreSQL) become ServiceUnavailable."""
    try:
        return await lock.acquire()
    except (OSError, ConnectionError, TimeoutError) as exc:
        raise ServiceUnavailable("Purge lock unavailable") from exc
    except Exception as exc:
        if database_unavailable(exc) or type(exc).__module__.startswith("redis"):
            raise ServiceUnavailable("Purge lock unavailable") from exc
        raise


# the run -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Outcome:
    name: str
    rows: int | None
    """Rows purged (or, in a dry run, that would be); None: the task cannot count."""
    error: str | None = None
    """The exception's class when the task failed (its details are in the log)."""


@dataclass(frozen=True, slots=True)
class PurgeReport:
    dry_run: bool
    ran: bool
    """False: another process holds the purge lock; nothing was done."""
    lock: str
    outcomes: list[Outcome]
    interrupted: bool = False
    """The run stopped early (shutdown, the lock lost); what is left waits for the next."""

    @property
    def total(self) -> int:
        return sum(o.rows or 0 for o in self.outcomes)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error is not None]


def _selected(res: Resources, only: Collection[str] | None) -> list[PurgeTask]:
    if only is not None:
        unknown = sorted(set(only) - set(purges.names()))
        if unknown:
            raise ValueError(f"unknown purge kind(s): {', '.join(unknown)}; known: "
                             + ", ".join(purges.names()))
    return [t for t in purges if t.wanted(res) and (only is None or t.name in only)]


async def _attempt(name: str, fn: PurgeFn, res: Resources, now: datetime) -> Outcome:
    try:
        return Outcome(name, await fn(res, now))
    except Exception as exc:
        # Statements carry no parameters in errors (hide_parameters): no secret reaches it.
        log.error("housekeeping: %s failed (%s)", name, type(exc).__name__, exc_info=True)
        return Outcome(name, None, type(exc).__name__)


async def run(res: Resources, *, dry_run: bool = False, only: Collection[str] | None = None,
              stop: asyncio.Event | None = None) -> PurgeReport:
    """Purge every registered kind (or those in ``only``; ValueError names an unknown one).
    ``dry_run`` counts without deleting and takes no lock. Raises ServiceUnavailable when
    the lock's store cannot be reached; a task's own failure is reported, not raised."""
    tasks = _selected(res, only)
    now = res.clock.now()
    if dry_run:
        outcomes = [await _attempt(t.name, t.count, res, now) if t.count is not None
                    else Outcome(t.name, None) for t in tasks]
        return PurgeReport(dry_run=True, ran=True, lock="none", outcomes=outcomes)
    lock = lock_for(res)
    if not await _acquire(lock):
        return PurgeReport(dry_run=False, ran=False, lock=lock.kind, outcomes=[])
    state = _Run(lock, res, stop)
    token = _current.set(state)
    outcomes = []
    try:
        for t in tasks:
            if not await state.checkpoint():
                break
            outcomes.append(await _attempt(t.name, t.purge, res, now))
    finally:
        _current.reset(token)
        try:
            await lock.release()
        except Exception:  # it expires (Redis) or goes with its connection (PostgreSQL)
            log.warning("housekeeping: could not release the purge lock", exc_info=True)
    return PurgeReport(dry_run=False, ran=True, lock=lock.kind, outcomes=outcomes,
                       interrupted=state.interrupted)


# the schedule --------------------------------------------------------------------------------
class Scheduler:
    """Runs ``run`` inside the server every ``interval`` plus up to ``jitter`` (the first run
    after a jittered delay too). Errors are logged, never raised; ``stop`` lets a run in
    progress finish its batch, then waits at most ``timeout`` before cancelling it."""

    def __init__(self, res: Resources, *, interval: timedelta | None = None,
                 jitter: timedelta | None = None) -> None:
        cfg = res.settings.housekeeping
        self.res = res
        self.interval = (interval or cfg.interval).total_seconds()
        self.jitter = (jitter if jitter is not None else cfg.jitter).total_seconds()
        self.runs = 0
        self.last: PurgeReport | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="authgate housekeeping")

    async def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _delay(self, base: float) -> float:
        return base + random.uniform(0, self.jitter)  # noqa: S311 - spreading, not secrecy

    async def _loop(self) -> None:
        delay = self._delay(0.0)
        while True:
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
                return  # stop was asked
            except TimeoutError:
                pass
            await self._once()
            delay = self._delay(self.interval)

    async def _once(self) -> None:
        try:
            report = await run(self.res, stop=self._stop)
        except Exception as exc:
            log.error("housekeeping: run failed (%s)", type(exc).__name__, exc_info=True)
            return
        self.runs += 1
        self.last = report
        if not report.ran:
            log.debug("housekeeping: another process holds the purge lock")
        elif report.total or report.failed:
            log.info("housekeeping: purged %s", _summary(report))


def _summary(report: PurgeReport) -> str:
    parts = [f"{o.name}={o.rows if o.error is None else 'failed'}" for o in report.outcomes
             if o.rows or o.error]
    return ", ".join(parts) or "nothing"


def report_dict(report: PurgeReport) -> dict[str, Any]:
    """The report as JSON data (``authgate purge --json``)."""
    return {"dryRun": report.dry_run, "ran": report.ran, "lock": report.lock,
            "interrupted": report.interrupted,
            "kinds": {o.name: o.rows for o in report.outcomes},
            "errors": {o.name: o.error for o in report.failed}, "total": report.total}
