"""Authenticator apps (TOTP): enrolment, the login check with its replay guard, removal,
reset by recovery code, and re-encryption of stored seeds.

What differs from upstream, on purpose (references in docs/DESIGN-NOTES.md):

* each time step is accepted at most once per device: ``last_used_step`` is advanced
  with a conditional UPDATE (``WHERE last_used_step IS NULL OR last_used_step < :step``),
  so a replayed code, or two concurrent uses of one code, can win only once. Set-up
  confirmation records its step too, so the code typed to enrol cannot then sign in.
* seeds are AES-GCM encrypted (``crypto.secretbox``) and bound to their user; set-ups
  that are never confirmed expire after ``mfa.totp.setup_expires_in`` and are purged;
  verify-totp-setup always checks the code; ``mfa.totp.period/digits/algorithm`` drive both
  the QR URL and verification.
* login codes count against the shared MFA attempt limit.
* removing the last authenticator (or a reset) turns the user's MFA flag off when no
  usable method is left, instead of leaving an account that can never finish MFA.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from authgate.crypto import totp as rfc6238
from authgate.crypto.keys import equal, keyed_hash
from authgate.crypto.secretbox import SecretBox, SecretBoxError
from authgate.errors import AuthError, Code
from authgate.events import (
    MFA_DEVICE_ADDED,
    MFA_DEVICE_REMOVED,
    MFA_DISABLED,
    MFA_TOTP_REPLAYED,
    Event,
)
from authgate.identity.models import User
from authgate.identity.snapshot import UserSnapshot
from authgate.mfa import policy, recovery_codes
from authgate.mfa.changed import rows_changed
from authgate.mfa.models import TotpDevice
from authgate.mfa.trust import revoke_all_trust
from authgate.resources import Resources
from authgate.sessions.service import Principal
from authgate.throttling import attempts
from authgate.tx import Tx, transaction

log = logging.getLogger("authgate.mfa")
MAX_PENDING_SETUPS = 5
"""Unconfirmed set-ups kept per user; older ones are dropped when a new one starts."""


# configuration ---------------------------------------------------------------------------
def params(res: Resources) -> rfc6238.TotpParams:
    t = res.settings.mfa.totp
    return rfc6238.TotpParams(period=t.period, digits=t.digits, algorithm=t.algorithm)


def _aad(user_id: str) -> bytes:
    return f"authgate:totp:{user_id}".encode()


def _lookup(res: Resources, secret: str) -> str:
    return keyed_hash(res.keys.totp_lookup, rfc6238.normalise_secret(secret))


def _require_totp(res: Resources) -> None:
    cfg = res.settings.mfa
    if not cfg.enabled:
        raise AuthError(Code.MFA_NOT_ENABLED)
    if "totp" not in cfg.methods:
        raise AuthError(Code.MFA_METHOD_NOT_AVAILABLE,
                        "Authenticator apps are not enabled for this application")


def decrypt_secret(res: Resources, device: TotpDevice) -> str | None:
    """The device's seed, or None (logged) when it cannot be decrypted — a retired key or
    a tampered row must never crash a login, only make that device unusable."""
    try:
        return res.secretbox.decrypt(device.secret_enc, aad=_aad(device.user_id))
    except SecretBoxError as exc:
        log.error("TOTP device %s: cannot decrypt secret: %s", device.id, exc)
        return None


# enrolment -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TotpSetup:
    secret: str
    qr_code: str
    otp_auth_url: str
    issuer: str
    account: str


def enrollment_open(res: Resources, verified_methods: list[str]) -> bool:
    """A session pending only because ``mfa.required`` is on, for a user with no
    usable method, may enrol an authenticator (it could never finish MFA otherwise)."""
    return res.settings.mfa.required and not verified_methods


async def check_enrollment_allowed(res: Resources, principal: Principal) -> None:
    """For set-up routes (not open to MFA-pending sessions): raise MFA_REQUIRED unless the
    session is verified, or pending with enrolment open."""
    if not principal.mfa_pending:
        return
    async with res.readmaker() as s:
        methods = await policy.verified_methods(res, s, principal.user, offered=False)
    if not enrollment_open(res, methods):
        raise AuthError(Code.MFA_REQUIRED)


async def _purge_setups(s: AsyncSession, user_id: str, now: datetime) -> None:
    """Drop expired set-ups and all but the newest ``MAX_PENDING_SETUPS - 1`` pending ones."""
    await s.execute(delete(TotpDevice).where(
        TotpDevice.user_id == user_id, TotpDevice.verified.is_(False),
        TotpDevice.expires_at <= now))
    pending = (await s.execute(
        select(TotpDevice.id).where(TotpDevice.user_id == user_id,
                                    TotpDevice.verified.is_(False))
        .order_by(TotpDevice.created_at.desc(), TotpDevice.id)
    )).scalars().all()
    stale = list(pending[MAX_PENDING_SETUPS - 1:])
    if stale:
        await s.execute(delete(TotpDevice).where(TotpDevice.id.in_(stale)))


def _account(user: UserSnapshot, label: str | None) -> str:
    return (label or "").strip() or user.email or user.phone or user.id


async def begin_setup(res: Resources, tx: Tx, user: UserSnapshot, *,
                      label: str | None = None, device_name: str | None = None) -> TotpSetup:
    """POST /auth/mfa/setup-totp: store a new unconfirmed device and return its seed, QR
    code and otpauth URL (the seed is shown this once; only ciphertext is stored)."""
    _require_totp(res)
    cfg = res.settings
    now = res.clock.now()
    await _purge_setups(tx.session, user.id, now)
    rows_changed(res, tx, user.id)
    secret = rfc6238.generate_secret()
    issuer = cfg.mfa.totp.issuer or cfg.app_name or "App"
    account = _account(user, label)
    name = (device_name or "").strip() or f"{cfg.app_name} : {user.email or user.phone or user.id}"
    dev_id = str(uuid.uuid4())
    tx.session.add(TotpDevice(
        id=dev_id, user_id=user.id,
        secret_enc=res.secretbox.encrypt(secret, aad=_aad(user.id)),
        secret_lookup=_lookup(res, secret), device_name=name[:255], verified=False,
        last_used_step=None, last_used_at=None,
        expires_at=now + cfg.mfa.totp.setup_expires_in, created_at=now,
    ))
    await tx.session.flush()
    url = rfc6238.provisioning_uri(secret, account=account, issuer=issuer, params=params(res))
    import segno  # the QR encoder is loaded by the first set-up, not by every worker

    qr = segno.make(url, error="m").png_data_uri(scale=4, border=2)
    return TotpSetup(secret=secret, qr_code=qr, otp_auth_url=url, issuer=issuer,
                     account=account)


async def _advance_step(s: AsyncSession, device: TotpDevice, step: int, now: datetime,
                        **values: object) -> bool:
    """The replay guard: move ``last_used_step`` forward to ``step`` iff it is behind.
    Exactly one of any number of concurrent callers with the same step succeeds."""
    result = await s.execute(
        update(TotpDevice)
        .where(TotpDevice.id == device.id,
               or_(TotpDevice.last_used_step.is_(None), TotpDevice.last_used_step < step))
        .values(last_used_step=step, **values)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    set_committed_value(device, "last_used_step", step)
    for key, value in values.items():
        set_committed_value(device, key, value)
    return True


async def confirm_setup(res: Resources, tx: Tx, user_id: str, *, secret: str,
                        code: str) -> TotpDevice:
    """POST /auth/mfa/verify-totp-setup: activate the user's device holding ``secret``
    when ``code`` is a current code for it. Always checks the code, also for a device
    that is already active. Raises MFA_CODE_INVALID "Invalid OTP" for an unknown, expired
    or foreign secret and for a wrong or replayed code."""
    _require_totp(res)
    invalid = AuthError(Code.MFA_CODE_INVALID, "Invalid OTP")
    if not rfc6238.valid_secret(secret):
        raise invalid
    now = res.clock.now()
    rows = (await tx.session.execute(
        select(TotpDevice).where(TotpDevice.user_id == user_id,
                                 TotpDevice.secret_lookup == _lookup(res, secret))
    )).scalars().all()
    for device in rows:
        if not device.verified and device.expires_at is not None and device.expires_at <= now:
            continue
        seed = decrypt_secret(res, device)
        if seed is None or not equal(seed, rfc6238.normalise_secret(secret)):
            continue
        step = rfc6238.verify(seed, code, at=now, params=params(res))
        if step is None:
            raise invalid
        was_verified = device.verified
        if not await _advance_step(tx.session, device, step, now, verified=True,
                                   expires_at=None):
            raise invalid
        rows_changed(res, tx, user_id)
        if not was_verified:
            tx.after_commit(lambda d=device: res.events.emit(  # type: ignore[misc]
                Event(MFA_DEVICE_ADDED, user_id, {"deviceId": d.id, "deviceName": d.device_name})))
        return device
    raise invalid


# listing and removal ---------------------------------------------------------------------
async def list_devices(res: Resources, s: AsyncSession, user_id: str) -> list[TotpDevice]:
    """GET /auth/mfa/devices: verified devices and unexpired set-ups, newest use first."""
    if not res.settings.mfa.enabled:
        raise AuthError(Code.MFA_NOT_ENABLED)
    return await policy.totp_devices(s, user_id, res.clock.now())


def _parse_id(device_id: str) -> str | None:
    try:
        return str(uuid.UUID(device_id))
    except (ValueError, AttributeError, TypeError):
        return None


async def disable_if_no_method(res: Resources, tx: Tx, user: UserSnapshot) -> bool:
    """After factors were removed, turn the user's MFA flag off (and revoke trusted
    devices) when no usable method is left. Returns True when MFA was turned off."""
    if await policy.verified_methods(res, tx.session, user, offered=False):
        return False
    result = await tx.session.execute(
        update(User).where(User.id == user.id, User.is_mfa_enabled.is_(True))
        .values(is_mfa_enabled=False, updated_at=res.clock.now())
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await revoke_all_trust(res, tx, user.id)

    async def _after() -> None:
        await res.store.user_changed(user.id)
        await res.events.emit(Event(MFA_DISABLED, user.id, {"reason": "no_method_left"}))

    tx.after_commit(_after)
    return True


async def remove_device(res: Resources, tx: Tx, user: UserSnapshot, device_id: str) -> None:
    """DELETE /auth/mfa/devices/{id}: remove one of the caller's devices. A missing id,
    another user's id and a malformed id all answer the same 404 MFA_DEVICE_NOT_FOUND."""
    if not res.settings.mfa.enabled:
        raise AuthError(Code.MFA_NOT_ENABLED)
    did = _parse_id(device_id)
    if did is None:
        raise AuthError(Code.MFA_DEVICE_NOT_FOUND)
    result = await tx.session.execute(
        delete(TotpDevice).where(TotpDevice.id == did, TotpDevice.user_id == user.id)
        .returning(TotpDevice.verified)
    )
    row = result.first()
    if row is None:
        raise AuthError(Code.MFA_DEVICE_NOT_FOUND)
    rows_changed(res, tx, user.id)
    if row[0]:
        await disable_if_no_method(res, tx, user)
        tx.after_commit(lambda: res.events.emit(
            Event(MFA_DEVICE_REMOVED, user.id, {"deviceId": did})))


