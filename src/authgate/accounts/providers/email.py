"""``providerName: "email"``: an email address and a password."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authgate.accounts import login
from authgate.accounts.providers.base import require_strings, string_account
from authgate.config import Settings
from authgate.identity.snapshot import UserSnapshot
from authgate.resources import Resources
from authgate.sessions.service import ClientMeta


@dataclass(frozen=True)
class EmailPassword:
    name: str = "email"
    amr: tuple[str, ...] = ("pwd",)
    owes_mfa: bool = True
    config_key: str = "emailAuth"

    def enabled(self, settings: Settings) -> bool:
        return settings.email_auth_enabled

    def client_config(self, settings: Settings) -> dict[str, Any]:
        return {"enabled": settings.email_auth_enabled}

    def rate_limit_accounts(self, credentials: dict[str, Any], settings: Settings) -> list[str]:
        return string_account(credentials, "email", "email", settings)

    async def authenticate(self, res: Resources, credentials: dict[str, Any], *,
                           tenant_id: str | None, client: ClientMeta) -> UserSnapshot:
        email, password = require_strings(credentials, ("email", "password"))
        return await login.login_password(res, email=email, password=password,
                                          tenant_id=tenant_id, client=client)


PROVIDER = EmailPassword()
