"""Request and response models of the admin console routes (camelCase on the wire)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictBool, StrictStr, field_validator

from authgate.admin.sessions import SafeAdmin
from authgate.http.schemas import _In, _Out, iso
from authgate.identity.store import valid_email


class _EmailIn(_In):
    email: StrictStr = Field(..., max_length=320, examples=["admin@example.com"])

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if not valid_email(v.strip()):
            raise ValueError("must be an email")
        return v


class AdminSignupIn(_EmailIn):
    password: StrictStr = Field(..., max_length=1024, examples=["Str0ng-Admin-Pass!"])
    secretKey: StrictStr = Field(..., min_length=1, max_length=1024)
    name: StrictStr | None = Field(None, max_length=255)
    metadata: dict[str, Any] | None = None


class AdminLoginIn(_EmailIn):
    password: StrictStr = Field(..., min_length=1, max_length=1024)
    totpCode: StrictStr | None = Field(None, max_length=16, description=(
        "The admin's authenticator code, when they turned two-factor sign-in on"))


class AdminLogoutIn(_In):
    everywhere: StrictBool = Field(False, description="End every session of this admin")


class AdminCreateIn(_EmailIn):
    password: StrictStr = Field(..., max_length=1024)
    name: StrictStr | None = Field(None, max_length=255)


class AdminUpdateIn(_In):
    name: StrictStr | None = Field(None, max_length=255)
    password: StrictStr | None = Field(None, max_length=1024)


class AdminResetPasswordIn(_EmailIn):
    secretKey: StrictStr = Field(..., min_length=1, max_length=1024)
    newPassword: StrictStr = Field(..., max_length=1024)


class TotpCodeIn(_In):
    code: StrictStr = Field(..., min_length=1, max_length=16, examples=["123456"])


class SafeAdminOut(_Out):
    id: str
    email: str
    name: str | None
    metadata: dict[str, Any]
    lastLoginAt: str | None
    createdAt: str
    updatedAt: str
    totpEnabled: bool


def admin_out(a: SafeAdmin) -> SafeAdminOut:
    return SafeAdminOut(id=a.id, email=a.email, name=a.name, metadata=a.metadata,
                        lastLoginAt=iso(a.last_login_at), createdAt=iso(a.created_at) or "",
                        updatedAt=iso(a.updated_at) or "", totpEnabled=a.totp_enabled)


class AdminMessageOut(_Out):
    message: str
    admin: SafeAdminOut


class AdminOut(_Out):
    admin: SafeAdminOut


class AdminListOut(_Out):
    data: list[SafeAdminOut]


class ConsoleConfigOut(_Out):
    allowAdminManagement: bool


class StatsCountsOut(_Out):
    totalUsers: int
    activeUsers: int
    verifiedUsers: int
    totalRoles: int
    totalTenants: int
    recentSignups: int


class ActivityOut(_Out):
    name: str
    users: int
    date: str
    """The UTC day (``YYYY-MM-DD``)."""
    logins: int | None = None
    """Sessions started that day (database session storage only)."""


class StatsOut(_Out):
    stats: StatsCountsOut
    activityData: list[ActivityOut]


class TotpSetupOut(_Out):
    secret: str
    otpauthUrl: str
    qrCode: str
    """An SVG data URI of the otpauth URL."""


class AuditEntryOut(_Out):
    """One row of the audit trail. ``action`` is the event (``user.logged_in``) or the
    admin action (``user.update``); ``actor`` the user or admin who caused it (None: the
    console's secret key, an unknown account, the system)."""

    id: str
    at: str
    actor: str | None
    actorEmail: str | None
    action: str
    target: str | None
    ip: str | None
    details: dict[str, Any]
    actorType: str
    """``user``, ``admin``, ``cli`` or ``system``."""
    userId: str | None
    """The account concerned."""
    outcome: str
    """``success`` or ``failure`` (a refused or suspicious attempt)."""
    tenantId: str | None
    userAgent: str | None


class AuditMetaOut(_Out):
    page: int
    limit: int
    total: int
    totalPages: int


class AuditListOut(_Out):
    data: list[AuditEntryOut]
    meta: AuditMetaOut
