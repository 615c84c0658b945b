"""Trusted devices: issued on a successful second factor with ``trustDevice``, they skip
the MFA step at later logins of the same user until they expire or are revoked."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from authgate.crypto.keys import keyed_hash
from authgate.mfa.models import TrustedDevice
from tests.conftest import Harness, MakeHarness, bearer
from tests.mfa.helpers import enable_mfa, pending_login

TRUST = "nest_auth_device_trust"


async def _mfa_user(h: Harness, email: str = "alice@example.com") -> tuple[str, list[str]]:
    u = await h.make_user(email, verified=True, totp=True, tokens=True)  # rows, directly
    assert u.access_token is not None
    token = u.access_token
    await enable_mfa(h, token)
    r = await h.client.post("/auth/mfa/generate-recovery-code", headers=bearer(token))
    codes: list[str] = r.json()["codes"]
    return token, codes


async def _trust_via_recovery(h: Harness, email: str, code: str) -> str:
    pending = (await pending_login(h, email))["accessToken"]
    r = await h.client.post("/auth/mfa/verify-recovery-code",
                            json={"code": code, "trustDevice": True}, headers=bearer(pending))
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["accessToken", "refreshToken", "isRequiresMfa", "trustToken", "message"]
    token: str = body["trustToken"]
    return token


async def _login_skips_mfa(h: Harness, trust: str, email: str = "alice@example.com") -> bool:
    body = await pending_login(h, email, headers={TRUST: trust})
    if body["isRequiresMfa"]:
        return False
    r = await h.client.get("/auth/user", headers=bearer(body["accessToken"]))
    assert r.status_code == 200, r.text  # the session is verified, not merely "not pending"
    return True


async def test_header_mode_trust_token_skips_mfa(h: Harness) -> None:
    _, codes = await _mfa_user(h)
    trust = await _trust_via_recovery(h, "alice@example.com", codes[0])
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", trust)
    async with h.res.readmaker() as s:
        row = (await s.execute(select(TrustedDevice))).scalar_one()
    assert row.token_hash == keyed_hash(h.res.keys.trust, trust) and trust not in row.token_hash
    assert row.expires_at == h.clock.now() + timedelta(days=30)
    assert (await pending_login(h))["isRequiresMfa"] is True  # no token, no skip
    assert await _login_skips_mfa(h, trust)
    assert not await _login_skips_mfa(h, trust[:-1] + ("A" if trust[-1] != "A" else "B"))
    assert not await _login_skips_mfa(h, "x" * 500)
    async with h.res.readmaker() as s:
        row = (await s.execute(select(TrustedDevice))).scalar_one()
    assert row.last_used_at == h.clock.now()


async def test_cookie_mode_sets_and_reads_the_trust_cookie(h: Harness) -> None:
    _, codes = await _mfa_user(h)
    cookie_mode = {"x-access-token-type": "cookie"}
    pending = (await pending_login(h))["accessToken"]
    r = await h.client.post("/auth/mfa/verify-recovery-code",
                            json={"code": codes[0], "trustDevice": True},
                            headers={**bearer(pending), **cookie_mode})
    assert r.status_code == 200, r.text
    assert r.json() == {"isRequiresMfa": False,
                        "message": "Recovery code verification successful"}
    cookie = f"__Host-{TRUST}"  # Secure, Path=/, no Domain: the prefixed name (issue #19)
    set_cookie = [v for v in r.headers.get_list("set-cookie") if v.startswith(f"{cookie}=")]
    assert len(set_cookie) == 1
    assert "HttpOnly" in set_cookie[0] and f"Max-Age={30 * 86400}" in set_cookie[0]
    trust = set_cookie[0].split(";")[0].split("=", 1)[1]
    h.client.cookies.clear()
    body = await pending_login(h, headers={"Cookie": f"{cookie}={trust}"})
    assert body["isRequiresMfa"] is False
    # The cookie wins over the header.
    body = await pending_login(h, headers={"Cookie": f"{cookie}={trust}", TRUST: "bogus"})
    assert body["isRequiresMfa"] is False
    body = await pending_login(h, headers={"Cookie": f"{cookie}=bogus", TRUST: trust})
    assert body["isRequiresMfa"] is True


async def test_trust_token_expires(h: Harness) -> None:
    _, codes = await _mfa_user(h)
    trust = await _trust_via_recovery(h, "alice@example.com", codes[0])
    h.clock.advance(timedelta(days=30) - timedelta(seconds=1))
    assert await _login_skips_mfa(h, trust)
    h.clock.advance(timedelta(seconds=1))
    assert not await _login_skips_mfa(h, trust)


async def test_trust_ends_when_mfa_is_disabled(h: Harness) -> None:
    token, codes = await _mfa_user(h)
    trust = await _trust_via_recovery(h, "alice@example.com", codes[0])
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": False}, headers=bearer(token))
    assert r.status_code == 200, r.text
    await enable_mfa(h, token)
    assert not await _login_skips_mfa(h, trust)
    async with h.res.readmaker() as s:
        row = (await s.execute(select(TrustedDevice))).scalar_one()
    assert row.revoked_at is not None


async def test_turning_off_an_already_off_flag_still_ends_trust(h: Harness) -> None:
    """A trust token can outlive the flag (the flag cleared behind the toggle's back, as an
    operator or a configuration change can): asking for "off" still ends it."""
    from tests.helpers import claims, set_user

    token, codes = await _mfa_user(h)
    await _trust_via_recovery(h, "alice@example.com", codes[0])
    await set_user(h.res, claims(token)["sub"], is_mfa_enabled=False)
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": False}, headers=bearer(token))
    assert r.status_code == 200, r.text
    async with h.res.readmaker() as s:
        row = (await s.execute(select(TrustedDevice))).scalar_one()
    assert row.revoked_at is not None


async def test_trust_ends_with_logout_all(h: Harness) -> None:
    token, codes = await _mfa_user(h)
    trust = await _trust_via_recovery(h, "alice@example.com", codes[0])
    r = await h.client.post("/auth/logout-all", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert not await _login_skips_mfa(h, trust)


async def test_trust_ends_with_totp_reset(h: Harness) -> None:
    token, codes = await _mfa_user(h)
    trust = await _trust_via_recovery(h, "alice@example.com", codes[0])
    r = await h.client.post("/auth/mfa/reset-totp", json={"code": codes[1]},
                            headers=bearer(token))
    assert r.status_code == 200
    assert (await pending_login(h))["isRequiresMfa"] is True  # email remains
    assert not await _login_skips_mfa(h, trust)


async def test_trust_token_is_bound_to_its_user(h: Harness) -> None:
    _, alice_codes = await _mfa_user(h, "alice@example.com")
    await _mfa_user(h, "bob@example.com")
    trust = await _trust_via_recovery(h, "alice@example.com", alice_codes[0])
    assert not await _login_skips_mfa(h, trust, "bob@example.com")
    assert await _login_skips_mfa(h, trust, "alice@example.com")


async def test_no_trust_token_without_duration_or_request(make_harness: MakeHarness) -> None:
    h = await make_harness(mfa={"trusted_device_duration": None})
    _, codes = await _mfa_user(h)
    pending = (await pending_login(h))["accessToken"]
    r = await h.client.post("/auth/mfa/verify-recovery-code",
                            json={"code": codes[0], "trustDevice": True}, headers=bearer(pending))
    assert r.status_code == 200 and "trustToken" not in r.json()
    h2 = await make_harness(mfa={"trusted_device_duration": "1h"})
    _, codes = await _mfa_user(h2, "carol@example.com")
    pending = (await pending_login(h2, "carol@example.com"))["accessToken"]
    r = await h2.client.post("/auth/mfa/verify-recovery-code", json={"code": codes[0]},
                             headers=bearer(pending))
    assert r.status_code == 200 and "trustToken" not in r.json()
    # The 1.x field name is accepted as an alias; the configured duration applies.
    pending = (await pending_login(h2, "carol@example.com"))["accessToken"]
    r = await h2.client.post("/auth/mfa/verify-recovery-code",
                             json={"code": codes[1], "rememberDevice": True},
                             headers=bearer(pending))
    trust = r.json()["trustToken"]
    h2.clock.advance(timedelta(hours=1))
    assert not await _login_skips_mfa(h2, trust, "carol@example.com")
