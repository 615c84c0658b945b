"""Forgot password → verify the code → reset, over HTTP on both databases, with the codes read
from a real SMTP server (aiosmtpd) and a real local SMS endpoint, on a frozen clock."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select

from authgate import background
from authgate.mfa import trust
from authgate.mfa.models import TrustedDevice
from authgate.otp import codes
from authgate.sessions.service import ClientMeta
from authgate.tx import transaction
from tests.conftest import TEST_SECRET, Harness, MakeHarness, bearer
from tests.helpers import (
    answer_headers,
    assert_error,
    claims,
    delete_user,
    set_user,
    stored_user,
    user_id_of,
)
from tests.servers import SmsSink, SmtpSink

EMAIL = "alice@example.com"
PHONE = "+15551234567"
PW = "correct horse battery"
NEW = "a different staple 42"
SENT = {"message": "If your email is registered, you will receive a password reset link"}
NO_LIMITS = {"enabled": False}


async def _app(make_harness: MakeHarness, smtp_sink: SmtpSink, sms: SmsSink | None = None,
               **overrides: Any) -> Harness:
    delivery: dict[str, Any] = {"smtp": smtp_sink.settings()}
    if sms is not None:
        delivery["sms"] = sms.settings()
    delivery.update(overrides.pop("delivery", {}))
    return await make_harness(app_name="Acme", delivery=delivery, **overrides)


async def _user(h: Harness, email: str = EMAIL) -> str:
    r = await h.signup(email, PW)
    assert r.status_code == 200, r.text
    return await user_id_of(h.res, email)


async def _forgot(h: Harness, **body: Any) -> httpx.Response:
    return await h.client.post("/auth/forgot-password", json=body)


async def _verify(h: Harness, **body: Any) -> httpx.Response:
    return await h.client.post("/auth/verify-forgot-password-otp", json=body)


async def _reset(h: Harness, token: Any, password: Any = NEW) -> httpx.Response:
    return await h.client.post("/auth/reset-password",
                               json={"token": token, "newPassword": password})


async def _mailed_code(h: Harness, sink: SmtpSink, email: str = EMAIL) -> str:
    """Ask for a reset code and read it from the SMTP server."""
    before = len(sink.to(email))
    assert (await _forgot(h, email=email)).json() == SENT
    await background.drain(h.res)
    assert len(sink.to(email)) == before + 1
    return sink.last_code(email)


async def _reset_token(h: Harness, sink: SmtpSink, email: str = EMAIL) -> str:
    code = await _mailed_code(h, sink, email)
    r = await _verify(h, email=email, code=code)
    assert r.status_code == 200, r.text
    token: str = r.json()["resetToken"]
    return token


async def _login(h: Harness, password: str, trust_token: str) -> httpx.Response:
    return await h.client.post("/auth/login", headers={"nest_auth_device_trust": trust_token},
                               json={"providerName": "email",
                                     "credentials": {"email": EMAIL, "password": password}})


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


# the happy path ----------------------------------------------------------------------------
async def test_forgot_verify_reset_end_to_end(make_harness: MakeHarness,
                                              smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    uid = await _user(h)
    session = (await h.login()).json()["accessToken"]
    await set_user(h.res, uid, must_change_password=True)

    r = await _forgot(h, email=EMAIL)
    assert (r.status_code, r.json()) == (200, SENT)
    await background.drain(h.res)
    [mail] = smtp_sink.to(EMAIL)
    assert mail.subject == "Reset your Acme password"
    assert "10 minutes" in mail.text  # password.reset_code_expires_in
    assert mail.code in mail.html

    r = await _verify(h, email=EMAIL, code=mail.code)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"message", "resetToken"}
    assert body["message"] == "OTP verified successfully"
    token_claims = claims(body["resetToken"])
    assert token_claims["type"] == "password-reset" and token_claims["userId"] == uid
    assert token_claims["exp"] - token_claims["iat"] == 15 * 60  # reset_token_expires_in
    assert mail.code not in body["resetToken"]

    r = await _reset(h, body["resetToken"])
    assert (r.status_code, r.json()) == (200, {"message": "Password has been reset successfully"})
    assert_error(await h.login(password=PW), 401, "INVALID_CREDENTIALS")
    assert (await h.login(password=NEW)).status_code == 200
    assert_error(await h.client.get("/auth/me", headers=bearer(session)), 401,
                 "SESSION_NOT_FOUND")
    assert (await stored_user(h.res, uid)).must_change_password is False
    # The code was consumed with the verification, the token with the reset.
    assert await codes.pending(h.res, user_id=uid, purpose="password_reset") is None
    assert_error(await _verify(h, email=EMAIL, code=mail.code), 400,
                 "VERIFICATION_CODE_INVALID")


async def test_phone_flow_uses_sms_and_the_phone_wins(make_harness: MakeHarness,
                                                      smtp_sink: SmtpSink,
                                                      sms_sink: SmsSink) -> None:
    h = await _app(make_harness, smtp_sink, sms_sink, phone_auth_enabled=True)
    uid = await _user(h)
    await set_user(h.res, uid, phone=PHONE)
    assert (await _forgot(h, email=EMAIL, phone="+1 555 123 4567")).json() == SENT
    await background.drain(h.res)
    assert smtp_sink.to(EMAIL) == []
    [sms] = sms_sink.to(PHONE)
    assert sms.form["Body"] == (f"{sms.code} is your Acme password reset code. "
                                "It expires in 10 minutes.")
    # A texted code is bound to the phone: presented for the email address it is wrong.
    assert_error(await _verify(h, email=EMAIL, code=sms.code), 400,
                 "VERIFICATION_CODE_INVALID")
    r = await _verify(h, phone=PHONE, code=sms.code)
    assert r.status_code == 200, r.text
    assert (await _reset(h, r.json()["resetToken"])).status_code == 200
    assert (await h.login(password=NEW)).status_code == 200


async def test_known_and_unknown_accounts_get_the_same_answer(make_harness: MakeHarness,
                                                             smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    await _user(h)
    suspended = await _user(h, "sus@example.com")
    await set_user(h.res, suspended, status="suspended")
    answers = [await _forgot(h, email=e)
               for e in (EMAIL, "nobody@example.com", "sus@example.com", "ALICE@example.com")]
    await background.drain(h.res)
    for r in answers:
        assert r.status_code == 200
        assert r.content == answers[0].content
        assert answer_headers(r) == answer_headers(answers[0])
    # One mail: the known, active account (asked twice, in two spellings: the second
    # request fell inside the resend throttle and was dropped silently).
    assert len(smtp_sink.messages) == 1
    assert smtp_sink.messages[0].rcpt_tos == [EMAIL]


async def test_the_answer_does_not_wait_for_the_mail_relay(make_harness: MakeHarness,
                                                          smtp_sink: SmtpSink) -> None:
    """The relay holds the message until released: the request has long been answered."""
    release = threading.Event()
    original = smtp_sink.handle_DATA

    async def held(server: Any, session: Any, envelope: Any) -> str:
        release.wait(30)  # the relay's own thread; a safety bound, not an assertion
        return await original(server, session, envelope)

    smtp_sink.handle_DATA = held  # type: ignore[method-assign]
    h = await _app(make_harness, smtp_sink)
    await _user(h)
    try:
        r = await _forgot(h, email=EMAIL)
        assert (r.status_code, r.json()) == (200, SENT)
        # the delivery is still under way behind the answer (the audit writer may be too)
        assert [t.get_name() for t in h.res.tasks if not t.done()
                if "audit" not in t.get_name()] == ["authgate: password reset code"]
        assert smtp_sink.messages == []
    finally:
        release.set()
    await background.drain(h.res)
    assert len(smtp_sink.to(EMAIL)) == 1


async def test_resend_inside_the_throttle_window_is_silent(make_harness: MakeHarness,
                                                          smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, rate_limit=NO_LIMITS)
    await _user(h)
    first = await _mailed_code(h, smtp_sink)
    h.clock.advance(timedelta(seconds=29))
    assert (await _forgot(h, email=EMAIL)).json() == SENT  # no 429: that would be an oracle
    await background.drain(h.res)
    assert len(smtp_sink.to(EMAIL)) == 1
    h.clock.advance(timedelta(seconds=1))
    second = await _mailed_code(h, smtp_sink)
    if second != first:  # the new code replaced the old one
        assert_error(await _verify(h, email=EMAIL, code=first), 400,
                     "VERIFICATION_CODE_INVALID")
    assert (await _verify(h, email=EMAIL, code=second)).status_code == 200


async def test_failed_delivery_is_logged_without_the_code_and_leaves_no_code(
        make_harness: MakeHarness, smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    h = await _app(make_harness, smtp_sink)
    uid = await _user(h)
    smtp_sink.refuse.add(EMAIL)
    with caplog.at_level(logging.WARNING, logger="authgate.background"):
        assert (await _forgot(h, email=EMAIL)).json() == SENT
        await background.drain(h.res)
    assert "password reset code failed: DELIVERY_FAILED" in caplog.text
    assert await codes.pending(h.res, user_id=uid, purpose="password_reset") is None
    smtp_sink.refuse.clear()  # the failure did not arm the resend throttle
    await _mailed_code(h, smtp_sink)


async def test_forgot_password_refusals(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    assert_error(await _forgot(h), 400, "EMAIL_OR_PHONE_REQUIRED",
                 "Either email or phone must be provided")
    assert_error(await _forgot(h, email="", phone=""), 400, "EMAIL_OR_PHONE_REQUIRED")
    assert_error(await _forgot(h, email=EMAIL, tenantId="t1"), 400, "TENANT_NOT_ENABLED")
    assert_error(await _forgot(h, phone=PHONE), 400, "PROVIDER_NOT_FOUND",
                 "Phone authentication is not enabled")
    assert_error(await _forgot(h, email="not-an-email"), 400, "INVALID_INPUT",
                 "email must be an email")
    assert_error(await _forgot(h, email=["a@b.co"]), 400, "INVALID_INPUT")
    h2 = await _app(make_harness, smtp_sink, phone_auth_enabled=True)  # no SMS provider
    assert_error(await _forgot(h2, phone="call me"), 400, "INVALID_PHONE_FORMAT")
    assert_error(await _forgot(h2, phone=PHONE), 400, "PROVIDER_NOT_FOUND",
                 "SMS delivery is not configured")
    h3 = await _app(make_harness, smtp_sink, email_auth_enabled=False)
    assert_error(await _forgot(h3, email=EMAIL), 400, "PROVIDER_NOT_FOUND",
                 "Email authentication is not enabled")
    await background.drain(h.res)
    assert smtp_sink.messages == []


async def test_forgot_password_is_rate_limited_alike_for_every_address(
        make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, rate_limit={"forgot_password": {
        "per_ip": None, "per_account": {"limit": 2, "window": "5m"}}})
    await _user(h)
    for email in (EMAIL, "nobody@example.com"):
        for _ in range(2):
            assert (await _forgot(h, email=email)).status_code == 200
        r = assert_error(await _forgot(h, email=email), 429, "RATE_LIMITED")
        assert r["message"] == "Too many requests. Please try again later."
    await background.drain(h.res)


# verify-forgot-password-otp ----------------------------------------------------------------
async def test_unknown_account_and_wrong_code_look_the_same(make_harness: MakeHarness,
                                                            smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, rate_limit=NO_LIMITS)
    uid = await _user(h)
    suspended = await _user(h, "sus@example.com")
    await set_user(h.res, suspended, status="suspended")
    code = await _mailed_code(h, smtp_sink)
    wrong = await _verify(h, email=EMAIL, code=_wrong(code))
    unknown = await _verify(h, email="nobody@example.com", code=code)
    inactive = await _verify(h, email="sus@example.com", code=code)
    no_code = await _verify(h, email="sus@example.com", code="123456")
    for r in (wrong, unknown, inactive, no_code):
        assert_error(r, 400, "VERIFICATION_CODE_INVALID", "Invalid verification code")
        assert r.content == wrong.content
    row = await codes.pending(h.res, user_id=uid, purpose="password_reset")
    assert row is not None and row.attempts == 1  # the miss counted on the real code
    assert (await _verify(h, email=EMAIL, code=code)).status_code == 200


async def test_verify_refusals(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, rate_limit=NO_LIMITS)
    uid = await _user(h)
    code = await _mailed_code(h, smtp_sink)
    for body in ({"email": EMAIL, "code": ""}, {"email": EMAIL, "code": "   "},
                 {"email": EMAIL}, {"email": "nobody@example.com", "code": ""}):
        assert_error(await _verify(h, **body), 400, "MISSING_REQUIRED_FIELD",
                     "Verification code is required")
    assert_error(await _verify(h, code=code), 400, "EMAIL_OR_PHONE_REQUIRED")
    assert_error(await _verify(h, email=EMAIL, code=code, tenantId="t"), 400,
                 "TENANT_NOT_ENABLED")
    assert_error(await _verify(h, phone=PHONE, code=code), 400, "PROVIDER_NOT_FOUND")
    assert_error(await _verify(h, email=EMAIL, code=123456), 400, "INVALID_INPUT")
    assert_error(await _verify(h, email="nope", code=code), 400, "INVALID_INPUT")
    row = await codes.pending(h.res, user_id=uid, purpose="password_reset")
    assert row is not None and row.attempts == 0  # none of those was a guess


async def test_otp_is_an_alias_of_code(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    await _user(h)
    code = await _mailed_code(h, smtp_sink)
    r = await _verify(h, email=EMAIL, otp=code)
    assert r.status_code == 200, r.text
    assert (await _reset(h, r.json()["resetToken"])).status_code == 200


async def test_code_expiry_edges(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, rate_limit=NO_LIMITS,
                   password={"reset_code_expires_in": "5m"})
    await _user(h)
    code = await _mailed_code(h, smtp_sink)
    assert "5 minutes" in smtp_sink.to(EMAIL)[-1].text
    h.clock.advance(timedelta(minutes=5) - timedelta(milliseconds=1))
    assert (await _verify(h, email=EMAIL, code=code)).status_code == 200  # last instant
    code = await _mailed_code(h, smtp_sink)
    h.clock.advance(timedelta(minutes=5))
    assert_error(await _verify(h, email=EMAIL, code=code), 400, "VERIFICATION_CODE_EXPIRED",
                 "Verification code has expired")


async def test_wrong_codes_use_the_code_up(make_harness: MakeHarness,
                                           smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, rate_limit=NO_LIMITS, mfa={"max_attempts": 3})
    await _user(h)
    code = await _mailed_code(h, smtp_sink)
    for _ in range(3):  # the last miss uses the code up, and says no more (issue 12, item 5)
        assert_error(await _verify(h, email=EMAIL, code=_wrong(code)), 400,
                     "VERIFICATION_CODE_INVALID", "Invalid verification code")
    assert_error(await _verify(h, email=EMAIL, code=code), 400, "VERIFICATION_CODE_INVALID")


async def test_guesses_are_limited_per_account(make_harness: MakeHarness,
                                               smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, rate_limit={"otp_verify": {
        "per_ip": None, "per_account": {"limit": 3, "window": "5m"}}})
    await _user(h)
    code = await _mailed_code(h, smtp_sink)
    for email in (EMAIL, "nobody@example.com"):  # unknown addresses are limited alike
        for _ in range(3):
            assert_error(await _verify(h, email=email, code=_wrong(code)), 400,
                         "VERIFICATION_CODE_INVALID")
        assert_error(await _verify(h, email=email, code=code), 429, "RATE_LIMITED")
    h.clock.advance(timedelta(minutes=5))
    assert (await _verify(h, email=EMAIL, code=code)).status_code == 200


async def test_strangers_cannot_spend_the_owners_reset_budget(make_harness: MakeHarness,
                                                             smtp_sink: SmtpSink) -> None:
    """The per-account budget is kept per client (issue 12, item 3): plain requests from
    elsewhere do not hold up the owner's reset. The code itself still dies after
    ``mfa.max_attempts`` misses from all clients together."""
    h = await _app(make_harness, smtp_sink, security={"trusted_proxies": ["127.0.0.1"]},
                   rate_limit={"otp_verify": {"per_ip": None,
                                              "per_account": {"limit": 3, "window": "5m"},
                                              "per_account_long": {"limit": 4, "window": "6h"}}})
    await _user(h)
    code = await _mailed_code(h, smtp_sink)

    async def verify(guess: str, ip: str) -> httpx.Response:
        return await h.client.post("/auth/verify-forgot-password-otp",
                                   headers={"X-Forwarded-For": ip},
                                   json={"email": EMAIL, "code": guess})

    for _ in range(3):
        assert_error(await verify("000000" if code != "000000" else "111111", "203.0.113.5"),
                     400, "VERIFICATION_CODE_INVALID")
    assert_error(await verify(code, "203.0.113.5"), 429, "RATE_LIMITED")
    r = await verify(code, "198.51.100.1")  # the owner, from their own address
    assert r.status_code == 200, r.text
    # every client's misses count on the code: five in all and it is gone
    code = await _mailed_code(h, smtp_sink)
    for n in range(5):
        assert_error(await verify("000000" if code != "000000" else "111111", f"192.0.2.{n}"),
                     400, "VERIFICATION_CODE_INVALID", "Invalid verification code")
    assert_error(await verify(code, "198.51.100.1"), 400, "VERIFICATION_CODE_INVALID")


async def test_unknown_and_real_accounts_answer_alike_attempt_after_attempt(
        make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    """Item 5 of issue 12: the miss that uses a real code up used to say "Too many invalid
    attempts…" where an unknown account always said "Invalid verification code"."""
    h = await _app(make_harness, smtp_sink)  # every limit at its default
    await _user(h)
    code = await _mailed_code(h, smtp_sink)
    assert (await _forgot(h, email="nobody@example.com")).json() == SENT
    await background.drain(h.res)
    seen: dict[str, list[tuple[int, bytes]]] = {}
    for email in (EMAIL, "nobody@example.com"):
        seen[email] = []
        for _ in range(7):
            r = await _verify(h, email=email, code=_wrong(code))
            seen[email].append((r.status_code, r.content))
    assert seen[EMAIL] == seen["nobody@example.com"]
    assert {c for _, c in seen[EMAIL]} == {
        b'{"statusCode":400,"error":"Bad Request","message":"Invalid verification code",'
        b'"code":"VERIFICATION_CODE_INVALID"}'}


