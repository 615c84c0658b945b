"""Issue #19 items 1-4 (ASVS 3.3.1, 3.3.2, 3.2.1, 3.3.4) over HTTP, on every session store
and both databases: logout ends the session whatever its access token's age; absolute and
idle lifetimes; tokens minted before the MFA step die with it; a user's own session list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import STORES, assert_error, claims, set_cookies
from tests.mfa.helpers import code, enable_mfa, pending_login

COOKIE = {"x-access-token-type": "cookie"}
PLAIN_HTTP = {"secure": False}


@pytest.fixture(params=STORES)
def storage(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _harness(make_harness: MakeHarness, storage: str, **settings: Any) -> Harness:
    session = {"storage": storage, **settings.pop("session", {})}
    return await make_harness(session=session, rate_limit={"enabled": False}, **settings)


async def _pair(h: Harness, email: str = "alice@example.com") -> tuple[str, str]:
    u = await h.make_user(email, tokens=True)
    assert u.access_token is not None and u.refresh_token is not None
    return u.access_token, u.refresh_token


async def _again(h: Harness, email: str = "alice@example.com") -> tuple[str, str]:
    """Another session of an existing user (a password login)."""
    r = await h.login(email)
    assert r.status_code == 200, r.text
    return r.json()["accessToken"], r.json()["refreshToken"]


async def _refresh(h: Harness, token: str) -> Any:
    return await h.client.post("/auth/refresh-token", json={"refreshToken": token})


async def _alive(h: Harness, sid: str) -> bool:
    return await h.res.store.get(sid, h.clock.now()) is not None


# item 1: logout (3.3.1) ---------------------------------------------------------------------
async def test_logout_with_an_expired_access_token_ends_the_session(
        make_harness: MakeHarness, storage: str) -> None:
    h = await _harness(make_harness, storage)
    access, refresh = await _pair(h)
    sid = claims(access)["sessionId"]
    h.clock.advance(timedelta(minutes=15, seconds=1))
    assert_error(await h.client.get("/auth/user", headers=bearer(access)), 401, "TOKEN_EXPIRED")
    r = await h.client.post("/auth/logout", headers=bearer(access))
    assert r.status_code == 200 and r.json() == {"message": "Logged out successfully"}
    assert not await _alive(h, sid)
    assert_error(await _refresh(h, refresh), 401, "SESSION_NOT_FOUND")


async def test_logout_with_the_refresh_token_in_the_body(make_harness: MakeHarness,
                                                         storage: str) -> None:
    h = await _harness(make_harness, storage)
    access, refresh = await _pair(h)
    other, _ = await _again(h)  # a second session of the same user lives on
    r = await h.client.post("/auth/logout", json={"refreshToken": refresh})
    assert r.status_code == 200
    assert not await _alive(h, claims(access)["sessionId"])
    assert await _alive(h, claims(other)["sessionId"])


async def test_logout_ignores_what_this_server_did_not_sign(make_harness: MakeHarness,
                                                            storage: str) -> None:
    h = await _harness(make_harness, storage)
    access, refresh = await _pair(h)
    sid = claims(access)["sessionId"]
    head, body, sig = access.split(".")
    forged = f"{head}.{body}.{sig[:-4]}AAAA"
    for kwargs in ({"headers": bearer(forged)}, {"json": {"refreshToken": refresh[:-4] + "AAAA"}},
                   {"json": {"refreshToken": access}},  # an access token is no refresh token
                   {"headers": bearer(refresh)}):  # nor the other way round
        r = await h.client.post("/auth/logout", **kwargs)
        assert r.status_code == 200, r.text
        assert await _alive(h, sid), kwargs
    assert_error(await h.client.post("/auth/logout", json={"refreshToken": 5}), 400,
                 "INVALID_INPUT")


async def test_cookie_logout_after_the_access_cookie_is_gone(make_harness: MakeHarness) -> None:
    """Browsers drop the access cookie at its Max-Age: the refresh cookie names the session,
    under the same CSRF checks."""
    h = await make_harness(session={"cookie": PLAIN_HTTP})
    await h.make_user()
    r = await h.client.post("/auth/login", headers=COOKIE, json={
        "providerName": "email",
        "credentials": {"email": "alice@example.com", "password": "correct horse battery"}})
    sid = claims(set_cookies(r)["accessToken"]["value"])["sessionId"]
    h.client.cookies.delete("accessToken")
    h.clock.advance(timedelta(minutes=16))
    assert_error(await h.client.post("/auth/logout", headers=COOKIE), 403, "CSRF_TOKEN_INVALID")
    assert await _alive(h, sid)
    csrf = {"x-csrf-token": h.client.cookies["nest_auth_csrf"]}
    r = await h.client.post("/auth/logout", headers={**COOKIE, **csrf})
    assert r.status_code == 200, r.text
    assert not await _alive(h, sid)


# item 2: absolute and idle lifetimes (3.3.2) ------------------------------------------------
async def test_absolute_lifetime_ends_a_session_however_often_refreshed(
        make_harness: MakeHarness, storage: str) -> None:
    h = await _harness(make_harness, storage, session={"absolute_lifetime": "1h"})
    access, refresh = await _pair(h)
    start = claims(access)["iat"]
    for _ in range(5):
        h.clock.advance(timedelta(minutes=11))
        r = await _refresh(h, refresh)
        assert r.status_code == 200, r.text
        access, refresh = r.json()["accessToken"], r.json()["refreshToken"]
        assert claims(refresh)["exp"] <= start + 3600  # never past the absolute end
    r = await h.client.get("/auth/verify-session", headers=bearer(access))
    assert r.status_code == 200 and r.json()["expiresAt"] <= _iso(h, start + 3600)
    h.clock.advance(timedelta(minutes=6))  # 61 minutes after sign-in
    assert_error(await h.client.get("/auth/user", headers=bearer(access)), 401,
                 "SESSION_NOT_FOUND")
    assert_error(await _refresh(h, refresh), 401, "REFRESH_TOKEN_EXPIRED")


def _iso(h: Harness, ts: int) -> str:
    from datetime import UTC, datetime

    from authgate.http.schemas import iso

    return iso(datetime.fromtimestamp(ts, UTC)) or ""


async def test_absolute_lifetime_default_is_30_days(make_harness: MakeHarness) -> None:
    h = await make_harness(rate_limit={"enabled": False})
    assert h.settings.session.absolute_lifetime == timedelta(days=30)
    _, refresh = await _pair(h)
    for _ in range(4):  # every refresh used to push the end by 7 days, forever
        h.clock.advance(timedelta(days=7) - timedelta(hours=1))
        r = await _refresh(h, refresh)
        assert r.status_code == 200, r.text
        refresh = r.json()["refreshToken"]
    h.clock.advance(timedelta(days=3))  # 30 days and 20 hours after sign-in
    assert_error(await _refresh(h, refresh), 401, "REFRESH_TOKEN_EXPIRED")


async def test_sessions_stored_before_a_shorter_setting_end_on_the_hot_path(
        make_harness: MakeHarness, storage: str) -> None:
    """The hot path reads the limits from the record's own times (no extra look-up), so a
    record written with a later expiry (older settings) ends all the same."""
    h = await _harness(make_harness, storage, session={"absolute_lifetime": "2h",
                                                       "idle_timeout": "1h"},
                       jwt={"access_token_expires_in": "1d"})
    access, _ = await _pair(h)
    sid = claims(access)["sessionId"]
    far = h.clock.now() + timedelta(days=7)
    await h.res.store.update(sid, {"expires_at": far, "last_active": h.clock.now()})
    h.clock.advance(timedelta(minutes=50))
    assert (await h.client.get("/auth/user", headers=bearer(access))).status_code == 200
    await h.res.store.update(sid, {"expires_at": far})
    h.clock.advance(timedelta(minutes=50))
    assert (await h.client.get("/auth/user", headers=bearer(access))).status_code == 200
    await h.res.store.update(sid, {"expires_at": far})
    h.clock.advance(timedelta(minutes=21))  # 2 h 1 min after sign-in, 21 min idle
    assert_error(await h.client.get("/auth/user", headers=bearer(access)), 401,
                 "SESSION_NOT_FOUND")
    assert not await _alive(h, sid)


async def test_idle_timeout(make_harness: MakeHarness, storage: str) -> None:
    h = await _harness(make_harness, storage, session={"idle_timeout": "30m"},
                       jwt={"access_token_expires_in": "1d"})
    access, refresh = await _pair(h)
    sid = claims(access)["sessionId"]
    for _ in range(4):  # used every 20 minutes: alive for 80 minutes and more
        h.clock.advance(timedelta(minutes=20))
        assert (await h.client.get("/auth/user", headers=bearer(access))).status_code == 200
    rec = await h.res.store.get(sid, h.clock.now())
    assert rec is not None and rec.last_active == h.clock.now()
    assert rec.expires_at == h.clock.now() + timedelta(minutes=30)
    h.clock.advance(timedelta(minutes=30))  # then left alone for 30 minutes
    assert_error(await h.client.get("/auth/user", headers=bearer(access)), 401,
                 "SESSION_NOT_FOUND")
    assert_error(await _refresh(h, refresh), 401, "SESSION_NOT_FOUND")


async def test_idle_session_cannot_be_refreshed(make_harness: MakeHarness, storage: str) -> None:
    h = await _harness(make_harness, storage, session={"idle_timeout": "30m"})
    _, refresh = await _pair(h)
    h.clock.advance(timedelta(minutes=29))
    r = await _refresh(h, refresh)
    assert r.status_code == 200, r.text
    h.clock.advance(timedelta(minutes=30))
    assert_error(await _refresh(h, r.json()["refreshToken"]), 401, "SESSION_NOT_FOUND")


def test_idle_timeout_must_exceed_the_touch_interval() -> None:
    from pydantic import ValidationError

    from authgate.config import load_settings

    with pytest.raises(ValidationError, match="idle_timeout"):
        load_settings(session={"idle_timeout": "5m"})
    load_settings(session={"idle_timeout": "5m", "touch_interval": "1m"})


# item 3: tokens minted before the MFA step (3.2.1) ------------------------------------------
async def _mfa_pending(h: Harness) -> tuple[Any, dict[str, Any]]:
    u = await h.make_user(verified=True, totp=True, tokens=True)
    assert u.access_token is not None
    await enable_mfa(h, u.access_token)
    body = await pending_login(h)
    assert body["isRequiresMfa"] is True
    return u, body


async def test_the_pending_token_dies_with_the_mfa_step(make_harness: MakeHarness,
                                                        storage: str) -> None:
    h = await _harness(make_harness, storage)
    u, pending = await _mfa_pending(h)
    old_access, old_refresh = pending["accessToken"], pending["refreshToken"]
    r = await h.client.post("/auth/mfa/verify", headers=bearer(old_access),
                            json={"method": "totp", "otp": code(h, u.totp_secret)})
    assert r.status_code == 200, r.text
    new = r.json()
    assert claims(new["accessToken"])["sessionId"] == claims(old_access)["sessionId"]
    # the pre-MFA access token is not upgraded in place: refused everywhere
    for path in ("/auth/user", "/auth/verify-session", "/auth/mfa/status"):
        assert_error(await h.client.get(path, headers=bearer(old_access)), 401,
                     "INVALID_TOKEN")
    # the pre-MFA refresh token gets no share of the verified successor, even inside the
    # reuse grace window, and does not revoke the session its owner now holds
    assert_error(await _refresh(h, old_refresh), 401, "REFRESH_TOKEN_INVALID")
    assert (await h.client.get("/auth/user", headers=bearer(new["accessToken"]))).status_code \
        == 200
    r = await _refresh(h, new["refreshToken"])
    assert r.status_code == 200, r.text


# item 4: the user's own sessions (3.3.4) ----------------------------------------------------
async def test_list_own_sessions(make_harness: MakeHarness, storage: str) -> None:
    h = await _harness(make_harness, storage)
    first, _ = await _pair(h)
    h.clock.advance(1)
    r = await h.client.post("/auth/login", headers={"user-agent": "Mozilla/5.0 (iPhone)"},
                            json={"providerName": "email", "credentials": {
                                "email": "alice@example.com",
                                "password": "correct horse battery"}})
    second = r.json()["accessToken"]
    bob, _ = await _pair(h, "bob@example.com")
    r = await h.client.get("/auth/sessions", headers=bearer(first))
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [s["id"] for s in data] == [claims(second)["sessionId"], claims(first)["sessionId"]]
    assert [s["isCurrent"] for s in data] == [False, True]
    iphone = data[0]
    assert iphone["deviceName"] == "iOS" and iphone["userAgent"] == "Mozilla/5.0 (iPhone)"
    assert iphone["ipAddress"] == "127.0.0.1" and iphone["isMfaPending"] is False
    assert set(iphone) == {"id", "deviceName", "userAgent", "ipAddress", "createdAt",
                           "lastActive", "expiresAt", "isCurrent", "isMfaPending"}
    assert claims(bob)["sessionId"] not in {s["id"] for s in data}
    assert_error(await h.client.get("/auth/sessions"), 401, "NO_AUTH_PROVIDED")


async def test_pending_sessions_are_listed_and_cannot_list(make_harness: MakeHarness,
                                                           storage: str) -> None:
    h = await _harness(make_harness, storage)
    u, pending = await _mfa_pending(h)
    assert u.access_token is not None
    data = (await h.client.get("/auth/sessions", headers=bearer(u.access_token))).json()["data"]
    assert {s["id"]: s["isMfaPending"] for s in data}[
        claims(pending["accessToken"])["sessionId"]] is True
    assert_error(await h.client.get("/auth/sessions", headers=bearer(pending["accessToken"])),
                 401, "MFA_REQUIRED")


async def test_end_another_session(make_harness: MakeHarness, storage: str) -> None:
    h = await _harness(make_harness, storage, jwt={"access_token_expires_in": "1d"})
    mine, _ = await _pair(h)
    other, other_refresh = await _again(h)
    bob, _ = await _pair(h, "bob@example.com")
    other_id, bob_id = claims(other)["sessionId"], claims(bob)["sessionId"]
    # another user's session, or one that does not exist, is not found (the same answer)
    for sid in (bob_id, "no-such-session"):
        assert_error(await h.client.delete(f"/auth/sessions/{sid}", headers=bearer(mine)),
                     404, "NOT_FOUND", "Session not found")
    assert await _alive(h, bob_id)
    r = await h.client.delete(f"/auth/sessions/{other_id}", headers=bearer(mine))
    assert r.status_code == 200 and r.json() == {"message": "Session revoked successfully"}
    assert "set-cookie" not in r.headers
    assert_error(await h.client.get("/auth/user", headers=bearer(other)), 401,
                 "SESSION_NOT_FOUND")
    assert_error(await _refresh(h, other_refresh), 401, "SESSION_NOT_FOUND")
    assert (await h.client.get("/auth/user", headers=bearer(mine))).status_code == 200
    assert_error(await h.client.delete(f"/auth/sessions/{other_id}", headers=bearer(mine)),
                 404, "NOT_FOUND")


async def test_ending_another_session_needs_a_recent_sign_in(make_harness: MakeHarness) -> None:
    """A stolen, older token cannot sign the owner out of their devices one by one; it can
    still end its own session."""
    h = await make_harness(jwt={"access_token_expires_in": "1d"})
    stolen, _ = await _pair(h)
    h.clock.advance(timedelta(minutes=11))
    owner, _ = await _again(h)
    owner_id = claims(owner)["sessionId"]
    r = await h.client.delete(f"/auth/sessions/{owner_id}", headers=bearer(stolen))
    assert_error(r, 403, "REAUTH_REQUIRED")
    assert await _alive(h, owner_id)
    r = await h.client.delete(f"/auth/sessions/{claims(stolen)['sessionId']}",
                              headers=bearer(stolen))
    assert r.status_code == 200
    assert set_cookies(r)["__Host-accessToken"]["max-age"] == "0"  # its own: a logout
    assert_error(await h.client.get("/auth/user", headers=bearer(stolen)), 401,
                 "SESSION_NOT_FOUND")
