"""The ``authgate`` command, run as a real subprocess: check-config, migrate, and serve (one
and two workers) answering real HTTP with a generated development secret."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).with_name("authgate")
CHEAP_ENV = {
    "AUTHGATE_PASSWORD_HASH__TIME_COST": "1",
    "AUTHGATE_PASSWORD_HASH__MEMORY_COST_KIB": "8",
    "AUTHGATE_PASSWORD_HASH__PARALLELISM": "1",
}


def _env(**extra: str) -> dict[str, str]:
    """The parent's environment without any AUTHGATE_* setting (no JWT secret)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    env.update(extra)
    return env


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], cwd=cwd, env=_env(**env), capture_output=True,
                          text=True, timeout=60, check=False)


def test_check_config_valid(tmp_path: Path) -> None:
    cfg = tmp_path / "authgate.toml"
    cfg.write_text('[jwt]\nsecret = "a-perfectly-fine-secret-of-forty-characters"\n'
                   'accessTokenExpiresIn = "30m"\n')
    r = _run(["check-config", "--config", str(cfg)], tmp_path)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["jwt"]["access_token_expires_in"] == 1800
    assert "a-perfectly-fine" not in r.stdout  # the secret is masked


def test_check_config_names_the_bad_setting(tmp_path: Path) -> None:
    cfg = tmp_path / "authgate.yaml"
    cfg.write_text("jwt:\n  secret: changeme\n")
    r = _run(["check-config", "-c", str(cfg)], tmp_path)
    assert r.returncode == 2
    assert "invalid setting jwt.secret" in r.stderr
    r = _run(["check-config"], tmp_path, AUTHGATE_SESSION__MAX_SESSIONS_PER_USER="0")
    assert r.returncode == 2 and "session.max_sessions_per_user" in r.stderr
    r = _run(["check-config", "-c", str(tmp_path / "missing.toml")], tmp_path)
    assert r.returncode == 2 and "cannot load configuration" in r.stderr


PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/never-connected"
SECRET = "a-perfectly-fine-secret-of-forty-characters"


@pytest.mark.parametrize(("env", "setting"), [
    ({"AUTHGATE_DATABASE_URL": PG_URL}, "jwt.secret"),
    ({"AUTHGATE_DATABASE_URL": PG_URL, "AUTHGATE_JWT__SECRET": SECRET}, "delivery.smtp.host"),
    ({"AUTHGATE_REDIS_URL": "redis://127.0.0.1:6379/0"}, "jwt.secret"),
    ({"AUTHGATE_DEV_MODE": "false", "AUTHGATE_JWT__SECRET": SECRET}, "delivery.smtp.host"),
])
def test_production_mode_refuses_development_stand_ins(tmp_path: Path, env: dict[str, str],
                                                       setting: str) -> None:
    """Issue 12 item 8: check-config and serve refuse, naming the setting, before anything
    is created or connected."""
    for args in (["check-config"], ["serve", "--port", str(_free_port())]):
        r = _run(args, tmp_path, **env)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert f"invalid setting {setting}" in r.stderr and "dev_mode=true" in r.stderr
    assert not (tmp_path / ".authgate-secret").exists()
    assert not (tmp_path / "authgate.db").exists()


def test_rotate_keys_refuses_a_generated_secret_in_production(tmp_path: Path) -> None:
    r = _run(["rotate-keys"], tmp_path, AUTHGATE_DATABASE_URL=PG_URL)
    assert r.returncode == 2 and "invalid setting jwt.secret" in r.stderr, r.stderr
    assert not (tmp_path / ".authgate-secret").exists()


@pytest.mark.parametrize("env", [
    {},  # the embedded SQLite default
    {"AUTHGATE_DATABASE_URL": PG_URL, "AUTHGATE_DEV_MODE": "true"},
    {"AUTHGATE_DATABASE_URL": PG_URL, "AUTHGATE_JWT__SECRET": SECRET,
     "AUTHGATE_DELIVERY__SMTP__HOST": "smtp.example.com"},
])
def test_check_config_allows_development_and_real_production(tmp_path: Path,
                                                             env: dict[str, str]) -> None:
    r = _run(["check-config"], tmp_path, **env)
    assert r.returncode == 0, r.stderr


