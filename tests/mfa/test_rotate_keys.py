"""``authgate rotate-keys``: every stored TOTP seed ends up under the first configured key,
and authenticators keep working across the rotation. Runs the real CLI in a subprocess."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, update

from authgate.errors import AuthError, Code
from authgate.mfa.models import TotpDevice
from authgate.tx import transaction
from tests.conftest import TEST_SECRET, Harness, MakeHarness, bearer
from tests.mfa.helpers import (
    code,
    enable_mfa,
    enroll,
    finish_with_totp,
    pending_login,
    signup_token,
)

OLD = "old:" + base64.b64encode(b"\x01" * 32).decode()
NEW = "new:" + base64.urlsafe_b64encode(b"\xfe" * 32).decode().rstrip("=")


async def _cli(tmp_path: Path, database_url: str, keys: list[str]) -> tuple[int, str, str]:
    cfg = tmp_path / f"authgate-{len(keys)}-{keys[0][:3]}.json"
    cfg.write_text(json.dumps({"database_url": database_url, "jwt": {"secret": TEST_SECRET},
                               "mfa": {"encryption_keys": keys}}))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "authgate", "rotate-keys", "--config", str(cfg),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _kids(h: Harness) -> list[str]:
    async with h.res.readmaker() as s:
        rows = (await s.execute(select(TotpDevice.secret_enc))).scalars().all()
    return sorted(r.split(":", 1)[0] for r in rows)


async def test_rotate_keys_reencrypts_and_logins_keep_working(
        make_harness: MakeHarness, database_url: str, tmp_path: Path) -> None:
    before = await make_harness(mfa={"encryption_keys": [OLD]})
    secrets_ = {}
    for email in ("alice@example.com", "bob@example.com"):
        token = await signup_token(before, email)
        secrets_[email] = await enroll(before, token)
        await enable_mfa(before, token)
    assert await _kids(before) == ["old", "old"]

    rc, out, err = await _cli(tmp_path, database_url, [NEW, OLD])
    assert rc == 0, err
    assert out.strip() == "active key new: 2 re-encrypted, 0 already current, 0 failed"
    assert await _kids(before) == ["new", "new"]

    # A server that knows only the new key signs both users in with their authenticators.
    after = await make_harness(mfa={"encryption_keys": [NEW]})
    after.clock.set(before.clock.now())
    for email, secret in secrets_.items():
        pending = (await pending_login(after, email))["accessToken"]
        tokens = await finish_with_totp(after, pending, code(after, secret))
        r = await after.client.get("/auth/user", headers=bearer(tokens.access_token))
        assert r.status_code == 200

    rc, out, _ = await _cli(tmp_path, database_url, [NEW, OLD])
    assert rc == 0 and out.strip() == "active key new: 0 re-encrypted, 2 already current, 0 failed"


async def test_rotate_keys_reports_undecryptable_rows_and_bad_keys(
        make_harness: MakeHarness, database_url: str, tmp_path: Path) -> None:
    h = await make_harness(mfa={"encryption_keys": [OLD]})
    await enroll(h, await signup_token(h))
    async with transaction(h.res.sessionmaker) as tx:
        await tx.session.execute(update(TotpDevice).values(secret_enc="gone:AAAA"))
    rc, out, _ = await _cli(tmp_path, database_url, [NEW, OLD])
    assert rc == 1 and "0 re-encrypted, 0 already current, 1 failed" in out
    rc, _, err = await _cli(tmp_path, database_url, ["new:not-a-key"])
    assert rc == 2 and "mfa.encryption_keys" in err
    # The derived key is used (kid d0) when none is configured.
    h2 = await make_harness()
    await enroll(h2, await signup_token(h2, "carol@example.com"))
    assert "d0" in await _kids(h2)


async def test_malformed_key_stops_start_up_and_unreadable_seed_never_crashes_login(
        make_harness: MakeHarness) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        await make_harness(mfa={"encryption_keys": ["k1:tooshort"]})
    h = await make_harness(mfa={"encryption_keys": [OLD]})
    token = await signup_token(h)
    secret = await enroll(h, token)
    await enable_mfa(h, token)
    async with transaction(h.res.sessionmaker) as tx:
        await tx.session.execute(update(TotpDevice).values(secret_enc="gone:AAAA"))
    pending = (await pending_login(h))["accessToken"]
    with pytest.raises(AuthError) as err:
        await finish_with_totp(h, pending, code(h, secret))
    assert err.value.code == Code.MFA_CODE_INVALID
