"""``Database.hot_write``: single-statement writes on the hot path. On SQLite a write is
committed synchronously only when the write lock is free at once; while another connection
holds it the statement waits in the writer engine's thread, never on the event loop."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.exc import IntegrityError

from authgate.config import sqlite_path
from authgate.sessions.records import SessionRecord
from authgate.throttling import attempts
from tests.conftest import Harness, MakeHarness


@pytest.fixture
async def hdb(make_harness: MakeHarness) -> Harness:
    """Counters in the database (no Redis), as on a single SQLite or PostgreSQL server."""
    h = await make_harness(redis_url=None)
    assert h.res.redis is None
    return h


def _holder(h: Harness) -> sqlite3.Connection:
    """Another connection to the app's SQLite file (another worker process, say)."""
    path = sqlite_path(h.res.settings.database_url)
    assert path is not None
    conn = sqlite3.connect(path, isolation_level=None, timeout=5)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


async def test_a_held_write_lock_sends_the_write_to_the_writer_engine(hdb: Harness) -> None:
    h = hdb
    if not h.res.db.is_sqlite:
        pytest.skip("the lock-trying writer is SQLite's")
    window = timedelta(minutes=5)
    assert (await attempts.count(h.res, "t", "subject", window=window)).count == 1
    holder = _holder(h)
    try:
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("UPDATE authgate_counters SET count = count + 10 WHERE key = 't:subject'")
        writer = h.res.db._hot_writer
        assert writer is not None
        # the synchronous try answers at once that it could not write (nothing done)
        assert writer.try_write(attempts._count_stmt(h.res), {
            "key": "t:other", "now": h.res.clock.now(),
            "expires": h.res.clock.now() + window}) is None
        counting = asyncio.create_task(attempts.count(h.res, "t", "subject", window=window))
        for _ in range(20):  # the loop keeps running while the count waits for the lock
            await asyncio.sleep(0.01)
        assert not counting.done()
        holder.execute("COMMIT")
        got = await counting
    finally:
        holder.close()
    assert got.count == 12  # after the other connection's committed change, not beside it
    assert (await attempts.current(h.res, "t", "other")) is None


async def test_a_failed_hot_write_leaves_no_transaction_open(hdb: Harness) -> None:
    """A statement the database refuses (a session of no user: the foreign key) raises, and
    the next hot writes still commit (the connection's transaction was rolled back)."""
    h = hdb
    now = h.res.clock.now()
    orphan = SessionRecord(
        id=str(uuid.uuid4()), user_id=str(uuid.uuid4()), generation=0, rotated_at=now,
        expires_at=now + timedelta(hours=1), last_active=now, created_at=now,
        authenticated_at=now, mfa_state="none", amr=("pwd",), tenant_id=None,
        user_agent=None, device_name=None, ip_address=None, data={"roles": []})
    with pytest.raises((IntegrityError, asyncpg.IntegrityConstraintViolationError)):
        await h.res.store.create(orphan)  # SQLAlchemy's error on SQLite, asyncpg's on PG
    assert (await attempts.count(h.res, "t", "after", window=timedelta(minutes=1))).count == 1
    if h.res.db.is_sqlite:  # and nothing holds the lock: another connection writes at once
        holder = _holder(h)
        try:
            holder.execute("PRAGMA busy_timeout=0")
            holder.execute("BEGIN IMMEDIATE")
            holder.execute("ROLLBACK")
        finally:
            holder.close()


async def test_a_session_written_on_the_hot_path_reads_back_whole(h: Harness) -> None:
    """JSON and UTC columns go through their bind processors on both databases (asyncpg
    takes a JSON column's value as text)."""
    u = await h.make_user("hot@example.com")
    now = h.res.clock.now()
    rec = SessionRecord(
        id=str(uuid.uuid4()), user_id=u.id, generation=0, rotated_at=now,
        expires_at=now + timedelta(hours=1), last_active=now, created_at=now,
        authenticated_at=now, mfa_state="pending", amr=("pwd", "otp"), tenant_id=None,
        user_agent="ua", device_name="Linux", ip_address="203.0.113.9",
        data={"roles": [{"id": "r", "name": "admin"}], "permissions": ["x:y"]})
    await h.res.store.create(rec)
    listed = [s for s in await h.res.store.list_for_user(u.id, now) if s.id == rec.id]
    assert listed == [rec]
    assert await h.res.store.delete(rec.id) is True
    assert await h.res.store.delete(rec.id) is False




async def test_hot_writes_checkpoint_the_wal_off_the_loop(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The hot writer never checkpoints; every ``CHECKPOINT_EVERY`` of its commits a
    checkpoint runs on the writer engine's thread, so a stream of hot writes alone does not
    grow the WAL for as long as it lasts. (A database of its own: a reader elsewhere holding
    an old snapshot keeps any WAL from starting over, which is SQLite's rule, not ours.)"""
    from sqlalchemy import text

    from authgate import db as dbmod
    from authgate.db import Database

    path = tmp_path / "wal.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.writer.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
        put = text("INSERT INTO t (k, v) VALUES (:k, :v)")

        async def wal_after_storm(every: int) -> int:
            monkeypatch.setattr(dbmod, "CHECKPOINT_EVERY", every)
            conn = sqlite3.connect(path)
            try:  # start from an empty WAL
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
            for i in range(300):
                await db.hot_write(put, {"k": f"{every}:{i}", "v": "x" * 2000})
                if db._checkpoint is not None:  # as between logins: the checkpoint's turn
                    await db._checkpoint
            return os.path.getsize(f"{path}-wal")

        unbounded = await wal_after_storm(10**9)
        bounded = await wal_after_storm(50)
    finally:
        await db.dispose()
    assert bounded * 3 < unbounded, (bounded, unbounded)  # ~50 writes' worth against 300
