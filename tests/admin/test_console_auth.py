"""The admin console's identity and sessions (contract §2.7 "Console", issue 13 §1):
bootstrap, sign-in, the guard (cookie, CSRF, token version), admins CRUD, reset-password,
throttling and lockout, security headers, the admin's own TOTP."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import jwt
import pytest
from pydantic import ValidationError

from authgate import events
from authgate.config import Settings
from authgate.crypto import totp
from authgate.events import Event
from tests.admin.conftest import (
    ADMIN_EMAIL,
    ADMIN_KEY,
    ADMIN_PASSWORD,
    CONSOLE,
    AdminClientFactory,
    bootstrap,
    browser,
    sign_in,
)
from tests.conftest import Harness, MakeHarness
from tests.helpers import assert_error, set_cookies

SAFE_ADMIN = {"id", "email", "name", "metadata", "lastLoginAt", "createdAt", "updatedAt",
              "totpEnabled"}
GUARDED = [("GET", "/auth/admin/me"), ("POST", "/auth/admin/logout"),
           ("GET", "/auth/admin/api/stats"), ("GET", "/auth/admin/admins"),
           ("POST", "/auth/admin/admins"), ("PATCH", "/auth/admin/admins/x"),
           ("DELETE", "/auth/admin/admins/x"), ("POST", "/auth/admin/totp/setup")]


# off by default -----------------------------------------------------------------------------
async def test_console_is_off_by_default(h: Harness) -> None:
    for method, path in [*GUARDED, ("GET", "/auth/admin/config"),
                         ("POST", "/auth/admin/login"), ("POST", "/auth/admin/signup"),
                         ("POST", "/auth/admin/reset-password")]:
        body = {"email": "a@example.com", "password": "Xx1!xxxxxx", "secretKey": ADMIN_KEY,
                "newPassword": "Xx1!xxxxxx"}
        r = await h.client.request(method, path, json=body)
        assert_error(r, 404, "ADMIN_CONSOLE_DISABLED", "Admin console is disabled")


async def test_enabled_without_a_secret_key_stays_off(make_harness: MakeHarness,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    h = await make_harness(admin_console={"enabled": True})
    assert_error(await h.client.get("/auth/admin/config"), 404, "ADMIN_CONSOLE_DISABLED")


@pytest.mark.parametrize("key", ["short-key", "changeme", "a" * 40, "abababababababababababababababab",
                                 "your-super-secret-admin-key-change-me"])
def test_a_short_or_weak_secret_key_stops_start_up(key: str) -> None:
    with pytest.raises(ValidationError, match="admin_console.secret_key"):
        Settings(admin_console={"enabled": True, "secret_key": key})


def test_the_console_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHGATE_ADMIN_CONSOLE__ENABLED", "true")
    monkeypatch.setenv("AUTHGATE_ADMIN_CONSOLE__SECRET_KEY", ADMIN_KEY)
    assert Settings().admin_console.active()


async def test_config(console: Harness) -> None:
    r = await console.client.get("/auth/admin/config")
    assert r.status_code == 200 and r.json() == {"allowAdminManagement": True}


# bootstrap ------------------------------------------------------------------------------------
async def test_bootstrap_creates_the_first_admin_then_closes(console: Harness) -> None:
    r = await bootstrap(console, name="Root", metadata={"team": "ops"}, tokenVersion=99,
                        id="00000000-0000-0000-0000-000000000000")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["message"] == "Admin user created successfully"
    admin = body["admin"]
    assert set(admin) == SAFE_ADMIN
    assert admin["email"] == ADMIN_EMAIL and admin["name"] == "Root"
    assert admin["metadata"] == {"team": "ops"} and admin["lastLoginAt"] is None
    assert admin["id"] != "00000000-0000-0000-0000-000000000000"  # mass assignment ignored
    # closed now: checked before the key, so even a wrong key hears "closed"
    r = await console.client.post("/auth/admin/signup", json={
        "email": "second@example.com", "password": ADMIN_PASSWORD, "secretKey": "wrong"})
    assert_error(r, 403, "ADMIN_BOOTSTRAP_CLOSED")


async def test_bootstrap_refusals(console: Harness) -> None:
    c = console.client
    base = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "secretKey": ADMIN_KEY}
    assert_error(await c.post("/auth/admin/signup", json={**base, "secretKey": ADMIN_KEY + "x"}),
                 401, "INVALID_SECRET_KEY", "Invalid secret key")
    assert_error(await c.post("/auth/admin/signup", json={**base, "password": "Ab1!"}),
                 400, "ADMIN_PASSWORD_TOO_SHORT")
    assert_error(await c.post("/auth/admin/signup", json={**base, "password": "alllowercase1!"}),
                 400, "INVALID_INPUT",
                 "Password must contain uppercase, lowercase, number, and special character")
    assert_error(await c.post("/auth/admin/signup", json={**base, "email": "nope"}),
                 400, "INVALID_INPUT", "email must be an email")
    assert_error(await c.post("/auth/admin/signup", json={**base, "secretKey": None}),
                 400, "INVALID_INPUT")
    assert_error(await c.post("/auth/admin/signup", json={**base, "password": "Password123!"}),
                 400, "PASSWORD_TOO_WEAK")  # the end-user policy applies too
    # a hyphen is a special character (upstream refused it, W21)
    r = await c.post("/auth/admin/signup", json={**base, "password": "Tr1cky-Horse-Battery"})
    assert r.status_code == 201, r.text


async def test_signup_stays_open_when_configured(make_harness: MakeHarness) -> None:
    h = await make_harness(admin_console={**CONSOLE["admin_console"],
                                          "allow_public_signup_after_first_admin": True})
    assert (await bootstrap(h)).status_code == 201
    assert_error(await bootstrap(h), 409, "ADMIN_USER_EXISTS")
    assert_error(await bootstrap(h, email="ROOT@example.com"), 409, "ADMIN_USER_EXISTS")
    assert (await bootstrap(h, email="two@example.com")).status_code == 201


async def test_two_bootstraps_at_once_make_one_admin(console: Harness) -> None:
    got = await asyncio.gather(bootstrap(console, "a@example.com"),
                               bootstrap(console, "b@example.com"))
    assert sorted(r.status_code for r in got) == [201, 403]


# sign-in and the session cookie ---------------------------------------------------------------
async def test_login_sets_a_strict_httponly_cookie_on_the_console_path(console: Harness) -> None:
    await bootstrap(console)
    client = browser(console)
    async with client:
        r = await sign_in(client)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["message"] == "Signed in successfully" and set(body["admin"]) == SAFE_ADMIN
        assert body["admin"]["lastLoginAt"] is not None
        cookies = set_cookies(r)
        session = cookies["nest_auth_admin"]
        assert "httponly" in session and "secure" in session
        assert session["samesite"].lower() == "strict" and session["path"] == "/auth/admin"
        assert session["max-age"] == "7200"
        csrf = cookies["nest_auth_admin_csrf"]
        assert "httponly" not in csrf and csrf["value"] == body["csrfToken"]
        claims = jwt.decode(session["value"], options={"verify_signature": False})
        assert set(claims) == {"sub", "email", "tv", "sid", "iat", "exp"}
        me = await client.get("/auth/admin/me")
        assert me.status_code == 200 and me.json()["email"] == ADMIN_EMAIL


async def test_login_failures_look_alike(console: Harness) -> None:
    await bootstrap(console)
    seen: list[Event] = []
    console.res.events.subscribe(events.LOGIN_FAILED, seen.append)
    wrong = await console.client.post("/auth/admin/login", json={
        "email": ADMIN_EMAIL, "password": "Wrong-Pass1!"})
    unknown = await console.client.post("/auth/admin/login", json={
        "email": "nobody@example.com", "password": "Wrong-Pass1!"})
    for r in (wrong, unknown):
        assert_error(r, 401, "INVALID_CREDENTIALS", "Invalid credentials")
        assert "set-cookie" not in r.headers
    assert wrong.json() == unknown.json()
    assert [e.data["providerName"] for e in seen] == ["admin", "admin"]


async def test_the_guard(console: Harness, admin_client: AdminClientFactory) -> None:
    root = await admin_client()
    good = root.cookies["nest_auth_admin"]
    anon = browser(console)
    async with anon:
        assert_error(await anon.get("/auth/admin/me"), 401, "ADMIN_AUTH_REQUIRED",
                     "Admin authentication required")
        claims = jwt.decode(good, options={"verify_signature": False})
        forged = jwt.encode(claims, "another-key-0123456789-0123456789-abc", algorithm="HS256")
        unsigned = jwt.encode(claims, None, algorithm="none")
        header, payload, sig = good.split(".")
        tampered = f"{header}.{payload}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"
        user_token = (await console.make_user("u@example.com", tokens=True)).access_token
        for bad in (forged, unsigned, tampered, "garbage", user_token or "", "x" * 5000):
            r = await anon.get("/auth/admin/me", headers={"cookie": f"nest_auth_admin={bad}"})
            assert_error(r, 401, "ADMIN_SESSION_INVALID")
    console.clock.advance(timedelta(hours=2, seconds=1))
    assert_error(await root.get("/auth/admin/me"), 401, "ADMIN_SESSION_INVALID")


async def test_csrf_on_every_state_changing_admin_request(console: Harness,
                                                          admin_client: AdminClientFactory) -> None:
    root = await admin_client()
    other = await admin_client("two@example.com")
    body = {"email": "x@example.com", "password": ADMIN_PASSWORD}
    for headers in ({"x-csrf-token": ""}, {"x-csrf-token": "nope"},
                    {"x-csrf-token": other.csrf}):
        r = await root.post("/auth/admin/admins", json=body, headers=headers)
        assert_error(r, 403, "CSRF_TOKEN_INVALID")
    r = await root.post("/auth/admin/admins", json=body)
    assert r.status_code == 201
    assert (await root.get("/auth/admin/admins")).status_code == 200  # reads need none


async def test_logout_ends_this_session_only(console: Harness,
                                             admin_client: AdminClientFactory) -> None:
    first = await admin_client()
    second = browser(console)
    async with second:
        assert (await sign_in(second)).status_code == 201
        old = first.cookies["nest_auth_admin"]
        r = await first.post("/auth/admin/logout")
        assert r.status_code == 201 and r.json() == {"message": "Signed out"}
        cleared = set_cookies(r)["nest_auth_admin"]
        assert cleared["value"] == "" and cleared["path"] == "/auth/admin"
        r = await first.get("/auth/admin/me", headers={"cookie": f"nest_auth_admin={old}"})
        assert_error(r, 401, "ADMIN_SESSION_REVOKED",
                     "Admin session has been revoked")
        assert (await second.get("/auth/admin/me")).status_code == 200
        # sign out everywhere: the token version moves, every session ends
        third = browser(console)
        async with third:
            assert (await sign_in(third)).status_code == 201
            r = await second.post("/auth/admin/logout", json={"everywhere": True})
            assert r.status_code == 201
            assert_error(await third.get("/auth/admin/me"), 401, "ADMIN_SESSION_REVOKED")


async def test_a_deleted_admin_is_signed_out(console: Harness,
                                             admin_client: AdminClientFactory) -> None:
    root = await admin_client()
    two = await admin_client("two@example.com")
    two_id = (await two.get("/auth/admin/me")).json()["id"]
    assert (await root.delete(f"/auth/admin/admins/{two_id}")).status_code == 200
    assert_error(await two.get("/auth/admin/me"), 401, "ADMIN_SESSION_INVALID",
                 "Admin account not found")


# admins CRUD ----------------------------------------------------------------------------------
async def test_admins_crud(console: Harness, admin_client: AdminClientFactory) -> None:
    root = await admin_client()
    console.clock.advance(1)
    r = await root.post("/auth/admin/admins", json={"email": "New@Example.com",
                                                    "password": ADMIN_PASSWORD, "name": "New",
                                                    "tokenVersion": 7, "totpEnabled": True})
    assert r.status_code == 201, r.text
    new = r.json()["admin"]
    assert set(new) == SAFE_ADMIN and new["email"] == "new@example.com"
    assert new["totpEnabled"] is False
    assert_error(await root.post("/auth/admin/admins", json={"email": "new@example.com",
                                                            "password": ADMIN_PASSWORD}),
                 409, "ADMIN_USER_EXISTS")
    assert_error(await root.post("/auth/admin/admins", json={"email": "x@example.com",
                                                            "password": "short"}),
                 400, "ADMIN_PASSWORD_TOO_SHORT")
    listed = (await root.get("/auth/admin/admins")).json()["data"]
    assert [a["email"] for a in listed] == ["new@example.com", ADMIN_EMAIL]
    r = await root.patch(f"/auth/admin/admins/{new['id']}", json={"name": "Renamed",
                                                                 "email": "evil@example.com"})
    assert r.status_code == 200 and r.json()["admin"]["name"] == "Renamed"
    assert r.json()["admin"]["email"] == "new@example.com"
    for bad_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid", "1' OR '1'='1"):
        assert_error(await root.patch(f"/auth/admin/admins/{bad_id}", json={"name": "x"}),
                     404, "ADMIN_USER_NOT_FOUND")
        assert_error(await root.delete(f"/auth/admin/admins/{bad_id}"),
                     404, "ADMIN_USER_NOT_FOUND")
    r = await root.delete(f"/auth/admin/admins/{new['id']}")
    assert r.status_code == 200 and r.json() == {"message": "Admin deleted successfully"}
    me = (await root.get("/auth/admin/me")).json()["id"]
    assert_error(await root.delete(f"/auth/admin/admins/{me}"), 409, "ADMIN_LAST_REMAINING")


async def test_a_new_password_ends_that_admins_sessions(console: Harness,
                                                        admin_client: AdminClientFactory) -> None:
    root = await admin_client()
    two = await admin_client("two@example.com")
    two_id = (await two.get("/auth/admin/me")).json()["id"]
    r = await root.patch(f"/auth/admin/admins/{two_id}", json={"password": "N3w-Passw0rd!x"})
    assert r.status_code == 200
    assert_error(await two.get("/auth/admin/me"), 401, "ADMIN_SESSION_REVOKED")
    assert (await root.get("/auth/admin/me")).status_code == 200
    assert (await sign_in(two, "two@example.com", "N3w-Passw0rd!x")).status_code == 201


async def test_two_admins_deleting_each_other_leave_one(console: Harness,
                                                        admin_client: AdminClientFactory) -> None:
    a = await admin_client()
    b = await admin_client("two@example.com")
    a_id = (await a.get("/auth/admin/me")).json()["id"]
    b_id = (await b.get("/auth/admin/me")).json()["id"]
    got = await asyncio.gather(a.delete(f"/auth/admin/admins/{b_id}"),
                               b.delete(f"/auth/admin/admins/{a_id}"))
    # the loser is refused either as the last admin (409) or, when the winner's delete
    # committed before the loser's request was authenticated, as an admin who is gone (401)
    first, second = sorted(r.status_code for r in got)
    assert first == 200 and second in (401, 409)
    assert len((await (a if got[0].status_code == 200 else b).get(
        "/auth/admin/admins")).json()["data"]) == 1


async def test_admin_management_can_be_switched_off(make_harness: MakeHarness) -> None:
    h = await make_harness(admin_console={**CONSOLE["admin_console"],
                                          "allow_admin_management": False})
    assert (await bootstrap(h)).status_code == 201  # the first admin is always allowed
    assert (await h.client.get("/auth/admin/config")).json() == {"allowAdminManagement": False}
    client = browser(h)
    async with client:
        await sign_in(client)
        for method, path in [("GET", "/auth/admin/admins"), ("POST", "/auth/admin/admins"),
                             ("PATCH", "/auth/admin/admins/x"),
                             ("DELETE", "/auth/admin/admins/x")]:
            r = await client.request(method, path, json={"email": "a@example.com",
                                                         "password": ADMIN_PASSWORD})
            assert_error(r, 403, "ADMIN_MANAGEMENT_DISABLED", "Admin management disabled")
    r = await h.client.post("/auth/admin/reset-password", json={
        "email": ADMIN_EMAIL, "secretKey": ADMIN_KEY, "newPassword": "N3w-Passw0rd!x"})
    assert_error(r, 403, "ADMIN_MANAGEMENT_DISABLED")


# reset-password ---------------------------------------------------------------------------------
async def test_reset_password_with_the_secret_key(console: Harness,
                                                  admin_client: AdminClientFactory) -> None:
    root = await admin_client()
    c = console.client
    new = "Fresh-Passw0rd!x"
    body = {"email": ADMIN_EMAIL, "secretKey": ADMIN_KEY, "newPassword": new}
    assert_error(await c.post("/auth/admin/reset-password", json={**body, "secretKey": "bad"}),
                 401, "INVALID_SECRET_KEY")
    assert_error(await c.post("/auth/admin/reset-password",
                              json={**body, "email": "nobody@example.com"}),
                 401, "INVALID_CREDENTIALS")
    assert_error(await c.post("/auth/admin/reset-password", json={**body, "newPassword": "x"}),
                 400, "ADMIN_PASSWORD_TOO_SHORT")
    r = await c.post("/auth/admin/reset-password", json=body)
    assert r.status_code == 201 and r.json() == {"message": "Password reset successfully"}
    assert_error(await root.get("/auth/admin/me"), 401, "ADMIN_SESSION_REVOKED")
    assert (await sign_in(root, password=ADMIN_PASSWORD)).status_code == 401
    assert (await sign_in(root, password=new)).status_code == 201


# throttling and lockout ---------------------------------------------------------------------
async def test_login_is_rate_limited_per_ip(console: Harness) -> None:
    await bootstrap(console)
    for _ in range(5):
        r = await console.client.post("/auth/admin/login", json={"email": ADMIN_EMAIL,
                                                                 "password": "Wrong-1!x"})
        assert r.status_code == 401
    r = await console.client.post("/auth/admin/login", json={"email": ADMIN_EMAIL,
                                                             "password": ADMIN_PASSWORD})
    body = assert_error(r, 429, "RATE_LIMITED")
    assert body and int(r.headers["retry-after"]) > 0


async def test_invalid_bodies_spend_no_throttle(console: Harness) -> None:
    """W21: malformed requests do not use up the secret-key routes' 5 per 15 minutes."""
    for _ in range(8):
        r = await console.client.post("/auth/admin/signup", json={"email": "bad"})
        assert r.status_code == 400
    assert (await bootstrap(console)).status_code == 201


