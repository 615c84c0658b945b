"""A user's own security activity (``GET /auth/activity``; beyond the contract): the
audit trail's rows about the caller's account — sign-ins and refused attempts, MFA and
password changes, sessions ended, API keys, linked identities, and what admins changed on
it — newest first. Nobody else's rows, ever: the filter is the caller's user id, not
anything the request says. Nor anybody else's data on the caller's rows: where someone else
acted on the account (an admin, an inviter) their address, user agent and id are left out;
a stranger's refused sign-in keeps its address (the owner should see where it came from)."""

from __future__ import annotations

from dataclasses import replace

from authgate.audit import query, trail
from authgate.audit.query import Entry, Filters
from authgate.resources import Resources
from authgate.sessions.service import Principal


async def own_activity(res: Resources, principal: Principal, *, page: int, limit: int,
                       events: tuple[str, ...] = ()) -> tuple[list[Entry], int]:
    """The caller's rows, paged, optionally only ``events`` (names or ``prefix.*``)."""
    me = principal.user.id
    entries, total = await query.search(
        res, Filters(user_ids=(me,), events=events), offset=(page - 1) * limit, limit=limit)
    return [_own_view(e, me) for e in entries], total or 0


_OTHERS = ("invitedBy",)
"""Details that name another account."""


def _own_view(e: Entry, me: str) -> Entry:
    if e.actor_type == trail.USER and e.actor_id in (None, me):
        return e
    return replace(e, actor_id=None, actor_email=None, ip=None, user_agent=None,
                   details={k: v for k, v in e.details.items() if k not in _OTHERS})
