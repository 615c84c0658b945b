"""The signed-in owner's provider identities: list, link (a provider token proves the other
side) and unlink. Linking and unlinking change how the account can be entered, so they
are behind the step-up window (``mfa.reauth_window``) like other sensitive changes."""

from __future__ import annotations

from typing import Any

from authgate.accounts import social
from authgate.accounts.providers.social import SocialProvider
from authgate.accounts.social import LinkedIdentity
from authgate.errors import AuthError, Code
from authgate.mfa.reauth import require_recent_auth
from authgate.registry import login_providers
from authgate.resources import Resources
from authgate.sessions.service import Principal


async def listed(res: Resources, principal: Principal) -> list[LinkedIdentity]:
    return await social.identities(res, principal.user.id)


async def link(res: Resources, principal: Principal, provider_name: str,
               credentials: dict[str, Any]) -> LinkedIdentity:
    """INVALID_PROVIDER (not a configured social provider), the provider's own errors
    (OAUTH_*), IDENTITY_ALREADY_LINKED, REAUTH_REQUIRED."""
    require_recent_auth(res, principal)
    provider = login_providers.find(provider_name, res.settings)
    if not isinstance(provider, SocialProvider) or not provider.enabled(res.settings):
        raise AuthError(Code.INVALID_PROVIDER)
    profile = await provider.profile(res, credentials)
    return await social.link(res, principal.user.id, principal.user.tenant_id or "", profile)


async def unlink(res: Resources, principal: Principal, identity_id: str) -> None:
    """IDENTITY_NOT_FOUND, LAST_SIGN_IN_METHOD, REAUTH_REQUIRED."""
    require_recent_auth(res, principal)
    await social.unlink(res, principal.user.id, identity_id)
