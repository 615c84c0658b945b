"""``authgate import nest-auth`` against a real nest-auth 2.11.1 database (issue 18 §6).

The real upstream (``shared/peers/nest-auth-2.11.1``, node) runs on PostgreSQL with a
database of its own; users sign up, enrol an authenticator and get recovery codes through its
HTTP API; then the import brings them over and they sign in to authgate with the same
password, the same authenticator and the same recovery codes. Skipped (with the reason) only
when node/npm are absent; the peer (found beside the repository, or ``AUTHGATE_NEST_PEER``)
builds with npm ci on first use and must start within ``START_TIMEOUT``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from authgate.crypto import totp as rfc6238
from authgate.identity.models import User
from authgate.importer.nest_auth import SourceError, import_nest_auth
from authgate.mfa.models import RecoveryCode, TotpDevice
from tests.conftest import PG_ADMIN, Harness, MakeHarness, bearer
from tests.helpers import assert_error, stored_user, user_id_of

PASSWORD = "correct horse battery"
NEST_SECRET = "nest-import-test-" + "0123456789abcdef" * 3
RECOVERY_SECRET = NEST_SECRET + ":trusted-device"
"""The peer's ``mfa.trustedDeviceSecret`` (its app module derives it from JWT_SECRET): what
nest-auth keyed the recovery codes with."""
START_TIMEOUT = 420  # first use runs npm ci; then tsc and start-up take well under a minute


def _peer_dir() -> Path | None:
    env = os.environ.get("AUTHGATE_NEST_PEER")
    if env:
        return Path(env)
    # beside the repository (../shared), else where this machine kind keeps it (a CI clone
    # may live elsewhere)
    places = [p / "shared" for p in Path(__file__).resolve().parents] + [Path("/work/shared")]
    for shared in places:
        candidate = shared / "peers" / "nest-auth-2.11.1"
        if (candidate / "start.sh").is_file():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ADMIN_KEY = "nest-import-admin-console-key-" + "0123456789abcdef" * 2


@dataclass
class Seeded:
    url: str
    """The nest-auth database, as ``authgate import nest-auth --from`` takes it."""
    ada_id: str
    ada_totp: str
    ada_codes: list[str]
    bob_id: str
    tenant_id: str


def _seed_authz(c: httpx.Client, ada_id: str) -> str:
    """Through the admin console's API: a permission, a tenant, a role of that tenant
    carrying the permission, and ada a member of the tenant holding the role."""
    r = c.post("/auth/admin/signup", json={"email": "root@example.com",
                                           "password": "Admin123!pw", "secretKey": ADMIN_KEY})
    assert r.status_code == 201, r.text
    r = c.post("/auth/admin/login", json={"email": "root@example.com", "password": "Admin123!pw"})
    assert r.status_code == 201, r.text
    # the admin cookie's Path is the console's configured base path: send it by hand
    admin = {"cookie": f"nest_auth_admin={r.cookies['nest_auth_admin']}"}
    r = c.post("/auth/admin/api/permissions", json={"name": "reports.read", "guard": "web"},
               headers=admin)
    assert r.status_code == 201, r.text
    r = c.post("/auth/admin/api/tenants", json={"name": "Acme", "slug": "acme"}, headers=admin)
    assert r.status_code == 201, r.text
    tenant = r.json()["tenant"]["id"]
    r = c.post("/auth/admin/api/roles", json={"name": "analyst", "guard": "web",
                                              "tenantId": tenant,
                                              "permissions": ["reports.read"]}, headers=admin)
    assert r.status_code == 201, r.text
    role = r.json()["role"]["id"]
    r = c.patch(f"/auth/admin/api/users/{ada_id}", headers=admin, json={
        "tenantIds": [tenant], "tenantRoles": [{"tenantId": tenant, "roleIds": [role]}]})
    assert r.status_code == 200, r.text
    return str(tenant)


def _seed(base: str) -> tuple[str, str, list[str], str, str]:
    """Through the upstream's HTTP API: ada (TOTP, MFA on, recovery codes, a tenant role),
    bob (password only, plus an authenticator set-up he never confirmed)."""
    with httpx.Client(base_url=base, timeout=60) as c:
        r = c.post("/auth/signup", json={"email": "Ada@Example.com", "password": PASSWORD})
        assert r.status_code == 200, r.text
        ada = {"Authorization": f"Bearer {r.json()['accessToken']}"}
        secret = c.post("/auth/mfa/setup-totp", json={}, headers=ada).json()["secret"]
        code = rfc6238.code_at(secret, datetime.now(UTC), rfc6238.TotpParams())
        r = c.post("/auth/mfa/verify-totp-setup", json={"otp": code, "secret": secret},
                   headers=ada)
        assert r.status_code == 200, r.text
        assert c.post("/auth/mfa/toggle", json={"enabled": True}, headers=ada).status_code == 200
        codes = c.post("/auth/mfa/generate-recovery-code", json={}, headers=ada).json()["codes"]
        ada_id = c.get("/auth/me", headers=ada).json()["id"]
        r = c.post("/auth/signup", json={"email": "bob@example.com", "password": PASSWORD})
        assert r.status_code == 200, r.text
        bob = {"Authorization": f"Bearer {r.json()['accessToken']}"}
        assert c.post("/auth/mfa/setup-totp", json={}, headers=bob).status_code == 200
        bob_id = c.get("/auth/me", headers=bob).json()["id"]
        tenant = _seed_authz(c, ada_id)
    return ada_id, secret, codes, bob_id, tenant


@pytest.fixture(scope="module")
def nest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm absent: the real nest-auth cannot run for the import test")
    peer = _peer_dir()
    if peer is None:
        pytest.fail("the nest-auth peer (shared/peers/nest-auth-2.11.1 beside the repository "
                    "or in /work) "
                    "was not found: set AUTHGATE_NEST_PEER to its directory")
    port = _free_port()
    name = f"nestimport_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    run = tmp_path_factory.mktemp("nest")
    env = {**os.environ, "DB_NAME": name, "FRESH": "1", "JWT_SECRET": NEST_SECRET,
           "ADMIN_CONSOLE": "1", "ADMIN_SECRET_KEY": ADMIN_KEY, "TENANT_MODE": "shared",
           "OTP_LOG": str(run / "otp.log"), "EVENT_LOG": str(run / "events.log")}
    try:
        try:
            started = subprocess.run(["./start.sh", str(port)], cwd=peer, env=env,
                                     capture_output=True, text=True, timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"nest-auth did not start within {START_TIMEOUT}s")
        assert started.returncode == 0, started.stderr[-2000:]
        ada_id, secret, codes, bob_id, tenant = _seed(f"http://127.0.0.1:{port}")
    finally:
        subprocess.run(["./stop.sh", str(port)], cwd=peer, capture_output=True, timeout=60,
                       check=False)
    yield Seeded(f"postgresql://nestref:nestref@127.0.0.1:5432/{name}", ada_id, secret, codes,
                 bob_id, tenant)
    subprocess.run(["psql", PG_ADMIN, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
                   capture_output=True, timeout=60, check=False)


async def _count(h: Harness, model: type) -> int:
    async with h.res.db.reader.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


EVERYTHING = {"users": 2, "totp devices": 1, "recovery codes": 10, "tenants": 1,
              "permissions": 1, "roles": 1, "memberships": 1, "role assignments": 1}


async def test_import_then_sign_in_with_the_old_password_and_authenticator(
        make_harness: MakeHarness, nest: Seeded) -> None:
    h = await make_harness(mfa={"imported_recovery_code_secret": RECOVERY_SECRET},
                           tenant={"mode": "shared"})
    # a dry run counts and writes nothing
    dry = await import_nest_auth(h.res, nest.url, dry_run=True)
    assert dict(dry.imported) == EVERYTHING
    assert await _count(h, User) == 0 and await _count(h, TotpDevice) == 0

    report = await import_nest_auth(h.res, nest.url)
    assert dict(report.imported) == EVERYTHING
    assert not report.present
    assert any("sessions (users sign in again)" in line for line in report.not_imported)
    assert any(f"of user {nest.bob_id}: authenticator set-up never confirmed" in line
               for line in report.not_imported)
    ada = await stored_user(h.res, nest.ada_id)
    assert ada.email == "ada@example.com" and ada.is_mfa_enabled and ada.status == "active"
    assert ada.password_hash and ada.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    async with h.res.sessionmaker() as s:
        device = (await s.execute(select(TotpDevice))).scalar_one()
    assert nest.ada_totp not in device.secret_enc  # encrypted on the way in

    # idempotent: a second run changes nothing
    again = await import_nest_auth(h.res, nest.url)
    assert not again.imported
    assert dict(again.present) == {"users": 2, "totp devices": 1, "recovery codes": 10,
                                   "tenants": 1, "permissions": 1, "roles": 1, "memberships": 1}
    assert await _count(h, User) == 2 and await _count(h, RecoveryCode) == 10

    # the same password (argon2 hash verified unchanged, then rehashed to our parameters)
    r = await h.login("ada@example.com", PASSWORD)
    assert r.status_code == 200, r.text
    assert r.json()["isRequiresMfa"] is True and r.json()["mfaMethods"] == ["totp"]
    pending = r.json()["accessToken"]
    code = rfc6238.code_at(nest.ada_totp, h.clock.now(), rfc6238.TotpParams())
    r = await h.client.post("/auth/mfa/verify", json={"method": "totp", "otp": code},
                            headers=bearer(pending))
    assert r.status_code == 200, r.text
    r = await h.client.get("/auth/user", headers=bearer(r.json()["accessToken"]))
    assert r.status_code == 200 and r.json()["id"] == nest.ada_id
    rehashed = (await stored_user(h.res, nest.ada_id)).password_hash
    assert rehashed and "m=65536,t=3,p=4" not in rehashed

    # an upstream recovery code works once
    pending = (await h.login("ada@example.com", PASSWORD)).json()["accessToken"]
    r = await h.client.post("/auth/mfa/verify-recovery-code", json={"code": nest.ada_codes[3]},
                            headers=bearer(pending))
    assert r.status_code == 200, r.text
    pending = (await h.login("ada@example.com", PASSWORD)).json()["accessToken"]
    r = await h.client.post("/auth/mfa/verify-recovery-code", json={"code": nest.ada_codes[3]},
                            headers=bearer(pending))
    assert_error(r, 401, "MFA_RECOVERY_CODE_INVALID")
    # a wrong password stays wrong; bob signs in without MFA
    assert_error(await h.login("ada@example.com", "not the password"), 401, "INVALID_CREDENTIALS")
    r = await h.login("bob@example.com", PASSWORD)
    assert r.status_code == 200 and r.json()["isRequiresMfa"] is False, r.text
    assert await user_id_of(h.res, "bob@example.com") == nest.bob_id

    # the tenant, its role and ada's membership came along: signed in to the tenant, she
    # holds the role and its permission
    r = await h.login("ada@example.com", PASSWORD, tenantId=nest.tenant_id)
    assert r.status_code == 200, r.text
    h.clock.advance(30)  # the next TOTP step (the one above is spent)
    code = rfc6238.code_at(nest.ada_totp, h.clock.now(), rfc6238.TotpParams())
    r = await h.client.post("/auth/mfa/verify", json={"method": "totp", "otp": code},
                            headers=bearer(r.json()["accessToken"]))
    assert r.status_code == 200, r.text
    me = (await h.client.get("/auth/me", headers=bearer(r.json()["accessToken"]))).json()
    assert [role["name"] for role in me["roles"]] == ["analyst"]
    assert me["permissions"] == ["reports.read"]
    r = await h.client.get("/auth/tenants/lookup", params={"slug": "acme"})
    assert r.status_code == 200 and r.json()["id"] == nest.tenant_id, r.text


async def test_recovery_codes_need_the_nest_secret(h: Harness, nest: Seeded) -> None:
    report = await import_nest_auth(h.res, nest.url)
    assert any("mfa.imported_recovery_code_secret" in line for line in report.not_imported)
    pending = (await h.login("ada@example.com", PASSWORD)).json()["accessToken"]
    r = await h.client.post("/auth/mfa/verify-recovery-code", json={"code": nest.ada_codes[0]},
                            headers=bearer(pending))
    assert_error(r, 401, "MFA_RECOVERY_CODE_INVALID")


async def test_conflicts_are_reported_not_overwritten(h: Harness, nest: Seeded) -> None:
    other = await h.make_user("bob@example.com", password="another password 123")
    report = await import_nest_auth(h.res, nest.url)
    assert report.imported["users"] == 1
    assert any(f"user {nest.bob_id}: email bob@example.com already belongs to user {other.id}"
               in line for line in report.not_imported)
    assert (await h.login("bob@example.com", "another password 123")).status_code == 200


async def test_bad_sources(h: Harness, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="postgresql:// or sqlite:///"):
        await import_nest_auth(h.res, "mysql://x@localhost/db")
    with pytest.raises(SourceError, match="cannot read nest_auth_users"):
        await import_nest_auth(h.res, f"sqlite:///{tmp_path / 'empty.db'}")


def test_cli_dry_run_and_import(nest: Seeded, tmp_path: Path) -> None:
    bin_ = Path(sys.executable).with_name("authgate")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    env.update({"AUTHGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
                "AUTHGATE_JWT__SECRET": "cli-import-secret-" + secrets.token_hex(16),
                "AUTHGATE_DEV_MODE": "true"})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(bin_), "import", "nest-auth", "--from", nest.url, *args],
                              cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120, check=False)

    dry = run("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing written" in dry.stdout
    assert "users: 2 to import" in dry.stdout and "nestref:***@" in dry.stdout
    assert "nestref:nestref" not in dry.stdout
    done = run()
    assert done.returncode == 0, done.stderr
    assert "users: 2 imported, 0 already there" in done.stdout
    assert "not imported:" in done.stdout and "never confirmed" in done.stdout
    again = run()
    assert "users: 0 imported, 2 already there" in again.stdout
    bad = subprocess.run([str(bin_), "import", "nest-auth", "--from", "mysql://h/db"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
                         check=False)
    assert bad.returncode == 2 and "postgresql:// or sqlite:///" in bad.stderr
