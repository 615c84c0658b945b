"""Request and response models (camelCase on the wire). Requests accept unknown fields, as
the contract does, but type-check every known one strictly."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictBool,
    StrictStr,
    TypeAdapter,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema
from starlette.responses import Response

from authgate.clock import iso_millis
from authgate.errors import Code
from authgate.http.no_store import NoStoreJSON
from authgate.identity.store import valid_email
from authgate.registry import mfa_methods

iso = iso_millis


def respond(body: BaseModel, status: int = 200) -> Response:
    """Serialise a response model: the one definition of the shape (the OpenAPI document
    reads the same model). Fields the route did not set are left out (the contract omits
    them rather than sending null); pydantic-core writes the JSON directly."""
    return NoStoreJSON(body.__pydantic_serializer__.to_json(body, exclude_unset=True),
                       status_code=status)


def respond_list(adapter: TypeAdapter[list[Any]], items: list[Any]) -> Response:
    """A JSON array of response models, through a ``TypeAdapter`` built once per shape."""
    return NoStoreJSON(adapter.dump_json(items, exclude_unset=True))


def storable_text(value: Any) -> bool:
    """False when a string anywhere in ``value`` holds a NUL (PostgreSQL text cannot) or an
    unpaired surrogate (not UTF-8: nothing can hash, store or send it)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if "\x00" in v:
                return False
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return True


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", str_max_length=4096)

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, v: Any) -> Any:
        if not storable_text(v):
            raise ValueError("must not contain NUL characters or unpaired surrogates")
        return v


class _CodeIn(_In):
    """A one-time code, under its name or the older clients' one."""

    code: StrictStr | None = Field(None, examples=["123456"])
    otp: StrictStr | None = Field(None, description="Older clients' name for code "
                                  "(used when code is absent)")

    def value(self) -> str | None:
        return self.code if self.code is not None else self.otp


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


# requests ----------------------------------------------------------------------------
class SignupIn(_In):
    email: StrictStr | None = Field(None, examples=["user@example.com"])
    phone: StrictStr | None = Field(None, max_length=32, examples=["+1234567890"])
    password: StrictStr = Field(..., min_length=1, examples=["SecurePass123!"])
    tenantId: StrictStr | None = None
    guard: StrictStr | None = Field(None, deprecated=True)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and not valid_email(v):
            raise ValueError("must be an email")
        return v


class LoginIn(_In):
    providerName: StrictStr | None = Field(None, examples=["email"])
    credentials: dict[str, Any] = Field(..., examples=[{"email": "user@example.com",
                                                         "password": "SecurePass123!"}])
    tenantId: StrictStr | None = None
    guard: StrictStr | None = Field(None, deprecated=True)
    createUserIfNotExists: StrictBool | None = None
    rememberMe: StrictBool | None = None


class RefreshIn(_In):
    refreshToken: StrictStr | None = None


class LogoutIn(_In):
    refreshToken: StrictStr | None = Field(
        None, description="Ends the session this refresh token belongs to when the access "
        "token is missing or unusable (cookie mode: the refresh-token cookie does this)")


class ToggleMfaIn(_In):
    enabled: StrictBool


