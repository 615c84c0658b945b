"""Invitations (contract §2.1 ``POST /auth/invite``, §3.1): a member holding ``users.invite``
invites someone by email or phone into a tenant; the invitee sets a password with the token
they receive.

What differs from upstream, on purpose:

* W19 — the inviter must hold ``users.invite`` *in the tenant invited into* (upstream checks
  the session's tenant, then invites into any ``tenantId``). Without a ``tenantId`` the
  invitation is into the inviter's current tenant.
* W17 — an existing account is made a member of the tenant (upstream only emits an event).
  An account that already has a password gets no token (it signs in as usual).
* The token is delivered by authgate itself (email, or SMS for a phone-only invitee): the
  ``invitation`` template, linking to ``registration.invitation_url`` when set. It is a
  ``password-reset`` token of the single-use kind ``accounts.password_reset`` issues (stored
  hashed, only the newest works, bound to "no password yet", lifetime
  ``registration.invitation_expires_in``), so the SDK's ``resetPassword`` redeems it as
  upstream's does; ``POST /auth/invite/accept`` does the same and also marks the address
  the invitation went to as verified.
* ``registration.require_invitation`` is enforced (W16): signup is refused, invitations
  still create accounts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from sqlalchemy.exc import IntegrityError

from authgate.accounts import password_reset
from authgate.authz.store import grants, in_session
from authgate.errors import AuthError, Code
from authgate.events import USER_CREATED, USER_INVITED, Event
from authgate.identity import store as users
from authgate.identity.models import User
from authgate.resources import Resources
from authgate.sessions.service import Principal
from authgate.tenancy import store as tenants
from authgate.tenancy.resolve import requested_tenant, user_scope
from authgate.tx import readonly, transaction
from authgate.vocabulary import Channel

INVITE_PERMISSION = "users.invite"
PURPOSE: Final = "invitation"
"""The delivery kind of the message (``templates/{email,sms}/invitation.*``)."""


@dataclass(frozen=True, slots=True)
class Invited:
    user_id: str
    is_new_user: bool


async def _may_invite_into(res: Resources, inviter: Principal, tenant: str | None) -> None:
    """W19: ``users.invite`` held in ``tenant`` itself. The session's own tenant was
    checked by the route's guard on the snapshot; another one is read from the database."""
    if tenant == inviter.session.tenant_id:
        return
    async with readonly(res.readmaker) as s:
        held = await grants(in_session(s), inviter.user.id, tenant)
    if held is None or INVITE_PERMISSION not in held.permissions:
        raise AuthError(Code.MISSING_REQUIRED_PERMISSIONS,
                        "Access denied: Requires at least one of: " + INVITE_PERMISSION)


async def invite(res: Resources, inviter: Principal, *, email: str | None, phone: str | None,
                 tenant_id: str | None, metadata: dict[str, Any] | None) -> Invited:
    """Find or create the invitee in the tenant's scope, make them a member, and send them
    an invitation token when they have no password yet.

    Raises EMAIL_OR_PHONE_REQUIRED, INVALID_PHONE_FORMAT, the tenant codes
    (TENANT_NOT_ENABLED, TENANT_NOT_FOUND, TENANT_ID_REQUIRED), MISSING_REQUIRED_PERMISSIONS
    (403: no ``users.invite`` in that tenant), PROVIDER_NOT_FOUND (a phone-only invitation
    without an SMS provider), DELIVERY_FAILED (502: the account and membership are kept;
    inviting again sends a new token).
    """
    cfg = res.settings
    email_n = users.normalise_email(email) if email else None
    phone_n = users.normalise_phone(phone, cfg.phone_default_region) if phone else None
    if not email_n and not phone_n:
        raise AuthError(Code.EMAIL_OR_PHONE_REQUIRED, "Either email or phone is required")
    if tenant_id is None and cfg.tenant.enabled:
        tenant_id = inviter.session.tenant_id
    tenant = await requested_tenant(res, tenant_id)
    await _may_invite_into(res, inviter, tenant)
    channel: Channel = "email" if email_n else "sms"
    if channel == "sms" and "sms" not in res.channels:
        raise AuthError(Code.PROVIDER_NOT_FOUND, "SMS delivery is not configured")
    scope = user_scope(cfg, tenant)
    try:
        user, is_new, token = await _enrol(res, email_n, phone_n, scope, tenant, channel,
                                           metadata)
    except IntegrityError:  # a concurrent signup or invitation took the address: join it
        user, is_new, token = await _enrol(res, email_n, phone_n, scope, tenant, channel,
                                           metadata)
    if token is not None:
        to = user.email if channel == "email" else user.phone
        assert to is not None
        link = cfg.registration.invitation_url
        await res.delivery.send_code(
            channel=channel, to=to, purpose=PURPOSE,
            code=link.replace("{token}", quote(token, safe="")) if link else token,
            expires_in=cfg.registration.invitation_expires_in)
    await res.events.emit(Event(USER_INVITED, user.id, {
        "tenantId": tenant, "isNewUser": is_new, "invitedBy": inviter.user.id,
        "channel": channel, "tokenSent": token is not None}))
    return Invited(user_id=user.id, is_new_user=is_new)


async def _enrol(res: Resources, email_n: str | None, phone_n: str | None, scope: str,
                 tenant: str | None, channel: Channel,
                 metadata: dict[str, Any] | None) -> tuple[User, bool, str | None]:
    """One unit of work: the account (found by email, then phone, or created without a
    password), its membership, and — while it has no password — a fresh invitation token
    (replacing any earlier one)."""
    now = res.clock.now()
    ttl = res.settings.registration.invitation_expires_in
    async with transaction(res.sessionmaker) as tx:
        s = tx.session
        user = await users.by_email(s, email_n, scope or None) if email_n else None
        if user is None and phone_n:
            user = await users.by_phone(s, phone_n, scope or None)
        is_new = user is None
        if user is None:
            user = User(email=email_n, phone=phone_n, password_hash=None, status="active",
                        is_mfa_enabled=False, must_change_password=False,
                        meta=dict(metadata or {}), tenant_scope=scope,
                        password_changed_at=None, created_at=now, updated_at=now)
            s.add(user)
            await s.flush()
        if tenant is not None:
            m = await tenants.membership(s, user.id, tenant, for_update=True)
            if m is None:
                first = not await tenants.memberships_of(s, user.id)
                await tenants.join(s, user.id, tenant, now, is_default=first)
            elif m.status != "active":
                m.status, m.updated_at = "active", now
        token = None
        if user.password_hash is None:
            jti = secrets.token_urlsafe(24)
            await password_reset.store_token(
                res, tx, user_id=user.id, channel=channel, now=now, ttl=ttl,
                token_hash=password_reset.token_hash(res, user.id, jti, None))
            token = res.tokens.issue_purpose(
                password_reset.TOKEN_TYPE,
                {"userId": user.id, "tenantId": tenant, "jti": jti}, now, ttl)
    if is_new:
        await res.events.emit(Event(USER_CREATED, user.id, {"email": user.email,
                                                            "provider": "invite"}))
    return user, is_new, token
