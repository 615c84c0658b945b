"""The admin audit trail as events: every admin change is one ``events.ADMIN_ACTION``
(who, what, target, when, from where), emitted after the change is committed, so a
persisted audit log (or a SIEM forwarder) subscribes once for all of them.

    await audit.record(res, principal, "user.update", target=user_id, fields=["isActive"])
"""

from __future__ import annotations

from typing import Any

from authgate.admin.sessions import AdminPrincipal
from authgate.clock import iso_millis
from authgate.events import ADMIN_ACTION, Event
from authgate.resources import Resources


async def record(res: Resources, actor: AdminPrincipal | None, action: str, *,
                 target: str | None = None, ip: str | None = None, **details: Any) -> None:
    """Emit one audit event. ``actor`` None: a secret-key route (bootstrap, password reset);
    ``ip`` defaults to the actor's request address."""
    data: dict[str, Any] = {
        "actor": actor.id if actor else None,
        "actorEmail": actor.email if actor else None,
        "action": action,
        "target": target,
        "ip": ip if ip is not None or actor is None else actor.ip,
        "at": iso_millis(res.clock.now()),
        **details,
    }
    await res.events.emit(Event(ADMIN_ACTION, None, data))
