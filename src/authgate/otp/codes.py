"""The one-time-code engine (contract §3.12, with W5/W11 fixed).

One live code per (user, purpose), stored only as
``keyed_hash(keys.otp, "<user_id>:<purpose>:<channel>:<code>")``: the channel is inside the
hash, so a code sent by email can never be accepted as an SMS code (W5), and a code for one
purpose never verifies another.

Issuing, for flows::

    issued = await codes.issue_and_send(res, user_id=u.id, purpose="email_verification",
                                        channel="email", to=u.email)

``issue_and_send`` writes the code in a short transaction, commits, sends *outside* any
transaction (a slow relay must not hold SQLite's write lock), and deletes exactly that code
again if delivery fails, so an undelivered code is never left valid and the resend throttle
is not armed by a failure. A resend within ``mfa.resend_interval`` of the last send raises
RESEND_TOO_SOON (429, ``retry_after``); the throttle is an atomic conditional upsert, so two
concurrent requests cannot both send. At most ``rate_limit.issued_codes`` codes per user and
purpose are issued per window (RATE_LIMITED beyond): with the per-code attempt limit, that
bounds the guesses at one account's codes however many clients guess.

Checking, for flows that change something when the code is right::

    async with codes.consume(res, user_id=u.id, purpose="email_verification",
                             channel="email", code=body.code) as tx:
        await users.set_flags(tx.session, u.id, now, email_verified_at=now)

The code is deleted with ``DELETE ... WHERE id = :id AND code_hash = :h`` inside that unit
of work, so of two concurrent verifications exactly one wins, and if the caller's work
fails the code stays unused. A wrong code is counted on the row (committed on its own, so
the count survives the error): at ``mfa.max_attempts`` the code is deleted. ``verify`` is
``consume`` with nothing else to do.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from authgate import upsert
from authgate.crypto.keys import equal, keyed_hash
from authgate.db import new_id
from authgate.errors import AuthError, Code
from authgate.otp.models import PURPOSES, OneTimeCode
from authgate.resources import Resources
from authgate.throttling import rate
from authgate.tx import Tx, transaction
from authgate.vocabulary import CHANNELS, Channel, Purpose

TOO_MANY = "Too many invalid attempts. Please request a new verification code."


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """A freshly issued code. ``code`` is the only plain copy: send it, never store it."""

    id: str
    user_id: str
    purpose: str
    channel: str
    code: str
    code_hash: str
    expires_at: datetime
    expires_in: timedelta


def _check(purpose: str, channel: str) -> None:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown one-time-code purpose {purpose!r}")
    if channel not in CHANNELS:
        raise ValueError(f"unknown one-time-code channel {channel!r}")


def hash_code(res: Resources, user_id: str, purpose: str, channel: str, code: str) -> str:
    return keyed_hash(res.keys.otp, f"{user_id}:{purpose}:{channel}:{code}")


def generate(length: int) -> str:
    """``length`` uniformly random digits (leading zeros allowed)."""
    return f"{secrets.randbelow(10 ** length):0{length}d}"


def _retry_after(sent_at: datetime, interval: timedelta, now: datetime) -> int:
    return max(1, math.ceil((sent_at + interval - now).total_seconds()))


async def issue(res: Resources, tx: Tx, *, user_id: str, purpose: Purpose, channel: Channel,
                expires_in: timedelta | None = None) -> IssuedCode:
    """Create (or replace) the user's code for ``purpose`` in the caller's unit of work.

    Raises RESEND_TOO_SOON when the previous code of this purpose was sent less than
    ``mfa.resend_interval`` ago. The caller commits, then sends (see ``issue_and_send``).
    """
    _check(purpose, channel)
    cfg = res.settings.mfa
    now = res.clock.now()
    lifetime = expires_in or cfg.otp_expires_in
    code = generate(cfg.otp_length)
    issued = IssuedCode(
        id=new_id(), user_id=user_id, purpose=purpose, channel=channel, code=code,
        code_hash=hash_code(res, user_id, purpose, channel, code),
        expires_at=now + lifetime, expires_in=lifetime,
    )
    table = OneTimeCode.__table__
    values = {"id": issued.id, "user_id": user_id, "purpose": purpose, "channel": channel,
              "code_hash": issued.code_hash, "attempts": 0, "expires_at": issued.expires_at,
              "sent_at": now, "created_at": now}
    ins = upsert.insert(res.db, table).values(**values)
    # Replace only a code sent long enough ago: the throttle and the write are one statement.
    stmt = ins.on_conflict_do_update(
        index_elements=[table.c.user_id, table.c.purpose],
        set_={k: ins.excluded[k] for k in values if k not in ("user_id", "purpose")},
        where=table.c.sent_at <= now - cfg.resend_interval,
    ).returning(table.c.id)
    written = (await tx.session.execute(stmt)).scalar_one_or_none()
    if written is None:
        sent_at = (await tx.session.execute(
            select(OneTimeCode.sent_at).where(OneTimeCode.user_id == user_id,
                                              OneTimeCode.purpose == purpose)
        )).scalar_one_or_none()
        retry = _retry_after(sent_at, cfg.resend_interval, now) if sent_at else 1
        raise AuthError(Code.RESEND_TOO_SOON, retry_after=retry)
    return issued


async def discard(res: Resources, issued: IssuedCode) -> None:
    """Delete exactly this code (not a newer one that replaced it)."""
    async with transaction(res.sessionmaker) as tx:
        await tx.session.execute(delete(OneTimeCode).where(
            OneTimeCode.id == issued.id, OneTimeCode.code_hash == issued.code_hash))


async def send(res: Resources, issued: IssuedCode, to: str) -> None:
    """Deliver an issued (committed) code; on any failure the code is discarded first and
    the error (DELIVERY_FAILED, 502) re-raised."""
    try:
        await res.delivery.send_code(
            channel=issued.channel,  # type: ignore[arg-type]
            to=to, purpose=issued.purpose, code=issued.code, expires_in=issued.expires_in)
    except Exception:
        await discard(res, issued)
        raise


async def issue_and_send(res: Resources, *, user_id: str, purpose: Purpose, channel: Channel,
                         to: str, expires_in: timedelta | None = None) -> IssuedCode:
    """Issue a code and deliver it to ``to`` (an email address or phone number).

    Raises RESEND_TOO_SOON (429), RATE_LIMITED (429: ``rate_limit.issued_codes`` codes of
    this purpose were issued to the user in the window), INVALID_INPUT (malformed address,
    nothing issued), MFA_METHOD_NOT_AVAILABLE (SMS not configured, nothing issued),
    DELIVERY_FAILED (502, the code is deleted again).
    """
    _check(purpose, channel)
    delivery = res.delivery
    if channel not in delivery.channels:
        raise AuthError(Code.MFA_METHOD_NOT_AVAILABLE, "SMS delivery is not configured")
    delivery.check_kind(channel, purpose)
    delivery.check_address(channel, to)
    if (wait := await rate.issued_codes_blocked(res, user_id, purpose)) is not None:
        raise AuthError(Code.RATE_LIMITED, retry_after=wait)
    async with transaction(res.sessionmaker) as tx:
        issued = await issue(res, tx, user_id=user_id, purpose=purpose, channel=channel,
                             expires_in=expires_in)
    # Counted once issued (a throttled resend costs nothing); the resend throttle lets one
    # issue per purpose through at a time, so going over here is rare: undo it.
    if (wait := await rate.count_issued_code(res, user_id, purpose)) is not None:
        await discard(res, issued)
        raise AuthError(Code.RATE_LIMITED, retry_after=wait)
    await send(res, issued, to)
    return issued


async def issue_and_send_unless_throttled(
    res: Resources, *, user_id: str, purpose: Purpose, channel: Channel, to: str,
    expires_in: timedelta | None = None,
) -> bool:
    """``issue_and_send`` for flows that answer the same whatever happens (no enumeration):
    a resend inside the throttle window, or beyond the daily cap, is skipped silently
    (False) instead of raising."""
    try:
        await issue_and_send(res, user_id=user_id, purpose=purpose, channel=channel, to=to,
                             expires_in=expires_in)
    except AuthError as err:
        if err.code in (Code.RESEND_TOO_SOON, Code.RATE_LIMITED):
            return False
        raise
    return True


async def _check_code(res: Resources, tx: Tx, *, user_id: str, purpose: str, channel: str,
                      code: str) -> AuthError | None:
    """Consume the code in ``tx`` and return None, or count the miss and return the error
    to raise once ``tx`` has committed."""
    cfg = res.settings.mfa
    now = res.clock.now()
    presented = hash_code(res, user_id, purpose, channel, code)
    row = (await tx.session.execute(
        select(OneTimeCode.id, OneTimeCode.channel, OneTimeCode.code_hash,
               OneTimeCode.expires_at)
        .where(OneTimeCode.user_id == user_id, OneTimeCode.purpose == purpose)
    )).one_or_none()
    if row is None:
        return AuthError(Code.VERIFICATION_CODE_INVALID)
    code_id, stored_channel, stored_hash, expires_at = row
    if equal(presented, stored_hash) and stored_channel == channel:
        if now >= expires_at:
            return AuthError(Code.VERIFICATION_CODE_EXPIRED)
        gone = await tx.session.execute(delete(OneTimeCode).where(
            OneTimeCode.id == code_id, OneTimeCode.code_hash == stored_hash))
        if gone.rowcount == 1:  # type: ignore[attr-defined]
            return None
        return AuthError(Code.VERIFICATION_CODE_INVALID)  # a concurrent check won
    attempts = (await tx.session.execute(
        update(OneTimeCode).where(OneTimeCode.id == code_id)
        .values(attempts=OneTimeCode.attempts + 1).returning(OneTimeCode.attempts)
    )).scalar_one_or_none()
    if attempts is not None and attempts >= cfg.max_attempts:
        await tx.session.execute(delete(OneTimeCode).where(OneTimeCode.id == code_id))
        return AuthError(Code.VERIFICATION_CODE_INVALID, TOO_MANY)
    return AuthError(Code.VERIFICATION_CODE_INVALID)


@asynccontextmanager
async def consume(res: Resources, *, user_id: str, purpose: Purpose, channel: Channel,
                  code: str | None) -> AsyncIterator[Tx]:
    """Check ``code`` and yield the unit of work in which it has been deleted; the caller's
    writes commit together with the deletion (or neither does).

    Raises MISSING_REQUIRED_FIELD (blank code), VERIFICATION_CODE_EXPIRED, and
    VERIFICATION_CODE_INVALID ("Invalid verification code", or the too-many-attempts
    message when this miss used up the code). All are 400.
    """
    _check(purpose, channel)
    code = (code or "").strip()
    if not code:
        raise AuthError(Code.MISSING_REQUIRED_FIELD, "Verification code is required")
    failure: AuthError | None = None
    async with transaction(res.sessionmaker) as tx:
        failure = await _check_code(res, tx, user_id=user_id, purpose=purpose,
                                    channel=channel, code=code)
        if failure is None:
            yield tx
    if failure is not None:  # raised only now: the attempt count has been committed
        raise failure


async def verify(res: Resources, *, user_id: str, purpose: Purpose, channel: Channel,
                 code: str | None) -> None:
    """Check and consume a code (see ``consume`` for the errors)."""
    async with consume(res, user_id=user_id, purpose=purpose, channel=channel, code=code):
        pass


async def pending(res: Resources, *, user_id: str, purpose: Purpose) -> OneTimeCode | None:
    """The user's live row for ``purpose`` (for status pages and tests); never the code."""
    async with res.readmaker() as s:
        return (await s.execute(select(OneTimeCode).where(
            OneTimeCode.user_id == user_id, OneTimeCode.purpose == purpose))).scalar_one_or_none()
