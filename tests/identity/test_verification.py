"""Email and phone verification over HTTP on both databases, codes read from a real SMTP
server (aiosmtpd) and a real local SMS endpoint, on a frozen clock; and which routes stay
open while ``registration.require_verified_email`` holds an unverified user back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from authgate.app import AuthGate
from authgate.clock import FrozenClock
from authgate.otp import codes
from authgate.sessions.service import Principal
from tests.conftest import Harness, MakeHarness, base_settings, bearer
from tests.helpers import STORES, assert_error, claims, set_user, stored_user, user_id_of
from tests.servers import SmsSink, SmtpSink

EMAIL = "alice@example.com"
PHONE = "+15551234567"
PW = "correct horse battery"
TOO_MANY = "Too many invalid attempts. Please request a new verification code."
ROUTES = ("/auth/send-email-verification", "/auth/verify-email",
          "/auth/send-phone-verification", "/auth/verify-phone")


async def _app(make_harness: MakeHarness, smtp_sink: SmtpSink, sms: SmsSink | None = None,
               **overrides: Any) -> Harness:
    delivery: dict[str, Any] = {"smtp": smtp_sink.settings()}
    if sms is not None:
        delivery["sms"] = sms.settings()
    overrides.setdefault("rate_limit", {"enabled": False})
    return await make_harness(app_name="Acme", delivery=delivery, **overrides)


async def _signed_up(h: Harness, **body: Any) -> tuple[str, dict[str, str]]:
    """Sign up (email by default); returns the user id and the Authorization header."""
    r = await h.client.post("/auth/signup", json=body or {"email": EMAIL, "password": PW})
    assert r.status_code == 200, r.text
    token = r.json()["accessToken"]
    return claims(token)["sub"], bearer(token)


async def _post(h: Harness, path: str, auth: dict[str, str], **body: Any) -> httpx.Response:
    return await h.client.post(path, json=body, headers=auth)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# email -------------------------------------------------------------------------------------
@pytest.mark.parametrize("store", STORES)
async def test_email_verification_end_to_end(make_harness: MakeHarness, smtp_sink: SmtpSink,
                                             store: str) -> None:
    h = await _app(make_harness, smtp_sink, session={"storage": store}, rate_limit={})
    uid, auth = await _signed_up(h)
    assert (await h.client.get("/auth/me", headers=auth)).json()["emailVerifiedAt"] is None

    r = await _post(h, "/auth/send-email-verification", auth)
    assert (r.status_code, r.json()) == (200, {"message": "Verification email sent"})
    [mail] = smtp_sink.to(EMAIL)
    assert mail.subject == "Verify your email address for Acme"
    assert "10 minutes" in mail.text and mail.code in mail.html

    r = await _post(h, "/auth/verify-email", auth, code=mail.code)
    assert (r.status_code, r.json()) == (200, {"message": "Email verified successfully"})
    stamped = (await stored_user(h.res, uid)).email_verified_at
    assert stamped == h.clock.now()
    # The session's cached user snapshot was dropped: the same token sees the change.
    me = (await h.client.get("/auth/me", headers=auth)).json()
    assert me["emailVerifiedAt"] is not None
    assert (await h.client.get("/auth/user", headers=auth)).json()["emailVerifiedAt"] \
        == me["emailVerifiedAt"]

    assert_error(await _post(h, "/auth/send-email-verification", auth), 400,
                 "EMAIL_ALREADY_VERIFIED", "Email is already verified")
    # Checked before the code: a used (or any) code gets the same answer.
    assert_error(await _post(h, "/auth/verify-email", auth, code=mail.code), 400,
                 "EMAIL_ALREADY_VERIFIED")
    assert_error(await _post(h, "/auth/verify-email", auth, code=""), 400,
                 "EMAIL_ALREADY_VERIFIED")
    assert len(smtp_sink.messages) == 1


async def test_resend_too_soon(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    _, auth = await _signed_up(h)
    assert (await _post(h, "/auth/send-email-verification", auth)).status_code == 200
    first = smtp_sink.last_code(EMAIL)
    h.clock.advance(timedelta(seconds=20))
    r = await _post(h, "/auth/send-email-verification", auth)
    assert_error(r, 429, "RESEND_TOO_SOON")
    assert r.headers["retry-after"] == "10"
    h.clock.advance(timedelta(seconds=10))
    assert (await _post(h, "/auth/send-email-verification", auth)).status_code == 200
    second = smtp_sink.last_code(EMAIL)
    assert len(smtp_sink.to(EMAIL)) == 2
    if second != first:  # the new code replaced the old one
        assert_error(await _post(h, "/auth/verify-email", auth, code=first), 400,
                     "VERIFICATION_CODE_INVALID")
    assert (await _post(h, "/auth/verify-email", auth, code=second)).status_code == 200


async def test_delivery_failure_leaves_no_code(make_harness: MakeHarness,
                                               smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    uid, auth = await _signed_up(h)
    smtp_sink.refuse.add(EMAIL)
    r = await _post(h, "/auth/send-email-verification", auth)
    assert_error(r, 502, "DELIVERY_FAILED")
    assert await codes.pending(h.res, user_id=uid, purpose="email_verification") is None
    smtp_sink.refuse.clear()
    assert (await _post(h, "/auth/send-email-verification", auth)).status_code == 200  # no throttle


async def test_verify_email_code_failures(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, mfa={"max_attempts": 3})
    uid, auth = await _signed_up(h)
    assert_error(await _post(h, "/auth/verify-email", auth, code="123456"), 400,
                 "VERIFICATION_CODE_INVALID", "Invalid verification code")  # none sent yet
    assert (await _post(h, "/auth/send-email-verification", auth)).status_code == 200
    code = smtp_sink.last_code(EMAIL)
    for body in ({}, {"code": ""}, {"code": "  "}):
        assert_error(await _post(h, "/auth/verify-email", auth, **body), 400,
                     "MISSING_REQUIRED_FIELD", "Verification code is required")
    assert_error(await _post(h, "/auth/verify-email", auth, code=123456), 400, "INVALID_INPUT")
    for _ in range(2):
        assert_error(await _post(h, "/auth/verify-email", auth, code=_wrong(code)), 400,
                     "VERIFICATION_CODE_INVALID", "Invalid verification code")
    assert_error(await _post(h, "/auth/verify-email", auth, code=_wrong(code)), 400,
                 "VERIFICATION_CODE_INVALID", TOO_MANY)
    assert_error(await _post(h, "/auth/verify-email", auth, code=code), 400,
                 "VERIFICATION_CODE_INVALID")
    assert (await stored_user(h.res, uid)).email_verified_at is None


async def test_verify_email_expiry_edges(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, mfa={"otp_expires_in": "4m"})
    _, auth = await _signed_up(h)
    assert (await _post(h, "/auth/send-email-verification", auth)).status_code == 200
    assert "4 minutes" in smtp_sink.to(EMAIL)[-1].text
    h.clock.advance(timedelta(minutes=4))
    assert_error(await _post(h, "/auth/verify-email", auth, code=smtp_sink.last_code(EMAIL)),
                 400, "VERIFICATION_CODE_EXPIRED", "Verification code has expired")
    assert (await _post(h, "/auth/send-email-verification", auth)).status_code == 200
    h.clock.advance(timedelta(minutes=4) - timedelta(milliseconds=1))
    r = await _post(h, "/auth/verify-email", auth, otp=smtp_sink.last_code(EMAIL))  # alias
    assert r.status_code == 200, r.text


async def test_no_email_address(make_harness: MakeHarness, smtp_sink: SmtpSink,
                                sms_sink: SmsSink) -> None:
    h = await _app(make_harness, smtp_sink, sms_sink, phone_auth_enabled=True)
    _, auth = await _signed_up(h, phone=PHONE, password=PW)
    for path, body in (("/auth/send-email-verification", {}),
                       ("/auth/verify-email", {"code": "123456"})):
        assert_error(await _post(h, path, auth, **body), 400, "NO_EMAIL_ADDRESS",
                     "User does not have an email address")
    assert smtp_sink.messages == []


# phone -------------------------------------------------------------------------------------
async def test_phone_verification_end_to_end(make_harness: MakeHarness, smtp_sink: SmtpSink,
                                             sms_sink: SmsSink) -> None:
    h = await _app(make_harness, smtp_sink, sms_sink, phone_auth_enabled=True)
    uid, auth = await _signed_up(h)
    await set_user(h.res, uid, phone=PHONE)
    r = await _post(h, "/auth/send-phone-verification", auth, tenantId="ignored")
    assert (r.status_code, r.json()) == (200, {"message": "Verification SMS sent"})
    [sms] = sms_sink.to(PHONE)
    assert sms.form["Body"] == (f"{sms.code} is your Acme phone verification code. "
                                "It expires in 10 minutes.")
    # An email verification code is no phone code (purpose and channel are in its hash).
    assert (await _post(h, "/auth/send-email-verification", auth)).status_code == 200
    assert_error(await _post(h, "/auth/verify-phone", auth, code=smtp_sink.last_code(EMAIL)),
                 400, "VERIFICATION_CODE_INVALID")
    r = await _post(h, "/auth/verify-phone", auth, code=sms.code, tenantId="ignored")
    assert (r.status_code, r.json()) == (200, {"message": "Phone verified successfully"})
    user = await stored_user(h.res, uid)
    assert user.phone_verified_at == h.clock.now() and user.email_verified_at is None
    assert (await h.client.get("/auth/me", headers=auth)).json()["phoneVerifiedAt"]
    for path, body in (("/auth/send-phone-verification", {}),
                       ("/auth/verify-phone", {"code": sms.code})):
        assert_error(await _post(h, path, auth, **body), 400, "PHONE_ALREADY_VERIFIED",
                     "Phone number is already verified")


async def test_phone_verification_refusals(make_harness: MakeHarness, smtp_sink: SmtpSink,
                                           sms_sink: SmsSink) -> None:
    h = await _app(make_harness, smtp_sink, sms_sink, phone_auth_enabled=True)
    uid, auth = await _signed_up(h)
    for path, body in (("/auth/send-phone-verification", {}),
                       ("/auth/verify-phone", {"code": "123456"})):
        assert_error(await _post(h, path, auth, **body), 400, "NO_PHONE_NUMBER",
                     "User does not have a phone number")
    await set_user(h.res, uid, phone=PHONE)
    assert (await _post(h, "/auth/send-phone-verification", auth)).status_code == 200
    h.clock.advance(timedelta(minutes=10))
    assert_error(await _post(h, "/auth/verify-phone", auth, code=sms_sink.last_code(PHONE)),
                 400, "VERIFICATION_CODE_EXPIRED")
    sms_sink.status = 500
    assert_error(await _post(h, "/auth/send-phone-verification", auth), 502, "DELIVERY_FAILED")
    assert await codes.pending(h.res, user_id=uid, purpose="phone_verification") is None

    no_sms = await _app(make_harness, smtp_sink, phone_auth_enabled=True)
    _, auth2 = await _signed_up(no_sms, email="bob@example.com", password=PW)
    await set_user(no_sms.res, await user_id_of(no_sms.res, "bob@example.com"),
                   phone="+15550001111")
    assert_error(await _post(no_sms, "/auth/send-phone-verification", auth2), 400,
                 "PROVIDER_NOT_FOUND", "SMS delivery is not configured")


# the guard ---------------------------------------------------------------------------------
async def test_verification_needs_a_completed_sign_in(make_harness: MakeHarness,
                                                      smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, mfa={"required": True})
    r = await h.signup(EMAIL, PW)
    assert r.json()["isRequiresMfa"] is True
    pending = bearer(r.json()["accessToken"])
    for path in ROUTES:
        assert_error(await _post(h, path, {}, code="123456"), 401, "NO_AUTH_PROVIDED")
        assert_error(await _post(h, path, pending, code="123456"), 401, "MFA_REQUIRED")
    assert smtp_sink.messages == []


async def test_verification_is_open_while_a_password_change_is_forced(
        make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, enforce_must_change_password=True)
    uid, auth = await _signed_up(h)
    await set_user(h.res, uid, must_change_password=True)
    assert_error(await h.client.get("/auth/me", headers=auth), 403, "MUST_CHANGE_PASSWORD")
    assert (await _post(h, "/auth/send-email-verification", auth)).status_code == 200
    r = await _post(h, "/auth/verify-email", auth, code=smtp_sink.last_code(EMAIL))
    assert r.status_code == 200, r.text


@asynccontextmanager
async def _host_app(database_url: str, tmp_path: Path, **overrides: Any
                    ) -> AsyncIterator[httpx.AsyncClient]:
    """A host application mounting authgate as a library, with its own guarded routes."""
    settings = base_settings(database_url, data_dir=tmp_path, **overrides)
    gate = AuthGate(settings, clock=FrozenClock())
    app = FastAPI(lifespan=gate.lifespan)
    gate.install(app)

    @app.get("/orders")
    async def orders(who: Annotated[Principal, Depends(AuthGate.current_user)]
                     ) -> dict[str, str]:
        return {"user": who.user.id}

    @app.get("/reports")
    async def reports(who: Annotated[Principal, Depends(AuthGate.require())]
                      ) -> dict[str, str]:
        return {"user": who.user.id}

    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://host") as client:
            yield client
        res = gate.resources
        if res is not None and res.redis is not None:
            keys = [k async for k in res.redis.scan_iter(match=f"{settings.redis_prefix}*")]
            if keys:
                await res.redis.delete(*keys)


async def test_unverified_email_gate(make_harness: MakeHarness, database_url: str,
                                     tmp_path: Path, smtp_sink: SmtpSink) -> None:
    """Contract §1.9/§2.0: the library's E routes stay reachable for an unverified user;
    a host route guarded without exemptions answers 403 EMAIL_NOT_VERIFIED until the
    address is verified (the same token then passes: the user snapshot was refreshed)."""
    await make_harness()  # empty tables
    async with _host_app(database_url, tmp_path, app_name="Acme",
                         registration={"require_verified_email": True},
                         delivery={"smtp": smtp_sink.settings()},
                         redis_prefix=f"authgate-test:{uuid.uuid4().hex[:12]}:") as client:
        r = await client.post("/auth/signup", json={"email": EMAIL, "password": PW})
        auth = bearer(r.json()["accessToken"])
        for path in ("/orders", "/reports"):
            assert_error(await client.get(path, headers=auth), 403, "EMAIL_NOT_VERIFIED",
                         "You must verify your email address before continuing")
        for path in ("/auth/me", "/auth/user", "/auth/verify-session", "/auth/mfa/status",
                     "/auth/mfa/devices"):
            assert (await client.get(path, headers=auth)).status_code == 200, path
        r = await client.post("/auth/send-email-verification", headers=auth, json={})
        assert r.status_code == 200, r.text
        r = await client.post("/auth/verify-email", headers=auth,
                              json={"code": smtp_sink.last_code(EMAIL)})
        assert r.status_code == 200, r.text
        for path in ("/orders", "/reports"):
            assert (await client.get(path, headers=auth)).status_code == 200, path
        assert (await client.post("/auth/logout", headers=auth)).status_code == 200
