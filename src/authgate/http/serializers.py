"""Serialisers from records to the contract's JSON objects."""

from __future__ import annotations

from typing import Any

from authgate.http.schemas import iso
from authgate.identity.snapshot import UserSnapshot
from authgate.mfa.methods.totp import METHOD as TOTP
from authgate.mfa.models import TotpDevice
from authgate.mfa.policy import DeviceInfo


def user_row(u: UserSnapshot) -> dict[str, Any]:
    """GET /auth/user: the user row, minus every secret."""
    return {
        "id": u.id,
        "email": u.email,
        "emailVerifiedAt": iso(u.email_verified_at),
        "phone": u.phone,
        "phoneVerifiedAt": iso(u.phone_verified_at),
        "isActive": u.is_active,
        "mustChangePassword": u.must_change_password,
        "metadata": u.meta,
        "isMfaEnabled": u.is_mfa_enabled,
        "mfaRecoveryCode": None,
        "createdAt": iso(u.created_at),
        "updatedAt": iso(u.updated_at),
    }


def device(d: TotpDevice | DeviceInfo) -> dict[str, Any]:
    return {
        "id": d.id,
        "deviceName": d.device_name,
        "method": TOTP.name,
        "lastUsedAt": iso(d.last_used_at),
        "createdAt": iso(d.created_at),
        "verified": d.verified,
    }
