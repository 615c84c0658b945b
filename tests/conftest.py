"""Test fixtures: real databases (SQLite file and PostgreSQL), real Redis, the real app.

Each test session creates its own PostgreSQL database and SQLite file, migrates them once,
and every test starts from empty tables. ``--db`` picks the backends (default: both).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from authgate import background, redisconn
from authgate.app import create_app
from authgate.clock import FrozenClock
from authgate.config import Settings
from authgate.db import Database
from authgate.migrate import upgrade
from authgate.models import Base
from authgate.resources import Resources
from authgate.sessions.memory_store import MemorySessionStore
from tests.browser import browser  # noqa: F401 (a fixture for every test)
from tests.idp import _idp_server, idp  # noqa: F401 (fixtures for every test)
from tests.redis_topologies import (  # noqa: F401 (fixtures for every test)
    fresh_cluster,
    fresh_sentinel,
    redis_cluster,
    redis_sentinel,
)
from tests.servers import (  # noqa: F401 (fixtures for every test)
    _sms_server,
    _smtp_server,
    sms_sink,
    smtp_sink,
)

if TYPE_CHECKING:
    from tests.factories import TestUser

PG_ADMIN = os.environ.get("AUTHGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("AUTHGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")
TEST_SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
# The cheapest argon2 parameters: tests exercise logic, the benchmark measures cost.
CHEAP_HASH = {"time_cost": 1, "memory_cost_kib": 8, "parallelism": 1}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", default=os.environ.get("AUTHGATE_TEST_DB", "both"),
                     choices=["sqlite", "postgres", "both"], help="database backends to test")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--db")
        backends = ["sqlite", "postgres"] if choice == "both" else [choice]
        metafunc.parametrize("backend", backends, scope="session")


@pytest.fixture(scope="session")
async def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("db") / "authgate.db"
        url = f"sqlite+aiosqlite:///{path}"
        db = Database(url)
        await upgrade(db.writer)
        await db.dispose()
        yield url
        return
    name = f"authgate_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = PG_ADMIN.rsplit("/", 1)[0]
    url = f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    db = Database(url)
    await upgrade(db.writer)
    await db.dispose()
    yield url
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _truncate(target: str | Database) -> None:
    """Empty every table (``target``: a URL, or an open Database to reuse). DELETE, also on
    PostgreSQL: on a dozen near-empty tables it took 4 ms where TRUNCATE took 100-200 ms (no
    table has a sequence to reset)."""
    db = Database(target) if isinstance(target, str) else target
    try:
        async with db.writer.begin() as conn:
            for t in reversed(Base.metadata.sorted_tables):
                await conn.execute(text(f"DELETE FROM {t.name}"))
    finally:
        if isinstance(target, str):
            await db.dispose()


@dataclass
class Harness:
    """One running app: its HTTP client, resources and controllable clock."""

    client: httpx.AsyncClient
    res: Resources
    clock: FrozenClock
    settings: Settings

    async def signup(self, email: str = "alice@example.com",
                     password: str = "correct horse battery", **extra: Any) -> httpx.Response:
        r = await self.client.post("/auth/signup", json={"email": email, "password": password,
                                                         **extra})
        return r

    async def login(self, email: str = "alice@example.com",
                    password: str = "correct horse battery", **extra: Any) -> httpx.Response:
        return await self.client.post("/auth/login", json={
            "providerName": "email", "credentials": {"email": email, "password": password},
            **extra})

    async def user_token(self, email: str = "alice@example.com",
                         password: str = "correct horse battery") -> str:
        r = await self.signup(email, password)
        assert r.status_code == 200, r.text
        token: str = r.json()["accessToken"]
        return token

    async def make_user(self, email: str = "alice@example.com", **options: Any) -> TestUser:
        """A user written straight into the database (``tests/factories.make_user``)."""
        from tests.factories import make_user

        return await make_user(self, email, **options)

    async def session_token(self, email: str = "alice@example.com",
                            password: str = "correct horse battery") -> str:
        """What ``user_token`` gives (a new user's access token, from the session signup
        would open) without the signup request: for tests that are not about signup."""
        u = await self.make_user(email, password=password, tokens=True)
        assert u.access_token is not None
        return u.access_token


def base_settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "jwt": {"secret": TEST_SECRET},
        "password_hash": CHEAP_HASH,
        "auto_migrate": False,
        "redis_url": REDIS_URL,
        "redis_prefix": f"authgate-test:{uuid.uuid4().hex[:12]}:",
        # Tests read codes from the outbox or an SMTP sink with PostgreSQL and Redis: say
        # so (production mode refuses the outbox), and serve the API docs the tests read.
        "dev_mode": True,
        "docs": {"enabled": True},
        # Security notices (on by default) are tested in tests/delivery/test_security_notices.py;
        # elsewhere they would be extra mails in every sink a test reads.
        "notifications": {"security_emails": False},
        # The scheduled purge would race tests reading expired rows; tests/test_housekeeping.py
        # turns it on.
        "housekeeping": {"enabled": False},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return Settings(**values)


MakeHarness = Callable[..., Awaitable[Harness]]

# Settings a test passes to point an app at something of its own (a TCP proxy, a Redis
# prefix shared by several instances): such an app is started for that test and closed after.
_NOT_POOLED = {"database_url", "database_replica_url", "redis_prefix", "redis_url"}
_PLAIN = (bool, int, float, str, bytes, type(None))


@dataclass
class _Started:
    """A started app kept between tests, with what a test must not change about it."""

    key: str
    app: Any
    lifespan: Any
    res: Resources
    clock: FrozenClock
    settings: Settings
    attrs: dict[str, Any]
    containers: list[tuple[Any, dict[str, Any]]]
    routes: int

    def rebound(self) -> bool:
        """Did the test replace a collaborator (``h.res.hasher = ...``) or touch the app?
        A changed plain value (a flag such as "warned once") is put back instead."""
        now = vars(self.res)
        replaced = [k for k, v in self.attrs.items()
                    if now.get(k) is not v and not isinstance(v, _PLAIN)]
        return (bool(replaced) or set(now) != set(self.attrs)
                or len(self.app.router.routes) != self.routes
                or bool(self.app.dependency_overrides))


class AppPool:
    """Started apps kept for the next test with the same settings (one pool per database).

    Building and starting an app was about half of a test's time. Between tests an app is
    put back as a new one would start: background work drained, its Redis keys and
    in-process session store emptied, the containers of its Resources and event bus
    (background tasks, subscribers) and its plain values (flags) as after start-up,
    the outbox emptied, the clock at the present; the tables are emptied before each test.
    An app whose collaborators a test replaced is closed instead. At most ``limit`` idle
    apps are kept; a PostgreSQL app keeps at most two idle writer connections.
    """

    def __init__(self, url: str, root: Path, limit: int) -> None:
        self.url = url
        self.root = root
        self.limit = limit
        self.idle: OrderedDict[str, list[_Started]] = OrderedDict()
        self.built = 0
        self.reused = 0
        self.built_keys: Counter[str] = Counter()

    @staticmethod
    def key(overrides: dict[str, Any]) -> str | None:
        pooled = not (_NOT_POOLED & {k for k, v in overrides.items() if v is not None})
        return json.dumps(overrides, sort_keys=True, default=repr) if pooled else None

    async def take(self, overrides: dict[str, Any]) -> _Started:
        key = self.key(overrides)
        if key is not None and self.idle.get(key):
            started = self.idle[key].pop()
            if not self.idle[key]:
                del self.idle[key]
            started.clock.set(datetime.now(UTC))
            self.reused += 1
            return started
        # data_dir holds the development mail outbox: keep it out of the working tree.
        data_dir = Path(tempfile.mkdtemp(prefix="app", dir=self.root))
        settings = base_settings(self.url, **{"data_dir": data_dir, **overrides})
        clock = FrozenClock()
        app = create_app(settings, clock=clock)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        res: Resources = app.state.authgate
        self.built += 1
        self.built_keys[key or "(not pooled)"] += 1
        return _Started(
            key=key or "", app=app, lifespan=lifespan, res=res, clock=clock, settings=settings,
            attrs=dict(vars(res)),
            containers=[(obj, _containers(obj)) for obj in (res, res.events)],
            routes=len(app.router.routes))

    async def give_back(self, started: _Started) -> None:
        if not started.key or started.rebound():
            await self.close(started)
            return
        try:
            await self.reset(started)
        except Exception:
            await self.close(started)
            raise
        self.idle.setdefault(started.key, []).append(started)
        self.idle.move_to_end(started.key)
        while sum(len(v) for v in self.idle.values()) > self.limit:
            _, oldest = next(iter(self.idle.items()))
            victim = oldest.pop(0)
            if not oldest:
                self.idle.popitem(last=False)
            await self.close(victim)

    async def reset(self, started: _Started) -> None:
        res = started.res
        await background.drain(res, timeout=15)
        for obj, saved in started.containers:  # background tasks, event subscribers
            _restore(obj, saved)
        for name, value in started.attrs.items():
            if isinstance(value, _PLAIN):
                setattr(res, name, value)
        await _drop_redis_keys(res)
        if isinstance(res.store, MemorySessionStore):
            for value in vars(res.store).values():
                if isinstance(value, dict):
                    value.clear()
        outbox = started.settings.resolved_data_dir() / "outbox"
        if outbox.exists():
            shutil.rmtree(outbox)
        writer = res.db.writer
        if not res.db.is_sqlite and writer.pool.checkedin() > 2:  # type: ignore[attr-defined]
            await writer.dispose()  # a concurrency test opened many: do not hoard them

    async def close(self, started: _Started) -> None:
        try:
            await _drop_redis_keys(started.res)
        except redisconn.failures():
            if started.settings.redis_url == REDIS_URL:
                raise  # only a Redis of the test's own (a stopped cluster node) may be gone
        await started.lifespan.__aexit__(None, None, None)

    async def close_all(self) -> None:
        while self.idle:
            _, apps = self.idle.popitem()
            for started in apps:
                await self.close(started)


def _containers(obj: Any) -> dict[str, Any]:
    """Copies of the dict/list/set attributes of ``obj`` (their values copied one level deep:
    the event bus keeps a list of subscribers per event)."""
    out: dict[str, Any] = {}
    for name, value in getattr(obj, "__dict__", {}).items():
        if isinstance(value, dict):
            out[name] = {k: v.copy() if isinstance(v, list | set) else v
                         for k, v in value.items()}
        elif isinstance(value, list | set):
            out[name] = value.copy()
    return out


def _restore(obj: Any, saved: dict[str, Any]) -> None:
    """Put the containers of ``obj`` back as ``_containers`` saw them, in place (code that
    holds a reference to one sees the reset too)."""
    for name, value in saved.items():
        current = getattr(obj, name)
        current.clear()
        if isinstance(current, dict):
            current.update({k: v.copy() if isinstance(v, list | set) else v
                            for k, v in value.items()})
        elif isinstance(current, list):
            current.extend(value)
        else:
            current.update(value)


async def _drop_redis_keys(res: Resources) -> None:
    """Sessions written to Redis live for days: drop this app's keys."""
    if res.redis is None:
        return
    prefix = res.settings.redis_prefix
    keys = [k async for k in res.redis.scan_iter(match=f"{prefix}*", count=500)]
    if keys:
        await res.redis.delete(*keys)


