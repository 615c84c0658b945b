"""Test fixtures: real databases (SQLite file and PostgreSQL), real Redis, the real app.

Each test session creates its own PostgreSQL database and SQLite file, migrates them once,
and every test starts from empty tables. ``--db`` picks the backends (default: both).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from authgate.app import create_app
from authgate.clock import FrozenClock
from authgate.config import Settings
from authgate.db import Database
from authgate.migrate import upgrade
from authgate.models import Base
from authgate.resources import Resources
from tests.servers import sms_sink, smtp_sink  # noqa: F401 (fixtures for every test)

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


async def _truncate(url: str) -> None:
    db = Database(url)
    try:
        async with db.writer.begin() as conn:
            tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
            if db.is_sqlite:
                for t in tables:
                    await conn.execute(text(f"DELETE FROM {t}"))
            else:
                await conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
    finally:
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
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return Settings(**values)


MakeHarness = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def make_harness(database_url: str, tmp_path: Path) -> AsyncIterator[MakeHarness]:
    """Factory: ``await make_harness(mfa={"required": True})`` → a started app."""
    await _truncate(database_url)
    stack: list[tuple[Any, httpx.AsyncClient, Any]] = []

    async def _make(**overrides: Any) -> Harness:
        # data_dir holds the development mail outbox: keep it out of the working tree.
        settings = base_settings(database_url, **{"data_dir": tmp_path, **overrides})
        clock = FrozenClock()
        app = create_app(settings, clock=clock)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://testserver")
        stack.append((lifespan, client, app))
        return Harness(client=client, res=app.state.authgate, clock=clock, settings=settings)

    yield _make
    for lifespan, client, app in reversed(stack):
        await client.aclose()
        res: Resources = app.state.authgate
        if res.redis is not None:  # sessions written to Redis live for days: drop them
            prefix = res.settings.redis_prefix
            keys = [k async for k in res.redis.scan_iter(match=f"{prefix}*", count=500)]
            if keys:
                await res.redis.delete(*keys)
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def h(make_harness: MakeHarness) -> Harness:
    """The default app (MFA on with totp+email, toggle allowed, database sessions)."""
    return await make_harness()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


