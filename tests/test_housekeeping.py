"""Housekeeping (``authgate.housekeeping``): tables stop growing under churn, the grace and
the retention hold, deletes go in batches, one purge at a time across processes (Redis,
PostgreSQL advisory lock, SQLite lock file), the schedule inside the server, and the Redis
session index. A controllable clock drives expiry."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from authgate import background, housekeeping
from authgate.admin.models import AdminSession, AdminUser
from authgate.audit.models import AuditEvent
from authgate.db import new_id
from authgate.federation.models import OAuthGrant
from authgate.identity.models import User
from authgate.mfa.models import TotpDevice, TrustedDevice, WebauthnChallenge
from authgate.otp.models import OneTimeCode
from authgate.resources import Resources
from authgate.sessions.models import SessionRow
from authgate.throttling.models import Counter
from tests.conftest import Harness, MakeHarness
from tests.helpers import REDIS_TOPOLOGIES
from tests.redis_topologies import topology_url

TTL = timedelta(minutes=5)
TABLES: dict[str, Any] = {
    "sessions": SessionRow, "one-time-codes": OneTimeCode, "counters": Counter,
    "trusted-devices": TrustedDevice, "totp-setups": TotpDevice,
    "webauthn-challenges": WebauthnChallenge, "oauth-grants": OAuthGrant,
    "admin-sessions": AdminSession, "audit": AuditEvent,
}


async def _rows(res: Resources, model: Any, *where: Any) -> int:
    async with res.readmaker() as s:
        return int((await s.execute(select(func.count()).select_from(model).where(*where))
                    ).scalar_one())


async def _admin(res: Resources) -> str:
    now = res.clock.now()
    admin = AdminUser(id=new_id(), email=f"{secrets.token_hex(4)}@ops.example", name=None,
                      password_hash="x", meta={}, token_version=0, totp_enabled=False,
                      created_at=now, updated_at=now)
    async with res.sessionmaker() as s:
        s.add(admin)
        await s.commit()
    return admin.id


async def _seed(res: Resources, admin_id: str, n: int, *, ttl: timedelta = TTL) -> None:
    """``n`` rows in every purgeable table, each expiring ``ttl`` from now (as the flows
    write them: a new account with a code, a session, a trust token, a set-up started and
    abandoned, a passkey challenge, an OAuth flow, a counter, an admin session, an audit
    row), plus one verified authenticator, which must never be purged."""
    now = res.clock.now()
    exp = now + ttl
    async with res.sessionmaker() as s:
        for _ in range(n):
            uid = new_id()
            s.add(User(id=uid, email=f"{uid}@example.com", status="active",
                       is_mfa_enabled=False, must_change_password=False, meta={},
                       tenant_scope="", created_at=now, updated_at=now))
            await s.flush()
            s.add(OneTimeCode(id=new_id(), user_id=uid, purpose="email_verification",
                              channel="email", code_hash="h", attempts=0, expires_at=exp,
                              sent_at=now, created_at=now))
            s.add(SessionRow(id=new_id(), user_id=uid, generation=0, rotated_at=now,
                             expires_at=exp, last_active=now, created_at=now,
                             authenticated_at=now, mfa_state="none", amr=["pwd"], data={}))
            s.add(TrustedDevice(id=new_id(), user_id=uid, token_hash=secrets.token_hex(16),
                                expires_at=exp, created_at=now))
            s.add(TotpDevice(id=new_id(), user_id=uid, secret_enc="k:x", secret_lookup="l",
                             device_name="setup", verified=False, expires_at=exp,
                             created_at=now))
            s.add(WebauthnChallenge(id=new_id(), challenge_hash=secrets.token_hex(16),
                                    purpose="login", expires_at=exp, created_at=now))
            s.add(OAuthGrant(id=secrets.token_hex(32), kind="state", provider="google",
                             payload="p", expires_at=exp))
            s.add(Counter(key=f"lockout-fail:{secrets.token_hex(8)}", window_start=now,
                          count=1, expires_at=exp))
            s.add(AdminSession(id=new_id(), admin_id=admin_id, created_at=now,
                               expires_at=exp))
            s.add(AuditEvent(id=new_id(), at=now, event="user.update", actor_type="admin",
                             outcome="success", details={}))
        s.add(TotpDevice(id=new_id(), user_id=uid, secret_enc="k:x", secret_lookup="l",
                         device_name="phone", verified=True, created_at=now))
        await s.commit()


async def _counts(res: Resources) -> dict[str, int]:
    out = {name: await _rows(res, model) for name, model in TABLES.items()}
    out["totp-setups"] = await _rows(res, TotpDevice, TotpDevice.verified.is_(False))
    return out


async def test_tables_stop_growing_under_churn(make_harness: MakeHarness) -> None:
    """Twelve rounds, 30 minutes apart, each adding 10 rows to every table that expire 5
    minutes later; the purge runs after each. With the 1 h grace a row goes in the third
    run after it expired, an audit row past its 2 h retention: every table levels off at
    3 rounds' worth (the audit at 5), and live data (verified authenticators) stays."""
    h = await make_harness(redis_url=None, audit={"retention": "2h"}, housekeeping={
        "grace": "1h", "batch_size": 7})
    admin = await _admin(h.res)
    purged: dict[str, int] = dict.fromkeys(TABLES, 0)
    for round_ in range(12):
        await _seed(h.res, admin, 10)
        report = await housekeeping.run(h.res)
        assert report.ran and not report.failed and report.lock in ("file", "postgresql")
        for o in report.outcomes:
            purged[o.name] += o.rows or 0
        counts = await _counts(h.res)
        live = 10 * min(round_ + 1, 3)
        for name in TABLES:
            expected = 10 * min(round_ + 1, 5) if name == "audit" else live
            assert counts[name] == expected, (round_, name, counts)
        h.clock.advance(timedelta(minutes=30))
    assert await _rows(h.res, TotpDevice, TotpDevice.verified.is_(True)) == 12
    assert purged == {name: 120 - (50 if name == "audit" else 30) for name in TABLES}
    assert await _rows(h.res, User) == 120  # accounts are never housekeeping's business


