"""Recovery codes: generation, single use, regeneration, verify-recovery-code and
reset-totp, over HTTP on both databases."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from authgate.crypto.keys import keyed_hash
from authgate.events import Event
from authgate.mfa import recovery_codes
from authgate.mfa.models import RecoveryCode
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import claims
from tests.mfa.helpers import enable_mfa, enroll, pending_login, signup_token

CODE = re.compile(r"^[A-Z2-7]{4}(?:-[A-Z2-7]{4}){5}$")
"""24 base32 characters in groups of 4: 120 bits (ASVS 2.6.2: at least 112)."""


async def _codes(h: Harness, token: str) -> list[str]:
    r = await h.client.post("/auth/mfa/generate-recovery-code", headers={
        **bearer(token), "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["code"] == body["codes"][0]
    codes: list[str] = body["codes"]
    return codes


async def _mfa_user(h: Harness) -> tuple[str, list[str]]:
    """A signed-in user with a verified authenticator (written directly), MFA turned on and
    recovery codes generated through the routes."""
    u = await h.make_user(verified=True, totp=True, tokens=True)
    assert u.access_token is not None
    await enable_mfa(h, u.access_token)
    return u.access_token, await _codes(h, u.access_token)


async def test_generated_codes_format_entropy_and_storage(make_harness: MakeHarness) -> None:
    h = await make_harness(mfa={"recovery_code_count": 12})
    token = await signup_token(h)
    codes = await _codes(h, token)
    assert len(codes) == 12 and len(set(codes)) == 12
    assert all(CODE.match(c) for c in codes)  # 24 base32 chars: 120 bits each
    async with h.res.readmaker() as s:
        rows = (await s.execute(select(RecoveryCode))).scalars().all()
    stored = {r.code_hash for r in rows}
    assert stored == {keyed_hash(h.res.keys.recovery, c.replace("-", "")) for c in codes}
    assert not any(c in stored or c.replace("-", "") in stored for c in codes)
    r = await h.client.get("/auth/mfa/status", headers=bearer(token))
    assert r.json()["hasRecoveryCode"] is True


async def test_recovery_code_finishes_pending_login_once(h: Harness) -> None:
    _, codes = await _mfa_user(h)
    body = await pending_login(h)
    pending = body["accessToken"]
    # Typed loosely: lower case, no dashes, surrounding spaces.
    r = await h.client.post("/auth/mfa/verify-recovery-code",
                            json={"code": f"  {codes[3].lower().replace('-', '')} "},
                            headers=bearer(pending))
    assert r.status_code == 200, r.text
    out = r.json()
    assert list(out) == ["accessToken", "refreshToken", "isRequiresMfa", "message"]
    assert out["isRequiresMfa"] is False
    assert out["message"] == "Recovery code verification successful"
    r = await h.client.get("/auth/user", headers=bearer(out["accessToken"]))
    assert r.status_code == 200
    # The pending refresh token was retired with the upgrade.
    second = (await pending_login(h))["accessToken"]
    r = await h.client.post("/auth/mfa/verify-recovery-code", json={"code": codes[3]},
                            headers=bearer(second))
    assert r.status_code == 401
    assert r.json() == {"statusCode": 401, "error": "Unauthorized",
                        "message": "Invalid recovery code", "code": "MFA_RECOVERY_CODE_INVALID"}
    # MFA stays on and the other codes still work.
    r = await h.client.post("/auth/mfa/verify-recovery-code", json={"code": codes[4]},
                            headers=bearer(second))
    assert r.status_code == 200, r.text


async def test_regenerating_invalidates_the_old_codes(h: Harness) -> None:
    token, old = await _mfa_user(h)
    r = await h.client.post("/auth/mfa/verify-recovery-code", json={"code": old[0]},
                            headers=bearer((await pending_login(h))["accessToken"]))
    assert r.status_code == 200
    new = await _codes(h, token)
    assert not set(old) & set(new)
    pending = (await pending_login(h))["accessToken"]
    r = await h.client.post("/auth/mfa/verify-recovery-code", json={"code": old[1]},
                            headers=bearer(pending))
    assert r.status_code == 401 and r.json()["code"] == "MFA_RECOVERY_CODE_INVALID"
    r = await h.client.post("/auth/mfa/verify-recovery-code", json={"code": new[1]},
                            headers=bearer(pending))
    assert r.status_code == 200
    async with h.res.readmaker() as s:
        assert len((await s.execute(select(RecoveryCode))).scalars().all()) == len(new)


async def test_codes_are_bound_to_their_user(h: Harness) -> None:
    _, alice_codes = await _mfa_user(h)
    bob = await signup_token(h, "bob@example.com")
    await enroll(h, bob)
    await enable_mfa(h, bob)
    pending = (await pending_login(h, "bob@example.com"))["accessToken"]
    r = await h.client.post("/auth/mfa/verify-recovery-code", json={"code": alice_codes[0]},
                            headers=bearer(pending))
    assert r.status_code == 401 and r.json()["code"] == "MFA_RECOVERY_CODE_INVALID"


async def test_verify_recovery_code_needs_mfa_and_valid_input(h: Harness) -> None:
    token = await signup_token(h)
    codes = await _codes(h, token)  # generation does not need MFA on
    r = await h.client.post("/auth/mfa/verify-recovery-code", json={"code": codes[0]},
                            headers=bearer(token))
    assert r.status_code == 401
    assert r.json()["code"] == "MFA_NOT_ENABLED" and r.json()["message"] == "MFA is not enabled"
    for bad in ({}, {"code": ""}, {"code": 123}, {"code": codes[0], "trustDevice": "yes"}):
        r = await h.client.post("/auth/mfa/verify-recovery-code", json=bad,
                                headers=bearer(token))
        assert r.status_code == 400 and r.json()["code"] == "INVALID_INPUT", (bad, r.text)


async def test_reset_totp_consumes_code_and_removes_devices(make_harness: MakeHarness) -> None:
    h = await make_harness(mfa={"methods": ["totp"]})
    events: list[Event] = []
    h.res.events.subscribe("*", events.append)
    token, codes = await _mfa_user(h)
    await enroll(h, token, deviceName="second")
    r = await h.client.post("/auth/mfa/reset-totp", json={"code": "AAAA-BBBB-CCCC-DDDD"},
                            headers=bearer(token))
    assert r.status_code == 401 and r.json()["code"] == "MFA_RECOVERY_CODE_INVALID"
    r = await h.client.get("/auth/mfa/devices", headers=bearer(token))
    assert len(r.json()) == 2
    r = await h.client.post("/auth/mfa/reset-totp", json={"code": codes[0]},
                            headers=bearer(token))
    assert r.status_code == 200 and r.json() == {"message": "MFA reset successfully"}
    r = await h.client.get("/auth/mfa/devices", headers=bearer(token))
    assert r.json() == []
    # With no method left, MFA is off for the next login.
    r = await h.client.get("/auth/mfa/status", headers=bearer(token))
    assert r.json()["isEnabled"] is False and r.json()["hasRecoveryCode"] is True
    assert (await pending_login(h))["isRequiresMfa"] is False
    r = await h.client.post("/auth/mfa/reset-totp", json={"code": codes[0]},
                            headers=bearer(token))
    assert r.status_code == 401  # single use
    names = [e.name for e in events]
    for expected in ("mfa.device_added", "mfa.enabled", "mfa.recovery_codes_generated",
                     "mfa.recovery_code_used", "mfa.device_removed", "mfa.disabled"):
        assert expected in names, names
    assert names.count("mfa.device_removed") == 2


async def test_reset_totp_keeps_mfa_on_while_another_method_remains(h: Harness) -> None:
    # Default methods include email, and the development outbox provides the channel.
    token, codes = await _mfa_user(h)
    r = await h.client.post("/auth/mfa/reset-totp", json={"code": codes[0]},
                            headers=bearer(token))
    assert r.status_code == 200
    r = await h.client.get("/auth/mfa/status", headers=bearer(token))
    assert r.json()["isEnabled"] is True and r.json()["verifiedMethods"] == ["email"]
    body = await pending_login(h)
    assert body["isRequiresMfa"] is True and body["mfaMethods"] == ["email"]


async def test_reset_totp_odd_bodies_are_invalid_codes(make_harness: MakeHarness) -> None:
    h = await make_harness(mfa={"max_attempts": 10})
    token, _ = await _mfa_user(h)
    bodies: list[Any] = [{}, {"code": None}, {"code": 5}, {"code": ["x"]}, {"code": "x" * 70}]
    for body in bodies:
        r = await h.client.post("/auth/mfa/reset-totp", json=body, headers=bearer(token))
        assert r.status_code == 401 and r.json()["code"] == "MFA_RECOVERY_CODE_INVALID", body
    r = await h.client.post("/auth/mfa/reset-totp", headers={
        **bearer(token), "Content-Type": "application/json"})
    assert r.status_code == 401


def test_code_generator() -> None:
    codes = {recovery_codes.new_code() for _ in range(500)}
    assert len(codes) == 500 and all(CODE.match(c) for c in codes)
    assert recovery_codes.CODE_CHARS * 5 >= 112  # bits per code (issue #19 item 14)
    # every position takes every base32 symbol: no fixed or biased characters
    for i in range(0, 29, 5):
        assert {c[i] for c in codes} == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert recovery_codes.normalise(" abcd-efgh ijkl\tmnop ") == "ABCDEFGHIJKLMNOP"
    # digits base32 lacks are read as the letters they are mistaken for
    assert recovery_codes.normalise("0o1i-8b") == "OOIIBB"


async def test_codes_typed_with_look_alike_digits_and_old_codes_work(h: Harness) -> None:
    token, codes = await _mfa_user(h)
    typed = codes[0].replace("O", "0").replace("I", "1").replace("B", "8").lower()
    pending = (await pending_login(h))["accessToken"]
    r = await h.client.post("/auth/mfa/verify-recovery-code", json={"code": typed},
                            headers=bearer(pending))
    assert r.status_code == 200, r.text
    # a code of the earlier 16-character (80-bit) format, issued before the change, still works
    uid = claims(token)["sub"]
    old = "ABCD-EFGH-JKLM-NPQR"
    async with h.res.sessionmaker() as s:
        s.add(RecoveryCode(user_id=uid, code_hash=recovery_codes.code_hash(h.res, old),
                           created_at=h.res.clock.now()))
        await s.commit()
    pending = (await pending_login(h))["accessToken"]
    r = await h.client.post("/auth/mfa/verify-recovery-code", json={"code": old},
                            headers=bearer(pending))
    assert r.status_code == 200, r.text


async def test_verify_recovery_code_is_rate_limited(make_harness: MakeHarness) -> None:
    h = await make_harness(rate_limit={"mfa_verify": {
        "per_ip": None, "per_account": {"limit": 2, "window": 60}}})
    _, codes = await _mfa_user(h)
    pending = (await pending_login(h))["accessToken"]
    for _ in range(2):
        r = await h.client.post("/auth/mfa/verify-recovery-code",
                                json={"code": "AAAA-AAAA-AAAA-AAAA"}, headers=bearer(pending))
        assert r.status_code == 401
    r = await h.client.post("/auth/mfa/verify-recovery-code", json={"code": codes[0]},
                            headers=bearer(pending))
    assert r.status_code == 429 and r.json()["code"] == "RATE_LIMITED"
