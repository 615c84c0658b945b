"""``providerName`` ``google``, ``apple``, ``github``, ``facebook`` and each configured
OpenID Connect provider: credentials ``{token, type?: "idToken"|"accessToken", nonce?}``.

The token is verified with the provider (``authgate.federation``), then the account behind
it is found, linked or created (``accounts.social``). Unlike upstream (W4) every one of
them owes the MFA step: a provider proves who the person is at that provider, not that
they hold this account's second factor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from authgate.accounts import social
from authgate.accounts.providers.base import MAX_FIELD
from authgate.config import FacebookSettings, GithubSettings, OidcProviderSettings, Settings
from authgate.errors import AuthError, Code
from authgate.events import LOGIN_FAILED, Event
from authgate.federation import apis, oidc
from authgate.federation.profile import Profile
from authgate.identity.snapshot import UserSnapshot
from authgate.resources import Resources
from authgate.sessions.service import ClientMeta

TokenType = Literal["idToken", "accessToken"]
AMR = ("fed",)
"""What a session opened by a provider records (RFC 8176 has no federated value)."""


def _credentials(credentials: dict[str, Any], default: TokenType,
                 accepted: tuple[TokenType, ...]) -> tuple[str, TokenType, str | None]:
    """``(token, type, nonce)`` or MISSING_REQUIRED_FIELDS / INVALID_INPUT /
    OAUTH_PROVIDER_ERROR (a type this provider does not take)."""
    token = credentials.get("token")
    if not token:
        raise AuthError(Code.MISSING_REQUIRED_FIELDS, "Missing token required fields")
    if not isinstance(token, str) or len(token) > 4 * MAX_FIELD:
        raise AuthError(Code.INVALID_INPUT, "credentials.token must be a string")
    kind = credentials.get("type", default)
    if kind not in ("idToken", "accessToken"):
        raise AuthError(Code.INVALID_INPUT,
                        'credentials.type must be "idToken" or "accessToken"')
    if kind not in accepted:
        raise AuthError(Code.OAUTH_PROVIDER_ERROR,
                        f"This provider signs in with an {' or '.join(accepted)}")
    nonce = credentials.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or not nonce
                              or len(nonce) > MAX_FIELD):
        raise AuthError(Code.INVALID_INPUT, "credentials.nonce must be a string")
    return token, kind, nonce


@dataclass(frozen=True)
class SocialProvider:
    """What every provider here shares; ``profile`` is the provider-specific part."""

    name: str
    config_key: str
    amr: tuple[str, ...] = AMR
    owes_mfa: bool = True

    def enabled(self, settings: Settings) -> bool:
        raise NotImplementedError

    def client_config(self, settings: Settings) -> dict[str, Any]:
        raise NotImplementedError

    def rate_limit_accounts(self, credentials: dict[str, Any], settings: Settings) -> list[str]:
        return []  # the account is known only once the provider answered

    async def profile(self, res: Resources, credentials: dict[str, Any]) -> Profile:
        """The provider's verified profile for these credentials (login and linking)."""
        raise NotImplementedError

    async def authenticate(self, res: Resources, credentials: dict[str, Any], *,
                           tenant_id: str | None, client: ClientMeta,
                           create_user: bool = False) -> UserSnapshot:
        try:
            profile = await self.profile(res, credentials)
            return await social.sign_in(res, profile, create_user=create_user,
                                        tenant_id=tenant_id, client=client)
        except AuthError as exc:  # the audit trail and alerts see refused social logins too
            await res.events.emit(Event(LOGIN_FAILED, None, {
                "provider": self.name, "reasonCode": str(exc.code), "ip": client.ip}))
            raise


