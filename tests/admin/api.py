"""Signing an admin in for the management-API tests: ``admin = await sign_in(h)`` is a
console browser (session cookie, CSRF header sent for it) with ``get/post/patch/delete``
under ``/auth/admin/api`` and the audit events it caused (``admin.actions()``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from authgate.events import ADMIN_ACTION, Event
from tests.admin.conftest import CONSOLE, AdminClient, bootstrap, browser
from tests.admin.conftest import sign_in as console_sign_in
from tests.conftest import Harness

ADMIN_SETTINGS: dict[str, Any] = CONSOLE
"""What ``make_harness`` needs for the console to be on."""
PASSWORD = "Adm1n-Pass!word-9"
USER_AGENT = "admin-browser/1.0"
_FIRST: dict[int, AdminClient] = {}


@dataclass
class Admin:
    h: Harness
    client: AdminClient
    id: str
    events: list[Event] = field(default_factory=list)

    async def get(self, path: str, **kw: Any) -> Any:
        return await self.client.get("/auth/admin/api" + path, **kw)

    async def post(self, path: str, **kw: Any) -> Any:
        return await self.client.post("/auth/admin/api" + path, **kw)

    async def patch(self, path: str, **kw: Any) -> Any:
        return await self.client.patch("/auth/admin/api" + path, **kw)

    async def delete(self, path: str, **kw: Any) -> Any:
        return await self.client.delete("/auth/admin/api" + path, **kw)

    def actions(self) -> list[dict[str, Any]]:
        """Audit events of management actions (not the console's own sign-ins)."""
        return [e.data for e in self.events if e.data.get("actor") == self.id
                and "." in str(e.data.get("action"))
                and not str(e.data.get("action")).startswith("admin.")]


async def sign_in(h: Harness, email: str = "root@example.com") -> Admin:
    """Bootstrap the first admin with the secret key (or, once one exists, have it create
    this one), then sign in in a browser of its own."""
    r = await bootstrap(h, email, PASSWORD)
    first = r.status_code == 201
    if not first:
        creator = _FIRST[id(h.res)]
        r = await creator.post("/auth/admin/admins", json={"email": email,
                                                           "password": PASSWORD})
        assert r.status_code == 201, r.text
    client = browser(h)
    client.headers["user-agent"] = USER_AGENT
    r = await console_sign_in(client, email, PASSWORD)
    assert r.status_code == 201, r.text
    if first:
        _FIRST[id(h.res)] = client
    admin = Admin(h=h, client=client, id=r.json()["admin"]["id"])

    async def _keep(ev: Event) -> None:
        admin.events.append(ev)

    h.res.events.subscribe(ADMIN_ACTION, _keep)
    return admin