async def test_real_traffic_leaves_no_dead_rows_behind(make_harness: MakeHarness) -> None:
    """The same through the API: each round (8 days apart) signs four people up, types a
    wrong password for each and asks for a password reset (sessions, counters of the rate
    limits and the lockout, reset codes); after each round's purge nothing dead is left,
    while the accounts stay."""
    h = await make_harness(redis_url=None)
    for round_ in range(4):
        for i in range(4):
            email = f"u{round_}-{i}@example.com"
            assert (await h.signup(email)).status_code == 200
            assert (await h.login(email, "wrong password!!")).status_code == 401
            r = await h.client.post("/auth/forgot-password", json={"email": email})
            assert r.status_code in (200, 201), r.text
        await background.drain(h.res)
        before = await _counts(h.res)
        assert before["sessions"] == 4 and before["one-time-codes"] == 4
        assert before["counters"] >= 8
        h.clock.advance(timedelta(days=8))  # sessions (7 d), codes, windows (<= 1 d) ended
        report = await housekeeping.run(h.res)
        assert report.total == sum(before.values()) - before["audit"]
        after = await _counts(h.res)
        assert set(after.values()) == {0, after["audit"]}  # the trail is kept for a year
        assert after["audit"] > 0
    assert await _rows(h.res, User) == 16


async def test_grace_and_dry_run(make_harness: MakeHarness) -> None:
    """A row expired for less than the grace stays (an old code still answers "expired");
    the dry run counts exactly what the purge then deletes, and deletes nothing."""
    h = await make_harness(redis_url=None)
    admin = await _admin(h.res)
    await _seed(h.res, admin, 3)  # expire at +5 min
    h.clock.advance(timedelta(minutes=50))
    await _seed(h.res, admin, 2)
    h.clock.advance(timedelta(minutes=20))  # first batch expired 65 min ago, second 15
    dry = await housekeeping.run(h.res, dry_run=True)
    assert dry.dry_run and dry.lock == "none"
    counted = {o.name: o.rows for o in dry.outcomes}
    assert counted == {"sessions": 3, "one-time-codes": 3, "counters": 3,
                       "trusted-devices": 3, "totp-setups": 3, "webauthn-challenges": 3,
                       "oauth-grants": 3, "admin-sessions": 3, "audit": 0}
    assert (await _counts(h.res))["sessions"] == 5  # nothing deleted
    done = await housekeeping.run(h.res)
    assert {o.name: o.rows for o in done.outcomes} == counted
    assert set((await _counts(h.res)).values()) == {2, 5}  # audit rows: kept for a year
    again = await housekeeping.run(h.res, dry_run=True)
    assert again.total == 0


