"""Faults: a real ``authgate serve`` killed with SIGKILL under load and restarted, and the
database or Redis disappearing under a running app.

The shared PostgreSQL and Redis are never touched: outages happen in a TCP proxy this test
owns (asyncio, on loopback) between authgate and the server. The kill test runs on this test
run's own database (conftest creates a PostgreSQL database per session; SQLite: its file)
and its own Redis namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from authgate.db import Database
from authgate.identity.models import User
from tests.conftest import CHEAP_HASH, REDIS_URL, TEST_SECRET, MakeHarness, _truncate, bearer
from tests.helpers import assert_error

PASSWORD = "correct horse battery"
AUTHGATE = Path(sys.executable).with_name("authgate")


# a TCP proxy we can cut ---------------------------------------------------------------
class TcpProxy:
    """Forwards 127.0.0.1:<port> to a server. ``cut("reset")`` aborts every connection and
    resets new ones (a crashed or restarting server); ``cut("too-many-clients")`` answers new
    ones as PostgreSQL does at max_connections; ``cut("blackhole")`` accepts and then ignores
    everything (a partition: nothing answers, nothing closes); ``restore()``."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.mode = "up"
        self.port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._live: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._abort_all()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def cut(self, mode: str = "reset") -> None:
        self.mode = mode
        if mode in ("reset", "too-many-clients"):
            self._abort_all()

    def restore(self) -> None:
        self.mode = "up"

    def _abort_all(self) -> None:
        for w in list(self._live):
            w.transport.abort()
        self._live.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.mode == "reset":
            writer.transport.abort()
            return
        if self.mode == "too-many-clients":
            await _pg_refuse(reader, writer)
            return
        if self.mode == "blackhole":
            self._live.add(writer)
            with contextlib.suppress(Exception):
                while await reader.read(65536):
                    pass
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._live |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    if self.mode == "blackhole":
                        continue  # swallowed by the partition
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._live -= {writer, up_writer}


