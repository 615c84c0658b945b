"""Resident memory of ``authgate serve`` workers: after start-up, after a login and after N
requests to the guarded GET routes. Prints figures; asserts nothing.

    .venv/bin/python bench/rss.py                      # SQLite in a temporary directory
    .venv/bin/python bench/rss.py --requests 2000 --workers 2
    .venv/bin/python bench/rss.py \
        --database-url postgresql+asyncpg://postgres@127.0.0.1/authgate_rss

The server is started exactly as operators start it (``authgate serve``); one user is seeded
with ``bench/seed.py`` (PostgreSQL: the database must exist; it is migrated, nothing is
dropped) and signs in through ``POST /auth/login``. RSS is read from ``/proc/<pid>/status``
of every worker: VmRSS now, VmHWM the peak so far (it includes argon2's working memory,
``password_hash.memory_cost_kib``, of the dummy hash made at start-up and of the login).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(BENCH))

import seed as seeding

ROUTES = ("/auth/client-config", "/auth/user", "/auth/verify-session", "/auth/mfa/status")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    """Worker processes of ``pid`` (recursively), without multiprocessing's helpers."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for kid in map(int, kids):
            try:
                cmd = Path(f"/proc/{kid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"resource_tracker" not in cmd:
                out.append(kid)
            out.extend(children(kid))
    return out


def status_mb(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def report(label: str, root: int) -> None:
    pids = children(root) or [root]
    for pid in pids:
        f = status_mb(pid)
        print(f"{label:28s} pid {pid:>7}  VmRSS {f['VmRSS']:6.1f} MB  "
              f"VmHWM {f['VmHWM']:6.1f} MB", flush=True)


async def drive(base: str, token: str, requests: int, concurrency: int) -> tuple[int, float]:
    """``requests`` requests per route, ``concurrency`` at a time; returns (errors, seconds)."""
    headers = {"Authorization": f"Bearer {token}"}
    gate = asyncio.Semaphore(concurrency)
    errors = 0
    limits = httpx.Limits(max_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits,
                                 timeout=30) as client:
        async def one(path: str) -> None:
            nonlocal errors
            async with gate:
                r = await client.get(path)
                if r.status_code != 200:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one(path) for _ in range(requests) for path in ROUTES))
        return errors, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", help="default: SQLite in a temporary directory")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--requests", type=int, default=500, help="requests per route")
    ap.add_argument("--concurrency", type=int, default=32)
    a = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="authgate-rss-") as tmp:
        url = a.database_url or f"sqlite+aiosqlite:///{tmp}/authgate.db"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
        env |= {"AUTHGATE_DATABASE_URL": url, "AUTHGATE_JWT__SECRET": secrets.token_urlsafe(48),
                "AUTHGATE_DEV_MODE": "true"}  # the outbox, also on PostgreSQL
        subprocess.run([str(BIN / "authgate"), "migrate"], env=env, cwd=tmp, check=True,
                       capture_output=True)
        prefix = f"rss{secrets.token_hex(4)}"  # a new user each run (PostgreSQL keeps rows)
        asyncio.run(seeding.seed(url, 1, prefix=prefix, mfa_rows=False, start=0))

        log = Path(tmp) / "server.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen(
                [str(BIN / "authgate"), "serve", "--port", str(port), "--workers",
                 str(a.workers), "--log-level", "warning"],
                env=env, cwd=tmp, stdout=fh, stderr=fh, start_new_session=True)
        try:
            _wait_ready(proc, base, log, a.workers)
            report("after start-up", proc.pid)
            r = httpx.post(base + "/auth/login", json={
                "providerName": "email",
                "credentials": {"email": f"{prefix}0@bench.test", "password": seeding.PASSWORD}},
                timeout=30)
            r.raise_for_status()
            token = r.json()["accessToken"]
            report("after login", proc.pid)
            errors, secs = asyncio.run(drive(base, token, a.requests, a.concurrency))
            total = a.requests * len(ROUTES)
            report(f"after {total} GET requests", proc.pid)
            print(f"{total} requests over {', '.join(ROUTES)} in {secs:.1f}s "
                  f"({total / secs:,.0f} req/s, concurrency {a.concurrency}), {errors} errors")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def _wait_ready(proc: subprocess.Popen[bytes], base: str, log: Path, workers: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"authgate exited:\n{log.read_text()}")
        try:
            if httpx.get(base + "/auth/client-config", timeout=1).status_code == 200:
                time.sleep(0.5 if workers == 1 else 2.0)  # let every worker come up
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"authgate did not become ready:\n{log.read_text()}")


if __name__ == "__main__":
    main()
