"""A multi-tenant host app (``tenant.mode = "shared"``): one account per person, members of
several workspaces (tenants), different roles in each.

authgate adds ``/auth`` (signup/login with ``tenantId``, ``POST /auth/switch-tenant``,
``GET /auth/tenants/lookup``, ``POST /auth/invite``); the host keys its own data by the
session's tenant and guards routes with ``gate.require``:

* ``require(permissions=("projects.write", "projects.admin"))``: at least one of them
  (``any_of=True``, the default) in the *current* tenant;
* ``require(roles=("owner",))``: every role listed;
* ``require(permissions=(...), any_of=False)``: all of them.

The roles and permissions are seeded at start-up through the service functions
(``authgate.authz.service``, ``authgate.tenancy.service``), the same ones the admin console
uses. Run it::

    AUTHGATE_TENANT__MODE=shared uvicorn --factory examples.tenant_app:create_app --port 8000

Then create a workspace (``seed_workspace`` below, or the admin console), ``POST /auth/signup``
with its ``tenantId``, and call ``GET /projects`` with ``Authorization: Bearer <token>``.
"""

# No ``from __future__ import annotations``: FastAPI reads the signatures at run time.
from typing import Annotated, Any

from fastapi import Depends, FastAPI

from authgate import AuthGate, Principal, Settings, load_settings
from authgate.authz import service as authz
from authgate.clock import Clock
from authgate.errors import AuthError, Code
from authgate.resources import Resources
from authgate.tenancy import service as tenancy

PROJECTS: dict[str, list[str]] = {}
"""Projects per tenant id: the host's own data, keyed by the session's tenant."""
PERMISSIONS = ["projects.read", "projects.write", "projects.admin", "users.invite"]
ROLES = {"viewer": ["projects.read"],
         "editor": ["projects.read", "projects.write"],
         "owner": ["projects.read", "projects.write", "projects.admin", "users.invite"]}


async def seed(res: Resources) -> None:
    """Start-up hook: the permissions and platform roles every workspace uses (idempotent)."""
    await authz.ensure_permissions(res, PERMISSIONS)
    existing = {r.name for r in await authz.list_roles(res, tenant_id=None)}
    for name, perms in ROLES.items():
        if name not in existing:
            await authz.create_role(res, name=name, permissions=perms)


async def seed_workspace(res: Resources, name: str, slug: str, owner_id: str) -> str:
    """A workspace with ``owner_id`` as its owner; returns the tenant id."""
    t = await tenancy.create_tenant(res, name=name, slug=slug)
    await tenancy.add_member(res, owner_id, t.id)
    owner = next(r for r in await authz.list_roles(res, tenant_id=None) if r.name == "owner")
    await authz.assign_role(res, owner_id, owner.id, tenant_id=t.id)
    return t.id


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    gate = AuthGate(settings or load_settings(), clock=clock, extensions=[seed])
    app = FastAPI(title="Workspaces", lifespan=gate.lifespan)
    gate.install(app)

    Reader = Annotated[Principal, Depends(gate.require(permissions=("projects.read",)))]
    Writer = Annotated[Principal, Depends(gate.require(
        permissions=("projects.write", "projects.admin")))]
    Owner = Annotated[Principal, Depends(gate.require(roles=("owner",)))]

    def workspace(p: Principal) -> str:
        # the tenant the session is in (changed by POST /auth/switch-tenant), never a
        # client-supplied id: a member of A cannot name B's data
        tenant = p.session.tenant_id
        if tenant is None:  # roles held outside any workspace: pick one first
            raise AuthError(Code.ACCESS_DENIED, "Switch to a workspace first")
        return tenant

    @app.get("/projects")
    async def list_projects(p: Reader) -> dict[str, Any]:
        return {"tenantId": workspace(p), "projects": PROJECTS.get(workspace(p), [])}

    @app.post("/projects")
    async def add_project(p: Writer, body: dict[str, Any]) -> dict[str, Any]:
        PROJECTS.setdefault(workspace(p), []).append(str(body.get("name", "untitled")))
        return {"count": len(PROJECTS[workspace(p)])}

    @app.delete("/projects")
    async def clear_projects(p: Owner) -> dict[str, Any]:
        PROJECTS.pop(workspace(p), None)
        return {"count": 0}

    return app
