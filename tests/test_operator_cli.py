"""The operator commands, driven for real: ``authgate users list|show|disable|enable``,
``sessions revoke``, ``mfa reset``, ``unlock`` and ``purge``, through typer's runner against
the test databases (SQLite and PostgreSQL, with Redis), and as a subprocess on a SQLite
file. Every command's failure modes: unknown user, bad input, an email naming several
accounts, the database down, the purge lock taken."""

from __future__ import annotations

import asyncio
import fcntl
import getpass
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from authgate.admin.actor import Operator
from authgate.admin.users import NewUser, create_user
from authgate.audit.models import AuditEvent
from authgate.cli.main import app
from authgate.db import new_id
from authgate.identity.models import User
from authgate.mfa import recovery_codes
from authgate.mfa.models import RecoveryCode, TotpDevice, TrustedDevice
from authgate.tenancy.service import create_tenant
from authgate.throttling import attempts
from authgate.tx import transaction
from tests.conftest import CHEAP_HASH, TEST_SECRET, Harness, MakeHarness, bearer
from tests.test_cli import CHEAP_ENV, _run

PASSWORD = "correct horse battery"


def _config(h: Harness, tmp_path: Path) -> Path:
    """A configuration file naming the harness's database and Redis, as an operator's
    would on the server."""
    s = h.settings
    path = tmp_path / f"authgate-{new_id()}.json"
    path.write_text(json.dumps({
        "database_url": s.database_url, "redis_url": s.redis_url,
        "redis_prefix": s.redis_prefix, "jwt": {"secret": TEST_SECRET},
        "password_hash": CHEAP_HASH, "dev_mode": True, "auto_migrate": False,
        "tenant": {"mode": s.tenant.mode}, "housekeeping": {"enabled": False},
        "notifications": {"security_emails": False}}))
    return path


async def cli(h: Harness, tmp_path: Path, *args: str) -> Result:
    """Run ``authgate ARGS --config <the harness's>`` in a thread (it runs its own loop)."""
    config = _config(h, tmp_path)
    return await asyncio.to_thread(CliRunner().invoke, app, [*args, "--config", str(config)])


def _json(r: Result) -> Any:
    assert r.exit_code == 0, (r.exit_code, r.stdout, r.stderr)
    return json.loads(r.stdout)


async def _audit(h: Harness) -> list[AuditEvent]:
    """The operator's own records in the audit trail (not the events its changes caused)."""
    async with h.res.readmaker() as s:
        rows = (await s.execute(select(AuditEvent).order_by(AuditEvent.at, AuditEvent.id))
                ).scalars().all()
    return [r for r in rows if r.details.get("via") == "cli"]


async def _trust(h: Harness, user_id: str) -> str:
    now = h.clock.now()
    tid = new_id()
    async with h.res.sessionmaker() as s:
        s.add(TrustedDevice(id=tid, user_id=user_id, token_hash=new_id(),
                            expires_at=now.replace(year=now.year + 1), created_at=now))
        await s.commit()
    return tid


# users list / show ------------------------------------------------------------------------------
async def test_users_list(h: Harness, tmp_path: Path) -> None:
    for email in ("ann@example.com", "bob@example.com", "cy@other.example"):
        await h.make_user(email)
    data = _json(await cli(h, tmp_path, "users", "list", "--json"))
    assert data["total"] == 3 and {u["email"] for u in data["users"]} == {
        "ann@example.com", "bob@example.com", "cy@other.example"}
    assert set(data["users"][0]) == {"id", "email", "phone", "status", "emailVerified",
                                     "phoneVerified", "mfaEnabled", "tenantId", "createdAt"}
    some = _json(await cli(h, tmp_path, "users", "list", "--limit", "2", "--json"))
    assert some["total"] == 3 and len(some["users"]) == 2
    found = _json(await cli(h, tmp_path, "users", "list", "--search", "OTHER.ex", "--json"))
    assert [u["email"] for u in found["users"]] == ["cy@other.example"]
    r = await cli(h, tmp_path, "users", "list", "--search", "example.com")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "EMAIL", "PHONE", "STATUS", "VERIFIED", "MFA", "CREATED"]
    assert len(lines) == 3 and "2 of 2 user(s)" in r.stderr
    bad = await cli(h, tmp_path, "users", "list", "--status", "sleeping")
    assert bad.exit_code == 2
    bad = await cli(h, tmp_path, "users", "list", "--limit", "0")
    assert bad.exit_code == 2


