"""Routes are added flat to the app's router (no include levels to walk per request), the
hot ones first, and documented in the order they are declared."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

from authgate.app import AuthGate
from authgate.http.routing import HOT_PATHS
from tests.conftest import Harness, base_settings, bearer


def _app() -> tuple[FastAPI, AuthGate]:
    gate = AuthGate(base_settings("sqlite+aiosqlite:////tmp/unused.db"), prefix="/id")
    app = FastAPI()

    @app.get("/host")
    async def host() -> dict[str, bool]:
        return {"ok": True}

    gate.install(app)
    return app, gate


def test_routes_are_flat_hot_first_and_bound_to_the_app() -> None:
    app, gate = _app()
    declared = [r for router in gate.routers for r in router.routes]
    ours = [r for r in app.routes if isinstance(r, APIRoute) and r.path.startswith("/id/")]
    assert len(ours) == len(declared) == len(gate.routes)
    assert {(r.path, frozenset(r.methods)) for r in ours} == {
        ("/id" + r.path, frozenset(r.methods)) for r in declared if isinstance(r, APIRoute)}
    assert all(isinstance(r, APIRoute) for r in app.routes if r.path.startswith("/id"))
    hot = [r.path for r in ours[:len(HOT_PATHS)]]
    assert hot == ["/id" + p for p in HOT_PATHS]
    # added as @app.get would: the host's dependency overrides reach them
    assert all(r.dependency_overrides_provider is app for r in ours)
    assert [r.path for r in gate.routes] == ["/id" + r.path for r in declared
                                              if isinstance(r, APIRoute)]


async def test_openapi_lists_paths_in_declaration_order(h: Harness) -> None:
    paths = list((await h.client.get("/openapi.json")).json()["paths"])
    assert paths[:4] == ["/auth/csrf", "/auth/signup", "/auth/login", "/auth/refresh-token"]
    assert paths.index("/auth/mfa/status") > paths.index("/auth/client-config")


async def test_a_hot_route_and_a_late_route_both_answer(h: Harness) -> None:
    token = await h.user_token()
    assert (await h.client.get("/auth/user", headers=bearer(token))).status_code == 200
    r = await h.client.get("/auth/mfa/devices", headers=bearer(token))
    assert r.status_code == 200 and r.json() == []
    r = await h.client.delete("/auth/mfa/devices/nope", headers=bearer(token))
    assert r.status_code == 404