async def test_wrong_passwords_lock_the_admin_out(make_harness: MakeHarness) -> None:
    h = await make_harness(**CONSOLE, rate_limit={"admin_login": {"per_ip": None,
                                                                  "per_account": None}})
    await bootstrap(h)
    for _ in range(10):
        r = await h.client.post("/auth/admin/login", json={"email": ADMIN_EMAIL,
                                                           "password": "Wrong-1!x"})
        assert r.status_code == 401
    r = await h.client.post("/auth/admin/login", json={"email": ADMIN_EMAIL,
                                                       "password": ADMIN_PASSWORD})
    assert_error(r, 429, "ACCOUNT_LOCKED")
    # the secret-key reset lifts the lock
    r = await h.client.post("/auth/admin/reset-password", json={
        "email": ADMIN_EMAIL, "secretKey": ADMIN_KEY, "newPassword": "After-Lock-9!x"})
    assert r.status_code == 201
    r = await h.client.post("/auth/admin/login", json={"email": ADMIN_EMAIL,
                                                       "password": "After-Lock-9!x"})
    assert r.status_code == 201


# headers, stats, audit --------------------------------------------------------------------------
async def test_security_headers_on_every_admin_response(console: Harness,
                                                        admin_client: AdminClientFactory) -> None:
    root = await admin_client()
    for r in (await root.get("/auth/admin/me"), await console.client.get("/auth/admin/me"),
              await console.client.get("/auth/admin/config"),
              await console.client.post("/auth/admin/login", json={})):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["cache-control"] == "no-store"
    r = await console.client.get("/auth/client-config")
    # end-user routes carry the API policy of every /auth JSON answer (issue #19 item 8)
    assert r.headers.get_list("content-security-policy") == [
        "default-src 'none'; frame-ancestors 'none'"]


