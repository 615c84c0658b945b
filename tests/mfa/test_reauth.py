"""Step-up (``mfa.reauth_window``): sensitive MFA changes need a recent sign-in."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import Harness, MakeHarness, bearer
from tests.mfa.helpers import enable_mfa, enroll, signup_token

LONG_TOKENS = {"access_token_expires_in": "1d"}


async def _sensitive(h: Harness, token: str, device_id: str) -> list[tuple[str, int, str]]:
    out = []
    for name, method, path, body in (
            ("generate", "POST", "/auth/mfa/generate-recovery-code", None),
            ("reset", "POST", "/auth/mfa/reset-totp", {"code": "AAAA-AAAA-AAAA-AAAA"}),
            ("remove", "DELETE", f"/auth/mfa/devices/{device_id}", None),
            ("disable", "POST", "/auth/mfa/toggle", {"enabled": False})):
        r = await h.client.request(method, path, json=body, headers=bearer(token))
        out.append((name, r.status_code, r.json().get("code", "")))
    return out


async def test_stale_session_needs_reauthentication(make_harness: MakeHarness) -> None:
    h = await make_harness(jwt=LONG_TOKENS, mfa={"reauth_window": "10m"})
    token = await signup_token(h)
    await enroll(h, token)
    await enable_mfa(h, token)
    r = await h.client.get("/auth/mfa/devices", headers=bearer(token))
    device_id = r.json()[0]["id"]
    h.clock.advance(timedelta(minutes=10, seconds=1))
    assert await _sensitive(h, token, device_id) == [
        (name, 403, "REAUTH_REQUIRED") for name in ("generate", "reset", "remove", "disable")]
    # Enabling, listing and setting up stay open.
    assert (await h.client.get("/auth/mfa/devices", headers=bearer(token))).status_code == 200
    r = await h.client.post("/auth/mfa/setup-totp", json={}, headers=bearer(token))
    assert r.status_code == 200


async def test_fresh_session_passes_step_up(make_harness: MakeHarness) -> None:
    h = await make_harness(jwt=LONG_TOKENS, mfa={"reauth_window": "10m"})
    token = await signup_token(h)
    h.clock.advance(timedelta(minutes=9))
    r = await h.client.post("/auth/mfa/generate-recovery-code", headers=bearer(token))
    assert r.status_code == 200, r.text


async def test_step_up_is_off_by_default(make_harness: MakeHarness) -> None:
    h = await make_harness(jwt=LONG_TOKENS)
    token = await signup_token(h)
    await enroll(h, token)
    await enable_mfa(h, token)
    r = await h.client.get("/auth/mfa/devices", headers=bearer(token))
    device_id = r.json()[0]["id"]
    h.clock.advance(timedelta(hours=20))
    results = await _sensitive(h, token, device_id)
    assert [(n, s) for n, s, _ in results] == [
        ("generate", 200), ("reset", 401), ("remove", 200), ("disable", 200)]
