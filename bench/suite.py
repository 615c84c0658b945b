"""The benchmark suite (issue #7): real servers, real databases, wrk over loopback.

Run it with ``./bench/run`` (quick, a few minutes) or ``./bench/run --full``. It prints one
table and writes ``bench/RESULTS.md``. Numbers on a shared 2-core machine are noisy, so every
figure that matters is a ratio measured in the same run: a route against the same stack's
ceiling (a bare constant-JSON route), login against the password-hash bound, the p99 during
a login storm against the idle p99, 1M users against 1k users.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Self

import httpx
import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LUA = BENCH / "lua"
OUT = BENCH / "out"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(BENCH))

import seed as seeding
from peer import NestAuthPeer

from authgate.config import load_settings
from authgate.composition import build_resources
from authgate.identity.snapshot import USER_COLS as _USER_COLS
from authgate.identity.snapshot import U, user_from_row
from authgate.sessions.db_store import session_from_row
from authgate.sessions.service import ClientMeta, Sessions, TokenPair

SECRET = "authgate-bench-secret-not-for-production-0123456789"
PG_ADMIN = os.environ.get("AUTHGATE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("AUTHGATE_BENCH_REDIS", "redis://127.0.0.1:6379/9")
BENCH_DB = os.environ.get("AUTHGATE_BENCH_DB", "authgate_bench")
"""The bench database (reset by every suite run): a name of one's own where several people
benchmark against one PostgreSQL server. Its Redis keys are prefixed after it."""
REDIS_PREFIX = BENCH_DB.replace("_", "-") + ":"
USERS = 1000                     # seeded accounts per stack (the 1k case)
ROUTE_KEYS = ("user", "verify-session", "mfa-toggle", "mfa-status", "refresh", "login",
              "mfa-verify", "storm")
PEER_ROUTES = (
    ("user", "GET /auth/user", "GET", "/auth/user", None),
    ("verify-session", "GET /auth/verify-session", "GET", "/auth/verify-session", None),
    ("mfa-toggle", "POST /auth/mfa/toggle", "POST", "/auth/mfa/toggle", '{"enabled":false}'),
    ("mfa-status", "GET /auth/mfa/status", "GET", "/auth/mfa/status", None),
)
LOGIN_P4 = "POST /auth/login (p=4)"
LOGIN_BESIDE = "POST /auth/login (beside nest-auth)"
"""authgate's login at its default parameters, measured again right before nest-auth's (a
shared machine's load drifts over a run: the ratios compare measurements minutes apart
otherwise)."""
UPSTREAM_PARAMS = (3, 65536, 4)
"""nest-auth's argon2id parameters (t, m KiB, p)."""
TOGGLE_FLIPS = "POST /auth/mfa/toggle (flips)"
GUARDED = ("GET /auth/user", "GET /auth/verify-session", "GET /auth/mfa/status",
           "POST /auth/mfa/toggle", TOGGLE_FLIPS)


# ------------------------------------------------------------------------------------------
# stacks and servers
@dataclass
class Stack:
    name: str
    db_url: str
    redis: bool = False

    def env(self) -> dict[str, str]:
        env = {
            "AUTHGATE_DATABASE_URL": self.db_url,
            "AUTHGATE_JWT__SECRET": SECRET,
            # the outbox on PostgreSQL/Redis, and the /openapi.json the fuzz pass reads
            "AUTHGATE_DEV_MODE": "true",
            "AUTHGATE_DOCS__ENABLED": "true",
            # long enough for a --full run; token lifetime does not change per-request cost
            "AUTHGATE_JWT__ACCESS_TOKEN_EXPIRES_IN": "6h",
            "AUTHGATE_DATA_DIR": str(OUT / self.name),
            # the login runs add sessions to the seeded accounts: keep the bench's own
            # sessions from being evicted as the oldest
            "AUTHGATE_SESSION__MAX_SESSIONS_PER_USER": "100",
        }
        # One load generator is one IP: drop the per-IP rows of the measured routes (every
        # request would count on one row, which on a database counter store serialises
        # them all) and raise the per-account rows, whose counters are still kept on
        # every request, spread over many accounts as in real traffic.
        for bucket in ("LOGIN", "REFRESH", "MFA_VERIFY"):
            env[f"AUTHGATE_RATE_LIMIT__{bucket}__PER_IP"] = "null"
            env[f"AUTHGATE_RATE_LIMIT__{bucket}__PER_ACCOUNT__LIMIT"] = "1000000"
            env[f"AUTHGATE_RATE_LIMIT__{bucket}__PER_ACCOUNT__WINDOW"] = "1s"
        if self.redis:
            env |= {"AUTHGATE_SESSION__STORAGE": "redis", "AUTHGATE_REDIS_URL": REDIS_URL,
                    "AUTHGATE_REDIS_PREFIX": REDIS_PREFIX}
        return env