async def test_stats(console: Harness, admin_client: AdminClientFactory) -> None:
    root = await admin_client()
    await console.make_user("a@example.com", verified=True)
    await console.make_user("b@example.com")
    r = await root.get("/auth/admin/api/stats")
    assert r.status_code == 200
    body = r.json()
    assert body["stats"] == {"totalUsers": 2, "activeUsers": 2, "verifiedUsers": 1,
                             "totalRoles": 0, "totalTenants": 0, "recentSignups": 2}
    days = body["activityData"]
    assert len(days) == 7 and days[-1]["users"] == 2 and sum(d["users"] for d in days) == 2
    assert days[-1]["name"] == console.clock.now().strftime("%a")


async def test_admin_actions_are_audit_events(console: Harness,
                                              admin_client: AdminClientFactory) -> None:
    seen: list[Event] = []
    console.res.events.subscribe(events.ADMIN_ACTION, seen.append)
    root = await admin_client()
    r = await root.post("/auth/admin/admins", json={"email": "two@example.com",
                                                    "password": ADMIN_PASSWORD})
    created = [e.data for e in seen if e.data["action"] == "admin.create"]
    assert len(created) == 1
    assert created[0]["actorEmail"] == ADMIN_EMAIL and created[0]["actor"]
    assert created[0]["target"] == r.json()["admin"]["id"] and created[0]["at"]
    assert "ip" in created[0]
    assert {e.data["action"] for e in seen} >= {"admin.bootstrap", "admin.login", "admin.create"}


