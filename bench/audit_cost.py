"""What the audit trail adds to a login.

Whole logins: process CPU per ``POST /auth/login`` with ``audit.enabled`` on and off, back
to back on one database, in-process (ASGI, no sockets), cheapest argon2 so the hash does
not drown the difference; the audit writes are included (each round drains the queue
before its clock stops). On a shared machine the two medians differ by more than the
audit costs, so ``--parts`` measures the two pieces alone: the subscriber's work inside
the request (building the row) and the writer's CPU per row at a few batch sizes.

    .venv/bin/python bench/audit_cost.py --backend sqlite --logins 300 --rounds 5
    .venv/bin/python bench/audit_cost.py --backend postgres --parts
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from authgate import background
from authgate.app import create_app
from authgate.config import load_settings

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


async def _app(url: str, audit: bool, data_dir: Path) -> tuple[Any, Any, httpx.AsyncClient]:
    settings = load_settings(
        database_url=url, dev_mode=True, data_dir=data_dir,
        jwt={"secret": "bench-secret-" + "x" * 40},
        password_hash={"time_cost": 1, "memory_cost_kib": 8, "parallelism": 1},
        rate_limit={"enabled": False}, notifications={"security_emails": False},
        audit={"enabled": audit})
    app = create_app(settings)
    ctx = app.router.lifespan_context(app)
    await ctx.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")
    return app, ctx, client


async def _round(app: Any, client: httpx.AsyncClient, n: int) -> tuple[float, float]:
    body = {"providerName": "email",
            "credentials": {"email": "bench@example.com", "password": "correct horse battery"}}
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        r = await client.post("/auth/login", json=body)
        assert r.status_code == 200, r.text
    await background.drain(app.state.authgate)
    return (time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6


async def _parts(url: str, tmp: Path) -> None:
    from authgate import events
    from authgate.audit import trail

    app, ctx, client = await _app(url, True, tmp)
    res = app.state.authgate
    try:
        ev = events.Event(events.LOGGED_IN, str(uuid.uuid4()), {"ip": "203.0.113.7"})
        origin = events.bind_origin(lambda: events.Origin(
            ip="203.0.113.7", user_agent="Mozilla/5.0 (X11; Linux x86_64) bench",
            session_id=str(uuid.uuid4())))
        n = 20_000
        cpu = time.process_time()
        for _ in range(n):
            trail.row_from_event(res, ev)
        per_row = (time.process_time() - cpu) / n * 1e6
        events.unbind_origin(origin)
        print(f"in the request: {per_row:.1f} µs CPU to build and queue a row")
        row = trail.row_from_event(res, ev)
        for size in (1, 10, 100):
            total = 2000 if size > 1 else 500
            cpu = time.process_time()
            for _ in range(total // size):
                await trail.write(res, [dict(row, id=trail.ordered_id()) for _ in range(size)])
            print(f"writer, batches of {size:3}: {(time.process_time() - cpu) / total * 1e6:6.1f}"
                  " µs CPU per row")
    finally:
        await client.aclose()
        await ctx.__aexit__(None, None, None)


async def main(a: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="audit-bench"))
    dbname = f"authgate_audit_bench_{uuid.uuid4().hex[:8]}"
    if a.backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'a.db'}"
    else:
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute(f'CREATE DATABASE "{dbname}"')
        await conn.close()
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{dbname}"
        from authgate.db import Database
        from authgate.migrate import upgrade

        db = Database(url)
        await upgrade(db.writer)
        await db.dispose()
    try:
        if a.parts:
            await _parts(url, tmp)
            return
        on = await _app(url, True, tmp)
        off = await _app(url, False, tmp)
        r = await on[2].post("/auth/signup", json={"email": "bench@example.com",
                                                   "password": "correct horse battery"})
        assert r.status_code == 200, r.text
        for app, _, client in (on, off):
            await _round(app, client, 50)  # warm-up
        results: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
        for _ in range(a.rounds):
            results["on"].append(await _round(on[0], on[2], a.logins))
            results["off"].append(await _round(off[0], off[2], a.logins))
        for name, rows in results.items():
            cpu = statistics.median(r[0] for r in rows)
            wall = statistics.median(r[1] for r in rows)
            print(f"{a.backend} audit {name:3}: CPU {cpu:7.0f} µs/login  wall {wall:7.0f} µs/login"
                  f"  (median of {a.rounds} rounds of {a.logins})")
        diff = statistics.median(r[0] for r in results["on"]) - statistics.median(
            r[0] for r in results["off"])
        print(f"{a.backend} audit adds {diff:.0f} µs CPU per login")
        for _, ctx, client in (on, off):
            await client.aclose()
            await ctx.__aexit__(None, None, None)
    finally:
        if a.backend != "sqlite":
            import asyncpg

            conn = await asyncpg.connect(PG_ADMIN)
            await conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            await conn.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--logins", type=int, default=300)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--parts", action="store_true", help="the subscriber and the writer alone")
    asyncio.run(main(p.parse_args()))
