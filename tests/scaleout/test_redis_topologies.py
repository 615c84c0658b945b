"""Beyond one Redis (issue 16 §1): the app on a real local 3-node Redis Cluster and on a
Sentinel-managed master (``tests/redis_topologies.py``) — sessions, revocation, counters,
readiness; a node lost answers 503 SERVICE_UNAVAILABLE (never a 500), and a Sentinel
failover leaves the app working: live sessions, counters and revocation carry over.

The store, counter and rate-limit tests themselves also run on both topologies
(``tests/sessions/test_stores.py``, ``tests/mfa/test_attempts.py``,
``tests/security/test_rate_limits.py``). PostgreSQL run only: Redis does not depend on the
database."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error
from tests.redis_topologies import Cluster, SentinelSetup, cli, wait_for
from tests.servers import free_port

PASSWORD = "correct horse battery"
LOCKOUT = {"lockout": {"enabled": True, "max_failures": 3, "account_max_failures": 3,
                       "window": 900, "lock_duration": 600}}


@pytest.fixture(autouse=True)
def _postgres_only(backend: str) -> None:
    if backend == "sqlite":
        pytest.skip("Redis topologies do not depend on the database: the PostgreSQL run has them")


async def _app(make_harness: MakeHarness, url: str, **extra: Any) -> Harness:
    return await make_harness(redis_url=url, session={"storage": "redis"},
                              rate_limit=LOCKOUT, **extra)


async def _wrong_login(h: Harness, email: str = "alice@example.com") -> int:
    r = await h.login(email, "wrong password")
    return r.status_code


async def _sessions_counters_revocation(h: Harness) -> None:
    """Sign-up, sessions of several users (keys in many slots), lockout counting, logout."""
    tokens = [await h.user_token(f"user{i}@example.com") for i in range(6)]
    for token in tokens:
        r = await h.client.get("/auth/user", headers=bearer(token))
        assert r.status_code == 200, r.text
    assert await _wrong_login(h, "user0@example.com") == 401
    assert await _wrong_login(h, "user0@example.com") == 401
    assert await _wrong_login(h, "user0@example.com") == 401
    r = await h.login("user0@example.com", PASSWORD)  # the right password: locked now
    assert_error(r, 429, "ACCOUNT_LOCKED")
    r = await h.client.post("/auth/logout", headers=bearer(tokens[1]))
    assert r.status_code == 200, r.text
    assert_error(await h.client.get("/auth/user", headers=bearer(tokens[1])), 401, "SESSION_NOT_FOUND")
    assert (await h.client.get("/auth/user", headers=bearer(tokens[2]))).status_code == 200


async def test_cluster_carries_sessions_counters_and_revocation(
        make_harness: MakeHarness, redis_cluster: Cluster) -> None:
    h = await _app(make_harness, redis_cluster.url)
    await _sessions_counters_revocation(h)
    r = await h.client.get("/health/ready")
    assert r.status_code == 200 and r.json()["checks"]["redis"] == "ok"
    # the keys really are spread over the nodes (hash slots), not on one of them
    holding = [p for p in redis_cluster.ports
               if cli(p, "--scan", "--pattern", f"{h.settings.redis_prefix}*")]
    assert len(holding) >= 2


async def test_cluster_node_lost_answers_503_and_unready(fresh_cluster: Cluster,
                                                         make_harness: MakeHarness) -> None:
    cluster = fresh_cluster
    h = await _app(make_harness, cluster.url, server={"health_timeout": 1.0})
    tokens = [await h.user_token(f"user{i}@example.com") for i in range(6)]
    cluster.stop(cluster.ports[0])
    started = time.monotonic()
    r = await h.client.get("/health/ready")  # every primary must answer
    assert r.status_code == 503, r.text
    assert r.json()["checks"]["redis"] == "unavailable"
    wait_for("the cluster to notice", lambda: "cluster_state:fail" in cli(
        cluster.ports[1], "cluster", "info"))
    for token in tokens:  # every slot refuses now: a clean 503 each, never a 500
        began = time.monotonic()
        r = await h.client.get("/auth/user", headers=bearer(token))
        assert_error(r, 503, "SERVICE_UNAVAILABLE")
        assert time.monotonic() - began < 3, "a failing request must give up quickly"
    assert time.monotonic() - started < 30


async def test_sentinel_failover_keeps_the_app_working(
        fresh_sentinel: SentinelSetup, make_harness: MakeHarness) -> None:
    s = fresh_sentinel
    h = await _app(make_harness, s.url)
    alice = await h.user_token("alice@example.com")
    bob = await h.user_token("bob@example.com")
    assert await _wrong_login(h) == 401
    assert await _wrong_login(h) == 401
    assert cli(s.master, "wait", "1", "2000") == "1"  # replicated before the switch
    new_master = s.fail_over()
    assert new_master == s.replica
    # the very first request after the switch is served (the pool reconnects to the new
    # master), with the session written before it
    r = await h.client.get("/auth/user", headers=bearer(alice))
    assert r.status_code == 200, r.text
    # the counters carried over: the third failure locks
    assert await _wrong_login(h) == 401
    assert_error(await h.login("alice@example.com", PASSWORD), 429, "ACCOUNT_LOCKED")
    # writes land on the new master: a new session, a revocation seen at once
    r = await h.login("bob@example.com", PASSWORD)
    assert r.status_code == 200, r.text
    assert (await h.client.post("/auth/logout", headers=bearer(bob))).status_code == 200
    assert_error(await h.client.get("/auth/user", headers=bearer(bob)), 401, "SESSION_NOT_FOUND")
    assert cli(new_master, "--scan", "--pattern", f"{h.settings.redis_prefix}sess:*")
    r = await h.client.get("/health/ready")
    assert r.status_code == 200 and r.json()["checks"]["redis"] == "ok"


async def test_no_sentinel_reachable_answers_503_and_unready(make_harness: MakeHarness) -> None:
    """Sentinels that do not answer: no master can be found — a 503 with the stable code,
    never a 500, and readiness says so (naming no host or password)."""
    url = f"redis+sentinel://:hunter2-secret@127.0.0.1:{free_port()}/authgate/0"
    h = await _app(make_harness, url, server={"health_timeout": 1.0})
    r = await h.signup("carol@example.com", PASSWORD)
    assert_error(r, 503, "SERVICE_UNAVAILABLE")
    r = await h.client.get("/health/ready")
    assert r.status_code == 503 and r.json()["checks"]["redis"] == "unavailable"
    assert "hunter2" not in r.text and "127.0.0.1" not in r.text
