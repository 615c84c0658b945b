"""Step-up: sensitive MFA changes need a recent sign-in (W8).

With ``mfa.reauth_window`` set, turning MFA off, removing an authenticator, generating
recovery codes and resetting TOTP require the session's ``authenticated_at`` (set at login
and at each completed MFA step) to be within the window; otherwise 403 REAUTH_REQUIRED and
the client signs in again. Off by default, as upstream has no such rule.
"""

from __future__ import annotations

from authgate.errors import AuthError, Code
from authgate.resources import Resources
from authgate.sessions.service import Principal


def require_recent_auth(res: Resources, principal: Principal) -> None:
    """Raise REAUTH_REQUIRED when the step-up window is configured and has passed."""
    window = res.settings.mfa.reauth_window
    if window is None:
        return
    if res.clock.now() - principal.session.authenticated_at > window:
        raise AuthError(Code.REAUTH_REQUIRED)
