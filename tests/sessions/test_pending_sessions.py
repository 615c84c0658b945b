"""MFA-pending sessions (the password given, a second factor owed) on every store (issue #12,
item 4): their own small cap, never evicting a verified session, a short absolute lifetime
that refreshing does not extend, enforced from the session record on the hot path."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from authgate.http.schemas import iso
from authgate.sessions.service import Sessions
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import STORES, assert_error, claims
from tests.mfa.helpers import code, enable_mfa, enroll, pending_login

NO_LIMITS = {"enabled": False}  # these tests sign in many times from one address


@pytest.fixture(params=STORES)
def storage(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _harness(make_harness: MakeHarness, storage: str, **settings: Any) -> Harness:
    session = {"storage": storage, **settings.pop("session", {})}
    return await make_harness(session=session, rate_limit=NO_LIMITS, **settings)


async def _owner(h: Harness, sessions: int = 1) -> tuple[str, list[str]]:
    """Alice with TOTP on; returns her secret and ``sessions`` sessions that need no MFA
    step (opened before MFA was turned on)."""
    r = await h.signup()
    assert r.status_code == 200, r.text
    mine = [r.json()["accessToken"]]
    secret = await enroll(h, mine[0])
    for _ in range(sessions - 1):
        h.clock.advance(1)
        mine.append((await h.login()).json()["accessToken"])
    await enable_mfa(h, mine[0])
    return secret, mine


async def _alive(h: Harness, token: str) -> bool:
    r = await h.client.get("/auth/verify-session", headers=bearer(token))
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


async def test_pending_logins_never_evict_the_owners_sessions(
        make_harness: MakeHarness, storage: str) -> None:
    h = await _harness(make_harness, storage)
    _, mine = await _owner(h, sessions=10)  # the cap (10) is full
    pending = []
    for _ in range(11):
        h.clock.advance(1)
        body = await pending_login(h)
        assert body["isRequiresMfa"] is True
        pending.append(body["accessToken"])
    for token in mine:
        assert (await h.client.get("/auth/user", headers=bearer(token))).status_code == 200
    # pending sessions have their own cap (5): the oldest pending ones made room
    assert [await _alive(h, t) for t in pending] == [False] * 6 + [True] * 5
    live = await h.res.store.list_for_user(claims(mine[0])["sub"], h.clock.now())
    assert sorted(s.mfa_state for s in live) == ["none"] * 10 + ["pending"] * 5


async def test_a_verified_session_takes_its_place_only_when_mfa_is_completed(
        make_harness: MakeHarness, storage: str) -> None:
    h = await _harness(make_harness, storage, session={"max_sessions_per_user": 2})
    secret, mine = await _owner(h, sessions=2)
    h.clock.advance(1)
    pending = (await pending_login(h))["accessToken"]
    assert await _alive(h, mine[0]) and await _alive(h, mine[1])
    r = await h.client.post("/auth/mfa/verify", headers=bearer(pending),
                            json={"method": "totp", "otp": code(h, secret)})
    assert r.status_code == 200, r.text
    # the completed session counts now: the least recently active other one made room
    assert await _alive(h, r.json()["accessToken"])
    assert not await _alive(h, mine[0]) and await _alive(h, mine[1])


async def test_reject_mode_refuses_a_login_only_when_the_verified_cap_is_full(
        make_harness: MakeHarness, storage: str) -> None:
    h = await _harness(make_harness, storage, session={
        "max_sessions_per_user": 2, "on_max_sessions": "reject",
        "max_pending_sessions_per_user": 1})
    secret, mine = await _owner(h, sessions=1)
    first = (await pending_login(h))["accessToken"]
    h.clock.advance(1)
    second = (await pending_login(h))["accessToken"]  # never refused: evicts `first`
    assert not await _alive(h, first) and await _alive(h, mine[0])
    r = await h.client.post("/auth/mfa/verify", headers=bearer(second),
                            json={"method": "totp", "otp": code(h, secret)})
    assert r.status_code == 200, r.text
    assert_error(await h.login(), 403, "MAX_SESSIONS_REACHED")  # two verified: full
    assert await _alive(h, mine[0])


async def test_concurrent_pending_logins_leave_the_owner_signed_in(
        make_harness: MakeHarness, storage: str) -> None:
    h = await _harness(make_harness, storage, session={"max_sessions_per_user": 3})
    secret, mine = await _owner(h, sessions=1)
    await h.client.post("/auth/logout", headers=bearer(mine[0]))
    pending = (await pending_login(h))["accessToken"]
    r = await h.client.post("/auth/mfa/verify", headers=bearer(pending),
                            json={"method": "totp", "otp": code(h, secret)})
    assert r.status_code == 200, r.text
    verified = r.json()["accessToken"]  # the owner's only session, MFA completed
    h.clock.advance(1)
    results = await asyncio.gather(*(h.login() for _ in range(10)))
    assert all(r.status_code == 200 and r.json()["isRequiresMfa"] for r in results)
    assert (await h.client.get("/auth/user", headers=bearer(verified))).status_code == 200


async def test_pending_session_ends_after_its_lifetime(
        make_harness: MakeHarness, storage: str) -> None:
    h = await _harness(make_harness, storage)
    await _owner(h)
    start = h.clock.now().replace(microsecond=0)
    body = await pending_login(h)
    pending, refresh = body["accessToken"], body["refreshToken"]
    deadline = start + timedelta(minutes=10)  # session.mfa_pending_lifetime
    assert claims(refresh)["exp"] == int(deadline.timestamp())
    r = await h.client.get("/auth/verify-session", headers=bearer(pending))
    assert r.json()["expiresAt"] == iso(deadline)
    # a refresh within the lifetime works but does not extend it
    h.clock.advance(5 * 60)
    r = await h.client.post("/auth/refresh-token", json={"refreshToken": refresh})
    assert r.status_code == 200 and r.json()["isRequiresMfa"] is True, r.text
    pending, refresh = r.json()["accessToken"], r.json()["refreshToken"]
    assert claims(refresh)["exp"] == int(deadline.timestamp())
    r = await h.client.get("/auth/verify-session", headers=bearer(pending))
    assert r.json()["expiresAt"] == iso(deadline)
    h.clock.set(deadline - timedelta(seconds=1))
    assert await _alive(h, pending)
    h.clock.set(deadline)  # the access token itself is still valid (15 min)
    assert_error(await h.client.get("/auth/verify-session", headers=bearer(pending)),
                 401, "SESSION_NOT_FOUND")
    assert_error(await h.client.post("/auth/refresh-token", json={"refreshToken": refresh}),
                 401, "REFRESH_TOKEN_EXPIRED")


async def test_completing_mfa_in_time_gives_a_full_session(
        make_harness: MakeHarness, storage: str) -> None:
    h = await _harness(make_harness, storage, session={"mfa_pending_lifetime": "2m"})
    secret, _ = await _owner(h)
    pending = (await pending_login(h))["accessToken"]
    h.clock.advance(90)
    r = await h.client.post("/auth/mfa/verify", headers=bearer(pending),
                            json={"method": "totp", "otp": code(h, secret)})
    assert r.status_code == 200, r.text
    verified, refresh = r.json()["accessToken"], r.json()["refreshToken"]
    issued = h.clock.now().replace(microsecond=0)
    assert claims(refresh)["exp"] == int((issued + timedelta(days=7)).timestamp())
    h.clock.advance(5 * 60)  # past the pending lifetime
    assert (await h.client.get("/auth/user", headers=bearer(verified))).status_code == 200
    h.clock.advance(60 * 60)
    r = await h.client.post("/auth/refresh-token", json={"refreshToken": refresh})
    assert r.status_code == 200 and r.json()["isRequiresMfa"] is False, r.text


async def test_sliding_expiration_does_not_extend_a_pending_session(
        make_harness: MakeHarness, storage: str) -> None:
    h = await _harness(make_harness, storage,
                       session={"sliding_expiration": True, "touch_interval": "1m"})
    await _owner(h)
    pending = (await pending_login(h))["accessToken"]
    for _ in range(4):
        h.clock.advance(150)
        await h.client.get("/auth/verify-session", headers=bearer(pending))
    assert not await _alive(h, pending)  # 10 minutes after the password step


async def test_lifetime_is_enforced_from_the_record(
        make_harness: MakeHarness, storage: str) -> None:
    """A pending session stored with a long expiry (before a shorter setting, or by an older
    version) still ends at created_at + mfa_pending_lifetime, on the hot path and at
    refresh."""
    h = await _harness(make_harness, storage)
    await _owner(h)
    body = await pending_login(h)
    sid = claims(body["accessToken"])["sessionId"]
    rec = await h.res.store.get(sid, h.clock.now())
    assert rec is not None and rec.mfa_state == "pending"
    await h.res.store.delete(sid)
    legacy = replace(rec, expires_at=rec.created_at + timedelta(days=7))
    await h.res.store.create(legacy)
    principal = await Sessions(h.res).authenticate(body["accessToken"], allow_mfa_pending=True)
    tokens = Sessions(h.res).mint(legacy, principal.user, h.clock.now())
    h.clock.advance(11 * 60)
    assert_error(await h.client.get("/auth/verify-session",
                                    headers=bearer(tokens.access_token)),
                 401, "SESSION_NOT_FOUND")
    r = await h.client.post("/auth/refresh-token", json={"refreshToken": tokens.refresh_token})
    assert_error(r, 401, "REFRESH_TOKEN_EXPIRED")
    assert await h.res.store.get(sid, h.clock.now()) is None