@dataclass(frozen=True)
class OidcSocial(SocialProvider):
    """Google and Apple (``social.google``/``social.apple``): ID tokens by the issuer's
    keys; Google access tokens by tokeninfo."""

    access_tokens: bool = False

    def settings(self, settings: Settings) -> OidcProviderSettings | None:
        cfg = getattr(settings.social, self.name)
        assert cfg is None or isinstance(cfg, OidcProviderSettings)
        return cfg

    def enabled(self, settings: Settings) -> bool:
        return self.settings(settings) is not None

    def client_config(self, settings: Settings) -> dict[str, Any]:
        cfg = self.settings(settings)
        return {"enabled": True, "clientId": cfg.client_id} if cfg else {"enabled": False}

    async def profile(self, res: Resources, credentials: dict[str, Any]) -> Profile:
        cfg = self.settings(res.settings)
        assert cfg is not None
        accepted: tuple[TokenType, ...] = (
            ("idToken", "accessToken") if self.access_tokens else ("idToken",))
        token, kind, nonce = _credentials(credentials, "idToken", accepted)
        if kind == "accessToken":
            return await apis.google(res, cfg, token)
        return await oidc.verify_id_token(res, self.name, cfg, token, nonce=nonce)


@dataclass(frozen=True)
class ConfiguredOidc(SocialProvider):
    """A provider from ``social.oidc`` (Keycloak, Okta, Azure AD, Auth0, GitLab...): ID
    tokens, and the code flow when it has a client secret."""

    cfg: OidcProviderSettings | None = None

    def settings(self, settings: Settings) -> OidcProviderSettings | None:
        return self.cfg

    def enabled(self, settings: Settings) -> bool:
        return True

    def client_config(self, settings: Settings) -> dict[str, Any]:
        assert self.cfg is not None
        return {"enabled": True, "clientId": self.cfg.client_id,
                "label": self.cfg.label or self.name}

    async def profile(self, res: Resources, credentials: dict[str, Any]) -> Profile:
        assert self.cfg is not None
        token, _, nonce = _credentials(credentials, "idToken", ("idToken",))
        return await oidc.verify_id_token(res, self.name, self.cfg, token, nonce=nonce)


@dataclass(frozen=True)
class Github(SocialProvider):
    def settings(self, settings: Settings) -> GithubSettings:
        return settings.social.github

    def enabled(self, settings: Settings) -> bool:
        return settings.social.github.client_id is not None

    def client_config(self, settings: Settings) -> dict[str, Any]:
        cid = settings.social.github.client_id
        return {"enabled": True, "clientId": cid} if cid else {"enabled": False}

    async def profile(self, res: Resources, credentials: dict[str, Any]) -> Profile:
        token, _, _ = _credentials(credentials, "accessToken", ("accessToken",))
        return await apis.github(res, res.settings.social.github, token)


@dataclass(frozen=True)
class Facebook(SocialProvider):
    def settings(self, settings: Settings) -> FacebookSettings:
        return settings.social.facebook

    def enabled(self, settings: Settings) -> bool:
        fb = settings.social.facebook
        return fb.app_id is not None and fb.app_secret is not None

    def client_config(self, settings: Settings) -> dict[str, Any]:
        fb = settings.social.facebook
        return {"enabled": True, "appId": fb.app_id} if self.enabled(settings) else {
            "enabled": False}

    async def profile(self, res: Resources, credentials: dict[str, Any]) -> Profile:
        token, _, _ = _credentials(credentials, "accessToken", ("accessToken",))
        return await apis.facebook(res, res.settings.social.facebook, token)


GOOGLE = OidcSocial(name="google", config_key="google", access_tokens=True)
APPLE = OidcSocial(name="apple", config_key="apple")
GITHUB = Github(name="github", config_key="github")
FACEBOOK = Facebook(name="facebook", config_key="facebook")


def configured(settings: Settings) -> list[ConfiguredOidc]:
    """One provider per ``social.oidc`` entry (the registry's settings source)."""
    return [ConfiguredOidc(name=name, config_key="customProviders", cfg=cfg)
            for name, cfg in settings.social.oidc.items()]
