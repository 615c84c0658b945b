"""POST /auth/mfa/challenge and /auth/mfa/verify over HTTP, with codes read from a real SMTP
server and a real local SMS endpoint, on a frozen clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx

from authgate.events import Event
from authgate.otp import codes
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error, claims, set_user, stored_user, user_id_of
from tests.mfa import helpers as mfa_helpers
from tests.servers import SmsSink, SmtpSink

EMAIL = "alice@example.com"
PHONE = "+15551234567"
PASSWORD = "correct horse battery"
TOO_MANY = "Too many invalid attempts. Please request a new verification code."


# For tests of the account's budget or of input checks from one pending session: lift that
# session's own allowance (tested in test_pending_session.py).
ONE_SESSION = {"session_max_attempts": 100, "client_max_attempts": 100}


async def _app(make_harness: MakeHarness, smtp_sink: SmtpSink, sms: SmsSink | None = None,
               **overrides: Any) -> Harness:
    delivery: dict[str, Any] = {"smtp": smtp_sink.settings()}
    if sms is not None:
        delivery["sms"] = sms.settings()
    return await make_harness(app_name="Acme", delivery=delivery, **overrides)


async def _mfa_user(h: Harness, phone: str | None = None) -> str:
    """A user (written directly, the address verified) with a session, optionally a
    verified phone; MFA turned on through the route; returns the user id."""
    u = await h.make_user(EMAIL, password=PASSWORD, verified=True, tokens=True)
    if phone is not None:
        await set_user(h.res, u.id, phone=phone, phone_verified_at=h.clock.now())
    assert u.access_token is not None
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": True},
                            headers=bearer(u.access_token))
    assert r.status_code == 200, r.text
    return u.id


async def _pending(h: Harness) -> dict[str, Any]:
    r = await h.login(EMAIL, PASSWORD)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["isRequiresMfa"] is True
    return body


async def _challenge(h: Harness, token: str, method: Any = "email") -> httpx.Response:
    body = {} if method is None else {"method": method}
    return await h.client.post("/auth/mfa/challenge", json=body, headers=bearer(token))


async def _verify(h: Harness, token: str, otp: str, method: str = "email",
                  **extra: Any) -> httpx.Response:
    return await h.client.post("/auth/mfa/verify", json={"method": method, "otp": otp, **extra},
                               headers=bearer(token))


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def _events(h: Harness) -> list[Event]:
    seen: list[Event] = []
    h.res.events.subscribe("*", seen.append)
    return seen


async def test_email_flow_from_login_to_full_tokens(make_harness: MakeHarness,
                                                    smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    uid = await _mfa_user(h)
    events = _events(h)
    login = await _pending(h)
    assert login["mfaMethods"] == ["email"] and login["defaultMfaMethod"] == "email"
    pending = login["accessToken"]
    assert_error(await h.client.get("/auth/user", headers=bearer(pending)), 401, "MFA_REQUIRED")

    r = await _challenge(h, pending)
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "MFA code sent successfully"}
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == [EMAIL] and mail.subject == "Your Acme sign-in code"
    assert "Acme" in mail.text and "Acme" in mail.html and mail.code in mail.html

    r = await _verify(h, pending, mail.code)
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["accessToken", "refreshToken", "isRequiresMfa", "message"]
    assert body["isRequiresMfa"] is False and body["message"] == "2FA verification successful"
    full = body["accessToken"]
    c = claims(full)
    assert c["isMfaVerified"] is True and c["sessionId"] == claims(pending)["sessionId"]
    r = await h.client.get("/auth/user", headers=bearer(full))
    # the code proved the address (the token carries no personal data: issue #19 item 15)
    assert r.status_code == 200 and r.json()["emailVerifiedAt"] is not None
    assert (await stored_user(h.res, uid)).phone_verified_at is None

    names = [e.name for e in events if e.name.startswith("mfa.")]
    assert names == ["mfa.code_sent", "mfa.verified"], names
    assert all(mail.code not in repr(e.data) for e in events)
    # Single use: the same code again (even on the now verified session) is refused.
    assert_error(await _verify(h, full, mail.code), 400, "VERIFICATION_CODE_INVALID",
                 "Invalid verification code")


async def test_refresh_after_verification_stays_verified(make_harness: MakeHarness,
                                                         smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    await _mfa_user(h)
    pending = (await _pending(h))["accessToken"]
    await _challenge(h, pending)
    r = await _verify(h, pending, smtp_sink.last_code(EMAIL))
    r = await h.client.post("/auth/refresh-token", json={"refreshToken": r.json()["refreshToken"]})
    assert r.status_code == 200 and r.json()["isRequiresMfa"] is False
    assert claims(r.json()["accessToken"])["isMfaVerified"] is True


async def test_expiry_edges(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, mfa={"otp_expires_in": "5m"})
    await _mfa_user(h)
    pending = (await _pending(h))["accessToken"]
    assert (await _challenge(h, pending)).status_code == 200
    h.clock.advance(timedelta(minutes=5))
    assert_error(await _verify(h, pending, smtp_sink.last_code(EMAIL)), 400,
                 "VERIFICATION_CODE_EXPIRED", "Verification code has expired")
    assert (await _challenge(h, pending)).status_code == 200
    h.clock.advance(timedelta(minutes=5) - timedelta(seconds=1))
    assert (await _verify(h, pending, smtp_sink.last_code(EMAIL))).status_code == 200


async def test_resend_throttle_with_retry_after(make_harness: MakeHarness,
                                                smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    await _mfa_user(h)
    pending = (await _pending(h))["accessToken"]
    assert (await _challenge(h, pending)).status_code == 200
    first = smtp_sink.last_code(EMAIL)
    r = await _challenge(h, pending)
    assert_error(r, 429, "RESEND_TOO_SOON")
    assert r.headers["retry-after"] == "30"
    h.clock.advance(timedelta(seconds=12))
    r = await _challenge(h, pending)
    assert_error(r, 429, "RESEND_TOO_SOON")
    assert r.headers["retry-after"] == "18"
    assert len(smtp_sink.messages) == 1
    h.clock.advance(timedelta(seconds=18))
    assert (await _challenge(h, pending)).status_code == 200
    second = smtp_sink.last_code(EMAIL)
    assert len(smtp_sink.messages) == 2
    if first != second:  # the new code replaced the old one
        assert_error(await _verify(h, pending, first), 400, "VERIFICATION_CODE_INVALID")
    assert (await _verify(h, pending, second)).status_code == 200


async def test_wrong_codes_count_per_code_and_per_user(make_harness: MakeHarness,
                                                       smtp_sink: SmtpSink) -> None:
    # (a window shorter than the access token's life, so the pending token outlives it)
    h = await _app(make_harness, smtp_sink, mfa={"attempt_window": "5m", **ONE_SESSION})
    uid = await _mfa_user(h)
    events = _events(h)
    pending = (await _pending(h))["accessToken"]
    await _challenge(h, pending)
    code = smtp_sink.last_code(EMAIL)
    for _ in range(4):
        assert_error(await _verify(h, pending, _wrong(code)), 400, "VERIFICATION_CODE_INVALID",
                     "Invalid verification code")
    assert_error(await _verify(h, pending, _wrong(code)), 400, "VERIFICATION_CODE_INVALID",
                 TOO_MANY)
    assert await codes.pending(h.res, user_id=uid, purpose="mfa") is None  # the code died
    # A fresh code does not help: the user's 5 tries in this window are used up.
    h.clock.advance(timedelta(seconds=30))
    await _challenge(h, pending)
    fresh = smtp_sink.last_code(EMAIL)
    r = await _verify(h, pending, fresh)
    assert_error(r, 429, "MFA_TOO_MANY_ATTEMPTS")
    assert r.headers["retry-after"] == str(5 * 60 - 30)
    failed = [e for e in events if e.name == "mfa.failed"]
    assert len(failed) == 6 and failed[-1].data["reason"] == "MFA_TOO_MANY_ATTEMPTS"
    # After the window: a new code works.
    h.clock.advance(timedelta(minutes=5))
    await _challenge(h, pending)
    assert (await _verify(h, pending, smtp_sink.last_code(EMAIL))).status_code == 200


async def test_success_clears_the_user_counter(make_harness: MakeHarness,
                                               smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, mfa=ONE_SESSION)
    await _mfa_user(h)
    for _ in range(2):  # 4 misses + 1 success per round: never blocked
        pending = (await _pending(h))["accessToken"]
        await _challenge(h, pending)
        code = smtp_sink.last_code(EMAIL)
        for _ in range(3):
            await _verify(h, pending, _wrong(code))
        assert (await _verify(h, pending, code)).status_code == 200
        h.clock.advance(timedelta(seconds=31))


async def test_email_code_refused_as_sms(
        make_harness: MakeHarness, smtp_sink: SmtpSink, sms_sink: SmsSink) -> None:
    h = await _app(make_harness, smtp_sink, sms_sink, mfa={"methods": ["email", "sms"]})
    await _mfa_user(h, phone=PHONE)
    login = await _pending(h)
    assert login["mfaMethods"] == ["email", "sms"]
    pending = login["accessToken"]
    await _challenge(h, pending, "email")
    code = smtp_sink.last_code(EMAIL)
    assert_error(await _verify(h, pending, code, "sms"), 400, "VERIFICATION_CODE_INVALID")
    assert sms_sink.posts == []
    assert (await _verify(h, pending, code, "email")).status_code == 200


async def test_sms_flow_through_the_http_provider(make_harness: MakeHarness,
                                                  smtp_sink: SmtpSink, sms_sink: SmsSink) -> None:
    h = await _app(make_harness, smtp_sink, sms_sink, mfa={"methods": ["sms", "totp"]})
    uid = await _mfa_user(h, phone=PHONE)
    login = await _pending(h)
    assert login["mfaMethods"] == ["sms"] and login["defaultMfaMethod"] == "sms"
    pending = login["accessToken"]
    r = await _challenge(h, pending, "phone")  # what the official SDK sends for SMS
    assert r.status_code == 200, r.text
    [post] = sms_sink.posts
    assert post.authorized and post.form["To"] == PHONE
    assert "Acme" in post.form["Body"]
    assert smtp_sink.messages == []
    assert_error(await _verify(h, pending, post.code, "email"), 400,
                 "MFA_METHOD_NOT_AVAILABLE")  # email is not a configured method here
    r = await _verify(h, pending, post.code, "sms")
    assert r.status_code == 200, r.text
    assert claims(r.json()["accessToken"])["isMfaVerified"] is True
    assert (await stored_user(h.res, uid)).phone == PHONE


async def test_concurrent_verification_of_one_code_one_success(
        make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    await _mfa_user(h)
    pending = (await _pending(h))["accessToken"]
    await _challenge(h, pending)
    code = smtp_sink.last_code(EMAIL)
    results = await asyncio.gather(*(_verify(h, pending, code) for _ in range(3)))
    assert sorted(r.status_code for r in results)[0] == 200, [r.text for r in results]
    # the losers find the code spent, or (past the winner's step) their pending token
    # retired (issue #19 item 3): never a second success
    losers = sorted((r.status_code, r.json()["code"]) for r in results if r.status_code != 200)
    assert len(losers) == 2, [r.text for r in results]
    assert set(losers) <= {(400, "VERIFICATION_CODE_INVALID"), (401, "INVALID_TOKEN")}, losers


async def test_delivery_failure_is_502_and_leaves_no_code(make_harness: MakeHarness,
                                                         smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    uid = await _mfa_user(h)
    pending = (await _pending(h))["accessToken"]
    events = _events(h)
    smtp_sink.stop()
    assert_error(await _challenge(h, pending), 502, "DELIVERY_FAILED")
    assert await codes.pending(h.res, user_id=uid, purpose="mfa") is None
    assert [e for e in events if e.name == "mfa.code_sent"] == []
    # No code can verify now, and none was counted as sent.
    assert_error(await _verify(h, pending, "000000"), 400, "VERIFICATION_CODE_INVALID")


async def test_sms_provider_failure_is_502_and_leaves_no_code(
        make_harness: MakeHarness, smtp_sink: SmtpSink, sms_sink: SmsSink) -> None:
    h = await _app(make_harness, smtp_sink, sms_sink, mfa={"methods": ["sms"]})
    uid = await _mfa_user(h, phone=PHONE)
    pending = (await _pending(h))["accessToken"]
    sms_sink.status = 500
    assert_error(await _challenge(h, pending, "sms"), 502, "DELIVERY_FAILED")
    assert await codes.pending(h.res, user_id=uid, purpose="mfa") is None
    sms_sink.status = 201  # the failure did not arm the resend throttle
    assert (await _challenge(h, pending, "sms")).status_code == 200


async def test_challenge_methods_that_send_nothing(make_harness: MakeHarness,
                                                   smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    uid = await _mfa_user(h)
    pending = (await _pending(h))["accessToken"]
    for method in ("totp", "TOTP", "push", 42, None):
        r = await _challenge(h, pending, method)
        assert r.status_code == 200, (method, r.text)
        assert r.json() == {"message": "MFA code sent successfully"}
    r = await h.client.post("/auth/mfa/challenge", headers=bearer(pending))  # no body at all
    assert r.status_code == 200, r.text
    assert smtp_sink.messages == []
    assert await codes.pending(h.res, user_id=uid, purpose="mfa") is None


async def test_unavailable_methods_are_400(make_harness: MakeHarness,
                                           smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    await _mfa_user(h)
    pending = (await _pending(h))["accessToken"]
    # sms: no provider configured, not in mfa.methods, and no phone on the account
    for method in ("sms", "phone"):
        assert_error(await _challenge(h, pending, method), 400, "MFA_METHOD_NOT_AVAILABLE")
    assert_error(await _verify(h, pending, "123456", "sms"), 400, "MFA_METHOD_NOT_AVAILABLE")
    assert smtp_sink.messages == []


async def test_email_not_configured_is_400(make_harness: MakeHarness, smtp_sink: SmtpSink,
                                           sms_sink: SmsSink) -> None:
    h = await _app(make_harness, smtp_sink, sms_sink, mfa={"methods": ["sms"]})
    await _mfa_user(h, phone=PHONE)
    pending = (await _pending(h))["accessToken"]
    assert_error(await _challenge(h, pending, "email"), 400, "MFA_METHOD_NOT_AVAILABLE")
    assert smtp_sink.messages == []


async def test_phone_method_without_a_phone_is_400(make_harness: MakeHarness,
                                                   smtp_sink: SmtpSink,
                                                   sms_sink: SmsSink) -> None:
    h = await _app(make_harness, smtp_sink, sms_sink, mfa={"methods": ["email", "sms"]})
    await _mfa_user(h)
    pending = (await _pending(h))["accessToken"]
    assert_error(await _challenge(h, pending, "sms"), 400, "MFA_METHOD_NOT_AVAILABLE")
    assert sms_sink.posts == []


async def test_verify_validation(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, mfa=ONE_SESSION)
    await _mfa_user(h)
    pending = (await _pending(h))["accessToken"]
    message = "method must be one of the following values: email, sms, totp, webauthn"
    for body in ({"method": "phone", "otp": "123456"}, {"otp": "123456"},
                 {"method": 1, "otp": "123456"}):
        r = await h.client.post("/auth/mfa/verify", json=body, headers=bearer(pending))
        assert_error(r, 400, "INVALID_INPUT", message)
    r = await h.client.post("/auth/mfa/verify", json={"method": "email", "otp": ""},
                            headers=bearer(pending))
    assert_error(r, 400, "INVALID_INPUT", "otp should not be empty")
    await _challenge(h, pending)
    assert_error(await _verify(h, pending, "   "), 400, "MISSING_REQUIRED_FIELD",
                 "Verification code is required")


async def test_guard_and_app_switch(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    assert_error(await h.client.post("/auth/mfa/challenge", json={"method": "email"}), 401,
                 "NO_AUTH_PROVIDED")
    assert_error(await h.client.post("/auth/mfa/verify",
                                     json={"method": "email", "otp": "1"}), 401,
                 "NO_AUTH_PROVIDED")
    off = await _app(make_harness, smtp_sink, mfa={"enabled": False})
    token = await off.user_token("bob@example.com")
    assert_error(await _challenge(off, token), 403, "MFA_NOT_ENABLED",
                 "MFA is not enabled for the application")
    assert_error(await _verify(off, token, "123456"), 403, "MFA_NOT_ENABLED")
    assert smtp_sink.messages == []


async def test_user_without_mfa_gets_no_codes(make_harness: MakeHarness,
                                              smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    token = await h.user_token()
    assert_error(await _challenge(h, token), 403, "MFA_NOT_ENABLED")
    assert_error(await _verify(h, token, "123456"), 403, "MFA_NOT_ENABLED")
    assert smtp_sink.messages == []


async def test_app_required_mfa_pending_user_can_use_email(make_harness: MakeHarness,
                                                           smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, mfa={"required": True})
    r = await h.signup(EMAIL, PASSWORD)
    assert r.json()["isRequiresMfa"] is True
    pending = r.json()["accessToken"]
    await set_user(h.res, await user_id_of(h.res, EMAIL), email_verified_at=h.clock.now())
    assert (await _challenge(h, pending)).status_code == 200
    r = await _verify(h, pending, smtp_sink.last_code(EMAIL))
    assert r.status_code == 200, r.text
    assert (await h.client.get("/auth/user",
                               headers=bearer(r.json()["accessToken"]))).status_code == 200


async def test_cookie_mode_verify_sets_cookies(make_harness: MakeHarness,
                                               smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    await _mfa_user(h)
    pending = (await _pending(h))["accessToken"]
    await _challenge(h, pending)
    r = await h.client.post(
        "/auth/mfa/verify", json={"method": "email", "otp": smtp_sink.last_code(EMAIL)},
        headers={**bearer(pending), "x-access-token-type": "cookie"})
    assert r.status_code == 200, r.text
    assert r.json() == {"isRequiresMfa": False, "message": "2FA verification successful"}
    names = {c.split("=", 1)[0] for c in r.headers.get_list("set-cookie")}
    assert {"__Host-accessToken", "__Host-refreshToken", "__Host-nest_auth_csrf"} <= names


async def test_totp_through_verify(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, mfa=ONE_SESSION)
    token = await mfa_helpers.signup_token(h)
    secret = await mfa_helpers.enroll(h, token)
    await mfa_helpers.enable_mfa(h, token)
    login = await _pending(h)
    assert login["mfaMethods"] == ["totp"]  # email steps aside for the authenticator
    pending = login["accessToken"]
    r = await _challenge(h, pending, "totp")
    assert r.status_code == 200 and smtp_sink.messages == []  # nothing to send for TOTP
    code = mfa_helpers.code(h, secret)
    assert_error(await _verify(h, pending, _wrong(code), "totp"), 401, "MFA_CODE_INVALID",
                 "Invalid MFA code")
    assert_error(await _verify(h, pending, code, "email"), 400, "MFA_METHOD_NOT_AVAILABLE")
    r = await _verify(h, pending, code, "totp")
    assert r.status_code == 200, r.text
    assert claims(r.json()["accessToken"])["isMfaVerified"] is True
    # the pending token is retired by the step (issue #19 item 3) ...
    assert_error(await _verify(h, pending, code, "totp"), 401, "INVALID_TOKEN")
    # ... and the code is spent for another pending session too (replay)
    again = (await _pending(h))["accessToken"]
    assert_error(await _verify(h, again, code, "totp"), 401, "MFA_CODE_INVALID")


async def test_totp_misses_share_the_user_limit(make_harness: MakeHarness,
                                                smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink,
                   mfa={"max_attempts": 3, "allow_weak_methods_with_strong": True})
    token = await mfa_helpers.signup_token(h)
    secret = await mfa_helpers.enroll(h, token)
    await mfa_helpers.enable_mfa(h, token)
    pending = (await _pending(h))["accessToken"]
    await _challenge(h, pending, "email")
    assert_error(await _verify(h, pending, _wrong(smtp_sink.last_code(EMAIL))), 400,
                 "VERIFICATION_CODE_INVALID")
    code = mfa_helpers.code(h, secret)
    assert_error(await _verify(h, pending, _wrong(code), "totp"), 401, "MFA_CODE_INVALID")
    assert_error(await _verify(h, pending, _wrong(code), "totp"), 401, "MFA_CODE_INVALID")
    r = await _verify(h, pending, code, "totp")  # right code, but the 4th try of 3
    assert_error(r, 429, "MFA_TOO_MANY_ATTEMPTS")
    assert "retry-after" in r.headers


async def test_trust_device_after_email_code(make_harness: MakeHarness,
                                             smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    await _mfa_user(h)
    pending = (await _pending(h))["accessToken"]
    await _challenge(h, pending)
    r = await _verify(h, pending, smtp_sink.last_code(EMAIL), trustDevice=True)
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["accessToken", "refreshToken", "isRequiresMfa", "trustToken",
                          "message"]
    trusted = await mfa_helpers.pending_login(
        h, headers={h.settings.mfa.trust_device_storage_name: body["trustToken"]})
    assert trusted["isRequiresMfa"] is False
    # Without the token the next login still owes the second factor.
    assert (await _pending(h))["isRequiresMfa"] is True


async def test_routes_carry_their_rate_limits(make_harness: MakeHarness,
                                              smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, mfa=ONE_SESSION, rate_limit={
        "send_code": {"per_ip": None, "per_account": {"limit": 2, "window": 60}},
        "mfa_verify": {"per_ip": None, "per_account": {"limit": 3, "window": 60}}})
    await _mfa_user(h)
    pending = (await _pending(h))["accessToken"]
    for _ in range(2):
        assert (await _challenge(h, pending, "totp")).status_code == 200
    assert_error(await _challenge(h, pending, "totp"), 429, "RATE_LIMITED")
    for _ in range(3):
        assert (await _verify(h, pending, "000000", "totp")).status_code != 429
    r = await _verify(h, pending, "000000", "totp")
    assert_error(r, 429, "RATE_LIMITED")
    assert "retry-after" in r.headers
