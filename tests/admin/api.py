"""Signing an admin in for the management-API tests: ``admin = await sign_in(h)`` gives
the headers (cookie + CSRF) of a console session; ``admin.get/post/patch/delete``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from authgate.events import ADMIN_ACTION, Event
from tests.conftest import Harness


@dataclass
class Admin:
    h: Harness
    headers: dict[str, str]
    id: str
    events: list[Event] = field(default_factory=list)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.h.client.get("/auth/admin/api" + path, headers=self.headers, **kw)

    async def post(self, path: str, **kw: Any) -> httpx.Response:
        return await self.h.client.post("/auth/admin/api" + path, headers=self.headers, **kw)

    async def patch(self, path: str, **kw: Any) -> httpx.Response:
        return await self.h.client.patch("/auth/admin/api" + path, headers=self.headers, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.h.client.delete("/auth/admin/api" + path, headers=self.headers, **kw)

    def actions(self) -> list[dict[str, Any]]:
        return [e.data for e in self.events]


async def sign_in(h: Harness, email: str = "root@admin.test") -> Admin:
    admin_id = str(uuid.uuid4())
    admin = Admin(h=h, headers={"x-temp-admin": admin_id, "user-agent": "admin-browser/1.0"},
                  id=admin_id)

    async def _keep(ev: Event) -> None:
        admin.events.append(ev)

    h.res.events.subscribe(ADMIN_ACTION, _keep)
    return admin


ADMIN_SETTINGS: dict[str, Any] = {}
"""What ``make_harness`` needs for the console to be on."""
