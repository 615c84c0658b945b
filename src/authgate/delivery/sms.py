"""SMS delivery: the ``SmsSender`` interface and a Twilio-style HTTP sender."""

from __future__ import annotations

import logging
import re
from typing import Protocol

from authgate.config import SmsSettings
from authgate.errors import AuthError, Code

log = logging.getLogger("authgate.delivery")

_PHONE = re.compile(r"^\+?[0-9][0-9 ().\-]{2,31}$")


class SmsSender(Protocol):
    """Delivers one text or raises ``AuthError(DELIVERY_FAILED)``; nothing else escapes."""

    async def send(self, to: str, body: str) -> None: ...


def check_phone(number: str) -> str:
    """Digits with the usual separators (no control characters), or 400 INVALID_INPUT."""
    if not _PHONE.match(number):
        raise AuthError(Code.INVALID_INPUT, "Invalid recipient phone number")
    return number


class HttpSmsSender:
    """POSTs ``To``/``From``/``Body`` as a form with HTTP basic auth (account sid, token),
    as Twilio's Messages API and most of its clones take it. Any non-2xx answer, network
    error or timeout is a delivery failure; redirects are not followed (credentials must not
    travel to another host)."""

    def __init__(self, settings: SmsSettings) -> None:
        if not (settings.url and settings.account_sid and settings.auth_token
                and settings.from_number):
            raise ValueError("HttpSmsSender needs delivery.sms url, account_sid, auth_token "
                             "and from_number")
        self._url = settings.url.replace("{account_sid}", settings.account_sid)
        self._auth = (settings.account_sid, settings.auth_token.get_secret_value())
        self._from = settings.from_number
        self._timeout = settings.timeout.total_seconds()

    async def send(self, to: str, body: str) -> None:
        check_phone(to)
        import httpx  # on the first text: a server without an SMS provider never loads it

        try:
            async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client:
                response = await client.post(
                    self._url, data={"To": to, "From": self._from, "Body": body},
                    auth=self._auth, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            log.warning("SMS delivery failed: %s: %s", type(exc).__name__, exc)
            raise AuthError(Code.DELIVERY_FAILED) from exc
        if not 200 <= response.status_code < 300:
            # The provider's body may echo the message (and so the code): log the status only.
            log.warning("SMS delivery refused by the provider: HTTP %s", response.status_code)
            raise AuthError(Code.DELIVERY_FAILED)
