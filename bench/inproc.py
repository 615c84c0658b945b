"""Per-request CPU of one route, in-process: the ASGI app called directly (no sockets, no
load generator), so the figure is the app's own cost. With ``--profile`` prints the top
functions by own time (cProfile).

    .venv/bin/python bench/inproc.py --stack postgres --method GET --path /auth/user
    .venv/bin/python bench/inproc.py --stack sqlite --login -n 300   # the login around the hash

``--ceiling`` measures the bare route of ``bench/ceiling.py`` the same way;
``--request-log json|text`` writes the request log as ``authgate serve`` does (to
``bench/out/inproc-requests.log``). The figure is the least disturbed tenth of the run (the
median beside it): other load on a shared machine only ever adds CPU.

``--login`` signs the seeded users in by turn (``POST /auth/login``); the hash runs in the
worker's hashing processes as under ``authgate serve``, so the CPU printed is the login's
own path around it (the hashing processes' CPU is printed beside it).

``--refresh`` rotates refresh tokens as the suite does (``POST /auth/refresh-token``, a
chain per session: every request presents the token the previous one of its chain got).
"""

from __future__ import annotations

import os
import sys

# The script's folder: its profile.py would shadow the stdlib's (also in the hashing
# processes, which import this file again as __mp_main__ with another sys.path).
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
import argparse  # noqa: E402
import asyncio  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402

sys.path.insert(0, _here)
import json
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent

import seed as seeding
import suite

from authgate.app import create_app
from authgate.cli.main import owned


async def run(a: argparse.Namespace) -> None:
    if a.request_log != "off":
        import logging

        from authgate.cli.main import configure_logging

        a.set.append(f"AUTHGATE_LOGGING__FORMAT={a.request_log}")
        configure_logging("INFO")
        for handler in logging.getLogger("authgate.requests").handlers:
            handler.setStream(open(suite.OUT / "inproc-requests.log", "w"))  # type: ignore[attr-defined]  # noqa: SIM115
    stack = suite.stacks([a.stack])[0]
    if a.set:  # settings of this run only, e.g. AUTHGATE_NOTIFICATIONS__SECURITY_EMAILS=false
        extra = dict(kv.split("=", 1) for kv in a.set)
        env = stack.env
        stack.env = lambda: env() | extra  # type: ignore[method-assign]
    suite.migrate(stack)
    if await seeding.count_users(stack.db_url) < suite.USERS:
        await seeding.seed(stack.db_url, suite.USERS)
    app: Any = owned(create_app(suite.settings_for(stack), server_process=True))  # a worker
    pairs = await suite.open_sessions(stack, suite.emails("user", 200))
    if a.ceiling:
        import ceiling

        app, a.method, a.path, a.body = ceiling.app, "GET", "/ceiling", None
    body = a.body.encode() if a.body else b""
    sent: list[int] = []
    logins = [json.dumps({"providerName": "email", "credentials": {
        "email": e, "password": seeding.PASSWORD}}).encode() for e in suite.emails("user", 200)]

    chains = [p.refresh_token for p in pairs]
    on = [False] * len(pairs)
    if a.flip:
        a.method, a.path = "POST", "/auth/mfa/toggle"
    answer: list[bytes] = []

    async def call(token: str, i: int = 0) -> None:
        nonlocal body
        headers = [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())]
        if a.login:
            body = logins[i % len(logins)]
            headers = [(b"host", b"bench")]
        if a.flip:  # each user's toggles go off, on, off... (the seeded users have TOTP)
            on[i % len(on)] = not on[i % len(on)]
            body = b'{"enabled":true}' if on[i % len(on)] else b'{"enabled":false}'
        if a.refresh:
            body = json.dumps({"refreshToken": chains[i % len(chains)]}).encode()
            headers = [(b"host", b"bench")]
            answer.clear()
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
            elif a.verbose and sent and sent[-1] >= 400 and message.get("body"):
                print(sent[-1], message["body"][:300])
            if a.refresh and message["type"] == "http.response.body":
                answer.append(message.get("body", b""))

        await app(scope, receive, send)
        if a.refresh and sent and sent[-1] == 200:
            chains[i % len(chains)] = json.loads(b"".join(answer))["refreshToken"]

    async with app.router.lifespan_context(app):
        tokens = [p.access_token for p in pairs]
        for i in range(50 if a.login else 500):  # warm-up: caches, prepared statements
            await call(tokens[i % len(tokens)], i)
        sent.clear()
        prof = cProfile.Profile() if a.profile else None
        h0 = _helpers_cpu()
        if prof:
            prof.enable()
        step = max(1, a.n // 10)
        tenths: list[float] = []
        for start in range(0, a.n, step):
            t = time.process_time()
            for i in range(start, min(a.n, start + step)):
                await call(tokens[i % len(tokens)], i)
            tenths.append((time.process_time() - t) / (min(a.n, start + step) - start) * 1e6)
        if prof:
            prof.disable()
        tenths.sort()
        cpu, median = tenths[0], tenths[len(tenths) // 2]
        helpers = _helpers_cpu() - h0
    bad = sum(1 for s in sent if s >= 400)
    route = ("POST /auth/login" if a.login else "POST /auth/refresh-token" if a.refresh
             else f"{a.method} {a.path}")
    print(f"{'-' if a.ceiling else a.stack} {route}: {cpu:.0f} µs CPU/request in-process "
          f"(least disturbed tenth; median {median:.0f}; {a.n} requests, {bad} non-2xx{', profiled' if prof else ''})"
          + (f"; hashing processes {helpers / a.n * 1e6:,.0f} µs/request" if a.login else ""))
    if prof:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats(a.sort).print_stats(a.top)
        print(out.getvalue())


def _helpers_cpu() -> float:
    """CPU seconds of the hashing processes (this process's children) so far."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stack", default="postgres", choices=["sqlite", "postgres", "redis"])
    ap.add_argument("--method", default="GET")
    ap.add_argument("--path", default="/auth/user")
    ap.add_argument("--body", default=None)
    ap.add_argument("-n", type=int, default=5000)
    ap.add_argument("--login", action="store_true",
                    help="POST /auth/login, the seeded users by turn (hashes at the default cost)")
    ap.add_argument("--refresh", action="store_true",
                    help="POST /auth/refresh-token, a chain of rotations per session")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--flip", action="store_true",
                    help="POST /auth/mfa/toggle turning each user's MFA on, off, on...: "
                         "every request writes")
    ap.add_argument("--set", action="append", default=[], metavar="AUTHGATE_X=VALUE",
                    help="a setting for this run (repeatable)")
    ap.add_argument("--verbose", action="store_true", help="print the bodies of non-2xx answers")
    ap.add_argument("--ceiling", action="store_true",
                    help="the bare route of bench/ceiling.py instead of authgate's")
    ap.add_argument("--request-log", choices=["off", "json", "text"], default="off",
                    help="write the request log (to bench/out/inproc-requests.log)")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--sort", default="tottime", help="pstats order: tottime, cumulative, ...")
    a = ap.parse_args()
    if a.login:
        a.method, a.path = "POST", "/auth/login"
    if a.refresh:
        a.method, a.path = "POST", "/auth/refresh-token"
    import uvloop

    uvloop.run(run(a))


if __name__ == "__main__":
    main()
