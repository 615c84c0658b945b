"""Signing out: one session, or every session and trusted device of the user."""

from __future__ import annotations

from authgate.events import LOGGED_OUT, LOGGED_OUT_ALL, Event
from authgate.mfa.reauth import require_recent_auth
from authgate.mfa.trust import revoke_all_trust
from authgate.resources import Resources
from authgate.sessions.records import SessionRecord
from authgate.sessions.service import Principal, Sessions
from authgate.tx import transaction


async def logout(res: Resources, session: SessionRecord | None) -> bool:
    """End the session the request named (``http.deps.logout_target``; none: nothing to
    end, still a success for the client). Emits LOGGED_OUT when a session was ended;
    returns whether one was."""
    if session is None:
        return False
    ended = await Sessions(res).revoke(session.id)
    if ended:
        await res.events.emit(Event(LOGGED_OUT, session.user_id, {"sessionId": session.id}))
    return ended


async def logout_all(res: Resources, principal: Principal) -> int:
    """End every session of the caller and every trusted device ("everywhere" includes the
    devices that would skip the MFA step). Trust is revoked and committed first: the session
    store is never written while a writer transaction is open. Emits LOGGED_OUT_ALL;
    returns how many sessions ended. Raises REAUTH_REQUIRED outside the step-up window (a
    stolen token must not sign the owner out everywhere)."""
    require_recent_auth(res, principal)
    user_id = principal.user.id
    async with transaction(res.sessionmaker) as tx:
        await revoke_all_trust(res, tx, user_id)
    ended = await Sessions(res).revoke_all(user_id)
    await res.events.emit(Event(LOGGED_OUT_ALL, user_id, {"sessions": ended}))
    return ended