async def test_users_show_by_email_or_id_without_secrets(h: Harness, tmp_path: Path) -> None:
    u = await h.make_user("ann@example.com", totp=True, mfa=True, tokens=True, verified=True)
    by_email = _json(await cli(h, tmp_path, "users", "show", "ANN@example.com", "--json"))
    by_id = _json(await cli(h, tmp_path, "users", "show", u.id, "--json"))
    assert by_email == by_id
    assert by_id["id"] == u.id and by_id["mfaEnabled"] and by_id["emailVerified"]
    assert by_id["hasPassword"] and "totp" in by_id["mfaMethods"]
    assert [t["verified"] for t in by_id["totpDevices"]] == [True]
    assert len(by_id["sessions"]) == 1
    text = (await cli(h, tmp_path, "users", "show", u.id)).stdout
    assert "email:" in text and "ann@example.com" in text and "sessions: 1" in text
    async with h.res.readmaker() as s:
        row = (await s.execute(select(User).where(User.id == u.id))).scalar_one()
        device = (await s.execute(select(TotpDevice))).scalar_one()
    for out in (json.dumps(by_id), text):
        assert row.password_hash is not None and row.password_hash not in out
        assert device.secret_enc not in out and (u.totp_secret or "?") not in out


@pytest.mark.parametrize("command", [["users", "show", "{}"], ["users", "disable", "{}"],
                                     ["users", "enable", "{}"],
                                     ["sessions", "revoke", "--user", "{}"],
                                     ["mfa", "reset", "--user", "{}"],
                                     ["unlock", "--user", "{}"]])
async def test_every_user_command_refuses_unknown_or_bad_input(
        h: Harness, tmp_path: Path, command: list[str]) -> None:
    for ref, code in (("nobody@example.com", "USER_NOT_FOUND"),
                      (new_id(), "USER_NOT_FOUND"),
                      ("not an email", "INVALID_INPUT")):
        args = [a.replace("{}", ref) for a in command]
        r = await cli(h, tmp_path, *args)
        assert r.exit_code == 1 and f"authgate: {code}: " in r.stderr, (args, r.stderr)
        assert r.stdout == ""
        r = await cli(h, tmp_path, *args, "--json")
        assert r.exit_code == 1 and json.loads(r.stderr)["error"]["code"] == code
    tenant = await cli(h, tmp_path, *[a.replace("{}", "a@example.com") for a in command],
                       "--tenant", new_id())
    assert tenant.exit_code == 1 and "INVALID_INPUT" in tenant.stderr  # tenancy is off
    assert await _audit(h) == []  # nothing happened, nothing recorded


# disable / enable ---------------------------------------------------------------------------------
async def test_disable_ends_sessions_and_trust_then_enable(h: Harness, tmp_path: Path) -> None:
    u = await h.make_user("ann@example.com", tokens=True)
    other = await h.make_user("bob@example.com", tokens=True)
    assert u.access_token and other.access_token
    await _trust(h, u.id)
    r = await cli(h, tmp_path, "users", "disable", "ann@example.com")
    assert r.exit_code == 0, r.stderr
    assert f"ann@example.com ({u.id}): disabled" in r.stdout
    assert (await h.client.get("/auth/user", headers=bearer(u.access_token))).status_code == 401
    assert (await h.client.get("/auth/user", headers=bearer(other.access_token))
            ).status_code == 200
    async with h.res.readmaker() as s:
        trust = (await s.execute(select(TrustedDevice))).scalar_one()
    assert trust.revoked_at is not None
    login = await h.login("ann@example.com", PASSWORD)
    assert login.status_code == 401 and login.json()["code"] == "ACCOUNT_INACTIVE"
    data = _json(await cli(h, tmp_path, "users", "enable", u.id, "--json"))
    assert data["status"] == "active" and data["id"] == u.id
    assert (await h.login("ann@example.com", PASSWORD)).status_code == 200
    entries = await _audit(h)
    assert [(e.event, e.target, e.actor_type, e.user_id) for e in entries] == [
        ("user.update", u.id, "cli", u.id), ("user.update", u.id, "cli", u.id)]
    assert entries[0].actor_id == getpass.getuser()[:36]
    assert entries[0].details["via"] == "cli"
    assert entries[0].details["operator"] == getpass.getuser()
    assert entries[0].details["sessionsEnded"] is True
    assert entries[1].details["sessionsEnded"] is False


