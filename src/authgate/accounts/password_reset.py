"""Forgot password → verify the emailed/texted code → reset.

What differs from upstream, on purpose (references in docs/DESIGN-NOTES.md):

* ``request_reset`` answers before the account is even looked up: the look-up, the
  code and its delivery run in a background task (``authgate.background``), so neither the
  answer nor its timing depends on the account or on the mail relay. A resend inside the
  throttle window is dropped silently there (a 429 only for real accounts would be an
  oracle). ``verify_code`` answers an unknown account exactly like a wrong code
  (VERIFICATION_CODE_INVALID, after the same engine query), never PASSWORD_RESET_INVALID_REQUEST,
  and the miss that uses a real code up says nothing more than the others (issue 12, item 5).
* Guessing is bounded per code (``mfa.max_attempts`` misses from all clients), per account
  (``rate_limit.issued_codes`` codes a day) and per (account, client) (the ``otp_verify`` row,
  keyed on ``named_address``: strangers cannot spend the owner's budget).
* a reset token is single use and only the newest one works: its random ``jti`` is
  stored as a keyed hash in the one-time-code table (purpose ``password_reset_token``, one
  row per user, so issuing a token replaces the previous one). The hash also covers the
  stored password hash, so any password change kills the token. Redeeming it deletes the row
  in the same transaction that writes the new password (``DELETE ... WHERE code_hash = :h``),
  so of two concurrent resets with one token exactly one succeeds. A reset ends every
  session and every trusted device, and lifts an account lockout.
* The password policy applies to the new password as at signup.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Final

import jwt
from sqlalchemy import delete, select, update

from authgate import background, upsert, vocabulary
from authgate.accounts import passwords
from authgate.crypto.keys import derive, equal, keyed_hash
from authgate.crypto.tokens import MAX_TOKEN_BYTES
from authgate.db import new_id
from authgate.errors import AuthError, Code
from authgate.events import PASSWORD_RESET, PASSWORD_RESET_REQUESTED, Event
from authgate.identity import password_policy
from authgate.identity import store as users
from authgate.identity.contact import address_of, find_user, miss_without_account
from authgate.identity.models import User
from authgate.mfa import policy
from authgate.mfa.trust import revoke_all_trust
from authgate.otp import codes
from authgate.otp.models import OneTimeCode
from authgate.resources import Resources
from authgate.tenancy.resolve import requested_tenant, user_scope
from authgate.throttling import rate
from authgate.tx import Tx, readonly, transaction
from authgate.vocabulary import Channel

log = logging.getLogger("authgate.recovery")

CODE_PURPOSE: Final = vocabulary.PASSWORD_RESET
TOKEN_PURPOSE: Final = vocabulary.PASSWORD_RESET_TOKEN
"""Purpose of the one-time-code row that holds the live reset token's hash (not a code the
engine sends: rows of this purpose are written and consumed only here)."""
TOKEN_TYPE = "password-reset"
REQUESTED = "If your email is registered, you will receive a password reset link"
TOKEN_INVALID = "Invalid or expired reset token"
TOKEN_WRONG_TYPE = "Invalid token type"
TOKEN_STALE = "Reset token is no longer valid"


def named_address(email: str | None, phone: str | None) -> tuple[Channel, str] | None:
    """Which address a request names: the phone wins when both are given (upstream). The
    rate limiter keys these routes on exactly this account."""
    if phone:
        return "sms", phone
    if email:
        return "email", email
    return None


async def _scope(res: Resources, tenant_id: str | None) -> str:
    """The account scope a request's ``tenantId`` names (checked: TENANT_NOT_ENABLED,
    TENANT_NOT_FOUND, TENANT_ID_REQUIRED)."""
    return user_scope(res.settings, await requested_tenant(res, tenant_id))


def _channel(res: Resources, email: str | None, phone: str | None) -> tuple[Channel, str]:
    """``named_address``, refused when it cannot be served.
    Raises EMAIL_OR_PHONE_REQUIRED, PROVIDER_NOT_FOUND, INVALID_PHONE_FORMAT (all 400).
    A phone comes back in E.164."""
    named = named_address(email, phone)
    if named is None:
        raise AuthError(Code.EMAIL_OR_PHONE_REQUIRED)
    if named[0] == "sms":
        if not res.settings.phone_auth_enabled:
            raise AuthError(Code.PROVIDER_NOT_FOUND, "Phone authentication is not enabled")
        return "sms", users.normalise_phone(named[1], res.settings.phone_default_region)
    elif not res.settings.email_auth_enabled:
        raise AuthError(Code.PROVIDER_NOT_FOUND, "Email authentication is not enabled")
    return named


# 1. forgot-password ----------------------------------------------------------------------
async def request_reset(res: Resources, *, email: str | None, phone: str | None,
                        tenant_id: str | None) -> None:
    """Validate the request and hand the rest to a background task (see the module notes).

    Raises only for the request itself, never for the account: TENANT_NOT_ENABLED,
    TENANT_NOT_FOUND, TENANT_ID_REQUIRED,
    EMAIL_OR_PHONE_REQUIRED, PROVIDER_NOT_FOUND (also when no SMS provider is configured
    for a phone request).
    """
    scope = await _scope(res, tenant_id)
    channel, identifier = _channel(res, email, phone)
    if channel == "sms" and "sms" not in res.channels:
        raise AuthError(Code.PROVIDER_NOT_FOUND, "SMS delivery is not configured")
    background.spawn(res, _send_code(res, channel, identifier, scope),
                     name="password reset code")


async def _send_code(res: Resources, channel: Channel, identifier: str, scope: str) -> None:
    user = await find_user(res, channel, identifier, scope)
    if user is None or not user.is_active:
        return
    to = address_of(user, channel)
    assert to is not None
    if not await codes.issue_and_send_unless_throttled(
            res, user_id=user.id, purpose=CODE_PURPOSE, channel=channel, to=to,
            expires_in=res.settings.password.reset_code_expires_in):
        log.info("password reset code for %s not re-sent: throttled", user.id)
        return
    await res.events.emit(Event(PASSWORD_RESET_REQUESTED, user.id, {"channel": channel}))


# 2. verify-forgot-password-otp -----------------------------------------------------------
def _token_key(res: Resources) -> bytes:
    return derive(res.keys.root, "password-reset-token")


def token_hash(res: Resources, user_id: str, jti: str, password_hash: str | None) -> str:
    """Binds the token to its jti *and* to the password hash it was issued against."""
    return keyed_hash(_token_key(res), f"{user_id}:{jti}:{password_hash or ''}")


async def store_token(res: Resources, tx: Tx, *, user_id: str, channel: Channel,
                       token_hash: str, now: datetime, ttl: timedelta) -> None:
    """Insert, or replace the user's previous reset token (one live token per user)."""
    table = OneTimeCode.__table__
    values = {"id": new_id(), "user_id": user_id, "purpose": TOKEN_PURPOSE,
              "channel": channel, "code_hash": token_hash, "attempts": 0,
              "expires_at": now + ttl, "sent_at": now, "created_at": now}
    ins = upsert.insert(res.db, table).values(**values)
    await tx.session.execute(ins.on_conflict_do_update(
        index_elements=[table.c.user_id, table.c.purpose],
        set_={k: ins.excluded[k] for k in values if k not in ("user_id", "purpose")},
    ))