def pg_url(dbname: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{dbname}"


def stacks(names: list[str]) -> list[Stack]:
    known = {
        "sqlite": Stack("sqlite", f"sqlite+aiosqlite:///{OUT / 'sqlite' / 'authgate.db'}"),
        "postgres": Stack("postgres", pg_url(BENCH_DB)),
        "redis": Stack("postgres+redis", pg_url(BENCH_DB), redis=True),
    }
    return [known[n] for n in names]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    return env | extra


class Server:
    """authgate or the ceiling app under uvicorn or granian, N workers, in its own group."""

    def __init__(self, kind: str, app: str, workers: int, env: dict[str, str]) -> None:
        self.kind, self.app, self.workers = kind, app, workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = clean_env(env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = OUT / f"server-{app}-{kind}-{workers}w.log"

    def command(self) -> list[str]:
        w, p = str(self.workers), str(self.port)
        if self.kind == "uvicorn":
            if self.app == "authgate":  # exactly how operators run it
                return [str(BIN / "authgate"), "serve", "--workers", w, "--port", p,
                        "--log-level", "warning"]
            return [sys.executable, "-m", "uvicorn", "ceiling:factory", "--factory",
                    "--app-dir", str(BENCH), "--workers", w, "--port", p, "--log-level",
                    "warning", "--no-access-log", "--no-proxy-headers"]
        target = "authgate.cli.main:_factory" if self.app == "authgate" else "ceiling:factory"
        return [str(BIN / "granian"), "--interface", "asgi", "--factory", "--workers", w,
                "--port", p, "--host", "127.0.0.1", "--loop", "uvloop", "--log-level", "warning",
                "--no-access-log", "--working-dir", str(BENCH), target]

    def start(self) -> Server:
        OUT.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(self.command(), env=self.env, stdout=fh, stderr=fh,
                                         cwd=str(OUT), start_new_session=True)
        path = "/auth/client-config" if self.app == "authgate" else "/ceiling"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.app} server exited; see {self.log}")
            try:
                if httpx.get(self.base + path, timeout=1).status_code == 200:
                    time.sleep(0.5 if self.workers == 1 else 2.0)  # let every worker come up
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.app} server did not become ready; see {self.log}")

    def _descendants(self) -> tuple[psutil.Process, list[tuple[psutil.Process, str]]]:
        assert self.proc is not None
        root = psutil.Process(self.proc.pid)
        return root, [(c, " ".join(c.cmdline())) for c in root.children(recursive=True)]

    def worker_pids(self) -> list[int]:
        """The processes serving requests (not multiprocessing's helpers)."""
        try:
            root, kids = self._descendants()
        except psutil.Error:
            return []
        helpers = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")
        return [c.pid for c, cmd in kids if not any(h in cmd for h in helpers)] or [root.pid]

    def helper_pids(self) -> list[int]:
        """The workers' password-hashing processes (and their fork server)."""
        try:
            _, kids = self._descendants()
        except psutil.Error:
            return []
        return [c.pid for c, cmd in kids if "multiprocessing.forkserver" in cmd]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _machine_busy() -> float:
    """CPU seconds every process on the machine has spent so far (all cores, idle and I/O
    wait left out): the workers, PostgreSQL, Redis, wrk and the kernel's network work."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


class RssSampler:
    """Peak RSS per worker process, sampled in the background (and a time series)."""

    def __init__(self, server: Server, interval: float = 0.25) -> None:
        self.server, self.interval = server, interval
        self.peak: dict[int, int] = {}
        self.helper_peak = 0  # the largest hashing process seen
        self.series: list[tuple[float, int]] = []  # (t, max RSS over workers)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def cpu(self) -> float:
        """CPU seconds used so far by the worker processes and their hashing processes."""
        total = 0.0
        for pid in [*self.server.worker_pids(), *self.server.helper_pids()]:
            with contextlib.suppress(psutil.Error):
                t = psutil.Process(pid).cpu_times()
                total += t.user + t.system
        return total

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            top = 0
            for pid in self.server.worker_pids():
                with contextlib.suppress(psutil.Error):
                    rss = psutil.Process(pid).memory_info().rss
                    self.peak[pid] = max(self.peak.get(pid, 0), rss)
                    top = max(top, rss)
            for pid in self.server.helper_pids():
                with contextlib.suppress(psutil.Error):
                    self.helper_peak = max(self.helper_peak,
                                           psutil.Process(pid).memory_info().rss)
            if top:
                self.series.append((time.monotonic() - t0, top))
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        self.cpu0 = self.cpu()
        self.machine0 = _machine_busy()
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.cpu_used = self.cpu() - self.cpu0
        self.machine_used = _machine_busy() - self.machine0

    @property
    def peak_mb(self) -> float:
        return max(self.peak.values(), default=0) / 2**20


# ------------------------------------------------------------------------------------------
# wrk
@dataclass
class Run:
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    requests: int = 0
    errors: int = 0
    rss_mb: float = 0.0
    helper_rss_mb: float = 0.0  # the largest password-hashing process (0: none ran)
    cpu_us: float = 0.0
    """Worker CPU per successful request: robust to other load on a shared machine."""
    machine_cpu_us: float = 0.0
    """The whole machine's CPU per successful request (database, Redis, wrk, kernel too)."""
    note: str = ""

    @property
    def tail(self) -> float:
        return self.p99_ms / self.p50_ms if self.p50_ms else 0.0