# sessions revoke --------------------------------------------------------------------------------
async def test_sessions_revoke(h: Harness, tmp_path: Path) -> None:
    u = await h.make_user("ann@example.com", tokens=True)
    assert (await h.login("ann@example.com", PASSWORD)).status_code == 200
    data = _json(await cli(h, tmp_path, "sessions", "revoke", "--user", "ann@example.com",
                           "--json"))
    assert data == {"id": u.id, "email": "ann@example.com", "sessionsEnded": 2}
    assert u.access_token is not None
    assert (await h.client.get("/auth/user", headers=bearer(u.access_token))).status_code == 401
    r = await cli(h, tmp_path, "sessions", "revoke", "--user", u.id)
    assert r.exit_code == 0 and "0 session(s) ended" in r.stdout
    assert [e.details["count"] for e in await _audit(h)] == [2, 0]


# mfa reset --------------------------------------------------------------------------------------
async def test_mfa_reset(h: Harness, tmp_path: Path) -> None:
    u = await h.make_user("ann@example.com", totp=True, mfa=True, tokens=True)
    bob = await h.make_user("bob@example.com", totp=True, mfa=True)
    async with transaction(h.res.sessionmaker) as tx:
        await recovery_codes.generate(h.res, tx, u.id)
        await recovery_codes.generate(h.res, tx, bob.id)
    await _trust(h, u.id)
    login = await h.login("ann@example.com", PASSWORD)
    assert login.json()["isRequiresMfa"] is True
    data = _json(await cli(h, tmp_path, "mfa", "reset", "--user", "ann@example.com", "--json"))
    assert data == {"id": u.id, "email": "ann@example.com", "mfaWasEnabled": True,
                    "totpDevices": 1, "recoveryCodes": 10, "trustedDevices": 1,
                    "passkeys": 0, "sessionsEnded": 2}
    async with h.res.readmaker() as s:
        assert (await s.execute(select(User.is_mfa_enabled).where(User.id == u.id))
                ).scalar_one() is False
        left = (await s.execute(select(TotpDevice.user_id))).scalars().all()
        codes = (await s.execute(select(RecoveryCode.user_id))).scalars().all()
    assert left == [bob.id] and set(codes) == {bob.id}  # another user's factors untouched
    assert u.access_token is not None
    assert (await h.client.get("/auth/user", headers=bearer(u.access_token))).status_code == 401
    after = await h.login("ann@example.com", PASSWORD)
    assert after.status_code == 200 and not after.json().get("isRequiresMfa")  # no 2nd step
    [entry] = await _audit(h)
    assert entry.event == "user.mfa.reset" and entry.target == u.id
    assert entry.details["via"] == "cli" and entry.details["totpDevices"] == 1
    async with h.res.readmaker() as s:  # the events the reset caused are the operator's too
        caused = (await s.execute(select(AuditEvent).where(
            AuditEvent.user_id == u.id,
            AuditEvent.event.in_(("mfa.disabled", "mfa.device_removed"))))).scalars().all()
    assert caused and {(e.actor_type, e.actor_id) for e in caused} == {
        ("cli", getpass.getuser()[:36])}
    r = await cli(h, tmp_path, "mfa", "reset", "--user", u.id)  # again: nothing left
    assert r.exit_code == 0 and "MFA reset (was off)" in r.stdout