async def verify_code(res: Resources, *, email: str | None, phone: str | None,
                      code: str | None, tenant_id: str | None) -> str:
    """Consume the reset code and return a reset token (a ``password-reset`` purpose JWT).

    Raises TENANT_NOT_ENABLED, TENANT_NOT_FOUND, TENANT_ID_REQUIRED,
    EMAIL_OR_PHONE_REQUIRED, PROVIDER_NOT_FOUND, MISSING_REQUIRED_FIELD (blank code), VERIFICATION_CODE_EXPIRED and
    VERIFICATION_CODE_INVALID "Invalid verification code" -- also for an unknown or
    suspended account, and also when the miss used the code up (the engine's "Too many
    invalid attempts…" would tell that a real code existed: issue 12, item 5).
    """
    scope = await _scope(res, tenant_id)
    channel, identifier = _channel(res, email, phone)
    code = (code or "").strip()
    if not code:
        raise AuthError(Code.MISSING_REQUIRED_FIELD, "Verification code is required")
    user = await find_user(res, channel, identifier, scope)
    now = res.clock.now()
    ttl = res.settings.password.reset_token_expires_in
    jti = secrets.token_urlsafe(24)
    try:
        if user is None or not user.is_active:
            await miss_without_account(res, purpose=CODE_PURPOSE, channel=channel, code=code)
        async with codes.consume(res, user_id=user.id, purpose=CODE_PURPOSE, channel=channel,
                                 code=code) as tx:
            await store_token(res, tx, user_id=user.id, channel=channel, now=now, ttl=ttl,
                               token_hash=token_hash(res, user.id, jti, user.password_hash))
    except AuthError as err:
        if err.code is Code.VERIFICATION_CODE_INVALID:
            raise AuthError(Code.VERIFICATION_CODE_INVALID) from None
        raise
    return res.tokens.issue_purpose(
        TOKEN_TYPE, {"userId": user.id, "tenantId": user.tenant_id, "jti": jti}, now, ttl)


