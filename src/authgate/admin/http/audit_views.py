"""The audit trail's wire shape in the admin API."""

from __future__ import annotations

from authgate.admin.http.schemas import AuditEntryOut
from authgate.audit.query import EVENT_FILTER, Entry, split_events
from authgate.http.schemas import iso

__all__ = ["EVENT_FILTER", "audit_entry_out", "split_events"]


def audit_entry_out(e: Entry) -> AuditEntryOut:
    return AuditEntryOut(id=e.id, at=iso(e.at) or "", actor=e.actor_id,
                         actorEmail=e.actor_email, action=e.event, target=e.target, ip=e.ip,
                         details=e.details, actorType=e.actor_type, userId=e.user_id,
                         outcome=e.outcome, tenantId=e.tenant_id, userAgent=e.user_agent)