# the login check -------------------------------------------------------------------------
async def verify_totp_for_user(res: Resources, tx: Tx, user_id: str,
                               code: str) -> TotpDevice | None:
    """The user's verified device for which ``code`` is valid now (±1 step) and not yet
    used, or None. On success the device's ``last_used_step``/``last_used_at`` are advanced
    in ``tx`` (conditional UPDATE), so once ``tx`` commits the same code — or an older one —
    is refused everywhere. Does not count attempts (see ``check_totp_login``)."""
    if not isinstance(code, str):
        return None
    now = res.clock.now()
    devices = (await tx.session.execute(
        select(TotpDevice).where(TotpDevice.user_id == user_id, TotpDevice.verified.is_(True))
        .order_by(TotpDevice.created_at)
    )).scalars().all()
    p = params(res)
    replayed: list[str] = []
    for device in devices:
        seed = decrypt_secret(res, device)
        if seed is None:
            continue
        step = rfc6238.verify(seed, code, at=now, params=p)
        if step is None:
            continue
        if await _advance_step(tx.session, device, step, now, last_used_at=now):
            rows_changed(res, tx, user_id)  # the status shows last_used_at
            return device
        replayed.append(device.id)  # right code, already used: logged, owner told (2.8.5)
    for did in replayed:
        tx.after_commit(lambda d=did: res.events.emit(  # type: ignore[misc]
            Event(MFA_TOTP_REPLAYED, user_id, {"deviceId": d})))
    return None


