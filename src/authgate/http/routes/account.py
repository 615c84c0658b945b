"""/auth/account: the owner's data rights (ASVS 8.3.2; beyond the contract, which has no
self-service export or deletion): ``GET /auth/account/export`` and ``DELETE /auth/account``
(flows in ``authgate.privacy``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import Field, StrictStr
from starlette.requests import Request
from starlette.responses import Response

from authgate.http import cookies
from authgate.http.deps import Client, MfaCompleted, Res
from authgate.http.rate_limits import rate_limit
from authgate.http.schemas import (
    SECURED,
    ActivityEntryOut,
    MessageOut,
    RoleOut,
    SessionOut,
    _In,
    _Out,
    errors,
    iso,
    respond,
)
from authgate.http.serializers import activity_entry, session_out
from authgate.privacy import erasure
from authgate.privacy.export import AccountExport, RoleHeld, export

router = APIRouter(prefix="/account", tags=["Account"])


def _at(t: datetime | None) -> str | None:
    return iso(t) if t is not None else None


class ProfileOut(_Out):
    id: str
    email: str | None
    phone: str | None
    emailVerifiedAt: str | None
    phoneVerifiedAt: str | None
    status: str
    isMfaEnabled: bool
    mustChangePassword: bool
    hasPassword: bool = Field(description="Whether a password is set (never the hash)")
    passwordChangedAt: str | None
    metadata: dict[str, Any]
    tenantId: str | None
    createdAt: str
    updatedAt: str


class MembershipOut(_Out):
    tenantId: str
    name: str
    slug: str | None
    isDefault: bool
    status: str
    roles: list[RoleOut]
    joinedAt: str


class TotpDeviceOut(_Out):
    id: str
    deviceName: str
    verified: bool
    createdAt: str
    lastUsedAt: str | None


class RecoveryCodesOut(_Out):
    total: int
    unused: int


class TrustedDeviceOut(_Out):
    id: str
    userAgent: str | None
    ipAddress: str | None
    createdAt: str
    lastUsedAt: str | None
    expiresAt: str
    revokedAt: str | None


class MfaDataOut(_Out):
    totpDevices: list[TotpDeviceOut]
    recoveryCodes: RecoveryCodesOut = Field(description="Counts only: codes are kept hashed")
    trustedDevices: list[TrustedDeviceOut]


class PasskeyOut(_Out):
    id: str
    name: str
    transports: list[str]
    backedUp: bool
    createdAt: str
    lastUsedAt: str | None


class IdentityOut(_Out):
    id: str
    provider: str
    subject: str = Field(description="The account's id at the provider")
    email: str | None
    emailVerified: bool
    details: dict[str, Any]
    createdAt: str
    lastUsedAt: str | None


class ApiKeyOut(_Out):
    id: str
    name: str
    description: str | None
    publicKey: str = Field(description="The key's public part (the secret is never stored)")
    tenantId: str | None
    revokedAt: str | None
    expiresAt: str | None
    lastUsedAt: str | None
    createdAt: str


class AccountExportOut(_Out):
    exportedAt: str
    profile: ProfileOut
    roles: list[RoleOut] = Field(description="Roles held outside tenants")
    tenants: list[MembershipOut]
    sessions: list[SessionOut]
    mfa: MfaDataOut
    passkeys: list[PasskeyOut]
    identities: list[IdentityOut]
    apiKeys: list[ApiKeyOut]
    activity: list[ActivityEntryOut] = Field(
        description="Security activity from the audit trail, newest first (as GET /auth/activity)")


class DeleteAccountIn(_In):
    confirm: Literal["DELETE"] = Field(..., description='Exactly "DELETE": the caller means it')
    password: StrictStr | None = Field(
        None, min_length=1, description="The account's password; without it the session must "
                                        "have signed in within the step-up window")


def _role(r: RoleHeld) -> RoleOut:
    return RoleOut(id=r.id, name=r.name, guard=r.guard)


def _export_out(d: AccountExport, current_session: str) -> AccountExportOut:
    u = d.user
    return AccountExportOut(
        exportedAt=iso(d.exported_at) or "",
        profile=ProfileOut(
            id=u.id, email=u.email, phone=u.phone, emailVerifiedAt=_at(u.email_verified_at),
            phoneVerifiedAt=_at(u.phone_verified_at), status=u.status,
            isMfaEnabled=bool(u.is_mfa_enabled), mustChangePassword=bool(u.must_change_password),
            hasPassword=u.password_hash is not None,
            passwordChangedAt=_at(u.password_changed_at), metadata=dict(u.meta or {}),
            tenantId=u.tenant_id, createdAt=iso(u.created_at) or "",
            updatedAt=iso(u.updated_at) or ""),
        roles=[_role(r) for r in d.roles],
        tenants=[MembershipOut(tenantId=m.tenant_id, name=m.name, slug=m.slug,
                               isDefault=m.is_default, status=m.status,
                               roles=[_role(r) for r in m.roles],
                               joinedAt=iso(m.joined_at) or "") for m in d.memberships],
        sessions=[session_out(s, current_session) for s in d.sessions],
        mfa=MfaDataOut(
            totpDevices=[TotpDeviceOut(id=t.id, deviceName=t.device_name, verified=t.verified,
                                       createdAt=iso(t.created_at) or "",
                                       lastUsedAt=_at(t.last_used_at))
                         for t in d.totp_devices],
            recoveryCodes=RecoveryCodesOut(total=d.recovery_codes_total,
                                           unused=d.recovery_codes_unused),
            trustedDevices=[TrustedDeviceOut(id=t.id, userAgent=t.user_agent,
                                             ipAddress=t.ip_address,
                                             createdAt=iso(t.created_at) or "",
                                             lastUsedAt=_at(t.last_used_at),
                                             expiresAt=iso(t.expires_at) or "",
                                             revokedAt=_at(t.revoked_at))
                            for t in d.trusted_devices]),
        passkeys=[PasskeyOut(id=p.id, name=p.name,
                             transports=[x for x in p.transports.split(",") if x],
                             backedUp=bool(p.backed_up), createdAt=iso(p.created_at) or "",
                             lastUsedAt=_at(p.last_used_at)) for p in d.passkeys],
        identities=[IdentityOut(id=i.id, provider=i.provider, subject=i.subject, email=i.email,
                                emailVerified=bool(i.email_verified), details=dict(i.meta or {}),
                                createdAt=iso(i.created_at) or "",
                                lastUsedAt=_at(i.last_used_at)) for i in d.identities],
        apiKeys=[ApiKeyOut(id=k.id, name=k.name, description=k.description,
                           publicKey=k.public_key, tenantId=k.tenant_scope or None,
                           revokedAt=_at(k.revoked_at), expiresAt=_at(k.expires_at),
                           lastUsedAt=_at(k.last_used_at), createdAt=iso(k.created_at) or "")
                 for k in d.api_keys],
        activity=[activity_entry(e) for e in d.activity],
    )


@router.get("/export", response_model=AccountExportOut, responses=errors(401, 403),
            dependencies=[rate_limit("account_export")],
            summary="Everything authgate holds about the caller (never a secret)",
            openapi_extra=SECURED)
async def export_account(res: Res, principal: MfaCompleted) -> Response:
    data = await export(res, principal)
    return respond(_export_out(data, principal.session.id))


@router.delete("", response_model=MessageOut, responses=errors(400, 401, 403, 429),
               summary="Delete the caller's account and everything it holds (irreversible)",
               openapi_extra=SECURED)
async def delete_account(body: DeleteAccountIn, request: Request, res: Res,
                         principal: MfaCompleted, client: Client) -> Response:
    await erasure.delete_account(res, principal, password=body.password, client=client)
    response = respond(MessageOut(message="Account deleted"))
    cookies.clear_tokens(res.settings, request, response)
    return response
