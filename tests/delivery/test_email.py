"""Email delivery against a real SMTP server (aiosmtpd) and the development outbox."""

from __future__ import annotations

import email
import email.policy
import logging
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from authgate.config import SmtpSettings
from authgate.delivery import Delivery, Templates
from authgate.delivery.email import OutboxEmailSender, OutgoingEmail, SmtpEmailSender
from authgate.errors import AuthError, Code
from tests.servers import SmtpSink, make_cert

FROM = "no-reply@example.com"


def _delivery(sink: SmtpSink, app_name: str = "Acme", **smtp: object) -> Delivery:
    sender = SmtpEmailSender(SmtpSettings(**{**sink.settings(), **smtp}),
                             from_address=FROM, from_name=app_name)
    return Delivery(app_name=app_name, templates=Templates(), email=sender)


async def test_mfa_code_email_has_text_and_html_with_app_name_and_code(
        smtp_sink: SmtpSink) -> None:
    d = _delivery(smtp_sink)
    await d.send_code(channel="email", to="alice@example.com", purpose="mfa", code="042917",
                      expires_in=timedelta(minutes=10))
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == ["alice@example.com"]
    assert mail.mail_from == FROM
    assert mail.message["To"] == "alice@example.com"
    assert mail.message["From"] == f"Acme <{FROM}>"
    assert mail.subject == "Your Acme sign-in code"
    assert mail.message.get_content_type() == "multipart/alternative"
    for part in (mail.text, mail.html):
        assert "042917" in part and "Acme" in part and "10 minutes" in part
    assert mail.html.lstrip().startswith("<!DOCTYPE html>")
    assert mail.code == "042917"


@pytest.mark.parametrize(("purpose", "subject"), [
    ("email_verification", "Verify your email address for Acme"),
    ("password_reset", "Reset your Acme password"),
    ("passwordless_login", "Your Acme login code"),
])
async def test_every_email_kind_renders(smtp_sink: SmtpSink, purpose: str, subject: str) -> None:
    await _delivery(smtp_sink).send_code(channel="email", to="bob@example.com",
                                         purpose=purpose, code="123456",
                                         expires_in=timedelta(hours=1))
    [mail] = smtp_sink.messages
    assert mail.subject == subject
    assert "123456" in mail.text and "123456" in mail.html and "1 hour" in mail.text


async def test_html_escapes_values_and_text_keeps_them(smtp_sink: SmtpSink) -> None:
    d = _delivery(smtp_sink, app_name='<b>Tom & "Jerry"</b>')
    await d.send_code(channel="email", to="alice@example.com", purpose="mfa", code="111111",
                      expires_in=timedelta(minutes=5))
    [mail] = smtp_sink.messages
    assert "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;" in mail.html
    assert "<b>Tom" not in mail.html
    assert '<b>Tom & "Jerry"</b>' in mail.text


@pytest.mark.parametrize("address", [
    "alice@example.com\r\nBcc: victim@example.com",
    "alice@example.com\nBcc: victim@example.com",
    "Alice <alice@example.com>",
    "a@example.com, b@example.com",
    "not-an-address",
])
async def test_recipient_header_injection_is_refused_before_connecting(
        smtp_sink: SmtpSink, address: str) -> None:
    with pytest.raises(AuthError) as err:
        await _delivery(smtp_sink).send_code(channel="email", to=address, purpose="mfa",
                                             code="123456", expires_in=timedelta(minutes=1))
    assert err.value.code == Code.INVALID_INPUT
    assert smtp_sink.messages == []


def test_subject_injection_through_app_name_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="single line"):
        Templates().check("Acme\r\nBcc: victim@example.com")


async def test_multiline_subject_never_reaches_the_wire(smtp_sink: SmtpSink) -> None:
    sender = SmtpEmailSender(SmtpSettings(**smtp_sink.settings()), from_address=FROM,
                             from_name="Acme")
    with pytest.raises(ValueError):
        await sender.send(OutgoingEmail(to="alice@example.com", subject="hi\r\nBcc: x@y.z",
                                        text="t", html="h"))
    assert smtp_sink.messages == []


