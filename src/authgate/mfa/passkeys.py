"""Passkeys (WebAuthn, verified by py_webauthn): registration for a signed-in user, listing,
renaming and removal, and the assertion check behind the MFA step
(``mfa.methods.webauthn``) and passwordless sign-in (``accounts.providers.passkey``).

The rules, written once here:

* Challenges are 32 random bytes kept server-side (``WebauthnChallenge``, as a SHA-256)
  with their purpose (``register``/``mfa``/``login``), the user they were issued to and,
  for a registration, the session; they live ``webauthn.challenge_expires_in``. The
  challenge in the response's client data finds the row, and one ``DELETE ... RETURNING``
  spends it *before* the signature is looked at: a replay, a second concurrent use, a
  failed attempt and another user's challenge all end there (400
  PASSKEY_CHALLENGE_INVALID).
* Origin (``webauthn.origins``), RP id hash (``webauthn.rp_id``), type, challenge,
  signature, user presence and (per ``webauthn.user_verification``; always for a
  passwordless sign-in) user verification are checked by py_webauthn; nothing here parses
  CBOR or COSE.
* The signature counter: an authenticator that counts must present a larger count every
  time; a count that stands still or goes back is refused (401 PASSKEY_CLONE_DETECTED) and
  reported (event ``passkey.clone_detected``). The write is conditional
  (``WHERE sign_count < :new``), so two racing assertions cannot both pass it.
* A credential is looked up by its id *and* the user who asks (MFA step), or, without a
  user (passwordless), by its id alone with the response's user handle bound to its owner:
  another account's credential never signs anyone in.
* Registering, listing and renaming need a completed MFA step, except the enrolment
  exception authenticator set-up has (``mfa.totp.check_enrollment_allowed``); registering
  and removal also need the step-up window (``mfa.reauth_window``), and removing the last
  usable factor turns the account's MFA flag off, as for authenticator apps.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from authgate.errors import AuthError, Code
from authgate.events import (
    MFA_DEVICE_ADDED,
    MFA_DEVICE_REMOVED,
    PASSKEY_CLONE_DETECTED,
    Event,
)
from authgate.identity.snapshot import UserSnapshot
from authgate.mfa.changed import rows_changed
from authgate.mfa.models import WebauthnChallenge, WebauthnCredential
from authgate.mfa.reauth import require_recent_auth
from authgate.mfa.totp import disable_if_no_method
from authgate.resources import Resources
from authgate.sessions.service import Principal
from authgate.tx import readonly, transaction

if TYPE_CHECKING:
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor

log = logging.getLogger("authgate.mfa")

REGISTER = "register"
MFA = "mfa"
LOGIN = "login"
OPEN_CHALLENGES = 5
"""Unspent challenges kept per user and purpose; older ones are dropped for a new one."""
MAX_NAME = 64
TRANSPORTS = frozenset({"usb", "nfc", "ble", "smart-card", "hybrid", "internal", "cable"})


@dataclass(frozen=True, slots=True)
class Passkey:
    """What the routes show of a credential (never its key material)."""

    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    backed_up: bool
    transports: list[str]


def _view(row: WebauthnCredential) -> Passkey:
    return Passkey(id=row.id, name=row.name, created_at=row.created_at,
                   last_used_at=row.last_used_at, backed_up=row.backed_up,
                   transports=[t for t in row.transports.split(",") if t])


# settings ------------------------------------------------------------------------------------
def require_enabled(res: Resources) -> None:
    """PASSKEYS_NOT_ENABLED (403) unless passkeys are on (as an MFA method or for
    passwordless sign-in)."""
    if not res.settings.passkeys_used():
        raise AuthError(Code.PASSKEYS_NOT_ENABLED)


def _rp(res: Resources) -> tuple[str, list[str]]:
    cfg = res.settings.webauthn
    assert cfg.rp_id is not None  # Settings refuse passkeys without them
    return cfg.rp_id, list(cfg.origins)


def _timeout_ms(res: Resources) -> int:
    return int(res.settings.webauthn.challenge_expires_in.total_seconds() * 1000)


# challenges ----------------------------------------------------------------------------------
def _digest(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


async def _issue(res: Resources, purpose: str, user_id: str | None,
                 session_id: str | None) -> bytes:
    """A new challenge, stored (hashed) for one use. Expired ones are purged on the way;
    a user keeps at most ``OPEN_CHALLENGES`` unspent ones per purpose."""
    challenge = secrets.token_bytes(32)
    now = res.clock.now()
    async with transaction(res.sessionmaker) as tx:
        s = tx.session
        await s.execute(delete(WebauthnChallenge).where(WebauthnChallenge.expires_at <= now))
        if user_id is not None:
            keep = select(WebauthnChallenge.id).where(
                WebauthnChallenge.user_id == user_id, WebauthnChallenge.purpose == purpose
            ).order_by(WebauthnChallenge.created_at.desc()).limit(OPEN_CHALLENGES - 1)
            await s.execute(delete(WebauthnChallenge).where(
                WebauthnChallenge.user_id == user_id, WebauthnChallenge.purpose == purpose,
                WebauthnChallenge.id.not_in(keep.scalar_subquery())))
        s.add(WebauthnChallenge(
            challenge_hash=_digest(challenge), purpose=purpose, user_id=user_id,
            session_id=session_id, expires_at=now + res.settings.webauthn.challenge_expires_in,
            created_at=now))
    return challenge


async def _spend(res: Resources, challenge: bytes, purpose: str, user_id: str | None,
                 session_id: str | None) -> None:
    """Delete the challenge issued for this purpose, user and session, or raise
    PASSKEY_CHALLENGE_INVALID (unknown, spent, expired, or issued to someone else)."""
    q = delete(WebauthnChallenge).where(
        WebauthnChallenge.challenge_hash == _digest(challenge),
        WebauthnChallenge.purpose == purpose)
    q = q.where(WebauthnChallenge.user_id.is_(None) if user_id is None
                else WebauthnChallenge.user_id == user_id)
    if session_id is not None:
        q = q.where(WebauthnChallenge.session_id == session_id)
    async with transaction(res.sessionmaker) as tx:
        row = (await tx.session.execute(q.returning(WebauthnChallenge.expires_at))).first()
    if row is None or row[0] <= res.clock.now():
        raise AuthError(Code.PASSKEY_CHALLENGE_INVALID)


def parse_credential(raw: object, failure: Code) -> dict[str, Any]:
    """A ``PublicKeyCredential`` as JSON (``credential.toJSON()``): an object, or a string
    holding one (the MFA step's ``otp``). Anything else is ``failure``."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise AuthError(failure, "The passkey response is not JSON") from None
    if not isinstance(raw, dict):
        raise AuthError(failure, "The passkey response must be a PublicKeyCredential object")
    return raw


def _client_challenge(credential: dict[str, Any], failure: Code) -> bytes:
    """The challenge the browser signed over (``response.clientDataJSON``)."""
    from webauthn.helpers import base64url_to_bytes, parse_client_data_json

    response = credential.get("response")
    data = response.get("clientDataJSON") if isinstance(response, dict) else None
    if not isinstance(data, str):
        raise AuthError(failure, "response.clientDataJSON is missing")
    try:
        return parse_client_data_json(base64url_to_bytes(data)).challenge
    except Exception:  # malformed base64url / JSON: the same refusal as a bad signature
        raise AuthError(failure, "response.clientDataJSON is malformed") from None


def _credential_id(credential: dict[str, Any], failure: Code) -> str:
    raw = credential.get("id")
    if not isinstance(raw, str) or not raw or len(raw) > 1400:
        raise AuthError(failure, "The credential id is missing or malformed")
    return raw


# registration --------------------------------------------------------------------------------
async def _rows(res: Resources, user_id: str) -> list[WebauthnCredential]:
    async with readonly(res.readmaker) as s:
        return list((await s.execute(
            select(WebauthnCredential).where(WebauthnCredential.user_id == user_id)
            .order_by(WebauthnCredential.created_at, WebauthnCredential.id)
        )).scalars().all())


def _descriptors(rows: list[WebauthnCredential]) -> list[PublicKeyCredentialDescriptor]:
    from webauthn.helpers import base64url_to_bytes
    from webauthn.helpers.structs import AuthenticatorTransport, PublicKeyCredentialDescriptor

    known = {t.value for t in AuthenticatorTransport}
    return [PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(r.credential_id),
        transports=[AuthenticatorTransport(t) for t in r.transports.split(",") if t in known]
        or None) for r in rows]


