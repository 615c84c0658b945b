"""Domain errors with stable, machine-readable codes.

Services raise ``AuthError(code)``; they never know about HTTP. The HTTP edge
(``authgate.http.errors``) maps each code to a status once, and the CLI maps the same
errors to exit codes. A client branches on ``code``, never on ``message``.

    AuthError                 anything the client can fix or must be told about
    └── ServiceUnavailable    infrastructure (database, Redis, SMTP, SMS) failed
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    # input and routing
    INVALID_INPUT = "INVALID_INPUT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    MISSING_REQUIRED_FIELD = "MISSING_REQUIRED_FIELD"
    MISSING_REQUIRED_FIELDS = "MISSING_REQUIRED_FIELDS"
    EMAIL_OR_PHONE_REQUIRED = "EMAIL_OR_PHONE_REQUIRED"
    INVALID_PHONE_FORMAT = "INVALID_PHONE_FORMAT"
    # accounts and login
    REGISTRATION_DISABLED = "REGISTRATION_DISABLED"
    EMAIL_ALREADY_EXISTS = "EMAIL_ALREADY_EXISTS"
    PHONE_ALREADY_EXISTS = "PHONE_ALREADY_EXISTS"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_PROVIDER = "INVALID_PROVIDER"
    PROVIDER_NOT_FOUND = "PROVIDER_NOT_FOUND"
    USER_NOT_FOUND = "USER_NOT_FOUND"
    USER_ALREADY_EXISTS = "USER_ALREADY_EXISTS"
    ACCOUNT_INACTIVE = "ACCOUNT_INACTIVE"
    ACCOUNT_LOCKED = "ACCOUNT_LOCKED"
    RATE_LIMITED = "RATE_LIMITED"
    EMAIL_NOT_VERIFIED = "EMAIL_NOT_VERIFIED"
    TENANT_NOT_ENABLED = "TENANT_NOT_ENABLED"
    TENANT_NOT_FOUND = "TENANT_NOT_FOUND"
    TENANT_ID_REQUIRED = "TENANT_ID_REQUIRED"
    TENANT_SWITCHING_DISABLED = "TENANT_SWITCHING_DISABLED"
    TENANT_SWITCHING_NOT_SUPPORTED = "TENANT_SWITCHING_NOT_SUPPORTED"
    NOT_A_MEMBER_OF_TENANT = "NOT_A_MEMBER_OF_TENANT"
    TENANT_ALREADY_EXISTS = "TENANT_ALREADY_EXISTS"
    INVALID_SLUG_FORMAT = "INVALID_SLUG_FORMAT"
    PASSWORDLESS_DISABLED = "PASSWORDLESS_DISABLED"
    EMAIL_DOMAIN_NOT_ALLOWED = "EMAIL_DOMAIN_NOT_ALLOWED"
    # tokens, sessions and the guard
    NO_AUTH_PROVIDED = "NO_AUTH_PROVIDED"
    INVALID_AUTH_FORMAT = "INVALID_AUTH_FORMAT"
    INVALID_TOKEN = "INVALID_TOKEN"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
    MAX_SESSIONS_REACHED = "MAX_SESSIONS_REACHED"
    REFRESH_TOKEN_INVALID = "REFRESH_TOKEN_INVALID"
    REFRESH_TOKEN_EXPIRED = "REFRESH_TOKEN_EXPIRED"
    JWKS_NOT_AVAILABLE = "JWKS_NOT_AVAILABLE"
    CSRF_TOKEN_INVALID = "CSRF_TOKEN_INVALID"
    CSRF_ORIGIN_REJECTED = "CSRF_ORIGIN_REJECTED"
    ACCESS_DENIED = "ACCESS_DENIED"
    MISSING_REQUIRED_ROLES = "MISSING_REQUIRED_ROLES"
    MISSING_REQUIRED_PERMISSIONS = "MISSING_REQUIRED_PERMISSIONS"
    NO_ROLES_ASSIGNED = "NO_ROLES_ASSIGNED"
    GUARD_MISMATCH = "GUARD_MISMATCH"
    GUARD_NOT_ALLOWED = "GUARD_NOT_ALLOWED"
    # roles and permissions (management)
    ROLE_ALREADY_EXISTS = "ROLE_ALREADY_EXISTS"
    ROLE_NOT_FOUND = "ROLE_NOT_FOUND"
    PERMISSION_ALREADY_EXISTS = "PERMISSION_ALREADY_EXISTS"
    PERMISSION_NOT_FOUND = "PERMISSION_NOT_FOUND"
    INVALID_AUTH_TYPE = "INVALID_AUTH_TYPE"
    # API keys
    INVALID_API_KEY_FORMAT = "INVALID_API_KEY_FORMAT"
    INVALID_API_KEY = "INVALID_API_KEY"
    API_KEY_NOT_FOUND = "API_KEY_NOT_FOUND"
    API_KEY_LIMIT_REACHED = "API_KEY_LIMIT_REACHED"
    # passwords
    CURRENT_PASSWORD_INCORRECT = "CURRENT_PASSWORD_INCORRECT"
    NEW_PASSWORD_SAME_AS_CURRENT = "NEW_PASSWORD_SAME_AS_CURRENT"
    PASSWORD_TOO_SHORT = "PASSWORD_TOO_SHORT"
    PASSWORD_TOO_LONG = "PASSWORD_TOO_LONG"
    PASSWORD_TOO_COMMON = "PASSWORD_TOO_COMMON"
    PASSWORD_TOO_WEAK = "PASSWORD_TOO_WEAK"
    PASSWORD_CONTAINS_IDENTIFIER = "PASSWORD_CONTAINS_IDENTIFIER"
    PASSWORD_RESET_INVALID_REQUEST = "PASSWORD_RESET_INVALID_REQUEST"
    PASSWORD_RESET_TOKEN_INVALID = "PASSWORD_RESET_TOKEN_INVALID"
    MUST_CHANGE_PASSWORD = "MUST_CHANGE_PASSWORD"
    # one-time codes and verification
    VERIFICATION_CODE_INVALID = "VERIFICATION_CODE_INVALID"
    VERIFICATION_CODE_EXPIRED = "VERIFICATION_CODE_EXPIRED"
    TOO_MANY_ATTEMPTS = "TOO_MANY_ATTEMPTS"
    RESEND_TOO_SOON = "RESEND_TOO_SOON"
    DELIVERY_FAILED = "DELIVERY_FAILED"
    EMAIL_ALREADY_VERIFIED = "EMAIL_ALREADY_VERIFIED"
    PHONE_ALREADY_VERIFIED = "PHONE_ALREADY_VERIFIED"
    NO_EMAIL_ADDRESS = "NO_EMAIL_ADDRESS"
    NO_PHONE_NUMBER = "NO_PHONE_NUMBER"
    # MFA
    MFA_NOT_ENABLED = "MFA_NOT_ENABLED"
    MFA_REQUIRED = "MFA_REQUIRED"
    MFA_CODE_INVALID = "MFA_CODE_INVALID"
    MFA_CODE_EXPIRED = "MFA_CODE_EXPIRED"
    MFA_METHOD_NOT_AVAILABLE = "MFA_METHOD_NOT_AVAILABLE"
    MFA_TOGGLING_NOT_ALLOWED = "MFA_TOGGLING_NOT_ALLOWED"
    MFA_CANNOT_ENABLE_WITHOUT_METHOD = "MFA_CANNOT_ENABLE_WITHOUT_METHOD"
    MFA_RECOVERY_CODE_INVALID = "MFA_RECOVERY_CODE_INVALID"
    MFA_DEVICE_NOT_FOUND = "MFA_DEVICE_NOT_FOUND"
    MFA_ENROLLMENT_REQUIRED = "MFA_ENROLLMENT_REQUIRED"
    MFA_TOO_MANY_ATTEMPTS = "MFA_TOO_MANY_ATTEMPTS"
    REAUTH_REQUIRED = "REAUTH_REQUIRED"
    # the admin console
    ADMIN_CONSOLE_DISABLED = "ADMIN_CONSOLE_DISABLED"
    ADMIN_AUTH_REQUIRED = "ADMIN_AUTH_REQUIRED"
    ADMIN_SESSION_INVALID = "ADMIN_SESSION_INVALID"
    ADMIN_SESSION_REVOKED = "ADMIN_SESSION_REVOKED"
    ADMIN_BOOTSTRAP_CLOSED = "ADMIN_BOOTSTRAP_CLOSED"
    ADMIN_CONSOLE_SECRET_NOT_CONFIGURED = "ADMIN_CONSOLE_SECRET_NOT_CONFIGURED"
    ADMIN_MANAGEMENT_DISABLED = "ADMIN_MANAGEMENT_DISABLED"
    ADMIN_USER_EXISTS = "ADMIN_USER_EXISTS"
    ADMIN_USER_NOT_FOUND = "ADMIN_USER_NOT_FOUND"
    ADMIN_LAST_REMAINING = "ADMIN_LAST_REMAINING"
    ADMIN_PASSWORD_TOO_SHORT = "ADMIN_PASSWORD_TOO_SHORT"
    ADMIN_TOTP_REQUIRED = "ADMIN_TOTP_REQUIRED"
    INVALID_SECRET_KEY = "INVALID_SECRET_KEY"
    SECRET_KEY_NOT_CONFIGURED = "SECRET_KEY_NOT_CONFIGURED"
    # passkeys (WebAuthn)
    PASSKEYS_NOT_ENABLED = "PASSKEYS_NOT_ENABLED"
    PASSKEY_CHALLENGE_INVALID = "PASSKEY_CHALLENGE_INVALID"
    PASSKEY_REGISTRATION_FAILED = "PASSKEY_REGISTRATION_FAILED"
    PASSKEY_ALREADY_REGISTERED = "PASSKEY_ALREADY_REGISTERED"
    PASSKEY_LIMIT_REACHED = "PASSKEY_LIMIT_REACHED"
    PASSKEY_INVALID = "PASSKEY_INVALID"
    PASSKEY_CLONE_DETECTED = "PASSKEY_CLONE_DETECTED"
    PASSKEY_NOT_FOUND = "PASSKEY_NOT_FOUND"
    # administration (the admin console's management APIs)
    PLATFORM_ACCESS_DISABLED = "PLATFORM_ACCESS_DISABLED"
    ROLE_NAME_REQUIRED = "ROLE_NAME_REQUIRED"
    ROLE_PERMISSION_VALIDATION_FAILED = "ROLE_PERMISSION_VALIDATION_FAILED"
    NOT_PLATFORM_USER = "NOT_PLATFORM_USER"
    # social and OpenID Connect sign-in
    OAUTH_PROVIDER_ERROR = "OAUTH_PROVIDER_ERROR"
    OAUTH_PROVIDER_UNAVAILABLE = "OAUTH_PROVIDER_UNAVAILABLE"
    OAUTH_EMAIL_NOT_PUBLIC = "OAUTH_EMAIL_NOT_PUBLIC"
    OAUTH_STATE_INVALID = "OAUTH_STATE_INVALID"
    SOCIAL_EMAIL_NOT_VERIFIED = "SOCIAL_EMAIL_NOT_VERIFIED"
    IDENTITY_ALREADY_LINKED = "IDENTITY_ALREADY_LINKED"
    IDENTITY_NOT_FOUND = "IDENTITY_NOT_FOUND"
    LAST_SIGN_IN_METHOD = "LAST_SIGN_IN_METHOD"


DEFAULT_MESSAGES: dict[Code, str] = {
    Code.INVALID_INPUT: "Invalid input",
    Code.PAYLOAD_TOO_LARGE: "Request body is too large",
    Code.UNSUPPORTED_MEDIA_TYPE: "Content-Type must be application/json",
    Code.NOT_FOUND: "Not found",
    Code.METHOD_NOT_ALLOWED: "Method not allowed",
    Code.INTERNAL_ERROR: "Internal server error",
    Code.SERVICE_UNAVAILABLE: "Service temporarily unavailable, please retry",
    Code.EMAIL_OR_PHONE_REQUIRED: "Either email or phone must be provided",
    Code.INVALID_PHONE_FORMAT: ("Invalid phone number: use the international format with the "
                                "country code, e.g. +14155552671"),
    Code.REGISTRATION_DISABLED: "Registration is disabled",
    Code.EMAIL_ALREADY_EXISTS: "Email already exists in this tenant",
    Code.PHONE_ALREADY_EXISTS: "Phone number already exists in this tenant",
    Code.INVALID_CREDENTIALS: "Invalid credentials",
    Code.INVALID_PROVIDER: "Invalid authentication providerName or provider is not enabled",
    Code.USER_NOT_FOUND: "User not found",
    Code.ACCOUNT_INACTIVE: "Your account is suspended, please contact support",
    Code.ACCOUNT_LOCKED: ("Account temporarily locked after too many failed attempts. "
                          "Please try again later."),
    Code.RATE_LIMITED: "Too many requests. Please try again later.",
    Code.EMAIL_NOT_VERIFIED: "You must verify your email address before continuing",
    Code.TENANT_NOT_ENABLED: "tenantId provided but multi-tenancy is disabled on this deployment.",
    Code.TENANT_NOT_FOUND: "Tenant not found",
    Code.TENANT_ID_REQUIRED: "Tenant ID is required",
    Code.TENANT_SWITCHING_DISABLED: "Multi-tenancy is disabled on this deployment.",
    Code.TENANT_SWITCHING_NOT_SUPPORTED: ("Tenant switching is not supported in isolated "
                                          "mode. Sign in to the target tenant directly."),
    Code.NOT_A_MEMBER_OF_TENANT: "You do not have access to that tenant.",
    Code.TENANT_ALREADY_EXISTS: "A tenant with this slug already exists",
    Code.INVALID_SLUG_FORMAT: ("Slug must be 1-255 lowercase letters, digits or hyphens, "
                               "starting and ending with a letter or digit"),
    Code.ACCESS_DENIED: "Access denied",
    Code.NO_ROLES_ASSIGNED: "Access denied: No roles assigned",
    Code.GUARD_NOT_ALLOWED: "Guard is not allowed",
    Code.ROLE_ALREADY_EXISTS: "Role already exists",
    Code.ROLE_NOT_FOUND: "Role not found",
    Code.ROLE_NAME_REQUIRED: "Role name is required",
    Code.ROLE_PERMISSION_VALIDATION_FAILED: "Unknown permission(s) for this guard",
    Code.PERMISSION_ALREADY_EXISTS: "Permission already exists",
    Code.PERMISSION_NOT_FOUND: "Permission not found",
    Code.NO_AUTH_PROVIDED: "No authentication provided",
    Code.INVALID_AUTH_FORMAT: "Malformed Authorization header; expected 'Bearer <token>'",
    Code.INVALID_TOKEN: "Invalid or expired token",
    Code.INVALID_AUTH_TYPE: "API keys are not accepted here: sign in to use this route",
    Code.INVALID_API_KEY_FORMAT: "Invalid API key format; expected 'ApiKey <publicKey>.<secret>'",
    Code.INVALID_API_KEY: "Invalid API key",
    Code.API_KEY_NOT_FOUND: "API key not found",
    Code.API_KEY_LIMIT_REACHED: "Too many active API keys: revoke one first",
    Code.TOKEN_EXPIRED: "Token has expired",
    Code.SESSION_NOT_FOUND: "Session not found",
    Code.MAX_SESSIONS_REACHED: "Maximum number of active sessions reached",
    Code.REFRESH_TOKEN_INVALID: "Invalid refresh token",
    Code.REFRESH_TOKEN_EXPIRED: "Invalid or expired refresh token",
    Code.JWKS_NOT_AVAILABLE: "No public keys: access tokens are signed with a shared secret "
                             "(jwt.algorithm HS*); verify them by calling GET /auth/verify-session",
    Code.CSRF_TOKEN_INVALID: "Invalid or missing CSRF token.",
    Code.CSRF_ORIGIN_REJECTED: "Cross-site request blocked (origin not allowed).",
    Code.MUST_CHANGE_PASSWORD: "You must change your password before continuing",
    Code.DELIVERY_FAILED: "The message could not be delivered. Please try again later.",
    Code.RESEND_TOO_SOON: "A code was sent recently. Please wait before requesting another.",
    Code.VERIFICATION_CODE_INVALID: "Invalid verification code",
    Code.VERIFICATION_CODE_EXPIRED: "Verification code has expired",
    Code.PASSWORD_RESET_TOKEN_INVALID: "Invalid or expired reset token",
    Code.PASSWORDLESS_DISABLED: "Passwordless login is disabled",
    Code.EMAIL_DOMAIN_NOT_ALLOWED: "This email domain is not allowed for sign-up",
    Code.EMAIL_ALREADY_VERIFIED: "Email is already verified",
    Code.PHONE_ALREADY_VERIFIED: "Phone number is already verified",
    Code.NO_EMAIL_ADDRESS: "User does not have an email address",
    Code.NO_PHONE_NUMBER: "User does not have a phone number",
    Code.MFA_NOT_ENABLED: "MFA is not enabled for the application",
    Code.MFA_REQUIRED: "Multi-factor authentication is required",
    Code.MFA_CODE_INVALID: "Invalid MFA code",
    Code.MFA_TOGGLING_NOT_ALLOWED: "MFA toggle is not allowed",
    Code.MFA_CANNOT_ENABLE_WITHOUT_METHOD: "Cannot enable MFA without at least one verified method",
    Code.MFA_RECOVERY_CODE_INVALID: "Invalid recovery code",
    Code.MFA_DEVICE_NOT_FOUND: "MFA device not found",
    Code.MFA_METHOD_NOT_AVAILABLE: "This MFA method is not available for this account",
    Code.MFA_ENROLLMENT_REQUIRED: "MFA is required: set up an authenticator to continue",
    Code.MFA_TOO_MANY_ATTEMPTS: "Too many failed verification attempts. Please try again later.",
    Code.PASSKEYS_NOT_ENABLED: "Passkeys are not enabled for this application",
    Code.PASSKEY_CHALLENGE_INVALID: "The passkey challenge is unknown, used or expired",
    Code.PASSKEY_REGISTRATION_FAILED: "The passkey could not be verified",
    Code.PASSKEY_ALREADY_REGISTERED: "This passkey is already registered",
    Code.PASSKEY_LIMIT_REACHED: "No more passkeys can be registered for this account",
    Code.PASSKEY_INVALID: "Invalid passkey",
    Code.PASSKEY_CLONE_DETECTED: "This passkey's signature counter went backwards; it may "
                                 "have been cloned",
    Code.PASSKEY_NOT_FOUND: "Passkey not found",
    Code.REAUTH_REQUIRED: "Please re-authenticate to perform this action",
    Code.ADMIN_CONSOLE_DISABLED: "Admin console is disabled",
    Code.ADMIN_AUTH_REQUIRED: "Admin authentication required",
    Code.ADMIN_SESSION_INVALID: "Invalid admin session",
    Code.ADMIN_SESSION_REVOKED: "Admin session has been revoked",
    Code.ADMIN_BOOTSTRAP_CLOSED: ("An admin already exists: sign in, or ask an admin to "
                                  "create your account"),
    Code.ADMIN_CONSOLE_SECRET_NOT_CONFIGURED: "Admin console secret key is not configured",
    Code.ADMIN_MANAGEMENT_DISABLED: "Admin management disabled",
    Code.ADMIN_USER_EXISTS: "Admin user with this email already exists",
    Code.ADMIN_USER_NOT_FOUND: "Admin user not found",
    Code.ADMIN_LAST_REMAINING: "Cannot delete the last admin user",
    Code.ADMIN_PASSWORD_TOO_SHORT: "Password must be at least 8 characters long",
    Code.ADMIN_TOTP_REQUIRED: "Enter the code from your authenticator app",
    Code.INVALID_SECRET_KEY: "Invalid secret key",
    Code.SECRET_KEY_NOT_CONFIGURED: "Admin console secret key is not configured",
    Code.USER_ALREADY_EXISTS: "User with this email already exists",
    Code.PLATFORM_ACCESS_DISABLED: ("Platform access is disabled. Set `platformAccess.enabled: "
                                    "true` in the NestAuthModule config to manage platform "
                                    "users."),
    Code.NOT_PLATFORM_USER: ("User is not a platform user. Grant platform access first (send "
                             "`isPlatformUser: true`) before assigning platform roles."),
    Code.OAUTH_PROVIDER_ERROR: "The sign-in provider did not accept this token",
    Code.OAUTH_PROVIDER_UNAVAILABLE: "The sign-in provider did not answer, please retry",
    Code.OAUTH_EMAIL_NOT_PUBLIC: "The provider account has no verified email address",
    Code.OAUTH_STATE_INVALID: "This sign-in link is invalid or has expired, please start again",
    Code.SOCIAL_EMAIL_NOT_VERIFIED:
        "The provider has not verified this email address; sign in and link the account",
    Code.IDENTITY_ALREADY_LINKED: "This provider account is already linked to a user",
    Code.IDENTITY_NOT_FOUND: "Linked account not found",
    Code.LAST_SIGN_IN_METHOD: "This is the last way to sign in to the account",
}


class AuthError(Exception):
    """A failure the client is told about, identified by a stable ``code``.

    It carries no HTTP status: the edge's table (``authgate.http.errors.STATUS``) maps the
    code, and a route that answers a code differently declares it (``route_statuses``).
    ``retry_after`` (seconds) becomes a ``Retry-After`` header.
    """

    def __init__(
        self,
        code: Code,
        message: str | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        self.code = code
        self.message = message or DEFAULT_MESSAGES.get(code, code.replace("_", " ").capitalize())
        self.retry_after = retry_after
        super().__init__(f"{code}: {self.message}")


class ServiceUnavailable(AuthError):
    """A backing service (database, Redis, mail, SMS) failed or timed out; ``backend`` names
    it when known (``"database"``, ``"redis"``), for ``authgate_backend_errors_total``."""

    def __init__(self, message: str | None = None, *, retry_after: int = 5,
                 backend: str | None = None) -> None:
        super().__init__(Code.SERVICE_UNAVAILABLE, message, retry_after=retry_after)
        self.backend = backend


_BACKEND_MODULES = {"sqlalchemy": "database", "asyncpg": "database", "sqlite3": "database",
                    "aiosqlite": "database", "redis": "redis"}


def backend_of(exc: BaseException) -> str | None:
    """Which backing service ``exc`` (or what caused it) is a failure of: ``"database"``,
    ``"redis"``, or None. By the exception's package, so nothing is imported to tell."""
    seen: BaseException | None = exc
    for _ in range(5):  # the cause chain, bounded
        if seen is None:
            return None
        if isinstance(seen, ServiceUnavailable) and seen.backend:
            return seen.backend
        found = _BACKEND_MODULES.get(type(seen).__module__.partition(".")[0])
        if found:
            return found
        seen = seen.__cause__ or seen.__context__
    return None


# Reserved: part of the contract, raised by features not built yet (or, for one, deliberately
# never), kept so that clients can branch on them and the status table stays complete.
# tests/test_codes.py fails when a code is neither raised in src nor listed here, and when a
# listed code starts being raised (then take it off this list).
RESERVED: frozenset[Code] = frozenset({
    Code.MFA_ENROLLMENT_REQUIRED,  # forcing enrolment before anything else under mfa.required
    Code.TOO_MANY_ATTEMPTS,  # attempt limits outside MFA (those are MFA_TOO_MANY_ATTEMPTS)
    Code.MFA_CODE_EXPIRED,  # unused upstream too: an expired email/SMS code is
    #                         VERIFICATION_CODE_EXPIRED
    Code.ADMIN_CONSOLE_SECRET_NOT_CONFIGURED,  # never: without a secret key the console is
    Code.SECRET_KEY_NOT_CONFIGURED,            # off (404 ADMIN_CONSOLE_DISABLED) as a whole
    Code.PASSWORD_RESET_INVALID_REQUEST,  # never: verify-forgot answers an unknown account
    #                                       like a wrong code (no enumeration, W10)
})
