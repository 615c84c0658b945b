"""Admin accounts: bootstrap with the secret key, sign-in (throttled, locked out, timing
equalised, optional TOTP), sign-out, the admins CRUD and the secret-key password reset.

Every flow owns its unit of work; counters and events run outside any writer transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from authgate import events
from authgate.admin import audit
from authgate.admin import sessions as admin_sessions
from authgate.admin.models import AdminSession, AdminUser
from authgate.admin.sessions import AdminPrincipal, SafeAdmin, require_console, safe
from authgate.config import Settings
from authgate.crypto.keys import equal
from authgate.errors import AuthError, Code
from authgate.events import Event
from authgate.identity import password_policy
from authgate.resources import Resources
from authgate.throttling import rate
from authgate.tx import readonly, transaction

MIN_PASSWORD = 8
COMPLEXITY_MESSAGE = "Password must contain uppercase, lowercase, number, and special character"
_ADMIN_LOCK = 7_402_551_003
"""PostgreSQL advisory lock that serialises "is this the first / the last admin?" writes."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_password(settings: Settings, password: str, email: str) -> None:
    """At least 8 characters with a lower-case letter, an upper-case letter, a digit and
    any other character (upstream allowed only ``@$!%*?&``: W21), then the end-user
    password policy (length cap, common passwords, strength, no email inside)."""
    if len(password) < MIN_PASSWORD:
        raise AuthError(Code.ADMIN_PASSWORD_TOO_SHORT)
    if not (re.search(r"[a-z]", password) and re.search(r"[A-Z]", password)
            and re.search(r"\d", password) and re.search(r"[^A-Za-z0-9]", password)):
        raise AuthError(Code.INVALID_INPUT, COMPLEXITY_MESSAGE)
    password_policy.check(settings.password, password, identifiers=(email,))


def _require_management(settings: Settings) -> None:
    if not settings.admin_console.allow_admin_management:
        raise AuthError(Code.ADMIN_MANAGEMENT_DISABLED)


def _check_secret_key(settings: Settings, presented: str) -> None:
    key = settings.admin_console.secret_key
    assert key is not None  # require_console ran
    if not equal(presented, key.get_secret_value()):
        raise AuthError(Code.INVALID_SECRET_KEY)


async def _serialise(s: AsyncSession) -> None:
    """One writer at a time decides "first admin" / "last admin" (SQLite writers already
    are: BEGIN IMMEDIATE)."""
    if s.get_bind().dialect.name == "postgresql":
        await s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADMIN_LOCK})


async def _admin_count(s: AsyncSession) -> int:
    return int((await s.execute(select(func.count()).select_from(AdminUser))).scalar_one())


def _reset_subject(res: Resources, email: str) -> str:
    return rate.account_subject(res, "admin", email)


# bootstrap and password reset with the secret key -----------------------------------------
async def bootstrap_open(res: Resources) -> bool:
    """No admin exists yet: the console offers the first-admin form."""
    require_console(res.settings)
    async with readonly(res.readmaker) as s:
        return await _admin_count(s) == 0


async def signup(res: Resources, *, email: str, password: str, secret_key: str,
                 name: str | None, metadata: dict[str, Any] | None, ip: str | None) -> SafeAdmin:
    """The first admin, with the console's secret key. Closed once an admin exists unless
    ``allow_public_signup_after_first_admin`` (checked before the key, as upstream)."""
    settings = res.settings
    require_console(settings)
    email = normalise_email(email)
    await rate.enforce(res, "admin_reset", ip=ip, accounts=[_reset_subject(res, email)])
    cfg = settings.admin_console
    async with readonly(res.readmaker) as s:
        exists = await _admin_count(s) > 0
    if exists and not cfg.allow_public_signup_after_first_admin:
        raise AuthError(Code.ADMIN_BOOTSTRAP_CLOSED)
    if exists:
        _require_management(settings)
    _check_secret_key(settings, secret_key)
    check_password(settings, password, email)
    hashed = await res.hasher.hash(password)
    now = res.clock.now()
    try:
        async with transaction(res.sessionmaker) as tx:
            s = tx.session
            await _serialise(s)
            if not cfg.allow_public_signup_after_first_admin and await _admin_count(s) > 0:
                raise AuthError(Code.ADMIN_BOOTSTRAP_CLOSED)  # lost a race to another bootstrap
            if await _by_email(s, email) is not None:
                raise AuthError(Code.ADMIN_USER_EXISTS)
            admin = AdminUser(email=email, name=name, password_hash=hashed, meta=metadata or {},
                              token_version=0, totp_enabled=False, created_at=now,
                              updated_at=now)
            s.add(admin)
            await s.flush()
            out = safe(admin)
    except IntegrityError:
        raise AuthError(Code.ADMIN_USER_EXISTS) from None
    await res.events.emit(Event(events.ADMIN_CREATED, None, {"adminId": out.id,
                                                             "email": out.email}))
    await audit.record(res, None, "admin.bootstrap", target=out.id, ip=ip)
    return out


