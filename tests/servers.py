"""Real local servers for delivery tests: an SMTP server (aiosmtpd) and a Twilio-style SMS
endpoint (http.server), each on 127.0.0.1 in its own thread, recording what they receive.

Fixtures ``smtp_sink`` and ``sms_sink`` are re-exported by ``tests/conftest.py``; pass
``delivery={"smtp": smtp_sink.settings(), "sms": sms_sink.settings()}`` to ``make_harness``.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"
CODE = re.compile(r"\b(\d{6})\b")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# SMTP ---------------------------------------------------------------------------------
@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        content: str = body.get_content()
        return content

    @property
    def text(self) -> str:
        return self.part("plain")

    @property
    def html(self) -> str:
        return self.part("html")

    @property
    def code(self) -> str:
        found = CODE.search(self.text)
        assert found, self.text
        return found.group(1)


@dataclass
class SmtpSink:
    """An aiosmtpd server. ``refuse`` holds recipients answered with 550; ``logins``
    records successful AUTH user names."""

    tls_context: ssl.SSLContext | None = None
    implicit_tls: bool = False
    credentials: tuple[str, str] | None = None
    messages: list[ReceivedMail] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    logins: list[str] = field(default_factory=list)
    port: int = 0
    _controller: Controller | None = None

    # aiosmtpd handler hooks
    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = bytes(envelope.original_content or b"")
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos),
                                          raw, msg))
        return "250 Message accepted for delivery"

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and self.credentials is not None
              and (auth_data.login.decode(), auth_data.password.decode()) == self.credentials)
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    def start(self) -> SmtpSink:
        self.port = self.port or free_port()
        kwargs: dict[str, Any] = {}
        if self.tls_context is not None and self.implicit_tls:
            kwargs["ssl_context"] = self.tls_context
        elif self.tls_context is not None:
            kwargs.update(tls_context=self.tls_context, require_starttls=True)
        if self.credentials is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
        self._controller = Controller(self, hostname=HOST, port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def settings(self, **extra: Any) -> dict[str, Any]:
        """``delivery.smtp`` settings pointing at this server."""
        security = "none" if self.tls_context is None else (
            "tls" if self.implicit_tls else "starttls")
        return {"host": HOST, "port": self.port, "security": security, "timeout": 5, **extra}

    def to(self, address: str) -> list[ReceivedMail]:
        return [m for m in self.messages if address in m.rcpt_tos]

    def last_code(self, address: str) -> str:
        mails = self.to(address)
        assert mails, f"no mail to {address}"
        return mails[-1].code

    def reset(self) -> SmtpSink:
        """Forget what this server received and was told (one server serves every test of a
        session); restart it on its port if a test stopped it."""
        self.messages.clear()
        self.refuse.clear()
        self.logins.clear()
        if self._controller is None:
            self.start()
        return self


@pytest.fixture(scope="session")
def _smtp_server() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def smtp_sink(_smtp_server: SmtpSink) -> SmtpSink:
    """The session's SMTP server, empty. Its port never changes, so apps configured with it
    are reused between tests (tests/conftest.py)."""
    return _smtp_server.reset()


@dataclass(frozen=True)
class SelfSignedCert:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


def make_cert(directory: Path) -> SelfSignedCert:
    """A self-signed certificate for 127.0.0.1 (clients trust it through ``ca_file``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "authgate test relay")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths = SelfSignedCert(directory / "relay.crt", directory / "relay.key")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return paths


# SMS ----------------------------------------------------------------------------------
SMS_SID = "AC0123456789abcdef"
SMS_TOKEN = "sms-auth-token-for-tests"
SMS_FROM = "+15005550006"


@dataclass(frozen=True)
class SmsPost:
    path: str
    authorized: bool
    form: dict[str, str]
    content_type: str

    @property
    def code(self) -> str:
        found = CODE.search(self.form.get("Body", ""))
        assert found, self.form
        return found.group(1)


class SmsSink:
    """A Twilio-style Messages endpoint: records every POST, checks HTTP basic auth
    (401 on a mismatch), answers ``status`` (201) after ``delay`` seconds."""

    def __init__(self) -> None:
        self.posts: list[SmsPost] = []
        self.status = 201
        self.delay = 0.0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length).decode()
                expected = "Basic " + base64.b64encode(
                    f"{SMS_SID}:{SMS_TOKEN}".encode()).decode()
                authorized = self.headers.get("authorization") == expected
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                sink.posts.append(SmsPost(self.path, authorized, form,
                                          self.headers.get("content-type", "")))
                if sink.delay:
                    time.sleep(sink.delay)
                status = sink.status if authorized else 401
                body = json.dumps({"sid": "SM0001", "status": "queued"}).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._handler = Handler
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SmsSink:
        """Listen on ``port`` (a free one the first time: restarts keep it)."""
        self._server = ThreadingHTTPServer((HOST, self.port), self._handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        # A short poll interval: stop() waits for the serving loop to notice.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self._server = self._thread = None

    def reset(self) -> SmsSink:
        """Forget what this endpoint received and was told; restart it if a test stopped
        it."""
        self.posts.clear()
        self.status = 201
        self.delay = 0.0
        if self._server is None:
            self.start()
        return self

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/2010-04-01/Accounts/{{account_sid}}/Messages.json"

    def settings(self, **extra: Any) -> dict[str, Any]:
        """``delivery.sms`` settings pointing at this endpoint."""
        return {"url": self.url, "account_sid": SMS_SID, "auth_token": SMS_TOKEN,
                "from_number": SMS_FROM, "timeout": 5, **extra}

    def to(self, number: str) -> list[SmsPost]:
        return [p for p in self.posts if p.form.get("To") == number]

    def last_code(self, number: str) -> str:
        posts = self.to(number)
        assert posts, f"no SMS to {number}"
        return posts[-1].code


@pytest.fixture(scope="session")
def _sms_server() -> Iterator[SmsSink]:
    sink = SmsSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def sms_sink(_sms_server: SmsSink) -> SmsSink:
    """The session's SMS endpoint, empty (same port all session, like ``smtp_sink``)."""
    return _sms_server.reset()
