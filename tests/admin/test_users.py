"""/auth/admin/api/users: the nine user-management operations (contract §2.7), upstream's
W17/W18 bugs fixed, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from authgate import events
from authgate.admin import users as flows
from tests.admin.api import ADMIN_SETTINGS, Admin, sign_in
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error, grant_permissions, stored_user

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new staple 42"


@pytest.fixture
async def h(make_harness: MakeHarness) -> Harness:
    return await make_harness(**ADMIN_SETTINGS)


@pytest.fixture
async def admin(h: Harness) -> Admin:
    return await sign_in(h)


async def _works(h: Harness, token: str) -> bool:
    return (await h.client.get("/auth/user", headers=bearer(token))).status_code == 200


# list ----------------------------------------------------------------------------------------
async def test_list_pages_newest_first_with_meta(h: Harness, admin: Admin) -> None:
    for i in range(3):
        await h.make_user(f"u{i}@example.com")
        h.clock.advance(1)
    r = await admin.get("/users", params={"limit": "2"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [u["email"] for u in body["data"]] == ["u2@example.com", "u1@example.com"]
    assert body["meta"] == {"page": 1, "limit": 2, "total": 3, "totalPages": 2, "scope": "all"}
    r = await admin.get("/users", params={"limit": "2", "page": "2"})
    assert [u["email"] for u in r.json()["data"]] == ["u0@example.com"]
    # out-of-range paging is brought into range, as upstream's parseInt does
    r = await admin.get("/users", params={"limit": "500", "page": "abc"})
    assert r.json()["meta"]["limit"] == 100 and r.json()["meta"]["page"] == 1


async def test_list_shape_is_safe_user(h: Harness, admin: Admin) -> None:
    u = await h.make_user("shape@example.com", verified=True)
    await grant_permissions(h.res, u.id, "editor", "posts.edit", "posts.create")
    [user] = (await admin.get("/users")).json()["data"]
    assert set(user) == {"id", "email", "phone", "userAccesses", "platformAccess",
                         "isPlatformUser", "isActive", "emailVerifiedAt", "phoneVerifiedAt",
                         "metadata", "createdAt", "updatedAt", "isMfaEnabled"}
    assert "passwordHash" not in str(user) and "password" not in user
    [access] = user["userAccesses"]
    assert access["tenantId"] is None and access["isDefault"] is True
    [role] = access["roles"]
    assert role["name"] == "editor" and role["permissions"] == ["posts.create", "posts.edit"]
    assert user["platformAccess"] is None and user["isPlatformUser"] is False


async def test_list_filters(h: Harness, admin: Admin) -> None:
    a = await h.make_user("ann@example.com", verified=True)
    await h.make_user("bob@sample.org")
    c = await h.make_user("carl_x@example.com")
    await admin.patch(f"/users/{c.id}", json={"isActive": False})
    await grant_permissions(h.res, a.id, "staff")

    async def emails(**params: str) -> list[str]:
        r = await admin.get("/users", params=params)
        assert r.status_code == 200, r.text
        return sorted(u["email"] for u in r.json()["data"])

    assert await emails(search="EXAMPLE") == ["ann@example.com", "carl_x@example.com"]
    assert await emails(search="l_x") == ["carl_x@example.com"]  # "_" is no wildcard
    assert await emails(search="%") == []
    assert await emails(status="inactive") == ["carl_x@example.com"]
    assert await emails(status="active") == ["ann@example.com", "bob@sample.org"]
    assert await emails(status="verified") == ["ann@example.com"]
    assert len(await emails(status="unverified")) == 2
    assert await emails(roleName="staff") == ["ann@example.com"]
    assert await emails(scope="platform") == []


# create --------------------------------------------------------------------------------------
async def test_create_honours_the_password(h: Harness, admin: Admin) -> None:
    """W17: upstream ignores the password an admin gives; here the user signs in with it."""
    r = await admin.post("/users", json={"email": "New@Example.com", "password": PASSWORD,
                                         "metadata": {"team": "ops"}, "phone": "+14155552671"})
    assert r.status_code == 201, r.text
    user = r.json()["user"]
    assert user["email"] == "new@example.com" and user["phone"] == "+14155552671"
    assert user["metadata"] == {"team": "ops"} and user["isActive"] is True
    login = await h.login("new@example.com", PASSWORD)
    assert login.status_code == 200, login.text
    [ev] = [e for e in admin.actions() if e["action"] == "user.create"]
    assert ev["target"] == user["id"] and ev["actor"] == admin.id
    assert ev["ip"] == "127.0.0.1" and ev["userAgent"] == "admin-browser/1.0"


async def test_create_without_password_cannot_sign_in(h: Harness, admin: Admin) -> None:
    r = await admin.post("/users", json={"email": "nopass@example.com", "isActive": False,
                                         "emailVerifiedAt": "2026-01-02T03:04:05.000Z"})
    assert r.status_code == 201, r.text
    assert r.json()["user"]["isActive"] is False
    assert r.json()["user"]["emailVerifiedAt"] == "2026-01-02T03:04:05.000Z"
    assert (await h.login("nopass@example.com", PASSWORD)).status_code == 401


async def test_create_refusals(h: Harness, admin: Admin) -> None:
    await h.make_user("taken@example.com")
    assert_error(await admin.post("/users", json={"email": "TAKEN@example.com"}), 409,
                 "USER_ALREADY_EXISTS", "User with this email already exists")
    assert_error(await admin.post("/users", json={"email": "not-an-email"}), 400,
                 "INVALID_INPUT", "email must be an email")
    assert_error(await admin.post("/users", json={}), 400, "INVALID_INPUT")
    assert_error(await admin.post("/users", json={"email": "w@example.com", "password": "x"}),
                 400, "PASSWORD_TOO_SHORT")
    assert_error(await admin.post("/users", json={"email": "p@example.com",
                                                  "isPlatformUser": True}),
                 400, "PLATFORM_ACCESS_DISABLED")
    assert_error(await admin.post("/users", json={"email": "t@example.com",
                                                  "tenantId": str(uuid.uuid4())}),
                 400, "TENANT_NOT_ENABLED")
    assert_error(await admin.post("/users", json={"email": "m@example.com",
                                                  "metadata": "nope"}), 400, "INVALID_INPUT")
    assert_error(await admin.post("/users", json={"email": "b@example.com",
                                                  "isActive": "yes"}), 400, "INVALID_INPUT")


async def test_create_ignores_fields_the_dto_does_not_name(h: Harness, admin: Admin) -> None:
    """Mass assignment: a hash, an id, MFA or forced-change flags in the body change nothing."""
    chosen = str(uuid.uuid4())
    r = await admin.post("/users", json={
        "email": "mass@example.com", "id": chosen, "passwordHash": "$argon2id$forged",
        "password_hash": "x", "isMfaEnabled": True, "mustChangePassword": True,
        "status": "suspended", "tenantScope": "x", "createdAt": "2000-01-01T00:00:00Z"})
    assert r.status_code == 201, r.text
    user = r.json()["user"]
    assert user["id"] != chosen and user["isMfaEnabled"] is False
    stored = await stored_user(h.res, user["id"])
    assert stored.password_hash is None and stored.must_change_password is False
    assert stored.status == "active" and stored.tenant_scope == ""
    assert stored.created_at.year > 2000


# detail --------------------------------------------------------------------------------------
async def test_detail(h: Harness, admin: Admin) -> None:
    u = await h.make_user("d@example.com", verified=True, totp=True, mfa=True, tokens=True)
    r = await admin.get(f"/users/{u.id}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"user", "identities", "trustedDevices", "loginCapabilities", "mfa",
                         "sessions"}
    assert body["user"]["id"] == u.id
    assert body["identities"] == [{"provider": "email", "providerId": "d@example.com",
                                   "verified": True}]
    # W17: upstream always says false (the hash is not selected)
    assert body["loginCapabilities"]["email"]["canPasswordLogin"] is True
    assert body["loginCapabilities"]["mfa"]["requiredForUser"] is True
    mfa = body["mfa"]
    assert mfa["isEnabled"] is True and "totp" in mfa["enabledMethods"]
    assert [d["id"] for d in mfa["totpDevices"]] == [u.device_id]
    assert mfa["hasRecoveryCode"] is False
    [session] = body["sessions"]
    assert set(session) == {"id", "userId", "deviceName", "userAgent", "ipAddress",
                            "lastActive", "createdAt", "expiresAt"}
    assert session["userId"] == u.id


async def test_detail_recovery_codes_and_trusted_devices(h: Harness, admin: Admin) -> None:
    """W17: hasRecoveryCode reads the recovery-code rows (upstream: a legacy column)."""
    from authgate.mfa import recovery_codes
    from authgate.tx import transaction

    u = await h.make_user("rc@example.com", totp=True, mfa=True)
    async with transaction(h.res.sessionmaker) as tx:
        await recovery_codes.generate(h.res, tx, u.id)
    body = (await admin.get(f"/users/{u.id}")).json()
    assert body["mfa"]["hasRecoveryCode"] is True and body["trustedDevices"] == []


@pytest.mark.parametrize("bad", ["abc", "1", "00000000-0000-0000-0000-00000000000g",
                                 "7d3f6b0e-9a51-4c1e-8f0a-2b6c4d8e1f35", "' OR 1=1 --"])
async def test_unknown_and_malformed_ids_are_404(h: Harness, admin: Admin, bad: str) -> None:
    """W20: a non-UUID id answers 404 like an unknown one (upstream: 500 on PostgreSQL)."""
    for call in (admin.get(f"/users/{bad}"), admin.patch(f"/users/{bad}", json={}),
                 admin.delete(f"/users/{bad}"), admin.get(f"/users/{bad}/sessions"),
                 admin.delete(f"/users/{bad}/sessions"),
                 admin.delete(f"/users/{bad}/sessions/{uuid.uuid4()}"),
                 admin.delete(f"/users/{bad}/totp-devices/{uuid.uuid4()}")):
        assert_error(await call, 404, "USER_NOT_FOUND", "User not found")


# update --------------------------------------------------------------------------------------
async def test_patch_never_erases_the_password(h: Harness, admin: Admin) -> None:
    """W18: upstream's PATCH of isActive/metadata/emailVerifiedAt nulls the password hash."""
    u = await h.make_user("keep@example.com")
    for body in ({"isActive": False}, {"isActive": True}, {"metadata": {"a": 1}},
                 {"emailVerifiedAt": "2026-02-03T00:00:00Z"}, {"phone": "+14155552671"}):
        r = await admin.patch(f"/users/{u.id}", json=body)
        assert r.status_code == 200, r.text
    assert (await h.login("keep@example.com", u.password)).status_code == 200
    stored = await stored_user(h.res, u.id)
    assert stored.meta == {"a": 1} and stored.phone == "+14155552671"