async def reset_password(res: Resources, *, email: str, secret_key: str, new_password: str,
                         ip: str | None) -> None:
    """Set an admin's password with the console's secret key: ends all of that admin's
    sessions and lifts their sign-in lock."""
    settings = res.settings
    require_console(settings)
    _require_management(settings)
    email = normalise_email(email)
    await rate.enforce(res, "admin_reset", ip=ip, accounts=[_reset_subject(res, email)])
    _check_secret_key(settings, secret_key)
    check_password(settings, new_password, email)
    hashed = await res.hasher.hash(new_password)
    async with transaction(res.sessionmaker) as tx:
        admin = await _by_email(tx.session, email)
        if admin is None:
            raise AuthError(Code.INVALID_CREDENTIALS)
        await _set_password(tx.session, admin, hashed, res.clock.now())
        admin_id = admin.id
    await rate.unlock(res, _login_key(res, admin_id, email))
    await res.events.emit(Event(events.ADMIN_PASSWORD_RESET, None, {"adminId": admin_id}))
    await audit.record(res, None, "admin.password_reset", target=admin_id, ip=ip)


async def _set_password(s: AsyncSession, admin: AdminUser, hashed: str, now: datetime) -> None:
    """New hash, ``token_version`` + 1 and no session rows: every session of the admin ends."""
    admin.password_hash = hashed
    admin.token_version += 1
    admin.updated_at = now
    await s.execute(delete(AdminSession).where(AdminSession.admin_id == admin.id))


async def _by_email(s: AsyncSession, email: str) -> AdminUser | None:
    return (await s.execute(select(AdminUser).where(AdminUser.email == email))).scalar_one_or_none()


# sign-in and sign-out ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SignedIn:
    admin: SafeAdmin
    cookie: str
    csrf: str
    expires_at: datetime


def _login_key(res: Resources, admin_id: str | None, email: str) -> str:
    """The lockout subject: the admin's id, or a keyed hash of an unknown email (locked
    the same way, so the lockout tells nothing)."""
    if admin_id:
        return f"admin:{admin_id}"
    return "admin-i:" + rate.account_subject(res, "admin-login", email)


async def login(res: Resources, *, email: str, password: str, totp_code: str | None,
                ip: str | None, user_agent: str | None) -> SignedIn:
    """Check the password (a dummy hash for unknown emails: same work, same answer), then
    the admin's own TOTP when they enabled it, then open a session."""
    settings = res.settings
    require_console(settings)
    email = normalise_email(email)
    await rate.enforce(res, "admin_login", ip=ip,
                       accounts=[rate.account_subject(res, "admin-login", email)])
    async with readonly(res.readmaker) as s:
        admin = await _by_email(s, email)
    attempt = await rate.begin_password_attempt(
        res, _login_key(res, admin.id if admin else None, email), ip=ip)
    ok = await res.hasher.verify(admin.password_hash if admin else None, password)
    if not ok or admin is None:
        await rate.password_failed(res, attempt)
        await res.events.emit(Event(events.LOGIN_FAILED, None,
                                    {"providerName": "admin", "ip": ip}))
        raise AuthError(Code.INVALID_CREDENTIALS)
    step: int | None = None
    if admin.totp_enabled:
        if not totp_code:
            raise AuthError(Code.ADMIN_TOTP_REQUIRED)
        step = _totp_step(res, admin, totp_code)
        if step is None:
            await rate.password_failed(res, attempt)
            raise AuthError(Code.MFA_CODE_INVALID)
    now = res.clock.now()
    async with transaction(res.sessionmaker) as tx:
        s = tx.session
        if step is not None:
            spent = await s.execute(
                update(AdminUser).where(AdminUser.id == admin.id, AdminUser.totp_enabled,
                                        (AdminUser.totp_last_step.is_(None))
                                        | (AdminUser.totp_last_step < step))
                .values(totp_last_step=step))
            if spent.rowcount != 1:  # type: ignore[attr-defined]
                raise AuthError(Code.MFA_CODE_INVALID)  # replayed (or raced) code
        fresh = await s.get(AdminUser, admin.id, populate_existing=True)
        if fresh is None or fresh.token_version != admin.token_version:
            raise AuthError(Code.INVALID_CREDENTIALS)  # deleted or reset meanwhile
        fresh.last_login_at = now
        await s.execute(delete(AdminSession).where(AdminSession.admin_id == fresh.id,
                                                   AdminSession.expires_at <= now))
        row = AdminSession(admin_id=fresh.id, ip_address=ip[:64] if ip else None,
                           user_agent=user_agent[:512] if user_agent else None,
                           created_at=now, expires_at=admin_sessions.expiry(res, now))
        s.add(row)
        await s.flush()
        cookie = admin_sessions.issue(res, fresh, row.id, now)
        out = SignedIn(admin=safe(fresh), cookie=cookie,
                       csrf=admin_sessions.csrf_token(settings, row.id),
                       expires_at=row.expires_at)
    await rate.password_succeeded(res, attempt)
    await audit.record(res, out.admin, "admin.login", target=out.admin.id, ip=ip)
    return out


