"""The audit trail's housekeeping task (``authgate purge``, the server's schedule): rows
older than ``audit.retention`` and their webhook deliveries (``trail.purge``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table

from authgate.audit import trail
from authgate.audit.models import AuditEvent
from authgate.housekeeping import count_rows, purges

if TYPE_CHECKING:
    from authgate.resources import Resources


def _kept(res: Resources) -> bool:
    return res.settings.audit.retention is not None


async def _purge(res: Resources, now: datetime) -> int:
    return await trail.purge(res, now, batch=res.settings.housekeeping.batch_size)


async def _count(res: Resources, now: datetime) -> int:
    retention = res.settings.audit.retention
    assert retention is not None  # _kept
    return await count_rows(res, cast(Table, AuditEvent.__table__), AuditEvent.at < now - retention)


purges.register("audit", _purge, count=_count, applies=_kept)
