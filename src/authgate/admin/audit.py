"""The admin audit trail: every admin change is one row of ``authgate_admin_audit`` and one
``events.ADMIN_ACTION`` event (who, what, target, when, from where), both after the change
is committed, so the console's audit page reads it and a SIEM forwarder subscribes once.

    await audit.record(res, principal, "user.update", target=user_id, fields=["isActive"])
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from authgate.admin.models import AdminAuditEntry
from authgate.admin.sessions import AdminPrincipal, SafeAdmin
from authgate.clock import iso_millis
from authgate.events import ADMIN_ACTION, Event
from authgate.resources import Resources
from authgate.tx import readonly, transaction

log = logging.getLogger("authgate.admin")


async def record(res: Resources, actor: AdminPrincipal | SafeAdmin | None, action: str, *,
                 target: str | None = None, ip: str | None = None, **details: Any) -> None:
    """Store and emit one audit entry. ``actor`` None: a secret-key route (bootstrap,
    password reset; a ``SafeAdmin``: the admin signing in); ``ip`` defaults to the actor's request address. Call it after the
    change is committed and outside any transaction. A failure to store is logged, never
    raised: the change it describes has already happened."""
    now = res.clock.now()
    where = ip if ip is not None or not isinstance(actor, AdminPrincipal) else actor.ip
    try:
        async with transaction(res.sessionmaker) as tx:
            tx.session.add(AdminAuditEntry(
                at=now, actor_id=actor.id if actor else None,
                actor_email=actor.email if actor else None, action=action[:64],
                target=target[:255] if target else None,
                ip_address=where[:64] if where else None, details=details))
    except Exception:
        log.exception("could not store the audit entry of %s", action)
    await res.events.emit(Event(ADMIN_ACTION, None, {
        "actor": actor.id if actor else None, "actorEmail": actor.email if actor else None,
        "action": action, "target": target, "ip": where, "at": iso_millis(now), **details}))


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    at: datetime
    actor_id: str | None
    actor_email: str | None
    action: str
    target: str | None
    ip: str | None
    details: dict[str, Any]


async def recent(res: Resources, *, page: int, limit: int,
                 action: str | None) -> tuple[list[Entry], int]:
    """Newest first; ``action`` filters by the exact action name."""
    query = select(AdminAuditEntry)
    counted = select(func.count()).select_from(AdminAuditEntry)
    if action:
        query = query.where(AdminAuditEntry.action == action)
        counted = counted.where(AdminAuditEntry.action == action)
    async with readonly(res.stale_readmaker) as s:
        total = int((await s.execute(counted)).scalar_one())
        rows = (await s.execute(query.order_by(AdminAuditEntry.at.desc(), AdminAuditEntry.id)
                                .offset((page - 1) * limit).limit(limit))).scalars().all()
    return [Entry(id=r.id, at=r.at, actor_id=r.actor_id, actor_email=r.actor_email,
                  action=r.action, target=r.target, ip=r.ip_address, details=dict(r.details or {}))
            for r in rows], total
