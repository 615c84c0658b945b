"""What a login provider is: ``POST /auth/login`` with ``providerName: <name>`` looks it up
in ``authgate.registry.login_providers`` and hands it the ``credentials`` object."""

from __future__ import annotations

from typing import Any, Protocol

from authgate.config import Settings
from authgate.errors import AuthError, Code
from authgate.identity.contact import account_ref
from authgate.identity.snapshot import UserSnapshot
from authgate.resources import Resources
from authgate.sessions.service import ClientMeta
from authgate.vocabulary import Channel

MAX_FIELD = 4096
"""Longest credential string looked at (longer: 400 INVALID_INPUT, nothing hashed)."""


class LoginProvider(Protocol):
    @property
    def name(self) -> str:
        """The ``providerName`` of a login request."""
        ...

    @property
    def amr(self) -> tuple[str, ...]:
        """Authentication methods the session records (RFC 8176: ``pwd``, ``otp``...)."""
        ...

    @property
    def owes_mfa(self) -> bool:
        """True: a user with MFA on still owes the second factor after this provider
        (a password, a code by email); False: the provider is a second factor itself."""
        ...

    @property
    def config_key(self) -> str:
        """The key under which ``GET /auth/client-config`` reports this provider."""
        ...

    def enabled(self, settings: Settings) -> bool:
        """Whether this app accepts this provider (else 400 INVALID_PROVIDER)."""
        ...

    def client_config(self, settings: Settings) -> dict[str, Any]:
        """What ``GET /auth/client-config`` shows of it (at least ``enabled``)."""
        ...

    def rate_limit_accounts(self, credentials: dict[str, Any], settings: Settings) -> list[str]:
        """The account(s) ``authenticate`` will look up from these credentials, as
        ``identity.contact.account_ref`` strings (the login's per-account rate-limit key):
        exactly the field(s) it reads, normalised as its look-up normalises them, so no
        other field can change the key. ``[]`` when the credentials name none (the login
        refuses them). May raise ``AuthError``/``ValueError`` for credentials the login
        refuses anyway."""
        ...

    async def authenticate(self, res: Resources, credentials: dict[str, Any], *,
                           tenant_id: str | None, client: ClientMeta,
                           create_user: bool = False) -> UserSnapshot:
        """The user these credentials prove, or a coded ``AuthError``. ``client`` carries
        the IP and trusted-device token the lockout needs (``throttling.rate``);
        ``create_user`` is the request's ``createUserIfNotExists`` (a provider that never
        creates accounts ignores it)."""
        ...


def require_strings(credentials: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    """The named credentials as strings: MISSING_REQUIRED_FIELDS when one is absent or
    empty, INVALID_INPUT when one is not a string or is too long."""
    if not all(credentials.get(k) for k in names):
        raise AuthError(Code.MISSING_REQUIRED_FIELDS,
                        f"Missing {', '.join(names)} required fields")
    for k in names:
        if not isinstance(credentials[k], str) or len(credentials[k]) > MAX_FIELD:
            raise AuthError(Code.INVALID_INPUT, f"credentials.{k} must be a string")
    return [credentials[k] for k in names]


def string_account(credentials: dict[str, Any], name: str, channel: Channel,
                   settings: Settings) -> list[str]:
    """``rate_limit_accounts`` of a provider that looks the account up by one string
    credential on ``channel``."""
    value = credentials.get(name)
    if not isinstance(value, str) or not value:
        return []
    return [account_ref(channel, value, settings.phone_default_region)]
