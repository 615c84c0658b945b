"""Per-request CPU of one route, in-process: the ASGI app called directly (no sockets, no
load generator), so the figure is the app's own cost. With ``--profile`` prints the top
functions by own time (cProfile).

    .venv/bin/python bench/inproc.py --stack postgres --method GET --path /auth/user
"""

from __future__ import annotations

import sys

_here = sys.path.pop(0)  # the script's folder: its profile.py would shadow the stdlib's
import argparse  # noqa: E402
import asyncio  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402

sys.path.insert(0, _here)
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent

import seed as seeding
import suite

from authgate.app import create_app
from authgate.cli.main import owned


async def run(a: argparse.Namespace) -> None:
    stack = suite.stacks([a.stack])[0]
    suite.migrate(stack)
    if await seeding.count_users(stack.db_url) < suite.USERS:
        await seeding.seed(stack.db_url, suite.USERS)
    app = owned(create_app(suite.settings_for(stack), server_process=True))  # as a worker
    pairs = await suite.open_sessions(stack, suite.emails("user", 200))
    body = a.body.encode() if a.body else b""
    sent: list[int] = []

    async def call(token: str) -> None:
        headers = [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())]
        if body:
            headers += [(b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())]
        scope: dict[str, Any] = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": a.method, "scheme": "http", "path": a.path, "raw_path": a.path.encode(),
            "query_string": b"", "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
        }
        done = False

        async def receive() -> dict[str, Any]:
            nonlocal done
            if done:
                await asyncio.sleep(3600)
            done = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                sent.append(message["status"])

        await app(scope, receive, send)

    async with app.router.lifespan_context(app):
        tokens = [p.access_token for p in pairs]
        for i in range(500):  # warm-up: caches, prepared statements
            await call(tokens[i % len(tokens)])
        sent.clear()
        prof = cProfile.Profile() if a.profile else None
        t = time.process_time()
        if prof:
            prof.enable()
        for i in range(a.n):
            await call(tokens[i % len(tokens)])
        if prof:
            prof.disable()
        cpu = (time.process_time() - t) / a.n * 1e6
    bad = sum(1 for s in sent if s >= 400)
    print(f"{a.stack} {a.method} {a.path}: {cpu:.0f} µs CPU/request in-process "
          f"({a.n} requests, {bad} non-2xx{', profiled' if prof else ''})")
    if prof:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(a.top)
        print(out.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stack", default="postgres", choices=["sqlite", "postgres", "redis"])
    ap.add_argument("--method", default="GET")
    ap.add_argument("--path", default="/auth/user")
    ap.add_argument("--body", default=None)
    ap.add_argument("-n", type=int, default=5000)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--top", type=int, default=40)
    a = ap.parse_args()
    import uvloop

    uvloop.run(run(a))


if __name__ == "__main__":
    main()
