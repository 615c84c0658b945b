"""Races between app instances, as separate worker processes would run them: each instance
has its own engines, pools and Redis client and only the database and Redis are shared.
(tests/http has the single-instance races; real processes are in test_faults.py.)"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from authgate.sessions.models import SessionRow
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error, claims, count_users, set_user, stored_user

PASSWORD = "correct horse battery"
N_INSTANCES = 2  # each has its own pools: more would crowd a shared PostgreSQL


async def cluster(make_harness: MakeHarness, n: int = N_INSTANCES, **settings: Any) -> list[Harness]:
    prefix = f"authgate-test:{uuid.uuid4().hex[:12]}:"  # one Redis namespace for all of them
    return [await make_harness(redis_prefix=prefix, **settings) for _ in range(n)]


def spread(hs: list[Harness], n: int) -> list[httpx.AsyncClient]:
    return [hs[i % len(hs)].client for i in range(n)]


@pytest.mark.parametrize("storage", ["database", "redis"])
async def test_refresh_race_across_instances_has_one_successor(make_harness: MakeHarness,
                                                               storage: str, backend: str) -> None:
    if storage == "redis" and backend == "sqlite":
        pytest.skip("the Redis store is raced on the PostgreSQL run")
    hs = await cluster(make_harness, session={"storage": storage})
    first = (await hs[0].signup()).json()
    r0 = first["refreshToken"]
    results = await asyncio.gather(*[
        c.post("/auth/refresh-token", json={"refreshToken": r0}) for c in spread(hs, 50)])
    # inside the grace window every loser is handed the winner's successor, byte for byte
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    successors = {r.json()["refreshToken"] for r in results}
    assert len(successors) == 1, "two different live successors of one refresh token"
    (successor,) = successors
    assert claims(successor)["gen"] == 1
    if storage == "database":
        async with hs[0].res.db.reader.connect() as conn:
            gens = (await conn.execute(select(SessionRow.generation).where(
                SessionRow.id == claims(r0)["sessionId"]))).scalars().all()
        assert gens == [1]
    nxt = await hs[1].client.post("/auth/refresh-token", json={"refreshToken": successor})
    assert nxt.status_code == 200, nxt.text
    assert claims(nxt.json()["refreshToken"])["gen"] == 2


@pytest.mark.parametrize("counters", ["redis", "database"])
async def test_parallel_wrong_passwords_across_instances(make_harness: MakeHarness,
                                                         counters: str) -> None:
    extra: dict[str, Any] = {} if counters == "redis" else {"redis_url": None}
    hs = await cluster(make_harness, security={"trusted_proxies": ["127.0.0.1"]},
                       rate_limit={"login": {"per_ip": None, "per_account": None},
                                   "lockout": {"max_failures": 5, "account_max_failures": 5}},
                       **extra)
    await hs[0].signup()
    body = {"providerName": "email",
            "credentials": {"email": "alice@example.com", "password": "not the password"}}
    results = await asyncio.gather(*[
        c.post("/auth/login", json=body, headers={"X-Forwarded-For": f"198.51.100.{i}"})
        for i, c in enumerate(spread(hs, 30))])
    codes = [r.json().get("code") for r in results]
    assert set(codes) <= {"INVALID_CREDENTIALS", "ACCOUNT_LOCKED"}, codes
    assert codes.count("INVALID_CREDENTIALS") <= 5, "more password checks than the lockout allows"
    for h in hs:  # every instance sees the lock
        assert_error(await h.login(), 429, "ACCOUNT_LOCKED")


async def test_signup_race_across_instances_with_spelling_variants(
        make_harness: MakeHarness) -> None:
    hs = await cluster(make_harness, rate_limit={"enabled": False})
    spellings = ["race@example.com", "RACE@example.com", "  race@Example.COM ",
                 "Race@example.com"]
    results = await asyncio.gather(*[
        c.post("/auth/signup", json={"email": spellings[i % 4], "password": PASSWORD})
        for i, c in enumerate(spread(hs, 24))])
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [400] * 23, [r.text for r in results]
    for r in results:
        if r.status_code == 400:
            assert_error(r, 400, "EMAIL_ALREADY_EXISTS")
    assert await count_users(hs[0].res, "race@example.com") == 1
    assert await count_users(hs[0].res) == 1


@pytest.mark.parametrize("storage", ["database", "redis"])
async def test_toggles_across_instances_end_consistent(make_harness: MakeHarness,
                                                       storage: str, backend: str) -> None:
    if storage == "redis" and backend == "sqlite":
        pytest.skip("the Redis store is raced on the PostgreSQL run")
    hs = await cluster(make_harness, session={"storage": storage})
    token = await hs[0].user_token()  # email is a usable method (the outbox channel)
    uid = claims(token)["sub"]
    await set_user(hs[0].res, uid, email_verified_at=hs[0].clock.now())  # once verified
    results = await asyncio.gather(*[
        c.post("/auth/mfa/toggle", json={"enabled": i % 3 != 0}, headers=bearer(token))
        for i, c in enumerate(spread(hs, 30))])
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    flag = (await stored_user(hs[0].res, uid)).is_mfa_enabled
    for h in hs:  # no instance keeps a stale snapshot of the user
        st = (await h.client.get("/auth/mfa/status", headers=bearer(token))).json()
        assert st["isEnabled"] is flag
        me = (await h.client.get("/auth/user", headers=bearer(token))).json()
        assert me["isMfaEnabled"] is flag
