"""Profile one route of a running authgate worker under wrk load with py-spy.

    .venv/bin/python bench/profile.py --stack postgres --method GET --path /auth/user

Starts authgate (uvicorn, 1 worker) on the stack's bench database (seeded by the suite, or
seeded here if empty), drives the route with wrk from 32 connections, samples the worker with
``py-spy record`` and writes ``bench/profiles/<stack>-<route>.md``: where the samples fall
(by package, and the inclusive share of the frames on the request path) and the raw
collapsed stacks beside it for a flame graph.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import seed as seeding
import suite

KEEP = re.compile(r"authgate|starlette|fastapi|sqlalchemy|asyncpg|aiosqlite|redis|jwt|uvicorn|"
                  r"httptools|pydantic|orjson")


def summarise(raw: Path, top: int = 45) -> tuple[int, list[tuple[float, str]],
                                                 list[tuple[float, str]]]:
    total = 0
    by_package: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        count = int(n)
        total += count
        frames = stack.split(";")
        leaf = frames[-1]
        m = re.search(r"\(([^)]*?)(?::\d+)?\)$", leaf)
        path = m.group(1) if m else leaf
        if "site-packages/" in path:
            package = path.split("site-packages/", 1)[1].split("/", 1)[0]
        elif "authgate" in path:
            package = "authgate"
        else:
            package = path.rsplit("/", 1)[-1] or "(native / idle loop)"
        by_package[package] += count
        for frame in {re.sub(r":\d+\)$", ")", f) for f in frames}:
            inclusive[frame] += count
    packages = [(100 * v / total, k) for k, v in by_package.most_common(15)]
    frames = [(100 * v / total, k) for k, v in inclusive.most_common(600) if KEEP.search(k)]
    frames = [f for f in frames if f[0] < 70][:top]  # drop the server's outer frames
    return total, packages, frames


def main() -> None:
    ap = argparse.ArgumentParser(description="py-spy profile of one route under load")
    ap.add_argument("--stack", default="postgres", choices=["sqlite", "postgres", "redis"])
    ap.add_argument("--method", default="GET")
    ap.add_argument("--path", default="/auth/user")
    ap.add_argument("--body", default=None, help='JSON body, e.g. {"enabled":false}')
    ap.add_argument("--seconds", type=int, default=15)
    a = ap.parse_args()
    stack = suite.stacks([a.stack])[0]
    out_dir = BENCH / "profiles"
    out_dir.mkdir(exist_ok=True)
    name = f"{stack.name}-{a.method}{a.path.replace('/', '-')}"
    raw = suite.OUT / f"{name}.collapsed.txt"
    suite.OUT.mkdir(parents=True, exist_ok=True)
    suite.migrate(stack)
    if asyncio.run(seeding.count_users(stack.db_url)) < suite.USERS:
        asyncio.run(seeding.seed(stack.db_url, suite.USERS))
    with suite.Server("uvicorn", "authgate", 1, stack.env()) as srv:
        pairs = asyncio.run(suite.open_sessions(stack, suite.emails("user", suite.USERS)))
        data = suite.data_file("profile", {"method": a.method, "path": a.path, "body": a.body,
                                           "tokens": [p.access_token for p in pairs]})
        suite.wrk(srv.base, "bearer.lua", [data], duration=3, connections=32)
        pid = srv.worker_pids()[0]
        spy = subprocess.Popen([str(suite.BIN / "py-spy"), "record", "-p", str(pid), "-d",
                                str(a.seconds), "-r", "250", "-f", "raw", "-o", str(raw),
                                "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run = suite.wrk(srv.base, "bearer.lua", [data], duration=a.seconds + 1, connections=32)
        spy.wait()
    total, packages, frames = summarise(raw)
    lines = [f"# Profile: {a.method} {a.path} on {stack.name}\n",
             (f"py-spy, 250 Hz, {a.seconds} s, authgate under uvicorn with 1 worker, wrk with 32 "
             f"connections ({run.rps:,.0f} req/s during the profile; py-spy slows it); "
             f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; {total} samples. "
             f"Written by `.venv/bin/python bench/profile.py --stack {a.stack} --method "
             f"{a.method} --path {a.path}`.\n"),
             "## Where the samples end (the leaf frame's package)\n",
             "| share | package |", "|---:|---|"]
    lines += [f"| {p:.1f}% | {k} |" for p, k in packages]
    lines += ["", "## Inclusive share of the frames on the request path\n",
              "| share | frame |", "|---:|---|"]
    lines += [f"| {p:.1f}% | `{k}` |" for p, k in frames]
    out = out_dir / f"{name}.md"
    out.write_text("\n".join(lines) + "\n")
    print(out)


if __name__ == "__main__":
    main()