@pytest.fixture(scope="session")
async def _app_pool(database_url: str, tmp_path_factory: pytest.TempPathFactory
                    ) -> AsyncIterator[AppPool]:
    # An idle PostgreSQL app holds connections to a server shared by several test runs.
    default = "24" if database_url.startswith("sqlite") else "10"
    limit = int(os.environ.get("AUTHGATE_TEST_APP_POOL", default))
    pool = AppPool(database_url, tmp_path_factory.mktemp("apps"), limit)
    yield pool
    _POOL_STATS[0] += pool.built
    _POOL_STATS[1] += pool.reused
    if os.environ.get("AUTHGATE_TEST_POOL_DEBUG"):
        for key, n in pool.built_keys.most_common(40):
            print(f"\nbuilt {n}x: {key}")
    await pool.close_all()


_POOL_STATS = [0, 0]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    built, reused = _POOL_STATS
    if built or reused:
        terminalreporter.write_line(f"apps: {built} started, {reused} reused")


@pytest.fixture(scope="session")
async def _cleaner(database_url: str) -> AsyncIterator[Database]:
    """One engine that empties the tables before each test."""
    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture
async def make_harness(database_url: str, _app_pool: AppPool, _cleaner: Database
                       ) -> AsyncIterator[MakeHarness]:
    """Factory: ``await make_harness(mfa={"required": True})`` → a started app, with empty
    tables and a fresh client. Apps are reused between tests with the same settings
    (``AppPool``); two calls in one test always give two distinct apps."""
    await _truncate(_cleaner)
    taken: list[tuple[_Started, httpx.AsyncClient]] = []

    async def _make(**overrides: Any) -> Harness:
        started = await _app_pool.take(overrides)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=started.app, raise_app_exceptions=False),
            base_url="http://testserver")
        taken.append((started, client))
        return Harness(client=client, res=started.res, clock=started.clock,
                       settings=started.settings)

    yield _make
    for started, client in reversed(taken):
        await client.aclose()
        await _app_pool.give_back(started)


@pytest.fixture
async def h(make_harness: MakeHarness) -> Harness:
    """The default app (MFA on with totp+email, toggle allowed, database sessions)."""
    return await make_harness()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


