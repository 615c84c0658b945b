"""Step-up (``mfa.reauth_window``): sensitive MFA changes need a recent sign-in."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error
from tests.mfa.helpers import code, enable_mfa, signup_token, status_of

LONG_TOKENS = {"access_token_expires_in": "1d"}


async def _sensitive(h: Harness, token: str, device_id: str) -> dict[str, httpx.Response]:
    out = {}
    for name, method, path, body in (
            ("generate", "POST", "/auth/mfa/generate-recovery-code", None),
            ("reset", "POST", "/auth/mfa/reset-totp", {"code": "AAAA-AAAA-AAAA-AAAA"}),
            ("remove", "DELETE", f"/auth/mfa/devices/{device_id}", None),
            ("setup", "POST", "/auth/mfa/setup-totp", {}),
            ("confirm", "POST", "/auth/mfa/verify-totp-setup",
             {"secret": "JBSWY3DPEHPK3PXP", "otp": "000000"}),
            ("disable", "POST", "/auth/mfa/toggle", {"enabled": False}),
            ("logout_all", "POST", "/auth/logout-all", None)):
        out[name] = await h.client.request(method, path, json=body, headers=bearer(token))
    return out



async def _mfa_user(h: Harness) -> tuple[str, str]:
    """A signed-in user (a session that is not pending) with a verified authenticator and
    MFA switched on: (access token, device id)."""
    u = await h.make_user(verified=True, totp=True, tokens=True)
    assert u.access_token is not None and u.device_id is not None and not u.requires_mfa
    await enable_mfa(h, u.access_token)
    return u.access_token, u.device_id


async def test_stale_session_needs_reauthentication(make_harness: MakeHarness) -> None:
    """Issue 19 item 5: on by default (10 minutes), for every sensitive change, the
    authenticator set-up included."""
    h = await make_harness(jwt=LONG_TOKENS)
    assert h.settings.mfa.reauth_window == timedelta(minutes=10)
    token, device_id = await _mfa_user(h)
    h.clock.advance(timedelta(minutes=10, seconds=1))
    for name, r in (await _sensitive(h, token, device_id)).items():
        body = assert_error(r, 403, "REAUTH_REQUIRED")
        assert body["message"] == "Please re-authenticate to perform this action", name
    # nothing changed: MFA still on, the device still there, no recovery code made, the
    # session alive
    st = await status_of(h, token)
    assert (st["isEnabled"], st["verifiedMethods"], st["hasRecoveryCode"]) == (
        True, ["totp"], False)  # the verified email steps aside for the authenticator
    assert [d["id"] for d in st["totpDevices"]] == [device_id]
    # Enabling and listing stay open.
    r = await h.client.get("/auth/mfa/devices", headers=bearer(token))
    assert r.status_code == 200 and [d["id"] for d in r.json()] == [device_id]
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": True}, headers=bearer(token))
    assert r.status_code == 200, r.text


async def test_a_refresh_does_not_renew_the_window(make_harness: MakeHarness) -> None:
    """Only a sign-in or an MFA step counts: a stolen refresh token cannot step up."""
    h = await make_harness()
    u = await h.make_user(verified=True, tokens=True)
    assert u.refresh_token is not None
    h.clock.advance(timedelta(minutes=11))
    r = await h.client.post("/auth/refresh-token", json={"refreshToken": u.refresh_token})
    assert r.status_code == 200, r.text
    fresh = r.json()["accessToken"]
    assert_error(await h.client.post("/auth/mfa/setup-totp", json={}, headers=bearer(fresh)),
                 403, "REAUTH_REQUIRED")


async def test_the_mfa_step_renews_the_window(make_harness: MakeHarness) -> None:
    """A verified session steps up in place by giving its second factor again."""
    h = await make_harness(jwt=LONG_TOKENS)
    u = await h.make_user(verified=True, totp=True, tokens=True)
    assert u.access_token is not None and u.totp_secret is not None
    await enable_mfa(h, u.access_token)
    h.clock.advance(timedelta(minutes=11))
    r = await h.client.post("/auth/mfa/generate-recovery-code", headers=bearer(u.access_token))
    assert_error(r, 403, "REAUTH_REQUIRED")
    r = await h.client.post("/auth/mfa/verify", headers=bearer(u.access_token),
                            json={"method": "totp", "otp": code(h, u.totp_secret)})
    assert r.status_code == 200, r.text
    stepped = r.json()["accessToken"]
    r = await h.client.post("/auth/mfa/generate-recovery-code", headers=bearer(stepped))
    assert r.status_code == 200, r.text


async def test_fresh_session_passes_step_up(make_harness: MakeHarness) -> None:
    h = await make_harness(jwt=LONG_TOKENS)
    token = await signup_token(h)
    h.clock.advance(timedelta(minutes=9))
    r = await h.client.post("/auth/mfa/generate-recovery-code", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert (await status_of(h, token))["hasRecoveryCode"] is True
    r = await h.client.post("/auth/mfa/setup-totp", json={}, headers=bearer(token))
    assert r.status_code == 200 and set(r.json()) >= {"secret", "qrCode", "otpAuthUrl"}


async def test_step_up_can_be_switched_off(make_harness: MakeHarness) -> None:
    """``mfa.reauth_window: null``: upstream's behaviour (a bearer token is enough)."""
    h = await make_harness(jwt=LONG_TOKENS, mfa={"reauth_window": None})
    token, device_id = await _mfa_user(h)
    h.clock.advance(timedelta(hours=20))
    results = await _sensitive(h, token, device_id)
    assert results["generate"].status_code == 200, results["generate"].text
    # the made-up recovery code is wrong, not "too late"
    assert_error(results["reset"], 401, "MFA_RECOVERY_CODE_INVALID", "Invalid recovery code")
    assert results["remove"].status_code == 200, results["remove"].text
    assert results["setup"].status_code == 200, results["setup"].text
    assert_error(results["confirm"], 401, "MFA_CODE_INVALID")
    assert results["disable"].status_code == 200, results["disable"].text
    assert results["logout_all"].status_code == 200, results["logout_all"].text
