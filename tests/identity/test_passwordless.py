"""Passwordless sign-in (send a code, then POST /auth/login with providerName "passwordless")
over HTTP on both databases, codes read from a real SMTP server and a real local SMS
endpoint, on a frozen clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from authgate import background
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error, count_users, set_user, stored_user, user_id_of
from tests.servers import SmsSink, SmtpSink

EMAIL = "alice@example.com"
PHONE = "+15551234567"
PW = "correct horse battery"
SENT = {"message": "If an account exists, a login code has been sent"}
FAILED = "Invalid or expired code"
ON = {"enabled": True}


async def _app(make_harness: MakeHarness, smtp_sink: SmtpSink, sms: SmsSink | None = None,
               **overrides: Any) -> Harness:
    delivery: dict[str, Any] = {"smtp": smtp_sink.settings()}
    if sms is not None:
        delivery["sms"] = sms.settings()
    overrides.setdefault("passwordless", ON)
    overrides.setdefault("rate_limit", {"enabled": False})
    return await make_harness(app_name="Acme", delivery=delivery, **overrides)


async def _user(h: Harness, email: str = EMAIL) -> str:
    assert (await h.signup(email, PW)).status_code == 200
    return await user_id_of(h.res, email)


async def _send(h: Harness, identifier: Any = EMAIL, channel: Any = "email",
                **extra: Any) -> httpx.Response:
    r = await h.client.post("/auth/passwordless/send",
                            json={"identifier": identifier, "channel": channel, **extra})
    await background.drain(h.res)
    return r


async def _login(h: Harness, code: Any, identifier: Any = EMAIL, **creds: Any) -> httpx.Response:
    return await h.client.post("/auth/login", json={
        "providerName": "passwordless",
        "credentials": {"identifier": identifier, "code": code, **creds}})


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_email_code_signs_in(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, rate_limit={})
    uid = await _user(h)
    r = await _send(h, " Alice@Example.com ")
    assert (r.status_code, r.json()) == (200, SENT)
    [mail] = smtp_sink.to(EMAIL)
    assert mail.subject == "Your Acme login code"
    assert "10 minutes" in mail.text and mail.code in mail.html

    r = await _login(h, mail.code, "ALICE@example.com")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["isRequiresMfa"] is False and body["message"] == "Login successful"
    assert (await h.client.get("/auth/user", headers=bearer(body["accessToken"]))).status_code \
        == 200
    me = await h.client.get("/auth/me", headers=bearer(body["accessToken"]))
    assert me.json()["emailVerifiedAt"] is not None
    assert (await stored_user(h.res, uid)).email_verified_at == h.clock.now()
    # Single use.
    assert_error(await _login(h, mail.code), 400, "VERIFICATION_CODE_INVALID", FAILED)


async def test_unknown_identifiers_get_the_same_answer(make_harness: MakeHarness,
                                                       smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    await _user(h)
    known = await _send(h, EMAIL)
    unknown = await _send(h, "nobody@example.com")
    assert (unknown.status_code, unknown.content) == (known.status_code, known.content)
    assert [m.rcpt_tos for m in smtp_sink.messages] == [[EMAIL]]
    assert await count_users(h.res) == 1
    code = smtp_sink.last_code(EMAIL)
    assert_error(await _login(h, code, "nobody@example.com"), 400, "VERIFICATION_CODE_INVALID",
                 FAILED)


async def test_sign_up_by_code(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink,
                   passwordless={"enabled": True, "allow_sign_up": True})
    assert (await _send(h, "New@Example.com")).json() == SENT
    assert await count_users(h.res, "new@example.com") == 1
    r = await _login(h, smtp_sink.last_code("new@example.com"), "new@example.com")
    assert r.status_code == 200, r.text
    # The account has no password: password sign-in fails like any wrong password.
    assert_error(await h.login("new@example.com", PW), 401, "INVALID_CREDENTIALS")


async def test_no_sign_up_while_registration_is_disabled(make_harness: MakeHarness,
                                                         smtp_sink: SmtpSink) -> None:
    """Upstream answers 403 REGISTRATION_DISABLED for unknown users only (§9.1): an oracle."""
    h = await _app(make_harness, smtp_sink, registration={"enabled": False},
                   passwordless={"enabled": True, "allow_sign_up": True})
    r = await _send(h, "new@example.com")
    assert (r.status_code, r.json()) == (200, SENT)
    assert await count_users(h.res) == 0 and smtp_sink.messages == []


async def test_passwordless_disabled(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, passwordless={"enabled": False})
    await _user(h)
    assert_error(await _send(h), 403, "PASSWORDLESS_DISABLED", "Passwordless login is disabled")
    assert_error(await _login(h, "123456"), 401, "INVALID_PROVIDER")
    config = (await h.client.get("/auth/client-config")).json()
    assert config["passwordless"] == {"enabled": False, "allowSignUp": False}
    h2 = await _app(make_harness, smtp_sink,
                    passwordless={"enabled": True, "allow_sign_up": True})
    config = (await h2.client.get("/auth/client-config")).json()
    assert config["passwordless"] == {"enabled": True, "allowSignUp": True}
    assert smtp_sink.messages == []


async def test_send_refusals(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    await _user(h)
    for blank in ("", "   "):
        assert_error(await _send(h, blank), 400, "MISSING_REQUIRED_FIELD",
                     "Identifier is required")
    assert_error(await _send(h, "not-an-email"), 400, "MISSING_REQUIRED_FIELD",
                 "A valid email is required")
    assert_error(await _send(h, PHONE, "sms"), 400, "PROVIDER_NOT_FOUND",
                 "Phone authentication is not enabled")
    assert_error(await _send(h, EMAIL, "carrier-pigeon"), 400, "INVALID_INPUT")
    assert_error(await _send(h, 42), 400, "INVALID_INPUT")
    assert_error(await _send(h, EMAIL, tenantId="t1"), 400, "TENANT_NOT_ENABLED")
    h2 = await _app(make_harness, smtp_sink, email_auth_enabled=False)
    assert_error(await _send(h2), 400, "PROVIDER_NOT_FOUND", "Email authentication is not enabled")
    h3 = await _app(make_harness, smtp_sink, phone_auth_enabled=True)  # no SMS provider
    assert_error(await _send(h3, PHONE, "sms"), 400, "PROVIDER_NOT_FOUND",
                 "SMS delivery is not configured")
    assert_error(await _send(h3, "call me", "sms"), 400, "MISSING_REQUIRED_FIELD",
                 "A valid phone number is required")
    assert smtp_sink.messages == []


async def test_login_refusals(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    await _user(h)
    await _send(h)
    code = smtp_sink.last_code(EMAIL)
    assert_error(await _login(h, ""), 400, "MISSING_REQUIRED_FIELDS",
                 "Missing identifier, code required fields")
    assert_error(await _login(h, code, ""), 400, "MISSING_REQUIRED_FIELDS")
    for creds in ({"code": 123456}, {"identifier": ["a@b.co"]}):
        body = {"identifier": EMAIL, "code": code, **creds}
        r = await h.client.post("/auth/login", json={"providerName": "passwordless",
                                                     "credentials": body})
        assert_error(r, 400, "INVALID_INPUT",
                     "identifier and code are required for passwordless OTP login")
    for channels in ("email", [], ["email", "fax"]):
        assert_error(await _login(h, code, channels=channels), 400, "INVALID_INPUT")
    assert_error(await _login(h, "   "), 400, "VERIFICATION_CODE_INVALID", FAILED)
    assert_error(await _login(h, _wrong(code)), 400, "VERIFICATION_CODE_INVALID", FAILED)
    # The email code is not tried on a channel the caller left out.
    assert_error(await _login(h, code, channels=["sms"]), 400, "VERIFICATION_CODE_INVALID",
                 FAILED)
    r = await _login(h, code, channels=["sms", "email"])
    assert r.status_code == 200, r.text


async def test_codes_expire(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    """W4: upstream never checks a passwordless code's expiry."""
    h = await _app(make_harness, smtp_sink, passwordless={"enabled": True,
                                                          "code_expires_in": "3m"})
    await _user(h)
    await _send(h)
    assert "3 minutes" in smtp_sink.to(EMAIL)[-1].text
    h.clock.advance(timedelta(minutes=3))
    assert_error(await _login(h, smtp_sink.last_code(EMAIL)), 400, "VERIFICATION_CODE_INVALID",
                 FAILED)
    await _send(h)
    h.clock.advance(timedelta(minutes=3) - timedelta(milliseconds=1))
    assert (await _login(h, smtp_sink.last_code(EMAIL))).status_code == 200