async def test_deactivation_ends_sessions_and_trusted_devices(h: Harness, admin: Admin) -> None:
    """W17: deactivating revokes the user's sessions and trusted devices at once."""
    from authgate.mfa.trust import issue_trust
    from authgate.sessions.service import ClientMeta
    from authgate.tx import transaction

    u = await h.make_user("off@example.com", tokens=True)
    async with transaction(h.res.sessionmaker) as tx:
        trust = await issue_trust(h.res, tx, u.id, ClientMeta(ip="1.2.3.4", user_agent="x"))
    assert trust is not None and u.access_token is not None
    assert await _works(h, u.access_token)
    r = await admin.patch(f"/users/{u.id}", json={"isActive": False})
    assert r.status_code == 200 and r.json()["user"]["isActive"] is False
    assert not await _works(h, u.access_token)
    [device] = (await admin.get(f"/users/{u.id}")).json()["trustedDevices"]
    assert device["revokedAt"] is not None
    assert_error(await h.login("off@example.com", u.password), 401, "ACCOUNT_INACTIVE")


async def test_password_set_revokes_sessions_and_works(h: Harness, admin: Admin) -> None:
    u = await h.make_user("pw@example.com", tokens=True)
    assert u.access_token is not None
    r = await admin.patch(f"/users/{u.id}", json={"password": NEW_PASSWORD})
    assert r.status_code == 200, r.text
    assert not await _works(h, u.access_token)
    assert (await h.login("pw@example.com", u.password)).status_code == 401
    assert (await h.login("pw@example.com", NEW_PASSWORD)).status_code == 200
    assert_error(await admin.patch(f"/users/{u.id}", json={"password": "short"}), 400,
                 "PASSWORD_TOO_SHORT")


