"""The readers of the audit trail over HTTP: the admin API (``GET
/auth/admin/api/audit-log``: filters, paging, guards) and a user's own activity (``GET
/auth/activity``: the caller's rows only)."""

from __future__ import annotations

from typing import Any

from authgate import background, events
from authgate.audit import trail
from tests.admin.conftest import AdminClientFactory
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error

LOG = "/auth/admin/api/audit-log"


async def _story(h: Harness) -> dict[str, Any]:
    """alice signs in and fails once, bob signs in; a stranger fails; time passes."""
    alice = await h.make_user("alice@example.com")
    bob = await h.make_user("bob@example.com")
    assert (await h.login("alice@example.com")).status_code == 200
    h.clock.advance(60)
    assert (await h.login("alice@example.com", password="not her password")).status_code == 401
    h.clock.advance(60)
    r = await h.login("bob@example.com")
    assert r.status_code == 200
    assert (await h.login("who@example.com", password="whatever it is")).status_code == 401
    await background.drain(h.res)
    return {"alice": alice.id, "bob": bob.id, "bob_token": r.json()["accessToken"]}


async def test_admin_reads_every_row_with_filters(console: Harness,
                                                  admin_client: AdminClientFactory) -> None:
    root = await admin_client()
    start = console.clock.now()
    ids = await _story(console)
    r = await root.delete(f"/auth/admin/api/users/{ids['bob']}/sessions")
    assert r.status_code == 200, r.text

    async def log(**params: Any) -> list[dict[str, Any]]:
        r = await root.get(LOG, params=params)
        assert r.status_code == 200, r.text
        data: list[dict[str, Any]] = r.json()["data"]
        return data

    alice = await log(user="ALICE@example.com")
    assert [e["action"] for e in alice] == ["user.login_failed", "user.logged_in"]
    assert alice[0]["outcome"] == "failure" and alice[0]["userId"] == ids["alice"]
    assert alice[0]["actorType"] == "user" and alice[0]["ip"] == "127.0.0.1"
    assert alice == await log(user=ids["alice"])
    bob = await log(user=ids["bob"])
    assert [e["action"] for e in bob] == ["user.sessions.revoke_all", "user.logged_in"]
    revoke = bob[0]
    assert revoke["actorType"] == "admin" and revoke["actorEmail"] == "root@example.com"
    assert revoke["target"] == ids["bob"] and revoke["userAgent"]
    failures = await log(outcome="failure")
    assert {e["userId"] for e in failures} == {ids["alice"], None}
    assert {e["action"] for e in await log(actorType="admin")} >= {
        "admin.bootstrap", "admin.login", "user.sessions.revoke_all"}
    assert [e["action"] for e in await log(action="user.logged_in")] == [
        "user.logged_in", "user.logged_in"]
    logins = await log(action="user.logged_in,admin.*")
    assert {e["action"] for e in logins} >= {"user.logged_in", "admin.login"}
    assert {e["action"] for e in await log(action="user.*", user=ids["alice"])} == {
        "user.logged_in", "user.login_failed"}
    window = await log(since=(start + _m(1)).isoformat(), until=(start + _m(2)).isoformat(),
                       user=ids["alice"])
    assert [e["action"] for e in window] == ["user.login_failed"]
    naive = (start + _m(1)).replace(tzinfo=None).isoformat()
    assert [e["action"] for e in await log(since=naive, user=ids["alice"])] == [
        "user.login_failed"]
    assert await log(user="nobody@example.com") == []
    r = await root.get(LOG, params={"limit": 2, "page": 2})
    body = r.json()
    assert len(body["data"]) == 2 and body["meta"]["page"] == 2
    assert body["meta"]["totalPages"] == (body["meta"]["total"] + 1) // 2


def _m(n: int) -> Any:
    from datetime import timedelta

    return timedelta(minutes=n)