def lua_table(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"[{lua_table(k)}]={lua_table(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "{" + ",".join(lua_table(v) for v in value) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if value is None:
        return "nil"
    return json.dumps(str(value))  # a JSON string is a valid Lua string literal here


def data_file(name: str, value: dict[str, Any]) -> str:
    path = OUT / "data" / f"{name}.lua"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("return " + lua_table(value) + "\n")
    return str(path)


def wrk(base: str, script: str, args: list[str], *, duration: float, connections: int,
        timeout: str = "30s") -> Run:
    url = base + "/ceiling" if script == "plain.lua" else base
    cmd = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{max(1, round(duration))}s",
           "--timeout", timeout, "-s", str(LUA / script), url, "--", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    r = json.loads(line.removeprefix("BENCH_JSON "))
    secs = r["duration_us"] / 1e6
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return Run(rps=(r["requests"] - r["status"]) / secs if secs else 0.0,
               p50_ms=r["p50_us"] / 1000, p99_ms=r["p99_us"] / 1000,
               requests=r["requests"], errors=errors)


def quiesce(server: Server, timeout: float = 90.0) -> None:
    """Wait until the workers are idle (requests left over from a run, such as queued
    logins, would otherwise run into the next measurement)."""
    sampler = RssSampler(server)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c0 = sampler.cpu()
        time.sleep(0.5)
        if sampler.cpu() - c0 < 0.05 * max(1, server.workers):
            return


def measured(server: Server, script: str, args: list[str], *, settle: bool = True,
             **kw: Any) -> Run:
    if settle:
        quiesce(server)
    with RssSampler(server) as rss:
        run = wrk(server.base, script, args, **kw)
    run.rss_mb = rss.peak_mb
    run.helper_rss_mb = rss.helper_peak / 2**20
    ok = run.requests - run.errors
    run.cpu_us = rss.cpu_used / ok * 1e6 if ok > 0 else 0.0
    run.machine_cpu_us = rss.machine_used / ok * 1e6 if ok > 0 else 0.0
    return run


# ------------------------------------------------------------------------------------------
# databases, seeding, tokens
@contextlib.contextmanager
def environ(extra: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(clean_env(extra))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def settings_for(stack: Stack) -> Any:
    with environ(stack.env()):
        return load_settings()


async def reset_database(stack: Stack, dbname: str = BENCH_DB) -> None:
    if stack.db_url.startswith("sqlite"):
        d = OUT / stack.name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    else:
        import asyncpg

        admin = await asyncpg.connect(PG_ADMIN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{dbname}"')
        finally:
            await admin.close()
        (OUT / stack.name).mkdir(parents=True, exist_ok=True)
    if stack.redis:
        import redis.asyncio as aioredis

        r = aioredis.from_url(REDIS_URL)
        try:
            keys = [k async for k in r.scan_iter(match=REDIS_PREFIX + "*", count=1000)]
            for i in range(0, len(keys), 1000):
                await r.delete(*keys[i:i + 1000])
        finally:
            await r.aclose()


def migrate(stack: Stack) -> None:
    """``authgate migrate``, as an operator would run it."""
    subprocess.run([str(BIN / "authgate"), "migrate"], env=clean_env(stack.env()), check=True,
                   capture_output=True, cwd=str(OUT))


async def open_sessions(stack: Stack, emails: list[str], *, mfa_state: str = "none"
                        ) -> list[TokenPair]:
    """Sessions through the real code path (``Sessions.start``), tokens from its codec."""
    from sqlalchemy import select

    res = build_resources(settings_for(stack))
    try:
        async with res.db.reader.connect() as conn:
            rows = (await conn.execute(select(*_USER_COLS).where(U.c.email.in_(emails))
                                       )).mappings().all()
        users = {r["email"]: user_from_row(r) for r in rows}
        sessions, gate = Sessions(res), asyncio.Semaphore(8)
        client = ClientMeta(ip="127.0.0.1", user_agent="authgate-bench")

        async def one(email: str) -> TokenPair:
            async with gate:
                _, pair = await sessions.start(users[email], mfa_state=mfa_state,  # type: ignore[arg-type]
                                               amr=("pwd",), client=client,
                                               data={"roles": [], "permissions": []})
                return pair

        return list(await asyncio.gather(*(one(e) for e in emails)))
    finally:
        await res.close()


async def mint_sampled(stack: Stack, count: int) -> list[str]:
    """Access tokens for seeded session rows sampled across the whole table."""
    from sqlalchemy import func, select

    from authgate.sessions.models import SessionRow

    S = SessionRow.__table__
    res = build_resources(settings_for(stack))
    try:
        async with res.db.reader.connect() as conn:
            srows = (await conn.execute(select(S).order_by(func.random()).limit(count))
                     ).mappings().all()
            recs = [session_from_row(r) for r in srows]
            urows = (await conn.execute(select(*_USER_COLS).where(
                U.c.id.in_([r.user_id for r in recs])))).mappings().all()
        users = {r["id"]: user_from_row(r) for r in urows}
        sessions, now = Sessions(res), res.clock.now()
        return [sessions.mint(r, users[r.user_id], now).access_token for r in recs]
    finally:
        await res.close()


def renice_pg_backends(nice: int) -> int:
    """Give the PostgreSQL backends serving the bench databases the bench's priority."""
    if not nice:
        return 0
    sql = "SELECT pid FROM pg_stat_activity WHERE datname LIKE 'authgate_bench%'"
    out = subprocess.run(["psql", PG_ADMIN, "-tAc", sql], capture_output=True, text=True,
                         check=False).stdout.split()
    done = 0
    for pid in out:
        with contextlib.suppress(OSError, ValueError):
            os.setpriority(os.PRIO_PROCESS, int(pid), nice)
            done += 1
    return done


def emails(prefix: str, n: int, start: int = 0) -> list[str]:
    return [seeding.EMAIL.format(prefix=prefix, n=i) for i in range(start, start + n)]


# ------------------------------------------------------------------------------------------
# the measurements
@dataclass
class Row:
    stack: str
    server: str
    workers: int
    route: str
    run: Run | None
    ceiling: float

    @property
    def ratio(self) -> float | None:
        if self.run is None or not self.ceiling:
            return None
        return self.run.rps / self.ceiling


@dataclass
class Report:
    mode: str
    command: str
    started: datetime
    rows: list[Row] = field(default_factory=list)
    ceilings: dict[tuple[str, int], Run] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    hash_wall_ms: float = 0.0
    hash_cpu_ms: float = 0.0
    login_bound: float = 0.0
    storms: list[tuple[str, str, int, Run, Run]] = field(default_factory=list)
    revocation: list[str] = field(default_factory=list)
    soak: list[str] = field(default_factory=list)
    scale: list[tuple[str, int, Run]] = field(default_factory=list)
    checks: list[tuple[str, bool | None, str]] = field(default_factory=list)
    peer_rows: list[Row] = field(default_factory=list)
    hash_params: str = ""
    p4_bound: float = 0.0
    """Logins/s the CPU allows at nest-auth's parameters (m=64 MiB, t=3, p=4), verified by
    the implementation the server ships."""
    p4_cpu_ms: float = 0.0
    p4_params: str = ""


async def set_password_hashes(stack: Stack, params: tuple[int, int, int]) -> None:
    """Every seeded user's password hashed with ``params`` (one hash, reused)."""
    import asyncpg

    from authgate.crypto import argon2id

    h = argon2id.hash_password(params, seeding.PASSWORD)
    conn = await asyncpg.connect(stack.db_url.replace("+asyncpg", ""))
    try:
        await conn.execute("UPDATE authgate_users SET password_hash = $1", h)
    finally:
        await conn.close()


def default_params() -> tuple[int, int, int]:
    from authgate.config import PasswordHashSettings

    d = PasswordHashSettings()
    return d.time_cost, d.memory_cost_kib, d.parallelism


def hash_params(params: tuple[int, int, int] | None = None) -> str:
    from authgate.crypto.calibrate import describe

    t, m, p = params or default_params()
    return f"t={t}, {m // 1024} MiB, p={p}, {describe((t, m, p))}"


def _hash_of(params: tuple[int, int, int]) -> str:
    from authgate.crypto import argon2id

    return argon2id.hash_password(params, seeding.PASSWORD)


def measure_hash(params: tuple[int, int, int] | None = None) -> tuple[float, float]:
    """One argon2id verification at ``params`` (the default cost), by the implementation the
    server uses (``authgate.crypto.argon2id``): wall and CPU seconds (median of 7)."""
    from authgate.crypto import argon2id

    params = params or default_params()
    h = _hash_of(params)
    walls, cpus = [], []
    for _ in range(7):
        w, c = time.perf_counter(), time.process_time()  # process: argon2 lanes may be threads
        argon2id.verify_password(params, h, seeding.PASSWORD)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def hash_throughput(seconds: float, params: tuple[int, int, int] | None = None) -> float:
    """argon2id verifications per second with one thread per core, right now (the bound as
    the machine's current other load leaves it)."""
    from concurrent.futures import ThreadPoolExecutor

    from authgate.crypto import argon2id

    params = params or default_params()
    h = _hash_of(params)
    cores = os.cpu_count() or 1
    deadline = time.monotonic() + seconds

    def spin(_: int) -> int:
        n = 0
        while time.monotonic() < deadline:
            argon2id.verify_password(params, h, seeding.PASSWORD)
            n += 1
        return n

    t0 = time.perf_counter()
    with ThreadPoolExecutor(cores) as ex:
        total = sum(ex.map(spin, range(cores)))
    return total / (time.perf_counter() - t0)


def route_exists(base: str, method: str, path: str) -> bool:
    try:
        spec = httpx.get(base + "/openapi.json", timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return False
    return method.lower() in spec.get("paths", {}).get(path, {})


async def revocation_check(base: str, token: str, probes: int = 20) -> str:
    """Revoke a live session and check that its token fails on the very next requests, each
    on a new connection (so they land on every worker)."""
    h = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base) as c:
        if (await c.get("/auth/user", headers=h)).status_code != 200:
            return "could not check (token refused before revocation)"
        if (await c.post("/auth/logout", headers=h)).status_code != 200:
            return "could not check (logout failed)"
    rejected = 0
    for _ in range(probes):
        async with httpx.AsyncClient(base_url=base) as c:
            if (await c.get("/auth/user", headers=h)).status_code == 401:
                rejected += 1
    return f"{rejected}/{probes} requests right after logout rejected (new connection each)"


async def mfa_users(stack: Stack, base: str, k: int, prefix: str
                    ) -> tuple[list[tuple[str, str, int]], list[TokenPair]]:
    """``k`` new users with a verified authenticator set up over HTTP and MFA on: (address,
    TOTP secret, the step the set-up spent) of each, and the session each set it up in."""
    import pyotp

    first, _ = await seeding.seed(stack.db_url, k, prefix=prefix, mfa_rows=False)
    addrs = emails(prefix, k, first)
    full = await open_sessions(stack, addrs)
    secrets_: list[str | None] = [None] * k
    spent = [0] * k
    gate = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        async def setup(i: int, pair: TokenPair) -> None:
            h = {"Authorization": f"Bearer {pair.access_token}"}
            async with gate:
                r = await c.post("/auth/mfa/setup-totp", headers=h, json={})
                if r.status_code != 200:
                    return
                secret = r.json()["secret"]
                step = int(time.time()) // 30
                r = await c.post("/auth/mfa/verify-totp-setup", headers=h,
                                 json={"otp": pyotp.TOTP(secret).at(step * 30),
                                       "secret": secret})
                if r.status_code != 200:
                    return
                await c.post("/auth/mfa/toggle", headers=h, json={"enabled": True})
                secrets_[i] = secret
                spent[i] = step  # the set-up may have spent its step

        await asyncio.gather(*(setup(i, p) for i, p in enumerate(full)))
    ok = [(a, s, n, p) for a, s, n, p in zip(addrs, secrets_, spent, full, strict=True) if s]
    if not ok:
        raise RuntimeError("TOTP set-up over HTTP failed for every user")
    return [(a, s, n) for a, s, n, _ in ok], [p for *_, p in ok]


async def totp_users(stack: Stack, base: str, k: int, duration: float) -> dict[str, Any]:
    """Users with a verified authenticator set up over HTTP and a pending session each, and
    their codes for every time step the run can span."""
    import pyotp

    ok, _ = await mfa_users(stack, base, k, "totp")
    pending = await open_sessions(stack, [a for a, _, _ in ok], mfa_state="pending")
    period = 30
    now = int(time.time()) // period
    steps = range(now, now + int(duration // period) + 4)
    users = []
    for (_, secret, after), pair in zip(ok, pending, strict=True):
        totp = pyotp.TOTP(secret)
        users.append({"token": pair.access_token, "after": after,
                      "codes": {s: totp.at(s * period) for s in steps}})
    return {"period": period, "users": users}


class Suite:
    def __init__(self, args: argparse.Namespace) -> None:
        self.a = args
        self.report = Report(mode="full" if args.full else "quick",
                             command=" ".join(["./bench/run", *sys.argv[1:]]),
                             started=datetime.now(UTC))

    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    # ---------------------------------------------------------------------------------
    def run(self) -> Report:
        a, rep = self.a, self.report
        OUT.mkdir(parents=True, exist_ok=True)
        wall, cpu = measure_hash()
        rep.hash_wall_ms, rep.hash_cpu_ms = wall * 1000, cpu * 1000
        rep.hash_params = hash_params()
        cores = os.cpu_count() or 1
        rep.login_bound = cores / cpu
        self.log(f"argon2id default cost: {wall * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU "
                 f"per hash; login bound = {cores} cores / CPU time = {rep.login_bound:.1f}/s")
        if a.peer and "login" in a.routes:
            _, cpu4 = measure_hash(UPSTREAM_PARAMS)
            rep.p4_cpu_ms, rep.p4_bound = cpu4 * 1000, cores / cpu4
            rep.p4_params = hash_params(UPSTREAM_PARAMS)
            self.log(f"argon2id at nest-auth's cost ({rep.p4_params}): {cpu4 * 1000:.0f} ms CPU "
                     f"per verification; bound {rep.p4_bound:.1f}/s")
        for server in a.servers:
            for stack in stacks(a.stacks):
                self.stack(server, stack)
        if a.peer == "nest-auth":
            self.nest_auth(a.servers[0])
        if a.scale_users and "postgres" in a.stacks:
            self.scale(a.servers[0])
        return rep

    def ceiling(self, server: str, workers: int) -> Run:
        key = (server, workers)
        if key not in self.report.ceilings:
            with Server(server, "ceiling", workers, {}) as srv:
                wrk(srv.base, "plain.lua", [], duration=1, connections=self.a.connections)
                run = measured(srv, "plain.lua", [], duration=self.a.duration,
                               connections=self.a.connections)
            self.log(f"ceiling {server} {workers}w: {run.rps:,.0f} req/s, "
                     f"cpu {run.cpu_us:.0f} µs/req")
            self.report.ceilings[key] = run
        return self.report.ceilings[key]

    def stack(self, server: str, stack: Stack) -> None:
        a = self.a
        self.log(f"== {stack.name} on {server}: seeding {USERS} users")
        asyncio.run(reset_database(stack))
        migrate(stack)
        pw_hash = seeding.password_hash()
        asyncio.run(seeding.seed(stack.db_url, USERS, pw_hash=pw_hash, start=0))
        for workers in a.workers:
            ceiling = self.ceiling(server, workers)
            with Server(server, "authgate", workers, stack.env()) as srv:
                self.routes(server, stack, workers, srv, ceiling.rps)

    def routes(self, server: str, stack: Stack, workers: int, srv: Server,
               ceiling: float) -> None:
        a, rep = self.a, self.report
        d, c = a.duration, a.connections
        pairs = asyncio.run(open_sessions(stack, emails("user", USERS)))
        access = [p.access_token for p in pairs]
        get_user = data_file("get-user", {"method": "GET", "path": "/auth/user",
                                          "tokens": access})
        wrk(srv.base, "bearer.lua", [get_user], duration=2, connections=c)  # warm-up
        renice_pg_backends(a.nice)

        def add(route: str, run: Run | None) -> None:
            rep.rows.append(Row(stack.name, server, workers, route, run, ceiling))
            if run is not None:
                self.log(f"{stack.name} {server} {workers}w {route}: {run.rps:,.0f} req/s "
                         f"p50 {run.p50_ms:.1f} ms p99 {run.p99_ms:.1f} ms "
                         f"cpu {run.cpu_us:.0f} µs/req rss {run.rss_mb:.0f} MB "
                         f"errors {run.errors}")

        for key, route, method, path, body in (
            ("user", "GET /auth/user", "GET", "/auth/user", None),
            ("verify-session", "GET /auth/verify-session", "GET", "/auth/verify-session", None),
            ("mfa-toggle", "POST /auth/mfa/toggle", "POST", "/auth/mfa/toggle",
             '{"enabled":false}'),
            ("mfa-status", "GET /auth/mfa/status", "GET", "/auth/mfa/status", None),
        ):
            if key not in a.routes:
                continue
            if not route_exists(srv.base, method, path):
                add(route, None)
                continue
            f = data_file(route.replace(" ", "").replace("/", "-"),
                          {"method": method, "path": path, "body": body, "tokens": access})
            add(route, measured(srv, "bearer.lua", [f], duration=d, connections=c))

        if "mfa-toggle" in a.routes and route_exists(srv.base, "POST", "/auth/mfa/toggle"):
            self.toggle_flips(srv, stack, workers, add)
        if "refresh" in a.routes:
            self.refresh(srv, stack, add)
        logins = data_file("login", {"password": seeding.PASSWORD,
                                     "emails": emails("user", USERS)})
        lc = 8 * workers
        if "login" in a.routes:
            alone = hash_throughput(seconds=3)
            login = measured(srv, "login.lua", [logins], duration=max(d, 8), connections=lc)
            login.note = (f"{login.rps / rep.login_bound:.0%} of hash bound; "
                          f"{login.rps / alone:.0%} of {alone:.1f} hashes/s measured just before")
            if login.helper_rss_mb:
                login.note += (f"; hashing processes {login.helper_rss_mb:.0f} MB each at peak "
                               f"(CPU included)")
            add("POST /auth/login", login)
        if "mfa-verify" in a.routes:
            self.mfa_verify(srv, stack, workers, add)
        if "storm" in a.routes:
            self.storm(srv, stack, server, workers, get_user, logins, lc)
        # revocation, on every worker
        victim = asyncio.run(open_sessions(stack, emails("user", 1)))[0]
        rev = asyncio.run(revocation_check(srv.base, victim.access_token))
        rep.revocation.append(f"{stack.name}, {server}, {workers} worker(s): {rev}")

        # soak: memory stays flat (once per stack, at the largest worker count)
        if a.soak and workers == max(a.workers):
            self.soak(server, stack, workers, srv, get_user)

    def refresh(self, srv: Server, stack: Stack, add: Any) -> None:
        """Every request presents a refresh token never used before (a chain per slot)."""
        d, c = self.a.duration, self.a.connections
        chains = asyncio.run(open_sessions(stack, emails("user", c, USERS - c)))
        f = data_file("refresh", {"tokens": [p.refresh_token for p in chains]})
        add("POST /auth/refresh-token", measured(srv, "refresh.lua", [f], duration=d,
                                                 connections=c))

    def toggle_flips(self, srv: Server, stack: Stack, workers: int, add: Any) -> None:
        """The toggle row above repeats each user's state (``enabled: false`` for users
        without MFA: nothing to write); here every request turns MFA off or back on, so each
        one writes (users with an authenticator, sessions fresh for the step-up)."""
        rep, d, c = self.report, self.a.duration, self.a.connections
        try:
            _, sessions = asyncio.run(mfa_users(stack, srv.base, 256, "flip"))
            f = data_file("toggle-flips", {"tokens": [p.access_token for p in sessions]})
            add(TOGGLE_FLIPS, measured(srv, "toggle.lua", [f], duration=d, connections=c))
        except Exception as exc:  # noqa: BLE001 - report, keep the suite going
            rep.notes.append(f"{stack.name} {workers}w toggle flips: not measured ({exc})")
            add(TOGGLE_FLIPS, None)

    def mfa_verify(self, srv: Server, stack: Stack, workers: int, add: Any) -> None:
        """POST /auth/mfa/verify with TOTP codes (needs the TOTP routes)."""
        rep, d, c = self.report, self.a.duration, self.a.connections
        needed = [("POST", "/auth/mfa/verify"), ("POST", "/auth/mfa/setup-totp"),
                  ("POST", "/auth/mfa/verify-totp-setup")]
        if all(route_exists(srv.base, m, p) for m, p in needed):
            try:
                k = max(1000, int(d * 200))
                data = asyncio.run(totp_users(stack, srv.base, k, d))
                f = data_file("totp", data)
                add("POST /auth/mfa/verify (TOTP)", measured(srv, "totp.lua", [f],
                                                             duration=d, connections=c))
            except Exception as exc:  # noqa: BLE001 - report, keep the suite going
                rep.notes.append(f"{stack.name} {workers}w mfa/verify: not measured ({exc})")
                add("POST /auth/mfa/verify (TOTP)", None)
        else:
            add("POST /auth/mfa/verify (TOTP)", None)

    def storm(self, srv: Server, stack: Stack, server: str, workers: int, get_user: str,
              logins: str, lc: int) -> None:
        """GET /auth/user from one connection, idle, then beside full-load logins."""
        rep, d = self.report, self.a.duration
        idle = measured(srv, "bearer.lua", [get_user], duration=d, connections=1)
        storm_box: dict[str, Run] = {}
        t = threading.Thread(target=lambda: storm_box.setdefault("login", wrk(
            srv.base, "login.lua", [logins], duration=d + 2, connections=lc)))
        t.start()
        time.sleep(1.0)
        during = measured(srv, "bearer.lua", [get_user], duration=d, connections=1,
                          settle=False)
        t.join()
        rep.storms.append((stack.name, server, workers, idle, during))
        self.log(f"login storm {stack.name} {workers}w: p99 idle {idle.p99_ms:.2f} ms, "
                 f"during {during.p99_ms:.2f} ms ({during.p99_ms / idle.p99_ms:.2f}x); "
                 f"logins {storm_box['login'].rps:.1f}/s")

    def soak(self, server: str, stack: Stack, workers: int, srv: Server, get_user: str) -> None:
        a = self.a
        chains = asyncio.run(open_sessions(stack, emails("user", 8, USERS - 8 - a.connections)))
        f = data_file("soak-refresh", {"tokens": [p.refresh_token for p in chains]})
        self.log(f"soak {stack.name} {workers}w for {a.soak}s (GET /auth/user + refresh chains)")
        quiesce(srv)
        with RssSampler(srv, interval=1.0) as rss:
            t = threading.Thread(target=wrk, args=(srv.base, "refresh.lua", [f]),
                                 kwargs={"duration": a.soak, "connections": 8})
            t.start()
            run = wrk(srv.base, "bearer.lua", [get_user], duration=a.soak,
                      connections=a.connections)
            t.join()
        series = rss.series
        if len(series) < 4:
            return
        base_t = series[-1][0] * 0.2
        base = next(v for ts, v in series if ts >= base_t)
        end = statistics.median(v for _, v in series[-3:])
        growth = (end - base) / base
        self.report.soak.append(
            f"{stack.name}, {server}, {workers} worker(s), {a.soak}s: RSS {base / 2**20:.1f} MB "
            f"after warm-up → {end / 2**20:.1f} MB at the end ({growth:+.1%}), peak "
            f"{rss.peak_mb:.1f} MB; {run.rps:,.0f} req/s, {run.errors} errors")
        self.report.checks.append((f"soak memory flat within 5% ({stack.name} {workers}w)",
                                   abs(growth) <= 0.05, f"{growth:+.1%}"))

    def nest_auth(self, server: str) -> None:
        """nest-auth 2.11.1 (one node process, PostgreSQL) driven like authgate: the same
        routes, wrk shape and durations; then authgate's login once more at upstream's exact
        hash parameters (p=4, argon2-cffi), so both parameter sets are in the same run."""
        a, rep = self.a, self.report
        why = NestAuthPeer.available()
        if why:
            rep.notes.append(f"--peer nest-auth: not run ({why})")
            self.log(f"nest-auth peer not run: {why}")
            return
        d, c = a.duration, a.connections
        users = emails("peer", 64)

        def add(route: str, run: Run) -> None:
            rep.peer_rows.append(Row("nest-auth (postgres)", "node", 1, route, run, 0.0))
            self.log(f"nest-auth {route}: {run.rps:,.1f} req/s p50 {run.p50_ms:.1f} ms "
                     f"p99 {run.p99_ms:.1f} ms cpu {run.cpu_us:.0f} µs/req "
                     f"rss {run.rss_mb:.0f} MB errors {run.errors}")

        ours = "login" in a.routes and "postgres" in a.stacks
        if ours:
            self.login_beside_peer(server, default_params(), LOGIN_BESIDE,
                                   f"default parameters, {hash_params()}", rep.login_bound)
        self.log("== nest-auth 2.11.1: starting the peer, signing up 64 users")
        with NestAuthPeer(free_port()) as peer:
            access = peer.sign_up(users, seeding.PASSWORD)
            for key, route, method, path, body in PEER_ROUTES:
                if key not in a.routes:
                    continue
                f = data_file("peer-" + key, {"method": method, "path": path, "body": body,
                                              "tokens": access})
                wrk(peer.base, "bearer.lua", [f], duration=2, connections=c)  # warm-up
                add(route, measured(peer, "bearer.lua", [f], duration=d,  # type: ignore[arg-type]
                                    connections=c))
            if "login" in a.routes:
                logins = data_file("peer-login", {"password": seeding.PASSWORD, "emails": users})
                add("POST /auth/login", measured(peer, "login.lua", [logins],  # type: ignore[arg-type]
                                                 duration=max(d, 8), connections=8))
        if ours:  # right after nest-auth's, at its parameters
            self.login_beside_peer(server, UPSTREAM_PARAMS, LOGIN_P4,
                                   f"nest-auth's parameters, {hash_params(UPSTREAM_PARAMS)}",
                                   rep.p4_bound)

    def login_beside_peer(self, server: str, params: tuple[int, int, int], route: str,
                          what: str, bound: float) -> None:
        """authgate's login (PostgreSQL, 1 worker) with every seeded hash made at ``params``
        and the server hashing with them."""
        stack = next(s for s in stacks(["postgres"]))
        asyncio.run(set_password_hashes(stack, params))
        t, m, p = params
        env = stack.env() | {"AUTHGATE_PASSWORD_HASH__TIME_COST": str(t),
                             "AUTHGATE_PASSWORD_HASH__MEMORY_COST_KIB": str(m),
                             "AUTHGATE_PASSWORD_HASH__PARALLELISM": str(p)}
        logins = data_file("login", {"password": seeding.PASSWORD,
                                     "emails": emails("user", USERS)})
        with Server(server, "authgate", 1, env) as srv:
            run = measured(srv, "login.lua", [logins], duration=max(self.a.duration, 8),
                           connections=8)
        run.note = what + (f"; {run.rps / bound:.0%} of that hash bound" if bound else "")
        self.report.rows.append(Row("postgres", server, 1, route, run, 0.0))
        self.log(f"postgres {server} 1w {route}: {run.rps:.1f}/s")

    def scale(self, server: str) -> None:
        """GET /auth/user (and mfa/status) at 1k users, then at ``scale_users``."""
        a, rep = self.a, self.report
        stack = Stack("postgres-scale", pg_url("authgate_bench_scale"))
        asyncio.run(reset_database(stack, "authgate_bench_scale"))
        migrate(stack)
        pw_hash = seeding.password_hash()
        done = 0
        for target in (1000, a.scale_users):
            first, secs = asyncio.run(seeding.seed(stack.db_url, target - done, pw_hash=pw_hash,
                                                   start=done))
            self.log(f"scale: seeded users {first}..{target - 1} in {secs:.1f}s")
            rep.notes.append(f"scale seeding: {target - done:,} users (+ a session, a TOTP "
                             f"device and 2 recovery codes each) in {secs:.1f}s")
            done = target
            tokens = asyncio.run(mint_sampled(stack, 2000))
            with Server(server, "authgate", 1, stack.env()) as srv:
                for route, path in (("GET /auth/user", "/auth/user"),
                                    ("GET /auth/mfa/status", "/auth/mfa/status")):
                    f = data_file("scale", {"method": "GET", "path": path, "tokens": tokens})
                    wrk(srv.base, "bearer.lua", [f], duration=2, connections=a.connections)
                    renice_pg_backends(a.nice)
                    run = measured(srv, "bearer.lua", [f], duration=a.duration,
                                   connections=a.connections)
                    rep.scale.append((route, target, run))
                    self.log(f"scale {target:,} users {route}: {run.rps:,.0f} req/s "
                             f"({1e6 / run.rps:.0f} µs/request)")


# ------------------------------------------------------------------------------------------
# output
def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = psutil.virtual_memory().total / 2**30
    vers = []
    for pkg in ("uvicorn", "granian", "uvloop", "httptools", "fastapi", "starlette",
                "sqlalchemy", "asyncpg", "aiosqlite", "redis", "orjson", "argon2-cffi"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            vers.append(f"{pkg} {metadata.version(pkg)}")
    pg = subprocess.run(["psql", PG_ADMIN, "-tAc", "SHOW server_version"], capture_output=True,
                        text=True, check=False).stdout.strip()
    wrkv = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    wrk_line = (wrkv.stdout or wrkv.stderr).splitlines()[0].split(" Copyright")[0]
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM; Linux {platform.release()}; "
            f"Python {platform.python_version()}; PostgreSQL {pg or '?'}; {wrk_line}; "
            + ", ".join(vers))


def fmt(v: float | None, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def table(rep: Report) -> str:
    lines = [("| stack | server | workers | route | req/s | × ceiling | p50 ms | p99 ms | "
              "p99/p50 | worker CPU µs/req | × ceiling (CPU) | peak RSS/worker MB | errors |"),
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (server, workers), run in sorted(rep.ceilings.items()):
        lines.append(f"| — | {server} | {workers} | ceiling: constant JSON | {run.rps:,.0f} | "
                     f"1.00 | {run.p50_ms:.2f} | {run.p99_ms:.2f} | {run.tail:.1f} | "
                     f"{run.cpu_us:.0f} | 1.00 | {run.rss_mb:.0f} | {run.errors} |")
    for r in rep.rows:
        if r.run is None:
            lines.append(f"| {r.stack} | {r.server} | {r.workers} | {r.route} | "
                         "n/a (route missing) | | | | | | | | |")
            continue
        x = r.run
        ratio = fmt(r.ratio, ".2f")
        if r.route.startswith("POST /auth/login") and x.note:
            ratio += f" ({x.note})"
        ceil = rep.ceilings.get((r.server, r.workers))
        cpu_ratio = ceil.cpu_us / x.cpu_us if ceil and x.cpu_us else None
        lines.append(f"| {r.stack} | {r.server} | {r.workers} | {r.route} | {x.rps:,.1f} | "
                     f"{ratio} | {x.p50_ms:.2f} | {x.p99_ms:.2f} | {x.tail:.1f} | "
                     f"{x.cpu_us:,.0f} | {fmt(cpu_ratio, '.2f')} | {x.rss_mb:.0f} | "
                     f"{x.errors} |")
    return "\n".join(lines)


def machine_bound(one: Run, two: Run) -> str:
    """What the machine's cores allow a 2-worker run to gain: every request also costs the
    database's, Redis's, wrk's and the kernel's CPU on the same cores, so with all of it
    counted (per request, measured at 1 worker) the cores saturate at ``cores / that``."""
    if not (one.machine_cpu_us and one.rps):
        return ""
    cores = os.cpu_count() or 1
    most = cores * 1e6 / one.machine_cpu_us / one.rps
    return (f"; the whole machine spent {one.machine_cpu_us:.0f} µs of CPU per request at 1 "
            f"worker, so {cores} cores allow at most {most:.2f}×; 2 workers kept the machine "
            f"{two.machine_cpu_us * two.rps / 1e6 / cores:.0%} busy")


def evaluate(rep: Report) -> None:
    def find(stack: str, workers: int, route: str) -> Row | None:
        return next((r for r in rep.rows if r.stack == stack and r.workers == workers
                     and r.route == route and r.run is not None), None)

    servers = sorted({r.server for r in rep.rows})
    for server in servers:
        for route in GUARDED:
            # issue #15: authenticated GETs at half the ceiling, the toggle (a write) at 0.35
            hot = 0.35 if route.startswith("POST") else 0.50
            for stack, want in (("postgres", hot), ("postgres+redis", hot), ("sqlite", 0.10)):
                row = find(stack, 1, route)
                if row and row.server == server and row.ratio is not None:
                    rep.checks.append((f"{route} on {stack} ≥ {want:.0%} of ceiling (1w, {server})",
                                       row.ratio >= want, f"{row.ratio:.0%}"))
            c1, c2 = rep.ceilings.get((server, 1)), rep.ceilings.get((server, 2))
            for stack in ("postgres", "postgres+redis", "sqlite"):
                one, two = find(stack, 1, route), find(stack, 2, route)
                if not (one and two and one.run and two.run and c1 and c2 and one.run.rps
                        and c1.rps and one.server == server):
                    continue
                # the 2-worker gain against the bare ceiling's gain on the same machine
                k, kc = two.run.rps / one.run.rps, c2.rps / c1.rps
                rep.checks.append((f"{route} on {stack}: 2-worker gain ≥ 90% of the ceiling's "
                                   f"({server})", k >= 0.9 * kc,
                                   f"{k:.2f}× vs ceiling {kc:.2f}× ({k / kc:.0%})"
                                   + machine_bound(one.run, two.run)))
    tails = [r for r in rep.rows if r.run is not None]
    worst = max(tails, key=lambda r: r.run.tail if r.run else 0, default=None)
    if worst and worst.run:
        bad = [r for r in tails if r.run and r.run.tail > 3]
        rep.checks.append(("p99 ≤ 3× p50 on every measured route", not bad,
                           (f"worst {worst.run.tail:.1f}× ({worst.stack} {worst.workers}w "
                           f"{worst.route}); {len(bad)} of {len(tails)} over")))
    logins = [r for r in rep.rows if r.route == "POST /auth/login" and r.run]
    if logins:
        best = max(logins, key=lambda r: r.run.rps if r.run else 0)
        assert best.run
        share = best.run.rps / rep.login_bound
        rep.checks.append(("login ≥ 90% of the hash bound (best stack)", share >= 0.90,
                           f"{share:.0%} ({best.stack} {best.workers}w, {best.run.rps:.1f}/s)"))
    p4 = find("postgres", 1, LOGIN_P4)
    if p4 and p4.run and rep.p4_bound:
        share = p4.run.rps / rep.p4_bound
        rep.checks.append(("login at nest-auth's parameters ≥ 90% of their hash bound "
                           "(postgres, 1w)", share >= 0.90,
                           f"{share:.0%} ({p4.run.rps:.1f}/s of {rep.p4_bound:.1f}/s)"))
    peer_login = next((r for r in rep.peer_rows if r.route == "POST /auth/login"), None)
    for route in ("POST /auth/login", LOGIN_BESIDE, LOGIN_P4):
        ours = find("postgres", 1, route)
        if peer_login and peer_login.run and ours and ours.run:
            k = ours.run.rps / peer_login.run.rps
            # the most any login path could reach: the machine doing nothing but hashes
            bound, hash_ms = ((rep.p4_bound, rep.p4_cpu_ms) if route == LOGIN_P4
                              else (rep.login_bound, rep.hash_cpu_ms))
            ceiling = (f"; with nothing but the hash ({hash_ms:.0f} ms of CPU) the cores allow "
                       f"{bound:.1f}/s = {bound / peer_login.run.rps:.2f}× nest-auth; nest-auth "
                       f"spent {peer_login.run.cpu_us / 1000:.0f} ms of CPU per login"
                       if bound and hash_ms else "")
            rep.checks.append((f"{route} ≥ 1.2× nest-auth's logins/s (postgres, 1 process)",
                               k >= 1.2, f"{k:.2f}× ({ours.run.rps:.1f} vs "
                               f"{peer_login.run.rps:.1f}/s){ceiling}"))
    for stack, server, workers, idle, during in rep.storms:
        k = during.p99_ms / idle.p99_ms if idle.p99_ms else 0
        rep.checks.append((f"login storm p99 ≤ 2× idle ({stack} {workers}w, {server})", k <= 2,
                           f"{k:.2f}×"))
    peak = max((r.run.rss_mb for r in tails if r.run), default=0)
    rep.checks.append(("peak RSS ≤ 120 MB per worker", peak <= 120, f"max {peak:.0f} MB"))
    rev_ok = all(": 20/20 requests" in s for s in rep.revocation) if rep.revocation else None
    rep.checks.append(("revocation immediate on every worker", rev_ok,
                       f"{len(rep.revocation)} stacks checked"))
    by = {(route, n): run for route, n, run in rep.scale}
    for route in ("GET /auth/user", "GET /auth/mfa/status"):
        sizes = sorted(n for r, n in by if r == route)
        if len(sizes) == 2:
            lo, hi = by[(route, sizes[0])], by[(route, sizes[1])]
            k = lo.rps / hi.rps
            rep.checks.append(((f"{route} per-request cost at {sizes[1]:,} users within 10% of "
                               f"{sizes[0]:,}"), k <= 1.10, f"{k:.2f}×"))


def peer_table(rep: Report) -> str:
    """authgate (PostgreSQL, 1 worker, the first server) beside nest-auth, route by route."""
    lines = ["## authgate and nest-auth 2.11.1, same run\n",
             "Both on this machine's PostgreSQL, one process each (authgate: 1 worker; "
             "nest-auth: one node process), the same wrk scripts, connections and durations. "
             "Login rows: authgate at its default hash parameters (in its stack's run, and "
             "again right before nest-auth's login) and at nest-auth's (p=4, right after "
             "it); the targets compare the two measured beside nest-auth's.\n",
             "| route | authgate req/s | p50 / p99 ms | RSS MB | nest-auth req/s | "
             "p50 / p99 ms | RSS MB | authgate ÷ nest-auth |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for peer in rep.peer_rows:
        assert peer.run
        ours = [r for r in rep.rows if r.stack == "postgres" and r.workers == 1 and r.run
                and r.route in (peer.route, f"{peer.route} (p=4)",
                                f"{peer.route} (beside nest-auth)")]
        for row in ours:
            assert row.run
            lines.append(f"| {row.route} | {row.run.rps:,.1f} | {row.run.p50_ms:.1f} / "
                         f"{row.run.p99_ms:.1f} | {row.run.rss_mb:.0f} | {peer.run.rps:,.1f} | "
                         f"{peer.run.p50_ms:.1f} / {peer.run.p99_ms:.1f} | "
                         f"{peer.run.rss_mb:.0f} | **{row.run.rps / peer.run.rps:.2f}×** |")
    return "\n".join(lines) + "\n"


def markdown(rep: Report) -> str:
    out = ["# Benchmark results\n",
           (f"Written by `{rep.command}` ({rep.mode} mode) on "
           f"{rep.started.strftime('%Y-%m-%d %H:%M UTC')}.\n"),
           f"Machine: {machine()}.\n",
           ("Each route's req/s is divided by the ceiling of the same server and worker count "
           "(a bare FastAPI route returning a constant JSON body). wrk runs one thread on the "
           "same machine, so on 2 cores the load generator, PostgreSQL and the workers share "
           "the CPUs. Errors are non-2xx responses and socket errors (not counted in req/s). "
           "Worker CPU µs/req is the CPU time the worker processes spent per successful "
           "request (PostgreSQL's and Redis's own CPU not included); the CPU ratio "
           "(ceiling's CPU per request ÷ the route's) is the figure least disturbed by other "
           "load on a shared machine. "
           "One load generator is one IP: the per-IP rate-limit rows of login, refresh and "
           "MFA verify are switched off (with database counters every request would count on "
           "one row and queue on its lock) and the per-account rows raised to 1,000,000/s; "
           "those counters are still kept on every request.\n"),
           table(rep), ""]
    out.append("## Login and the password hash\n")
    out.append(f"One argon2id verification at the default cost ({rep.hash_params}) takes "
               f"{rep.hash_wall_ms:.0f} ms wall and {rep.hash_cpu_ms:.0f} ms of CPU. Bound = "
               f"{os.cpu_count()} cores ÷ {rep.hash_cpu_ms:.0f} ms = "
               f"**{rep.login_bound:.1f} logins/s**.\n")
    if rep.p4_bound:
        out.append(f"At nest-auth's parameters ({rep.p4_params}) one verification takes "
                   f"{rep.p4_cpu_ms:.0f} ms of CPU: bound **{rep.p4_bound:.1f} logins/s**.\n")
    if rep.peer_rows:
        out.append(peer_table(rep))
    if rep.storms:
        out.append("## Login storm\n")
        out.append("p99 of `GET /auth/user` from one connection, idle and while logins run at "
                   "full load (8 connections per worker):\n")
        out.append("| stack | server | workers | idle p50 / p99 ms | storm p50 / p99 ms | "
                   "p99 ratio |\n|---|---|---:|---:|---:|---:|")
        for stack, server, workers, idle, during in rep.storms:
            out.append(f"| {stack} | {server} | {workers} | {idle.p50_ms:.2f} / "
                       f"{idle.p99_ms:.2f} | {during.p50_ms:.2f} / {during.p99_ms:.2f} | "
                       f"{during.p99_ms / idle.p99_ms:.2f}× |")
        out.append("")
    if rep.scale:
        out.append("## Scale: 1k users against many\n")
        out.append("PostgreSQL, database session store, 1 worker; tokens for 2,000 sessions "
                   "sampled across the whole table.\n")
        out.append("| route | users | req/s | µs/request | p50 ms | p99 ms |\n"
                   "|---|---:|---:|---:|---:|---:|")
        for route, n, run in rep.scale:
            out.append(f"| {route} | {n:,} | {run.rps:,.0f} | {1e6 / run.rps:,.0f} | "
                       f"{run.p50_ms:.2f} | {run.p99_ms:.2f} |")
        out.append("")
    if rep.soak:
        out.append("## Soak\n")
        out.extend(f"- {s}" for s in rep.soak)
        out.append("")
    if rep.revocation:
        out.append("## Revocation\n")
        out.extend(f"- {s}" for s in rep.revocation)
        out.append("")
    out.append("## Targets\n")
    out.append("| target | met | measured |\n|---|:---:|---|")
    for name, ok, val in rep.checks:
        mark = "—" if ok is None else ("yes" if ok else "**no**")
        out.append(f"| {name} | {mark} | {val} |")
    out.append("")
    if rep.notes:
        out.append("## Notes\n")
        out.extend(f"- {n}" for n in rep.notes)
        out.append("")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description="authgate benchmark suite")
    ap.add_argument("--full", action="store_true",
                    help="30 s per route, 1M-user scale case, 10-minute soak")
    ap.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    ap.add_argument("--server", default="uvicorn", choices=["uvicorn", "granian", "both"])
    ap.add_argument("--stacks", default="sqlite,postgres,redis",
                    help="comma-separated: sqlite, postgres, redis (PostgreSQL + Redis sessions)")
    ap.add_argument("--duration", type=float, help="seconds per wrk run (quick 5, full 30)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--soak", type=float, help="soak seconds (quick 20, full 600; 0 = none)")
    ap.add_argument("--scale-users", type=int,
                    help="users in the scale case (quick 100000, full 1000000; 0 = skip)")
    ap.add_argument("--routes", default=",".join(ROUTE_KEYS),
                    help="comma-separated subset of: " + ", ".join(ROUTE_KEYS))
    ap.add_argument("--nice", type=int, default=0,
                    help="run the suite, its servers, wrk and the bench databases' PostgreSQL "
                         "backends at this niceness (e.g. -10 as root on a shared machine)")
    ap.add_argument("--peer", choices=["nest-auth"],
                    help="also drive nest-auth 2.11.1 (../shared/peers) with the same routes "
                         "and print the authgate/nest-auth ratio per route")
    ap.add_argument("--output", type=Path, default=BENCH / "RESULTS.md")
    a = ap.parse_args()
    a.workers = [int(w) for w in a.workers.split(",")]
    a.stacks = a.stacks.split(",")
    a.routes = a.routes.split(",")
    a.servers = ["uvicorn", "granian"] if a.server == "both" else [a.server]
    if a.duration is None:
        a.duration = 30.0 if a.full else 5.0
    if a.soak is None:
        a.soak = 600.0 if a.full else 20.0
    if a.scale_users is None:
        a.scale_users = 1_000_000 if a.full else 100_000
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (./bench/run installs it)")
    if a.nice:
        os.setpriority(os.PRIO_PROCESS, 0, a.nice)  # inherited by servers and wrk
    suite = Suite(a)
    rep = suite.run()
    evaluate(rep)
    text = markdown(rep)
    a.output.write_text(text)
    print(text)
    print(f"\nwritten to {a.output}", file=sys.stderr)


if __name__ == "__main__":
    tempfile.tempdir = str(OUT)
    main()