async def test_wrong_codes_are_counted(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    """W4: upstream never counts wrong passwordless codes."""
    h = await _app(make_harness, smtp_sink, mfa={"max_attempts": 2})
    await _user(h)
    await _send(h)
    code = smtp_sink.last_code(EMAIL)
    for _ in range(2):
        assert_error(await _login(h, _wrong(code)), 400, "VERIFICATION_CODE_INVALID", FAILED)
    assert_error(await _login(h, code), 400, "VERIFICATION_CODE_INVALID", FAILED)


async def test_resend_inside_the_throttle_window_is_silent(make_harness: MakeHarness,
                                                          smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    await _user(h)
    assert (await _send(h)).json() == SENT
    h.clock.advance(timedelta(seconds=10))
    assert (await _send(h)).json() == SENT
    assert len(smtp_sink.to(EMAIL)) == 1
    h.clock.advance(timedelta(seconds=20))
    await _send(h)
    assert len(smtp_sink.to(EMAIL)) == 2
    assert (await _login(h, smtp_sink.last_code(EMAIL))).status_code == 200


@pytest.mark.parametrize("required", [False, True])
async def test_mfa_is_not_skipped(make_harness: MakeHarness, smtp_sink: SmtpSink,
                                  required: bool) -> None:
    """W4: upstream answers isRequiresMfa:false for passwordless logins."""
    h = await _app(make_harness, smtp_sink, mfa={"required": required})
    r = await h.signup(EMAIL, PW)
    if not required:
        await set_user(h.res, await user_id_of(h.res, EMAIL), email_verified_at=h.clock.now())
        toggle = await h.client.post("/auth/mfa/toggle", json={"enabled": True},
                                     headers=bearer(r.json()["accessToken"]))
        assert toggle.status_code == 200, toggle.text
    await _send(h)
    r = await _login(h, smtp_sink.last_code(EMAIL))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["isRequiresMfa"] is True
    assert body["mfaMethods"] == ["email"]
    assert_error(await h.client.get("/auth/user", headers=bearer(body["accessToken"])), 401,
                 "MFA_REQUIRED")


async def test_sms_code_signs_in_and_verifies_the_phone(make_harness: MakeHarness,
                                                       smtp_sink: SmtpSink,
                                                       sms_sink: SmsSink) -> None:
    h = await _app(make_harness, smtp_sink, sms_sink, phone_auth_enabled=True)
    uid = await _user(h)
    await set_user(h.res, uid, phone=PHONE)
    # A code sent by email is refused when presented for the phone channel.
    await _send(h, EMAIL)
    assert_error(await _login(h, smtp_sink.last_code(EMAIL), PHONE), 400,
                 "VERIFICATION_CODE_INVALID", FAILED)
    h.clock.advance(timedelta(seconds=30))
    assert (await _send(h, "+1 555 123 4567", "sms")).json() == SENT
    [sms] = sms_sink.to(PHONE)
    assert sms.form["Body"] == f"{sms.code} is your Acme login code. It expires in 10 minutes."
    r = await _login(h, sms.code, "+1 555 123 4567")  # default channels: email, then sms
    assert r.status_code == 200, r.text
    user = await stored_user(h.res, uid)
    assert user.phone_verified_at == h.clock.now() and user.email_verified_at is None


async def test_suspended_account_is_told_only_after_the_code(make_harness: MakeHarness,
                                                             smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    uid = await _user(h)
    await set_user(h.res, uid, status="suspended")
    await _send(h)
    code = smtp_sink.last_code(EMAIL)
    assert_error(await _login(h, _wrong(code)), 400, "VERIFICATION_CODE_INVALID", FAILED)
    assert_error(await _login(h, code), 401, "ACCOUNT_INACTIVE")


async def test_a_passwordless_account_can_set_a_password_by_reset(make_harness: MakeHarness,
                                                                 smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink,
                   passwordless={"enabled": True, "allow_sign_up": True})
    await _send(h, "new@example.com")
    r = await h.client.post("/auth/forgot-password", json={"email": "new@example.com"})
    assert r.status_code == 200
    await background.drain(h.res)
    code = smtp_sink.last_code("new@example.com")
    r = await h.client.post("/auth/verify-forgot-password-otp",
                            json={"email": "new@example.com", "code": code})
    assert r.status_code == 200, r.text
    r = await h.client.post("/auth/reset-password",
                            json={"token": r.json()["resetToken"], "newPassword": PW})
    assert r.status_code == 200, r.text
    assert (await h.login("new@example.com", PW)).status_code == 200
