"""What an MFA-pending session (the password alone) may do (issue #12, item 4): the MFA step
and nothing that disrupts the owner — no logout-all, no reset-totp, a /auth/me that shows
only what the step needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authgate import background
from authgate.events import MFA_FAILURES_REPEATED, Event
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error, claims
from tests.mfa.helpers import code, enable_mfa, enroll, next_step, pending_login, signup_token
from tests.servers import SmtpSink

EMAIL = "alice@example.com"
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
    body = r.json()
    assert list(body) == ["id", "email", "phone", "emailVerifiedAt", "phoneVerifiedAt",
                          "isMfaEnabled", "metadata", "mustChangePassword", "roles",
                          "permissions"]
    assert (body["id"], body["email"], body["isMfaEnabled"]) == (uid, EMAIL, True)


# who pays for a wrong second factor (authgate.mfa.attempt_budget) --------------------------
PROXY = {"trusted_proxies": ["127.0.0.1"]}


def _from(ip: str, token: str) -> dict[str, str]:
    return {**bearer(token), "X-Forwarded-For": ip}


def _wrong(h: Harness, secret: str) -> str:
    valid = {code(h, secret, s) for s in (-1, 0, 1)}
    guess = 0
    while f"{guess:06d}" in valid:
        guess += 1
    return f"{guess:06d}"


async def _totp(h: Harness, token: str, otp: str, ip: str) -> Any:
    return await h.client.post("/auth/mfa/verify", headers=_from(ip, token),
                               json={"method": "totp", "otp": otp})


async def _mfa_owner(h: Harness, email: str = EMAIL) -> str:
    token = await signup_token(h, email)
    secret = await enroll(h, token)
    await enable_mfa(h, token)
    return secret


async def _login_from(h: Harness, ip: str) -> str:
    body = await pending_login(h, headers={"X-Forwarded-For": ip})
    assert body["isRequiresMfa"] is True
    token: str = body["accessToken"]
    return token


async def test_51_wrong_codes_from_attacker_sessions_leave_the_owners_day_alone(
        make_harness: MakeHarness) -> None:
    """Every limit at its default. The attacker knows the password and sends 51 wrong codes
    from one address, spread over half an hour (10 per 5 minutes, under the per-account
    row), signing in again each time a session is spent. Before: all 51 reached the account's
    daily row (50) and the owner's right code was refused for a day."""
    h = await make_harness(security=PROXY)
    secret = await _mfa_owner(h)
    attacker = "198.51.100.7"
    answers: list[tuple[int, str]] = []
    token = ""
    for i in range(51):
        if i % 3 == 0:
            token = await _login_from(h, attacker)
        r = await _totp(h, token, _wrong(h, secret), attacker)
        answers.append((r.status_code, r.json()["code"]))
        h.clock.advance(30)
    owner = "203.0.113.9"
    r = await _totp(h, await _login_from(h, owner), code(h, secret), owner)
    assert r.status_code == 200, r.text
    assert all(a in ((401, "MFA_CODE_INVALID"), (429, "MFA_TOO_MANY_ATTEMPTS")) for a in answers)
    assert answers.count((401, "MFA_CODE_INVALID")) == 5  # the account's 15-minute window


async def test_a_spent_session_is_refused_without_touching_the_accounts_day(
        make_harness: MakeHarness) -> None:
    h = await make_harness(security=PROXY, rate_limit={"mfa_verify": {
        "per_ip": None, "per_account": None, "per_account_long": {"limit": 4, "window": 86400}}})
    secret = await _mfa_owner(h)
    ip = "198.51.100.7"
    attacker = await _login_from(h, ip)
    for _ in range(3):
        r = await _totp(h, attacker, _wrong(h, secret), ip)
        assert_error(r, 401, "MFA_CODE_INVALID")
    for _ in range(7):  # the session's own allowance (3) is spent, even for the right code
        r = await _totp(h, attacker, code(h, secret), ip)
        assert_error(r, 429, "MFA_TOO_MANY_ATTEMPTS")
        assert 0 < int(r.headers["Retry-After"]) <= 600  # until the session's end at most
    r = await h.client.post("/auth/mfa/verify-recovery-code", headers=_from(ip, attacker),
                            json={"code": "AAAA-AAAA-AAAA-AAAA"})  # one allowance for both
    assert_error(r, 429, "MFA_TOO_MANY_ATTEMPTS")
    # 3 of the 4 a day were spent, not 11: the owner's right code still goes through
    owner = "203.0.113.9"
    r = await _totp(h, await _login_from(h, owner), code(h, secret), owner)
    assert r.status_code == 200, r.text


