"""SMS delivery against a real local Twilio-style HTTP endpoint."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from authgate.config import SmsSettings
from authgate.delivery import Delivery, HttpSmsSender, Templates
from authgate.delivery.email import OutboxEmailSender
from authgate.errors import AuthError, Code
from tests.servers import SMS_FROM, SMS_SID, SmsSink


def _delivery(sink: SmsSink, **sms: object) -> Delivery:
    """SMS through the sink; email goes nowhere (these tests never send any)."""
    settings = SmsSettings(**{**sink.settings(), **sms})
    return Delivery(app_name="Acme", templates=Templates(), sms=HttpSmsSender(settings),
                    email=OutboxEmailSender(Path("/nonexistent"), from_address="a@b.c",
                                            from_name="Acme"))


async def test_posts_form_with_basic_auth(sms_sink: SmsSink) -> None:
    await _delivery(sms_sink).send_code(channel="sms", to="+15551234567", purpose="mfa",
                                        code="246810", expires_in=timedelta(minutes=10))
    [post] = sms_sink.posts
    assert post.authorized
    assert post.path == f"/2010-04-01/Accounts/{SMS_SID}/Messages.json"
    assert post.content_type.startswith("application/x-www-form-urlencoded")
    assert post.form["To"] == "+15551234567" and post.form["From"] == SMS_FROM
    assert "246810" in post.form["Body"] and "Acme" in post.form["Body"]
    assert "10 minutes" in post.form["Body"]


async def test_wrong_credentials_are_delivery_failed(sms_sink: SmsSink) -> None:
    with pytest.raises(AuthError) as err:
        await _delivery(sms_sink, auth_token="wrong").send_code(
            channel="sms", to="+15551234567", purpose="mfa", code="1",
            expires_in=timedelta(minutes=1))
    assert err.value.code == Code.DELIVERY_FAILED
    assert [p.authorized for p in sms_sink.posts] == [False]


@pytest.mark.parametrize("status", [400, 429, 500, 503])
async def test_provider_error_is_delivery_failed(sms_sink: SmsSink, status: int) -> None:
    sms_sink.status = status
    with pytest.raises(AuthError) as err:
        await _delivery(sms_sink).send_code(channel="sms", to="+15551234567", purpose="mfa",
                                            code="123456", expires_in=timedelta(minutes=1))
    assert err.value.code == Code.DELIVERY_FAILED


async def test_timeout_is_delivery_failed(sms_sink: SmsSink) -> None:
    sms_sink.delay = 1.5
    with pytest.raises(AuthError) as err:
        await _delivery(sms_sink, timeout=0.3).send_code(
            channel="sms", to="+15551234567", purpose="mfa", code="123456",
            expires_in=timedelta(minutes=1))
    assert err.value.code == Code.DELIVERY_FAILED


async def test_unreachable_provider_is_delivery_failed(sms_sink: SmsSink) -> None:
    d = _delivery(sms_sink)
    sms_sink.stop()
    with pytest.raises(AuthError) as err:
        await d.send_code(channel="sms", to="+15551234567", purpose="mfa", code="123456",
                          expires_in=timedelta(minutes=1))
    assert err.value.code == Code.DELIVERY_FAILED


@pytest.mark.parametrize("number", ["", "+1555\r\n123", "call me", "+"])
async def test_bad_numbers_are_refused_before_any_request(sms_sink: SmsSink, number: str) -> None:
    with pytest.raises(AuthError) as err:
        await _delivery(sms_sink).send_code(channel="sms", to=number, purpose="mfa",
                                            code="123456", expires_in=timedelta(minutes=1))
    assert err.value.code == Code.INVALID_INPUT
    assert sms_sink.posts == []


def test_sms_settings_must_be_complete() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="account_sid"):
        SmsSettings(url="https://api.example.com/sms")
    with pytest.raises(ValidationError, match="http"):
        SmsSettings(url="ftp://x", account_sid="a", auth_token="t", from_number="+1")