# 3. reset-password -----------------------------------------------------------------------
def _unusable(token: str) -> AuthError:
    """"Invalid token type" for a readable JWT of another type (an access token, say);
    "Invalid or expired reset token" otherwise. Only the message differs."""
    message = TOKEN_INVALID
    if len(token) <= MAX_TOKEN_BYTES:
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            claims = None
        if isinstance(claims, dict) and "type" in claims and claims["type"] != TOKEN_TYPE:
            message = TOKEN_WRONG_TYPE
    return AuthError(Code.PASSWORD_RESET_TOKEN_INVALID, message)


async def reset_password(res: Resources, *, token: str, new_password: str,
                         verify_address: bool = False) -> None:
    """Set a new password with a reset token (also an invitation's: ``accounts.invites``).
    ``verify_address``: also mark the address the token went to as verified (accepting an
    invitation: the token proves that inbox or phone).

    Raises PASSWORD_RESET_TOKEN_INVALID (bad, expired, wrong type, used, superseded, or
    the password changed since), USER_NOT_FOUND, the password-policy codes.
    """
    now = res.clock.now()
    claims = res.tokens.decode_purpose(TOKEN_TYPE, token, now)
    if claims is None:
        raise _unusable(token)
    user_id, jti = claims.get("userId"), claims.get("jti")
    if not isinstance(user_id, str) or not isinstance(jti, str):
        raise AuthError(Code.PASSWORD_RESET_TOKEN_INVALID, TOKEN_INVALID)
    async with readonly(res.readmaker) as s:
        user = await users.by_id(s, user_id)
        row = None if user is None else (await s.execute(
            select(OneTimeCode.id, OneTimeCode.code_hash, OneTimeCode.expires_at,
                   OneTimeCode.channel).where(
                OneTimeCode.user_id == user_id, OneTimeCode.purpose == TOKEN_PURPOSE)
        )).one_or_none()
    if user is None:
        raise AuthError(Code.USER_NOT_FOUND)
    stored = user.password_hash
    expected = token_hash(res, user_id, jti, stored)
    if row is None or not equal(row.code_hash, expected):
        raise AuthError(Code.PASSWORD_RESET_TOKEN_INVALID, TOKEN_STALE)
    if now >= row.expires_at:
        raise AuthError(Code.PASSWORD_RESET_TOKEN_INVALID, TOKEN_INVALID)
    password_policy.check(res.settings.password, new_password,
                          identifiers=(user.email or "", user.phone or ""))
    new_hash = await res.hasher.hash(new_password)  # before the write lock is taken
    async with transaction(res.sessionmaker) as tx:
        used = await tx.session.execute(delete(OneTimeCode).where(
            OneTimeCode.id == row.id, OneTimeCode.code_hash == expected))
        if used.rowcount != 1:  # type: ignore[attr-defined]  # a concurrent reset won
            raise AuthError(Code.PASSWORD_RESET_TOKEN_INVALID, TOKEN_STALE)
        if not await passwords.set_password(res, tx, user_id, new_hash, expected_hash=stored):
            raise AuthError(Code.PASSWORD_RESET_TOKEN_INVALID, TOKEN_STALE)
        await tx.session.execute(delete(OneTimeCode).where(
            OneTimeCode.user_id == user_id, OneTimeCode.purpose == CODE_PURPOSE))
        await revoke_all_trust(res, tx, user_id)
        if verify_address:
            column = User.email_verified_at if row.channel == "email" else User.phone_verified_at
            await tx.session.execute(update(User).where(User.id == user_id, column.is_(None))
                                     .values({column: now}))
        if policy.mfa_required_for(res, users.snapshot(user)):
            # The code came over email/SMS: the same inbox must not also pass the MFA step.
            await tx.session.execute(update(User).where(User.id == user_id)
                                     .values(mfa_strong_factor_required=True))
    await passwords.revoke_after_password_change(res, user_id, keep_session=None, mode="all")
    await rate.unlock_account(res, user_id)
    await res.events.emit(Event(PASSWORD_RESET, user_id, {"initiatedBy": "reset"}))
