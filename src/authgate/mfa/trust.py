"""Trusted devices: a successful second factor with ``trustDevice: true`` earns a token
that skips the MFA step at later logins of the same user (contract §3.4), fixed for W7.

* The token is 32 random bytes (base64url, 43 chars); only ``keyed_hash(keys.trust, token)``
  is stored, under a key derived from the root secret, so no extra secret is needed (W7's
  500) and a database leak yields nothing usable.
* It is bound to the user: a token presented at another user's login is ignored.
* Lookup is by hash equality in the database (an index probe on a keyed hash), so
  comparing tokens leaks nothing about the stored values' bytes.
* It is revoked (``revoked_at``) when the user disables MFA, resets TOTP, changes or resets
  the password, or logs out everywhere: ``revoke_all_trust`` is the one call for that.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authgate.crypto.keys import keyed_hash
from authgate.db import new_id
from authgate.mfa.models import TrustedDevice
from authgate.resources import Resources
from authgate.sessions.service import ClientMeta
from authgate.tx import Tx, transaction


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _hash(res: Resources, token: str) -> str:
    return keyed_hash(res.keys.trust, token)


def _session(tx_or_session: Tx | AsyncSession) -> AsyncSession:
    return tx_or_session.session if isinstance(tx_or_session, Tx) else tx_or_session


def enabled(res: Resources) -> bool:
    cfg = res.settings.mfa
    return cfg.enabled and cfg.trusted_device_duration is not None


async def issue_trust(res: Resources, tx: Tx, user_id: str, client: ClientMeta) -> str | None:
    """Store a new trust token for the user and return it (shown once), or None when
    trusted devices are off (``mfa.trusted_device_duration`` unset or MFA disabled)."""
    duration: timedelta | None = res.settings.mfa.trusted_device_duration
    if not enabled(res) or duration is None:
        return None
    token = new_token()
    now = res.clock.now()
    tx.session.add(TrustedDevice(
        user_id=user_id, token_hash=_hash(res, token),
        user_agent=(client.user_agent or None) and client.user_agent[:512],
        ip_address=client.ip, expires_at=now + duration, created_at=now,
    ))
    await tx.session.flush()
    return token


async def maybe_issue_trust(res: Resources, user_id: str, client: ClientMeta,
                            wanted: bool | None) -> str | None:
    """``issue_trust`` in its own transaction when the client asked for it; for routes
    that finish the MFA step outside a unit of work."""
    if not wanted or not enabled(res):
        return None
    async with transaction(res.sessionmaker) as tx:
        return await issue_trust(res, tx, user_id, client)


async def consume_trust(res: Resources, user_id: str, token: str) -> bool:
    """True when ``token`` is a live (unexpired, unrevoked) trust token of this user;
    stamps ``last_used_at``. One conditional UPDATE: the check and the stamp are atomic."""
    now = res.clock.now()
    async with transaction(res.sessionmaker) as tx:
        result = await tx.session.execute(
            update(TrustedDevice)
            .where(TrustedDevice.token_hash == _hash(res, token),
                   TrustedDevice.user_id == user_id,
                   TrustedDevice.revoked_at.is_(None),
                   TrustedDevice.expires_at > now)
            .values(last_used_at=now)
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def holds_trust(res: Resources, user_id: str, token: str) -> bool:
    """Read only: is ``token`` a live trust token of this user? The lockout asks it to let
    the owner's known device past an account-wide lock (``throttling.rate``)."""
    if not enabled(res) or not token:
        return False
    async with res.readmaker() as s:
        found = (await s.execute(
            select(TrustedDevice.id)
            .where(TrustedDevice.token_hash == _hash(res, token),
                   TrustedDevice.user_id == user_id,
                   TrustedDevice.revoked_at.is_(None),
                   TrustedDevice.expires_at > res.clock.now())
            .limit(1)
        )).first()
    return found is not None


def vouches_for(res: Resources, user_id: str | None,
                token: str | None) -> Callable[[], Awaitable[bool]] | None:
    """The lockout's exemption test for a login of ``user_id`` (None: an unknown account,
    which runs the same query for an id nobody has, so the answer takes as long), or None
    when the request carries no trust token."""
    if token is None:
        return None
    uid = user_id or new_id()
    return lambda: holds_trust(res, uid, token)


async def trusted_device_check(res: Resources, user_id: str, token: str) -> bool:
    """The login's check: is ``token`` (read from the request by the HTTP edge) a valid
    trust token for ``user_id``? Bad, expired or foreign tokens are ignored."""
    if not enabled(res):
        return False
    return await consume_trust(res, user_id, token)


async def revoke_all_trust(res: Resources, tx_or_session: Tx | AsyncSession,
                           user_id: str) -> int:
    """Revoke every live trust token of the user (MFA disabled, TOTP reset, password
    changed or reset, logout everywhere). Runs in the caller's unit of work; returns the
    number of tokens revoked."""
    result = await _session(tx_or_session).execute(
        update(TrustedDevice)
        .where(TrustedDevice.user_id == user_id, TrustedDevice.revoked_at.is_(None))
        .values(revoked_at=res.clock.now())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
