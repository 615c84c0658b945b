"""From records to the response models (``authgate.http.schemas``), the one definition of
each response shape."""

from __future__ import annotations

from authgate.audit.query import Entry
from authgate.http.schemas import (
    ActivityEntryOut,
    MeOut,
    MePendingOut,
    MfaDeviceOut,
    MfaStatusOut,
    PasskeyOut,
    RoleOut,
    SessionOut,
    UserOut,
    iso,
)
from authgate.identity.snapshot import UserSnapshot
from authgate.mfa.methods.totp import METHOD as TOTP
from authgate.mfa.models import TotpDevice
from authgate.mfa.passkeys import Passkey
from authgate.mfa.policy import DeviceInfo, MfaStatus
from authgate.sessions.records import SessionRecord


def user_row(u: UserSnapshot) -> UserOut:
    """GET /auth/user: the user row, minus every secret."""
    return UserOut(
        id=u.id,
        email=u.email,
        emailVerifiedAt=iso(u.email_verified_at),
        phone=u.phone,
        phoneVerifiedAt=iso(u.phone_verified_at),
        isActive=u.is_active,
        mustChangePassword=u.must_change_password,
        metadata=u.meta,
        isMfaEnabled=u.is_mfa_enabled,
        mfaRecoveryCode=None,
        createdAt=iso(u.created_at),
        updatedAt=iso(u.updated_at),
    )


def me(u: UserSnapshot, session: SessionRecord) -> MeOut:
    """GET /auth/me: the user and the roles/permissions captured in the session."""
    data = session.data
    return MeOut(
        id=u.id, email=u.email, phone=u.phone,
        emailVerifiedAt=iso(u.email_verified_at), phoneVerifiedAt=iso(u.phone_verified_at),
        isMfaEnabled=u.is_mfa_enabled, metadata=u.meta,
        mustChangePassword=u.must_change_password,
        roles=[RoleOut(id=r.get("id"), name=r.get("name"), guard=r.get("guard"))
               for r in data.get("roles", [])],
        permissions=list(data.get("permissions", [])),
    )


def me_pending(u: UserSnapshot) -> MePendingOut:
    """GET /auth/me from an MFA-pending session (issue #12): the account id (also in the
    token) and whether MFA is on for the account, nothing personal."""
    return MePendingOut(id=u.id, isMfaEnabled=u.is_mfa_enabled)


def passkey(p: Passkey) -> PasskeyOut:
    return PasskeyOut(id=p.id, name=p.name, createdAt=iso(p.created_at) or "",
                      lastUsedAt=iso(p.last_used_at), backedUp=p.backed_up,
                      transports=p.transports)


def device(d: TotpDevice | DeviceInfo) -> MfaDeviceOut:
    return MfaDeviceOut(
        id=d.id,
        deviceName=d.device_name,
        method=TOTP.name,
        lastUsedAt=iso(d.last_used_at),
        createdAt=iso(d.created_at),
        verified=d.verified,
    )


def mfa_status(st: MfaStatus) -> MfaStatusOut:
    return MfaStatusOut(
        isEnabled=st.is_enabled,
        verifiedMethods=st.verified_methods,
        configuredMethods=st.configured_methods,
        allowUserToggle=st.allow_user_toggle,
        allowMethodSelection=st.allow_method_selection,
        totpDevices=[device(d) for d in st.totp_devices],
        hasRecoveryCode=st.has_recovery_code,
        required=st.required,
        canToggle=st.can_toggle,
    )


def activity_entry(e: Entry) -> ActivityEntryOut:
    """One audit row as its owner sees it (``GET /auth/activity``, the account export)."""
    return ActivityEntryOut(id=e.id, at=iso(e.at) or "", event=e.event,
                            outcome="failure" if e.outcome == "failure" else "success",
                            actorType=e.actor_type, target=e.target, ip=e.ip,
                            userAgent=e.user_agent, details=e.details)


def session_out(rec: SessionRecord, current_id: str) -> SessionOut:
    """One of the caller's sessions (``GET /auth/sessions``, the account export)."""
    return SessionOut(id=rec.id, deviceName=rec.device_name, userAgent=rec.user_agent,
                      ipAddress=rec.ip_address, createdAt=iso(rec.created_at) or "",
                      lastActive=iso(rec.last_active) or "",
                      expiresAt=iso(rec.expires_at) or "", isCurrent=rec.id == current_id,
                      isMfaPending=rec.mfa_state == "pending")
