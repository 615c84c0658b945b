"""Step-up: sensitive changes need a recent sign-in (W8, ASVS 3.7.1).

With ``mfa.reauth_window`` set (10 minutes by default; ``null`` for upstream's behaviour),
turning MFA off, setting up an authenticator (``setup-totp``, ``verify-totp-setup``),
removing one, generating recovery codes, resetting TOTP and signing out everywhere require
the session's ``authenticated_at`` (set at login and at each completed MFA step, never by a
refresh) to be within the window; otherwise 403 REAUTH_REQUIRED and the client signs in
again (or, with MFA on, completes ``POST /auth/mfa/verify`` again in the same session).
A stolen access token alone then cannot turn MFA off or enrol an authenticator of its own.
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
