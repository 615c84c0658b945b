"""Step-up (``mfa.reauth_window``): sensitive MFA changes need a recent sign-in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error
from tests.mfa.helpers import enable_mfa, signup_token

LONG_TOKENS = {"access_token_expires_in": "1d"}


async def _sensitive(h: Harness, token: str, device_id: str) -> dict[str, httpx.Response]:
    out = {}
    for name, method, path, body in (
            ("generate", "POST", "/auth/mfa/generate-recovery-code", None),
            ("reset", "POST", "/auth/mfa/reset-totp", {"code": "AAAA-AAAA-AAAA-AAAA"}),
            ("remove", "DELETE", f"/auth/mfa/devices/{device_id}", None),
            ("disable", "POST", "/auth/mfa/toggle", {"enabled": False})):
        out[name] = await h.client.request(method, path, json=body, headers=bearer(token))
    return out


async def _status(h: Harness, token: str) -> dict[str, Any]:
    r = await h.client.get("/auth/mfa/status", headers=bearer(token))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _mfa_user(h: Harness) -> tuple[str, str]:
    """A signed-in user (a session that is not pending) with a verified authenticator and
    MFA switched on: (access token, device id)."""
    u = await h.make_user(verified=True, totp=True, tokens=True)
    assert u.access_token is not None and u.device_id is not None and not u.requires_mfa
    await enable_mfa(h, u.access_token)
    return u.access_token, u.device_id


async def test_stale_session_needs_reauthentication(make_harness: MakeHarness) -> None:
    h = await make_harness(jwt=LONG_TOKENS, mfa={"reauth_window": "10m"})
    token, device_id = await _mfa_user(h)
    h.clock.advance(timedelta(minutes=10, seconds=1))
    for name, r in (await _sensitive(h, token, device_id)).items():
        body = assert_error(r, 403, "REAUTH_REQUIRED")
        assert body["message"] == "Please re-authenticate to perform this action", name
    # nothing changed: MFA still on, the device still there, no recovery code made
    st = await _status(h, token)
    assert (st["isEnabled"], st["verifiedMethods"], st["hasRecoveryCode"]) == (
        True, ["totp"], False)  # the verified email steps aside for the authenticator
    assert [d["id"] for d in st["totpDevices"]] == [device_id]
    # Enabling, listing and setting up stay open.
    r = await h.client.get("/auth/mfa/devices", headers=bearer(token))
    assert r.status_code == 200 and [d["id"] for d in r.json()] == [device_id]
    r = await h.client.post("/auth/mfa/setup-totp", json={}, headers=bearer(token))
    assert r.status_code == 200
    assert set(r.json()) >= {"secret", "qrCode", "otpAuthUrl"}, r.json()


async def test_fresh_session_passes_step_up(make_harness: MakeHarness) -> None:
    h = await make_harness(jwt=LONG_TOKENS, mfa={"reauth_window": "10m"})
    token = await signup_token(h)
    h.clock.advance(timedelta(minutes=9))
    r = await h.client.post("/auth/mfa/generate-recovery-code", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert (await _status(h, token))["hasRecoveryCode"] is True


async def test_step_up_is_off_by_default(make_harness: MakeHarness) -> None:
    h = await make_harness(jwt=LONG_TOKENS)
    token, device_id = await _mfa_user(h)
    h.clock.advance(timedelta(hours=20))
    results = await _sensitive(h, token, device_id)
    assert results["generate"].status_code == 200, results["generate"].text
    # the made-up recovery code is wrong, not "too late"
    assert_error(results["reset"], 401, "MFA_RECOVERY_CODE_INVALID", "Invalid recovery code")
    assert results["remove"].status_code == 200, results["remove"].text
    assert results["disable"].status_code == 200, results["disable"].text
    st = await _status(h, token)
    assert (st["isEnabled"], st["verifiedMethods"], st["totpDevices"], st["hasRecoveryCode"]) \
        == (False, ["email"], [], True)  # the device went; the email channel remains