# reset-password ----------------------------------------------------------------------------
async def test_a_reset_token_works_once(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    await _user(h)
    token = await _reset_token(h, smtp_sink)
    assert (await _reset(h, token)).status_code == 200
    assert_error(await _reset(h, token, "yet another staple 7"), 400,
                 "PASSWORD_RESET_TOKEN_INVALID", "Reset token is no longer valid")
    assert (await h.login(password=NEW)).status_code == 200


async def test_a_newer_token_revokes_the_older_one(make_harness: MakeHarness,
                                                   smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    await _user(h)
    older = await _reset_token(h, smtp_sink)
    h.clock.advance(timedelta(seconds=30))
    newer = await _reset_token(h, smtp_sink)
    assert_error(await _reset(h, older), 400, "PASSWORD_RESET_TOKEN_INVALID",
                 "Reset token is no longer valid")
    assert (await _reset(h, newer)).status_code == 200


async def test_a_password_change_kills_the_token(make_harness: MakeHarness,
                                                 smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    await _user(h)
    token = await _reset_token(h, smtp_sink)
    session = (await h.login()).json()["accessToken"]
    r = await h.client.post("/auth/change-password", headers=bearer(session),
                            json={"currentPassword": PW, "newPassword": NEW})
    assert r.status_code == 200, r.text
    assert_error(await _reset(h, token, "yet another staple 7"), 400,
                 "PASSWORD_RESET_TOKEN_INVALID", "Reset token is no longer valid")
    assert (await h.login(password=NEW)).status_code == 200


async def test_token_expiry_edges(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, password={"reset_token_expires_in": "10m"})
    await _user(h)
    token = await _reset_token(h, smtp_sink)
    h.clock.advance(timedelta(minutes=10))
    assert_error(await _reset(h, token), 400, "PASSWORD_RESET_TOKEN_INVALID",
                 "Invalid or expired reset token")
    h.clock.advance(timedelta(seconds=30))
    token = await _reset_token(h, smtp_sink)
    h.clock.advance(timedelta(minutes=10) - timedelta(seconds=1))
    assert (await _reset(h, token)).status_code == 200


async def test_unusable_tokens(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    await _user(h)
    login = (await h.login()).json()
    now = int(h.clock.now().timestamp())
    forged = jwt.encode({"userId": "x", "jti": "y", "type": "password-reset", "iat": now,
                         "exp": now + 600}, TEST_SECRET, algorithm="HS256")
    for token in ("garbage", "a.b.c", forged, "x" * 4096):
        assert_error(await _reset(h, token), 400, "PASSWORD_RESET_TOKEN_INVALID",
                     "Invalid or expired reset token")
    for token in (login["accessToken"], login["refreshToken"]):
        assert_error(await _reset(h, token), 400, "PASSWORD_RESET_TOKEN_INVALID",
                     "Invalid token type")
    assert_error(await _reset(h, ""), 400, "INVALID_INPUT")
    assert_error(await _reset(h, 42), 400, "INVALID_INPUT")
    r = await h.client.post("/auth/reset-password", json={"token": "garbage"})
    assert_error(r, 400, "INVALID_INPUT")
    assert (await h.login()).status_code == 200  # nothing changed


async def test_reset_of_a_deleted_account(make_harness: MakeHarness,
                                          smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    uid = await _user(h)
    token = await _reset_token(h, smtp_sink)
    await delete_user(h.res, uid)
    assert_error(await _reset(h, token), 400, "USER_NOT_FOUND", "User not found")


@pytest.mark.parametrize(("password", "code"), [
    ("short", "PASSWORD_TOO_SHORT"),
    ("x" * 129, "PASSWORD_TOO_LONG"),
    ("password1234", "PASSWORD_TOO_COMMON"),
    ("qwertyuiop12", "PASSWORD_TOO_WEAK"),
    ("alice-secret-2024", "PASSWORD_CONTAINS_IDENTIFIER"),
])
async def test_the_policy_applies_and_a_refusal_keeps_the_token(
        make_harness: MakeHarness, smtp_sink: SmtpSink, password: str, code: str) -> None:
    h = await _app(make_harness, smtp_sink)
    await _user(h)
    token = await _reset_token(h, smtp_sink)
    assert_error(await _reset(h, token, password), 400, code)
    assert (await h.login()).status_code == 200
    assert (await _reset(h, token)).status_code == 200


async def test_reset_ends_every_session_and_trusted_device(make_harness: MakeHarness,
                                                           smtp_sink: SmtpSink) -> None:
    # Even with sessions kept on password change, a reset ends all of them.
    h = await _app(make_harness, smtp_sink, password={"revoke_sessions_on_change": "none"})
    uid = await _user(h)
    await set_user(h.res, uid, email_verified_at=h.clock.now())
    first = (await h.login()).json()["accessToken"]
    assert (await h.client.post("/auth/mfa/toggle", json={"enabled": True},
                                headers=bearer(first))).status_code == 200
    async with transaction(h.res.sessionmaker) as tx:
        device = await trust.issue_trust(h.res, tx, uid, ClientMeta())
    assert device is not None
    trusted = await _login(h, PW, device)
    assert trusted.json()["isRequiresMfa"] is False
    sessions = [first, trusted.json()["accessToken"]]

    assert (await _reset(h, await _reset_token(h, smtp_sink))).status_code == 200
    for token in sessions:
        assert_error(await h.client.get("/auth/verify-session", headers=bearer(token)), 401,
                     "SESSION_NOT_FOUND")
    async with h.res.readmaker() as s:
        rows = (await s.execute(select(TrustedDevice).where(TrustedDevice.user_id == uid))
                ).scalars().all()
    assert [r.revoked_at for r in rows] == [h.clock.now()]
    again = await _login(h, NEW, device)
    assert again.json()["isRequiresMfa"] is True


async def test_change_password_revokes_trusted_devices(make_harness: MakeHarness,
                                                       smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    uid = await _user(h)
    token = (await h.login()).json()["accessToken"]
    async with transaction(h.res.sessionmaker) as tx:
        device = await trust.issue_trust(h.res, tx, uid, ClientMeta())
    assert device is not None and await trust.consume_trust(h.res, uid, device)
    r = await h.client.post("/auth/change-password", headers=bearer(token),
                            json={"currentPassword": PW, "newPassword": NEW})
    assert r.status_code == 200, r.text
    assert await trust.consume_trust(h.res, uid, device) is False


async def test_reset_lifts_a_lockout(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, rate_limit={
        "login": {"per_ip": None, "per_account": None},
        "lockout": {"max_failures": 2}})
    await _user(h)
    for _ in range(2):
        assert_error(await h.login(password="wrong password 1"), 401, "INVALID_CREDENTIALS")
    assert_error(await h.login(password="wrong password 1"), 429, "ACCOUNT_LOCKED")
    assert (await _reset(h, await _reset_token(h, smtp_sink))).status_code == 200
    assert (await h.login(password=NEW)).status_code == 200


async def test_concurrent_use_of_one_token_succeeds_once(make_harness: MakeHarness,
                                                         smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    await _user(h)
    token = await _reset_token(h, smtp_sink)
    passwords = [f"{NEW} {n}" for n in range(6)]
    answers = await asyncio.gather(*(_reset(h, token, p) for p in passwords))
    winners = [p for p, r in zip(passwords, answers, strict=True) if r.status_code == 200]
    assert len(winners) == 1, [r.text for r in answers]
    for r in answers:
        if r.status_code != 200:
            assert_error(r, 400, "PASSWORD_RESET_TOKEN_INVALID")
    assert (await h.login(password=winners[0])).status_code == 200


async def test_template_override_for_the_reset_mail(make_harness: MakeHarness,
                                                    smtp_sink: SmtpSink,
                                                    tmp_path: Path) -> None:
    folder = tmp_path / "templates" / "email"
    folder.mkdir(parents=True)
    (folder / "password_reset.txt").write_text(
        "Subject: ${app_name}: your reset code\n\nCode ${code}, valid ${expires_minutes} min.\n")
    h = await _app(make_harness, smtp_sink, delivery={"templates_dir": tmp_path / "templates"})
    await _user(h)
    code = await _mailed_code(h, smtp_sink)
    mail = smtp_sink.to(EMAIL)[-1]
    assert mail.subject == "Acme: your reset code"
    assert mail.text.strip() == f"Code {code}, valid 10 min."
    # Overrides go file by file: the packaged HTML part is still used.
    assert "<title>Reset your Acme password</title>" in mail.html and code in mail.html
