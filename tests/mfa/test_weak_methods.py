"""Issue #12 item 2: mailbox access alone must not beat an enrolled authenticator.

Email and SMS prove access to an inbox or a phone, which is also what a password reset
proves. They count as a second factor only for a verified address, step aside once a
strong method (TOTP) is enrolled unless the app opts in, and after a password reset the
next MFA step needs a strong factor or a recovery code."""

from __future__ import annotations

from typing import Any

import httpx

from authgate import background
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error, set_user, stored_user, user_id_of
from tests.mfa import helpers as mfa
from tests.servers import SmsSink, SmtpSink

EMAIL = "alice@example.com"
PHONE = "+15551234567"
NEW = "a different staple 42"


async def _app(make_harness: MakeHarness, smtp_sink: SmtpSink, sms: SmsSink | None = None,
               **overrides: Any) -> Harness:
    delivery: dict[str, Any] = {"smtp": smtp_sink.settings()}
    if sms is not None:
        delivery["sms"] = sms.settings()
    return await make_harness(delivery=delivery, rate_limit={"enabled": False}, **overrides)


async def _login(h: Harness, password: str = mfa.PASSWORD) -> dict[str, Any]:
    r = await h.login(EMAIL, password)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _challenge(h: Harness, token: str, method: str = "email") -> httpx.Response:
    return await h.client.post("/auth/mfa/challenge", json={"method": method},
                               headers=bearer(token))


async def _verify(h: Harness, token: str, otp: str, method: str = "email") -> httpx.Response:
    return await h.client.post("/auth/mfa/verify", json={"method": method, "otp": otp},
                               headers=bearer(token))


async def _status(h: Harness, token: str) -> list[str]:
    r = await h.client.get("/auth/mfa/status", headers=bearer(token))
    assert r.status_code == 200, r.text
    methods: list[str] = r.json()["verifiedMethods"]
    return methods


async def _totp_user(h: Harness) -> tuple[str, str]:
    """A user with a verified address, an authenticator and MFA on: (token, secret)."""
    token = await mfa.signup_token(h)
    secret = await mfa.enroll(h, token)
    await mfa.enable_mfa(h, token)
    return token, secret


async def _reset_password(h: Harness, smtp_sink: SmtpSink) -> None:
    """forgot → the emailed code → reset token → new password: all the inbox gives."""
    r = await h.client.post("/auth/forgot-password", json={"email": EMAIL})
    assert r.status_code == 200, r.text
    await background.drain(h.res)
    r = await h.client.post("/auth/verify-forgot-password-otp",
                            json={"email": EMAIL, "code": smtp_sink.last_code(EMAIL)})
    assert r.status_code == 200, r.text
    r = await h.client.post("/auth/reset-password",
                            json={"token": r.json()["resetToken"], "newPassword": NEW})
    assert r.status_code == 200, r.text


async def test_the_mailbox_attack_chain_ends_refused(make_harness: MakeHarness,
                                                     smtp_sink: SmtpSink) -> None:
    """forgot → verify → reset → login → challenge email → verify, for a TOTP user."""
    h = await _app(make_harness, smtp_sink)
    await _totp_user(h)
    await _reset_password(h, smtp_sink)
    login = await _login(h, NEW)
    assert login["isRequiresMfa"] is True and login["mfaMethods"] == ["totp"]
    pending = login["accessToken"]
    sent = len(smtp_sink.to(EMAIL))
    assert_error(await _challenge(h, pending), 400, "MFA_METHOD_NOT_AVAILABLE")
    assert len(smtp_sink.to(EMAIL)) == sent  # no code went out
    assert_error(await _verify(h, pending, "123456"), 400, "MFA_METHOD_NOT_AVAILABLE")
    assert_error(await h.client.get("/auth/user", headers=bearer(pending)), 401, "MFA_REQUIRED")


