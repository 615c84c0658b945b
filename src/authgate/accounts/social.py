"""Accounts behind provider identities: sign in by a verified provider profile (finding,
linking or creating the user), and the signed-in owner's list / link / unlink.

The linking rules: a provider identity (provider + subject) belongs to one user. A first
sign-in finds that user by the identity; without one, ``createUserIfNotExists`` links to
the account with the same email only when the provider verified that email
(``social.require_verified_email_for_linking``), or creates an account. An account whose
own email was never verified and that has a password is a possible pre-registration by
someone else: linking a verified provider identity to it clears that password and ends
its sessions and trusted devices (the provider proved the address, the password did not).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from authgate.accounts.login import INVITATION_ONLY
from authgate.errors import AuthError, Code
from authgate.events import IDENTITY_LINKED, IDENTITY_UNLINKED, LOGGED_IN, USER_CREATED, Event
from authgate.federation.models import Identity
from authgate.federation.profile import Profile
from authgate.identity import store as users
from authgate.identity.models import User
from authgate.identity.snapshot import UserSnapshot
from authgate.mfa import trust
from authgate.resources import Resources
from authgate.sessions.service import ClientMeta, Sessions
from authgate.tenancy import store as tenant_store
from authgate.tenancy.resolve import user_scope
from authgate.tx import Tx, readonly, transaction


@dataclass(frozen=True)
class LinkedIdentity:
    id: str
    provider: str
    email: str | None
    email_verified: bool
    details: dict[str, object]
    created_at: datetime
    last_used_at: datetime | None


async def sign_in(res: Resources, profile: Profile, *, create_user: bool,
                  tenant_id: str | None, client: ClientMeta) -> UserSnapshot:
    """The user behind ``profile``, in ``tenant_id`` (checked by the caller): looked up and
    created in that tenant's accounts in isolated mode; with ``createUserIfNotExists`` a
    new account joins the tenant, and so does an existing one that was never a member
    (contract §2.1 step 9: social logins auto-join; a deactivated membership stays so).

    Raises INVALID_CREDENTIALS (no linked user and no ``createUserIfNotExists``),
    SOCIAL_EMAIL_NOT_VERIFIED, REGISTRATION_DISABLED, ACCOUNT_INACTIVE. The unique
    (scope, provider, subject) triple decides a race of two first sign-ins: the loser
    retries and finds the winner's identity.
    """
    for _ in range(2):
        try:
            user, hijack_guard = await _sign_in_once(res, profile, create_user=create_user,
                                                     tenant_id=tenant_id)
            break
        except IntegrityError:
            continue
    else:  # pragma: no cover - two lost races in a row
        raise AuthError(Code.INVALID_CREDENTIALS)
    if hijack_guard:  # after the commit (never write sessions with a transaction open)
        await Sessions(res).revoke_all(user.id)
        await res.store.user_changed(user.id)
    if not user.is_active:
        raise AuthError(Code.ACCOUNT_INACTIVE)
    await res.events.emit(Event(LOGGED_IN, user.id, {"ip": client.ip,
                                                    "provider": profile.provider}))
    return user


async def _sign_in_once(res: Resources, profile: Profile, *, create_user: bool,
                        tenant_id: str | None) -> tuple[UserSnapshot, bool]:
    now = res.clock.now()
    cfg = res.settings
    scope = user_scope(cfg, tenant_id)
    hijack_guard = False
    async with transaction(res.sessionmaker) as tx:
        s = tx.session
        ident = await _identity(s, scope, profile.provider, profile.subject)
        if ident is not None:
            user = await users.by_id(s, ident.user_id)
            assert user is not None  # the identity cascades with its user
            _refresh_identity(ident, profile, now)
            if (profile.email_verified and user.email == profile.email
                    and user.email_verified_at is None):
                user.email_verified_at = now
            if create_user:
                await _join(s, user.id, tenant_id, now)
            return users.snapshot(user), False
        if not create_user:
            raise AuthError(Code.INVALID_CREDENTIALS)
        user = (await users.by_email(s, profile.email, scope or None)
                if profile.email else None)
        if user is not None:
            if (not profile.email_verified
                    and cfg.social.require_verified_email_for_linking):
                raise AuthError(Code.SOCIAL_EMAIL_NOT_VERIFIED)
            if profile.email_verified and user.email_verified_at is None:
                hijack_guard = user.password_hash is not None
                user.email_verified_at = now
                user.password_hash = None if hijack_guard else user.password_hash
                if hijack_guard:
                    await trust.revoke_all_trust(res, tx, user.id)
            user.updated_at = now
            await _join(s, user.id, tenant_id, now)
        else:
            if not cfg.registration.enabled:
                raise AuthError(Code.REGISTRATION_DISABLED)
            if cfg.registration.require_invitation:
                raise AuthError(Code.REGISTRATION_DISABLED, INVITATION_ONLY)
            user = User(email=profile.email, phone=None, password_hash=None, status="active",
                        is_mfa_enabled=False, must_change_password=False,
                        meta=_user_meta(profile), tenant_scope=scope,
                        email_verified_at=now if profile.email_verified else None,
                        created_at=now, updated_at=now)
            s.add(user)
            await s.flush()
            await _join(s, user.id, tenant_id, now)
            created = users.snapshot(user)
            tx.after_commit(lambda: res.events.emit(Event(
                USER_CREATED, created.id, {"email": created.email,
                                           "provider": profile.provider})))
        _add_identity(tx, user.id, scope, profile, now)
        await s.flush()
        linked = user.id
        tx.after_commit(lambda: res.events.emit(Event(
            IDENTITY_LINKED, linked, {"provider": profile.provider})))
        return users.snapshot(user), hijack_guard


def _user_meta(profile: Profile) -> dict[str, object]:
    """Display data for a new account (``metadata``), as signup forms would have asked."""
    keys = {"name": "name", "givenName": "firstName", "familyName": "lastName",
            "picture": "avatarUrl"}
    return {ours: profile.details[theirs] for theirs, ours in keys.items()
            if theirs in profile.details}


async def _join(s: AsyncSession, user_id: str, tenant_id: str | None, now: datetime) -> None:
    """Make the user a member of ``tenant_id`` unless they have a membership there
    (an inactive one stays inactive: the session is then refused ACCESS_DENIED)."""
    if tenant_id is None or await tenant_store.membership(s, user_id, tenant_id) is not None:
        return
    first = not await tenant_store.memberships_of(s, user_id)
    await tenant_store.join(s, user_id, tenant_id, now, is_default=first)


async def _identity(s: AsyncSession, scope: str, provider: str,
                    subject: str) -> Identity | None:
    return (await s.execute(select(Identity).where(
        Identity.tenant_scope == scope, Identity.provider == provider,
        Identity.subject == subject))).scalar_one_or_none()


def _refresh_identity(ident: Identity, profile: Profile, now: datetime) -> None:
    ident.email = profile.email
    ident.email_verified = profile.email_verified
    ident.meta = dict(profile.details)
    ident.last_used_at = now


def _add_identity(tx: Tx, user_id: str, scope: str, profile: Profile, now: datetime) -> None:
    tx.session.add(Identity(user_id=user_id, tenant_scope=scope, provider=profile.provider,
                            subject=profile.subject, email=profile.email,
                            email_verified=profile.email_verified, meta=dict(profile.details),
                            created_at=now, last_used_at=now))


async def link(res: Resources, user_id: str, scope: str, profile: Profile) -> LinkedIdentity:
    """Link ``profile`` to the signed-in user (whatever its email: the owner proved both
    sides). IDENTITY_ALREADY_LINKED when it belongs to another user; linking it again to
    the same user answers the existing link."""
    now = res.clock.now()
    try:
        async with transaction(res.sessionmaker) as tx:
            ident = await _identity(tx.session, scope, profile.provider, profile.subject)
            if ident is not None and ident.user_id != user_id:
                raise AuthError(Code.IDENTITY_ALREADY_LINKED)
            if ident is None:
                _add_identity(tx, user_id, scope, profile, now)
                await tx.session.flush()
                ident = await _identity(tx.session, scope, profile.provider, profile.subject)
                assert ident is not None
                tx.after_commit(lambda: res.events.emit(Event(
                    IDENTITY_LINKED, user_id, {"provider": profile.provider})))
            else:
                _refresh_identity(ident, profile, now)
            return _linked(ident)
    except IntegrityError:  # another request linked it first
        raise AuthError(Code.IDENTITY_ALREADY_LINKED) from None


async def identities(res: Resources, user_id: str) -> list[LinkedIdentity]:
    async with readonly(res.readmaker) as s:
        rows = (await s.execute(select(Identity).where(Identity.user_id == user_id)
                                .order_by(Identity.created_at, Identity.id))).scalars().all()
    return [_linked(r) for r in rows]


async def unlink(res: Resources, user_id: str, identity_id: str) -> None:
    """Remove one of the user's identities. IDENTITY_NOT_FOUND for an id that is not one
    of theirs; LAST_SIGN_IN_METHOD when nothing else would sign them in (no password, no
    other identity, no passwordless code to a verified address). The user row is locked
    so two unlinks cannot each leave the other as the last one."""
    async with transaction(res.sessionmaker) as tx:
        s = tx.session
        user = await users.by_id(s, user_id, for_update=True)
        ident = (await s.execute(select(Identity).where(
            Identity.id == identity_id, Identity.user_id == user_id))).scalar_one_or_none()
        if user is None or ident is None:
            raise AuthError(Code.IDENTITY_NOT_FOUND)
        others = (await s.execute(select(func.count()).select_from(Identity).where(
            Identity.user_id == user_id, Identity.id != identity_id))).scalar_one()
        passwordless = res.settings.passwordless.enabled and (
            user.email_verified_at is not None or user.phone_verified_at is not None)
        if not (user.password_hash or others or passwordless):
            raise AuthError(Code.LAST_SIGN_IN_METHOD)
        await s.execute(delete(Identity).where(Identity.id == identity_id))
        await s.execute(update(User).where(User.id == user_id)
                        .values(updated_at=res.clock.now()))
        provider = ident.provider
        tx.after_commit(lambda: res.events.emit(Event(
            IDENTITY_UNLINKED, user_id, {"provider": provider})))


def _linked(r: Identity) -> LinkedIdentity:
    return LinkedIdentity(id=r.id, provider=r.provider, email=r.email,
                          email_verified=r.email_verified, details=dict(r.meta or {}),
                          created_at=r.created_at, last_used_at=r.last_used_at)
