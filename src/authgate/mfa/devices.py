"""The flows behind ``/auth/mfa``'s device and recovery-code routes: each owns its unit of
work and its rules (MFA on for the app, the step-up window), so the routes only parse and
serialise."""

from __future__ import annotations

from authgate.errors import AuthError, Code
from authgate.mfa import recovery_codes, totp
from authgate.mfa.models import TotpDevice
from authgate.mfa.reauth import require_recent_auth
from authgate.resources import Resources
from authgate.sessions.service import Principal
from authgate.tx import readonly, transaction


def _require_mfa(res: Resources) -> None:
    if not res.settings.mfa.enabled:
        raise AuthError(Code.MFA_NOT_ENABLED)


async def begin_totp_setup(res: Resources, principal: Principal, *, label: str | None,
                           device_name: str | None) -> totp.TotpSetup:
    """Raises REAUTH_REQUIRED (an authenticator outlives the token that enrolled it)."""
    require_recent_auth(res, principal)
    async with transaction(res.sessionmaker) as tx:
        return await totp.begin_setup(res, tx, principal.user, label=label,
                                      device_name=device_name)


async def confirm_totp_setup(res: Resources, principal: Principal, *, secret: str,
                             code: str) -> None:
    """Raises REAUTH_REQUIRED, then the code errors."""
    require_recent_auth(res, principal)
    async with transaction(res.sessionmaker) as tx:
        await totp.confirm_setup(res, tx, principal.user.id, secret=secret, code=code)


async def list_devices(res: Resources, principal: Principal) -> list[TotpDevice]:
    async with readonly(res.readmaker) as s:
        return await totp.list_devices(res, s, principal.user.id)


async def remove_device(res: Resources, principal: Principal, device_id: str) -> None:
    """Raises REAUTH_REQUIRED, MFA_NOT_ENABLED, MFA_DEVICE_NOT_FOUND."""
    require_recent_auth(res, principal)
    async with transaction(res.sessionmaker) as tx:
        await totp.remove_device(res, tx, principal.user, device_id)


async def regenerate_recovery_codes(res: Resources, principal: Principal) -> list[str]:
    """Replace the caller's recovery codes. Raises MFA_NOT_ENABLED, REAUTH_REQUIRED."""
    _require_mfa(res)
    require_recent_auth(res, principal)
    async with transaction(res.sessionmaker) as tx:
        return await recovery_codes.generate(res, tx, principal.user.id)


async def reset_totp(res: Resources, principal: Principal, code: object) -> bool:
    """Remove every authenticator with a recovery code. Raises MFA_NOT_ENABLED,
    REAUTH_REQUIRED, MFA_TOO_MANY_ATTEMPTS, MFA_RECOVERY_CODE_INVALID."""
    _require_mfa(res)
    require_recent_auth(res, principal)
    return await totp.reset_with_recovery_code(res, principal.user, code)
