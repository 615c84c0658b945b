"""What a server process keeps in memory: building the app (``authgate serve``'s worker
factory), starting it on a migrated database and serving the request hot path must not
import the modules only other features need. Each costs resident memory in every worker
(zxcvbn's frequency lists alone about 12 MB; ``bench/rss.py`` prints the figures).

Checked in a fresh interpreter (this one has imported everything), driving the real app over
ASGI without an HTTP client library (httpx is one of the modules that must stay out)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).with_name("authgate")

LAZY = {
    "nacl": "libsodium's argon2id (hashing a password; in the hashing processes under serve)",
    "zxcvbn": "password strength (signup, password change and reset)",
    "alembic": "schema migrations (a database behind the head revision)",
    "mako": "alembic's script templates",
    "segno": "the QR code of a TOTP set-up",
    "pyotp": "TOTP codes (MFA set-up and verification)",
    "aiosmtplib": "SMTP delivery",
    "httpx": "SMS delivery, social sign-in",
    "joserfc": "ID tokens of OpenID Connect providers (social sign-in)",
    "authlib": "PKCE of the authorization-code flow (social sign-in)",
    "yaml": "YAML configuration files",
    "sqlalchemy.dialects.postgresql": "the upsert of the other database",
    "redis": "the Redis session store and counters (only with redis_url set)",
    "phonenumbers": "phone numbers (signup, login, reset and passwordless by phone)",
    "webauthn": "passkey ceremonies (py_webauthn)",
    "cbor2": "py_webauthn's CBOR decoder",
    "OpenSSL": "py_webauthn's attestation certificate checks",
    "prometheus_client": "GET /metrics (only with metrics.enabled)",
    "disposable_email_domains": "the shipped blocked-domain list (email_auth.disposable)",
}
"""Module → the feature that imports it on first use."""

PROBE = r'''
import asyncio, json, sys
from datetime import UTC, datetime

loaded = {}

def snapshot(stage):
    loaded[stage] = sorted(m for m in LAZY if m in sys.modules)

from authgate.cli.main import _factory

app = None


async def call(method, path, body=None, token=None):
    headers = [(b"host", b"probe"), (b"content-type", b"application/json")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    raw = json.dumps(body).encode() if body is not None else b""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 40000), "server": ("probe", 80)}
    pending = [{"type": "http.request", "body": raw, "more_body": False}]
    out = {"status": 0, "body": b""}

    async def receive():
        if pending:
            return pending.pop()
        await asyncio.Event().wait()  # no disconnect while the response is produced

    async def send(message):
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return out["status"], json.loads(out["body"] or b"null")


def stand_in_hash(res, password):
    """Made with argon2-cffi, which the worker imports anyway: the probe must not load the
    hashing library a worker leaves to its hashing processes."""
    from argon2 import PasswordHasher, Type

    ph = res.settings.password_hash
    return PasswordHasher(time_cost=ph.time_cost, memory_cost=ph.memory_cost_kib,
                          parallelism=ph.parallelism, type=Type.ID).hash(password)


async def main():
    statuses = {}
    async with app.router.lifespan_context(app):
        snapshot("started")
        res = app.state.authgate
        from authgate.identity.models import User

        now = datetime.now(UTC)
        async with res.sessionmaker() as s, s.begin():
            s.add(User(email="hot@example.com", email_verified_at=now, created_at=now,
                       updated_at=now, password_hash=stand_in_hash(res, "hot-path-pw-1")))
        login = {"providerName": "email",
                 "credentials": {"email": "hot@example.com", "password": "hot-path-pw-1"}}
        statuses["login"], body = await call("POST", "/auth/login", login)
        token = body["accessToken"]
        for path in ("/auth/client-config", "/auth/user", "/auth/verify-session",
                     "/auth/mfa/status"):
            statuses[path], _ = await call("GET", path, token=token)
        statuses["toggle"], _ = await call("POST", "/auth/mfa/toggle", {"enabled": False},
                                           token=token)
        statuses["refresh"], _ = await call("POST", "/auth/refresh-token",
                                            {"refreshToken": body["refreshToken"]})
        snapshot("hot path served")
        # The control: a feature that needs one of them does load it.
        statuses["signup"], _ = await call("POST", "/auth/signup", {
            "email": "new@example.com", "password": "a long and unusual passphrase 7"})
        snapshot("after a signup")
    print(json.dumps({"loaded": loaded, "statuses": statuses}))

# Guarded, as every server's entry point is: a serve worker's password-hashing processes
# import the main module.
if __name__ == "__main__":
    LAZY = json.loads(sys.argv[1])
    app = _factory()
    snapshot("app built")
    asyncio.run(main())
'''


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    env.update({
        "AUTHGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'authgate.db'}",
        "AUTHGATE_JWT__SECRET": "a-secret-for-the-import-probe-of-40-chars",
        "AUTHGATE_PASSWORD_HASH__TIME_COST": "1",
        "AUTHGATE_PASSWORD_HASH__MEMORY_COST_KIB": "8",
        "AUTHGATE_PASSWORD_HASH__PARALLELISM": "1",
    })
    return env


def test_every_lazy_module_exists() -> None:
    """A misspelt name would make the test below pass whatever is imported."""
    missing = [m for m in LAZY if importlib.util.find_spec(m) is None]
    assert not missing


def test_server_process_imports_only_what_the_hot_path_needs(tmp_path: Path) -> None:
    env = _env(tmp_path)
    migrated = subprocess.run([str(BIN), "migrate"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
    assert migrated.returncode == 0, migrated.stderr
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    r = subprocess.run([sys.executable, str(probe), json.dumps(sorted(LAZY))], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])

    statuses = out["statuses"]
    assert statuses == {"login": 200, "/auth/client-config": 200, "/auth/user": 200,
                        "/auth/verify-session": 200, "/auth/mfa/status": 200, "toggle": 200,
                        "refresh": 200, "signup": 200}
    loaded = out["loaded"]
    for stage in ("app built", "started", "hot path served"):
        early = {m: LAZY[m] for m in loaded[stage]}
        assert not early, f"{stage}: imported before a feature needed them: {early}"
    assert "zxcvbn" in loaded["after a signup"]  # the probe does see a lazy import happen


def test_redis_error_handler_can_be_left_out() -> None:
    """``http.errors.install(app, redis_errors=False)`` is how a process that does not use
    Redis keeps the redis package out; by default Redis failures are answered with a 503."""
    from fastapi import FastAPI
    from redis.exceptions import RedisClusterException, RedisError

    from authgate.http import errors as http_errors

    default, without = FastAPI(), FastAPI()
    http_errors.install(default)
    http_errors.install(without, redis_errors=False)
    assert RedisError in default.exception_handlers
    assert RedisError not in without.exception_handlers
    # a cluster's failures are not all RedisErrors (no reachable node, uncovered slot)
    assert set(default.exception_handlers) - set(without.exception_handlers) == {
        RedisError, RedisClusterException}