def _options(opts: Any) -> dict[str, Any]:
    from webauthn import options_to_json

    out: dict[str, Any] = json.loads(options_to_json(opts))
    return out


async def registration_options(res: Resources, principal: Principal) -> dict[str, Any]:
    """``PublicKeyCredentialCreationOptions`` (JSON) for the caller; the challenge is bound
    to the caller and this session. Raises PASSKEYS_NOT_ENABLED, REAUTH_REQUIRED (a new
    factor outlives the token that enrolled it: issue #19 item 5), PASSKEY_LIMIT_REACHED."""
    from webauthn import generate_registration_options
    from webauthn.helpers.structs import (
        AttestationConveyancePreference,
        AuthenticatorSelectionCriteria,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    require_enabled(res)
    require_recent_auth(res, principal)
    user = principal.user
    cfg = res.settings.webauthn
    rows = await _rows(res, user.id)
    if len(rows) >= cfg.max_credentials:
        raise AuthError(Code.PASSKEY_LIMIT_REACHED)
    challenge = await _issue(res, REGISTER, user.id, principal.session.id)
    rp_id, _ = _rp(res)
    label = user.email or user.phone or user.id
    return _options(generate_registration_options(
        rp_id=rp_id, rp_name=cfg.rp_name or res.settings.app_name, user_name=label,
        user_id=user.id.encode(), user_display_name=label, challenge=challenge,
        timeout=_timeout_ms(res), attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement(cfg.resident_key),
            require_resident_key=cfg.resident_key == "required",
            user_verification=UserVerificationRequirement(cfg.user_verification)),
        exclude_credentials=_descriptors(rows)))


