"""Tenancy (contract §2.1 tenantId, §2.6, §3.15): modes off / shared / isolated, switch-tenant,
tenants/lookup, memberships, and how role changes reach live sessions."""

from __future__ import annotations

from typing import Any

from authgate.authz import service as authz
from authgate.tenancy import service as tenancy
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error, claims

PW = "correct horse battery"
SHARED: dict[str, Any] = {"tenant": {"mode": "shared"}}
ISOLATED: dict[str, Any] = {"tenant": {"mode": "isolated"}, "rate_limit": {"enabled": False}}


def login_body(email: str, tenant_id: str | None = None, password: str = PW) -> dict[str, Any]:
    body: dict[str, Any] = {"providerName": "email",
                            "credentials": {"email": email, "password": password}}
    if tenant_id is not None:
        body["tenantId"] = tenant_id
    return body


async def two_tenants(h: Harness) -> tuple[str, str]:
    a = await tenancy.create_tenant(h.res, name="Acme", slug="acme")
    b = await tenancy.create_tenant(h.res, name="Beta", slug="beta")
    return a.id, b.id


# off ---------------------------------------------------------------------------------------
async def test_off_mode_refuses_tenants(h: Harness) -> None:
    r = await h.client.get("/auth/client-config")
    assert r.json()["tenants"] == {"enabled": False, "mode": "isolated"}
    assert r.json()["registration"]["requireInvitation"] is False
    token = await h.session_token()
    r = await h.client.post("/auth/switch-tenant", headers=bearer(token),
                            json={"tenantId": "8f4b5c1e-3c1a-4d3e-9b7a-0a1b2c3d4e5f"})
    assert_error(r, 400, "TENANT_SWITCHING_DISABLED",
                 "Multi-tenancy is disabled on this deployment.")
    assert_error(await h.client.get("/auth/tenants/lookup?slug=acme"), 404, "TENANT_NOT_FOUND",
                 "Tenant not found")
    tid = (await tenancy.create_tenant(h.res, name="Acme", slug="acme")).id
    assert_error(await h.client.get("/auth/tenants/lookup?slug=acme"), 404, "TENANT_NOT_FOUND")
    for path, body in (("/auth/signup", {"email": "x@example.com", "password": PW,
                                         "tenantId": tid}),
                       ("/auth/login", login_body("alice@example.com", tid)),
                       ("/auth/forgot-password", {"email": "alice@example.com",
                                                  "tenantId": tid})):
        assert_error(await h.client.post(path, json=body), 400, "TENANT_NOT_ENABLED")


# shared ------------------------------------------------------------------------------------
async def test_shared_signup_login_and_switch(make_harness: MakeHarness) -> None:
    h = await make_harness(**SHARED)
    assert (await h.client.get("/auth/client-config")).json()["tenants"] == {
        "enabled": True, "mode": "shared"}
    a, b = await two_tenants(h)
    r = await h.signup("alice@example.com", tenantId=a)
    assert r.status_code == 200, r.text
    uid = claims(r.json()["accessToken"])["sub"]
    assert claims(r.json()["accessToken"])["tenantId"] == a
    # a login without tenantId opens the default tenant (the first one joined)
    r = await h.client.post("/auth/login", json=login_body("alice@example.com"))
    assert claims(r.json()["accessToken"])["tenantId"] == a
    # not a member of b yet: login to it is refused after the password (403), switching too
    assert_error(await h.client.post("/auth/login", json=login_body("alice@example.com", b)),
                 403, "ACCESS_DENIED", "User does not belong to this tenant")
    token = r.json()["accessToken"]
    assert_error(await h.client.post("/auth/switch-tenant", headers=bearer(token),
                                     json={"tenantId": b}),
                 403, "NOT_A_MEMBER_OF_TENANT", "You do not have access to that tenant.")
    # roles are per tenant
    await authz.ensure_permissions(h.res, ["posts.write"])
    editor = await authz.create_role(h.res, name="editor", tenant_id=b,
                                     permissions=["posts.write"])
    await tenancy.add_member(h.res, uid, b)
    await authz.assign_role(h.res, uid, editor.id, tenant_id=b)
    r = await h.client.post("/auth/switch-tenant", headers=bearer(token), json={"tenantId": b})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["isRequiresMfa"] is False and body["message"] == "Tenant switched successfully"
    c = claims(body["accessToken"])
    assert c["tenantId"] == b and c["sessionId"] == claims(token)["sessionId"]
    assert [x["name"] for x in c["roles"]] == ["editor"]
    me = (await h.client.get("/auth/me", headers=bearer(body["accessToken"]))).json()
    assert me["permissions"] == ["posts.write"]
    # back to a: no roles there
    r = await h.client.post("/auth/switch-tenant", headers=bearer(body["accessToken"]),
                            json={"tenantId": a})
    assert claims(r.json()["accessToken"])["roles"] == []
    # the refresh token of before the switch is retired (reuse detection as at a refresh)
    r2 = await h.client.post("/auth/refresh-token",
                             json={"refreshToken": r.json()["refreshToken"]})
    assert claims(r2.json()["accessToken"])["tenantId"] == a


