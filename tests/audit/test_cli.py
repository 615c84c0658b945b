"""``authgate audit`` as a real subprocess on the test database: table and JSON output,
filters, and its refusals."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from authgate import background
from authgate.audit import trail
from tests.conftest import Harness
from tests.test_cli import CHEAP_ENV, _run


async def test_audit_command(h: Harness, tmp_path: Path) -> None:
    u = await h.make_user("ann@example.com")
    assert (await h.login("ann@example.com")).status_code == 200
    assert (await h.login("ann@example.com", password="wrong one")).status_code == 401
    other = await h.make_user("ben@example.com")
    assert (await h.login("ben@example.com")).status_code == 200
    await background.drain(h.res)
    await trail.write(h.res, [trail.make_row(
        h.res, "user.logged_in", actor_type="user", user_id=u.id,
        at=h.clock.now() - timedelta(days=30))])
    env = {"AUTHGATE_DATABASE_URL": h.settings.database_url, **CHEAP_ENV}

    r = _run(["audit", "--user", "ann@example.com", "--json"], tmp_path, **env)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["event"] for x in rows] == ["user.login_failed", "user.logged_in",
                                          "user.logged_in"]
    assert {x["userId"] for x in rows} == {u.id}
    assert rows[0]["outcome"] == "failure" and rows[0]["ip"] == "127.0.0.1"

    r = _run(["audit", "--user", u.id, "--since", "7d", "--event", "user.logged_in"],
             tmp_path, **env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["time", "event", "outcome", "actor", "user", "target", "ip"]
    assert len(lines) == 2 and "user.logged_in" in lines[1] and u.id in lines[1]

    r = _run(["audit", "--limit", "2", "--json"], tmp_path, **env)
    got = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(got) == 2 and got[0]["userId"] == other.id  # newest first

    r = _run(["audit", "--event", "mfa.*", "--json"], tmp_path, **env)
    assert r.returncode == 0 and r.stdout == ""

    since = (h.clock.now() - timedelta(days=31)).isoformat()
    until = (h.clock.now() - timedelta(days=29)).strftime("%Y-%m-%dT%H:%M:%S")
    r = _run(["audit", "--since", since, "--until", until, "--json"], tmp_path, **env)
    assert [json.loads(x)["userId"] for x in r.stdout.splitlines()] == [u.id]

    bad = _run(["audit", "--since", "last tuesday"], tmp_path, **env)
    assert bad.returncode == 2 and "--since" in bad.stderr
    bad = _run(["audit", "--outcome", "maybe"], tmp_path, **env)
    assert bad.returncode == 1 and "INVALID_INPUT" in bad.stderr
    bad = _run(["audit", "--limit", "0"], tmp_path, **env)
    assert bad.returncode == 2


def test_audit_command_without_its_database(tmp_path: Path) -> None:
    """The operator commands' exit codes: 3 when the database cannot be reached."""
    env = {"AUTHGATE_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:9/authgate",
           "AUTHGATE_JWT__SECRET": "audit-cli-test-secret-0123456789abcdef",
           "AUTHGATE_DELIVERY__SMTP__HOST": "127.0.0.1", **CHEAP_ENV}
    r = _run(["audit", "--json"], tmp_path, **env)
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert json.loads(r.stderr.strip().splitlines()[-1])["error"]["code"] == "SERVICE_UNAVAILABLE"
