"""``providerName: "email"`` and ``"phone"``: an identifier and a password. The two differ only
in the credential field they read, its channel and the setting that turns them on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from authgate.accounts import login
from authgate.accounts.providers.base import require_strings, string_account
from authgate.config import Settings
from authgate.identity.snapshot import UserSnapshot
from authgate.resources import Resources
from authgate.sessions.service import ClientMeta
from authgate.vocabulary import Channel


@dataclass(frozen=True)
class PasswordProvider:
    name: str
    field: Literal["email", "phone"]
    """The credential that names the account (and the keyword ``login_password`` takes)."""
    channel: Channel
    config_key: str
    enabled_setting: Literal["email_auth_enabled", "phone_auth_enabled"]
    amr: tuple[str, ...] = ("pwd",)
    owes_mfa: bool = True

    def enabled(self, settings: Settings) -> bool:
        return bool(getattr(settings, self.enabled_setting))

    def client_config(self, settings: Settings) -> dict[str, Any]:
        return {"enabled": self.enabled(settings)}

    def rate_limit_accounts(self, credentials: dict[str, Any], settings: Settings) -> list[str]:
        return string_account(credentials, self.field, self.channel, settings)

    async def authenticate(self, res: Resources, credentials: dict[str, Any], *,
                           tenant_id: str | None, client: ClientMeta,
                           create_user: bool = False) -> UserSnapshot:
        identifier, password = require_strings(credentials, (self.field, "password"))
        email = identifier if self.field == "email" else None
        phone = identifier if self.field == "phone" else None
        return await login.login_password(res, email=email, phone=phone, password=password,
                                          tenant_id=tenant_id, client=client)


EMAIL = PasswordProvider(name="email", field="email", channel="email", config_key="emailAuth",
                         enabled_setting="email_auth_enabled")
PHONE = PasswordProvider(name="phone", field="phone", channel="sms", config_key="phoneAuth",
                         enabled_setting="phone_auth_enabled")
