"""The admin side of the audit trail: every admin change is one row of the audit log
(``authgate.audit``, actor type ``admin``) and one ``events.ADMIN_ACTION`` event (who,
what, target, when, from where), both after the change is committed, so the console's
audit page reads it and a SIEM forwarder subscribes once; and the reader behind
``GET /auth/admin/api/audit-log`` and ``authgate audit`` (every row: users' and admins').

    await audit.record(res, principal, "user.update", target=user_id, fields=["isActive"])
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select

from authgate.admin.sessions import AdminPrincipal, SafeAdmin
from authgate.audit import query, trail
from authgate.audit.query import Entry, Filters
from authgate.clock import iso_millis
from authgate.errors import AuthError, Code
from authgate.events import ADMIN_ACTION, Event
from authgate.identity.models import User
from authgate.identity.store import normalise_email
from authgate.resources import Resources
from authgate.tx import readonly

log = logging.getLogger("authgate.admin")

__all__ = ["Entry", "record", "recent", "search"]


async def record(res: Resources, actor: AdminPrincipal | SafeAdmin | None, action: str, *,
                 target: str | None = None, ip: str | None = None, **details: Any) -> None:
    """Store and emit one audit entry. ``actor`` None: a secret-key route (bootstrap,
    password reset; a ``SafeAdmin``: the admin signing in); ``ip`` defaults to the actor's
    request address. Call it after the change is committed and outside any transaction. A
    failure to store is logged, never raised: the change it describes has already
    happened. An action on an account (``user.*``) names it as the row's user, so the
    account's history shows what admins did to it; an ``Operator``'s (``via="cli"``) is the
    command line's."""
    now = res.clock.now()
    where = ip if ip is not None or not isinstance(actor, AdminPrincipal) else actor.ip
    agent = details.get("userAgent")
    user_id = target if action.startswith("user.") and target and len(target) <= 36 else None
    operator = details.get("operator") if details.get("via") == "cli" else None
    kind, who = ((trail.CLI, str(operator)[:36]) if actor is None and operator is not None
                 else (trail.ADMIN, actor.id if actor else None))
    try:
        await trail.write(res, [trail.make_row(
            res, action, actor_type=kind, actor_id=who,
            actor_email=actor.email if actor else None, user_id=user_id, target=target,
            ip=where, user_agent=agent if isinstance(agent, str) else None,
            details={k: v for k, v in details.items() if k != "userAgent"}, at=now)])
    except Exception:
        log.exception("could not store the audit entry of %s", action)
    await res.events.emit(Event(ADMIN_ACTION, None, {
        "actor": actor.id if actor else None, "actorEmail": actor.email if actor else None,
        "action": action, "target": target, "ip": where, "at": iso_millis(now), **details}))


async def user_ids_for(res: Resources, who: str) -> tuple[str | None, tuple[str, ...]]:
    """``who`` as a filter: an email (every account with it, in every tenant's scope; and
    the admin with it) → (the email, the user ids); anything else is an id → (None, (id,))."""
    if "@" not in who:
        return None, (who,)
    email = normalise_email(who)
    async with readonly(res.stale_readmaker) as s:
        ids = tuple((await s.execute(select(User.id).where(User.email == email))).scalars())
    return email, ids


async def search(res: Resources, *, page: int, limit: int, user: str | None = None,
                 events: tuple[str, ...] = (), outcome: str | None = None,
                 actor_type: str | None = None, since: datetime | None = None,
                 until: datetime | None = None) -> tuple[list[Entry], int]:
    """Newest first, filtered (``user``: an id or an email). Raises INVALID_INPUT for an
    unknown outcome or actor type, or ``since`` after ``until``."""
    if outcome is not None and outcome not in (trail.SUCCESS, trail.FAILURE):
        raise AuthError(Code.INVALID_INPUT, "outcome must be one of: success, failure")
    if actor_type is not None and actor_type not in trail.ACTOR_TYPES:
        raise AuthError(Code.INVALID_INPUT,
                        "actorType must be one of: " + ", ".join(trail.ACTOR_TYPES))
    since, until = query.utc(since), query.utc(until)
    if since is not None and until is not None and since > until:
        raise AuthError(Code.INVALID_INPUT, "since must not be after until")
    email, ids = (None, None) if user is None else await user_ids_for(res, user)
    entries, total = await query.search(res, Filters(
        user_ids=ids, actor_email=email, events=events, outcome=outcome,
        actor_type=actor_type, since=since, until=until),
        offset=(page - 1) * limit, limit=limit)
    return entries, total or 0


async def recent(res: Resources, *, page: int, limit: int,
                 action: str | None) -> tuple[list[Entry], int]:
    """Newest first; ``action`` filters by the exact action name."""
    return await search(res, page=page, limit=limit, events=(action,) if action else ())
