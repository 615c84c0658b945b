"""Email and phone verification for the signed-in user (contract §2.3, §3.13).

``send`` issues a code through the one-time-code engine and delivers it before answering
(the caller is authenticated, so there is nothing to hide: RESEND_TOO_SOON and
DELIVERY_FAILED are reported, and a failed delivery leaves no code behind). ``verify``
consumes it and stamps ``emailVerifiedAt``/``phoneVerifiedAt`` in the same transaction.
The routes are not open to an MFA-pending session (W8).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import update

from authgate.errors import AuthError, Code
from authgate.events import EMAIL_VERIFIED, PHONE_VERIFIED, Event
from authgate.identity import store as users
from authgate.identity.models import User
from authgate.otp import codes
from authgate.resources import Resources
from authgate.tx import readonly
from authgate.vocabulary import Channel, Purpose

Kind = Literal["email", "phone"]


@dataclass(frozen=True, slots=True)
class _Spec:
    purpose: Purpose
    channel: Channel
    missing: Code
    already: Code
    event: str


_SPECS: dict[Kind, _Spec] = {
    "email": _Spec("email_verification", "email", Code.NO_EMAIL_ADDRESS,
                   Code.EMAIL_ALREADY_VERIFIED, EMAIL_VERIFIED),
    "phone": _Spec("phone_verification", "sms", Code.NO_PHONE_NUMBER,
                   Code.PHONE_ALREADY_VERIFIED, PHONE_VERIFIED),
}


async def _unverified_address(res: Resources, user_id: str, kind: Kind) -> str:
    """The address to verify, read from the database (not the session's snapshot).
    Raises USER_NOT_FOUND, NO_EMAIL_ADDRESS/NO_PHONE_NUMBER,
    EMAIL_ALREADY_VERIFIED/PHONE_ALREADY_VERIFIED."""
    spec = _SPECS[kind]
    async with readonly(res.readmaker) as s:
        user = await users.by_id(s, user_id)
    if user is None:
        raise AuthError(Code.USER_NOT_FOUND)
    address, verified_at = ((user.email, user.email_verified_at) if kind == "email"
                            else (user.phone, user.phone_verified_at))
    if not address:
        raise AuthError(spec.missing)
    if verified_at is not None:
        raise AuthError(spec.already)
    return address


async def send(res: Resources, user_id: str, kind: Kind) -> None:
    """Send a verification code to the user's email (``kind="email"``) or phone.

    Raises the address errors above, PROVIDER_NOT_FOUND (no SMS provider configured),
    RESEND_TOO_SOON (429, ``retry_after``), DELIVERY_FAILED (502; no code stays valid).
    """
    spec = _SPECS[kind]
    address = await _unverified_address(res, user_id, kind)
    if spec.channel not in res.channels:
        raise AuthError(Code.PROVIDER_NOT_FOUND, "SMS delivery is not configured")
    await codes.issue_and_send(res, user_id=user_id, purpose=spec.purpose,
                               channel=spec.channel, to=address)


async def verify(res: Resources, user_id: str, kind: Kind, code: str | None) -> None:
    """Check the code and mark the address verified.

    Raises the address errors above (before the code is looked at), then
    MISSING_REQUIRED_FIELD, VERIFICATION_CODE_EXPIRED, VERIFICATION_CODE_INVALID.
    """
    spec = _SPECS[kind]
    await _unverified_address(res, user_id, kind)
    column = User.email_verified_at if kind == "email" else User.phone_verified_at
    now = res.clock.now()
    async with codes.consume(res, user_id=user_id, purpose=spec.purpose, channel=spec.channel,
                             code=code) as tx:
        await tx.session.execute(update(User).where(User.id == user_id, column.is_(None))
                                 .values({column: now, User.updated_at: now}))
    await res.store.user_changed(user_id)
    await res.events.emit(Event(spec.event, user_id))
