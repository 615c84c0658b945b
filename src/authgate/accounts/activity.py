"""A user's own security activity (``GET /auth/activity``; beyond the contract): the
audit trail's rows about the caller's account — sign-ins and refused attempts, MFA and
password changes, sessions ended, API keys, linked identities, and what admins changed on
it (the admin's identity is not shown) — newest first. Nobody else's rows, ever: the
filter is the caller's user id, not anything the request says."""

from __future__ import annotations

from authgate.audit import query
from authgate.audit.query import Entry, Filters
from authgate.resources import Resources
from authgate.sessions.service import Principal


async def own_activity(res: Resources, principal: Principal, *, page: int, limit: int,
                       events: tuple[str, ...] = ()) -> tuple[list[Entry], int]:
    """The caller's rows, paged, optionally only ``events`` (names or ``prefix.*``)."""
    entries, total = await query.search(
        res, Filters(user_ids=(principal.user.id,), events=events),
        offset=(page - 1) * limit, limit=limit)
    return entries, total or 0