async def test_revoked_trust_and_setups_without_expiry(make_harness: MakeHarness) -> None:
    h = await make_harness(redis_url=None)
    u = await h.make_user("ann@example.com")
    now = h.clock.now()
    async with h.res.sessionmaker() as s:
        s.add(TrustedDevice(id=new_id(), user_id=u.id, token_hash="revoked",
                            expires_at=now + timedelta(days=30), revoked_at=now,
                            created_at=now))
        s.add(TrustedDevice(id=new_id(), user_id=u.id, token_hash="live",
                            expires_at=now + timedelta(days=30), created_at=now))
        s.add(TotpDevice(id=new_id(), user_id=u.id, secret_enc="k:x", secret_lookup="l",
                         device_name="old setup", verified=False, expires_at=None,
                         created_at=now))
        await s.commit()
    h.clock.advance(timedelta(hours=1, minutes=16))  # grace + the 15-minute set-up window
    report = await housekeeping.run(h.res)
    got = {o.name: o.rows for o in report.outcomes}
    assert got["trusted-devices"] == 1 and got["totp-setups"] == 1
    assert await _rows(h.res, TrustedDevice) == 1


async def test_a_failing_task_is_reported_and_the_others_run(
        make_harness: MakeHarness, caplog: pytest.LogCaptureFixture) -> None:
    h = await make_harness(redis_url=None, housekeeping={"grace": None})
    admin = await _admin(h.res)
    await _seed(h.res, admin, 2)
    h.clock.advance(TTL)

    async def broken(res: Resources, now: datetime) -> int:
        raise RuntimeError("boom")

    housekeeping.purges.register("broken", broken)
    try:
        report = await housekeeping.run(h.res)
    finally:
        housekeeping.purges.unregister("broken")
    assert [o.name for o in report.failed] == ["broken"]
    assert report.failed[0].error == "RuntimeError"
    assert report.total == 16  # 2 rows in each of the 8 expiring tables
    assert "housekeeping: broken failed (RuntimeError)" in caplog.text
    with pytest.raises(ValueError, match="unknown purge kind"):
        await housekeeping.run(h.res, only=["nope"])
    only = await housekeeping.run(h.res, dry_run=True, only=["sessions"])
    assert [o.name for o in only.outcomes] == ["sessions"]


# one at a time ---------------------------------------------------------------------------------
async def _two_at_once(res_a: Resources, res_b: Resources) -> list[housekeeping.PurgeReport]:
    """Two purges started together, each with a task that takes a while: one runs, the
    other finds the lock taken and does nothing."""
    entered = asyncio.Event()

    async def slow(res: Resources, now: datetime) -> int:
        entered.set()
        await asyncio.sleep(0.3)
        return 1

    housekeeping.purges.register("slow", slow)
    try:
        first = asyncio.create_task(housekeeping.run(res_a, only=["slow"]))
        await asyncio.wait_for(entered.wait(), 5)
        second = await housekeeping.run(res_b, only=["slow"])
        reports = [await first, second]
        third = await housekeeping.run(res_b, only=["slow"])  # free again afterwards
    finally:
        housekeeping.purges.unregister("slow")
    assert third.ran and third.total == 1
    return reports


async def test_postgres_advisory_lock_one_purge_at_a_time(
        make_harness: MakeHarness, backend: str) -> None:
    if backend != "postgres":
        pytest.skip("the PostgreSQL advisory lock")
    a = await make_harness(redis_url=None)
    b = await make_harness(redis_url=None)  # another process's resources, same database
    ran, skipped = await _two_at_once(a.res, b.res)
    assert ran.ran and ran.total == 1 and ran.lock == "postgresql"
    assert not skipped.ran and skipped.outcomes == []


