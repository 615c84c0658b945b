"""examples/fastapi_app.py: a host app mounting authgate and protecting its own routes."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from authgate.clock import FrozenClock
from tests.conftest import MakeHarness, base_settings, bearer
from tests.helpers import assert_error, claims, grant_permissions, set_user

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "fastapi_app.py"
CREDS = {"email": "host@example.com", "password": "correct horse battery"}


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastapi_app_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


Client = Callable[..., Any]


@pytest.fixture
def example_client(database_url: str, make_harness: MakeHarness,
                   tmp_path: Path) -> Client:
    """``async with example_client(**settings) as client`` runs the example app
    (``make_harness`` is requested only for its fresh tables)."""
    module = _load_example()

    @asynccontextmanager
    async def _client(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = base_settings(database_url, data_dir=tmp_path, **overrides)
        app = module.create_app(settings, clock=FrozenClock())
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://host") as c:
                yield c

    return _client


async def _signup(c: httpx.AsyncClient) -> str:
    r = await c.post("/auth/signup", json=CREDS)
    assert r.status_code == 200, r.text
    return str(r.json()["accessToken"])


async def test_protected_route(example_client: Client) -> None:
    async with example_client() as c:
        assert_error(await c.get("/orders"), 401, "NO_AUTH_PROVIDED")
        assert_error(await c.get("/orders", headers=bearer("junk")), 401, "INVALID_TOKEN")
        token = await _signup(c)
        r = await c.post("/orders", json={"sku": "A-1"}, headers=bearer(token))
        assert r.status_code == 200 and r.json() == {"count": 1}
        r = await c.get("/orders", headers=bearer(token))
        assert r.status_code == 200
        assert r.json() == {"userId": claims(token)["sub"], "email": "host@example.com",
                            "orders": [{"sku": "A-1"}]}
        await c.post("/auth/logout", headers=bearer(token))
        assert_error(await c.get("/orders", headers=bearer(token)), 401, "SESSION_NOT_FOUND")


async def test_mfa_pending_token_is_refused(example_client: Client) -> None:
    async with example_client() as c:
        token = await _signup(c)
        await set_user(c._transport.app.state.authgate, claims(token)["sub"],
                       email_verified_at=c._transport.app.state.authgate.clock.now())
        r = await c.post("/auth/mfa/toggle", json={"enabled": True}, headers=bearer(token))
        assert r.status_code == 200, r.text
        login = (await c.post("/auth/login", json={"providerName": "email",
                                                    "credentials": CREDS})).json()
        assert login["isRequiresMfa"] is True
        assert_error(await c.get("/orders", headers=bearer(login["accessToken"])),
                     401, "MFA_REQUIRED")
        assert (await c.get("/orders", headers=bearer(token))).status_code == 200


async def test_permission_route(example_client: Client) -> None:
    async with example_client() as c:
        token = await _signup(c)
        # no role at all: NO_ROLES_ASSIGNED (upstream says MISSING_REQUIRED_PERMISSIONS: W20)
        assert_error(await c.get("/reports", headers=bearer(token)), 403,
                     "NO_ROLES_ASSIGNED", "Access denied: No roles assigned for permission check")
        assert_error(await c.get("/reports"), 401, "NO_AUTH_PROVIDED")
        res = c._transport.app.state.authgate
        await grant_permissions(res, claims(token)["sub"], "analyst", "reports.read")
        fresh = (await c.post("/auth/login", json={"providerName": "email",
                                                    "credentials": CREDS})).json()
        r = await c.get("/reports", headers=bearer(fresh["accessToken"]))
        assert r.status_code == 200 and r.json()["reports"] == ["daily-sales"]


async def test_host_routes_honour_every_gate(example_client: Client) -> None:
    async with example_client(enforce_must_change_password=True,
                              registration={"require_verified_email": True}) as c:
        token = await _signup(c)
        assert_error(await c.get("/orders", headers=bearer(token)), 403, "EMAIL_NOT_VERIFIED")
        res = c._transport.app.state.authgate
        uid = claims(token)["sub"]
        await set_user(res, uid, email_verified_at=res.clock.now(), must_change_password=True)
        assert_error(await c.get("/orders", headers=bearer(token)), 403,
                     "MUST_CHANGE_PASSWORD")
        await set_user(res, uid, must_change_password=False)
        assert (await c.get("/orders", headers=bearer(token))).status_code == 200


async def test_cookie_clients_need_csrf_on_host_writes(example_client: Client) -> None:
    async with example_client(session={"cookie": {"secure": False}}) as c:  # http://host
        await _signup(c)
        r = await c.post("/auth/login", headers={"x-access-token-type": "cookie"},
                         json={"providerName": "email", "credentials": CREDS})
        assert r.status_code == 200
        assert (await c.get("/orders")).status_code == 200
        assert_error(await c.post("/orders", json={"sku": "B"}), 403, "CSRF_TOKEN_INVALID")
        r = await c.post("/orders", json={"sku": "B"},
                         headers={"x-csrf-token": c.cookies["nest_auth_csrf"]})
        assert r.status_code == 200
