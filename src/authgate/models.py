"""Imports every model so ``Base.metadata`` is complete (migrations, test set-up)."""

from authgate.admin.models import AdminSession, AdminUser
from authgate.apikeys.models import ApiKey
from authgate.audit.models import AuditEvent, WebhookDelivery
from authgate.db import Base
from authgate.federation.models import Identity, OAuthGrant
from authgate.identity.models import (
    BlockedEmailDomain,
    Permission,
    Role,
    RolePermission,
    Tenant,
    User,
    UserRole,
)
from authgate.mfa.models import (
    RecoveryCode,
    TotpDevice,
    TrustedDevice,
    WebauthnChallenge,
    WebauthnCredential,
)
from authgate.otp.models import OneTimeCode
from authgate.sessions.models import SessionRow
from authgate.tenancy.models import Membership, MembershipRole
from authgate.throttling.models import Counter

__all__ = [
    "AdminSession",
    "AdminUser",
    "ApiKey",
    "AuditEvent",
    "Base",
    "BlockedEmailDomain",
    "Counter",
    "Membership",
    "MembershipRole",
    "Identity",
    "OAuthGrant",
    "OneTimeCode",
    "Permission",
    "RecoveryCode",
    "Role",
    "RolePermission",
    "SessionRow",
    "Tenant",
    "TotpDevice",
    "TrustedDevice",
    "User",
    "UserRole",
    "WebauthnChallenge",
    "WebauthnCredential",
    "WebhookDelivery",
]
