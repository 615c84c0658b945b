"""The one-time-code engine on the real databases (and a real SMTP server for delivery)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from authgate.crypto.keys import keyed_hash
from authgate.errors import AuthError, Code
from authgate.otp import codes
from authgate.otp.models import OneTimeCode
from authgate.vocabulary import Channel, Purpose
from tests.conftest import Harness, MakeHarness
from tests.helpers import user_id_of
from tests.servers import SmtpSink

EMAIL = "alice@example.com"


async def _setup(make_harness: MakeHarness, smtp_sink: SmtpSink, **overrides: object
                 ) -> tuple[Harness, str]:
    h = await make_harness(delivery={"smtp": smtp_sink.settings()}, **overrides)
    assert (await h.signup()).status_code == 200
    return h, await user_id_of(h.res, EMAIL)


async def _send(h: Harness, uid: str, purpose: Purpose = "email_verification",
                channel: Channel = "email") -> codes.IssuedCode:
    return await codes.issue_and_send(h.res, user_id=uid, purpose=purpose, channel=channel,
                                      to=EMAIL)


async def _rows(h: Harness, uid: str) -> list[OneTimeCode]:
    async with h.res.readmaker() as s:
        return list((await s.execute(
            select(OneTimeCode).where(OneTimeCode.user_id == uid))).scalars())


async def _fails(h: Harness, uid: str, code: str, expect: Code,
                 purpose: Purpose = "email_verification",
                 channel: Channel = "email") -> str:
    with pytest.raises(AuthError) as err:
        await codes.verify(h.res, user_id=uid, purpose=purpose, channel=channel, code=code)
    assert err.value.code == expect, err.value
    return err.value.message


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


async def test_issue_sends_and_stores_only_a_keyed_hash(make_harness: MakeHarness,
                                                        smtp_sink: SmtpSink) -> None:
    h, uid = await _setup(make_harness, smtp_sink)
    issued = await _send(h, uid)
    assert issued.code.isdigit() and len(issued.code) == 6
    assert smtp_sink.last_code(EMAIL) == issued.code
    [row] = await _rows(h, uid)
    assert row.code_hash == keyed_hash(h.res.keys.otp,
                                       f"{uid}:email_verification:email:{issued.code}")
    assert issued.code not in row.code_hash
    assert (row.purpose, row.channel, row.attempts) == ("email_verification", "email", 0)
    assert row.expires_at == h.clock.now() + timedelta(minutes=10)
    assert row.sent_at == h.clock.now()


async def test_length_and_lifetime_follow_settings(make_harness: MakeHarness,
                                                   smtp_sink: SmtpSink) -> None:
    h, uid = await _setup(make_harness, smtp_sink,
                          mfa={"otp_length": 8, "otp_expires_in": "2m"})
    issued = await _send(h, uid)
    assert len(issued.code) == 8 and issued.code.isdigit()
    assert "2 minutes" in smtp_sink.to(EMAIL)[-1].text
    h.clock.advance(timedelta(minutes=2))
    await _fails(h, uid, issued.code, Code.VERIFICATION_CODE_EXPIRED)


async def test_verify_consumes_once(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h, uid = await _setup(make_harness, smtp_sink)
    issued = await _send(h, uid)
    await codes.verify(h.res, user_id=uid, purpose="email_verification", channel="email",
                       code=f"  {issued.code} ")
    assert await _rows(h, uid) == []
    await _fails(h, uid, issued.code, Code.VERIFICATION_CODE_INVALID)


async def test_expiry_edges(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h, uid = await _setup(make_harness, smtp_sink)
    issued = await _send(h, uid)
    h.clock.advance(timedelta(minutes=10) - timedelta(milliseconds=1))
    await codes.verify(h.res, user_id=uid, purpose="email_verification", channel="email",
                       code=issued.code)  # the last millisecond still counts
    issued = await _send(h, uid)
    h.clock.advance(timedelta(minutes=10))
    message = await _fails(h, uid, issued.code, Code.VERIFICATION_CODE_EXPIRED)
    assert message == "Verification code has expired"
    # An expired code is still no oracle: a wrong guess is just invalid.
    await _fails(h, uid, _wrong(issued.code), Code.VERIFICATION_CODE_INVALID)


async def test_blank_code(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h, uid = await _setup(make_harness, smtp_sink)
    await _send(h, uid)
    for blank in ("", "   ", None):
        message = await _fails(h, uid, blank, Code.MISSING_REQUIRED_FIELD)  # type: ignore[arg-type]
        assert message == "Verification code is required"
    [row] = await _rows(h, uid)
    assert row.attempts == 0


async def test_wrong_codes_are_counted_then_the_code_dies(make_harness: MakeHarness,
                                                          smtp_sink: SmtpSink) -> None:
    h, uid = await _setup(make_harness, smtp_sink, mfa={"max_attempts": 3})
    issued = await _send(h, uid)
    for n in (1, 2):
        message = await _fails(h, uid, _wrong(issued.code), Code.VERIFICATION_CODE_INVALID)
        assert message == "Invalid verification code"
        [row] = await _rows(h, uid)
        assert row.attempts == n
    message = await _fails(h, uid, _wrong(issued.code), Code.VERIFICATION_CODE_INVALID)
    assert message == "Too many invalid attempts. Please request a new verification code."
    assert await _rows(h, uid) == []
    await _fails(h, uid, issued.code, Code.VERIFICATION_CODE_INVALID)


async def test_channel_and_purpose_are_bound(make_harness: MakeHarness,
                                             smtp_sink: SmtpSink) -> None:
    h, uid = await _setup(make_harness, smtp_sink)
    issued = await _send(h, uid, purpose="mfa")
    await _fails(h, uid, issued.code, Code.VERIFICATION_CODE_INVALID, purpose="mfa",
                 channel="sms")
    await _fails(h, uid, issued.code, Code.VERIFICATION_CODE_INVALID,
                 purpose="password_reset")
    await codes.verify(h.res, user_id=uid, purpose="mfa", channel="email", code=issued.code)


async def test_purposes_are_independent(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h, uid = await _setup(make_harness, smtp_sink)
    reset = await _send(h, uid, purpose="password_reset")
    mfa = await _send(h, uid, purpose="mfa")  # no throttle across purposes
    assert len(await _rows(h, uid)) == 2
    await codes.verify(h.res, user_id=uid, purpose="password_reset", channel="email",
                       code=reset.code)
    await codes.verify(h.res, user_id=uid, purpose="mfa", channel="email", code=mfa.code)


async def test_resend_throttle_and_replacement(make_harness: MakeHarness,
                                               smtp_sink: SmtpSink) -> None:
    h, uid = await _setup(make_harness, smtp_sink)
    first = await _send(h, uid)
    h.clock.advance(timedelta(seconds=10.2))
    with pytest.raises(AuthError) as err:
        await _send(h, uid)
    assert err.value.code == Code.RESEND_TOO_SOON and err.value.retry_after == 20
    assert len(smtp_sink.messages) == 1
    h.clock.advance(timedelta(seconds=19.8))
    second = await _send(h, uid)
    [row] = await _rows(h, uid)
    assert row.id == second.id and row.attempts == 0
    if first.code != second.code:  # (one chance in a million that they coincide)
        await _fails(h, uid, first.code, Code.VERIFICATION_CODE_INVALID)
    await codes.verify(h.res, user_id=uid, purpose="email_verification", channel="email",
                       code=second.code)


async def test_concurrent_sends_send_once(make_harness: MakeHarness,
                                          smtp_sink: SmtpSink) -> None:
    h, uid = await _setup(make_harness, smtp_sink)
    results = await asyncio.gather(*(_send(h, uid) for _ in range(4)), return_exceptions=True)
    sent = [r for r in results if isinstance(r, codes.IssuedCode)]
    refused = [r for r in results if isinstance(r, AuthError)]
    assert len(sent) == 1 and len(refused) == 3, results
    assert all(e.code == Code.RESEND_TOO_SOON for e in refused)
    assert len(smtp_sink.messages) == 1


async def test_concurrent_verifications_one_wins(make_harness: MakeHarness,
                                                 smtp_sink: SmtpSink) -> None:
    h, uid = await _setup(make_harness, smtp_sink)
    issued = await _send(h, uid)

    async def attempt() -> bool:
        try:
            await codes.verify(h.res, user_id=uid, purpose="email_verification",
                               channel="email", code=issued.code)
            return True
        except AuthError as err:
            assert err.code == Code.VERIFICATION_CODE_INVALID
            return False

    results = await asyncio.gather(*(attempt() for _ in range(5)))
    assert sorted(results) == [False] * 4 + [True]


async def test_consume_rolls_back_with_the_callers_work(make_harness: MakeHarness,
                                                        smtp_sink: SmtpSink) -> None:
    h, uid = await _setup(make_harness, smtp_sink)
    issued = await _send(h, uid)
    with pytest.raises(RuntimeError):
        async with codes.consume(h.res, user_id=uid, purpose="email_verification",
                                 channel="email", code=issued.code):
            raise RuntimeError("the caller's work failed")
    assert len(await _rows(h, uid)) == 1  # still usable
    await codes.verify(h.res, user_id=uid, purpose="email_verification", channel="email",
                       code=issued.code)


async def test_failed_delivery_leaves_no_valid_code_and_no_throttle(
        make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h, uid = await _setup(make_harness, smtp_sink)
    old = await _send(h, uid)
    h.clock.advance(timedelta(minutes=1))
    smtp_sink.refuse.add(EMAIL)
    with pytest.raises(AuthError) as err:
        await _send(h, uid)
    assert err.value.code == Code.DELIVERY_FAILED
    assert await _rows(h, uid) == []  # neither the unsent code nor the replaced one
    await _fails(h, uid, old.code, Code.VERIFICATION_CODE_INVALID)
    smtp_sink.refuse.clear()
    fresh = await _send(h, uid)  # immediately: the failure did not arm the throttle
    await codes.verify(h.res, user_id=uid, purpose="email_verification", channel="email",
                       code=fresh.code)


async def test_smtp_down_leaves_no_code(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h, uid = await _setup(make_harness, smtp_sink)
    smtp_sink.stop()
    with pytest.raises(AuthError) as err:
        await _send(h, uid)
    assert err.value.code == Code.DELIVERY_FAILED
    assert await _rows(h, uid) == []


async def test_sms_without_provider_issues_nothing(make_harness: MakeHarness,
                                                   smtp_sink: SmtpSink) -> None:
    h, uid = await _setup(make_harness, smtp_sink)
    with pytest.raises(AuthError) as err:
        await codes.issue_and_send(h.res, user_id=uid, purpose="phone_verification",
                                   channel="sms", to="+15551234567")
    assert err.value.code == Code.MFA_METHOD_NOT_AVAILABLE
    assert await _rows(h, uid) == []


async def test_invalid_address_issues_nothing(make_harness: MakeHarness,
                                              smtp_sink: SmtpSink) -> None:
    h, uid = await _setup(make_harness, smtp_sink)
    with pytest.raises(AuthError) as err:
        await codes.issue_and_send(h.res, user_id=uid, purpose="mfa", channel="email",
                                   to="x@example.com\r\nBcc: y@example.com")
    assert err.value.code == Code.INVALID_INPUT
    assert await _rows(h, uid) == []


async def test_purpose_without_a_message_on_that_channel_issues_nothing(
        make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h, uid = await _setup(make_harness, smtp_sink)
    with pytest.raises(ValueError, match="no email message"):
        await codes.issue_and_send(h.res, user_id=uid, purpose="phone_verification",
                                   channel="email", to=EMAIL)
    assert await _rows(h, uid) == []


def test_generate_is_uniform_digits() -> None:
    seen = {codes.generate(6) for _ in range(2000)}
    assert all(len(c) == 6 and c.isdigit() for c in seen)
    assert len(seen) > 1900  # random, not a counter or a constant
    assert any(c.startswith("0") for c in seen)  # leading zeros are kept