async def test_email_steps_aside_for_an_enrolled_authenticator(make_harness: MakeHarness,
                                                               smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    token, secret = await _totp_user(h)
    assert await _status(h, token) == ["totp"]  # status tells the same story as login
    login = await _login(h)
    assert login["mfaMethods"] == ["totp"] and login["defaultMfaMethod"] == "totp"
    pending = login["accessToken"]
    assert_error(await _challenge(h, pending), 400, "MFA_METHOD_NOT_AVAILABLE")
    assert_error(await _verify(h, pending, "123456"), 400, "MFA_METHOD_NOT_AVAILABLE")
    assert smtp_sink.to(EMAIL) == []
    r = await _verify(h, pending, mfa.code(h, secret), "totp")
    assert r.status_code == 200, r.text


async def test_the_app_may_offer_email_beside_an_authenticator(make_harness: MakeHarness,
                                                               smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, mfa={"allow_weak_methods_with_strong": True})
    token, _ = await _totp_user(h)
    assert await _status(h, token) == ["totp", "email"]
    login = await _login(h)
    assert login["mfaMethods"] == ["email", "totp"]
    pending = login["accessToken"]
    assert (await _challenge(h, pending)).status_code == 200
    r = await _verify(h, pending, smtp_sink.last_code(EMAIL))
    assert r.status_code == 200, r.text


async def test_email_only_mfa_with_a_verified_address_signs_in(make_harness: MakeHarness,
                                                               smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    token = await mfa.signup_token(h)
    await mfa.enable_mfa(h, token)
    assert await _status(h, token) == ["email"]
    login = await _login(h)
    assert login["mfaMethods"] == ["email"] and login["defaultMfaMethod"] == "email"
    assert (await _challenge(h, login["accessToken"])).status_code == 200
    r = await _verify(h, login["accessToken"], smtp_sink.last_code(EMAIL))
    assert r.status_code == 200, r.text
    assert r.json()["isRequiresMfa"] is False


async def test_an_unverified_address_is_no_second_factor(make_harness: MakeHarness,
                                                         smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    token = await mfa.signup_token(h, verified=False)
    assert await _status(h, token) == []
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": True}, headers=bearer(token))
    assert_error(r, 403, "MFA_CANNOT_ENABLE_WITHOUT_METHOD")
    # MFA on anyway (an admin, or the app requires it): email is still not offered
    await set_user(h.res, await user_id_of(h.res, EMAIL), is_mfa_enabled=True)
    login = await _login(h)
    assert login["isRequiresMfa"] is True and login["mfaMethods"] == []
    assert_error(await _challenge(h, login["accessToken"]), 400, "MFA_METHOD_NOT_AVAILABLE")
    assert_error(await _verify(h, login["accessToken"], "123456"), 400,
                 "MFA_METHOD_NOT_AVAILABLE")
    assert smtp_sink.to(EMAIL) == []


async def test_an_unverified_phone_is_no_second_factor(make_harness: MakeHarness,
                                                       smtp_sink: SmtpSink,
                                                       sms_sink: SmsSink) -> None:
    h = await _app(make_harness, smtp_sink, sms_sink, mfa={"methods": ["sms"]})
    token = await mfa.signup_token(h)
    uid = await user_id_of(h.res, EMAIL)
    await set_user(h.res, uid, phone=PHONE)
    assert await _status(h, token) == []
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": True}, headers=bearer(token))
    assert_error(r, 403, "MFA_CANNOT_ENABLE_WITHOUT_METHOD")
    await set_user(h.res, uid, phone_verified_at=h.clock.now())
    assert await _status(h, token) == ["sms"]


async def test_after_a_reset_email_needs_a_recovery_code_first(make_harness: MakeHarness,
                                                               smtp_sink: SmtpSink) -> None:
    """An email-only MFA user: the reset proved the inbox, so the next MFA step cannot be
    the same inbox again; a recovery code finishes it and clears the requirement."""
    h = await _app(make_harness, smtp_sink)
    token = await mfa.signup_token(h)
    await mfa.enable_mfa(h, token)
    codes = (await h.client.post("/auth/mfa/generate-recovery-code",
                                 headers=bearer(token))).json()["codes"]
    uid = await user_id_of(h.res, EMAIL)
    await _reset_password(h, smtp_sink)
    assert (await stored_user(h.res, uid)).mfa_strong_factor_required is True
    login = await _login(h, NEW)
    assert login["isRequiresMfa"] is True and login["mfaMethods"] == []
    assert "defaultMfaMethod" not in login
    pending = login["accessToken"]
    assert await _status(h, pending) == []
    assert_error(await _challenge(h, pending), 400, "MFA_METHOD_NOT_AVAILABLE")
    r = await h.client.post("/auth/mfa/verify-recovery-code", json={"code": codes[0]},
                            headers=bearer(pending))
    assert r.status_code == 200, r.text
    assert (await stored_user(h.res, uid)).mfa_strong_factor_required is False
    login = await _login(h, NEW)  # email counts again
    assert login["mfaMethods"] == ["email"]


async def test_after_a_reset_the_opt_in_does_not_bring_email_back(
        make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, mfa={"allow_weak_methods_with_strong": True})
    _, secret = await _totp_user(h)
    await _reset_password(h, smtp_sink)
    login = await _login(h, NEW)
    assert login["mfaMethods"] == ["totp"]
    assert_error(await _challenge(h, login["accessToken"]), 400, "MFA_METHOD_NOT_AVAILABLE")
    r = await _verify(h, login["accessToken"], mfa.code(h, secret), "totp")
    assert r.status_code == 200, r.text
    assert (await stored_user(h.res, await user_id_of(h.res, EMAIL))
            ).mfa_strong_factor_required is False
    mfa.next_step(h)
    login = await _login(h, NEW)  # the authenticator proved the owner: email is back
    assert login["mfaMethods"] == ["email", "totp"]


async def test_a_reset_without_mfa_asks_nothing_later(make_harness: MakeHarness,
                                                      smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    token = await mfa.signup_token(h)
    await _reset_password(h, smtp_sink)
    uid = await user_id_of(h.res, EMAIL)
    assert (await stored_user(h.res, uid)).mfa_strong_factor_required is False
    token = (await _login(h, NEW))["accessToken"]
    await mfa.enable_mfa(h, token)  # email MFA turned on later works as before
    login = await _login(h, NEW)
    assert login["mfaMethods"] == ["email"]