async def test_a_client_address_has_its_own_allowance_on_the_account(
        make_harness: MakeHarness) -> None:
    h = await make_harness(security=PROXY, rate_limit={"enabled": False},
                           mfa={"max_attempts": 100})
    secret = await _mfa_owner(h)
    ip = "198.51.100.7"
    answers = []
    for _ in range(4):  # 4 sessions from one address: 10 attempts a day get through
        token = await _login_from(h, ip)
        for _ in range(3):
            answers.append((await _totp(h, token, _wrong(h, secret), ip)).status_code)
            h.clock.advance(1)
    assert answers == [401] * 10 + [429] * 2
    r = await _totp(h, await _login_from(h, ip), code(h, secret), ip)
    assert_error(r, 429, "MFA_TOO_MANY_ATTEMPTS")
    r = await _totp(h, await _login_from(h, "198.51.100.0"), code(h, secret), "198.51.100.0")
    assert r.status_code == 200, r.text  # the next address is another client
    h.clock.advance(86400)
    r = await _totp(h, await _login_from(h, ip), code(h, secret), ip)
    assert r.status_code == 200, r.text  # the address's day is over
    # A success clears the address's count: the owner's own typos never add up (12 > 10).
    h.clock.advance(31)
    for _ in range(6):
        token = await _login_from(h, ip)
        for _ in range(2):
            assert (await _totp(h, token, _wrong(h, secret), ip)).status_code == 401
        r = await _totp(h, token, code(h, secret), ip)
        assert r.status_code == 200, r.text
        h.clock.advance(31)  # the next TOTP step (a step is accepted once)


# the owner is told when wrong codes pile up ------------------------------------------------
async def test_owner_is_emailed_once_per_window_when_failures_pile_up(
        make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await make_harness(app_name="Acme", delivery={"smtp": smtp_sink.settings()},
                           rate_limit={"enabled": False},
                           mfa={"max_attempts": 100, "client_max_attempts": 100})
    events: list[Event] = []
    h.res.events.subscribe(MFA_FAILURES_REPEATED, events.append)
    secret = await _mfa_owner(h)
    smtp_sink.messages.clear()

    async def wrong_codes(n: int) -> None:
        token = ""
        for i in range(n):
            if i % 3 == 0:
                token = (await pending_login(h))["accessToken"]
            if i % 2:
                r = await h.client.post("/auth/mfa/verify-recovery-code", headers=bearer(token),
                                        json={"code": "AAAA-AAAA-AAAA-AAAA"})
            else:
                r = await h.client.post("/auth/mfa/verify", headers=bearer(token), json={
                    "method": "totp", "otp": _wrong(h, secret)})
            assert r.status_code == 401, r.text
            h.clock.advance(60)

    await wrong_codes(4)
    await background.drain(h.res)
    assert smtp_sink.to(EMAIL) == [] and events == []
    await wrong_codes(1)  # the 5th (mfa.failure_alert_threshold) within a day
    assert [(e.user_id, e.data) for e in events] == [
        (events[0].user_id, {"failures": 5, "windowSeconds": 86400})]
    await background.drain(h.res)
    [mail] = smtp_sink.to(EMAIL)
    assert mail.subject == "Failed sign-in attempts on your Acme account"
    assert "5 times in the last 1 day" in mail.text and "change your password" in mail.text
    assert "<strong>5 times</strong>" in mail.html
    assert "AAAA" not in mail.text  # nothing of what was tried
    await wrong_codes(10)  # at most once per window
    await background.drain(h.res)
    assert len(smtp_sink.to(EMAIL)) == 1 and len(events) == 1
    h.clock.advance(86400)  # a new window
    await wrong_codes(5)
    await background.drain(h.res)
    assert len(smtp_sink.to(EMAIL)) == 2 and len(events) == 2
    # the owner's right code still works (the alert limits nothing)
    r = await _totp(h, (await pending_login(h))["accessToken"], code(h, secret), "127.0.0.1")
    assert r.status_code == 200, r.text


async def test_the_alert_email_is_overridable_and_can_be_turned_off(
        make_harness: MakeHarness, smtp_sink: SmtpSink, tmp_path: Path) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "mfa_failures.txt").write_text(
        "Subject: ${app_name}: ${failures} bad codes\n\n${failures} in ${window}.\n")
    h = await make_harness(delivery={"smtp": smtp_sink.settings(), "templates_dir": tmp_path},
                           mfa={"failure_alert_threshold": 2, "failure_alert_window": "1h"},
                           rate_limit={"enabled": False})
    secret = await _mfa_owner(h)
    token = (await pending_login(h))["accessToken"]
    for _ in range(2):
        assert (await _totp(h, token, _wrong(h, secret), "127.0.0.1")).status_code == 401
    await background.drain(h.res)
    [mail] = smtp_sink.to(EMAIL)
    assert mail.subject == "authgate: 2 bad codes" and mail.text.strip() == "2 in 1 hour."
    assert "<!DOCTYPE html>" in mail.html  # the packaged HTML part is still used
    (tmp_path / "email" / "mfa_failures.txt").write_text("Subject: x\n\n${code}\n")
    with pytest.raises(ValueError, match="unknown placeholder"):  # checked at start-up
        await make_harness(delivery={"templates_dir": tmp_path})

    off = await make_harness(delivery={"smtp": smtp_sink.settings()},
                             mfa={"failure_alert_threshold": None, "max_attempts": 100},
                             rate_limit={"enabled": False})
    secret = await _mfa_owner(off, "bob@example.com")  # (the same database as `h`)
    for _ in range(3):
        token = (await pending_login(off, "bob@example.com"))["accessToken"]
        for _ in range(3):
            assert (await _totp(off, token, _wrong(off, secret), "127.0.0.1")).status_code == 401
    await background.drain(off.res)
    assert smtp_sink.to("bob@example.com") == []
