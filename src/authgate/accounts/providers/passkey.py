"""``providerName: "passkey"``: passwordless sign-in with a discoverable credential.

The client asks ``POST /auth/passkeys/login-options`` for request options (no identifier:
the browser offers the site's passkeys, also through conditional UI), then sends
``credentials: {"credential": <credential.toJSON()>}`` here. User verification is
required, so the passkey is something the user has *and* was unlocked by something they
know or are: the sign-in counts as both factors (``owes_mfa`` False) and opens a full
session. The checks are ``authgate.mfa.passkeys.check_assertion``'s."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authgate.config import Settings
from authgate.errors import AuthError, Code
from authgate.events import LOGGED_IN, LOGIN_FAILED, Event
from authgate.identity import store as users
from authgate.identity.snapshot import UserSnapshot
from authgate.mfa import passkeys
from authgate.resources import Resources
from authgate.sessions.service import ClientMeta
from authgate.tx import readonly


@dataclass(frozen=True)
class Passkey:
    name: str = "passkey"
    amr: tuple[str, ...] = ("hwk", "user", "mfa")
    owes_mfa: bool = False
    config_key: str = "passkey"

    def enabled(self, settings: Settings) -> bool:
        return settings.webauthn.passwordless

    def client_config(self, settings: Settings) -> dict[str, Any]:
        return {"enabled": settings.webauthn.passwordless}

    def rate_limit_accounts(self, credentials: dict[str, Any], settings: Settings) -> list[str]:
        """None: the account is known only once the signature checks out (the per-IP limit
        applies; the challenge is single use and the key is not guessable)."""
        return []

    async def authenticate(self, res: Resources, credentials: dict[str, Any], *,
                           tenant_id: str | None, client: ClientMeta,
                           create_user: bool = False) -> UserSnapshot:
        # ``tenant_id`` (checked by the login) needs no look-up here: the credential names
        # its owner, and the session opens only in a tenant the owner belongs to
        raw = credentials.get("credential")
        if raw is None:
            raise AuthError(Code.MISSING_REQUIRED_FIELDS, "Missing credential required fields")
        try:
            user_id = await passkeys.check_assertion(res, raw, passkeys.LOGIN, None)
        except AuthError as err:
            await res.events.emit(Event(LOGIN_FAILED, None, {
                "provider": self.name, "reason": err.code.value, "ip": client.ip}))
            raise
        async with readonly(res.readmaker) as s:
            user = await users.by_id(s, user_id)
        if user is None:
            raise AuthError(Code.PASSKEY_INVALID)
        if not user.is_active:
            raise AuthError(Code.ACCOUNT_INACTIVE)
        await res.events.emit(Event(LOGGED_IN, user.id, {"ip": client.ip,
                                                          "provider": self.name}))
        return users.snapshot(user)


PROVIDER = Passkey()