class _MethodNames:
    """A registered MFA method's name; the OpenAPI enum lists the registry when the
    document is generated (login order)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler
                                     ) -> core_schema.CoreSchema:
        return core_schema.str_schema()

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        names = sorted(mfa_methods, key=lambda m: m.login_rank)
        return {"type": "string", "enum": [m.name for m in names]}


MfaMethodName = Annotated[str, _MethodNames]


# responses ---------------------------------------------------------------------------
class ErrorOut(BaseModel):
    statusCode: int
    error: str
    message: str
    code: Code


class MessageOut(_Out):
    message: str


class AuthOut(_Out):
    accessToken: str | None = Field(None, description="Absent in cookie mode")
    refreshToken: str | None = Field(None, description="Absent in cookie mode")
    isRequiresMfa: bool
    mustChangePassword: bool | None = None
    mfaMethods: list[MfaMethodName] | None = None
    defaultMfaMethod: MfaMethodName | None = None
    trustToken: str | None = None
    message: str


class UserOut(_Out):
    id: str
    email: str | None
    emailVerifiedAt: str | None
    phone: str | None
    phoneVerifiedAt: str | None
    isActive: bool
    mustChangePassword: bool
    metadata: dict[str, Any]
    isMfaEnabled: bool
    mfaRecoveryCode: None = None
    createdAt: str
    updatedAt: str


class RoleOut(_Out):
    id: str
    name: str
    guard: str


class MeOut(_Out):
    id: str
    email: str | None
    phone: str | None
    emailVerifiedAt: str | None
    phoneVerifiedAt: str | None
    isMfaEnabled: bool
    metadata: dict[str, Any]
    mustChangePassword: bool
    roles: list[RoleOut]
    permissions: list[str]


class MePendingOut(_Out):
    """``GET /auth/me`` from an MFA-pending session: only what the MFA step needs."""

    id: str
    isMfaEnabled: bool


class VerifySessionOut(_Out):
    valid: bool
    userId: str
    expiresAt: str


class SessionOut(_Out):
    """One of the caller's sessions (the admin console's Session shape, plus whether it is
    the caller's own and whether its second factor is still owed)."""

    id: str
    deviceName: str | None
    userAgent: str | None
    ipAddress: str | None
    createdAt: str
    lastActive: str = Field(description="Activity is recorded on refresh and, with "
                            "session.idle_timeout or sliding expiration, every touch_interval")
    expiresAt: str
    isCurrent: bool
    isMfaPending: bool


class SessionsOut(_Out):
    data: list[SessionOut]


class ActivityEntryOut(_Out):
    """One row of the caller's security activity (``GET /auth/activity``)."""

    id: str
    at: str
    event: str = Field(description="What happened: an event (`user.logged_in`, "
                       "`user.login_failed`, `mfa.enabled`...) or an admin's action on the "
                       "account (`user.update`, `user.sessions.revoke_all`...)")
    outcome: Literal["success", "failure"]
    actorType: str = Field(description="Who caused it: `user`, `admin`, `cli` or `system`")
    target: str | None
    ip: str | None
    userAgent: str | None
    details: dict[str, Any]


class PageMetaOut(_Out):
    page: int
    limit: int
    total: int
    totalPages: int


class ActivityOut(_Out):
    data: list[ActivityEntryOut]
    meta: PageMetaOut


class CsrfOut(_Out):
    enabled: bool
    csrfToken: str | None = None
    headerName: str | None = None
    cookieName: str | None = None


class MfaDeviceOut(_Out):
    id: str
    deviceName: str
    method: Literal["totp"]
    lastUsedAt: str | None
    createdAt: str
    verified: bool


class PasskeyOut(_Out):
    id: str
    name: str
    createdAt: str
    lastUsedAt: str | None
    backedUp: bool = Field(description="Synced to the provider's cloud (a multi-device "
                                       "passkey)")
    transports: list[str]


class MfaStatusOut(_Out):
    isEnabled: bool
    verifiedMethods: list[str]
    configuredMethods: list[str]
    allowUserToggle: bool
    allowMethodSelection: bool
    totpDevices: list[MfaDeviceOut]
    hasRecoveryCode: bool
    required: bool
    canToggle: bool


class AccountOut(_Out):
    accountId: str
    email: str | None
    phone: str | None
    tenantId: str | None
    isActive: bool


class AccountsOut(_Out):
    accounts: list[AccountOut]


class ClientConfigOut(_Out):
    tenants: dict[str, Any]
    multipleAccounts: dict[str, Any]
    roleGuards: list[str]
    emailAuth: dict[str, Any]
    phoneAuth: dict[str, Any]
    passwordless: dict[str, Any]
    google: dict[str, Any]
    facebook: dict[str, Any]
    apple: dict[str, Any]
    github: dict[str, Any]
    customProviders: list[str]
    registration: dict[str, Any]
    mfa: dict[str, Any]
    platformAccess: dict[str, Any]
    accessTokenType: str


SECURED: dict[str, Any] = {"security": [{"access-token": []}]}
"""``openapi_extra`` for routes that need the bearer token (or the access cookie)."""
OPTIONAL_AUTH: dict[str, Any] = {"security": [{"access-token": []}, {}]}

ERRORS = {
    400: {"model": ErrorOut, "description": "Invalid input"},
    401: {"model": ErrorOut, "description": "Missing, invalid, or expired authentication"},
    403: {"model": ErrorOut, "description": "Authenticated but not permitted"},
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {}
    for s in statuses:
        out[s] = ERRORS.get(s, {"model": ErrorOut, "description": "Error"})
    return out
