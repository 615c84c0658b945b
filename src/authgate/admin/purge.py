"""Purge tasks of the admin console: expired admin sessions, and audit rows older than
``housekeeping.admin_audit_retention``."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast

from sqlalchemy import ColumnElement, Table

from authgate.admin.models import AdminAuditEntry, AdminSession
from authgate.housekeeping import cutoff, purges

if TYPE_CHECKING:
    from authgate.resources import Resources


def _retained(res: Resources) -> bool:
    return res.settings.housekeeping.admin_audit_retention is not None


def _old_audit(res: Resources, now: datetime) -> ColumnElement[bool]:
    retention = res.settings.housekeeping.admin_audit_retention
    assert retention is not None  # _retained
    return AdminAuditEntry.at < now - retention


purges.register_rows("admin-sessions", cast(Table, AdminSession.__table__),
                     lambda res, now: AdminSession.expires_at <= cutoff(res, now))
purges.register_rows("admin-audit", cast(Table, AdminAuditEntry.__table__), _old_audit,
                     applies=_retained)
