"""What an MFA-pending session (the password alone) may do (issue #12, item 4): the MFA step
and nothing that disrupts the owner — no logout-all, no reset-totp, a /auth/me that shows
only what the step needs."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness, bearer
from tests.helpers import assert_error, claims
from tests.mfa.helpers import code, enable_mfa, enroll, next_step, pending_login, signup_token

TRUST = "nest_auth_device_trust"
MFA_REQUIRED = "Multi-factor authentication is required"


async def _owner(h: Harness) -> dict[str, Any]:
    """Alice with TOTP on, recovery codes, and a verified session on a trusted device."""
    token = await signup_token(h)
    secret = await enroll(h, token)
    await enable_mfa(h, token)
    r = await h.client.post("/auth/mfa/generate-recovery-code", headers=bearer(token))
    codes = r.json()["codes"]
    pending = (await pending_login(h))["accessToken"]
    r = await h.client.post("/auth/mfa/verify", headers=bearer(pending), json={
        "method": "totp", "otp": code(h, secret), "trustDevice": True})
    assert r.status_code == 200, r.text
    next_step(h)
    return {"signup": token, "secret": secret, "codes": codes,
            "verified": r.json()["accessToken"], "trust": r.json()["trustToken"]}


async def test_pending_session_cannot_log_out_everywhere(h: Harness) -> None:
    owner = await _owner(h)
    attacker = (await pending_login(h))["accessToken"]
    r = await h.client.post("/auth/logout-all", headers=bearer(attacker))
    assert_error(r, 401, "MFA_REQUIRED", MFA_REQUIRED)
    for token in (owner["signup"], owner["verified"]):  # the owner is still signed in
        assert (await h.client.get("/auth/user", headers=bearer(token))).status_code == 200
    body = await pending_login(h, headers={TRUST: owner["trust"]})  # and still trusted
    assert body["isRequiresMfa"] is False
    r = await h.client.post("/auth/logout-all", headers=bearer(owner["verified"]))
    assert r.status_code == 200, r.text  # a verified session still may


async def test_pending_session_cannot_reset_totp(h: Harness) -> None:
    owner = await _owner(h)
    attacker = (await pending_login(h))["accessToken"]
    r = await h.client.post("/auth/mfa/reset-totp", json={"code": owner["codes"][0]},
                            headers=bearer(attacker))
    assert_error(r, 401, "MFA_REQUIRED", MFA_REQUIRED)
    devices = await h.client.get("/auth/mfa/devices", headers=bearer(owner["verified"]))
    assert len(devices.json()) == 1
    # the recovery code was not spent: the owner can still use it
    r = await h.client.post("/auth/mfa/reset-totp", json={"code": owner["codes"][0]},
                            headers=bearer(owner["verified"]))
    assert r.status_code == 200 and r.json() == {"message": "MFA reset successfully"}


async def test_me_of_a_pending_session_shows_only_what_the_mfa_step_needs(h: Harness) -> None:
    owner = await _owner(h)
    uid = claims(owner["signup"])["sub"]
    pending = (await pending_login(h))["accessToken"]
    r = await h.client.get("/auth/me", headers=bearer(pending))
    assert r.status_code == 200
    assert r.json() == {"id": uid, "isMfaEnabled": True}
    # once verified, the full session user data (contract §2.1)
    r = await h.client.post("/auth/mfa/verify", headers=bearer(pending), json={
        "method": "totp", "otp": code(h, owner["secret"])})
    assert r.status_code == 200, r.text
    r = await h.client.get("/auth/me", headers=bearer(r.json()["accessToken"]))
    assert r.json() == {
        "id": uid, "email": "alice@example.com", "phone": None, "emailVerifiedAt": None,
        "phoneVerifiedAt": None, "isMfaEnabled": True, "metadata": {},
        "mustChangePassword": False, "roles": [], "permissions": [],
    }