async def test_patch_metadata_email_and_conflicts(h: Harness, admin: Admin) -> None:
    u = await h.make_user("one@example.com", verified=True)
    await h.make_user("two@example.com")
    assert_error(await admin.patch(f"/users/{u.id}", json={"email": "TWO@example.com"}), 409,
                 "USER_ALREADY_EXISTS")
    r = await admin.patch(f"/users/{u.id}", json={"email": "uno@example.com"})
    user = r.json()["user"]
    assert user["email"] == "uno@example.com"
    assert user["emailVerifiedAt"] is None  # a new address is not proven
    r = await admin.patch(f"/users/{u.id}", json={"emailLoginEnabled": True})
    assert r.json()["user"]["emailVerifiedAt"] is not None
    assert_error(await admin.patch(f"/users/{u.id}", json={"phoneLoginEnabled": True}), 400,
                 "NO_PHONE_NUMBER")
    assert_error(await admin.patch(f"/users/{u.id}", json={"isPlatformUser": True}), 400,
                 "PLATFORM_ACCESS_DISABLED")
    assert_error(await admin.patch(f"/users/{u.id}", json={"platformRoleIds": []}), 400,
                 "NOT_PLATFORM_USER")
    assert_error(await admin.patch(f"/users/{u.id}", json={"tenantIds": []}), 400,
                 "TENANT_NOT_ENABLED")
    assert_error(await admin.patch(f"/users/{u.id}", json={"email": "bad"}), 400,
                 "INVALID_INPUT")


