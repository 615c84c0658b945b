"""Session lifecycle over HTTP on every store: logout, logout-all, the per-user cap, sliding
expiration, expiry, and the Redis/memory user snapshot staying in step with the user row."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from authgate.http.schemas import iso
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import STORES, assert_error, claims, set_cookies, set_user


@pytest.fixture(params=STORES)
def storage(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _harness(make_harness: MakeHarness, storage: str, **settings: Any) -> Harness:
    session = {"storage": storage, **settings.pop("session", {})}
    return await make_harness(session=session, **settings)


async def _login(h: Harness, email: str = "alice@example.com") -> str:
    r = await h.login(email)
    assert r.status_code == 200, r.text
    return str(r.json()["accessToken"])


async def _user(h: Harness, token: str) -> int:
    return (await h.client.get("/auth/user", headers=bearer(token))).status_code


async def test_logout_revokes_immediately(make_harness: MakeHarness, storage: str) -> None:
    h = await _harness(make_harness, storage)
    access = await h.session_token()
    other = await _login(h)
    r = await h.client.post("/auth/logout", headers=bearer(access))
    assert r.status_code == 200 and r.json() == {"message": "Logged out successfully"}
    cleared = set_cookies(r)
    for name in ("__Host-accessToken", "__Host-refreshToken"):  # cleared even in header mode
        assert cleared[name]["value"] == "" and cleared[name]["max-age"] == "0"
        assert cleared[name]["path"] == "/"
    assert_error(await h.client.get("/auth/user", headers=bearer(access)),
                 401, "SESSION_NOT_FOUND", "Session not found")
    assert await _user(h, other) == 200  # only that session
    # logging out again, anonymously or with junk, still answers 200
    for headers in ({}, bearer(access), bearer("junk"), {"Authorization": "Bearer"}):
        r = await h.client.post("/auth/logout", headers=headers)
        assert r.status_code == 200, r.text


async def test_logout_all_revokes_every_session(make_harness: MakeHarness, storage: str) -> None:
    h = await _harness(make_harness, storage)
    mine = [await h.session_token()] + [await _login(h) for _ in range(2)]
    bob = await h.session_token("bob@example.com")
    r = await h.client.post("/auth/logout-all", headers=bearer(mine[1]))
    assert r.status_code == 200
    assert r.json() == {"message": "Logged out from all devices successfully"}
    assert set_cookies(r)["__Host-accessToken"]["max-age"] == "0"
    for token in mine:  # the caller's own session included
        assert_error(await h.client.get("/auth/user", headers=bearer(token)),
                     401, "SESSION_NOT_FOUND")
    assert await _user(h, bob) == 200
    assert_error(await h.client.post("/auth/logout-all"), 401, "NO_AUTH_PROVIDED")
    assert_error(await h.client.post("/auth/logout-all", headers=bearer(mine[0])),
                 401, "SESSION_NOT_FOUND")


async def test_max_sessions_evicts_the_least_recently_active(
    make_harness: MakeHarness, storage: str
) -> None:
    h = await _harness(make_harness, storage, session={"max_sessions_per_user": 2})
    first = await h.session_token()
    h.clock.advance(1)
    second = await _login(h)
    h.clock.advance(1)
    assert await _user(h, first) == 200
    third = await _login(h)
    assert_error(await h.client.get("/auth/user", headers=bearer(first)), 401,
                 "SESSION_NOT_FOUND")
    assert await _user(h, second) == 200 and await _user(h, third) == 200
    sessions = await h.res.store.list_for_user(claims(first)["sub"], h.clock.now())
    assert len(sessions) == 2


async def test_max_sessions_reject(make_harness: MakeHarness, storage: str) -> None:
    h = await _harness(make_harness, storage,
                       session={"max_sessions_per_user": 2, "on_max_sessions": "reject"})
    first = await h.session_token()
    await _login(h)
    r = await h.login()
    assert_error(r, 403, "MAX_SESSIONS_REACHED", "Maximum number of active sessions reached")
    assert await _user(h, first) == 200
    await h.client.post("/auth/logout", headers=bearer(first))
    assert (await h.login()).status_code == 200


LONG_ACCESS = {"access_token_expires_in": "30d", "refresh_token_expires_in": "1h"}


async def test_session_expiry_is_a_401(make_harness: MakeHarness, storage: str) -> None:
    h = await _harness(make_harness, storage, jwt=LONG_ACCESS)
    token = await h.session_token()
    h.clock.advance(59 * 60)
    assert await _user(h, token) == 200  # no sliding: this request does not extend it
    h.clock.advance(61)
    assert_error(await h.client.get("/auth/user", headers=bearer(token)),
                 401, "SESSION_NOT_FOUND")


async def test_sliding_expiration_extends_active_sessions(
    make_harness: MakeHarness, storage: str
) -> None:
    h = await _harness(make_harness, storage, jwt=LONG_ACCESS,
                       session={"sliding_expiration": True, "touch_interval": "5m"})
    token = await h.session_token()
    sid = claims(token)["sessionId"]
    start = h.clock.now()
    h.clock.advance(60)
    assert await _user(h, token) == 200  # inside the touch interval: nothing written
    rec = await h.res.store.get(sid, h.clock.now())
    assert rec is not None and rec.last_active == start
    for _ in range(3):  # every 50 minutes, well past the 1 h lifetime in total
        h.clock.advance(50 * 60)
        assert await _user(h, token) == 200
    rec = await h.res.store.get(sid, h.clock.now())
    assert rec is not None and rec.last_active == h.clock.now()
    r = await h.client.get("/auth/verify-session", headers=bearer(token))
    assert r.json()["expiresAt"] == iso(h.clock.now() + timedelta(hours=1))
    h.clock.advance(61 * 60)  # idle past the lifetime
    assert_error(await h.client.get("/auth/user", headers=bearer(token)),
                 401, "SESSION_NOT_FOUND")


async def test_user_snapshot_follows_the_user_row(make_harness: MakeHarness, storage: str) -> None:
    """Redis/memory cache the user beside the session; a write through authgate must show
    on the very next request."""
    h = await _harness(make_harness, storage)
    token = await h.session_token()
    await set_user(h.res, claims(token)["sub"], email_verified_at=h.clock.now())
    r = await h.client.get("/auth/user", headers=bearer(token))
    assert r.json()["isMfaEnabled"] is False  # now cached (Redis/memory)
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": True}, headers=bearer(token))
    assert r.status_code == 200, r.text
    r = await h.client.get("/auth/user", headers=bearer(token))
    assert r.json()["isMfaEnabled"] is True
    r = await h.client.get("/auth/me", headers=bearer(token))
    assert r.json()["isMfaEnabled"] is True
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": False}, headers=bearer(token))
    assert (await h.client.get("/auth/user", headers=bearer(token))).json()["isMfaEnabled"] is False


async def test_suspension_and_deletion_end_access(make_harness: MakeHarness, storage: str) -> None:
    from tests.helpers import delete_user

    h = await _harness(make_harness, storage)
    token = await h.session_token()
    assert await _user(h, token) == 200
    uid = claims(token)["sub"]
    await set_user(h.res, uid, status="suspended")
    assert_error(await h.client.get("/auth/user", headers=bearer(token)),
                 401, "ACCOUNT_INACTIVE", "User is not active")
    await set_user(h.res, uid, status="active")
    assert await _user(h, token) == 200
    await delete_user(h.res, uid)
    assert_error(await h.client.get("/auth/user", headers=bearer(token)), 401, "USER_NOT_FOUND")