async def _pg_refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer like a PostgreSQL server at max_connections: decline TLS, read the start-up
    packet, send FATAL 53300 "sorry, too many clients already" and hang up."""
    with contextlib.suppress(Exception):
        head = await reader.readexactly(8)
        if head[4:] == (80877103).to_bytes(4, "big"):  # SSLRequest
            writer.write(b"N")
            head = await reader.readexactly(4)
        length = int.from_bytes(head[:4], "big")
        await reader.readexactly(length - len(head))
        fields = b"".join(k + v + b"\0" for k, v in (
            (b"S", b"FATAL"), (b"V", b"FATAL"), (b"C", b"53300"),
            (b"M", b"sorry, too many clients already")))
        body = fields + b"\0"
        writer.write(b"E" + (len(body) + 4).to_bytes(4, "big") + body)
        await writer.drain()
    writer.transport.abort()


@pytest.fixture
async def proxies() -> AsyncIterator[Any]:
    """Factory of proxies that outlive the harnesses using them (request it before
    ``make_harness``: fixtures are torn down in reverse), so the app can still clean up."""
    opened: list[TcpProxy] = []

    async def _open(target: tuple[str, int]) -> TcpProxy:
        proxy = await TcpProxy(*target).__aenter__()
        opened.append(proxy)
        return proxy

    yield _open
    for proxy in opened:
        await proxy.__aexit__(None, None, None)


def _via(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    return url.replace(parts.netloc, f"{netloc[0]}@{host}" if len(netloc) == 2 else host, 1)


def _target(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


async def _signup(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/auth/signup", json={"email": email, "password": PASSWORD})


# the database goes away -----------------------------------------------------------------
async def test_postgres_outage_is_503_then_recovers(proxies: Any, make_harness: MakeHarness,
                                                    backend: str, database_url: str) -> None:
    if backend != "postgres":
        pytest.skip("PostgreSQL outage (the SQLite file cannot go away)")
    proxy = await proxies(_target(database_url, 5432))
    h = await make_harness(database_url=_via(database_url, proxy),
                           rate_limit={"enabled": False})
    token = await h.user_token()
    for mode in ("reset", "too-many-clients", "reset"):  # recovery is not a one-off
        proxy.cut(mode)
        for call in (lambda: h.signup(f"{uuid.uuid4().hex[:8]}@example.com"),
                     lambda: h.login(),
                     lambda: h.client.get("/auth/user", headers=bearer(token)),
                     lambda: h.client.get("/auth/mfa/status", headers=bearer(token))):
            r = await call()
            assert_error(r, 503, "SERVICE_UNAVAILABLE")
            assert int(r.headers["retry-after"]) >= 1
        proxy.restore()
        # back by itself: the very next requests succeed (stale pooled connections are
        # noticed and replaced, not handed to a request)
        assert (await h.client.get("/auth/user", headers=bearer(token))).status_code == 200
        r = await h.signup(f"{uuid.uuid4().hex[:8]}@example.com")
        assert r.status_code == 200, r.text
        assert (await h.login()).status_code == 200


@pytest.mark.parametrize("mode", ["reset", "blackhole"])
async def test_redis_outage_is_503_then_recovers(proxies: Any, make_harness: MakeHarness,
                                                 mode: str) -> None:
    proxy = await proxies(_target(REDIS_URL, 6379))
    h = await make_harness(redis_url=_via(REDIS_URL, proxy), session={"storage": "redis"})
    token = await h.user_token()
    proxy.cut(mode)
    calls = [lambda: h.client.get("/auth/user", headers=bearer(token)),
             lambda: h.login(),  # the rate-limit counters live in Redis too
             lambda: h.client.post("/auth/refresh-token", json={"refreshToken": "x"})]
    for call in calls[:1] if mode == "blackhole" else calls:  # a blackhole costs a timeout
        r = await call()
        assert_error(r, 503, "SERVICE_UNAVAILABLE")
    proxy.restore()
    assert (await h.client.get("/auth/user", headers=bearer(token))).status_code == 200
    assert (await h.login()).status_code == 200


# kill -9 under load -----------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def _users(url: str) -> dict[str, Any]:
    db = Database(url)
    try:
        async with db.writer.connect() as conn:
            rows = (await conn.execute(select(
                User.email, User.password_hash, User.status, User.created_at, User.updated_at,
                User.tenant_scope))).mappings().all()
    finally:
        await db.dispose()
    return {r["email"]: r for r in rows}


class Server:
    """``authgate serve`` as a child process in its own process group."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log = config, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.to_thread(
                subprocess.Popen,
                [str(AUTHGATE), "serve", "--port", str(self.port), "--config", str(self.config),
                 "--log-level", "warning"], stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as c:
            for _ in range(300):  # bounded wait for readiness (not a timing assertion)
                assert self.proc.poll() is None, self.log.read_text()
                with contextlib.suppress(httpx.HTTPError):
                    if (await c.get("/auth/client-config")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError("authgate did not come up:\n" + self.log.read_text())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)  # our own child's group, nobody else's
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.mark.parametrize("storage", ["database", "redis"])
async def test_kill9_under_load_loses_no_acknowledged_signup(
        database_url: str, backend: str, tmp_path: Path, storage: str) -> None:
    """On this run's own database (conftest creates it per test session; SQLite: its file)."""
    if backend == "sqlite" and storage == "redis":
        pytest.skip("the Redis store is exercised on PostgreSQL")
    await _truncate(database_url)
    prefix = f"authgate-fault:{uuid.uuid4().hex[:12]}:"
    config = tmp_path / "authgate.toml"
    config.write_text(f"""
databaseUrl = "{database_url}"
redisUrl = "{REDIS_URL}"
redisPrefix = "{prefix}"
dataDir = "{tmp_path}"
devMode = true
[jwt]
secret = "{TEST_SECRET}"
[passwordHash]
timeCost = {CHEAP_HASH["time_cost"]}
memoryCostKib = {CHEAP_HASH["memory_cost_kib"]}
parallelism = {CHEAP_HASH["parallelism"]}
[session]
storage = "{storage}"
[rateLimit]
enabled = false
""")
    server = Server(config, _free_port(), tmp_path / "server.log")
    acked: dict[str, str] = {}  # email -> access token of a 200 signup
    attempted: set[str] = set()
    try:
        await server.start()
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            stop = asyncio.Event()

            async def writer(n: int) -> None:
                for i in range(400):  # bounded
                    if stop.is_set():
                        return
                    email = f"load-{n}-{i}-{uuid.uuid4().hex[:6]}@example.com"
                    attempted.add(email)
                    try:
                        r = await _signup(client, email)
                    except httpx.HTTPError:
                        return  # the server died under us
                    if r.status_code == 200:
                        acked[email] = r.json()["accessToken"]

            workers = [asyncio.create_task(writer(n)) for n in range(8)]
            for _ in range(600):  # let some signups land, then pull the plug mid-flight
                if len(acked) >= 25:
                    break
                await asyncio.sleep(0.02)
            server.kill9()
            stop.set()
            await asyncio.gather(*workers)
        assert len(acked) >= 25, "the load never got going"

        await server.start()  # same database, same Redis namespace
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            stored = await _users(database_url)
            # every acknowledged signup is there, and its session survived the restart
            missing = set(acked) - set(stored)
            assert not missing, f"{len(missing)} acknowledged signups lost"
            for email, token in acked.items():
                r = await client.get("/auth/user", headers=bearer(token))
                assert r.status_code == 200, (email, r.text)
            # nothing half-created: every row (acknowledged or cut off in flight) is a
            # complete account whose password works
            assert set(stored) <= attempted
            for email, row in stored.items():
                assert row["password_hash"] and row["status"] == "active", email
                assert row["created_at"] and row["updated_at"] and row["tenant_scope"] == ""
            for email in list(set(stored) - set(acked))[:10] + list(acked)[:5]:
                r = await client.post("/auth/login", json={
                    "providerName": "email", "credentials": {"email": email,
                                                             "password": PASSWORD}})
                assert r.status_code == 200, (email, r.text)
        print(f"\nkill -9 ({backend}, {storage}): {len(attempted)} signups attempted, {len(acked)} "
              f"acknowledged, {len(stored)} stored, 0 lost")
    finally:
        server.stop()
        r = aioredis.from_url(REDIS_URL)
        keys = [k async for k in r.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await r.delete(*keys)
        await r.aclose()
