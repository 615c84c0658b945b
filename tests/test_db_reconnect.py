"""Pooled PostgreSQL connections that die (a server restart, an administrator terminating
backends) are replaced before use: the hot path retries once, the other pool pings each
connection it hands out. The next requests succeed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from sqlalchemy import literal_column, select, text

from authgate.db import Database
from tests.conftest import PG_ADMIN, MakeHarness, bearer

MakeDb = Callable[[int], Database]


@pytest.fixture
async def pg_database(backend: str, database_url: str) -> AsyncIterator[MakeDb]:
    """``make(pool_size)`` → a Database on the test's PostgreSQL (disposed afterwards)."""
    if backend != "postgres":
        pytest.skip("the driver-level hot path is PostgreSQL's")
    made: list[Database] = []

    def make(pool_size: int) -> Database:
        made.append(Database(database_url, pool_size=pool_size))
        return made[-1]

    yield make
    for db in made:
        await db.dispose()


async def _terminate_backends(database_url: str) -> int:
    dbname = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        rows = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()", dbname)
    finally:
        await admin.close()
    return len(rows)


async def test_requests_survive_terminated_connections(
    backend: str, database_url: str, make_harness: MakeHarness
) -> None:
    if backend != "postgres":
        pytest.skip("PostgreSQL connection pools only")
    h = await make_harness()
    token = await h.user_token()
    auth = bearer(token)
    # Use every pool once so each holds a live connection (the hot path several).
    import asyncio

    users = await asyncio.gather(*[h.client.get("/auth/user", headers=auth) for _ in range(6)])
    assert all(r.status_code == 200 for r in users)
    assert (await h.client.get("/auth/mfa/status", headers=auth)).status_code == 200
    assert (await h.client.post("/auth/mfa/toggle", headers=auth,
                                json={"enabled": False})).status_code == 200

    assert await _terminate_backends(database_url) >= 2

    r = await h.client.get("/auth/user", headers=auth)  # hot path: one retry
    assert r.status_code == 200, r.text
    r = await h.client.get("/auth/mfa/status", headers=auth)  # reader: ping at checkout
    assert r.status_code == 200, r.text
    r = await h.client.post("/auth/mfa/toggle", headers=auth, json={"enabled": False})
    assert r.status_code == 200, r.text  # writer: ping at checkout


async def test_hot_connections_are_shared_bounded_and_survive_failed_statements(
    pg_database: MakeDb,
) -> None:
    db = pg_database(2)
    stmt = select(literal_column("pg_backend_pid()").label("pid"), text("pg_sleep(0.02)"))
    rows = await asyncio.gather(*[db.hot_fetch_one(stmt, {}) for _ in range(12)])
    assert len({r["pid"] for r in rows}) == 2  # twelve reads queued on two connections
    bad = select(literal_column("1").label("x")).select_from(text("no_such_table"))
    for _ in range(5):  # more failures than connections: each is given back
        with pytest.raises(asyncpg.UndefinedTableError):
            await db.hot_fetch_one(bad, {})
    row = await db.hot_fetch_one(select(literal_column("41 + 1").label("n")), {})
    assert row["n"] == 42


async def test_hot_path_is_read_only(database_url: str, backend: str) -> None:
    """The hot reads run outside any unit of work: on SQLite their connection refuses writes
    (a write belongs in a transaction, where a failure rolls the whole unit back)."""
    if backend != "sqlite":
        pytest.skip("SQLite's hot reader is a query-only connection")
    import sqlite3

    from sqlalchemy import update

    from authgate.identity.models import User

    db = Database(database_url)
    try:
        assert (await db.hot_fetch_one(select(literal_column("7").label("n")), {}))["n"] == 7
        with pytest.raises(Exception) as caught:
            await db.hot_fetch_all(update(User).values(status="x"), {})
        assert isinstance(caught.value.__cause__ or caught.value, sqlite3.OperationalError)
    finally:
        await db.dispose()


async def test_hot_connections_are_handed_out_in_arrival_order(pg_database: MakeDb) -> None:
    """A request that gives a connection back and at once asks again (as a busy keep-alive
    client does) must queue behind the requests already waiting: one client must not keep the
    connection while the others starve (that was the PostgreSQL p99 tail)."""
    db = pg_database(1)
    stmt = select(literal_column("1").label("n"))
    order: list[int] = []

    async def client(i: int) -> None:
        for _ in range(15):
            await db.hot_fetch_one(stmt, {})
            order.append(i)

    await asyncio.gather(*(client(i) for i in range(3)))
    streak = longest = 1
    for a, b in zip(order, order[1:], strict=False):
        streak = streak + 1 if a == b else 1
        longest = max(longest, streak)
    assert longest <= 2, order


async def test_a_cancelled_waiter_does_not_lose_the_connection(pg_database: MakeDb) -> None:
    db = pg_database(1)
    slow = select(literal_column("1").label("n"), text("pg_sleep(0.2)"))
    quick = select(literal_column("2").label("n"))
    first = asyncio.create_task(db.hot_fetch_one(slow, {}))
    await asyncio.sleep(0.05)
    waiting = asyncio.create_task(db.hot_fetch_one(quick, {}))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert (await first)["n"] == 1
    row = await asyncio.wait_for(db.hot_fetch_one(quick, {}), timeout=2)
    assert row["n"] == 2
