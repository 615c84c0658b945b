"""/auth/admin/api/roles and /permissions (contract §2.7), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.admin.api import ADMIN_SETTINGS, Admin, sign_in
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error

PERMS = "/permissions"
ROLES = "/roles"


@pytest.fixture
async def h(make_harness: MakeHarness) -> Harness:
    return await make_harness(**ADMIN_SETTINGS)


@pytest.fixture
async def admin(h: Harness) -> Admin:
    return await sign_in(h)


async def _perm(admin: Admin, name: str, **extra: str) -> dict[str, str]:
    r = await admin.post(PERMS, json={"name": name, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json()["permission"])


# permissions -----------------------------------------------------------------------------------
async def test_permission_crud(h: Harness, admin: Admin) -> None:
    p = await _perm(admin, "users.invite", category="users", description="Invite people")
    assert set(p) == {"id", "name", "guard", "description", "category", "createdAt",
                      "updatedAt"}
    assert p["guard"] == "web" and p["category"] == "users"
    assert_error(await admin.post(PERMS, json={"name": "users.invite"}), 409,
                 "PERMISSION_ALREADY_EXISTS",
                 "Permission 'users.invite' with guard 'web' already exists")
    assert_error(await admin.post(PERMS, json={"name": "x", "guard": "api"}), 400,
                 "GUARD_NOT_ALLOWED", "Guard 'api' is not allowed. Allowed guards: web")
    assert_error(await admin.post(PERMS, json={"name": ""}), 400, "INVALID_INPUT")
    assert_error(await admin.post(PERMS, json={"name": "a" * 256}), 400, "INVALID_INPUT")
    r = await admin.get(f"{PERMS}/{p['id']}")
    assert r.json() == {"permission": p}
    r = await admin.patch(f"{PERMS}/{p['id']}", json={"name": "users.invite2",
                                                      "category": "", "description": "x"})
    assert r.status_code == 200, r.text
    changed = r.json()["permission"]
    assert changed["name"] == "users.invite2" and changed["category"] is None
    assert changed["description"] == "x"
    await _perm(admin, "posts.edit")
    assert_error(await admin.patch(f"{PERMS}/{p['id']}", json={"name": "posts.edit"}), 409,
                 "PERMISSION_ALREADY_EXISTS")
    assert_error(await admin.patch(f"{PERMS}/{p['id']}", json={"name": "  "}), 400,
                 "INVALID_INPUT", "Permission name is required")
    r = await admin.delete(f"{PERMS}/{p['id']}")
    assert r.json() == {"message": "Permission deleted successfully"}
    for call in (admin.get(f"{PERMS}/{p['id']}"), admin.delete(f"{PERMS}/{p['id']}"),
                 admin.patch(f"{PERMS}/{p['id']}", json={"name": "z"}),
                 admin.get(f"{PERMS}/not-a-uuid"), admin.delete(f"{PERMS}/1")):
        assert_error(await call, 404, "PERMISSION_NOT_FOUND")
    assert {e["action"] for e in admin.actions()} == {
        "permission.create", "permission.update", "permission.delete"}


async def test_permission_listing_search_categories_guards(h: Harness, admin: Admin) -> None:
    await _perm(admin, "users.create", category="users", description="Create accounts")
    await _perm(admin, "users.delete", category="users")
    await _perm(admin, "posts.publish", category="posts", description="Publish posts of users")
    await _perm(admin, "billing_view")

    async def names(path: str, **params: str) -> list[str]:
        r = await admin.get(path, params=params)
        assert r.status_code == 200, r.text
        return [p["name"] for p in r.json()["data"]]

    assert await names(PERMS) == ["billing_view", "posts.publish", "users.create",
                                  "users.delete"]
    assert await names(PERMS, category="users") == ["users.create", "users.delete"]
    assert await names(PERMS, search="USER") == ["posts.publish", "users.create",
                                                 "users.delete"]
    assert await names(PERMS, search="_") == ["billing_view"]  # no wildcard
    assert await names(PERMS, limit="1") == ["billing_view"]
    assert await names(PERMS, guard="api") == []
    assert await names(f"{PERMS}/search", q="users") == ["posts.publish", "users.create",
                                                         "users.delete"]
    assert await names(f"{PERMS}/search", q="users", limit="2") == ["posts.publish",
                                                                    "users.create"]
    assert await names(f"{PERMS}/search", q="  ") == []
    assert await names(f"{PERMS}/search") == []
    assert (await admin.get(f"{PERMS}/categories")).json() == {"data": ["posts", "users"]}
    assert (await admin.get(f"{PERMS}/guards")).json() == {"data": ["web"]}


# roles -----------------------------------------------------------------------------------------
async def test_role_crud(h: Harness, admin: Admin) -> None:
    await _perm(admin, "posts.edit")
    await _perm(admin, "posts.create")
    r = await admin.post(ROLES, json={"name": "editor", "guard": "web",
                                      "permissions": ["posts.edit", "posts.create"]})
    assert r.status_code == 201, r.text
    role = r.json()["role"]
    assert set(role) == {"id", "name", "guard", "isSystem", "isActive", "tenantId",
                         "permissions", "createdAt", "updatedAt"}
    assert role["permissions"] == ["posts.create", "posts.edit"]
    assert role["isActive"] is True and role["isSystem"] is False and role["tenantId"] is None
    assert_error(await admin.post(ROLES, json={"name": "editor", "guard": "web"}), 409,
                 "ROLE_ALREADY_EXISTS")
    assert_error(await admin.post(ROLES, json={"name": "x", "guard": "api"}), 400,
                 "GUARD_NOT_ALLOWED", "Guard 'api' is not allowed. Allowed guards: web")
    assert_error(await admin.post(ROLES, json={"name": "x", "guard": "web",
                                               "permissions": ["nope"]}),
                 400, "ROLE_PERMISSION_VALIDATION_FAILED")
    assert_error(await admin.post(ROLES, json={"name": "  ", "guard": "web"}), 400,
                 "ROLE_NAME_REQUIRED")
    assert_error(await admin.post(ROLES, json={"name": "x"}), 400, "INVALID_INPUT",
                 "guard should not be null or undefined")
    assert_error(await admin.post(ROLES, json={"name": "x", "guard": "web",
                                               "permissions": "posts.edit"}),
                 400, "INVALID_INPUT")
    r = await admin.get(ROLES)
    assert [x["name"] for x in r.json()["data"]] == ["editor"]
    assert (await admin.get(ROLES, params={"guard": "api"})).json() == {"data": []}
    # update
    assert_error(await admin.patch(f"{ROLES}/{role['id']}", json={}), 400, "INVALID_INPUT",
                 "At least one field must be provided for update (name, isActive, or "
                 "permissions)")
    r = await admin.patch(f"{ROLES}/{role['id']}", json={"name": "author", "isActive": False,
                                                         "permissions": ["posts.create"]})
    assert r.status_code == 200, r.text
    changed = r.json()["role"]
    assert changed["name"] == "author" and changed["isActive"] is False
    assert changed["permissions"] == ["posts.create"]
    assert_error(await admin.patch(f"{ROLES}/{role['id']}", json={"permissions": ["zz"]}),
                 400, "ROLE_PERMISSION_VALIDATION_FAILED")
    await admin.post(ROLES, json={"name": "other", "guard": "web"})
    assert_error(await admin.patch(f"{ROLES}/{role['id']}", json={"name": "other"}), 409,
                 "ROLE_ALREADY_EXISTS")
    assert (await admin.delete(f"{ROLES}/{role['id']}")).json() == {"message": "Role removed"}
    for call in (admin.delete(f"{ROLES}/{role['id']}"),
                 admin.patch(f"{ROLES}/{role['id']}", json={"name": "y"}),
                 admin.delete(f"{ROLES}/abc"), admin.patch(f"{ROLES}/abc", json={"name": "y"})):
        assert_error(await call, 404, "ROLE_NOT_FOUND")


async def test_role_changes_reach_the_holders(h: Harness, admin: Admin) -> None:
    """Create a role with permissions, assign it: the user's session carries it; taking the
    permission away reaches the live session (authz.role_changes = immediate)."""
    await _perm(admin, "reports.read")
    role = (await admin.post(ROLES, json={"name": "analyst", "guard": "web",
                                          "permissions": ["reports.read"]})).json()["role"]
    u = await h.make_user("holder@example.com", tokens=True)
    assert u.access_token is not None
    r = await admin.patch(f"/users/{u.id}", json={"roleIds": [role["id"]]})
    assert r.status_code == 200, r.text
    me = (await h.client.get("/auth/me", headers=bearer(u.access_token))).json()
    assert me["permissions"] == ["reports.read"]
    assert [x["name"] for x in me["roles"]] == ["analyst"]
    await admin.patch(f"{ROLES}/{role['id']}", json={"permissions": []})
    me = (await h.client.get("/auth/me", headers=bearer(u.access_token))).json()
    assert me["permissions"] == []


async def test_tenant_role_listing(make_harness: MakeHarness) -> None:
    h = await make_harness(**ADMIN_SETTINGS, tenant={"mode": "shared"})
    admin = await sign_in(h)
    t = (await admin.post("/tenants", json={"name": "Acme", "slug": "acme"})).json()["tenant"]
    r = await admin.post(ROLES, json={"name": "boss", "guard": "web", "tenantId": t["id"]})
    assert r.status_code == 201, r.text
    assert r.json()["role"]["tenant"] == {"id": t["id"], "name": "Acme", "slug": "acme"}
    await admin.post(ROLES, json={"name": "global", "guard": "web"})
    r = await admin.get(ROLES, params={"tenantId": t["id"]})
    assert [x["name"] for x in r.json()["data"]] == ["boss"]
    assert len((await admin.get(ROLES)).json()["data"]) == 2
    assert_error(await admin.post(ROLES, json={"name": "x", "guard": "web",
                                               "tenantId": str(uuid.uuid4())}),
                 400, "TENANT_NOT_FOUND")


async def test_concurrent_role_creation(h: Harness, admin: Admin) -> None:
    results = await asyncio.gather(*(admin.post(ROLES, json={"name": "dup", "guard": "web"})
                                     for _ in range(3)))
    assert sorted(r.status_code for r in results) == [201, 409, 409], [r.text for r in results]


async def test_every_route_needs_an_admin(h: Harness) -> None:
    rid = str(uuid.uuid4())
    for method, path in (("GET", ROLES), ("POST", ROLES), ("PATCH", f"{ROLES}/{rid}"),
                         ("DELETE", f"{ROLES}/{rid}"), ("GET", PERMS), ("POST", PERMS),
                         ("GET", f"{PERMS}/guards"), ("GET", f"{PERMS}/search"),
                         ("GET", f"{PERMS}/categories"), ("GET", f"{PERMS}/{rid}"),
                         ("PATCH", f"{PERMS}/{rid}"), ("DELETE", f"{PERMS}/{rid}")):
        r = await h.client.request(method, "/auth/admin/api" + path,
                                   json={"name": "x", "guard": "web"}
                                   if method in ("POST", "PATCH") else None)
        assert r.status_code == 401, (method, path)
