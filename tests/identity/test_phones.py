"""Phone numbers are normalised to E.164 wherever one is accepted or looked up (issue 12
item 10): however a number is written it is one account and one rate-limit budget, and a
number that cannot be a phone number is refused with 400 INVALID_PHONE_FORMAT."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from authgate import background
from authgate.config import load_settings
from authgate.errors import AuthError
from authgate.identity.store import normalise_phone
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error
from tests.servers import SmsSink, SmtpSink

E164 = "+15551234567"
WRITTEN = ["+1-555-123-4567", "+1 (555) 123-4567", " +1 555 123 4567 ", "+1.555.123.4567"]
BAD = ["12345", "+1 abc 123 4567", "555-123-4567", "+1234567890", "+", "+1 555 123 4567 ext 9",
       "+1555\x001234567", "+0 555 123 4567", "+1" + "5" * 40]
PW = "correct horse battery"


def test_normalise_phone() -> None:
    for written in [E164, *WRITTEN]:
        assert normalise_phone(written) == E164
    assert normalise_phone("+44 20 7946 0958") == "+442079460958"
    assert normalise_phone("(555) 123-4567", "US") == E164
    assert normalise_phone("020 7946 0958", "GB") == "+442079460958"
    for bad in BAD:
        with pytest.raises(AuthError) as info:
            normalise_phone(bad)
        assert info.value.code == "INVALID_PHONE_FORMAT", bad


def test_default_region_setting() -> None:
    assert load_settings(phone_default_region="gb").phone_default_region == "GB"
    with pytest.raises(ValidationError, match="phone_default_region"):
        load_settings(phone_default_region="XX")


async def _signup(h: Harness, phone: str) -> Any:
    return await h.client.post("/auth/signup", json={"phone": phone, "password": PW})


async def _phone_of(h: Harness, token: str) -> str:
    """The account's phone as the token's holder sees it (tokens carry no personal data)."""
    r = await h.client.get("/auth/me", headers=bearer(token))
    assert r.status_code == 200, r.text
    phone: str = r.json()["phone"]
    return phone


async def _login(h: Harness, phone: str, password: str = PW) -> Any:
    return await h.client.post("/auth/login", json={
        "providerName": "phone", "credentials": {"phone": phone, "password": password}})


async def test_one_account_however_written(make_harness: MakeHarness) -> None:
    h = await make_harness(phone_auth_enabled=True, rate_limit={"enabled": False})
    r = await _signup(h, "+1-555-123-4567")
    assert r.status_code == 200, r.text
    assert await _phone_of(h, r.json()["accessToken"]) == E164
    for written in [E164, *WRITTEN]:
        assert_error(await _signup(h, written), 400, "PHONE_ALREADY_EXISTS")
        assert (await _login(h, written)).status_code == 200, written
    for bad in BAD:
        if "\x00" in bad or len(bad) > 32:
            continue  # refused earlier, by the request schema (INVALID_INPUT)
        assert_error(await _signup(h, bad), 400, "INVALID_PHONE_FORMAT")
        assert_error(await _login(h, bad), 400, "INVALID_PHONE_FORMAT")
    # with a default region, national numbers work too
    us = await make_harness(phone_auth_enabled=True, phone_default_region="US",
                            rate_limit={"enabled": False})
    assert_error(await _signup(us, "(555) 123-4567"), 400, "PHONE_ALREADY_EXISTS")
    assert (await _login(us, "555 123 4567")).status_code == 200


async def test_formats_share_one_rate_limit_budget(make_harness: MakeHarness) -> None:
    h = await make_harness(phone_auth_enabled=True, rate_limit={
        "login": {"per_ip": None, "per_account": {"limit": 3, "window": 60}}})
    assert (await _signup(h, E164)).status_code == 200
    for written in WRITTEN[:3]:
        assert_error(await _login(h, written, "wrong password!"), 401, "INVALID_CREDENTIALS")
    assert_error(await _login(h, WRITTEN[3], "wrong password!"), 429, "RATE_LIMITED")


async def test_reset_and_passwordless_by_phone(make_harness: MakeHarness, smtp_sink: SmtpSink,
                                               sms_sink: SmsSink) -> None:
    h = await make_harness(phone_auth_enabled=True, passwordless={"enabled": True},
                           rate_limit={"enabled": False},
                           delivery={"smtp": smtp_sink.settings(), "sms": sms_sink.settings()})
    assert (await _signup(h, E164)).status_code == 200
    r = await h.client.post("/auth/forgot-password", json={"phone": "+1 (555) 123-4567"})
    assert r.status_code == 200, r.text
    await background.drain(h.res)
    code = sms_sink.last_code(E164)  # texted to the stored E.164 number
    r = await h.client.post("/auth/verify-forgot-password-otp",
                            json={"phone": "+1-555-123-4567", "code": code})
    assert r.status_code == 200, r.text
    assert_error(await h.client.post("/auth/forgot-password", json={"phone": "+1234567890"}),
                 400, "INVALID_PHONE_FORMAT")
    assert_error(await h.client.post("/auth/verify-forgot-password-otp",
                                     json={"phone": "555-1234", "code": "123456"}),
                 400, "INVALID_PHONE_FORMAT")
    sms_sink.posts.clear()
    r = await h.client.post("/auth/passwordless/send",
                            json={"identifier": "+1.555.123.4567", "channel": "sms"})
    assert r.status_code == 200, r.text
    await background.drain(h.res)
    code = sms_sink.last_code(E164)
    r = await h.client.post("/auth/login", json={"providerName": "passwordless", "credentials": {
        "identifier": "+1 555 123 4567", "code": code}})
    assert r.status_code == 200, r.text
    assert await _phone_of(h, r.json()["accessToken"]) == E164
    # passwordless keeps the contract's code for an unusable phone
    r = await h.client.post("/auth/passwordless/send",
                            json={"identifier": "+1234567890", "channel": "sms"})
    assert_error(r, 400, "MISSING_REQUIRED_FIELD", "A valid phone number is required")
