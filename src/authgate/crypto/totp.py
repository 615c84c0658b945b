"""RFC 6238 time-based one-time passwords (the mechanics only; no storage, no clock).

Built on pyotp's HOTP core. ``verify`` returns the *time step* that matched rather than a
boolean, because the caller must persist it: refusing any step at or before the last
accepted one is what stops a code from being replayed inside its validity window (W2).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

if TYPE_CHECKING:  # imported by the first TOTP check, not by every server process
    import pyotp

Algorithm = Literal["SHA1", "SHA256", "SHA512"]
SECRET_BYTES = 20
"""160-bit seeds, as RFC 4226 recommends and authenticator apps expect (32 base32 chars)."""

_DIGESTS: dict[str, Callable[..., Any]] = {
    "SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512,
}
# Characters that would end or corrupt the otpauth label if left raw. Everything else
# (spaces, '@', ':') stays as typed: upstream emits the label unencoded and some
# authenticator apps display percent-escapes literally (contract §9.3).
_LABEL_UNSAFE = {"%": "%25", "?": "%3F", "#": "%23", "/": "%2F", "&": "%26"}


@dataclass(frozen=True, slots=True)
class TotpParams:
    period: int = 30
    digits: int = 6
    algorithm: Algorithm = "SHA1"


def generate_secret() -> str:
    """A fresh random seed as unpadded base32 (32 characters)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def normalise_secret(secret: str) -> str:
    """Upper-case, without spaces, dashes or padding: how users and apps copy seeds."""
    return "".join(secret.split()).replace("-", "").rstrip("=").upper()


def valid_secret(secret: str) -> bool:
    s = normalise_secret(secret)
    if not s or len(s) > 128:
        return False
    try:
        base64.b32decode(s + "=" * (-len(s) % 8))
    except (ValueError, TypeError):
        return False
    return True


def _label(account: str) -> str:
    out = "".join(_LABEL_UNSAFE.get(ch, ch) for ch in account)
    return "".join(ch if ch.isprintable() else quote(ch) for ch in out)


def provisioning_uri(secret: str, *, account: str, issuer: str, params: TotpParams) -> str:
    """``otpauth://totp/<account>?secret=…&issuer=…&period=…`` as upstream formats it.

    ``digits`` and ``algorithm`` are appended only when they differ from the RFC defaults,
    so the default URL is byte-compatible with upstream's; ``issuer`` is query-encoded."""
    uri = (f"otpauth://totp/{_label(account)}?secret={normalise_secret(secret)}"
           f"&issuer={quote(issuer, safe='')}&period={params.period}")
    if params.digits != 6:
        uri += f"&digits={params.digits}"
    if params.algorithm != "SHA1":
        uri += f"&algorithm={params.algorithm}"
    return uri


def _otp(secret: str, params: TotpParams) -> pyotp.TOTP:
    import pyotp

    return pyotp.TOTP(normalise_secret(secret), digits=params.digits,
                      digest=_DIGESTS[params.algorithm], interval=params.period)


def time_step(at: datetime, params: TotpParams) -> int:
    return int(at.timestamp()) // params.period


def code_at_step(secret: str, step: int, params: TotpParams) -> str:
    return _otp(secret, params).generate_otp(step)


def code_at(secret: str, at: datetime, params: TotpParams) -> str:
    return code_at_step(secret, time_step(at, params), params)


def normalise_code(code: str) -> str:
    """Drop the spaces apps insert for readability ("123 456")."""
    return "".join(code.split())


def verify(secret: str, code: str, *, at: datetime, params: TotpParams,
           window: int = 1) -> int | None:
    """The time step (within ±``window`` of ``at``) whose code equals ``code``, else None.

    When the clock drift puts one code in two candidate steps (impossible unless two steps
    share a code), the latest step wins so the replay guard is as strict as possible."""
    candidate = normalise_code(code)
    if len(candidate) != params.digits or not (candidate.isascii() and candidate.isdigit()):
        return None
    otp = _otp(secret, params)
    now_step = time_step(at, params)
    matched: int | None = None
    for step in range(now_step - window, now_step + window + 1):
        if step >= 0 and hmac.compare_digest(otp.generate_otp(step), candidate):
            matched = step
    return matched