async def test_server_down_is_delivery_failed(smtp_sink: SmtpSink) -> None:
    d = _delivery(smtp_sink)
    smtp_sink.stop()
    with pytest.raises(AuthError) as err:
        await d.send_code(channel="email", to="alice@example.com", purpose="mfa",
                          code="123456", expires_in=timedelta(minutes=1))
    assert err.value.code == Code.DELIVERY_FAILED


async def test_refused_recipient_is_delivery_failed(smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse.add("alice@example.com")
    with pytest.raises(AuthError) as err:
        await _delivery(smtp_sink).send_code(channel="email", to="alice@example.com",
                                             purpose="mfa", code="123456",
                                             expires_in=timedelta(minutes=1))
    assert err.value.code == Code.DELIVERY_FAILED
    assert smtp_sink.messages == []


async def test_starttls_with_authentication(tmp_path: Path) -> None:
    cert = make_cert(tmp_path)
    sink = SmtpSink(tls_context=cert.server_context(), credentials=("mailer", "s3cret")).start()
    try:
        d = _delivery(sink, username="mailer", password="s3cret", ca_file=str(cert.cert))
        await d.send_code(channel="email", to="alice@example.com", purpose="mfa",
                          code="654321", expires_in=timedelta(minutes=1))
        assert sink.logins == ["mailer"]
        assert sink.last_code("alice@example.com") == "654321"
        # The same relay without trusting its certificate: refused, nothing sent.
        with pytest.raises(AuthError) as err:
            await _delivery(sink, username="mailer", password="s3cret").send_code(
                channel="email", to="alice@example.com", purpose="mfa", code="000001",
                expires_in=timedelta(minutes=1))
        assert err.value.code == Code.DELIVERY_FAILED
        # Wrong password: refused.
        with pytest.raises(AuthError):
            await _delivery(sink, username="mailer", password="wrong",
                            ca_file=str(cert.cert)).send_code(
                channel="email", to="alice@example.com", purpose="mfa", code="000002",
                expires_in=timedelta(minutes=1))
        assert len(sink.messages) == 1
    finally:
        sink.stop()


async def test_starttls_required_refuses_a_plain_server(smtp_sink: SmtpSink) -> None:
    d = _delivery(smtp_sink, security="starttls")
    with pytest.raises(AuthError) as err:
        await d.send_code(channel="email", to="alice@example.com", purpose="mfa",
                          code="123456", expires_in=timedelta(minutes=1))
    assert err.value.code == Code.DELIVERY_FAILED
    assert smtp_sink.messages == []


async def test_implicit_tls(tmp_path: Path) -> None:
    cert = make_cert(tmp_path)
    sink = SmtpSink(tls_context=cert.server_context(), implicit_tls=True).start()
    try:
        await _delivery(sink, ca_file=str(cert.cert)).send_code(
            channel="email", to="alice@example.com", purpose="mfa", code="777777",
            expires_in=timedelta(minutes=1))
        assert sink.last_code("alice@example.com") == "777777"
    finally:
        sink.stop()


async def test_outbox_writes_eml_and_logs_where_without_the_code(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    outbox = tmp_path / "data" / "outbox"
    d = Delivery(app_name="Acme", templates=Templates(),
                 email=OutboxEmailSender(outbox, from_address=FROM, from_name="Acme"))
    with caplog.at_level(logging.INFO, logger="authgate.delivery"):
        await d.send_code(channel="email", to="alice@example.com", purpose="mfa",
                          code="908172", expires_in=timedelta(minutes=10))
    [path] = list(outbox.iterdir())
    assert path.suffix == ".eml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert msg["To"] == "alice@example.com" and msg["Subject"] == "Your Acme sign-in code"
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None and "908172" in body.get_content()
    lines = [r.getMessage() for r in caplog.records if r.name == "authgate.delivery"]
    assert any(str(path) in line for line in lines), lines
    assert not any("908172" in line for line in lines)


async def test_outbox_unwritable_is_delivery_failed(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    d = Delivery(app_name="Acme", templates=Templates(),
                 email=OutboxEmailSender(blocker / "outbox", from_address=FROM,
                                         from_name="Acme"))
    with pytest.raises(AuthError) as err:
        await d.send_code(channel="email", to="alice@example.com", purpose="mfa",
                          code="123456", expires_in=timedelta(minutes=1))
    assert err.value.code == Code.DELIVERY_FAILED