async def test_patch_ignores_fields_the_dto_does_not_name(h: Harness, admin: Admin) -> None:
    u = await h.make_user("mass2@example.com")
    before = await stored_user(h.res, u.id)
    r = await admin.patch(f"/users/{u.id}", json={
        "passwordHash": None, "password_hash": "x", "mustChangePassword": True, "id": "x",
        "status": "suspended", "createdAt": "2000-01-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    after = await stored_user(h.res, u.id)
    assert after.password_hash == before.password_hash and after.status == "active"
    assert after.must_change_password is False and after.created_at == before.created_at


async def test_patch_roles_and_mfa(h: Harness, admin: Admin) -> None:
    u = await h.make_user("roles@example.com")
    other = await h.make_user("other@example.com")
    await grant_permissions(h.res, other.id, "auditor", "logs.read")
    [role] = (await admin.get(f"/users/{other.id}")).json()["user"]["userAccesses"][0]["roles"]
    r = await admin.patch(f"/users/{u.id}", json={"roleIds": [role["id"]]})
    assert r.status_code == 200, r.text
    assert [x["name"] for x in r.json()["user"]["userAccesses"][0]["roles"]] == ["auditor"]
    assert_error(await admin.patch(f"/users/{u.id}", json={"roleIds": ["nope"]}), 404,
                 "ROLE_NOT_FOUND")
    r = await admin.patch(f"/users/{u.id}", json={"roleIds": []})
    assert r.json()["user"]["userAccesses"][0]["roles"] == []
    # MFA on needs a method the user can use (else the account could never finish a login)
    assert_error(await admin.patch(f"/users/{u.id}", json={"isMfaEnabled": True}), 403,
                 "MFA_CANNOT_ENABLE_WITHOUT_METHOD")
    t = await h.make_user("t@example.com", totp=True)
    r = await admin.patch(f"/users/{t.id}", json={"isMfaEnabled": True})
    assert r.status_code == 200 and r.json()["user"]["isMfaEnabled"] is True
    r = await admin.patch(f"/users/{t.id}", json={"isMfaEnabled": False})
    assert r.json()["user"]["isMfaEnabled"] is False


# delete --------------------------------------------------------------------------------------
async def test_delete(h: Harness, admin: Admin) -> None:
    u = await h.make_user("gone@example.com", tokens=True)
    assert u.access_token is not None
    seen: list[events.Event] = []
    h.res.events.subscribe(events.USER_DELETED, seen.append)
    r = await admin.delete(f"/users/{u.id}")
    assert r.status_code == 200 and r.json() == {"message": "User removed"}
    assert not await _works(h, u.access_token)
    assert_error(await admin.delete(f"/users/{u.id}"), 404, "USER_NOT_FOUND")
    assert [e["action"] for e in admin.actions()] == ["user.delete"]
    # the bus hears it as it hears an owner's deletion (notice, webhooks, the subject's row)
    assert [(e.user_id, e.data["email"], e.data["initiatedBy"]) for e in seen] == [
        (u.id, "gone@example.com", "admin")]


async def test_two_admins_racing(h: Harness, admin: Admin) -> None:
    """Two admins deleting / editing the same user at once: one wins, the other gets a 404,
    never a 500; concurrent edits of different fields both land."""
    second = await sign_in(h, "second@admin.test")
    u = await h.make_user("race@example.com")
    a, b = await asyncio.gather(admin.delete(f"/users/{u.id}"), second.delete(f"/users/{u.id}"))
    assert sorted([a.status_code, b.status_code]) == [200, 404], (a.text, b.text)
    v = await h.make_user("race2@example.com")
    a, b = await asyncio.gather(admin.patch(f"/users/{v.id}", json={"metadata": {"x": 1}}),
                                second.patch(f"/users/{v.id}", json={"isActive": False}))
    assert a.status_code == b.status_code == 200, (a.text, b.text)
    stored = await stored_user(h.res, v.id)
    assert stored.meta == {"x": 1} and stored.status == "inactive"


# sessions --------------------------------------------------------------------------------------
async def test_sessions_list_and_revoke(h: Harness, admin: Admin) -> None:
    u = await h.make_user("s@example.com", tokens=True)
    second = await h.login("s@example.com", u.password)
    other = await h.make_user("x@example.com", tokens=True)
    assert u.access_token and other.access_token
    r = await admin.get(f"/users/{u.id}/sessions")
    assert r.status_code == 200
    sessions = r.json()["data"]
    assert len(sessions) == 2 and {s["userId"] for s in sessions} == {u.id}
    [other_session] = (await admin.get(f"/users/{other.id}/sessions")).json()["data"]
    # another user's session is not found under this user
    assert_error(await admin.delete(f"/users/{u.id}/sessions/{other_session['id']}"), 404,
                 "SESSION_NOT_FOUND", "Session not found for this user")
    assert_error(await admin.delete(f"/users/{u.id}/sessions/not-a-uuid"), 404,
                 "SESSION_NOT_FOUND")
    assert await _works(h, other.access_token)
    second_id = await _session_of(h, second.json()["accessToken"])
    first_id = next(s["id"] for s in sessions if s["id"] != second_id)
    r = await admin.delete(f"/users/{u.id}/sessions/{first_id}")
    assert r.status_code == 200 and r.json() == {"message": "Session revoked successfully"}
    assert not await _works(h, u.access_token)
    assert await _works(h, second.json()["accessToken"])
    r = await admin.delete(f"/users/{u.id}/sessions")
    assert r.json() == {"message": "All sessions revoked successfully"}
    assert not await _works(h, second.json()["accessToken"])
    assert (await admin.get(f"/users/{u.id}/sessions")).json() == {"data": []}
    assert await _works(h, other.access_token)


async def _session_of(h: Harness, token: str) -> str:
    r = await h.client.get("/auth/verify-session", headers=bearer(token))
    from tests.helpers import claims

    assert r.status_code == 200
    return str(claims(token)["sessionId"])


# TOTP devices ----------------------------------------------------------------------------------
async def test_delete_totp_device(h: Harness, admin: Admin) -> None:
    u = await h.make_user("totp@example.com", totp=True, mfa=True)
    other = await h.make_user("o@example.com", totp=True)
    assert_error(await admin.delete(f"/users/{u.id}/totp-devices/{other.device_id}"), 404,
                 "MFA_DEVICE_NOT_FOUND", "TOTP device not found")
    assert_error(await admin.delete(f"/users/{u.id}/totp-devices/zzz"), 404,
                 "MFA_DEVICE_NOT_FOUND")
    r = await admin.delete(f"/users/{u.id}/totp-devices/{u.device_id}")
    assert r.status_code == 200 and r.json() == {"message": "TOTP device deleted successfully"}
    detail = (await admin.get(f"/users/{u.id}")).json()
    assert detail["mfa"]["totpDevices"] == []
    # no method left: MFA goes off rather than locking the user out (W16)
    assert detail["user"]["isMfaEnabled"] is False
    assert (await admin.get(f"/users/{other.id}")).json()["mfa"]["totpDevices"]


# the guard -------------------------------------------------------------------------------------
async def test_every_route_needs_an_admin(h: Harness) -> None:
    u = await h.make_user("g@example.com")
    sid = str(uuid.uuid4())
    calls = [("GET", "/users"), ("POST", "/users"), ("GET", f"/users/{u.id}"),
             ("PATCH", f"/users/{u.id}"), ("DELETE", f"/users/{u.id}"),
             ("DELETE", f"/users/{u.id}/totp-devices/{sid}"),
             ("GET", f"/users/{u.id}/sessions"), ("DELETE", f"/users/{u.id}/sessions"),
             ("DELETE", f"/users/{u.id}/sessions/{sid}")]
    for method, path in calls:
        r = await h.client.request(method, "/auth/admin/api" + path,
                                   json={} if method in ("POST", "PATCH") else None)
        assert r.status_code == 401, (method, path, r.text)
    # a user's own bearer token is no admin session
    token = await h.session_token("bearer@example.com")
    r = await h.client.get("/auth/admin/api/users", headers=bearer(token))
    assert r.status_code == 401
    assert (await stored_user(h.res, u.id)).status == "active"


async def test_the_admin_guard_on_management_routes(h: Harness, admin: Admin) -> None:
    """CSRF on every state-changing management request; forged and signed-out sessions."""
    u = await h.make_user("guarded@example.com", tokens=True)
    assert u.access_token is not None
    cookie = admin.client.cookies.get("nest_auth_admin")
    assert cookie
    for method, path, body in (("PATCH", f"/users/{u.id}", {"isActive": False}),
                               ("DELETE", f"/users/{u.id}/sessions", None),
                               ("POST", "/roles", {"name": "x", "guard": "web"}),
                               ("POST", "/blocked-email-domains", {"domains": ["x.test"]})):
        r = await admin.client.request(method, "/auth/admin/api" + path, json=body,
                                       headers={"x-csrf-token": ""})
        assert_error(r, 403, "CSRF_TOKEN_INVALID")
        r = await admin.client.request(method, "/auth/admin/api" + path, json=body,
                                       headers={"x-csrf-token": "forged"})
        assert_error(r, 403, "CSRF_TOKEN_INVALID")
    assert await _works(h, u.access_token)
    assert (await stored_user(h.res, u.id)).status == "active"
    # reads need no CSRF token
    assert (await admin.get("/users", headers={"x-csrf-token": ""})).status_code == 200
    # a forged cookie
    forged = cookie[:-4] + ("AAAA" if not cookie.endswith("AAAA") else "BBBB")
    r = await h.client.get("https://testserver/auth/admin/api/users",
                           headers={"cookie": f"nest_auth_admin={forged}"})
    assert r.status_code == 401 and r.json()["code"] == "ADMIN_SESSION_INVALID"
    # signed out: the old cookie is refused
    assert (await admin.client.post("/auth/admin/logout")).status_code == 201
    r = await h.client.get("https://testserver/auth/admin/api/users",
                           headers={"cookie": f"nest_auth_admin={cookie}"})
    assert r.status_code == 401 and r.json()["code"] in ("ADMIN_SESSION_REVOKED",
                                                         "ADMIN_SESSION_INVALID")


async def test_console_off_hides_the_management_routes(make_harness: MakeHarness) -> None:
    h = await make_harness()
    r = await h.client.get("/auth/admin/api/users")
    assert r.status_code == 404 and r.json()["code"] == "ADMIN_CONSOLE_DISABLED"


async def test_flows_without_http(h: Harness) -> None:
    """The flows work without a request (the console and a CLI share them)."""
    from authgate.admin.actor import Actor
    from authgate.admin.sessions import AdminPrincipal, SafeAdmin

    now = h.res.clock.now()
    safe = SafeAdmin(id=str(uuid.uuid4()), email="a@admin.test", name=None, metadata={},
                     last_login_at=None, created_at=now, updated_at=now, totp_enabled=False)
    actor = Actor(AdminPrincipal(admin=safe, session_id="s", ip=None))
    made = await flows.create_user(h.res, actor, flows.NewUser(email="flow@example.com"))
    page = await flows.list_users(h.res, search="flow")
    assert [a.user.id for a in page.items] == [made.user.id]