# unlock ------------------------------------------------------------------------------------------
async def test_unlock_lifts_the_lockout_and_attempt_blocks(make_harness: MakeHarness,
                                                           tmp_path: Path) -> None:
    h = await make_harness(rate_limit={"lockout": {"max_failures": 3,
                                                   "account_max_failures": 3}})
    u = await h.make_user("ann@example.com")
    for _ in range(3):
        assert (await h.login("ann@example.com", "wrong password!!")).status_code == 401
    locked = await h.login("ann@example.com", PASSWORD)
    assert locked.status_code == 429 and locked.json()["code"] == "ACCOUNT_LOCKED"
    for _ in range(h.settings.mfa.max_attempts):
        await attempts.count(h.res, attempts.MFA_SCOPE, u.id)
    data = _json(await cli(h, tmp_path, "unlock", "--user", "ann@example.com", "--json"))
    assert data["id"] == u.id and data["lockSecondsLeft"] > 0 and data["mfaSecondsLeft"] > 0
    assert (await h.login("ann@example.com", PASSWORD)).status_code == 200
    assert await attempts.blocked_for(h.res, attempts.MFA_SCOPE, u.id) is None
    r = await cli(h, tmp_path, "unlock", "--user", u.id)
    assert r.exit_code == 0 and "no account lock; no second-factor block" in r.stdout
    assert [e.event for e in await _audit(h)] == ["user.unlock", "user.unlock"]


# isolated tenants ---------------------------------------------------------------------------------
async def test_an_email_in_several_tenants_needs_tenant(make_harness: MakeHarness,
                                                        tmp_path: Path) -> None:
    h = await make_harness(tenant={"mode": "isolated"})
    one = await create_tenant(h.res, name="One", slug="one")
    two = await create_tenant(h.res, name="Two", slug="two")
    op = Operator("test")
    a = await create_user(h.res, op, NewUser(email="ann@example.com", password=PASSWORD,
                                             tenant_id=one.id))
    await create_user(h.res, op, NewUser(email="ann@example.com", password=PASSWORD,
                                         tenant_id=two.id))
    r = await cli(h, tmp_path, "users", "disable", "ann@example.com")
    assert r.exit_code == 1 and "TENANT_ID_REQUIRED" in r.stderr
    assert one.id in r.stderr and two.id in r.stderr and "--tenant" in r.stderr
    r = await cli(h, tmp_path, "users", "disable", "ann@example.com", "--tenant", one.id)
    assert r.exit_code == 0 and a.user.id in r.stdout
    async with h.res.readmaker() as s:
        statuses = dict((await s.execute(select(User.tenant_scope, User.status))).all())
    assert statuses == {one.id: "inactive", two.id: "active"}
    r = await cli(h, tmp_path, "users", "show", a.user.id, "--tenant", two.id)
    assert r.exit_code == 1 and "USER_NOT_FOUND" in r.stderr  # the id is another tenant's
    r = await cli(h, tmp_path, "users", "show", "ann@example.com", "--tenant", new_id())
    assert r.exit_code == 1 and "TENANT_NOT_FOUND" in r.stderr


# outages ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [["users", "list"], ["users", "show", "a@example.com"],
                                     ["users", "disable", "a@example.com"],
                                     ["sessions", "revoke", "--user", "a@example.com"],
                                     ["mfa", "reset", "--user", "a@example.com"],
                                     ["unlock", "--user", "a@example.com"], ["purge"]])
def test_database_down_exits_3(tmp_path: Path, command: list[str]) -> None:
    config = tmp_path / "down.json"
    config.write_text(json.dumps({
        "database_url": "postgresql+asyncpg://authgate@127.0.0.1:1/authgate",
        "jwt": {"secret": TEST_SECRET}, "dev_mode": True}))
    r = CliRunner().invoke(app, [*command, "--config", str(config), "--json"])
    assert r.exit_code == 3, (r.stdout, r.stderr)
    assert json.loads(r.stderr.strip().splitlines()[-1])["error"]["code"] == \
        "SERVICE_UNAVAILABLE"
    assert "Traceback" not in r.stderr


