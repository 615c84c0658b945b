"""/auth/admin/api/tenants, and users in the tenant modes (contract §2.7), on SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from tests.admin.api import ADMIN_SETTINGS, Admin, sign_in
from tests.conftest import Harness, MakeHarness
from tests.helpers import assert_error

T = "/tenants"
SLUG_MESSAGE = ("Slug must be lowercase alphanumeric with hyphens, no leading/trailing or "
                "consecutive hyphens")


@pytest.fixture
async def h(make_harness: MakeHarness) -> Harness:
    return await make_harness(**ADMIN_SETTINGS, tenant={"mode": "shared"})


@pytest.fixture
async def admin(h: Harness) -> Admin:
    return await sign_in(h)


async def _tenant(admin: Admin, slug: str, **extra: object) -> dict[str, object]:
    r = await admin.post(T, json={"name": slug.title(), "slug": slug, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json()["tenant"])


async def test_tenant_crud(h: Harness, admin: Admin) -> None:
    acme = await _tenant(admin, "acme", description="Rockets", metadata={"plan": "pro"})
    assert set(acme) == {"id", "name", "slug", "description", "metadata", "createdAt",
                         "updatedAt"}
    assert acme["metadata"] == {"plan": "pro"} and acme["description"] == "Rockets"
    h.clock.advance(1)
    await _tenant(admin, "globex")
    assert [t["slug"] for t in (await admin.get(T)).json()["data"]] == ["globex", "acme"]
    assert_error(await admin.post(T, json={"name": "A", "slug": "acme"}), 409,
                 "TENANT_ALREADY_EXISTS", "Tenant with slug 'acme' already exists")
    for bad in ("Acme", "-acme", "acme-", "ac--me", "ac me"):
        assert_error(await admin.post(T, json={"name": "A", "slug": bad}), 400,
                     "INVALID_SLUG_FORMAT", SLUG_MESSAGE)
    assert_error(await admin.post(T, json={"name": "A"}), 400, "INVALID_INPUT")
    assert_error(await admin.post(T, json={"name": "A", "slug": "a", "metadata": [1]}), 400,
                 "INVALID_INPUT")
    # W17: a PATCH without metadata keeps it; W21: the slug is answered, not null
    r = await admin.patch(f"{T}/{acme['id']}", json={"name": "Acme Corp"})
    assert r.status_code == 200, r.text
    t = r.json()["tenant"]
    assert t["name"] == "Acme Corp" and t["slug"] == "acme" and t["metadata"] == {"plan": "pro"}
    assert t["description"] == "Rockets"
    r = await admin.patch(f"{T}/{acme['id']}", json={"metadata": {}, "description": None,
                                                     "slug": "acme-corp"})
    t = r.json()["tenant"]
    assert t["metadata"] == {} and t["description"] is None and t["slug"] == "acme-corp"
    assert_error(await admin.patch(f"{T}/{acme['id']}", json={"slug": "globex"}), 409,
                 "TENANT_ALREADY_EXISTS")
    assert_error(await admin.patch(f"{T}/{acme['id']}", json={"slug": "Bad"}), 400,
                 "INVALID_SLUG_FORMAT")
    assert (await admin.delete(f"{T}/{acme['id']}")).json() == {"message": "Tenant removed"}
    for call in (admin.delete(f"{T}/{acme['id']}"), admin.patch(f"{T}/{acme['id']}", json={}),
                 admin.delete(f"{T}/zzz"), admin.patch(f"{T}/1", json={"name": "x"})):
        assert_error(await call, 404, "TENANT_NOT_FOUND")
    assert {e["action"] for e in admin.actions()} == {"tenant.create", "tenant.update",
                                                       "tenant.delete"}


async def test_users_in_shared_mode(h: Harness, admin: Admin) -> None:
    acme = await _tenant(admin, "acme")
    globex = await _tenant(admin, "globex")
    boss = (await admin.post("/roles", json={"name": "boss", "guard": "web",
                                             "tenantId": acme["id"]})).json()["role"]
    r = await admin.post("/users", json={"email": "m@example.com", "tenantId": acme["id"]})
    assert r.status_code == 201, r.text
    user = r.json()["user"]
    [access] = user["userAccesses"]
    assert access["tenantId"] == acme["id"] and access["isDefault"] is True
    assert access["tenant"]["slug"] == "acme"
    assert_error(await admin.post("/users", json={"email": "n@example.com",
                                                  "tenantId": str(uuid.uuid4())}),
                 404, "TENANT_NOT_FOUND", "Tenant not found")
    # memberships synced, roles per tenant
    r = await admin.patch(f"/users/{user['id']}", json={
        "tenantIds": [acme["id"], globex["id"]],
        "tenantRoles": [{"tenantId": acme["id"], "roleIds": [boss["id"]]}]})
    assert r.status_code == 200, r.text
    accesses = {a["tenantId"]: a for a in r.json()["user"]["userAccesses"]}
    assert set(accesses) == {acme["id"], globex["id"]}
    assert [x["name"] for x in accesses[acme["id"]]["roles"]] == ["boss"]
    # another tenant's role cannot be held here; nothing is written when one id is bad
    assert_error(await admin.patch(f"/users/{user['id']}", json={
        "metadata": {"x": 1},
        "tenantRoles": [{"tenantId": globex["id"], "roleIds": [boss["id"]]}]}),
        404, "ROLE_NOT_FOUND")
    assert_error(await admin.patch(f"/users/{user['id']}", json={
        "tenantIds": [acme["id"], "nope"]}), 400, "TENANT_NOT_FOUND",
        "Invalid or unresolved tenant ID(s): nope")
    detail = (await admin.get(f"/users/{user['id']}")).json()
    assert detail["user"]["metadata"] == {}
    r = await admin.patch(f"/users/{user['id']}", json={"tenantIds": [globex["id"]]})
    assert [a["tenantId"] for a in r.json()["user"]["userAccesses"]] == [globex["id"]]
    # filters
    page = (await admin.get("/users", params={"tenantId": globex["id"]})).json()
    assert [u["id"] for u in page["data"]] == [user["id"]]
    assert (await admin.get("/users", params={"tenantId": acme["id"]})).json()["data"] == []
    await h.make_user("loner@example.com")
    page = (await admin.get("/users", params={"scope": "tenant"})).json()
    assert [u["id"] for u in page["data"]] == [user["id"]]
    assert page["meta"]["scope"] == "tenant"


async def test_users_in_isolated_mode(make_harness: MakeHarness) -> None:
    h = await make_harness(**ADMIN_SETTINGS, tenant={"mode": "isolated"})
    admin = await sign_in(h)
    acme = await _tenant(admin, "acme")
    globex = await _tenant(admin, "globex")
    assert_error(await admin.post("/users", json={"email": "i@example.com"}), 400,
                 "TENANT_ID_REQUIRED", "tenantId is required when tenant mode is isolated")
    a = await admin.post("/users", json={"email": "i@example.com", "tenantId": acme["id"],
                                         "password": "correct horse battery"})
    b = await admin.post("/users", json={"email": "i@example.com", "tenantId": globex["id"]})
    assert a.status_code == b.status_code == 201, (a.text, b.text)
    assert a.json()["user"]["id"] != b.json()["user"]["id"]
    assert_error(await admin.post("/users", json={"email": "I@example.com",
                                                  "tenantId": acme["id"]}),
                 409, "USER_ALREADY_EXISTS")
    r = await h.client.post("/auth/login", json={
        "providerName": "email", "tenantId": acme["id"],
        "credentials": {"email": "i@example.com", "password": "correct horse battery"}})
    assert r.status_code == 200, r.text
    assert_error(await admin.patch(f"/users/{a.json()['user']['id']}",
                                   json={"tenantIds": [globex["id"]]}), 400, "INVALID_INPUT")


async def test_tenant_fields_while_tenancy_is_off(make_harness: MakeHarness) -> None:
    h = await make_harness(**ADMIN_SETTINGS)
    admin = await sign_in(h)
    u = await h.make_user("off@example.com")
    assert_error(await admin.patch(f"/users/{u.id}", json={"tenantRoles": [
        {"tenantId": str(uuid.uuid4()), "roleIds": []}]}), 400, "TENANT_NOT_ENABLED")
    r = await admin.post(T, json={"name": "Acme", "slug": "acme"})
    assert r.status_code == 201  # tenants can be prepared before tenancy is switched on