def _cookie_login(base: str) -> dict[str, str]:
    """Sign up and log in in cookie mode; the raw Set-Cookie headers by cookie name."""
    creds = {"email": "c@example.com", "password": "correct horse battery"}
    with httpx.Client(base_url=base, timeout=10) as c:
        assert c.post("/auth/signup", json=creds).status_code == 200
        r = c.post("/auth/login", headers={"x-access-token-type": "cookie"},
                   json={"providerName": "email", "credentials": creds})
        assert r.status_code == 200, r.text
        return {h.split("=", 1)[0]: h for h in r.headers.get_list("set-cookie")}


def test_serve_on_localhost_in_development_drops_secure(tmp_path: Path) -> None:
    """Issue 12 item 7: the one exception to Secure cookies is plain-HTTP localhost in
    development mode, and the start-up log says so; an explicit setting wins."""
    with serving(tmp_path, "--host", "127.0.0.1") as (base, log):
        cookies = _cookie_login(base)
        assert "secure" not in cookies["accessToken"].lower()
        assert "secure" not in cookies["nest_auth_csrf"].lower()
        text = log.read_text()
        assert "development mode" in text and "cookies without Secure" in text
        assert httpx.get(f"{base}/openapi.json").status_code == 200  # docs on in development
    for env in ({"AUTHGATE_SESSION__COOKIE__SECURE": "true"},
                {"AUTHGATE_SECURITY__TRUSTED_PROXIES": '["127.0.0.1"]'}):  # TLS ends there
        (tmp_path / "authgate.db").unlink()
        with serving(tmp_path, **env) as (base, log):
            # Secure, Path=/, no Domain: the names carry __Host- (issue #19 item 10)
            assert "; secure" in _cookie_login(base)["__Host-accessToken"].lower()
            assert "cookies Secure=True" in log.read_text()


def test_serve_in_production_mode(tmp_path: Path) -> None:
    """dev_mode=false: Secure cookies and no API docs, even on localhost."""
    with serving(tmp_path, AUTHGATE_DEV_MODE="false", AUTHGATE_JWT__SECRET=SECRET,
                 AUTHGATE_DELIVERY__SMTP__HOST="127.0.0.1") as (base, log):
        assert "; secure" in _cookie_login(base)["__Host-accessToken"].lower()
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert httpx.get(f"{base}{path}").status_code == 404
        assert "production mode" in log.read_text()


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    r = _run(["migrate"], tmp_path)
    assert r.returncode == 0, r.stderr
    rev = r.stdout.strip().removeprefix("database at revision ")
    assert rev and rev != "None", r.stdout
    db = tmp_path / "authgate.db"
    with sqlite3.connect(db) as conn:
        tables = {t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"authgate_users", "authgate_sessions", "authgate_totp_devices"} <= tables
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (rev,)
        conn.execute("INSERT INTO authgate_counters (key, window_start, count, expires_at) "
                      "VALUES ('k', '2030-01-01', 1, '2030-01-02')")
    again = _run(["migrate"], tmp_path)  # idempotent and keeps data
    assert again.returncode == 0 and again.stdout == r.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM authgate_counters").fetchone() == (1,)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_until_up(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Poll ``url`` until it answers 200; fail with ``log`` if ``proc`` exits or 60 s pass."""
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


@contextmanager
def serving(cwd: Path, *args: str, **env: str) -> Iterator[tuple[str, Path]]:
    """Start ``authgate serve`` and yield (base URL, stderr log) once it answers."""
    port = _free_port()
    log = cwd / "serve.log"
    with log.open("w") as err:
        proc = subprocess.Popen([str(BIN), "serve", "--port", str(port), *args], cwd=cwd,
                                env=_env(**CHEAP_ENV, **env), stdout=err, stderr=err)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, f"{base}/auth/client-config", log)
        yield base, log
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail("authgate serve did not stop on SIGINT")