# purge and the commands as a subprocess -----------------------------------------------------------
def _sqlite_rows(path: Path, sql: str) -> Any:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_purge_and_operator_commands_as_a_subprocess(tmp_path: Path) -> None:
    env = {**CHEAP_ENV, "AUTHGATE_HOUSEKEEPING__GRACE": "1s"}
    assert _run(["migrate"], tmp_path, **env).returncode == 0
    db = tmp_path / "authgate.db"
    past, now = "2020-01-01 00:00:00.000000", "2999-01-01 00:00:00.000000"
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO authgate_users (id, email, status, is_mfa_enabled, "
                     "must_change_password, mfa_strong_factor_required, metadata, "
                     "tenant_scope, created_at, updated_at) VALUES ('11111111-1111-4111-8111-"
                     "111111111111', 'ann@example.com', 'active', 0, 0, 0, '{}', '', ?, ?)",
                     (past, past))
        for purpose, expires in (("email_verification", past), ("password_reset_token", now)):
            conn.execute("INSERT INTO authgate_one_time_codes (id, user_id, purpose, channel, "
                         "code_hash, attempts, expires_at, sent_at, created_at) VALUES (?, "
                         "'11111111-1111-4111-8111-111111111111', ?, 'email', 'h', 0, ?, ?, ?)",
                         (new_id(), purpose, expires, past, past))
        conn.executemany("INSERT INTO authgate_counters (key, window_start, count, expires_at) "
                         "VALUES (?, ?, 1, ?)", [(f"k{i}", past, past) for i in range(3)])
    r = _run(["purge", "--dry-run"], tmp_path, **env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "dry run: nothing deleted"
    rows = {line.split()[0]: line.split()[1] for line in r.stdout.splitlines()[2:]}
    assert rows["one-time-codes"] == "1" and rows["counters"] == "3" and rows["total"] == "4"
    assert _sqlite_rows(db, "SELECT count(*) FROM authgate_counters") == [(3,)]
    r = _run(["purge", "--json"], tmp_path, **env)
    report = json.loads(r.stdout)
    assert r.returncode == 0 and report["ran"] and report["lock"] == "file"
    assert report["kinds"]["one-time-codes"] == 1 and report["total"] == 4
    assert _sqlite_rows(db, "SELECT purpose FROM authgate_one_time_codes") == [
        ("password_reset_token",)]  # the live reset token stays
    # another process (the server's schedule) holds the lock: skipped, exit 4
    fd = os.open(tmp_path / "authgate.db.purge-lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        busy = _run(["purge"], tmp_path, **env)
        assert busy.returncode == 4 and "another process holds the purge lock" in busy.stderr
        assert _run(["purge", "--dry-run"], tmp_path, **env).returncode == 0  # takes no lock
    finally:
        os.close(fd)
    assert _run(["purge"], tmp_path, **env).returncode == 0
    bad = _run(["purge", "--kind", "users"], tmp_path, **env)
    assert bad.returncode == 2 and "unknown kind(s): users" in bad.stderr
    # the support commands, for real
    r = _run(["users", "show", "ann@example.com", "--json"], tmp_path, **env)
    assert r.returncode == 0 and json.loads(r.stdout)["email"] == "ann@example.com"
    r = _run(["users", "disable", "ann@example.com"], tmp_path, **env)
    assert r.returncode == 0, r.stderr
    [(action, details)] = _sqlite_rows(db, "SELECT event, details FROM authgate_audit_log "
                                           "WHERE actor_type = 'cli' AND event = 'user.update'")
    assert action == "user.update"
    assert json.loads(details)["via"] == "cli"
    r = _run(["users", "show", "bob@example.com"], tmp_path, **env)
    assert r.returncode == 1 and "USER_NOT_FOUND" in r.stderr


def test_a_database_without_the_schema_is_named(tmp_path: Path) -> None:
    """Not migrated (PostgreSQL, or SQLite with auto_migrate off): a clear hint, exit 2."""
    config = tmp_path / "fresh.json"
    config.write_text(json.dumps({
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}", "auto_migrate": False,
        "jwt": {"secret": TEST_SECRET}, "dev_mode": True}))
    for command in (["users", "list"], ["purge"], ["unlock", "--user", "a@example.com"]):
        r = CliRunner().invoke(app, [*command, "--config", str(config)])
        assert r.exit_code == 2, (r.stdout, r.stderr)
        assert "SCHEMA_OUTDATED" in r.stderr and "authgate migrate" in r.stderr