async def logout(res: Resources, principal: AdminPrincipal, *, everywhere: bool) -> None:
    """End this session (the admin's other browsers stay signed in, W17), or with
    ``everywhere`` every session of the admin (``token_version`` + 1)."""
    async with transaction(res.sessionmaker) as tx:
        s = tx.session
        if everywhere:
            await s.execute(update(AdminUser).where(AdminUser.id == principal.id)
                            .values(token_version=AdminUser.token_version + 1))
            await s.execute(delete(AdminSession).where(AdminSession.admin_id == principal.id))
        else:
            await s.execute(delete(AdminSession).where(AdminSession.id == principal.session_id))
    await audit.record(res, principal, "admin.logout_all" if everywhere else "admin.logout",
                       target=principal.id)


# the admins CRUD ---------------------------------------------------------------------------
async def list_admins(res: Resources, principal: AdminPrincipal) -> list[SafeAdmin]:
    _require_management(res.settings)
    async with readonly(res.stale_readmaker) as s:
        rows = (await s.execute(select(AdminUser).order_by(AdminUser.created_at.desc(),
                                                           AdminUser.id))).scalars().all()
    return [safe(a) for a in rows]


async def create_admin(res: Resources, principal: AdminPrincipal, *, email: str,
                       password: str, name: str | None) -> SafeAdmin:
    _require_management(res.settings)
    email = normalise_email(email)
    check_password(res.settings, password, email)
    hashed = await res.hasher.hash(password)
    now = res.clock.now()
    try:
        async with transaction(res.sessionmaker) as tx:
            if await _by_email(tx.session, email) is not None:
                raise AuthError(Code.ADMIN_USER_EXISTS)
            admin = AdminUser(email=email, name=name, password_hash=hashed, meta={},
                              token_version=0, totp_enabled=False, created_at=now,
                              updated_at=now)
            tx.session.add(admin)
            await tx.session.flush()
            out = safe(admin)
    except IntegrityError:
        raise AuthError(Code.ADMIN_USER_EXISTS) from None
    await res.events.emit(Event(events.ADMIN_CREATED, None, {"adminId": out.id,
                                                             "email": out.email}))
    await audit.record(res, principal, "admin.create", target=out.id, email=out.email)
    return out


async def update_admin(res: Resources, principal: AdminPrincipal, admin_id: str, *,
                       name: str | None, password: str | None, fields: set[str]) -> SafeAdmin:
    """``fields``: the ones the request named (``name: null`` clears the name). A new
    password ends every session of that admin (``token_version`` + 1)."""
    _require_management(res.settings)
    hashed: str | None = None
    async with readonly(res.readmaker) as s:
        target = await s.get(AdminUser, admin_id)
    if target is None:
        raise AuthError(Code.ADMIN_USER_NOT_FOUND)
    if password is not None:
        check_password(res.settings, password, target.email)
        hashed = await res.hasher.hash(password)
    now = res.clock.now()
    async with transaction(res.sessionmaker) as tx:
        admin = await tx.session.get(AdminUser, admin_id)
        if admin is None:
            raise AuthError(Code.ADMIN_USER_NOT_FOUND)
        if "name" in fields:
            admin.name = name
        if hashed is not None:
            await _set_password(tx.session, admin, hashed, now)
        admin.updated_at = now
        await tx.session.flush()
        out = safe(admin)
    await audit.record(res, principal, "admin.update", target=admin_id,
                       fields=sorted(f for f in fields if f in ("name", "password")))
    return out


