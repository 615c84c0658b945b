"""examples/tenant_app.py: a shared-mode host app keying its data by the session's tenant and
guarding routes with require(roles=..., permissions=..., any_of=...)."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from authgate.authz import service as authz
from authgate.clock import FrozenClock
from authgate.tenancy import service as tenancy
from tests.conftest import MakeHarness, base_settings, bearer
from tests.helpers import assert_error, claims

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tenant_app.py"
PW = "correct horse battery"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tenant_app_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@asynccontextmanager
async def _running(module: ModuleType, database_url: str,
                   tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    settings = base_settings(database_url, data_dir=tmp_path, tenant={"mode": "shared"})
    app = module.create_app(settings, clock=FrozenClock())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://host") as c:
            yield c, app.state.authgate


async def test_workspaces_are_apart_and_roles_apply_per_workspace(
        database_url: str, make_harness: MakeHarness, tmp_path: Path) -> None:
    module = _load()
    module.PROJECTS.clear()
    async with _running(module, database_url, tmp_path) as (c, res):
        r = await c.post("/auth/signup", json={"email": "ann@example.com", "password": PW})
        ann = r.json()["accessToken"]
        ann_id = claims(ann)["sub"]
        acme = await module.seed_workspace(res, "Acme", "acme", ann_id)
        beta = await module.seed_workspace(res, "Beta", "beta", ann_id)
        # Bob: editor in acme only
        r = await c.post("/auth/signup", json={"email": "bob@example.com", "password": PW,
                                               "tenantId": acme})
        bob, bob_id = r.json()["accessToken"], claims(r.json()["accessToken"])["sub"]
        assert_error(await c.get("/projects", headers=bearer(bob)), 403, "NO_ROLES_ASSIGNED")
        editor = next(x for x in await authz.list_roles(res, tenant_id=None)
                      if x.name == "editor")
        await authz.assign_role(res, bob_id, editor.id, tenant_id=acme)
        assert (await c.post("/projects", headers=bearer(bob), json={"name": "rocket"})
                ).json() == {"count": 1}
        assert_error(await c.delete("/projects", headers=bearer(bob)), 403,
                     "MISSING_REQUIRED_ROLES", "Access denied: Missing required roles: owner")
        # Ann's session has no workspace yet (she signed up without one): pick acme
        assert_error(await c.get("/projects", headers=bearer(ann)), 403, "NO_ROLES_ASSIGNED")
        r = await c.post("/auth/switch-tenant", headers=bearer(ann), json={"tenantId": acme})
        ann = r.json()["accessToken"]
        assert (await c.get("/projects", headers=bearer(ann))).json() == {
            "tenantId": acme, "projects": ["rocket"]}
        # beta's data is beta's: Bob cannot reach it, not even by switching
        r = await c.post("/auth/switch-tenant", headers=bearer(bob), json={"tenantId": beta})
        assert_error(r, 403, "NOT_A_MEMBER_OF_TENANT")
        r = await c.post("/auth/switch-tenant", headers=bearer(ann), json={"tenantId": beta})
        ann_beta = r.json()["accessToken"]
        assert (await c.get("/projects", headers=bearer(ann_beta))).json()["projects"] == []
        assert (await c.delete("/projects", headers=bearer(ann_beta))).status_code == 200
        # Bob removed from acme: his session there ends at once
        await tenancy.remove_member(res, bob_id, acme)
        assert_error(await c.get("/projects", headers=bearer(bob)), 401, "SESSION_NOT_FOUND")
