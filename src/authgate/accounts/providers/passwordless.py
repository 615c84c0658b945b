"""``providerName: "passwordless"``: credentials ``{identifier, code, channels?}``, the code
from ``/auth/passwordless/send``. The MFA decision is made as for a password login (W4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authgate.accounts import passwordless
from authgate.accounts.providers.base import MAX_FIELD
from authgate.config import Settings
from authgate.errors import AuthError, Code
from authgate.identity.contact import account_refs
from authgate.identity.snapshot import UserSnapshot
from authgate.resources import Resources
from authgate.sessions.service import ClientMeta
from authgate.vocabulary import CHANNELS, Channel


@dataclass(frozen=True)
class PasswordlessCode:
    name: str = "passwordless"
    amr: tuple[str, ...] = ("otp",)
    owes_mfa: bool = True
    config_key: str = "passwordless"

    def enabled(self, settings: Settings) -> bool:
        return settings.passwordless.enabled

    def client_config(self, settings: Settings) -> dict[str, Any]:
        return {"enabled": settings.passwordless.enabled,
                "allowSignUp": settings.passwordless.allow_sign_up}

    def rate_limit_accounts(self, credentials: dict[str, Any], settings: Settings) -> list[str]:
        """The identifier on each channel the login will try."""
        identifier, _, channels = _fields(credentials)
        return account_refs([(channel, identifier) for channel in channels],
                            settings.phone_default_region)

    async def authenticate(self, res: Resources, credentials: dict[str, Any], *,
                           tenant_id: str | None, client: ClientMeta,
                           create_user: bool = False) -> UserSnapshot:
        identifier, code, channels = _fields(credentials)
        return await passwordless.login(res, identifier=identifier, code=code,
                                        channels=channels, client=client, tenant_id=tenant_id)


def _fields(creds: dict[str, Any]) -> tuple[str, str, list[Channel]]:
    """credentials {identifier, code, channels?} → (identifier, code, channels), or
    MISSING_REQUIRED_FIELDS / INVALID_INPUT."""
    if not all(creds.get(k) for k in ("identifier", "code")):
        raise AuthError(Code.MISSING_REQUIRED_FIELDS,
                        "Missing identifier, code required fields")
    identifier, code = creds["identifier"], creds["code"]
    if not isinstance(identifier, str) or not isinstance(code, str) or max(
            len(identifier), len(code)) > MAX_FIELD:
        raise AuthError(Code.INVALID_INPUT,
                        "identifier and code are required for passwordless OTP login")
    channels = creds.get("channels")
    if channels is None:
        channels = list(CHANNELS)
    if (not isinstance(channels, list) or not channels
            or not all(c in CHANNELS for c in channels)):
        raise AuthError(Code.INVALID_INPUT,
                        "credentials.channels must be an array of: email, sms")
    return identifier, code, list(dict.fromkeys(channels))


PROVIDER = PasswordlessCode()