def _clean_name(name: str | None, fallback: str) -> str:
    cleaned = " ".join((name or "").split())[:MAX_NAME]
    return cleaned or fallback


async def register(res: Resources, principal: Principal, raw: object,
                   name: str | None) -> Passkey:
    """Verify a registration response against the challenge this session was given and
    store the credential. Raises PASSKEYS_NOT_ENABLED, REAUTH_REQUIRED,
    PASSKEY_CHALLENGE_INVALID, PASSKEY_REGISTRATION_FAILED, PASSKEY_ALREADY_REGISTERED,
    PASSKEY_LIMIT_REACHED."""
    from webauthn import verify_registration_response
    from webauthn.helpers import bytes_to_base64url

    require_enabled(res)
    require_recent_auth(res, principal)
    failure = Code.PASSKEY_REGISTRATION_FAILED
    user = principal.user
    credential = parse_credential(raw, failure)
    challenge = _client_challenge(credential, failure)
    await _spend(res, challenge, REGISTER, user.id, principal.session.id)
    rp_id, origins = _rp(res)
    cfg = res.settings.webauthn
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id,
            expected_origin=origins,
            require_user_verification=cfg.user_verification == "required")
    except Exception as exc:  # any refusal of py_webauthn, whatever its class
        log.info("passkey registration refused: %s", type(exc).__name__)
        raise AuthError(failure) from None
    response = credential.get("response")
    hints = response.get("transports") if isinstance(response, dict) else None
    transports = [t for t in hints if t in TRANSPORTS] if isinstance(hints, list) else []
    now = res.clock.now()
    async with transaction(res.sessionmaker) as tx:
        count = (await tx.session.execute(
            select(func.count()).select_from(WebauthnCredential)
            .where(WebauthnCredential.user_id == user.id))).scalar_one()
        if count >= cfg.max_credentials:
            raise AuthError(Code.PASSKEY_LIMIT_REACHED)
        row = WebauthnCredential(
            id=str(uuid.uuid4()), user_id=user.id,
            credential_id=bytes_to_base64url(verified.credential_id),
            public_key=bytes_to_base64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            name=_clean_name(name, f"Passkey {count + 1}"),
            transports=",".join(dict.fromkeys(transports)), aaguid=verified.aaguid,
            backup_eligible=verified.credential_device_type == "multi_device",
            backed_up=verified.credential_backed_up, last_used_at=None, created_at=now)
        tx.session.add(row)
        rows_changed(res, tx, user.id)
        try:
            await tx.session.flush()
        except IntegrityError:  # the unique credential id: this or another account has it
            raise AuthError(Code.PASSKEY_ALREADY_REGISTERED) from None
        tx.after_commit(lambda: res.events.emit(Event(MFA_DEVICE_ADDED, user.id, {
            "deviceId": row.id, "deviceName": row.name, "method": "webauthn"})))
    return _view(row)