async def test_the_audit_log(console: Harness, admin_client: AdminClientFactory) -> None:
    root = await admin_client()
    console.clock.advance(1)
    r = await root.post("/auth/admin/admins", json={"email": "two@example.com",
                                                    "password": ADMIN_PASSWORD})
    two = r.json()["admin"]["id"]
    console.clock.advance(1)
    assert (await root.patch(f"/auth/admin/admins/{two}", json={"name": "Two"})).status_code == 200
    r = await root.get("/auth/admin/api/audit-log")
    assert r.status_code == 200
    body = r.json()
    actions = [e["action"] for e in body["data"]]
    assert actions[:2] == ["admin.update", "admin.create"]  # newest first
    assert set(actions[2:]) == {"admin.login", "admin.bootstrap"}  # same (frozen) instant
    update = body["data"][0]
    assert update["actorEmail"] == ADMIN_EMAIL and update["target"] == two
    assert update["details"] == {"fields": ["name"]} and update["at"]
    boot = next(e for e in body["data"] if e["action"] == "admin.bootstrap")
    assert boot["actor"] is None  # the secret key, not an admin
    assert body["meta"] == {"page": 1, "limit": 50, "total": 4, "totalPages": 1}
    r = await root.get("/auth/admin/api/audit-log", params={"limit": 1, "page": 2,
                                                             "action": "admin.create"})
    assert r.json()["data"] == [] and r.json()["meta"]["total"] == 1
    assert_error(await root.get("/auth/admin/api/audit-log", params={"limit": 0}),
                 400, "INVALID_INPUT")
    assert_error(await console.client.get("/auth/admin/api/audit-log"), 401,
                 "ADMIN_AUTH_REQUIRED")