async def delete_admin(res: Resources, principal: AdminPrincipal, admin_id: str) -> None:
    """Never the last admin: two admins deleting each other at once leave one."""
    _require_management(res.settings)
    async with transaction(res.sessionmaker) as tx:
        s = tx.session
        await _serialise(s)
        admin = await s.get(AdminUser, admin_id)
        if admin is None:
            raise AuthError(Code.ADMIN_USER_NOT_FOUND)
        if await _admin_count(s) <= 1:
            raise AuthError(Code.ADMIN_LAST_REMAINING)
        await s.execute(delete(AdminSession).where(AdminSession.admin_id == admin_id))
        await s.delete(admin)
    await audit.record(res, principal, "admin.delete", target=admin_id)


# the admin's own authenticator -------------------------------------------------------------
def _totp_params(settings: Settings) -> Any:
    from authgate.crypto.totp import TotpParams

    t = settings.mfa.totp
    return TotpParams(period=t.period, digits=t.digits, algorithm=t.algorithm)


def _aad(admin_id: str) -> bytes:
    return f"admin-totp:{admin_id}".encode()


def _totp_step(res: Resources, admin: AdminUser, code: str) -> int | None:
    """The matched time step of ``code`` (not yet checked against the replay guard)."""
    from authgate.crypto import totp

    if not admin.totp_secret_enc:
        return None
    secret = res.secretbox.decrypt(admin.totp_secret_enc, aad=_aad(admin.id))
    step = totp.verify(secret, code, at=res.clock.now(), params=_totp_params(res.settings))
    if step is None or (admin.totp_last_step is not None and step <= admin.totp_last_step):
        return None
    return step


@dataclass(frozen=True, slots=True)
class TotpSetup:
    secret: str
    otpauth_url: str


async def totp_setup(res: Resources, principal: AdminPrincipal) -> TotpSetup:
    """A new seed for the admin's authenticator, pending until ``totp_enable`` proves it."""
    from authgate.crypto import totp

    secret = totp.generate_secret()
    issuer = res.settings.mfa.totp.issuer or f"{res.settings.app_name} admin"
    uri = totp.provisioning_uri(secret, account=principal.email, issuer=issuer,
                                params=_totp_params(res.settings))
    async with transaction(res.sessionmaker) as tx:
        admin = await tx.session.get(AdminUser, principal.id)
        if admin is None:
            raise AuthError(Code.ADMIN_USER_NOT_FOUND)
        if admin.totp_enabled:
            raise AuthError(Code.INVALID_INPUT,
                            "Two-factor sign-in is already on; turn it off first")
        admin.totp_secret_enc = res.secretbox.encrypt(secret, aad=_aad(admin.id))
        admin.totp_last_step = None
        admin.updated_at = res.clock.now()
    return TotpSetup(secret=secret, otpauth_url=uri)


async def totp_enable(res: Resources, principal: AdminPrincipal, code: str) -> SafeAdmin:
    return await _totp_switch(res, principal, code, on=True)


async def totp_disable(res: Resources, principal: AdminPrincipal, code: str) -> SafeAdmin:
    return await _totp_switch(res, principal, code, on=False)


async def _totp_switch(res: Resources, principal: AdminPrincipal, code: str, *,
                       on: bool) -> SafeAdmin:
    """Turn the admin's TOTP on (proving the pending seed) or off (proving the current
    one). Wrong codes count in the lockout of the admin's TOTP checks."""
    attempt = await rate.begin_password_attempt(res, f"admin-totp:{principal.id}",
                                                ip=principal.ip)
    async with transaction(res.sessionmaker) as tx:
        admin = await tx.session.get(AdminUser, principal.id)
        if admin is None:
            raise AuthError(Code.ADMIN_USER_NOT_FOUND)
        if on and admin.totp_enabled:
            raise AuthError(Code.INVALID_INPUT, "Two-factor sign-in is already on")
        if on and not admin.totp_secret_enc:
            raise AuthError(Code.INVALID_INPUT, "Start the authenticator set-up first")
        if not on and not admin.totp_enabled:
            raise AuthError(Code.INVALID_INPUT, "Two-factor sign-in is not on")
        step = _totp_step(res, admin, code)
        if step is not None:
            admin.totp_enabled = on
            admin.totp_last_step = step
            if not on:
                admin.totp_secret_enc = None
            admin.updated_at = res.clock.now()
            await tx.session.flush()
        out = safe(admin)
    if step is None:
        await rate.password_failed(res, attempt)
        raise AuthError(Code.MFA_CODE_INVALID)
    await rate.password_succeeded(res, attempt)
    await audit.record(res, principal, "admin.totp_enable" if on else "admin.totp_disable",
                       target=principal.id)
    return out
