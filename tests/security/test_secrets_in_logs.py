"""No secret in a log line or an error body: every record of every logger (root and the
authgate tree at DEBUG, so SQLAlchemy, redis, delivery and uvicorn-style loggers all speak) is
captured through full flows — signup, login, refresh, TOTP enrolment, recovery codes, MFA
toggle, email and TOTP second factors, trusted device, email verification, password change,
forgot/reset, passwordless, logout-all — and searched for every secret value they handled.
SQLAlchemy's own logger is turned up to INFO too (the statements an operator debugging the
database would look at)."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest

from authgate import background
from tests.conftest import TEST_SECRET, Harness, MakeHarness, bearer
from tests.helpers import stored_user, user_id_of
from tests.mfa.helpers import code as totp_code
from tests.mfa.helpers import next_step
from tests.servers import SmsSink, SmtpSink

EMAIL = "alice@example.com"
PHONE = "+15551234567"
PW1, PW2, PW3 = "correct horse battery", "second staple horse 77", "third battery staple 9"


class Recorder:
    """Every response, and every secret value seen on the way."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.secrets: set[str] = {TEST_SECRET, PW1, PW2, PW3}
        self.codes: set[str] = set()  # short numeric codes: matched as whole numbers
        self.errors: list[httpx.Response] = []
        self.request_ids: list[str] = []  # one request log line each

    async def post(self, path: str, body: Any = None, token: str | None = None,
                   ok: bool | None = True) -> Any:
        """``ok``: True = must succeed, False = must fail, None = either."""
        r = await self.h.client.post(path, json=body if body is not None else {},
                                     headers=bearer(token) if token else None)
        if ok is not None:
            assert (r.status_code < 400) is ok, (path, r.status_code, r.text)
        return self._seen(r)

    async def get(self, path: str, token: str) -> Any:
        r = await self.h.client.get(path, headers=bearer(token))
        assert r.status_code == 200, r.text
        return self._seen(r)

    def _seen(self, r: httpx.Response) -> Any:
        self.request_ids.append(r.headers["x-request-id"])
        if r.status_code >= 400:
            self.errors.append(r)
            return r.json()
        body = r.json()
        if isinstance(body, dict):
            for key in ("accessToken", "refreshToken", "trustToken", "resetToken", "secret",
                        "otpauthUrl", "qrCode", "qrCodeDataUrl"):
                if isinstance(body.get(key), str) and len(body[key]) >= 8:
                    self.secrets.add(body[key])
            for c in body.get("codes", []) if isinstance(body.get("codes"), list) else []:
                self.secrets.add(c)
        return body

    def code(self, value: str) -> str:
        self.codes.add(value)
        return value

    async def hash_of(self, uid: str) -> None:
        stored = (await stored_user(self.h.res, uid)).password_hash
        assert stored
        self.secrets.add(stored)
        self.secrets.add(stored.rsplit("$", 1)[-1])  # the digest alone


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # root: every library logger without a level of its own
    caplog.set_level(logging.DEBUG, logger="authgate")
    # SQLAlchemy pins its own logger to WARNING; an operator chasing a problem turns it up to
    # INFO (statements). DEBUG would add every fetched row: data by request, not by accident.
    caplog.set_level(logging.INFO, logger="sqlalchemy")
    return caplog


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_no_secret_reaches_a_log_or_an_error_body(
        every_log: pytest.LogCaptureFixture, make_harness: MakeHarness, smtp_sink: SmtpSink,
        sms_sink: SmsSink, log_format: str) -> None:
    h = await make_harness(phone_auth_enabled=True, passwordless={"enabled": True},
                           rate_limit={"enabled": False},
                           mfa={"allow_weak_methods_with_strong": True},
                           delivery={"smtp": smtp_sink.settings(), "sms": sms_sink.settings()},
                           logging={"format": log_format})
    rec = Recorder(h)

    # signup, failed and good logins, refresh ------------------------------------------
    body = await rec.post("/auth/signup", {"email": EMAIL, "phone": PHONE, "password": PW1})
    token = body["accessToken"]
    uid = await user_id_of(h.res, EMAIL)
    await rec.hash_of(uid)
    await rec.post("/auth/signup", {"email": "weak@example.com", "password": "password1"}, ok=False)
    for wrong in ("Tr0ub4dor&3-guess", PW1.upper()):
        rec.secrets.add(wrong)
        await rec.post("/auth/login", {"providerName": "email",
                                       "credentials": {"email": EMAIL, "password": wrong}}, ok=False)
    body = await rec.post("/auth/login", {"providerName": "email",
                                          "credentials": {"email": EMAIL, "password": PW1}})
    body = await rec.post("/auth/refresh-token", {"refreshToken": body["refreshToken"]})
    await rec.post("/auth/refresh-token", {"refreshToken": body["refreshToken"][:-3] + "abc"}, ok=False)

    # email verification (before an emailed MFA code verifies the address) ----------------
    await rec.post("/auth/send-email-verification", None, token)
    await rec.post("/auth/verify-email", {"code": rec.code(smtp_sink.last_code(EMAIL))}, token)

    # TOTP enrolment, recovery codes, MFA on ------------------------------------------------
    setup = await rec.post("/auth/mfa/setup-totp", {"deviceName": "phone"}, token)
    secret = setup["secret"]
    await rec.post("/auth/mfa/verify-totp-setup", {"otp": "000000", "secret": secret}, token, ok=False)
    await rec.post("/auth/mfa/verify-totp-setup",
                   {"otp": rec.code(totp_code(h, secret)), "secret": secret}, token)
    next_step(h)
    recovery = await rec.post("/auth/mfa/generate-recovery-code", None, token)
    codes = recovery.get("codes") or [recovery.get("code")]
    assert codes and all(codes), recovery
    await rec.post("/auth/mfa/toggle", {"enabled": True}, token)

    async def pending() -> str:
        b = await rec.post("/auth/login", {"providerName": "email",
                                           "credentials": {"email": EMAIL, "password": PW1}})
        assert b["isRequiresMfa"] is True, b
        return str(b["accessToken"])

    # email second factor (with a wrong code first) and a trusted device --------------------
    p = await pending()
    await rec.post("/auth/mfa/challenge", {"method": "email"}, p)
    emailed = rec.code(smtp_sink.last_code(EMAIL))
    await rec.post("/auth/mfa/verify", {"method": "email",
                                        "otp": f"{(int(emailed) + 1) % 10**6:06d}"}, p, ok=False)
    await rec.post("/auth/mfa/verify", {"method": "email", "otp": emailed,
                                        "trustDevice": True}, p)
    # TOTP second factor, then a recovery code ----------------------------------------------
    p = await pending()
    await rec.post("/auth/mfa/verify", {"method": "totp", "otp": rec.code(totp_code(h, secret))},
                   p)
    next_step(h)
    p = await pending()
    await rec.post("/auth/mfa/verify-recovery-code", {"code": "XXXX-XXXX-XXXX"}, p, ok=False)
    full = await rec.post("/auth/mfa/verify-recovery-code", {"code": codes[0]}, p)
    token = full.get("accessToken", token)

    # password change, forgot/reset, passwordless --------------------------------------------
    await rec.post("/auth/change-password", {"currentPassword": "not it at all 1",
                                             "newPassword": PW2}, token, ok=False)
    await rec.post("/auth/change-password", {"currentPassword": PW1, "newPassword": PW2}, token)
    await rec.hash_of(uid)
    await rec.post("/auth/forgot-password", {"email": EMAIL})
    await background.drain(h.res)
    reset_code = rec.code(smtp_sink.last_code(EMAIL))
    verified = await rec.post("/auth/verify-forgot-password-otp",
                              {"email": EMAIL, "code": reset_code})
    await rec.post("/auth/reset-password", {"token": verified.get("resetToken", "x" * 20),
                                            "newPassword": PW3})
    await rec.post("/auth/reset-password", {"token": "not.a.token", "newPassword": PW3}, ok=False)
    await rec.hash_of(uid)
    await rec.post("/auth/passwordless/send", {"identifier": EMAIL, "channel": "email"})
    await background.drain(h.res)
    login_code = rec.code(smtp_sink.last_code(EMAIL))
    await rec.post("/auth/login", {"providerName": "passwordless",
                                   "credentials": {"identifier": EMAIL, "code": login_code}})
    final = await rec.post("/auth/login", {"providerName": "email",
                                           "credentials": {"email": EMAIL, "password": PW3}})
    last = final.get("accessToken") or token
    await rec.get("/auth/me", last)
    if final.get("isRequiresMfa"):  # logout-all needs the second factor (issue #12)
        next_step(h)
        done = await rec.post("/auth/mfa/verify", {
            "method": "totp", "otp": rec.code(totp_code(h, secret))}, last)
        last = done.get("accessToken") or last
        await rec.get("/auth/me", last)
    # secrets where a request log could pick them up: a query string, an unmatched path
    r = await h.client.get(f"/auth/user?access_token={last}&code={login_code}",
                           headers=bearer(last))
    assert r.status_code in (200, 401)
    rec.request_ids.append(r.headers["x-request-id"])
    r = await h.client.get(f"/auth/reset/{verified.get('resetToken', 'x' * 20)}/{reset_code}")
    assert r.status_code == 404
    rec.request_ids.append(r.headers["x-request-id"])
    await rec.post("/auth/logout-all", None, last)
    logged = " ".join(r.getMessage() for r in every_log.records if r.name == "authgate.requests")
    assert len(rec.request_ids) >= 35
    assert all(i in logged for i in rec.request_ids), "a request has no request log line"

    # the search ---------------------------------------------------------------------------
    assert len(rec.codes) >= 5 and len(rec.secrets) >= 15, (rec.codes, len(rec.secrets))
    fmt = logging.Formatter("%(name)s %(levelname)s %(message)s")
    records = every_log.records
    assert records, "nothing was logged at all: the capture is not working"
    assert any(r.name.startswith("sqlalchemy") for r in records), \
        "library loggers were not captured at DEBUG"
    # (not the record's timings: 'relativeCreated' is milliseconds since start-up, a 6-digit
    # number in a long run that a random code matches now and then)
    timings = {"created", "msecs", "relativeCreated"}
    # (not the test client's own lines about what it sent to the app: httpx logs its URLs)
    server_side = [r for r in records
                   if not (r.name == "httpx" and "http://testserver/" in r.getMessage())]
    texts = [fmt.format(r) + " " + repr(r.args) + " "
             + repr({k: v for k, v in getattr(r, "__dict__", {}).items() if k not in timings})
             for r in server_side]
    texts += [r.text for r in rec.errors]
    assert rec.errors, "the flows above include failures whose bodies must be checked too"
    leaks = []
    for text in texts:
        for s in rec.secrets:
            if s in text:
                leaks.append((s[:16] + "…", text[:300]))
        for c in rec.codes:
            if re.search(rf"(?<![\w.:]){re.escape(c)}(?!\w)", text):
                leaks.append((c, text[:300]))
    assert not leaks, leaks[:5]
    print(f"\nsecrets: {len(rec.secrets)} values and {len(rec.codes)} codes searched in "
          f"{len(records)} log records and {len(rec.errors)} error bodies")
