"""Password change (and the shared 'set a new password' step used by reset)."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import update

from authgate.crypto.passwords import normalise
from authgate.errors import AuthError, Code
from authgate.events import PASSWORD_CHANGED, Event
from authgate.identity import password_policy
from authgate.identity import store as users
from authgate.identity.models import User
from authgate.mfa.trust import revoke_all_trust, vouches_for
from authgate.resources import Resources
from authgate.sessions.service import ClientMeta, Principal, Sessions
from authgate.throttling import rate
from authgate.tx import Tx, readonly, transaction


async def revoke_after_password_change(
    res: Resources, user_id: str, *, keep_session: str | None,
    mode: Literal["others", "all", "none"] | None = None,
) -> None:
    """End sessions per ``mode`` (default: ``password.revoke_sessions_on_change``; a reset
    passes ``"all"``) and drop cached user snapshots. Trusted devices are revoked by the
    caller inside its unit of work (``mfa.trust.revoke_all_trust``)."""
    mode = mode or res.settings.password.revoke_sessions_on_change
    if mode == "all" or (mode == "others" and keep_session is None):
        await Sessions(res).revoke_all(user_id)
    elif mode == "others":
        await Sessions(res).revoke_all(user_id, keep=keep_session)
    await res.store.user_changed(user_id)


async def set_password(res: Resources, tx: Tx, user_id: str, new_hash: str,
                       *, expected_hash: str | None) -> bool:
    """Write the new hash iff the stored one is still ``expected_hash`` (no lost update when
    two changes race). Clears the must-change flag."""
    now = res.clock.now()
    cond = [User.id == user_id]
    cond.append(User.password_hash == expected_hash if expected_hash is not None
                else User.password_hash.is_(None))
    result = await tx.session.execute(
        update(User).where(*cond).values(password_hash=new_hash, must_change_password=False,
                                         password_changed_at=now, updated_at=now)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def change_password(res: Resources, principal: Principal, current: str, new: str, *,
                          client: ClientMeta | None = None) -> None:
    """Replace the password of the caller.

    Raises NEW_PASSWORD_SAME_AS_CURRENT, CURRENT_PASSWORD_INCORRECT, the policy codes,
    USER_NOT_FOUND, RATE_LIMITED and ACCOUNT_LOCKED (429). A stolen access token cannot
    guess without end: each request counts in the ``change_password`` row per user, and a
    wrong current password in the user's lockout exactly like a failed login
    (``throttling.rate``; a success clears). The row is counted here, after the route's
    guard, not by a route dependency: an MFA-pending session (password only) must not be
    able to spend the owner's budget. Other sessions and all trusted devices are revoked
    afterwards.
    """
    await rate.enforce(res, "change_password", ip=client.ip if client else None,
                       accounts=[rate.account_subject(res, "user", principal.user.id)])
    if normalise(current) == normalise(new):  # one password however it is typed
        raise AuthError(Code.NEW_PASSWORD_SAME_AS_CURRENT,
                        "New password must be different from the current password")
    async with readonly(res.readmaker) as s:
        user = await users.by_id(s, principal.user.id)
    if user is None:
        raise AuthError(Code.USER_NOT_FOUND)
    stored = user.password_hash
    attempt = await rate.begin_password_attempt(  # ACCOUNT_LOCKED (429)
        res, rate.lockout_key(res, user_id=user.id, identifier=None),
        ip=client.ip if client else None,
        trusted=vouches_for(res, user.id, client.trust_token if client else None))
    if not await res.hasher.verify(stored, current):
        await rate.password_failed(res, attempt)
        raise AuthError(Code.CURRENT_PASSWORD_INCORRECT, "Current password is incorrect")
    await rate.password_succeeded(res, attempt)
    password_policy.check(res.settings.password, new,
                          identifiers=(user.email or "", user.phone or ""))
    new_hash = await res.hasher.hash(new)
    async with transaction(res.sessionmaker) as tx:
        if not await set_password(res, tx, user.id, new_hash, expected_hash=stored):
            # Changed concurrently since we verified: make the caller prove the new one.
            raise AuthError(Code.CURRENT_PASSWORD_INCORRECT, "Current password is incorrect")
        await revoke_all_trust(res, tx, user.id)
    await revoke_after_password_change(res, user.id, keep_session=principal.session.id)
    await res.events.emit(Event(PASSWORD_CHANGED, user.id, {"initiatedBy": "user"}))
