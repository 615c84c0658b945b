"""The test harness itself: an app reused from the pool starts a test like a new one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from authgate import background
from authgate.crypto.passwords import PasswordHasher
from authgate.events import Event
from authgate.http.schemas import iso
from tests.conftest import CHEAP_HASH, AppPool, Harness, _Started, bearer
from tests.helpers import assert_error, claims
from tests.mfa.helpers import code


async def test_a_reused_app_is_reset(_app_pool: AppPool) -> None:
    settings = {"session": {"storage": "memory"}, "rate_limit": {"enabled": False}}
    first = await _app_pool.take(settings)
    res = first.res
    seen: list[Event] = []
    res.events.subscribe("*", seen.append)
    first.clock.advance(timedelta(days=3))
    assert res.redis is not None
    await res.redis.set(f"{res.settings.redis_prefix}left-behind", "1")
    outbox = res.settings.resolved_data_dir() / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    (outbox / "left-behind.eml").write_text("x")
    h = _harness(first)
    user = await h.make_user("pool-reset@example.com", tokens=True)
    await h.client.aclose()
    assert user.access_token is not None
    session_id = claims(user.access_token)["sessionId"]
    ran: list[str] = []

    async def late() -> None:
        ran.append("late")

    background.spawn(res, late(), name="late")
    await _app_pool.give_back(first)

    again = await _app_pool.take(settings)
    try:
        assert again is first  # the same app, reused
        assert ran == ["late"]  # background work finished before the reset
        await res.events.emit(Event("user.created", None))
        assert seen == []  # the subscriber is gone
        assert abs(again.clock.now() - datetime.now(UTC)) < timedelta(minutes=1)
        assert await res.redis.get(f"{res.settings.redis_prefix}left-behind") is None
        assert not outbox.exists()
        assert await res.store.get(session_id, again.clock.now()) is None  # memory emptied
    finally:
        await _app_pool.give_back(again)


async def test_two_apps_in_one_test_are_distinct_and_rebound_apps_are_not_reused(
        _app_pool: AppPool) -> None:
    one = await _app_pool.take({"app_name": "pool-test"})
    two = await _app_pool.take({"app_name": "pool-test"})
    assert one is not two and one.res is not two.res
    old = one.res.hasher
    one.res.hasher = PasswordHasher(**CHEAP_HASH)
    old.close()
    await _app_pool.give_back(one)  # rebound: closed, not kept
    await _app_pool.give_back(two)
    reused = await _app_pool.take({"app_name": "pool-test"})
    fresh = await _app_pool.take({"app_name": "pool-test"})
    try:
        assert reused is two and fresh not in (one, two)
    finally:
        for started in (reused, fresh):
            await _app_pool.give_back(started)


def _harness(started: _Started) -> Harness:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=started.app),
                               base_url="http://testserver")
    return Harness(client=client, res=started.res, clock=started.clock,
                   settings=started.settings)



async def test_make_user_rows_work_through_the_routes(h: Harness) -> None:
    """A factory user is a real account: its password logs in, its authenticator passes the
    MFA step, its flags show on /auth/user, its session authenticates."""
    u = await h.make_user("Fact@Example.COM", verified=True, totp=True, mfa=True)
    assert u.email == "fact@example.com" and u.totp_secret is not None
    r = await h.login("fact@example.com", u.password)
    assert r.status_code == 200, r.text
    assert r.json()["isRequiresMfa"] is True and "totp" in r.json()["mfaMethods"]
    r = await h.client.post("/auth/mfa/verify", json={"method": "totp",
                                                      "otp": code(h, u.totp_secret)},
                            headers=bearer(r.json()["accessToken"]))
    assert r.status_code == 200, r.text
    r = await h.client.get("/auth/user", headers=bearer(r.json()["accessToken"]))
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["emailVerifiedAt"], r.json()["isMfaEnabled"]) == (
        u.id, iso(h.clock.now()), True)
    assert_error(await h.login("fact@example.com", "not the password"), 401,
                 "INVALID_CREDENTIALS")
    bob = await h.make_user("bob@example.com", tokens=True)
    assert bob.access_token is not None and bob.requires_mfa is False
    r = await h.client.get("/auth/user", headers=bearer(bob.access_token))
    assert r.status_code == 200 and r.json()["emailVerifiedAt"] is None, r.text
    pending = await h.make_user("carol@example.com", totp=True, mfa=True, tokens=True)
    assert pending.requires_mfa is True and pending.access_token is not None
    assert_error(await h.client.get("/auth/user", headers=bearer(pending.access_token)),
                 401, "MFA_REQUIRED")


async def test_a_flag_set_on_resources_is_put_back(_app_pool: AppPool) -> None:
    """A plain value a test changes on Resources (the once-per-app "no client IP" warning)
    is as after start-up for the next test; the app is still reused."""
    first = await _app_pool.take({"app_name": "flag-test"})
    assert first.res.warned_no_client_ip is False
    first.res.warned_no_client_ip = True
    await _app_pool.give_back(first)
    again = await _app_pool.take({"app_name": "flag-test"})
    try:
        assert again is first and again.res.warned_no_client_ip is False
    finally:
        await _app_pool.give_back(again)
