"""A PostgreSQL read replica (issue 16 §1): the reads that tolerate lag go to a real streaming
replica this test starts (``tests/pg_replica.py``), everything that must be fresh stays on
the primary — proven with replay paused on the replica: the admin lists and statistics
read stale rows while a sign-in, a revocation and the session look-up see the primary at
once. A replica that goes away, or lags beyond ``database_replica_max_lag``, sends those
reads to the primary (logged, no request fails) and they come back to the replica by
themselves once it is up again."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from authgate.admin import stats
from authgate.admin.users import list_users
from authgate.resources import Resources
from authgate.tx import readonly
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error
from tests.pg_replica import ReplicatedPostgres, pg_replica  # noqa: F401 (fixture)

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _postgres_only(backend: str) -> None:
    if backend == "sqlite":
        pytest.skip("a read replica is PostgreSQL's")


async def _app(make_harness: MakeHarness, pg: ReplicatedPostgres, **extra: Any) -> Harness:
    return await make_harness(database_url=pg.primary_url, database_replica_url=pg.replica_url,
                              redis_url=None, **extra)


async def _on_replica(res: Resources) -> bool:
    """Which server answers a lag-tolerant read (a replica is in recovery)."""
    async with readonly(res.stale_readmaker) as s:
        return bool((await s.execute(text("SELECT pg_is_in_recovery()"))).scalar_one())


async def _listed(res: Resources) -> set[str]:
    page = await list_users(res, limit=100)
    return {u.user.email for u in page.items}


async def test_lag_tolerant_reads_go_to_the_replica_fresh_ones_stay_on_the_primary(
        pg_replica: ReplicatedPostgres, make_harness: MakeHarness) -> None:  # noqa: F811
    pg = pg_replica
    h = await _app(make_harness, pg)
    alice = await h.user_token("alice@example.com")
    await pg.caught_up()
    assert await _on_replica(h.res)
    async with readonly(h.res.readmaker) as s:  # readmaker is the primary's, as before
        assert not (await s.execute(text("SELECT pg_is_in_recovery()"))).scalar_one()
    assert await _listed(h.res) == {"alice@example.com"}

    await pg.pause_replay()
    try:
        bob = await h.user_token("bob@example.com")  # sign-up: primary
        r = await h.login("bob@example.com", PASSWORD)  # read right after the write
        assert r.status_code == 200, r.text
        assert (await h.client.get("/auth/user", headers=bearer(bob))).status_code == 200
        # the lag-tolerant reads are stale: the replica has not replayed bob yet
        assert await _listed(h.res) == {"alice@example.com"}
        assert (await stats.dashboard(h.res)).total_users == 1
        # a revocation is seen at once: the session look-up is the primary's
        r = await h.client.post("/auth/logout", headers=bearer(alice))
        assert r.status_code == 200, r.text
        assert_error(await h.client.get("/auth/user", headers=bearer(alice)), 401,
                     "SESSION_NOT_FOUND")
        replica_sessions = await pg.sql(pg.replica_port,
                                        "SELECT count(*) FROM authgate_sessions")
        assert replica_sessions == 1  # the replica still holds alice's session
    finally:
        await pg.resume_replay()
    await pg.caught_up()
    assert await _listed(h.res) == {"alice@example.com", "bob@example.com"}
    assert (await stats.dashboard(h.res)).total_users == 2


async def test_replica_down_reads_fall_back_to_the_primary_then_return(
        pg_replica: ReplicatedPostgres, make_harness: MakeHarness,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    pg = pg_replica
    h = await _app(make_harness, pg, database_replica_retry=timedelta(seconds=1))
    router = h.res.db.replica
    assert router is not None
    await h.user_token("alice@example.com")
    await pg.caught_up()
    assert await _on_replica(h.res)

    pg.pg_ctl("replica", "stop")
    caplog.set_level(logging.WARNING, logger="authgate.db")
    assert not await _on_replica(h.res)  # no error: the primary answered
    await h.user_token("bob@example.com")
    assert await _listed(h.res) == {"alice@example.com", "bob@example.com"}  # fresh, even
    assert router.fallbacks >= 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "authgate.db"]
    assert len(warnings) == 1 and "read replica unavailable" in warnings[0]
    assert str(pg.replica_port) not in warnings[0] and "postgres@" not in warnings[0]

    pg.pg_ctl("replica", "start")
    await pg.caught_up()
    await asyncio.sleep(max(0.0, router.down_until - time.monotonic()))  # the 1 s pause
    assert await _on_replica(h.res)  # the primary's connection was handed back
    assert await _listed(h.res) == {"alice@example.com", "bob@example.com"}


async def test_a_replica_lagging_too_far_is_skipped_until_it_catches_up(
        pg_replica: ReplicatedPostgres, make_harness: MakeHarness) -> None:  # noqa: F811
    pg = pg_replica
    h = await _app(make_harness, pg, database_replica_max_lag=timedelta(seconds=1),
                   database_replica_retry=timedelta(seconds=1))
    router = h.res.db.replica
    assert router is not None
    await h.user_token("alice@example.com")
    await pg.caught_up()
    assert await _on_replica(h.res)
    await pg.pause_replay()
    try:
        await h.user_token("bob@example.com")
        await asyncio.sleep(1.2)
        assert not await _on_replica(h.res)  # too far behind: the primary answers
        assert await _listed(h.res) == {"alice@example.com", "bob@example.com"}
    finally:
        await pg.resume_replay()
    await pg.caught_up()
    await asyncio.sleep(max(0.0, router.down_until - time.monotonic()))
    assert await _on_replica(h.res)


async def test_replica_settings_need_postgresql() -> None:
    from pydantic import ValidationError

    from authgate.config import Settings

    with pytest.raises(ValidationError, match="read replica needs PostgreSQL"):
        Settings(database_url="sqlite+aiosqlite:///./x.db",
                 database_replica_url="postgresql+asyncpg://r/db")
    with pytest.raises(ValidationError, match="read replica needs PostgreSQL"):
        Settings(database_url="postgresql+asyncpg://p/db", database_replica_url="sqlite:///r")
