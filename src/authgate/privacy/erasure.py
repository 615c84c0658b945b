"""Self-service account deletion (ASVS 8.3.2): the signed-in owner removes the account and
everything hanging off it.

Irreversible, so the caller proves presence first: the account's password (counted like a
change-password attempt: the ``change_password`` rate row and the account's lockout), or a
sign-in within the step-up window (``mfa.reauth_window``; 10 minutes when the window is
switched off: that switch keeps upstream's routes compatible, this route is not upstream's).
An MFA-pending session never reaches here (the route's guard), nor does an API key.

One unit of work deletes the user row; every table that belongs to the account references
it ``ON DELETE CASCADE`` (sessions, memberships and their roles, roles held, authenticators,
recovery codes, trusted devices, passkeys and their challenges, linked identities, API keys,
one-time codes). After the commit the session store ends every session (Redis and memory
stores too), cached snapshots are dropped and ``user.deleted`` is emitted with the address
the notice goes to (the row that held it is gone).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from authgate.errors import AuthError, Code
from authgate.events import USER_DELETED, Event
from authgate.identity.models import User
from authgate.mfa.trust import vouches_for
from authgate.resources import Resources
from authgate.sessions.service import ClientMeta, Principal, Sessions
from authgate.throttling import rate
from authgate.tx import readonly, transaction

FALLBACK_WINDOW = timedelta(minutes=10)
"""The recent sign-in a deletion without the password needs when ``mfa.reauth_window`` is off."""


async def _check_password(res: Resources, user_id: str, password: str,
                          client: ClientMeta) -> str | None:
    await rate.enforce(res, "change_password", ip=client.ip,
                       accounts=[rate.account_subject(res, "user", user_id)])
    async with readonly(res.readmaker) as s:
        stored = (await s.execute(select(User.password_hash).where(User.id == user_id))
                  ).scalar_one_or_none()
    attempt = await rate.begin_password_attempt(  # ACCOUNT_LOCKED (429)
        res, rate.lockout_key(res, user_id=user_id, identifier=None), ip=client.ip,
        trusted=vouches_for(res, user_id, client.trust_token))
    if not await res.hasher.verify(stored, password):  # no password: a decoy verify, False
        await rate.password_failed(res, attempt)
        raise AuthError(Code.CURRENT_PASSWORD_INCORRECT, "Current password is incorrect")
    await rate.password_succeeded(res, attempt)
    return stored


def _require_recent_sign_in(res: Resources, principal: Principal) -> None:
    window = res.settings.mfa.reauth_window or FALLBACK_WINDOW
    if res.clock.now() - principal.session.authenticated_at > window:
        raise AuthError(Code.REAUTH_REQUIRED)


async def delete_account(res: Resources, principal: Principal, *, password: str | None,
                         client: ClientMeta) -> None:
    """Delete the caller's account.

    Raises CURRENT_PASSWORD_INCORRECT (400), RATE_LIMITED/ACCOUNT_LOCKED (429) with a
    password; REAUTH_REQUIRED (403) without one and no recent sign-in; USER_NOT_FOUND when
    the account is already gone."""
    uid = principal.user.id
    if password is not None:
        await _check_password(res, uid, password, client)
    else:
        _require_recent_sign_in(res, principal)
    async with transaction(res.sessionmaker) as tx:
        row = (await tx.session.execute(
            select(User.email, User.phone).where(User.id == uid).with_for_update())).first()
        if row is None:
            raise AuthError(Code.USER_NOT_FOUND)
        email, phone = row
        await tx.session.execute(delete(User).where(User.id == uid))
    await Sessions(res).revoke_all(uid)
    await res.store.user_changed(uid)
    await res.events.emit(Event(USER_DELETED, uid, {
        "initiatedBy": "user", "email": email, "phone": phone,
        "sessionId": principal.session.id}))