async def test_admin_audit_log_refuses_bad_filters(console: Harness,
                                                   admin_client: AdminClientFactory) -> None:
    root = await admin_client()
    for params in ({"outcome": "maybe"}, {"actorType": "robot"}, {"since": "yesterday"},
                   {"until": "2026-13-01"}, {"action": "user.logged_in; DROP"},
                   {"action": "USER"}, {"action": "user.log*"}, {"action": "a,,b"},
                   {"limit": 0}, {"limit": 201}, {"page": 0},
                   {"user": ""}, {"user": "x" * 321},
                   {"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}):
        assert_error(await root.get(LOG, params=params), 400, "INVALID_INPUT")


async def test_admin_audit_log_guards(make_harness: MakeHarness,
                                      admin_client: AdminClientFactory,
                                      console: Harness) -> None:
    assert_error(await console.client.get(LOG), 401, "ADMIN_AUTH_REQUIRED")
    token = await console.session_token("user@example.com")
    assert_error(await console.client.get(LOG, headers=bearer(token)), 401,
                 "ADMIN_AUTH_REQUIRED")  # an end user's token is no admin session
    root = await admin_client()
    assert (await root.get(LOG)).status_code == 200
    await root.post("/auth/admin/logout", json={})
    assert_error(await root.get(LOG), 401, "ADMIN_AUTH_REQUIRED")
    off = await make_harness()
    r = await off.client.get(LOG)
    assert r.status_code == 404


async def test_activity_is_the_callers_own(h: Harness) -> None:
    ids = await _story(h)
    await trail.record(h.res, "user.update", actor_type=trail.ADMIN, actor_id="admin-1",
                       user_id=ids["bob"], target=ids["bob"], fields=["isActive"])
    r = await h.client.get("/auth/activity", headers=bearer(ids["bob_token"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [e["event"] for e in body["data"]] == ["user.update", "user.logged_in"]
    admin_row, login = body["data"]
    assert admin_row["actorType"] == "admin" and "actor" not in admin_row
    assert "actorEmail" not in admin_row and admin_row["details"] == {"fields": ["isActive"]}
    assert login["outcome"] == "success" and login["ip"] == "127.0.0.1"
    assert set(login) == {"id", "at", "event", "outcome", "actorType", "target", "ip",
                          "userAgent", "details"}
    assert body["meta"] == {"page": 1, "limit": 20, "total": 2, "totalPages": 1}
    # nothing of alice's, whatever the request says
    for params in ({"userId": ids["alice"]}, {"user": ids["alice"]}):
        r = await h.client.get("/auth/activity", params=params,
                               headers=bearer(ids["bob_token"]))
        assert r.status_code == 200
        assert all(e["event"] != "user.login_failed" for e in r.json()["data"])
    r = await h.client.get("/auth/activity", params={"event": "user.*", "limit": 1},
                           headers=bearer(ids["bob_token"]))
    assert [e["event"] for e in r.json()["data"]] == ["user.update"]
    assert r.json()["meta"]["totalPages"] == 2
    r = await h.client.get("/auth/activity", params={"event": "user.*", "limit": 1,
                                                     "page": 2},
                           headers=bearer(ids["bob_token"]))
    assert [e["event"] for e in r.json()["data"]] == ["user.logged_in"]


async def test_activity_sees_failed_attempts_on_the_account(h: Harness) -> None:
    u = await h.make_user("eve@example.com", tokens=True)
    assert (await h.login("eve@example.com", password="guessing it")).status_code == 401
    await background.drain(h.res)
    assert u.access_token is not None
    r = await h.client.get("/auth/activity", params={"event": events.LOGIN_FAILED},
                           headers=bearer(u.access_token))
    [row] = r.json()["data"]
    assert row["outcome"] == "failure" and row["details"]["identifierHash"]


async def test_activity_failure_modes(make_harness: MakeHarness) -> None:
    h = await make_harness()
    assert_error(await h.client.get("/auth/activity"), 401, "NO_AUTH_PROVIDED")
    assert_error(await h.client.get("/auth/activity", headers=bearer("nope")), 401,
                 "INVALID_TOKEN")
    token = await h.session_token("frank@example.com")
    for params in ({"limit": 0}, {"limit": 101}, {"page": 0}, {"event": "a b"},
                   {"event": "," * 2}):
        assert_error(await h.client.get("/auth/activity", params=params,
                                        headers=bearer(token)), 400, "INVALID_INPUT")
    pending = await h.make_user("gina@example.com", totp=True, mfa=True, tokens=True)
    assert pending.access_token is not None
    r = await h.client.get("/auth/activity", headers=bearer(pending.access_token))
    assert r.status_code in (401, 403) and r.json()["code"] == "MFA_REQUIRED"


async def test_activity_with_cookies(make_harness: MakeHarness) -> None:
    h = await make_harness(session={"cookie": {"secure": False}, "access_token_type": "cookie"})
    await h.make_user("hana@example.com")
    r = await h.login("hana@example.com")
    assert r.status_code == 200
    await background.drain(h.res)
    r = await h.client.get("/auth/activity")
    assert r.status_code == 200, r.text
    assert [e["event"] for e in r.json()["data"]] == ["user.logged_in"]



async def test_an_admins_change_is_the_admins_and_hides_the_admin(
        console: Harness, admin_client: AdminClientFactory) -> None:
    """A bus event caused from the console (removing a user's authenticator) is recorded as
    the admin's; the owner sees it in their activity without the admin's address, agent or
    id."""
    root = await admin_client()
    me = (await root.get("/auth/admin/me")).json()
    admin_id = (me.get("admin") or me)["id"]
    u = await console.make_user("ivy@example.com", totp=True, tokens=True)
    r = await root.delete(f"/auth/admin/api/users/{u.id}/totp-devices/{u.device_id}")
    assert r.status_code == 200, r.text
    await background.drain(console.res)
    r = await root.get(LOG, params={"user": u.id, "action": events.MFA_DEVICE_REMOVED})
    [row] = r.json()["data"]
    assert row["actorType"] == "admin" and row["actor"] == admin_id and row["ip"]
    assert u.access_token is not None
    r = await console.client.get("/auth/activity", headers=bearer(u.access_token))
    assert r.status_code == 200, r.text
    seen = {e["event"]: e for e in r.json()["data"]}
    assert {events.MFA_DEVICE_REMOVED, "user.totp_device.delete"} <= set(seen)
    for name in (events.MFA_DEVICE_REMOVED, "user.totp_device.delete"):
        assert seen[name]["actorType"] == "admin"
        assert seen[name]["ip"] is None and seen[name]["userAgent"] is None
