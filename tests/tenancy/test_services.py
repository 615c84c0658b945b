"""The management services other features call (admin console, importer, CLI): their coded
refusals, and that their changes reach live sessions."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest

from authgate.authz import service as authz
from authgate.errors import AuthError
from authgate.tenancy import service as tenancy
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error, claims


async def refused(code: str, call: Awaitable[Any]) -> None:
    with pytest.raises(AuthError) as info:
        await call
    assert info.value.code == code, info.value


async def test_tenant_rules(make_harness: MakeHarness) -> None:
    h = await make_harness(tenant={"mode": "shared"})
    t = await tenancy.create_tenant(h.res, name=" Acme ", slug="acme", metadata={"plan": "pro"})
    assert (t.name, t.slug, t.metadata, t.is_active) == ("Acme", "acme", {"plan": "pro"}, True)
    await refused("TENANT_ALREADY_EXISTS", tenancy.create_tenant(h.res, name="X", slug="acme"))
    await refused("TENANT_ALREADY_EXISTS",
                  tenancy.create_tenant(h.res, name="X", tenant_id=t.id))
    for slug in ("Acme", "-acme", "acme-", "a b", "", "x" * 256):
        await refused("INVALID_SLUG_FORMAT", tenancy.create_tenant(h.res, name="X", slug=slug))
    await refused("INVALID_INPUT", tenancy.create_tenant(h.res, name="  "))
    await refused("TENANT_NOT_FOUND", tenancy.get_tenant(h.res, "nope"))
    await refused("TENANT_NOT_FOUND", tenancy.update_tenant(h.res, "nope", name="Y"))
    # an update changes only what it is given (upstream's PATCH reset metadata: W17)
    t2 = await tenancy.update_tenant(h.res, t.id, name="Acme Inc")
    assert (t2.name, t2.slug, t2.metadata) == ("Acme Inc", "acme", {"plan": "pro"})
    assert (await tenancy.update_tenant(h.res, t.id, slug=None)).slug is None
    await tenancy.create_tenant(h.res, name="Beta", slug="beta")
    page, total = await tenancy.list_tenants(h.res, search="bet")
    assert total == 1 and [x.slug for x in page] == ["beta"]
    assert (await tenancy.list_tenants(h.res))[1] == 2


async def test_membership_rules(make_harness: MakeHarness) -> None:
    h = await make_harness(tenant={"mode": "shared"})
    a = (await tenancy.create_tenant(h.res, name="A", slug="a")).id
    b = (await tenancy.create_tenant(h.res, name="B", slug="b")).id
    u = await h.make_user("ann@example.com")
    await refused("USER_NOT_FOUND", tenancy.add_member(h.res, "nobody", a))
    await refused("TENANT_NOT_FOUND", tenancy.add_member(h.res, u.id, "nope"))
    await refused("INVALID_INPUT", tenancy.add_member(h.res, u.id, a, status="banned"))
    first = await tenancy.add_member(h.res, u.id, a)
    second = await tenancy.add_member(h.res, u.id, b)
    assert (first.is_default, second.is_default) == (True, False)
    await refused("NOT_A_MEMBER_OF_TENANT",
                  tenancy.set_default_tenant(h.res, u.id, (await tenancy.create_tenant(
                      h.res, name="C", slug="c")).id))
    await tenancy.set_default_tenant(h.res, u.id, b)
    defaults = {m.tenant_id: m.is_default for m in await tenancy.list_memberships(h.res, u.id)}
    assert defaults == {a: False, b: True}
    assert [m.user_id for m in await tenancy.list_members(h.res, a)] == [u.id]
    assert await tenancy.remove_member(h.res, u.id, a) is True
    assert await tenancy.remove_member(h.res, u.id, a) is False


async def test_isolated_accounts_join_only_their_tenant(make_harness: MakeHarness) -> None:
    h = await make_harness(tenant={"mode": "isolated"})
    a = (await tenancy.create_tenant(h.res, name="A", slug="a")).id
    b = (await tenancy.create_tenant(h.res, name="B", slug="b")).id
    uid = claims((await h.signup("ann@example.com", tenantId=a)).json()["accessToken"])["sub"]
    await refused("ACCESS_DENIED", tenancy.add_member(h.res, uid, b))


async def test_role_and_permission_rules(make_harness: MakeHarness) -> None:
    h = await make_harness(tenant={"mode": "shared"}, authz={"role_guards": ["web", "api"]})
    a = (await tenancy.create_tenant(h.res, name="A", slug="a")).id
    p = await authz.create_permission(h.res, name="posts.write", description="Write posts")
    await refused("PERMISSION_ALREADY_EXISTS", authz.create_permission(h.res, name="posts.write"))
    await authz.create_permission(h.res, name="posts.write", guard="api")  # another guard
    await refused("GUARD_NOT_ALLOWED", authz.create_permission(h.res, name="x", guard="admin"))
    await refused("GUARD_NOT_ALLOWED", authz.create_role(h.res, name="x", guard="admin"))
    await refused("PERMISSION_NOT_FOUND",
                  authz.create_role(h.res, name="x", permissions=["posts.read"]))
    await refused("TENANT_NOT_FOUND", authz.create_role(h.res, name="x", tenant_id="nope"))
    r = await authz.create_role(h.res, name="editor", tenant_id=a, permissions=["posts.write"])
    assert (r.tenant_id, r.permissions, r.guard) == (a, ("posts.write",), "web")
    await refused("ROLE_ALREADY_EXISTS", authz.create_role(h.res, name="editor", tenant_id=a))
    await authz.create_role(h.res, name="editor")  # the same name as a platform role
    await refused("ROLE_ALREADY_EXISTS", authz.create_role(h.res, name="y", role_id=r.id))
    assert [x.name for x in await authz.list_roles(h.res, tenant_id=a)] == ["editor"]
    assert len(await authz.list_roles(h.res)) == 2
    u = await h.make_user("ann@example.com")
    await refused("NOT_A_MEMBER_OF_TENANT", authz.assign_role(h.res, u.id, r.id, tenant_id=a))
    await refused("ROLE_NOT_FOUND", authz.assign_role(h.res, u.id, "nope", tenant_id=None))
    await refused("USER_NOT_FOUND", authz.assign_role(h.res, "nobody", r.id, tenant_id=a))
    await tenancy.add_member(h.res, u.id, a)
    await authz.assign_role(h.res, u.id, r.id, tenant_id=a)
    await authz.assign_role(h.res, u.id, r.id, tenant_id=a)  # idempotent
    assert await authz.user_grants(h.res, u.id, a) == (["editor"], ["posts.write"])
    await authz.update_role(h.res, r.id, is_active=False)  # an inactive role grants nothing
    assert await authz.user_grants(h.res, u.id, a) == ([], [])
    await authz.update_role(h.res, r.id, is_active=True)
    await authz.delete_permission(h.res, p.id)
    assert await authz.user_grants(h.res, u.id, a) == (["editor"], [])
    await refused("PERMISSION_NOT_FOUND", authz.delete_permission(h.res, p.id))
    await authz.set_user_roles(h.res, u.id, [], tenant_id=a)
    assert [x.name for x in await authz.user_roles(h.res, u.id, tenant_id=a)] == []
    await authz.delete_role(h.res, r.id)
    await refused("ROLE_NOT_FOUND", authz.delete_role(h.res, r.id))


async def _member_with_role(h: Harness, tenant: str) -> tuple[str, str, str]:
    r = await h.signup("ann@example.com", tenantId=tenant)
    token = r.json()["accessToken"]
    uid = claims(token)["sub"]
    role = await authz.create_role(h.res, name="owner", tenant_id=tenant)
    await authz.assign_role(h.res, uid, role.id, tenant_id=tenant)
    return token, uid, role.id


async def test_deleting_a_role_or_tenant_reaches_sessions(make_harness: MakeHarness) -> None:
    h = await make_harness(tenant={"mode": "shared"})
    a = (await tenancy.create_tenant(h.res, name="A", slug="a")).id
    token, _, role = await _member_with_role(h, a)
    me = (await h.client.get("/auth/me", headers=bearer(token))).json()
    assert [x["name"] for x in me["roles"]] == ["owner"]
    await authz.delete_role(h.res, role)
    assert (await h.client.get("/auth/me", headers=bearer(token))).json()["roles"] == []
    await tenancy.delete_tenant(h.res, a)
    assert_error(await h.client.get("/auth/me", headers=bearer(token)), 401, "SESSION_NOT_FOUND")
    await refused("TENANT_NOT_FOUND", tenancy.delete_tenant(h.res, a))
