"""Email delivery: the ``EmailSender`` interface, an SMTP sender and a development outbox.

Both senders build the same MIME message (text + HTML alternative). Recipients and the
subject are checked for CR/LF before any header is written, so a hostile address can never
add headers (``Bcc:``) to a message.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path
from typing import Protocol

from authgate.config import SmtpSettings
from authgate.errors import AuthError, Code

log = logging.getLogger("authgate.delivery")

_ADDRESS = re.compile(r"^[^@\s\x00-\x1f\x7f<>,;\"]{1,64}@[^@\s\x00-\x1f\x7f<>,;\"]{1,255}$")


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    to: str
    subject: str
    text: str
    html: str


class EmailSender(Protocol):
    """Delivers one message or raises ``AuthError(DELIVERY_FAILED)``; nothing else escapes."""

    async def send(self, message: OutgoingEmail) -> None: ...


def check_recipient(address: str) -> str:
    """A single bare address without control characters, or 400 INVALID_INPUT."""
    if not _ADDRESS.match(address):
        raise AuthError(Code.INVALID_INPUT, "Invalid recipient email address")
    return address


def build_mime(message: OutgoingEmail, *, from_address: str, from_name: str) -> EmailMessage:
    """The MIME message both senders transmit. Raises ValueError for a multi-line subject
    (templates are validated at start-up, so that is a programming error)."""
    to = check_recipient(message.to)
    if any(c in message.subject for c in "\r\n\x00"):
        raise ValueError("email subject must be a single line")
    mime = EmailMessage()
    mime["From"] = formataddr((from_name, from_address))
    mime["To"] = to
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(usegmt=True)
    mime["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2] or None)
    mime.set_content(message.text)
    mime.add_alternative(message.html, subtype="html")
    return mime


class SmtpEmailSender:
    """Sends through an SMTP relay (aiosmtplib), one connection per message: codes are rare
    and a pooled connection would only add idle-timeout failures."""

    def __init__(self, settings: SmtpSettings, *, from_address: str, from_name: str) -> None:
        if settings.host is None:
            raise ValueError("SmtpEmailSender needs delivery.smtp.host")
        self._s = settings
        self._host = settings.host
        self._from = from_address
        self._name = from_name

    async def send(self, message: OutgoingEmail) -> None:
        mime = build_mime(message, from_address=self._from, from_name=self._name)
        s = self._s
        import aiosmtplib  # on the first message: most requests never send mail

        try:
            await aiosmtplib.send(
                mime,
                sender=self._from,
                recipients=[message.to],
                hostname=self._host,
                port=s.port,
                username=s.username,
                password=s.password.get_secret_value() if s.password is not None else None,
                use_tls=s.security == "tls",
                start_tls=s.security == "starttls",
                cert_bundle=str(s.ca_file) if s.ca_file is not None else None,
                timeout=s.timeout.total_seconds(),
            )
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as exc:
            # The reason goes to the log for the operator, never to the client.
            log.warning("SMTP delivery to %s:%s failed: %s: %s", self._host, s.port,
                        type(exc).__name__, exc)
            raise AuthError(Code.DELIVERY_FAILED) from exc


class OutboxEmailSender:
    """Development default (no SMTP host): each message becomes an ``.eml`` file.

    Files are written atomically with owner-only permissions (they hold live codes). The log
    line says where the file is and never what is in it.
    """

    def __init__(self, directory: Path, *, from_address: str, from_name: str) -> None:
        self.directory = directory
        self._from = from_address
        self._name = from_name

    async def send(self, message: OutgoingEmail) -> None:
        mime = build_mime(message, from_address=self._from, from_name=self._name)
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            name = f"{stamp}-{uuid.uuid4().hex[:8]}.eml"  # sorts by time
            path = self.directory / name
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(bytes(mime))
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("could not write to the outbox %s: %s", self.directory, exc)
            raise AuthError(Code.DELIVERY_FAILED) from exc
        log.info("email to %s written to %s (development outbox)", message.to, path)
