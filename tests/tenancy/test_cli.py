"""``authgate tenant …`` / ``authgate role …`` as real subprocesses on a SQLite file, then the
HTTP routes see what they wrote."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.test_cli import CHEAP_ENV, _run

SHARED = {"AUTHGATE_TENANT__MODE": "shared", **CHEAP_ENV}


def test_tenant_and_role_commands(tmp_path: Path) -> None:
    r = _run(["tenant", "create", "Acme Inc", "--slug", "acme"], tmp_path, **SHARED)
    assert r.returncode == 0, r.stderr
    tenant = r.stdout.strip().splitlines()[-1]
    dup = _run(["tenant", "create", "Other", "--slug", "acme"], tmp_path, **SHARED)
    assert dup.returncode == 1 and "TENANT_ALREADY_EXISTS" in dup.stderr
    bad = _run(["tenant", "create", "Bad", "--slug", "Not A Slug"], tmp_path, **SHARED)
    assert bad.returncode == 1 and "INVALID_SLUG_FORMAT" in bad.stderr
    r = _run(["tenant", "list"], tmp_path, **SHARED)
    assert r.stdout.strip().splitlines()[-1].split("\t") == [tenant, "acme", "active",
                                                            "Acme Inc"]
    r = _run(["role", "create", "editor", "--tenant", tenant, "--permission", "posts.write",
              "--permission", "posts.read"], tmp_path, **SHARED)
    assert r.returncode == 0, r.stderr
    role = r.stdout.strip().splitlines()[-1]
    r = _run(["role", "list"], tmp_path, **SHARED)
    assert f"{role}\t{tenant}\tweb\teditor\tposts.read,posts.write" in r.stdout
    # no such account yet
    r = _run(["tenant", "add-member", tenant, "ann@example.com", "--role", "editor"], tmp_path,
             **SHARED)
    assert r.returncode == 1 and "USER_NOT_FOUND" in r.stderr
    with sqlite3.connect(tmp_path / "authgate.db") as conn:
        conn.execute("INSERT INTO authgate_users (id, email, status, is_mfa_enabled, "
                     "must_change_password, mfa_strong_factor_required, metadata, tenant_scope, "
                     "created_at, updated_at) VALUES ('u1', 'ann@example.com', 'active', 0, 0, 0, "
                     "'{}', '', '2026-01-01', '2026-01-01')")
    r = _run(["tenant", "add-member", tenant, "ann@example.com", "--role", "nope"], tmp_path,
             **SHARED)
    assert r.returncode == 1 and "ROLE_NOT_FOUND" in r.stderr
    r = _run(["tenant", "add-member", tenant, "ann@example.com", "--role", "editor"], tmp_path,
             **SHARED)
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == "u1", r.stderr
    with sqlite3.connect(tmp_path / "authgate.db") as conn:
        assert conn.execute("SELECT count(*) FROM authgate_membership_roles").fetchone() == (1,)
        assert conn.execute("SELECT tenant_id, is_default FROM authgate_memberships"
                            ).fetchall() == [(tenant, 1)]
