"""Purge tasks of the MFA tables: trusted devices past their expiry or revoked, abandoned
authenticator set-ups (never confirmed), and passkey ceremony challenges never used."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast

from sqlalchemy import ColumnElement, Table, and_, or_

from authgate.housekeeping import cutoff, purges
from authgate.mfa.models import TotpDevice, TrustedDevice, WebauthnChallenge

if TYPE_CHECKING:
    from authgate.resources import Resources


def _dead_trust(res: Resources, now: datetime) -> ColumnElement[bool]:
    before = cutoff(res, now)
    return or_(TrustedDevice.expires_at <= before, TrustedDevice.revoked_at <= before)


def _abandoned_setups(res: Resources, now: datetime) -> ColumnElement[bool]:
    """Unconfirmed set-ups past their expiry; one without an expiry (written by an older
    version) counts from its creation."""
    before = cutoff(res, now)
    return and_(TotpDevice.verified.is_(False), or_(
        TotpDevice.expires_at <= before,
        and_(TotpDevice.expires_at.is_(None),
             TotpDevice.created_at <= before - res.settings.mfa.totp.setup_expires_in)))


purges.register_rows("trusted-devices", cast(Table, TrustedDevice.__table__), _dead_trust)
purges.register_rows("totp-setups", cast(Table, TotpDevice.__table__), _abandoned_setups)
purges.register_rows("webauthn-challenges", cast(Table, WebauthnChallenge.__table__),
                     lambda res, now: WebauthnChallenge.expires_at <= cutoff(res, now))