async def test_switch_tenant_errors(make_harness: MakeHarness) -> None:
    h = await make_harness(**SHARED)
    a, _ = await two_tenants(h)
    token = (await h.signup("alice@example.com", tenantId=a)).json()["accessToken"]
    r = await h.client.post("/auth/switch-tenant", headers=bearer(token),
                            json={"tenantId": "not-a-uuid"})
    assert_error(r, 400, "INVALID_INPUT", "tenantId must be a UUID")
    assert_error(await h.client.post("/auth/switch-tenant", headers=bearer(token), json={}),
                 400, "INVALID_INPUT")
    r = await h.client.post("/auth/switch-tenant", headers=bearer(token),
                            json={"tenantId": "8f4b5c1e-3c1a-4d3e-9b7a-0a1b2c3d4e5f"})
    assert_error(r, 400, "TENANT_NOT_FOUND")
    assert_error(await h.client.post("/auth/switch-tenant", json={"tenantId": a}),
                 401, "NO_AUTH_PROVIDED")
    # an inactive tenant is not found, and its open sessions ended with it
    await tenancy.update_tenant(h.res, a, is_active=False)
    assert_error(await h.client.get("/auth/me", headers=bearer(token)), 401,
                 "SESSION_NOT_FOUND")
    assert_error(await h.client.post("/auth/login", json=login_body("alice@example.com", a)),
                 400, "TENANT_NOT_FOUND")


async def test_switch_tenant_needs_the_mfa_step(make_harness: MakeHarness) -> None:
    h = await make_harness(**SHARED)
    a, b = await two_tenants(h)
    u = await h.make_user("alice@example.com", totp=True, mfa=True)
    await tenancy.add_member(h.res, u.id, a)
    await tenancy.add_member(h.res, u.id, b)
    r = await h.client.post("/auth/login", json=login_body("alice@example.com", a))
    assert r.json()["isRequiresMfa"] is True
    r = await h.client.post("/auth/switch-tenant", headers=bearer(r.json()["accessToken"]),
                            json={"tenantId": b})
    assert_error(r, 401, "MFA_REQUIRED")


async def test_membership_removal_ends_sessions_in_that_tenant(make_harness: MakeHarness
                                                               ) -> None:
    h = await make_harness(**SHARED)
    a, b = await two_tenants(h)
    r = await h.signup("alice@example.com", tenantId=a)
    uid = claims(r.json()["accessToken"])["sub"]
    await tenancy.add_member(h.res, uid, b)
    in_a = r.json()
    in_b = (await h.client.post("/auth/login", json=login_body("alice@example.com", b))).json()
    assert await tenancy.remove_member(h.res, uid, b) is True
    assert_error(await h.client.get("/auth/me", headers=bearer(in_b["accessToken"])), 401,
                 "SESSION_NOT_FOUND")
    assert (await h.client.get("/auth/me", headers=bearer(in_a["accessToken"]))).status_code \
        == 200
    # deactivating a membership does the same; refresh re-checks it too
    await tenancy.add_member(h.res, uid, b)
    in_b = (await h.client.post("/auth/login", json=login_body("alice@example.com", b))).json()
    await tenancy.add_member(h.res, uid, b, status="inactive")
    r = await h.client.post("/auth/refresh-token", json={"refreshToken": in_b["refreshToken"]})
    assert r.status_code == 401, r.text
    assert_error(await h.client.post("/auth/login", json=login_body("alice@example.com", b)),
                 403, "ACCESS_DENIED")


# isolated ----------------------------------------------------------------------------------
async def test_isolated_accounts_are_per_tenant(make_harness: MakeHarness) -> None:
    h = await make_harness(**ISOLATED)
    a, b = await two_tenants(h)
    assert_error(await h.signup("alice@example.com"), 400, "TENANT_ID_REQUIRED",
                 "Tenant ID is required")
    assert_error(await h.client.post("/auth/login", json=login_body("alice@example.com")),
                 400, "TENANT_ID_REQUIRED")
    ra = await h.signup("alice@example.com", tenantId=a)
    rb = await h.signup("alice@example.com", password="another horse battery", tenantId=b)
    assert ra.status_code == rb.status_code == 200, (ra.text, rb.text)
    ua, ub = claims(ra.json()["accessToken"]), claims(rb.json()["accessToken"])
    assert ua["sub"] != ub["sub"] and (ua["tenantId"], ub["tenantId"]) == (a, b)
    assert_error(await h.signup("alice@example.com", tenantId=a), 400, "EMAIL_ALREADY_EXISTS")
    # each tenant's password opens only that tenant's account
    assert_error(await h.client.post("/auth/login", json=login_body(
        "alice@example.com", a, "another horse battery")), 401, "INVALID_CREDENTIALS")
    r = await h.client.post("/auth/login", json=login_body("alice@example.com", b,
                                                           "another horse battery"))
    assert claims(r.json()["accessToken"])["sub"] == ub["sub"]
    r = await h.client.post("/auth/switch-tenant", headers=bearer(r.json()["accessToken"]),
                            json={"tenantId": a})
    assert_error(r, 400, "TENANT_SWITCHING_NOT_SUPPORTED")
    unknown = "8f4b5c1e-3c1a-4d3e-9b7a-0a1b2c3d4e5f"
    assert_error(await h.signup("bob@example.com", tenantId=unknown), 400, "TENANT_NOT_FOUND",
                 f"Tenant with ID '{unknown}' not found")