# listing, renaming, removal --------------------------------------------------------------------
async def list_passkeys(res: Resources, principal: Principal) -> list[Passkey]:
    require_enabled(res)
    return [_view(r) for r in await _rows(res, principal.user.id)]


def _parse_id(passkey_id: str) -> str:
    try:
        return str(uuid.UUID(passkey_id))
    except (ValueError, AttributeError, TypeError):
        raise AuthError(Code.PASSKEY_NOT_FOUND) from None


async def rename(res: Resources, principal: Principal, passkey_id: str, name: str) -> Passkey:
    """Raises PASSKEYS_NOT_ENABLED, PASSKEY_NOT_FOUND (also for another user's id)."""
    require_enabled(res)
    pid = _parse_id(passkey_id)
    async with transaction(res.sessionmaker) as tx:
        row = (await tx.session.execute(
            select(WebauthnCredential).where(WebauthnCredential.id == pid,
                                             WebauthnCredential.user_id == principal.user.id)
        )).scalar_one_or_none()
        if row is None:
            raise AuthError(Code.PASSKEY_NOT_FOUND)
        row.name = _clean_name(name, row.name)
        rows_changed(res, tx, principal.user.id)
    return _view(row)


async def remove(res: Resources, principal: Principal, passkey_id: str) -> None:
    """Raises REAUTH_REQUIRED, PASSKEYS_NOT_ENABLED, PASSKEY_NOT_FOUND. Removing the last
    usable factor turns the account's MFA flag off (``totp.disable_if_no_method``)."""
    require_recent_auth(res, principal)
    require_enabled(res)
    pid = _parse_id(passkey_id)
    user = principal.user
    async with transaction(res.sessionmaker) as tx:
        found = (await tx.session.execute(
            delete(WebauthnCredential).where(WebauthnCredential.id == pid,
                                             WebauthnCredential.user_id == user.id)
            .returning(WebauthnCredential.id))).first()
        if found is None:
            raise AuthError(Code.PASSKEY_NOT_FOUND)
        rows_changed(res, tx, user.id)
        await disable_if_no_method(res, tx, user)
        tx.after_commit(lambda: res.events.emit(Event(MFA_DEVICE_REMOVED, user.id, {
            "deviceId": pid, "method": "webauthn"})))


# assertions ------------------------------------------------------------------------------------
async def assertion_options(res: Resources, purpose: str,
                            user: UserSnapshot | None) -> dict[str, Any]:
    """``PublicKeyCredentialRequestOptions`` (JSON). With a user (the MFA step) they list
    the user's credentials and the challenge is bound to the user; without one
    (passwordless) the list is empty, for a discoverable credential, and user verification
    is required. Raises MFA_METHOD_NOT_AVAILABLE (a user without passkeys)."""
    from webauthn import generate_authentication_options
    from webauthn.helpers.structs import UserVerificationRequirement

    require_enabled(res)
    rows: list[WebauthnCredential] = []
    if user is not None:
        rows = await _rows(res, user.id)
        if not rows:
            raise AuthError(Code.MFA_METHOD_NOT_AVAILABLE)
    challenge = await _issue(res, purpose, user.id if user else None, None)
    uv = res.settings.webauthn.user_verification if user is not None else "required"
    rp_id, _ = _rp(res)
    return _options(generate_authentication_options(
        rp_id=rp_id, challenge=challenge, timeout=_timeout_ms(res),
        allow_credentials=_descriptors(rows),
        user_verification=UserVerificationRequirement(uv)))


