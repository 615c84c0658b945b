"""A user's own sessions (ASVS 3.3.4; beyond the contract, which lists sessions to admins
only): where they are signed in, and ending one of them.

Ending the caller's own session is a logout. Ending another one is a sensitive change under
the step-up window (``mfa.reauth_window``): a stolen, older token must not sign the owner
out of their devices one by one. MFA-pending sessions (a password was given somewhere, the
second factor is still owed) are listed and can be ended: the owner is the one who should
see them.
"""

from __future__ import annotations

from authgate.errors import AuthError, Code
from authgate.events import LOGGED_OUT, Event
from authgate.mfa.reauth import require_recent_auth
from authgate.resources import Resources
from authgate.sessions.records import SessionRecord
from authgate.sessions.service import Principal, Sessions


async def list_sessions(res: Resources, principal: Principal) -> list[SessionRecord]:
    """The caller's live sessions, most recently active first."""
    return await res.store.list_for_user(principal.user.id, res.clock.now())


async def end_session(res: Resources, principal: Principal, session_id: str) -> bool:
    """End one of the caller's sessions; returns whether it was the caller's own.

    Raises NOT_FOUND (no such live session of this user: another user's id answers the
    same) and REAUTH_REQUIRED (another session, outside the step-up window)."""
    current = session_id == principal.session.id
    if not current:
        rec = await res.store.get(session_id, res.clock.now())
        if rec is None or rec.user_id != principal.user.id:
            raise AuthError(Code.NOT_FOUND, "Session not found")
        require_recent_auth(res, principal)
    if not await Sessions(res).revoke(session_id):
        raise AuthError(Code.NOT_FOUND, "Session not found")
    await res.events.emit(Event(LOGGED_OUT, principal.user.id, {
        "sessionId": session_id, "endedBy": principal.session.id}))
    return current