# lookup ------------------------------------------------------------------------------------
async def test_tenant_lookup(make_harness: MakeHarness) -> None:
    h = await make_harness(**SHARED)
    a, b = await two_tenants(h)
    r = await h.client.get("/auth/tenants/lookup", params={"slug": "acme"})
    assert r.status_code == 200 and r.json() == {"id": a, "slug": "acme", "name": "Acme"}
    await tenancy.update_tenant(h.res, b, is_active=False)
    for q in ("?slug=beta", "?slug=nope", "", "?slug="):
        assert_error(await h.client.get("/auth/tenants/lookup" + q), 404, "TENANT_NOT_FOUND",
                     "Tenant not found")


# role changes reaching sessions ------------------------------------------------------------
async def test_role_changes_reach_live_sessions_at_once(make_harness: MakeHarness) -> None:
    h = await make_harness(**SHARED)
    a, _ = await two_tenants(h)
    r = await h.signup("alice@example.com", tenantId=a)
    token, uid = r.json()["accessToken"], claims(r.json()["accessToken"])["sub"]
    await authz.ensure_permissions(h.res, ["reports.read"])
    role = await authz.create_role(h.res, name="analyst", tenant_id=a,
                                   permissions=["reports.read"])
    await authz.assign_role(h.res, uid, role.id, tenant_id=a)
    me = (await h.client.get("/auth/me", headers=bearer(token))).json()
    assert (me["permissions"], [x["name"] for x in me["roles"]]) == (["reports.read"],
                                                                     ["analyst"])
    await authz.update_role(h.res, role.id, permissions=[])
    assert (await h.client.get("/auth/me", headers=bearer(token))).json()["permissions"] == []
    await authz.unassign_role(h.res, uid, role.id, tenant_id=a)
    assert (await h.client.get("/auth/me", headers=bearer(token))).json()["roles"] == []


async def test_role_changes_at_refresh_when_configured(make_harness: MakeHarness) -> None:
    h = await make_harness(**SHARED, authz={"role_changes": "refresh"})
    a, _ = await two_tenants(h)
    r = await h.signup("alice@example.com", tenantId=a)
    token, uid = r.json()["accessToken"], claims(r.json()["accessToken"])["sub"]
    role = await authz.create_role(h.res, name="analyst", tenant_id=a)
    await authz.assign_role(h.res, uid, role.id, tenant_id=a)
    assert (await h.client.get("/auth/me", headers=bearer(token))).json()["roles"] == []
    r = await h.client.post("/auth/refresh-token", json={"refreshToken": r.json()["refreshToken"]})
    assert [x["name"] for x in claims(r.json()["accessToken"])["roles"]] == ["analyst"]


async def test_a_tenants_role_cannot_be_held_elsewhere(make_harness: MakeHarness) -> None:
    h = await make_harness(**SHARED)
    a, b = await two_tenants(h)
    uid = claims((await h.signup("alice@example.com", tenantId=a)).json()["accessToken"])["sub"]
    await tenancy.add_member(h.res, uid, b)
    role_b = await authz.create_role(h.res, name="admin", tenant_id=b)
    from authgate.errors import AuthError

    for kwargs in ({"tenant_id": a}, {"tenant_id": None}):
        try:
            await authz.assign_role(h.res, uid, role_b.id, **kwargs)
        except AuthError as err:
            assert err.code == "ROLE_NOT_FOUND"
        else:
            raise AssertionError("another tenant's role was assigned")
    assert await authz.user_grants(h.res, uid, a) == ([], [])


async def test_login_guard_field(make_harness: MakeHarness) -> None:
    """The deprecated login ``guard``: one of the user's roles must have it (upstream), else
    401 INVALID_CREDENTIALS; absent, nothing is checked."""
    h = await make_harness(authz={"role_guards": ["web", "api"]})
    u = await h.make_user("ann@example.com", password=PW)
    assert_error(await h.client.post("/auth/login", json={**login_body("ann@example.com"),
                                                          "guard": "web"}),
                 401, "INVALID_CREDENTIALS")
    role = await authz.create_role(h.res, name="client", guard="api")
    await authz.assign_role(h.res, u.id, role.id)
    r = await h.client.post("/auth/login", json={**login_body("ann@example.com"), "guard": "api"})
    assert r.status_code == 200, r.text
    assert_error(await h.client.post("/auth/login", json={**login_body("ann@example.com"),
                                                          "guard": "web"}),
                 401, "INVALID_CREDENTIALS")
    assert (await h.client.post("/auth/login", json=login_body("ann@example.com"))
            ).status_code == 200
