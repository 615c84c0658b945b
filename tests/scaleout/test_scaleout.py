"""Scale-out, proven (issue 16 §1): three real ``authgate serve`` processes on one PostgreSQL
database and one Redis, behind a real nginx (round-robin, the configuration of
``docs/DEPLOYING.md``). Every property that must hold across machines is checked by sending
each step to a *different* process: sign-up on one, login on another, the MFA step on a third;
a revocation seen by all; rate limits, lockouts, TOTP replay and refresh rotation shared. Then a
rolling restart (SIGTERM one process at a time, each brought back before the next) under wrk
load through nginx must complete with 0 failed requests.

PostgreSQL only (SQLite is one machine's file). nginx and wrk come from Debian's packages
(``.ci/run`` installs ``nginx-light`` and ``wrk`` when missing)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from authgate.crypto import totp as otp
from tests.conftest import CHEAP_HASH, PG_ADMIN, REDIS_URL, TEST_SECRET
from tests.servers import free_port
from tests.test_cli import _wait_until_up

BIN = Path(sys.executable).with_name("authgate")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
PASSWORD = "correct horse battery"
NGINX_CONF = Path(__file__).with_name("nginx.conf")
"""The proxy configuration docs/DEPLOYING.md shows; ``@UPSTREAMS@`` etc. filled in here."""


async def _create_db(name: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def _drop_db(name: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


class Cluster:
    """Three ``authgate serve`` processes sharing a database, a Redis prefix and a secret."""

    def __init__(self, tmp: Path, db_url: str) -> None:
        self.tmp = tmp
        self.ports = [free_port() for _ in range(3)]
        self.procs: list[subprocess.Popen[bytes] | None] = [None, None, None]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
        self.env.update({
            "AUTHGATE_DATABASE_URL": db_url,
            "AUTHGATE_REDIS_URL": REDIS_URL,
            "AUTHGATE_REDIS_PREFIX": f"authgate-scale:{uuid.uuid4().hex[:10]}:",
            "AUTHGATE_SESSION__STORAGE": "redis",
            "AUTHGATE_JWT__SECRET": TEST_SECRET,
            "AUTHGATE_DEV_MODE": "true",  # the file outbox: no SMTP relay in this test
            "AUTHGATE_DATA_DIR": str(tmp),
            "AUTHGATE_DATABASE_POOL_SIZE": "3",
            "AUTHGATE_SECURITY__TRUSTED_PROXIES": '["127.0.0.1"]',
            "AUTHGATE_SERVER__DRAIN_DELAY": "1",
            "AUTHGATE_SERVER__DRAIN_TIMEOUT": "10",
            "AUTHGATE_RATE_LIMIT__SIGNUP__PER_IP__LIMIT": "1000",
            "AUTHGATE_RATE_LIMIT__LOGIN__PER_IP__LIMIT": "1000",
            "AUTHGATE_RATE_LIMIT__REFRESH__PER_IP__LIMIT": "1000",
            "AUTHGATE_RATE_LIMIT__LOCKOUT__MAX_FAILURES": "4",
            "AUTHGATE_JWT__REFRESH_REUSE_GRACE": "1s",
            **{f"AUTHGATE_PASSWORD_HASH__{k.upper()}": str(v) for k, v in CHEAP_HASH.items()},
        })

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def run(self, *args: str) -> None:
        r = subprocess.run([str(BIN), *args], env=self.env, capture_output=True, text=True,
                           timeout=120, check=False)
        assert r.returncode == 0, r.stderr

    def start(self, i: int) -> None:
        with (self.tmp / f"serve-{i}.log").open("a") as log:
            self.procs[i] = subprocess.Popen(
                [str(BIN), "serve", "--port", str(self.ports[i]), "--log-level", "info"],
                env=self.env, stdout=log, stderr=log, start_new_session=True)

    def wait_ready(self, i: int) -> None:
        deadline = time.monotonic() + 90
        while True:
            proc = self.procs[i]
            assert proc is not None and proc.poll() is None, self.log(i)
            try:
                if httpx.get(f"{self.url(i)}/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, self.log(i)
            time.sleep(0.2)

    def stop(self, i: int, sig: int = signal.SIGTERM) -> int:
        proc = self.procs[i]
        assert proc is not None
        proc.send_signal(sig)
        code = proc.wait(timeout=30)
        self.procs[i] = None
        return code

    def log(self, i: int) -> str:
        return (self.tmp / f"serve-{i}.log").read_text()[-3000:]

    def close(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    if request.config.getoption("--db") == "sqlite":
        pytest.skip("PostgreSQL + Redis only (--db sqlite was asked for)")
    name = f"authgate_scale_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_create_db(name))
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    c = Cluster(tmp_path, f"{base}/{name}")
    try:
        c.run("migrate")
        for i in range(3):
            c.start(i)
        for i in range(3):
            c.wait_ready(i)
        yield c
    finally:
        c.close()
        asyncio.run(_drop_db(name))


@pytest.fixture
def nginx(cluster: Cluster, tmp_path: Path) -> Iterator[str]:
    """nginx in the foreground on a free port, round-robin over the three processes."""
    assert Path(NGINX).exists(), "nginx missing: apt-get install nginx-light (.ci/run does)"
    port = free_port()
    root = tmp_path / "nginx"
    root.mkdir()
    conf = NGINX_CONF.read_text()
    conf = conf.replace("@UPSTREAMS@", "\n".join(
        f"        server 127.0.0.1:{p} max_fails=0;" for p in cluster.ports))
    conf = conf.replace("@LISTEN@", f"127.0.0.1:{port}").replace("@ROOT@", str(root))
    conf = conf.replace("@USER@", "user root;" if os.geteuid() == 0 else "")
    (root / "nginx.conf").write_text(conf)
    proc = subprocess.Popen([NGINX, "-p", str(root), "-c", str(root / "nginx.conf"),
                             "-e", str(root / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, f"{base}/health/ready", root / "error.log")
        yield base
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _totp(secret: str, steps: int = 0) -> str:
    p = otp.TotpParams()
    from datetime import UTC, datetime

    return otp.code_at_step(secret, otp.time_step(datetime.now(UTC), p) + steps, p)


def _login(base: str, email: str, password: str = PASSWORD,
           headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{base}/auth/login", headers=headers or {}, timeout=20, json={
        "providerName": "email", "credentials": {"email": email, "password": password}})


def test_three_processes_behind_nginx(cluster: Cluster, nginx: str) -> None:
    a, b, c = (cluster.url(i) for i in range(3))
    # sign-up on one, TOTP set up on it, login on another, the MFA step on a third
    r = httpx.post(f"{a}/auth/signup", json={"email": "scale@example.com", "password": PASSWORD},
                   timeout=20)
    assert r.status_code == 200, r.text
    token = r.json()["accessToken"]
    r = httpx.post(f"{a}/auth/mfa/setup-totp", json={}, headers=_auth(token), timeout=20)
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    r = httpx.post(f"{b}/auth/mfa/verify-totp-setup", headers=_auth(token), timeout=20,
                   json={"otp": _totp(secret), "secret": secret})
    assert r.status_code == 200, r.text
    r = httpx.post(f"{c}/auth/mfa/toggle", json={"enabled": True}, headers=_auth(token),
                   timeout=20)
    assert r.status_code == 200, r.text
    r = _login(b, "scale@example.com")
    assert r.status_code == 200 and r.json()["isRequiresMfa"] is True, r.text
    pending = r.json()["accessToken"]
    assert httpx.get(f"{a}/auth/user", headers=_auth(pending)).status_code == 401
    code = _totp(secret, 1)  # the set-up burnt this step's code; the next step is in the window
    r = httpx.post(f"{c}/auth/mfa/verify", headers=_auth(pending), timeout=20,
                   json={"method": "totp", "otp": code})
    assert r.status_code == 200, r.text
    full, refresh = r.json()["accessToken"], r.json()["refreshToken"]
    for base in (a, b, c):
        assert httpx.get(f"{base}/auth/user", headers=_auth(full)).status_code == 200
    # TOTP replay: the code just used is refused by every other process
    r = _login(a, "scale@example.com")
    pending2 = r.json()["accessToken"]
    for base in (a, b):
        r = httpx.post(f"{base}/auth/mfa/verify", headers=_auth(pending2), timeout=20,
                       json={"method": "totp", "otp": code})
        assert r.status_code == 401, r.text
    # refresh rotation: rotated on one, the old refresh token is refused by another
    r = httpx.post(f"{a}/auth/refresh-token", json={"refreshToken": refresh}, timeout=20)
    assert r.status_code == 200, r.text
    new_access, new_refresh = r.json()["accessToken"], r.json()["refreshToken"]
    time.sleep(1.5)  # past jwt.refresh_reuse_grace (1 s here): a reuse, not a retried request
    r = httpx.post(f"{b}/auth/refresh-token", json={"refreshToken": refresh}, timeout=20)
    assert r.status_code == 401, r.text
    # reuse detected: the whole family is revoked, everywhere
    for base in (a, b, c):
        assert httpx.get(f"{base}/auth/user", headers=_auth(new_access)).status_code == 401
    r = httpx.post(f"{c}/auth/refresh-token", json={"refreshToken": new_refresh}, timeout=20)
    assert r.status_code == 401, r.text
    # revocation: a session ended through one process is refused by all at the next request
    r = httpx.post(f"{a}/auth/signup", json={"email": "rev@example.com", "password": PASSWORD},
                   timeout=20)
    rev = r.json()["accessToken"]
    assert httpx.get(f"{c}/auth/user", headers=_auth(rev)).status_code == 200
    assert httpx.post(f"{b}/auth/logout", headers=_auth(rev), timeout=20).status_code == 200
    for base in (a, b, c):
        assert httpx.get(f"{base}/auth/user", headers=_auth(rev)).status_code == 401
    # lockout (4 wrong passwords of one client on one account), counted across processes
    httpx.post(f"{a}/auth/signup", json={"email": "lock@example.com", "password": PASSWORD},
               timeout=20)
    codes = [_login((a, b, c)[i % 3], "lock@example.com", "wrong password").json()["code"]
             for i in range(5)]
    assert codes[:4] == ["INVALID_CREDENTIALS"] * 4 and codes[4] == "ACCOUNT_LOCKED", codes
    r = _login(b, "lock@example.com")  # even the right password, on another process
    assert r.status_code != 200 and r.json()["code"] == "ACCOUNT_LOCKED", r.text
    # rate limits through nginx, round-robin over the three: one budget (forgot-password,
    # 3 per account in 5 minutes), not three (which would let 9 through)
    statuses = [httpx.post(f"{nginx}/auth/forgot-password", json={"email": "x@example.com"},
                           timeout=20).status_code for _ in range(9)]
    assert statuses == [200] * 3 + [429] * 6, statuses
    # a rolling restart under wrk load through nginx: 0 failed requests
    _rolling_restart(cluster, nginx, full_token(a))


def full_token(base: str) -> str:
    r = httpx.post(f"{base}/auth/signup", json={"email": "load@example.com",
                                                "password": PASSWORD}, timeout=20)
    assert r.status_code == 200, r.text
    token: str = r.json()["accessToken"]
    return token


def _rolling_restart(cluster: Cluster, nginx: str, token: str) -> int:
    wrk = subprocess.Popen([WRK, "-t1", "-c4", "-d120s", "--latency", "-H",
                            f"Authorization: Bearer {token}", f"{nginx}/auth/user"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(2)
        for i in range(3):
            code = cluster.stop(i)
            assert code in (0, -signal.SIGTERM), cluster.log(i)
            assert "Application shutdown complete" in cluster.log(i)
            cluster.start(i)
            cluster.wait_ready(i)
        time.sleep(2)
    finally:
        wrk.send_signal(signal.SIGINT)
        out, _ = wrk.communicate(timeout=30)
    m = re.search(r"(\d+) requests in", out)
    assert m, out
    served = int(m.group(1))
    assert "Non-2xx or 3xx responses" not in out, out
    assert "Socket errors" not in out, out
    assert served > 0
    print(f"rolling restart under wrk: {served} requests, 0 failed\n{out}")
    return served
