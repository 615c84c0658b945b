"""Account flows: sign up, and login through a registered provider (``providers``) with the
shared tail: the trusted-device check and the session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from authgate import background
from authgate.authz.store import grants
from authgate.errors import AuthError, Code
from authgate.events import LOGGED_IN, LOGIN_FAILED, USER_CREATED, Event
from authgate.identity import blocked_domains, password_policy
from authgate.identity import store as users
from authgate.identity.contact import account_ref
from authgate.identity.models import User
from authgate.identity.snapshot import UserSnapshot
from authgate.mfa import policy, trust
from authgate.registry import login_providers
from authgate.resources import Resources
from authgate.sessions.records import MfaState, SessionRecord
from authgate.sessions.service import ClientMeta, Sessions, TokenPair
from authgate.tenancy import store as tenants
from authgate.tenancy.resolve import requested_tenant, session_tenant, user_scope
from authgate.throttling import rate
from authgate.tx import readonly, transaction
from authgate.vocabulary import Channel


@dataclass(frozen=True)
class LoginOutcome:
    user: UserSnapshot
    session: SessionRecord
    tokens: TokenPair
    requires_mfa: bool
    mfa_methods: list[str]
    default_method: str | None


async def signup(
    res: Resources,
    *,
    email: str | None,
    phone: str | None,
    password: str,
    tenant_id: str | None,
) -> UserSnapshot | None:
    """Create an account.

    Raises REGISTRATION_DISABLED (also "Registration is by invitation only" under
    ``registration.require_invitation``), EMAIL_DOMAIN_NOT_ALLOWED, TENANT_NOT_ENABLED, TENANT_NOT_FOUND,
    TENANT_ID_REQUIRED, EMAIL_OR_PHONE_REQUIRED, PROVIDER_NOT_FOUND, INVALID_PHONE_FORMAT,
    the password-policy codes,
    EMAIL_ALREADY_EXISTS, PHONE_ALREADY_EXISTS. With ``registration.hide_existing_accounts``
    a taken address returns None instead (nothing written; the owner is told in the
    background): the caller answers as for a signup without auto-login.
    The password is hashed before the (short) write transaction opens, so argon2 never holds
    a database lock, and in both paths, so a taken address costs the same; the unique
    constraint, not a prior read, decides a race between two signups.
    """
    cfg = res.settings
    if not cfg.registration.enabled:
        raise AuthError(Code.REGISTRATION_DISABLED)
    if cfg.registration.require_invitation:
        raise AuthError(Code.REGISTRATION_DISABLED, INVITATION_ONLY)
    await blocked_domains.check_signup(res, email)
    tenant = await requested_tenant(res, tenant_id)
    scope = user_scope(cfg, tenant)
    if not email and not phone:
        raise AuthError(Code.EMAIL_OR_PHONE_REQUIRED)
    if email and not cfg.email_auth_enabled:
        raise AuthError(Code.PROVIDER_NOT_FOUND, "Email authentication is not enabled")
    if phone and not email and not cfg.phone_auth_enabled:
        raise AuthError(Code.PROVIDER_NOT_FOUND, "Phone authentication is not enabled")
    password_policy.check(cfg.password, password, identifiers=(email or "", phone or ""))
    email_n = users.normalise_email(email) if email else None
    phone_n = users.normalise_phone(phone, cfg.phone_default_region) if phone else None
    password_hash = await res.hasher.hash(password)
    try:
        return await _create(res, email_n, phone_n, password_hash, scope=scope, tenant=tenant)
    except AuthError as exc:
        if exc.code not in _TAKEN or not cfg.registration.hide_existing_accounts:
            raise
        taken = exc.code
    channel: Channel = "email" if taken == Code.EMAIL_ALREADY_EXISTS else "sms"
    address = email_n if channel == "email" else phone_n
    assert address is not None
    background.spawn(res, _tell_owner(res, channel, address, scope), name="signup notice")
    return None


INVITATION_ONLY = "Registration is by invitation only"
_TAKEN = (Code.EMAIL_ALREADY_EXISTS, Code.PHONE_ALREADY_EXISTS)
NOTICE_SCOPE = "signup-notice"
NOTICE_INTERVAL = timedelta(hours=1)


async def _tell_owner(res: Resources, channel: Channel, address: str, scope: str) -> None:
    """Tell the owner of ``address`` that someone tried to sign up with it: at most once an
    hour per account (signup attempts must not become a way to flood a mailbox), by SMS only
    when an SMS provider is configured."""
    from authgate.identity.contact import find_user
    from authgate.throttling import attempts

    user = await find_user(res, channel, address, scope)
    to = (user.email if channel == "email" else user.phone) if user is not None else None
    if user is None or to is None or channel not in res.channels:
        return
    if (await attempts.count(res, NOTICE_SCOPE, user.id, window=NOTICE_INTERVAL)).count > 1:
        return
    await res.delivery.send_notice(channel=channel, to=to, kind="account_exists")


async def _create(res: Resources, email_n: str | None, phone_n: str | None,
                  password_hash: str, *, scope: str, tenant: str | None) -> UserSnapshot:
    """The account in ``scope``, a member of ``tenant`` (its default) when one is named."""
    now = res.clock.now()
    async with transaction(res.sessionmaker) as tx:
        s = tx.session
        if email_n and await users.by_email(s, email_n, scope or None):
            raise AuthError(Code.EMAIL_ALREADY_EXISTS)
        if phone_n and await users.by_phone(s, phone_n, scope or None):
            raise AuthError(Code.PHONE_ALREADY_EXISTS)
        user = User(
            email=email_n,
            phone=phone_n,
            password_hash=password_hash,
            status="active",
            is_mfa_enabled=False,
            must_change_password=False,
            meta={},
            tenant_scope=scope,
            password_changed_at=now,
            created_at=now,
            updated_at=now,
        )
        s.add(user)
        try:
            await s.flush()
        except IntegrityError:
            raise AuthError(
                Code.EMAIL_ALREADY_EXISTS if email_n else Code.PHONE_ALREADY_EXISTS
            ) from None
        if tenant is not None:
            await tenants.join(s, user.id, tenant, now)
        snap = users.snapshot(user)
        tx.after_commit(
            lambda: res.events.emit(Event(USER_CREATED, snap.id, {"email": snap.email}))
        )
    return snap


async def start_session(
    res: Resources,
    user: UserSnapshot,
    *,
    client: ClientMeta,
    amr: tuple[str, ...],
    mfa_satisfied: bool,
    tenant_id: str | None = None,
    guard: str | None = None,
) -> LoginOutcome:
    """Open a session, pending MFA when the user (or the app) requires a second factor, in
    the tenant ``tenancy.resolve.session_tenant`` picks (``tenant_id``: the request's
    checked ``tenantId``), carrying the roles and permissions held there. Raises
    ACCESS_DENIED (403) for a tenant the user is not an active member of, and
    INVALID_CREDENTIALS when the login's deprecated ``guard`` names a guard none of the
    user's roles there has (upstream's rule)."""
    tenant = await session_tenant(res, user, tenant_id)
    requires = policy.mfa_required_for(res, user) and not mfa_satisfied
    methods: list[str] = []
    if requires:
        async with readonly(res.readmaker) as s:
            methods = policy.login_order(await policy.verified_methods(res, s, user))
    held = await grants(res.db.hot_fetch_all, user.id, tenant)  # one statement outside tenants
    if held is None:  # the membership went away since session_tenant looked
        raise AuthError(Code.ACCESS_DENIED, "User does not belong to this tenant")
    if guard is not None and not any(r.get("guard") == guard for r in held.roles):
        raise AuthError(Code.INVALID_CREDENTIALS)
    state: MfaState = "pending" if requires else ("verified" if mfa_satisfied else "none")
    rec, tokens = await Sessions(res).start(
        user, mfa_state=state, amr=amr, client=client, data=held.snapshot(), tenant_id=tenant,
    )
    return LoginOutcome(
        user=user,
        session=rec,
        tokens=tokens,
        requires_mfa=requires,
        mfa_methods=methods,
        default_method=policy.default_method(res, methods) if requires else None,
    )


async def refresh(res: Resources, token: str) -> LoginOutcome:
    """``POST /auth/refresh-token``: rotate the pair; a session still pending MFA is told
    again which methods finish it (the same list login gave)."""
    rec, user, tokens = await Sessions(res).refresh(token)
    pending = rec.mfa_state == "pending"
    methods: list[str] = []
    if pending:
        async with readonly(res.readmaker) as s:
            methods = policy.login_order(await policy.verified_methods(res, s, user))
    return LoginOutcome(user=user, session=rec, tokens=tokens, requires_mfa=pending,
                        mfa_methods=methods,
                        default_method=policy.default_method(res, methods) if pending else None)


async def login_password(
    res: Resources,
    *,
    email: str | None = None,
    phone: str | None = None,
    password: str,
    tenant_id: str | None,
    client: ClientMeta,
) -> UserSnapshot:
    """Check an email (or phone) and password.

    Raises INVALID_CREDENTIALS for an unknown account, a user without a password and a wrong
    password alike; the unknown path verifies against a dummy hash so timing matches.
    ACCOUNT_LOCKED (429) per ``throttling.rate``: ``client.trust_token`` (the trusted-device
    cookie or header) exempts the owner's known device from the account-wide lock.
    ACCOUNT_INACTIVE is told only to a caller who proved the password. The hash is upgraded
    (a conditional UPDATE, after verification, so no lock is held while argon2 runs) when
    the argon2 parameters or the pepper changed, or it was made of the password before
    Unicode normalisation. ``tenant_id`` (checked by the caller) scopes the look-up in
    isolated mode.
    """
    scope = user_scope(res.settings, tenant_id) or None
    if phone is not None:  # INVALID_PHONE_FORMAT; one lockout key however it is written
        phone = users.normalise_phone(phone, res.settings.phone_default_region)
    found = None
    if email is not None:
        found = await users.sign_in_lookup(res.db, "email", email, scope)
    elif phone is not None:
        found = await users.sign_in_lookup(res.db, "phone", phone, scope)
    user, stored = found if found is not None else (None, None)
    lock_key = rate.lockout_key(res, user_id=user.id if user else None, identifier=(
        account_ref("email", email) if email is not None
        else account_ref("sms", phone, res.settings.phone_default_region) if phone is not None
        else None))
    attempt = await rate.begin_password_attempt(  # ACCOUNT_LOCKED (429)
        res, lock_key, ip=client.ip,
        trusted=trust.vouches_for(res, user.id if user else None, client.trust_token))
    verdict = await res.hasher.check(stored, password)
    if user is None or not verdict.ok:
        await rate.password_failed(res, attempt)
        await res.events.emit(Event(LOGIN_FAILED, user.id if user else None,
                                    {"identifier": email or phone, "ip": client.ip}))
        raise AuthError(Code.INVALID_CREDENTIALS)
    await rate.password_succeeded(res, attempt)
    if not user.is_active:
        raise AuthError(Code.ACCOUNT_INACTIVE)
    if stored and verdict.rehash:  # parameters, pepper, or a hash from before NFKC
        upgraded = await res.hasher.hash(password)
        async with transaction(res.sessionmaker) as tx:
            await tx.session.execute(
                update(User).where(User.id == user.id, User.password_hash == stored)
                .values(password_hash=upgraded)
            )
    await res.events.emit(Event(LOGGED_IN, user.id, {"ip": client.ip}))
    return user


async def login(res: Resources, *, provider_name: str | None, credentials: dict[str, Any],
                tenant_id: str | None, client: ClientMeta,
                create_user: bool = False, guard: str | None = None) -> LoginOutcome:
    """``POST /auth/login``: the provider named by the request proves the user, then the
    session opens (pending MFA unless the provider is a second factor itself or
    ``client.trust_token``, read by the HTTP edge, is a live trusted device of this user).

    Raises TENANT_NOT_ENABLED / TENANT_NOT_FOUND / TENANT_ID_REQUIRED (400) first, then
    INVALID_PROVIDER for an unknown or disabled provider, then what the provider raises
    (INVALID_CREDENTIALS, MISSING_REQUIRED_FIELDS, ...), then ACCESS_DENIED (403) for a
    tenant the user is not a member of.
    """
    tenant = await requested_tenant(res, tenant_id)
    provider = (login_providers.find(provider_name, res.settings)
                if provider_name is not None else None)
    if provider is None or not provider.enabled(res.settings):
        raise AuthError(Code.INVALID_PROVIDER)
    user = await provider.authenticate(res, credentials, tenant_id=tenant, client=client,
                                       create_user=create_user)
    return await finish_login(res, user, client=client, amr=provider.amr,
                              owes_mfa=provider.owes_mfa, tenant_id=tenant, guard=guard)


async def finish_login(res: Resources, user: UserSnapshot, *, client: ClientMeta,
                       amr: tuple[str, ...], owes_mfa: bool,
                       tenant_id: str | None, guard: str | None = None) -> LoginOutcome:
    """The shared tail of every login (``POST /auth/login``, the code flow): the trusted
    device check, then the session (in ``tenant_id``, checked by the caller), pending MFA
    when the user owes a second factor."""
    satisfied = not owes_mfa or (
        client.trust_token is not None
        and await trust.trusted_device_check(res, user.id, client.trust_token))
    return await start_session(res, user, client=client, amr=amr, mfa_satisfied=satisfied,
                               tenant_id=tenant_id, guard=guard)
