"""Message delivery (email, SMS) behind small interfaces, and how the senders are chosen.

Flows do not talk to senders directly: they call ``res.delivery.send_code(...)``, which
renders the template for the purpose and hands the message to the channel's sender. The
one-time-code engine (``authgate.otp.codes.issue_and_send``) wraps that with issuing and
rollback, which is what most flows want.

``build(settings)`` (called by the composition root) picks the senders: SMTP when
``delivery.smtp.host`` is set, otherwise the development outbox (``<data_dir>/outbox``); SMS
only when ``delivery.sms.url`` is set. ``Delivery.channels`` (``res.channels``) says which
channels exist, so MFA policy counts email/SMS only when they do.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from authgate.config import Settings
from authgate.delivery.email import (
    EmailSender,
    OutboxEmailSender,
    OutgoingEmail,
    SmtpEmailSender,
    check_recipient,
)
from authgate.delivery.sms import HttpSmsSender, SmsSender, check_phone
from authgate.delivery.templates import (
    ALERT_KINDS,
    EMAIL_KINDS,
    NOTICE_KINDS,
    SMS_KINDS,
    AlertKind,
    Kind,
    TemplateError,
    Templates,
)
from authgate.errors import AuthError, Code
from authgate.vocabulary import Channel, SecurityNotice

__all__ = [
    "Channel", "Delivery", "EmailSender", "HttpSmsSender", "OutboxEmailSender", "OutgoingEmail",
    "SmsSender", "SmtpEmailSender", "TemplateError", "Templates", "build", "kind_for",
]

log = logging.getLogger("authgate.delivery")

_PURPOSE_KIND: dict[str, Kind] = {
    "mfa": "mfa_code",
    "email_verification": "email_verification",
    "phone_verification": "phone_verification",
    "password_reset": "password_reset",
    "passwordless_login": "passwordless_login",
    "invitation": "invitation",
}


def kind_for(purpose: str) -> Kind:
    """The template kind of a one-time-code purpose."""
    try:
        return _PURPOSE_KIND[purpose]
    except KeyError:
        raise ValueError(f"no message kind for purpose {purpose!r}") from None


class Delivery:
    """Renders and sends one-time codes over the configured channels."""

    def __init__(self, *, app_name: str, templates: Templates, email: EmailSender,
                 sms: SmsSender | None = None) -> None:
        self.app_name = app_name
        self.templates = templates
        self.email = email
        self.sms = sms
        self.channels: frozenset[str] = frozenset(
            {"email", "sms"} if sms is not None else {"email"})
        """The channels that can carry a code here (read on hot routes: computed once)."""

    def check_kind(self, channel: Channel, purpose: str) -> None:
        """ValueError when no template exists for this purpose on this channel (e.g. an
        email verification code by SMS): a programming error, caught before issuing."""
        kind = kind_for(purpose)
        kinds = EMAIL_KINDS if channel == "email" else SMS_KINDS
        if kind not in kinds:
            raise ValueError(f"no {channel} message for purpose {purpose!r}")

    def check_address(self, channel: Channel, to: str) -> None:
        """Validate a recipient before anything is issued (400 INVALID_INPUT)."""
        if channel == "email":
            check_recipient(to)
        else:
            check_phone(to)

    async def send_code(self, *, channel: Channel, to: str, purpose: str, code: str,
                        expires_in: timedelta) -> None:
        """Send ``code`` for ``purpose`` to ``to``.

        Raises DELIVERY_FAILED (502) when the relay or provider fails, INVALID_INPUT for a
        malformed address, and MFA_METHOD_NOT_AVAILABLE for SMS when no SMS provider is
        configured (callers normally check ``res.channels`` first).
        """
        await self._send(channel, to, kind_for(purpose), code=code, expires_in=expires_in)

    async def send_notice(self, *, channel: Channel, to: str, kind: Kind) -> None:
        """Send a message that carries no code (``NOTICE_KINDS``), e.g. ``account_exists``
        to the owner of an address someone tried to sign up with. Errors as ``send_code``."""
        if kind not in NOTICE_KINDS:
            raise ValueError(f"{kind!r} is not a notice")
        await self._send(channel, to, kind, code="", expires_in=timedelta(0))

    async def _send(self, channel: Channel, to: str, kind: Kind, *, code: str,
                    expires_in: timedelta) -> None:
        """Render ``kind`` for ``channel`` and send it: the one place a message leaves."""
        if channel == "email":
            rendered = self.templates.email(kind, app_name=self.app_name, code=code,
                                            expires_in=expires_in)
            await self.email.send(OutgoingEmail(to=to, subject=rendered.subject,
                                                text=rendered.text, html=rendered.html))
        elif channel == "sms":
            if self.sms is None:
                raise AuthError(Code.MFA_METHOD_NOT_AVAILABLE, "SMS delivery is not configured")
            await self.sms.send(to, self.templates.sms(kind, app_name=self.app_name, code=code,
                                                       expires_in=expires_in))
        else:
            raise ValueError(f"unknown channel {channel!r}")

    async def send_alert(self, *, to: str, kind: AlertKind, failures: int,
                         window: timedelta) -> None:
        """Email an alert (``ALERT_KINDS``: counts, no code) to ``to``. Raises
        DELIVERY_FAILED (502)."""
        if kind not in ALERT_KINDS:
            raise ValueError(f"{kind!r} is not an alert")
        rendered = self.templates.alert(kind, app_name=self.app_name, failures=failures,
                                        window=window)
        await self.email.send(OutgoingEmail(to=to, subject=rendered.subject,
                                            text=rendered.text, html=rendered.html))


    async def send_security_notice(self, *, to: str, kind: SecurityNotice, when: str, ip: str,
                                   device: str) -> None:
        """Email a security notice (``vocabulary.SECURITY_NOTICES``: no code, what happened,
        when and from where) to ``to``. Raises DELIVERY_FAILED (502)."""
        rendered = self.templates.security(kind, app_name=self.app_name, when=when, ip=ip,
                                           device=device)
        await self.email.send(OutgoingEmail(to=to, subject=rendered.subject,
                                            text=rendered.text, html=rendered.html))


def build(settings: Settings) -> Delivery:
    """The senders the settings describe."""
    cfg = settings.delivery
    templates = Templates(cfg.templates_dir)
    templates.check(settings.app_name)
    email: EmailSender
    if cfg.smtp.host:
        email = SmtpEmailSender(cfg.smtp, from_address=cfg.email_from,
                                from_name=settings.app_name)
    else:
        outbox = settings.resolved_data_dir() / "outbox"
        email = OutboxEmailSender(outbox, from_address=cfg.email_from,
                                  from_name=settings.app_name)
        log.warning("No SMTP host configured (delivery.smtp.host): emails are written to %s. "
                    "Development only.", outbox)
    sms = HttpSmsSender(cfg.sms) if cfg.sms.url else None
    return Delivery(app_name=settings.app_name, templates=templates, email=email, sms=sms)