def test_serve_with_a_development_secret(tmp_path: Path) -> None:
    with serving(tmp_path) as (base, log):
        with httpx.Client(base_url=base, timeout=10) as c:
            r = c.post("/auth/signup", json={"email": "cli@example.com",
                                             "password": "correct horse battery"})
            assert r.status_code == 200, r.text
            r = c.post("/auth/login", json={"providerName": "email", "credentials": {
                "email": "cli@example.com", "password": "correct horse battery"}})
            assert r.status_code == 200, r.text
            token = r.json()["accessToken"]
            r = c.get("/auth/user", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200 and r.json()["email"] == "cli@example.com"
            r = c.get("/auth/nope")
            assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
        secret = tmp_path / ".authgate-secret"
        assert (tmp_path / "authgate.db").exists() and secret.exists()
        assert secret.stat().st_mode & 0o777 == 0o600
        assert len(secret.read_text().strip()) >= 32
        assert "No JWT secret configured" in log.read_text()
    # a restart reuses the same secret: the old token still verifies
    first = secret.read_text()
    with serving(tmp_path) as (base, _):
        r = httpx.get(f"{base}/auth/user", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
    assert secret.read_text() == first


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_serve_with_two_workers(tmp_path: Path, server: str) -> None:
    with serving(tmp_path, "--workers", "2", "--server", server) as (base, log):
        with httpx.Client(base_url=base, timeout=10) as c:
            r = c.post("/auth/signup", json={"email": "w@example.com",
                                             "password": "correct horse battery"})
            assert r.status_code == 200, r.text
            auth = {"Authorization": f"Bearer {r.json()['accessToken']}"}
            # fresh connections land on either worker: both must share the one secret
            for _ in range(12):
                with httpx.Client(base_url=base, timeout=10) as fresh:
                    assert fresh.get("/auth/user", headers=auth).status_code == 200
            r = c.post("/auth/mfa/toggle", content=b"{", headers={
                **auth, "Content-Type": "application/json"})
            assert r.status_code == 400 and r.json()["code"] == "INVALID_INPUT"
        text = log.read_text()
        if server == "uvicorn":
            assert text.count("Started server process") >= 2 or "Started parent process" in text
    assert (tmp_path / ".authgate-secret").exists()


def test_serve_refuses_an_unknown_server(tmp_path: Path) -> None:
    r = subprocess.run([str(BIN), "serve", "--server", "hypercorn"], cwd=tmp_path,
                       env=_env(**CHEAP_ENV), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unknown server" in r.stderr


def test_dev_secret_survives_simultaneous_starts(tmp_path: Path) -> None:
    """Worker processes start together: one secret wins and every one of them reads it."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from authgate.config import load_settings
    from authgate.resources import DEV_SECRET_FILE, dev_secret

    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/authgate.db")
    barrier = Barrier(8)

    def start() -> bytes:
        barrier.wait()
        return dev_secret(settings)

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: start(), range(8)))
    assert len(set(got)) == 1 and len(got[0]) >= 32
    assert (tmp_path / DEV_SECRET_FILE).read_text().strip().encode() == got[0]
    assert [p.name for p in tmp_path.iterdir()] == [DEV_SECRET_FILE]  # no temporary left over
    (tmp_path / DEV_SECRET_FILE).write_text("\n")
    with pytest.raises(RuntimeError, match="no usable secret"):
        dev_secret(settings)


def _raw_request(port: int, head: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(head)
    return s


def _read_response(s: socket.socket) -> bytes:
    data = b""
    while chunk := s.recv(65536):
        data += chunk
        if b"\r\n\r\n" in data:
            head, _, body = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            if len(body) >= length:
                break
    return data


def test_sigterm_drains_gracefully(tmp_path: Path) -> None:
    """Issue 16: on SIGTERM readiness fails first (503, ``Connection: close``) while
    requests are still served for ``server.drain_delay``; then the listener closes, a request
    already in flight (its body still arriving) completes, and the process exits 0 within the
    bound (uvicorn re-raises SIGTERM after a clean shutdown: exit status -15, which systemd
    counts as a clean stop)."""
    port = _free_port()
    log = tmp_path / "serve.log"
    env = _env(**CHEAP_ENV, AUTHGATE_SERVER__DRAIN_DELAY="2", AUTHGATE_SERVER__DRAIN_TIMEOUT="20")
    with log.open("w") as err:
        proc = subprocess.Popen([str(BIN), "serve", "--port", str(port)], cwd=tmp_path,
                                env=env, stdout=err, stderr=err)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, f"{base}/health/ready", log)
        with httpx.Client(base_url=base, timeout=10) as c:
            r = c.get("/health/ready")
            assert r.json() == {"status": "ok", "checks": {"database": "ok"}}
            assert "connection" not in r.headers or r.headers["connection"] != "close"
            body = json.dumps({"providerName": "email", "credentials": {
                "email": "nobody@example.com", "password": "wrong password"}}).encode()
            inflight = _raw_request(port, b"POST /auth/login HTTP/1.1\r\nHost: x\r\n"
                                    b"Content-Type: application/json\r\nContent-Length: "
                                    + str(len(body)).encode() + b"\r\n\r\n" + body[:10])
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            r = c.get("/health/ready")
            assert r.status_code == 503 and r.json()["status"] == "draining"
            assert r.headers["connection"] == "close"
            assert c.get("/health/live").status_code == 200  # still serving
            assert proc.poll() is None
        time.sleep(2.5)  # past drain_delay: the listener is closed, in-flight work goes on
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{base}/health/live", timeout=2)
        assert proc.poll() is None  # waiting for the request in flight
        inflight.sendall(body[10:])
        answer = _read_response(inflight)
        inflight.close()
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        # uvicorn re-raises the signal once it has shut down cleanly (systemd counts an exit
        # by SIGTERM as a clean stop)
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM), log.read_text()
        assert "Application shutdown complete" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_metrics_add_up_across_workers(tmp_path: Path) -> None:
    """Issue 16: with two workers ``GET /metrics`` counts every worker's requests
    (prometheus-client's multi-process mode, one directory the serve command sets up)."""
    prom = tmp_path / "prom"
    prom.mkdir()
    (prom / "counter_1.db").write_bytes(b"stale")  # a previous run's: removed at start
    with serving(tmp_path, "--workers", "2", AUTHGATE_METRICS__ENABLED="true",
                 AUTHGATE_METRICS__TOKEN="scrape-token-0123456789",
                 PROMETHEUS_MULTIPROC_DIR=str(prom)) as (base, _log):
        for _ in range(40):  # new connections: the kernel spreads them over the workers
            assert httpx.get(f"{base}/health/live", timeout=10).status_code == 200
        r = httpx.get(f"{base}/metrics", timeout=10,
                      headers={"Authorization": "Bearer scrape-token-0123456789"})
        assert r.status_code == 200, r.text
        series = 'authgate_http_requests_total{method="GET",route="/health/live",status="200"}'
        line = next(x for x in r.text.splitlines() if x.startswith(series))
        assert float(line.split()[-1]) == 40
        assert httpx.get(f"{base}/metrics", timeout=10).status_code == 401
        assert not (prom / "counter_1.db").exists()
        assert len(list(prom.glob("counter_*.db"))) == 2  # one file per worker process


def test_serve_writes_one_request_line_per_request(tmp_path: Path) -> None:
    """Issue 16 §3: ``authgate serve`` (two workers: each configures its logging) writes the
    request log — one JSON line per request, on stdout, in place of the server's access log —
    with the id the response carries, and never the query string."""
    with serving(tmp_path, "--workers", "2", AUTHGATE_LOGGING__FORMAT="json") as (base, log):
        ids = []
        with httpx.Client(base_url=base, timeout=10) as c:
            for _ in range(6):
                r = c.get("/auth/client-config?secret=do-not-log-me")
                assert r.status_code == 200
                ids.append(r.headers["x-request-id"])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            lines = [json.loads(line) for line in log.read_text().splitlines()
                     if line.startswith("{") and '"requestId"' in line]
            if {line["requestId"] for line in lines} >= set(ids):
                break
            time.sleep(0.1)
    ours = [line for line in lines if line["requestId"] in ids]
    assert len(ours) == len(ids)
    assert all(line["route"] == "/auth/client-config" and line["status"] == 200
               and line["ip"] == "127.0.0.1" and line["method"] == "GET" for line in ours)
    text = log.read_text()
    assert "do-not-log-me" not in text
    assert '"GET /auth/client-config' not in text  # no uvicorn access log besides
