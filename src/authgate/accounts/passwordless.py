"""Passwordless sign-in: a code sent by email or SMS, redeemed at ``POST /auth/login`` with
``providerName: "passwordless"`` (contract §2.4, §3.7).

What differs from upstream, on purpose (contract §8, §9.1):

* W10 — ``send_code`` answers before the account is looked up; the look-up, an optional
  sign-up and the delivery run in a background task (``authgate.background``). With
  ``allow_sign_up`` but registration disabled nothing is created and the answer is still the
  generic one (upstream's 403 REGISTRATION_DISABLED for unknown users only is an oracle).
  A resend inside the throttle window is dropped silently there.
* W4 — codes go through the one-time-code engine: they expire
  (``passwordless.code_expires_in``), die after ``mfa.max_attempts`` misses, are single use
  and bound to the channel they were sent over. An identifier without an account costs the
  same engine query as an account without a code.
* A login is guarded like a password login (issue 12): the ``otp_verify`` row per (account,
  client), long window included, and the lockout (a miss is a failed login); the code engine
  caps the codes issued per account and day.
* W4 — the MFA decision is not skipped: the route opens the session with
  ``accounts.start_session``, which answers MFA-pending when the user (or the app) requires
  a second factor.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from authgate import background, vocabulary
from authgate.errors import AuthError, Code
from authgate.events import LOGGED_IN, PASSWORDLESS_CODE_SENT, USER_CREATED, Event
from authgate.identity import blocked_domains
from authgate.identity import store as users
from authgate.identity.contact import account_refs, address_of, find_user, miss_without_account
from authgate.identity.models import User
from authgate.identity.snapshot import UserSnapshot
from authgate.mfa.trust import vouches_for
from authgate.otp import codes
from authgate.resources import Resources
from authgate.sessions.service import ClientMeta
from authgate.tenancy import store as tenants
from authgate.tenancy.resolve import requested_tenant, user_scope
from authgate.throttling import rate
from authgate.tx import readonly, transaction
from authgate.vocabulary import Channel

log = logging.getLogger("authgate.passwordless")

PURPOSE: Final = vocabulary.PASSWORDLESS_LOGIN
SENT = "If an account exists, a login code has been sent"
LOGIN_FAILED = "Invalid or expired code"
_MISSES = (Code.VERIFICATION_CODE_INVALID, Code.VERIFICATION_CODE_EXPIRED,
           Code.MISSING_REQUIRED_FIELD)


def _provider_enabled(res: Resources, channel: Channel) -> bool:
    s = res.settings
    return s.email_auth_enabled if channel == "email" else s.phone_auth_enabled


# send ------------------------------------------------------------------------------------
async def send_code(res: Resources, *, identifier: str | None, channel: Channel,
                    tenant_id: str | None) -> None:
    """Validate the request and hand the rest to a background task.

    Raises PASSWORDLESS_DISABLED (403), TENANT_NOT_ENABLED, TENANT_NOT_FOUND,
    TENANT_ID_REQUIRED, MISSING_REQUIRED_FIELD
    ("Identifier is required", "A valid email is required", "A valid phone number is
    required"), PROVIDER_NOT_FOUND (channel's provider off, or no SMS provider configured).
    Never anything that depends on the account.
    """
    if not res.settings.passwordless.enabled:
        raise AuthError(Code.PASSWORDLESS_DISABLED)
    tenant = await requested_tenant(res, tenant_id)
    value = (identifier or "").strip()
    if not value:
        raise AuthError(Code.MISSING_REQUIRED_FIELD, "Identifier is required")
    if channel == "email":
        if not users.valid_email(value):
            raise AuthError(Code.MISSING_REQUIRED_FIELD, "A valid email is required")
        if not _provider_enabled(res, "email"):
            raise AuthError(Code.PROVIDER_NOT_FOUND, "Email authentication is not enabled")
    else:
        try:  # E.164; the contract's code for an unusable phone here
            value = users.normalise_phone(value, res.settings.phone_default_region)
        except AuthError:
            raise AuthError(Code.MISSING_REQUIRED_FIELD,
                            "A valid phone number is required") from None
        if not _provider_enabled(res, "sms"):
            raise AuthError(Code.PROVIDER_NOT_FOUND, "Phone authentication is not enabled")
        if "sms" not in res.channels:
            raise AuthError(Code.PROVIDER_NOT_FOUND, "SMS delivery is not configured")
    background.spawn(res, _deliver(res, channel, value, tenant), name="passwordless login code")


async def _create(res: Resources, channel: Channel, identifier: str,
                  tenant: str | None) -> User | None:
    """A password-less account for ``identifier`` (in ``tenant``'s scope, a member of it);
    a concurrent sign-up of the same address wins quietly (the caller looks the account up
    again)."""
    now = res.clock.now()
    scope = user_scope(res.settings, tenant)
    email = users.normalise_email(identifier) if channel == "email" else None
    phone = (users.normalise_phone(identifier, res.settings.phone_default_region)
             if channel == "sms" else None)
    try:
        async with transaction(res.sessionmaker) as tx:
            user = User(email=email, phone=phone, password_hash=None, status="active",
                        is_mfa_enabled=False, must_change_password=False, meta={},
                        tenant_scope=scope, password_changed_at=None,
                        created_at=now, updated_at=now)
            tx.session.add(user)
            await tx.session.flush()
            if tenant is not None:
                await tenants.join(tx.session, user.id, tenant, now)
    except IntegrityError:
        return await find_user(res, channel, identifier, scope)
    await res.events.emit(Event(USER_CREATED, user.id, {"email": email,
                                                        "provider": "passwordless"}))
    return user


async def _deliver(res: Resources, channel: Channel, identifier: str,
                   tenant: str | None) -> None:
    cfg = res.settings
    user = await find_user(res, channel, identifier, user_scope(cfg, tenant))
    if user is None:
        if not (cfg.passwordless.allow_sign_up and cfg.registration.enabled
                and not cfg.registration.require_invitation):
            return
        if channel == "email":
            try:  # a blocked domain gets no account (the answer was already the generic one)
                await blocked_domains.check_signup(res, identifier)
            except AuthError:
                return
        user = await _create(res, channel, identifier, tenant)
        if user is None:
            return
    to = address_of(user, channel)
    assert to is not None
    if not await codes.issue_and_send_unless_throttled(
            res, user_id=user.id, purpose=PURPOSE, channel=channel, to=to,
            expires_in=cfg.passwordless.code_expires_in):
        log.info("passwordless code for %s not re-sent: throttled", user.id)
        return
    await res.events.emit(Event(PASSWORDLESS_CODE_SENT, user.id, {"channel": channel}))


# login -----------------------------------------------------------------------------------
async def login(res: Resources, *, identifier: str, code: str, channels: Sequence[Channel],
                client: ClientMeta, tenant_id: str | None = None) -> UserSnapshot:
    """Redeem a login code: for each channel in order, the account with that email/phone
    and its live code for that channel. The first match consumes the code and marks that
    channel verified.

    Guarded like a password login: the ``otp_verify`` row of the rate-limit table per
    (account, client) -- long window included -- and the lockout (``throttling.rate``; a
    miss counts as a failed login, a valid ``client.trust_token`` exempts the owner's device from
    an account-wide lock).

    Raises VERIFICATION_CODE_INVALID "Invalid or expired code" when no channel matches
    (unknown account, wrong, expired or used code alike), RATE_LIMITED and ACCOUNT_LOCKED
    (429, unknown accounts alike), ACCOUNT_INACTIVE (401, told only after the code was
    proven).
    """
    region = res.settings.phone_default_region
    scope = user_scope(res.settings, tenant_id)
    tried: list[tuple[Channel, str, User | None]] = []
    for channel in dict.fromkeys(channels):
        if not _provider_enabled(res, channel):
            continue
        refs = account_refs([(channel, identifier)], region)
        if refs:  # else not an address of this kind (an email tried as a phone): no account
            tried.append((channel, refs[0], await find_user(res, channel, identifier, scope)))
    await rate.enforce_accounts(res, "otp_verify", [
        rate.client_account(res, ref, client.ip) for _, ref, _ in tried])
    owner = next((user for _, _, user in tried if user is not None), None)
    lock_key = rate.lockout_key(res, user_id=owner.id if owner else None,
                                identifier=tried[0][1] if tried else identifier)
    attempt = await rate.begin_password_attempt(
        res, lock_key, ip=client.ip,
        trusted=vouches_for(res, owner.id if owner else None, client.trust_token))
    for channel, _, user in tried:
        column = User.email_verified_at if channel == "email" else User.phone_verified_at
        now = res.clock.now()
        try:
            if user is None:
                await miss_without_account(res, purpose=PURPOSE, channel=channel, code=code)
            async with codes.consume(res, user_id=user.id, purpose=PURPOSE, channel=channel,
                                     code=code) as tx:
                await tx.session.execute(update(User).where(User.id == user.id,
                                                            column.is_(None))
                                         .values({column: now, User.updated_at: now}))
        except AuthError as err:
            if err.code in _MISSES:
                continue
            raise
        await rate.password_succeeded(res, attempt)
        await res.store.user_changed(user.id)
        async with readonly(res.readmaker) as s:
            fresh = await users.by_id(s, user.id)
        if fresh is None:
            break
        if not fresh.is_active:
            raise AuthError(Code.ACCOUNT_INACTIVE)
        snap = users.snapshot(fresh)
        await res.events.emit(Event(LOGGED_IN, snap.id, {"ip": client.ip,
                                                         "provider": "passwordless"}))
        return snap
    else:
        await rate.password_failed(res, attempt)
    raise AuthError(Code.VERIFICATION_CODE_INVALID, LOGIN_FAILED)