async def test_sqlite_lock_file_one_purge_at_a_time(
        make_harness: MakeHarness, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("the SQLite lock file")
    a = await make_harness(redis_url=None)
    b = await make_harness(redis_url=None)
    ran, skipped = await _two_at_once(a.res, b.res)
    assert ran.ran and ran.lock == "file" and not skipped.ran


@pytest.mark.parametrize("topology", ["redis", *REDIS_TOPOLOGIES])
async def test_redis_lock_one_purge_at_a_time(make_harness: MakeHarness, topology: str,
                                              request: pytest.FixtureRequest) -> None:
    url = _topology(request, topology)
    prefix = f"authgate-test:{secrets.token_hex(6)}:"
    a = await make_harness(redis_prefix=prefix, **url)
    b = await make_harness(redis_prefix=prefix, **url)  # two machines sharing Redis
    ran, skipped = await _two_at_once(a.res, b.res)
    assert ran.ran and ran.lock == "redis" and not skipped.ran
    assert a.res.redis is not None
    assert await a.res.redis.exists(f"{prefix}housekeeping:lock") == 0  # released


async def test_redis_lock_is_released_only_by_its_holder(h: Harness) -> None:
    assert h.res.redis is not None
    key = f"{h.settings.redis_prefix}housekeeping:lock"
    first = housekeeping.RedisLock(h.res.redis, key, ttl=timedelta(seconds=30))
    second = housekeeping.RedisLock(h.res.redis, key, ttl=timedelta(seconds=30))
    assert await first.acquire() and not await second.acquire()
    await h.res.redis.delete(key)  # the first holder's lock expired (it stalled)
    assert await second.acquire()
    await first.release()  # late: must not free the second holder's lock
    assert not await first.extend()
    assert await h.res.redis.exists(key) == 1
    assert await second.extend()
    await second.release()
    assert await h.res.redis.exists(key) == 0


# the schedule ----------------------------------------------------------------------------------
async def test_the_server_purges_on_its_schedule(make_harness: MakeHarness) -> None:
    h = await make_harness(redis_prefix=f"authgate-test:{secrets.token_hex(6)}:",
                           housekeeping={"enabled": True, "interval": "50ms",
                                         "jitter": "10ms", "grace": None})
    admin = await _admin(h.res)
    await _seed(h.res, admin, 2)
    h.clock.advance(TTL)
    purged = dict.fromkeys(TABLES, 0) | {"audit": 2}
    for _ in range(100):  # a run may be half-way through its kinds: wait for all of them
        if await _counts(h.res) == purged:
            break
        await asyncio.sleep(0.05)
    assert await _counts(h.res) == purged


async def test_scheduler_survives_errors_and_stops_promptly(
        make_harness: MakeHarness, caplog: pytest.LogCaptureFixture) -> None:
    h = await make_harness(redis_url=None)
    calls: list[str] = []
    stopping = asyncio.Event()

    async def flaky(res: Resources, now: datetime) -> int:
        calls.append("flaky")
        raise ConnectionError("database went away")

    async def long(res: Resources, now: datetime) -> int:
        calls.append("long")
        stopping.set()
        while await housekeeping.checkpoint():  # works in steps, like the batched deletes
            await asyncio.sleep(0.01)
        return 0

    housekeeping.purges.register("flaky", flaky)
    housekeeping.purges.register("long", long)
    sched = housekeeping.Scheduler(h.res, interval=timedelta(milliseconds=20),
                                   jitter=timedelta(milliseconds=5))
    try:
        sched.start()
        await asyncio.wait_for(stopping.wait(), 5)
        started = asyncio.get_running_loop().time()
        await sched.stop(timeout=5)
        assert asyncio.get_running_loop().time() - started < 1
    finally:
        housekeeping.purges.unregister("flaky")
        housekeeping.purges.unregister("long")
    assert calls[:2] == ["flaky", "long"]
    assert sched.runs == 1 and sched.last is not None and sched.last.interrupted
    assert "housekeeping: flaky failed (ConnectionError)" in caplog.text


def _topology(request: pytest.FixtureRequest, topology: str) -> dict[str, Any]:
    """``redis_url`` of the machine's Redis (the default), a cluster or Sentinel (PostgreSQL
    run only: Redis does not depend on the database)."""
    if topology in REDIS_TOPOLOGIES and request.getfixturevalue("backend") == "sqlite":
        pytest.skip("Redis topologies do not depend on the database: the PostgreSQL run has them")
    url = topology_url(request, topology)
    return {"redis_url": url} if url else {}


# Redis session index -----------------------------------------------------------------------------
@pytest.mark.parametrize("topology", ["redis", *REDIS_TOPOLOGIES])
async def test_redis_session_index_loses_ended_sessions(make_harness: MakeHarness, topology: str,
                                                        request: pytest.FixtureRequest) -> None:
    h = await make_harness(session={"storage": "redis"}, **_topology(request, topology))
    assert h.res.redis is not None
    u = await h.make_user("ann@example.com", tokens=True)
    await h.make_user("bob@example.com", tokens=True)
    index = f"{h.settings.redis_prefix}usess:{u.id}"
    ids = [i.decode() for i in await h.res.redis.smembers(index)]
    assert len(ids) == 1
    await h.res.redis.delete(f"{h.settings.redis_prefix}sess:{ids[0]}")  # its TTL ran out
    dry = await housekeeping.run(h.res, dry_run=True, only=["session-index"])
    assert dry.total == 1 and await h.res.redis.scard(index) == 1
    report = await housekeeping.run(h.res, only=["session-index"])
    assert report.total == 1
    assert await h.res.redis.exists(index) == 0  # the emptied set is gone
    assert (await housekeeping.run(h.res, dry_run=True, only=["session-index"])).total == 0
