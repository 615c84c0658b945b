"""Response models of the management API (contract §2.7 shapes) and the functions that
build them from the flows' records: the one definition of each shape."""

from __future__ import annotations

from typing import Any

from authgate.admin.roles_view import RoleView
from authgate.admin.users import AdminUser, UserDetail
from authgate.clock import iso_millis as iso
from authgate.http.schemas import MessageOut, _Out
from authgate.identity.models import Permission, Tenant
from authgate.resources import Resources
from authgate.sessions.records import SessionRecord
from authgate.sessions.service import device_name
from authgate.tenancy.service import TenantView

__all__ = ["MessageOut"]


class TenantRefOut(_Out):
    id: str
    name: str
    slug: str | None


class AdminRoleOut(_Out):
    id: str
    name: str
    guard: str
    isSystem: bool
    isActive: bool
    tenantId: str | None
    tenant: TenantRefOut | None = None
    permissions: list[str]
    createdAt: str | None
    updatedAt: str | None


class RoleOut(_Out):
    role: AdminRoleOut


class RolesOut(_Out):
    data: list[AdminRoleOut]


class AdminTenantOut(_Out):
    id: str
    name: str
    slug: str | None
    description: str | None
    metadata: dict[str, Any]
    createdAt: str | None
    updatedAt: str | None


class TenantOut(_Out):
    tenant: AdminTenantOut


class TenantsOut(_Out):
    data: list[AdminTenantOut]


class AdminPermissionOut(_Out):
    id: str
    name: str
    guard: str
    description: str | None
    category: str | None
    createdAt: str | None
    updatedAt: str | None


class PermissionOut(_Out):
    permission: AdminPermissionOut


class PermissionsOut(_Out):
    data: list[AdminPermissionOut]


class NamesOut(_Out):
    data: list[str]


class AccessOut(_Out):
    id: str
    userId: str
    tenantId: str | None
    tenant: TenantRefOut | None
    roles: list[AdminRoleOut]
    isDefault: bool
    status: str
    metadata: dict[str, Any]
    createdAt: str | None
    updatedAt: str | None


class SafeUserOut(_Out):
    id: str
    email: str | None
    phone: str | None
    userAccesses: list[AccessOut]
    platformAccess: dict[str, Any] | None
    isPlatformUser: bool
    isActive: bool
    emailVerifiedAt: str | None
    phoneVerifiedAt: str | None
    metadata: dict[str, Any]
    createdAt: str | None
    updatedAt: str | None
    isMfaEnabled: bool


class UserOut(_Out):
    user: SafeUserOut


class UserListOut(_Out):
    data: list[SafeUserOut]
    meta: dict[str, Any]


class SessionOut(_Out):
    id: str
    userId: str
    deviceName: str
    userAgent: str | None
    ipAddress: str | None
    lastActive: str | None
    createdAt: str | None
    expiresAt: str | None


class SessionsOut(_Out):
    data: list[SessionOut]


class TrustedDeviceOut(_Out):
    id: str
    userAgent: str | None
    ipAddress: str | None
    expiresAt: str | None
    revokedAt: str | None
    lastUsedAt: str | None
    createdAt: str | None


class TotpDeviceOut(_Out):
    id: str
    deviceName: str
    verified: bool
    lastUsedAt: str | None
    createdAt: str | None


class IdentityOut(_Out):
    provider: str
    providerId: str
    verified: bool


class AdminMfaOut(_Out):
    isEnabled: bool
    allowUserToggle: bool
    availableMethods: list[str]
    enabledMethods: list[str]
    hasRecoveryCode: bool
    totpDevices: list[TotpDeviceOut]


class UserDetailOut(_Out):
    user: SafeUserOut
    identities: list[IdentityOut]
    trustedDevices: list[TrustedDeviceOut]
    loginCapabilities: dict[str, Any]
    mfa: AdminMfaOut
    sessions: list[SessionOut]


def tenant_ref(t: Tenant | None) -> TenantRefOut | None:
    return TenantRefOut(id=t.id, name=t.name, slug=t.slug) if t is not None else None


def role_out(v: RoleView) -> AdminRoleOut:
    r = v.role
    out = AdminRoleOut(id=r.id, name=r.name, guard=r.guard, isSystem=r.is_system,
                       isActive=r.is_active, tenantId=r.tenant_scope or None,
                       permissions=v.permissions, createdAt=iso(r.created_at),
                       updatedAt=iso(r.updated_at))
    if v.tenant is not None:
        out.tenant = tenant_ref(v.tenant)
    return out


def tenant_out(t: TenantView) -> AdminTenantOut:
    return AdminTenantOut(id=t.id, name=t.name, slug=t.slug, description=t.description,
                          metadata=t.metadata, createdAt=iso(t.created_at),
                          updatedAt=iso(t.updated_at))