# the admin's own TOTP -------------------------------------------------------------------------
async def test_admin_totp(console: Harness, admin_client: AdminClientFactory) -> None:
    root = await admin_client()
    r = await root.post("/auth/admin/totp/setup")
    assert r.status_code == 201, r.text
    setup = r.json()
    assert setup["otpauthUrl"].startswith("otpauth://totp/")
    assert setup["qrCode"].startswith("data:image/svg+xml")
    params = totp.TotpParams()
    assert_error(await root.post("/auth/admin/totp/enable", json={"code": "000000"}),
                 401, "MFA_CODE_INVALID")
    code = totp.code_at(setup["secret"], console.clock.now(), params)
    r = await root.post("/auth/admin/totp/enable", json={"code": code})
    assert r.status_code == 201 and r.json()["admin"]["totpEnabled"] is True
    assert_error(await root.post("/auth/admin/totp/setup"), 400, "INVALID_INPUT")
    other = browser(console)
    async with other:
        assert_error(await sign_in(other), 401, "ADMIN_TOTP_REQUIRED")
        assert_error(await sign_in(other, totpCode=code), 401, "MFA_CODE_INVALID")  # replay
        console.clock.advance(30)
        fresh = totp.code_at(setup["secret"], console.clock.now(), params)
        assert_error(await sign_in(other, password="Wrong-1!x", totpCode=fresh),
                     401, "INVALID_CREDENTIALS")
        assert (await sign_in(other, totpCode=fresh)).status_code == 201
        console.clock.advance(30)
        later = totp.code_at(setup["secret"], console.clock.now(), params)
        r = await other.post("/auth/admin/totp/disable", json={"code": later})
        assert r.status_code == 201 and r.json()["admin"]["totpEnabled"] is False
    third = browser(console)
    async with third:
        assert (await sign_in(third)).status_code == 201