async def login_options(res: Resources) -> dict[str, Any]:
    """Options for a passwordless sign-in. Raises PASSKEYS_NOT_ENABLED unless
    ``webauthn.passwordless``."""
    if not res.settings.webauthn.passwordless:
        raise AuthError(Code.PASSKEYS_NOT_ENABLED, "Passkey sign-in is not enabled")
    return await assertion_options(res, LOGIN, None)


async def check_assertion(res: Resources, raw: object, purpose: str,
                          user: UserSnapshot | None) -> str:
    """Verify an assertion and advance the credential's counter; returns the owner's id.

    ``user``: the MFA step's user (the credential must be theirs); None for passwordless
    sign-in (the credential's owner, who must match the user handle; UV required). Raises
    PASSKEY_INVALID (malformed, unknown or foreign credential, wrong origin or RP id, bad
    signature, no UV where required), PASSKEY_CHALLENGE_INVALID, PASSKEY_CLONE_DETECTED.
    """
    from webauthn import verify_authentication_response
    from webauthn.helpers import base64url_to_bytes

    require_enabled(res)
    failure = Code.PASSKEY_INVALID
    credential = parse_credential(raw, failure)
    challenge = _client_challenge(credential, failure)
    cred_id = _credential_id(credential, failure)
    await _spend(res, challenge, purpose, user.id if user else None, None)
    q = select(WebauthnCredential).where(WebauthnCredential.credential_id == cred_id)
    if user is not None:
        q = q.where(WebauthnCredential.user_id == user.id)
    async with readonly(res.readmaker) as s:
        row = (await s.execute(q)).scalar_one_or_none()
    if row is None:
        raise AuthError(failure)
    if user is None and not _handle_matches(credential, row.user_id):
        raise AuthError(failure)
    rp_id, origins = _rp(res)
    require_uv = user is None or res.settings.webauthn.user_verification == "required"
    try:
        verified = verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id,
            expected_origin=origins, credential_public_key=base64url_to_bytes(row.public_key),
            credential_current_sign_count=0,  # the counter is checked below, atomically
            require_user_verification=require_uv)
    except Exception as exc:  # any refusal of py_webauthn, whatever its class
        log.info("passkey assertion refused: %s", type(exc).__name__)
        raise AuthError(failure) from None
    await _advance_counter(res, row, verified.new_sign_count, verified.credential_backed_up)
    return row.user_id


def _handle_matches(credential: dict[str, Any], user_id: str) -> bool:
    """A discoverable credential's user handle (our user id) names its owner."""
    from webauthn.helpers import base64url_to_bytes

    response = credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    if handle is None:
        return True  # optional in the response; the credential id alone found the owner
    if not isinstance(handle, str):
        return False
    try:
        return secrets.compare_digest(base64url_to_bytes(handle), user_id.encode())
    except Exception:
        return False


async def _advance_counter(res: Resources, row: WebauthnCredential, new: int,
                           backed_up: bool) -> None:
    """Store the new signature count when it moved forward (or both are 0: an
    authenticator that does not count); otherwise refuse and report a possible clone."""
    now = res.clock.now()
    cond = (WebauthnCredential.sign_count == 0 if new == 0
            else WebauthnCredential.sign_count < new)
    async with transaction(res.sessionmaker) as tx:
        result = await tx.session.execute(
            update(WebauthnCredential).where(WebauthnCredential.id == row.id, cond)
            .values(sign_count=new, last_used_at=now, backed_up=backed_up)
            .execution_options(synchronize_session=False))
        moved = bool(result.rowcount)  # type: ignore[attr-defined]
    if not moved:
        log.warning("passkey %s: signature counter %s after %s (possible clone)",
                    row.id, new, row.sign_count)
        await res.events.emit(Event(PASSKEY_CLONE_DETECTED, row.user_id, {
            "credentialId": row.id, "storedCount": row.sign_count, "presentedCount": new}))
        raise AuthError(Code.PASSKEY_CLONE_DETECTED)
