"""``GET /health/live`` and ``GET /health/ready`` (issue 16 §2): outside ``/auth``, never
rate limited, nothing but states in the answer, unready while draining or while the database
or Redis does not answer within ``server.health_timeout`` (through a TCP proxy this test owns:
the shared servers are never stopped)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from tests.conftest import REDIS_URL, Harness, MakeHarness, base_settings, bearer
from tests.security.test_faults import _target, _via, proxies  # noqa: F401  (fixture)


async def test_live_and_ready(h: Harness) -> None:
    r = await h.client.get("/health/live")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r.headers["cache-control"] == "no-store"
    r = await h.client.get("/health/ready")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
    assert (await h.client.get("/auth/health/ready")).status_code == 404  # not under /auth


async def test_ready_without_redis_checks_the_database_only(make_harness: MakeHarness) -> None:
    h = await make_harness(redis_url=None)
    r = await h.client.get("/health/ready")
    assert r.status_code == 200 and r.json() == {"status": "ok", "checks": {"database": "ok"}}


async def test_never_rate_limited(make_harness: MakeHarness) -> None:
    h = await make_harness(rate_limit={"login": {"per_ip": {"limit": 1, "window": "1m"}}})
    for _ in range(30):
        assert (await h.client.get("/health/ready")).status_code == 200
        assert (await h.client.get("/health/live")).status_code == 200


async def test_draining_fails_readiness_and_closes_connections(h: Harness) -> None:
    token = await h.session_token()
    r = await h.client.get("/auth/user", headers=bearer(token))
    assert r.status_code == 200 and "connection" not in r.headers
    app = h.client._transport.app  # type: ignore[attr-defined]
    stack = app.middleware_stack
    app.state.gate.begin_drain()
    try:
        r = await h.client.get("/health/ready")
        assert r.status_code == 503
        assert r.json() == {"status": "draining", "checks": {"database": "ok", "redis": "ok"}}
        assert r.headers["connection"] == "close"
        live = await h.client.get("/health/live")
        assert live.status_code == 200 and live.headers["connection"] == "close"
        # requests are still served while draining, each on its last keep-alive round
        r = await h.client.get("/auth/user", headers=bearer(token))
        assert r.status_code == 200 and r.headers["connection"] == "close"
        assert r.headers.get_list("connection") == ["close"]
    finally:
        h.res.drain.since = None  # the app is pooled: serve normally again
        app.middleware_stack = stack


async def test_unreachable_redis_is_unready_within_the_bound(proxies: Any,  # noqa: F811
                                                              make_harness: MakeHarness) -> None:
    proxy = await proxies(_target(REDIS_URL, 6379))
    url = _via(REDIS_URL, proxy).replace("redis://", "redis://:hunter2-secret@", 1)
    h = await make_harness(redis_url=url, server={"health_timeout": 0.3})
    assert (await h.client.get("/health/ready")).status_code in (200, 503)  # AUTH may fail
    for mode in ("blackhole", "reset"):
        proxy.cut(mode)
        r = await h.client.get("/health/ready")
        assert r.status_code == 503, r.text
        assert r.json() == {"status": "unavailable",
                            "checks": {"database": "ok", "redis": "unavailable"}}
        assert "hunter2" not in r.text and str(proxy.port) not in r.text
        proxy.restore()
    live = await h.client.get("/health/live")
    assert live.status_code == 200  # liveness never depends on a dependency


async def test_unreachable_database_is_unready(proxies: Any,  # noqa: F811
                                               make_harness: MakeHarness, backend: str,
                                               database_url: str) -> None:
    if backend != "postgres":
        return  # SQLite is a file: nothing between the process and it can fail this way
    proxy = await proxies(_target(database_url, 5432))
    h = await make_harness(database_url=_via(database_url, proxy),
                           server={"health_timeout": 0.5})
    assert (await h.client.get("/health/ready")).status_code == 200
    for mode in ("blackhole", "reset"):
        proxy.cut(mode)
        r = await h.client.get("/health/ready")
        assert r.status_code == 503, r.text
        assert r.json()["checks"]["database"] == "unavailable"
        assert r.json()["status"] == "unavailable"
        proxy.restore()
    r = await h.client.get("/health/ready")
    assert r.status_code == 200, r.text  # back by itself


async def test_library_host_mounts_the_router_where_it_wants(database_url: str) -> None:
    import httpx

    from authgate import AuthGate

    gate = AuthGate(base_settings(database_url, redis_url=None))
    app = FastAPI(lifespan=gate.lifespan)
    gate.install(app, health=False)
    app.include_router(gate.health_router, prefix="/internal")
    async with gate.lifespan(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://host") as c:
            assert (await c.get("/health/ready")).status_code == 404
            r = await c.get("/internal/health/ready")
            assert r.status_code == 200 and r.json()["checks"] == {"database": "ok"}
            gate.begin_drain()
            r = await c.get("/internal/health/ready")
            assert r.status_code == 503 and r.json()["status"] == "draining"
            assert r.headers["connection"] == "close"


async def test_documented_outside_auth(h: Harness) -> None:
    paths = (await h.client.get("/openapi.json")).json()["paths"]
    assert set(paths["/health/ready"]["get"]["responses"]) == {"200", "503"}
    assert "/health/live" in paths