def permission_out(p: Permission) -> AdminPermissionOut:
    return AdminPermissionOut(id=p.id, name=p.name, guard=p.guard, description=p.description,
                              category=p.category, createdAt=iso(p.created_at),
                              updatedAt=iso(p.updated_at))


def safe_user(a: AdminUser) -> SafeUserOut:
    """The user with its active accesses: one per tenant membership, and the tenant-less
    one (``tenantId`` null; its id is the user's) holding the roles held outside tenants —
    a user's only access while tenancy is off."""
    u = a.user
    accesses = [AccessOut(
        id=x.membership.id, userId=u.id, tenantId=x.membership.tenant_id,
        tenant=tenant_ref(x.tenant), roles=[role_out(v) for v in x.roles],
        isDefault=x.membership.is_default, status=x.membership.status,
        metadata=dict(x.membership.meta or {}), createdAt=iso(x.membership.created_at),
        updatedAt=iso(x.membership.updated_at))
        for x in a.accesses if x.membership.status == "active"]
    if a.roles or not a.accesses:
        accesses.insert(0, AccessOut(
            id=u.id, userId=u.id, tenantId=None, tenant=None,
            roles=[role_out(v) for v in a.roles], isDefault=not accesses, status="active",
            metadata={}, createdAt=iso(u.created_at), updatedAt=iso(u.updated_at)))
    return SafeUserOut(
        id=u.id, email=u.email, phone=u.phone, userAccesses=accesses, platformAccess=None,
        isPlatformUser=False, isActive=u.is_active, emailVerifiedAt=iso(u.email_verified_at),
        phoneVerifiedAt=iso(u.phone_verified_at), metadata=dict(u.meta or {}),
        createdAt=iso(u.created_at), updatedAt=iso(u.updated_at),
        isMfaEnabled=u.is_mfa_enabled)


def session_out(r: SessionRecord) -> SessionOut:
    return SessionOut(id=r.id, userId=r.user_id,
                      deviceName=r.device_name or device_name(r.user_agent),
                      userAgent=r.user_agent, ipAddress=r.ip_address,
                      lastActive=iso(r.last_active), createdAt=iso(r.created_at),
                      expiresAt=iso(r.expires_at))


def detail_out(res: Resources, d: UserDetail) -> UserDetailOut:
    cfg = res.settings
    u = d.admin_user.user
    email_on, phone_on = cfg.email_auth_enabled, cfg.phone_auth_enabled
    passwordless = cfg.passwordless.enabled
    mfa_on = cfg.mfa.enabled
    identities = []
    if u.email:
        identities.append(IdentityOut(provider="email", providerId=u.email,
                                      verified=u.email_verified_at is not None))
    if u.phone:
        identities.append(IdentityOut(provider="phone", providerId=u.phone,
                                      verified=u.phone_verified_at is not None))
    capabilities = {
        "email": {"enabledInConfig": email_on, "hasIdentity": bool(u.email),
                  "verified": u.email_verified_at is not None,
                  "canPasswordLogin": email_on and bool(u.email) and d.has_password,
                  "canOtpLogin": email_on and passwordless and bool(u.email)},
        "phone": {"enabledInConfig": phone_on, "hasIdentity": bool(u.phone),
                  "canPasswordLogin": phone_on and bool(u.phone) and d.has_password,
                  "verified": u.phone_verified_at is not None,
                  "canOtpLogin": phone_on and passwordless and bool(u.phone)},
        "passwordless": {"enabledInConfig": passwordless,
                         "allowSignUp": cfg.passwordless.allow_sign_up},
        "social": {"enabledProviders": [], "identityProviders": []},
        "mfa": {"enabledInConfig": mfa_on, "requiredForAll": mfa_on and cfg.mfa.required,
                "requiredForUser": mfa_on and (cfg.mfa.required or u.is_mfa_enabled)},
    }
    return UserDetailOut(
        user=safe_user(d.admin_user),
        identities=identities,
        trustedDevices=[TrustedDeviceOut(
            id=t.id, userAgent=t.user_agent, ipAddress=t.ip_address,
            expiresAt=iso(t.expires_at), revokedAt=iso(t.revoked_at),
            lastUsedAt=iso(t.last_used_at), createdAt=iso(t.created_at))
            for t in d.trusted_devices],
        loginCapabilities=capabilities,
        mfa=AdminMfaOut(
            isEnabled=u.is_mfa_enabled, allowUserToggle=d.mfa.allow_user_toggle,
            availableMethods=d.mfa.configured_methods, enabledMethods=d.enabled_methods,
            hasRecoveryCode=d.mfa.has_recovery_code,
            totpDevices=[TotpDeviceOut(id=t.id, deviceName=t.device_name or "Authenticator",
                                       verified=t.verified, lastUsedAt=iso(t.last_used_at),
                                       createdAt=iso(t.created_at))
                         for t in d.totp_devices]),
        sessions=[session_out(r) for r in sorted(d.sessions, key=lambda r: r.last_active,
                                                 reverse=True)])
