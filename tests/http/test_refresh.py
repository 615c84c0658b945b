"""POST /auth/refresh-token: rotation with reuse detection and a grace window (contract §3.6,
W9 fixed), on every session store and both databases."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from authgate import events
from authgate.events import Event
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import (
    STORES,
    add_totp_device,
    assert_error,
    claims,
    delete_user,
    grant_permissions,
    set_user,
    user_id_of,
)


@pytest.fixture(params=STORES)
async def hs(request: pytest.FixtureRequest, make_harness: MakeHarness) -> Harness:
    """The default app on each session store (rate limits off: these tests hammer one
    session on purpose)."""
    return await make_harness(session={"storage": request.param}, rate_limit={"enabled": False})


async def _pair(h: Harness) -> tuple[str, str]:
    """A user and the token pair of a session opened as signup opens it (rows written
    directly: these tests are about refresh)."""
    u = await h.make_user(tokens=True)
    assert u.access_token is not None and u.refresh_token is not None
    return u.access_token, u.refresh_token


async def _refresh(h: Harness, token: str | None) -> tuple[int, dict[str, object]]:
    r = await h.client.post("/auth/refresh-token", json={"refreshToken": token})
    return r.status_code, r.json()


async def test_rotation_gives_a_new_pair_on_the_same_session(hs: Harness) -> None:
    access, refresh = await _pair(hs)
    seen = {refresh}
    for step in range(1, 4):
        hs.clock.advance(30)
        r = await hs.client.post("/auth/refresh-token", json={"refreshToken": refresh})
        assert r.status_code == 200, r.text
        body = r.json()
        assert list(body) == ["accessToken", "refreshToken", "isRequiresMfa", "message"]
        assert body["message"] == "Token refreshed successfully" and body["isRequiresMfa"] is False
        assert body["refreshToken"] not in seen and body["accessToken"] != access
        seen.add(body["refreshToken"])
        assert claims(body["refreshToken"])["sessionId"] == claims(refresh)["sessionId"]
        assert claims(body["refreshToken"])["gen"] == step
        assert claims(body["accessToken"])["sessionId"] == claims(access)["sessionId"]
        assert claims(body["accessToken"])["roles"] == []  # an array, on every store
        access, refresh = body["accessToken"], body["refreshToken"]
        assert (await hs.client.get("/auth/user", headers=bearer(access))).status_code == 200


async def test_old_token_after_grace_revokes_the_whole_session(hs: Harness) -> None:
    reuse: list[Event] = []
    hs.res.events.subscribe(events.REFRESH_REUSE_DETECTED, reuse.append)
    _, r0 = await _pair(hs)
    status, body = await _refresh(hs, r0)
    assert status == 200
    a1, r1 = str(body["accessToken"]), str(body["refreshToken"])
    hs.clock.advance(11)  # default grace: 10 s
    r = await hs.client.post("/auth/refresh-token", json={"refreshToken": r0})
    assert_error(r, 401, "REFRESH_TOKEN_INVALID",
                 "Refresh token is no longer valid (rotated or replayed)")
    assert len(reuse) == 1 and reuse[0].data["sessionId"] == claims(r0)["sessionId"]
    assert_error(await hs.client.get("/auth/user", headers=bearer(a1)), 401, "SESSION_NOT_FOUND")
    r = await hs.client.post("/auth/refresh-token", json={"refreshToken": r1})
    assert_error(r, 401, "SESSION_NOT_FOUND")


async def test_retry_inside_grace_gets_the_identical_successor(hs: Harness) -> None:
    _, r0 = await _pair(hs)
    hs.clock.advance(0.4)
    status, first = await _refresh(hs, r0)
    assert status == 200
    hs.clock.advance(5)
    status, again = await _refresh(hs, r0)
    assert status == 200
    assert again["refreshToken"] == first["refreshToken"]  # byte-identical
    assert (await hs.client.get("/auth/user",
                                headers=bearer(str(again["accessToken"])))).status_code == 200
    # the successor is live and rotates normally
    status, nxt = await _refresh(hs, str(first["refreshToken"]))
    assert status == 200 and nxt["refreshToken"] != first["refreshToken"]
    # r0 is now two rotations old: presenting it is reuse even inside the window
    r = await hs.client.post("/auth/refresh-token", json={"refreshToken": r0})
    assert_error(r, 401, "REFRESH_TOKEN_INVALID")


async def test_grace_window_is_configurable(make_harness: MakeHarness) -> None:
    h = await make_harness(jwt={"refresh_reuse_grace": "2s"})
    _, r0 = await _pair(h)
    assert (await _refresh(h, r0))[0] == 200
    h.clock.advance(1)
    assert (await _refresh(h, r0))[0] == 200
    h.clock.advance(2.5)
    assert_error(await h.client.post("/auth/refresh-token", json={"refreshToken": r0}),
                 401, "REFRESH_TOKEN_INVALID")


@pytest.mark.parametrize("n", [20, 50])
async def test_concurrent_refreshes_never_fork_the_session(hs: Harness, n: int) -> None:
    _, r0 = await _pair(hs)
    results = await asyncio.gather(*[_refresh(hs, r0) for _ in range(n)])
    assert all(status == 200 for status, _ in results), results
    successors = {body["refreshToken"] for _, body in results}
    assert len(successors) == 1
    rec = await hs.res.store.get(claims(r0)["sessionId"], hs.clock.now())
    assert rec is not None and rec.generation == 1
    status, body = await _refresh(hs, str(successors.pop()))
    assert status == 200, body


async def test_concurrent_refreshes_of_two_sessions_are_independent(hs: Harness) -> None:
    _, ra = await _pair(hs)
    r = await hs.login()
    rb = r.json()["refreshToken"]
    results = await asyncio.gather(*[_refresh(hs, t) for t in [ra, rb] * 10])
    assert all(status == 200 for status, _ in results)
    assert len({body["refreshToken"] for _, body in results}) == 2


@pytest.mark.parametrize("body", [{}, {"refreshToken": None}, {"refreshToken": ""}])
async def test_missing_refresh_token(h: Harness, body: dict[str, object]) -> None:
    r = await h.client.post("/auth/refresh-token", json=body)
    assert_error(r, 401, "REFRESH_TOKEN_INVALID", "refreshToken is required")


async def test_refresh_token_must_be_a_string(h: Harness) -> None:
    r = await h.client.post("/auth/refresh-token", json={"refreshToken": 12})
    assert_error(r, 400, "INVALID_INPUT", "refreshToken must be a string")


async def test_expired_refresh_token(hs: Harness) -> None:
    _, r0 = await _pair(hs)
    hs.clock.advance(7 * 86400)
    r = await hs.client.post("/auth/refresh-token", json={"refreshToken": r0})
    assert_error(r, 401, "REFRESH_TOKEN_EXPIRED", "Invalid or expired refresh token")


async def test_garbage_and_access_tokens_do_not_revoke(hs: Harness) -> None:
    access, refresh = await _pair(hs)
    for bad in ("garbage", access, refresh[:-4], "x" * 4000):
        r = await hs.client.post("/auth/refresh-token", json={"refreshToken": bad})
        assert_error(r, 401, "REFRESH_TOKEN_EXPIRED")
    r = await hs.client.post("/auth/refresh-token", json={"refreshToken": "x" * 9000})
    assert_error(r, 400, "INVALID_INPUT", "refreshToken must be shorter than or equal to "
                 "4096 characters")
    # W9: posting the access token no longer revokes the session
    assert (await hs.client.get("/auth/user", headers=bearer(access))).status_code == 200
    assert (await _refresh(hs, refresh))[0] == 200


async def test_refresh_after_logout(hs: Harness) -> None:
    access, refresh = await _pair(hs)
    assert (await hs.client.post("/auth/logout", headers=bearer(access))).status_code == 200
    r = await hs.client.post("/auth/refresh-token", json={"refreshToken": refresh})
    assert_error(r, 401, "SESSION_NOT_FOUND")


async def test_refresh_of_a_suspended_user_revokes(hs: Harness) -> None:
    access, refresh = await _pair(hs)
    uid = claims(access)["sub"]
    await set_user(hs.res, uid, status="suspended")
    r = await hs.client.post("/auth/refresh-token", json={"refreshToken": refresh})
    assert_error(r, 401, "ACCOUNT_INACTIVE")
    await set_user(hs.res, uid, status="active")
    r = await hs.client.post("/auth/refresh-token", json={"refreshToken": refresh})
    assert_error(r, 401, "SESSION_NOT_FOUND")


async def test_refresh_of_a_deleted_user(hs: Harness) -> None:
    access, refresh = await _pair(hs)
    await delete_user(hs.res, claims(access)["sub"])
    r = await hs.client.post("/auth/refresh-token", json={"refreshToken": refresh})
    assert_error(r, 401, "USER_NOT_FOUND")


async def test_pending_session_stays_pending_across_refresh(hs: Harness) -> None:
    """W9 fixed: the refresh response tells the truth about a pending session."""
    await _pair(hs)
    uid = await user_id_of(hs.res, "alice@example.com")
    await add_totp_device(hs.res, uid)
    await set_user(hs.res, uid, is_mfa_enabled=True)
    login = (await hs.login()).json()
    assert login["isRequiresMfa"] is True
    r = await hs.client.post("/auth/refresh-token",
                             json={"refreshToken": login["refreshToken"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["isRequiresMfa"] is True
    assert body["mfaMethods"] == login["mfaMethods"] == ["totp"]
    assert body["defaultMfaMethod"] == "totp"
    assert list(body) == ["accessToken", "refreshToken", "isRequiresMfa", "mfaMethods",
                          "defaultMfaMethod", "message"]
    assert_error(await hs.client.get("/auth/user", headers=bearer(body["accessToken"])),
                 401, "MFA_REQUIRED")


async def test_refresh_picks_up_role_changes(hs: Harness) -> None:
    """Contract §2.1: the session's roles and permissions are rebuilt at each refresh."""
    access, refresh = await _pair(hs)
    await grant_permissions(hs.res, claims(access)["sub"], "editor", "posts.write")
    me = await hs.client.get("/auth/me", headers=bearer(access))
    assert me.json()["roles"] == [] and me.json()["permissions"] == []  # a snapshot until...
    hs.clock.advance(1)
    status, body = await _refresh(hs, refresh)
    assert status == 200
    assert [r["name"] for r in claims(str(body["accessToken"]))["roles"]] == ["editor"]
    me = await hs.client.get("/auth/me", headers=bearer(str(body["accessToken"])))
    assert [r["name"] for r in me.json()["roles"]] == ["editor"]
    assert me.json()["permissions"] == ["posts.write"]
    status, again = await _refresh(hs, refresh)  # the grace retry carries the same data
    assert status == 200 and again["refreshToken"] == body["refreshToken"]
    assert [r["name"] for r in claims(str(again["accessToken"]))["roles"]] == ["editor"]


async def test_grace_window_is_measured_from_the_real_rotation_time(hs: Harness) -> None:
    """Rotation times are stored in whole seconds (so the successor can be re-minted
    byte-identical); a retry 9.5 s after a rotation at x.9 s is still inside 10 s."""
    _, r0 = await _pair(hs)
    now = hs.clock.now()
    hs.clock.set(now.replace(microsecond=900_000) + timedelta(seconds=1))
    status, first = await _refresh(hs, r0)
    assert status == 200
    hs.clock.advance(9.5)
    status, again = await _refresh(hs, r0)
    assert status == 200, again
    assert again["refreshToken"] == first["refreshToken"]
    hs.clock.advance(1)  # 10.5 s after the rotation
    r = await hs.client.post("/auth/refresh-token", json={"refreshToken": r0})
    assert_error(r, 401, "REFRESH_TOKEN_INVALID")