async def check_totp_login(res: Resources, user_id: str, code: str) -> TotpDevice:
    """The whole TOTP check of an MFA step: count the attempt (shared MFA limit), verify
    and burn the code in its own transaction, clear the counter on success.

    Raises MFA_NOT_ENABLED, MFA_METHOD_NOT_AVAILABLE (totp not configured),
    MFA_TOO_MANY_ATTEMPTS (429, even for the right code past the limit) or
    MFA_CODE_INVALID (401). Call it with no writer transaction open."""
    _require_totp(res)
    await attempts.check_and_count(res, attempts.MFA_SCOPE, user_id)
    async with transaction(res.sessionmaker) as tx:
        device = await verify_totp_for_user(res, tx, user_id, code)
    if device is None:
        raise AuthError(Code.MFA_CODE_INVALID)
    await attempts.clear(res, attempts.MFA_SCOPE, user_id)
    return device


# reset with a recovery code ----------------------------------------------------------------
async def reset_with_recovery_code(res: Resources, user: UserSnapshot, code: object) -> bool:
    """POST /auth/mfa/reset-totp: spend a recovery code and delete all the user's devices
    (one transaction) and revoke its trusted devices; MFA is turned off when no usable
    method remains. Does not verify the session. Returns whether MFA was turned off.

    Raises MFA_NOT_ENABLED, MFA_TOO_MANY_ATTEMPTS, MFA_RECOVERY_CODE_INVALID."""
    if not res.settings.mfa.enabled:
        raise AuthError(Code.MFA_NOT_ENABLED)
    await attempts.check_and_count(res, attempts.MFA_SCOPE, user.id)
    async with transaction(res.sessionmaker) as tx:
        if not await recovery_codes.consume(res, tx, user.id, code):
            raise AuthError(Code.MFA_RECOVERY_CODE_INVALID)
        removed = (await tx.session.execute(
            delete(TotpDevice).where(TotpDevice.user_id == user.id)
            .returning(TotpDevice.id, TotpDevice.verified)
        )).all()
        rows_changed(res, tx, user.id)
        # The authenticator may be lost or stolen: devices trusted through it go too.
        await revoke_all_trust(res, tx, user.id)
        disabled = await disable_if_no_method(res, tx, user)
        for dev_id, verified in removed:
            if verified:
                tx.after_commit(lambda d=dev_id: res.events.emit(  # type: ignore[misc]
                    Event(MFA_DEVICE_REMOVED, user.id, {"deviceId": d, "reason": "reset"})))
    await attempts.clear(res, attempts.MFA_SCOPE, user.id)
    return disabled


