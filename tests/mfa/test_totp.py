"""Authenticator set-up, listing, removal and the TOTP login check, over HTTP on both
databases, with the frozen clock."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from authgate.crypto import totp as otp
from authgate.crypto.keys import keyed_hash
from authgate.errors import AuthError, Code
from authgate.mfa import totp as totp_flows
from authgate.mfa.models import TotpDevice
from authgate.tx import transaction
from tests.conftest import Harness, MakeHarness, bearer
from tests.mfa.helpers import (
    code,
    enable_mfa,
    enroll,
    finish_with_totp,
    next_step,
    pending_login,
    signup_token,
)


async def _user_id(h: Harness, token: str) -> str:
    r = await h.client.get("/auth/verify-session", headers=bearer(token))
    assert r.status_code == 200, r.text
    uid: str = r.json()["userId"]
    return uid


async def test_setup_response_shape_and_storage(h: Harness) -> None:
    token = await signup_token(h)
    r = await h.client.post("/auth/mfa/setup-totp", json={"label": " Alice phone "},
                            headers=bearer(token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["secret", "qrCode", "otpAuthUrl", "issuer", "account"]
    assert re.fullmatch(r"[A-Z2-7]{32}", body["secret"])
    assert body["qrCode"].startswith("data:image/png;base64,iVBORw0KGgo")
    assert body["issuer"] == "authgate" and body["account"] == "Alice phone"
    assert body["otpAuthUrl"] == (f"otpauth://totp/Alice phone?secret={body['secret']}"
                                  "&issuer=authgate&period=30")
    async with h.res.readmaker() as s:
        row = (await s.execute(select(TotpDevice))).scalar_one()
    # At rest: ciphertext under the derived key, a keyed lookup hash, never the seed.
    assert row.secret_enc.startswith("d0:") and body["secret"] not in row.secret_enc
    assert row.secret_lookup == keyed_hash(h.res.keys.totp_lookup, body["secret"])
    assert row.verified is False and row.device_name == "authgate : alice@example.com"
    assert row.expires_at == h.clock.now() + timedelta(minutes=15)
    r = await h.client.get("/auth/mfa/devices", headers=bearer(token))
    assert [d["verified"] for d in r.json()] == [False]


async def test_configured_issuer_period_digits_algorithm_drive_url_and_check(
        make_harness: MakeHarness) -> None:
    h = await make_harness(mfa={"totp": {"issuer": "Acme Corp", "period": 60, "digits": 8,
                                         "algorithm": "SHA256"}})
    token = await signup_token(h)
    r = await h.client.post("/auth/mfa/setup-totp", json={}, headers=bearer(token))
    body = r.json()
    assert body["account"] == "alice@example.com"
    assert body["otpAuthUrl"].endswith("&issuer=Acme%20Corp&period=60&digits=8&algorithm=SHA256")
    good = otp.code_at(body["secret"], h.clock.now(),
                       otp.TotpParams(period=60, digits=8, algorithm="SHA256"))
    assert len(good) == 8
    r = await h.client.post("/auth/mfa/verify-totp-setup",
                            json={"otp": good, "secret": body["secret"]}, headers=bearer(token))
    assert r.status_code == 200, r.text


async def test_full_flow_setup_toggle_pending_login_totp_full_access(h: Harness) -> None:
    token = await signup_token(h)
    secret = await enroll(h, token, deviceName="Pixel")
    r = await h.client.get("/auth/mfa/status", headers=bearer(token))
    assert r.json()["verifiedMethods"][0] == "totp"
    assert [d["deviceName"] for d in r.json()["totpDevices"]] == ["Pixel"]
    await enable_mfa(h, token)

    body = await pending_login(h)
    assert body["isRequiresMfa"] is True and "totp" in body["mfaMethods"]
    pending = body["accessToken"]
    r = await h.client.get("/auth/user", headers=bearer(pending))
    assert r.status_code == 401 and r.json()["code"] == "MFA_REQUIRED"

    tokens = await finish_with_totp(h, pending, code(h, secret))
    r = await h.client.get("/auth/user", headers=bearer(tokens.access_token))
    assert r.status_code == 200, r.text
    r = await h.client.get("/auth/mfa/devices", headers=bearer(tokens.access_token))
    assert r.json()[0]["lastUsedAt"] is not None


async def test_same_code_is_refused_the_second_time(h: Harness) -> None:
    token = await signup_token(h)
    secret = await enroll(h, token)
    await enable_mfa(h, token)
    first = (await pending_login(h))["accessToken"]
    second = (await pending_login(h))["accessToken"]
    c = code(h, secret)
    await finish_with_totp(h, first, c)
    with pytest.raises(AuthError) as err:
        await finish_with_totp(h, second, c)
    assert err.value.code == Code.MFA_CODE_INVALID
    # The code of the previous step (still inside the ±1 window) is refused too.
    h.clock.advance(30)
    with pytest.raises(AuthError) as err:
        await finish_with_totp(h, second, code(h, secret, -1))
    assert err.value.code == Code.MFA_CODE_INVALID
    await finish_with_totp(h, second, code(h, secret))


async def test_time_step_edges(h: Harness) -> None:
    token = await signup_token(h)
    secret = await enroll(h, token)
    uid = await _user_id(h, token)
    next_step(h)

    async def attempt(steps: int) -> bool:
        async with transaction(h.res.sessionmaker) as tx:
            return await totp_flows.verify_totp_for_user(
                h.res, tx, uid, code(h, secret, steps)) is not None

    # ±2 steps are outside the window; collisions with in-window codes are skipped.
    window = {code(h, secret, d) for d in (-1, 0, 1)}
    for far in (-2, 2):
        if code(h, secret, far) not in window:
            assert not await attempt(far)
    assert await attempt(-1)
    assert await attempt(+1)
    assert not await attempt(0)  # at or before the last accepted step: refused
    assert not await attempt(+1)


async def test_wrong_code_and_unverified_device_never_count(h: Harness) -> None:
    token = await signup_token(h)
    r = await h.client.post("/auth/mfa/setup-totp", json={}, headers=bearer(token))
    secret = r.json()["secret"]
    uid = await _user_id(h, token)
    async with transaction(h.res.sessionmaker) as tx:
        # An unconfirmed set-up is not an authenticator for login.
        assert await totp_flows.verify_totp_for_user(h.res, tx, uid, code(h, secret)) is None
    wrong = f"{(int(code(h, secret)) + 1) % 1_000_000:06d}"
    r = await h.client.post("/auth/mfa/verify-totp-setup", json={"otp": wrong, "secret": secret},
                            headers=bearer(token))
    assert r.status_code == 401
    assert r.json() == {"statusCode": 401, "error": "Unauthorized", "message": "Invalid OTP",
                        "code": "MFA_CODE_INVALID"}
    r = await h.client.get("/auth/mfa/status", headers=bearer(token))
    assert "totp" not in r.json()["verifiedMethods"]


async def test_verify_setup_always_checks_the_code_even_when_verified(h: Harness) -> None:
    token = await signup_token(h)
    secret = await enroll(h, token)
    r = await h.client.post("/auth/mfa/verify-totp-setup",
                            json={"otp": "000000", "secret": secret}, headers=bearer(token))
    assert r.status_code == 401 and r.json()["code"] == "MFA_CODE_INVALID"
    # The set-up code was burnt: the same step cannot be used again, a new one can.
    r = await h.client.post("/auth/mfa/verify-totp-setup",
                            json={"otp": code(h, secret), "secret": secret},
                            headers=bearer(token))
    assert r.status_code == 200, r.text


async def test_unverified_setups_expire(h: Harness) -> None:
    token = await signup_token(h)
    r = await h.client.post("/auth/mfa/setup-totp", json={}, headers=bearer(token))
    secret = r.json()["secret"]
    h.clock.advance(timedelta(minutes=15, seconds=1))
    token = (await pending_login(h))["accessToken"]  # the access token expired too
    r = await h.client.post("/auth/mfa/verify-totp-setup",
                            json={"otp": code(h, secret), "secret": secret},
                            headers=bearer(token))
    assert r.status_code == 401 and r.json()["code"] == "MFA_CODE_INVALID"
    r = await h.client.get("/auth/mfa/devices", headers=bearer(token))
    assert r.json() == []
    # The next set-up purges the expired row.
    await h.client.post("/auth/mfa/setup-totp", json={}, headers=bearer(token))
    async with h.res.readmaker() as s:
        rows = (await s.execute(select(TotpDevice))).scalars().all()
    assert len(rows) == 1 and rows[0].expires_at is not None
    assert rows[0].expires_at > h.clock.now()


async def test_pending_setups_are_capped(h: Harness) -> None:
    token = await signup_token(h)
    for _ in range(totp_flows.MAX_PENDING_SETUPS + 3):
        r = await h.client.post("/auth/mfa/setup-totp", json={}, headers=bearer(token))
        assert r.status_code == 200
        h.clock.advance(1)
    r = await h.client.get("/auth/mfa/devices", headers=bearer(token))
    assert len(r.json()) == totp_flows.MAX_PENDING_SETUPS


async def test_several_devices_and_removal(h: Harness) -> None:
    token = await signup_token(h)
    s1 = await enroll(h, token, deviceName="one")
    s2 = await enroll(h, token, deviceName="two")
    await enable_mfa(h, token)
    r = await h.client.get("/auth/mfa/devices", headers=bearer(token))
    devices = {d["deviceName"]: d["id"] for d in r.json()}
    assert set(devices) == {"one", "two"}
    # Either device completes a login.
    await finish_with_totp(h, (await pending_login(h))["accessToken"], code(h, s1))
    next_step(h)
    await finish_with_totp(h, (await pending_login(h))["accessToken"], code(h, s2))
    r = await h.client.delete(f"/auth/mfa/devices/{devices['one']}", headers=bearer(token))
    assert r.status_code == 200 and r.json() == {"message": "MFA device removed successfully"}
    next_step(h)
    with pytest.raises(AuthError) as err:  # a removed device no longer signs in
        await finish_with_totp(h, (await pending_login(h))["accessToken"], code(h, s1))
    assert err.value.code == Code.MFA_CODE_INVALID
    r = await h.client.delete(f"/auth/mfa/devices/{devices['one']}", headers=bearer(token))
    assert r.status_code == 404 and r.json()["code"] == "MFA_DEVICE_NOT_FOUND"


async def test_device_isolation_between_users(h: Harness) -> None:
    alice = await signup_token(h, "alice@example.com")
    bob = await signup_token(h, "bob@example.com")
    a_secret = await enroll(h, alice)
    r = await h.client.get("/auth/mfa/devices", headers=bearer(alice))
    a_dev = r.json()[0]["id"]
    r = await h.client.get("/auth/mfa/devices", headers=bearer(bob))
    assert r.json() == []
    # Bob cannot remove, confirm or sign in with Alice's device.
    missing = "00000000-0000-4000-8000-000000000000"
    answers = []
    for dev_id in (a_dev, missing, "abc", "1 OR 1=1", "%00"):
        r = await h.client.delete(f"/auth/mfa/devices/{dev_id}", headers=bearer(bob))
        answers.append((r.status_code, r.json()))
    assert all(a == (404, {"statusCode": 404, "error": "Not Found",
                           "message": "MFA device not found",
                           "code": "MFA_DEVICE_NOT_FOUND"}) for a in answers), answers
    r = await h.client.post("/auth/mfa/verify-totp-setup",
                            json={"otp": code(h, a_secret), "secret": a_secret},
                            headers=bearer(bob))
    assert r.status_code == 401
    bob_id = await _user_id(h, bob)
    async with transaction(h.res.sessionmaker) as tx:
        assert await totp_flows.verify_totp_for_user(
            h.res, tx, bob_id, code(h, a_secret)) is None
    r = await h.client.get("/auth/mfa/devices", headers=bearer(alice))
    assert [d["id"] for d in r.json()] == [a_dev]


async def test_removing_last_device_turns_mfa_off_when_no_method_left(
        make_harness: MakeHarness) -> None:
    h = await make_harness(mfa={"methods": ["totp"]})
    token = await signup_token(h)
    await enroll(h, token)
    await enable_mfa(h, token)
    r = await h.client.get("/auth/mfa/devices", headers=bearer(token))
    r = await h.client.delete(f"/auth/mfa/devices/{r.json()[0]['id']}", headers=bearer(token))
    assert r.status_code == 200
    r = await h.client.get("/auth/mfa/status", headers=bearer(token))
    assert r.json()["isEnabled"] is False
    assert (await pending_login(h))["isRequiresMfa"] is False


async def test_guards_pending_sessions_and_app_switch(make_harness: MakeHarness) -> None:
    h = await make_harness()
    token = await signup_token(h)
    secret = await enroll(h, token)
    await enable_mfa(h, token)
    pending = (await pending_login(h))["accessToken"]
    for method, path, body in (("POST", "/auth/mfa/setup-totp", {}),
                               ("POST", "/auth/mfa/verify-totp-setup",
                                {"otp": "123456", "secret": secret}),
                               ("DELETE", "/auth/mfa/devices/x", None),
                               ("POST", "/auth/mfa/generate-recovery-code", None)):
        r = await h.client.request(method, path, json=body, headers=bearer(pending))
        assert r.status_code == 401 and r.json()["code"] == "MFA_REQUIRED", (path, r.text)
    r = await h.client.get("/auth/mfa/devices", headers=bearer(pending))
    assert r.status_code == 200 and len(r.json()) == 1
    r = await h.client.post("/auth/mfa/setup-totp", json={"label": "x" * 129},
                            headers=bearer(token))
    assert r.status_code == 400 and r.json()["code"] == "INVALID_INPUT"

    off = await make_harness(mfa={"enabled": False})
    t2 = await signup_token(off, "carol@example.com")
    for method, path, body in (("POST", "/auth/mfa/setup-totp", {}),
                               ("POST", "/auth/mfa/verify-totp-setup",
                                {"otp": "123456", "secret": secret}),
                               ("GET", "/auth/mfa/devices", None),
                               ("DELETE", "/auth/mfa/devices/x", None),
                               ("POST", "/auth/mfa/generate-recovery-code", None),
                               ("POST", "/auth/mfa/reset-totp", {"code": "x"})):
        r = await off.client.request(method, path, json=body, headers=bearer(t2))
        assert r.status_code == 403 and r.json()["code"] == "MFA_NOT_ENABLED", (path, r.text)


async def test_required_mfa_lets_a_user_without_method_enrol_then_finish(
        make_harness: MakeHarness) -> None:
    h = await make_harness(mfa={"required": True, "methods": ["totp"]})
    r = await h.signup()
    pending = r.json()["accessToken"]
    assert r.json()["isRequiresMfa"] is True and r.json()["mfaMethods"] == []
    r = await h.client.get("/auth/user", headers=bearer(pending))
    assert r.status_code == 401 and r.json()["code"] == "MFA_REQUIRED"
    secret = await enroll(h, pending)  # allowed: enrolment is the only way forward
    # Once a method exists, the pending session may not add more authenticators.
    r = await h.client.post("/auth/mfa/setup-totp", json={}, headers=bearer(pending))
    assert r.status_code == 401 and r.json()["code"] == "MFA_REQUIRED"
    tokens = await finish_with_totp(h, pending, code(h, secret))
    r = await h.client.get("/auth/user", headers=bearer(tokens.access_token))
    assert r.status_code == 200
    body = await pending_login(h)
    assert body["isRequiresMfa"] is True and body["mfaMethods"] == ["totp"]


async def test_enrolment_stays_closed_when_user_flag_alone_makes_it_pending(
        make_harness: MakeHarness) -> None:
    h = await make_harness(mfa={"methods": ["totp", "email"]})
    token = await signup_token(h)
    await enable_mfa(h, token)  # email counts as a method here
    pending = (await pending_login(h))["accessToken"]
    r = await h.client.post("/auth/mfa/setup-totp", json={}, headers=bearer(pending))
    assert r.status_code == 401 and r.json()["code"] == "MFA_REQUIRED"


async def test_totp_login_over_http_with_trusted_device(h: Harness) -> None:
    """The whole journey through POST /auth/mfa/verify (method totp, trustDevice)."""
    token = await signup_token(h)
    secret = await enroll(h, token)
    await enable_mfa(h, token)
    body = await pending_login(h)
    assert body["isRequiresMfa"] is True and "totp" in body["mfaMethods"]
    pending = body["accessToken"]
    r = await h.client.post("/auth/mfa/verify", headers=bearer(pending),
                            json={"method": "totp", "otp": code(h, secret), "trustDevice": True})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["isRequiresMfa"] is False and out["message"] == "2FA verification successful"
    assert (await h.client.get("/auth/user", headers=bearer(out["accessToken"]))).status_code == 200
    # Replaying the accepted code on another pending session fails.
    other = (await pending_login(h))["accessToken"]
    r = await h.client.post("/auth/mfa/verify", headers=bearer(other),
                            json={"method": "totp", "otp": code(h, secret)})
    assert r.status_code == 401 and r.json()["code"] == "MFA_CODE_INVALID"
    # The TOTP-earned trust token skips the step at the next login.
    trusted = await pending_login(h, headers={"nest_auth_device_trust": out["trustToken"]})
    assert trusted["isRequiresMfa"] is False


async def test_setup_needs_totp_configured(make_harness: MakeHarness) -> None:
    h = await make_harness(mfa={"methods": ["email"]})
    token = await signup_token(h)
    r = await h.client.post("/auth/mfa/setup-totp", json={}, headers=bearer(token))
    assert r.status_code == 400 and r.json()["code"] == "MFA_METHOD_NOT_AVAILABLE"