# key rotation -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RotationReport:
    rotated: int
    unchanged: int
    failed: int


async def rotate_encryption(maker: async_sessionmaker[AsyncSession], box: SecretBox, *,
                            batch: int = 200) -> RotationReport:
    """Re-encrypt every stored seed not under ``box``'s active key (``authgate rotate-keys``).

    Works in batches of ``batch`` rows, each in its own transaction; each row is written
    with ``WHERE secret_enc = <old value>`` so a row changed meanwhile by a running server
    is left alone rather than overwritten. Rows no configured key can open are counted as
    ``failed`` and left as they are."""
    rotated = unchanged = failed = 0
    last = ""
    while True:
        async with transaction(maker) as tx:
            rows = (await tx.session.execute(
                select(TotpDevice.id, TotpDevice.user_id, TotpDevice.secret_enc)
                .where(TotpDevice.id > last).order_by(TotpDevice.id).limit(batch)
            )).all()
            for dev_id, user_id, enc in rows:
                if not box.needs_rotation(enc):
                    unchanged += 1
                    continue
                try:
                    seed = box.decrypt(enc, aad=_aad(user_id))
                except SecretBoxError as exc:
                    log.error("TOTP device %s: cannot decrypt secret: %s", dev_id, exc)
                    failed += 1
                    continue
                result = await tx.session.execute(
                    update(TotpDevice)
                    .where(TotpDevice.id == dev_id, TotpDevice.secret_enc == enc)
                    .values(secret_enc=box.encrypt(seed, aad=_aad(user_id)))
                    .execution_options(synchronize_session=False)
                )
                rotated += int(result.rowcount)  # type: ignore[attr-defined]
        if len(rows) < batch:
            return RotationReport(rotated=rotated, unchanged=unchanged, failed=failed)
        last = rows[-1][0]
