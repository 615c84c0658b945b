"""Reading the audit trail: the admin API, the console, ``GET /auth/activity`` and
``authgate audit`` all go through ``search`` (newest first, filtered, paged)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select

from authgate.audit.models import AuditEvent
from authgate.resources import Resources
from authgate.tx import readonly

_ONE = r"[a-z0-9_-]+(\.[a-z0-9_-]+)*(\.\*)?"
EVENT_FILTER = rf"^{_ONE}(,{_ONE})*$"
"""Comma-separated event names (``user.logged_in``) or prefixes (``mfa.*``)."""


def split_events(value: str | None) -> tuple[str, ...]:
    return tuple(v for v in value.split(",") if v) if value else ()


def utc(value: datetime | None) -> datetime | None:
    """A time filter as UTC (one without an offset is read as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Filters:
    """Every filter is optional; given ones are combined with AND. ``user_ids``: rows about
    these accounts; with ``actor_email`` rows by that admin also match (an email may name a
    user, an admin or both). ``events``: exact names, or ``prefix.*``."""

    user_ids: tuple[str, ...] | None = None
    actor_email: str | None = None
    events: tuple[str, ...] = ()
    outcome: str | None = None
    actor_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    tenant_id: str | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    at: datetime
    event: str
    actor_type: str
    actor_id: str | None
    actor_email: str | None
    user_id: str | None
    target: str | None
    outcome: str
    tenant_id: str | None
    ip: str | None
    user_agent: str | None
    details: dict[str, Any]


def _where(f: Filters) -> list[ColumnElement[bool]]:
    t = AuditEvent
    out: list[ColumnElement[bool]] = []
    who: list[ColumnElement[bool]] = []
    if f.user_ids is not None:
        who.append(t.user_id.in_(f.user_ids) if f.user_ids else false())
    if f.actor_email is not None:
        who.append(t.actor_email == f.actor_email)
    if who:
        out.append(or_(*who))
    if f.events:
        names = [e for e in f.events if not e.endswith(".*")]
        prefixes = [e[:-1] for e in f.events if e.endswith(".*")]
        out.append(or_(*([t.event.in_(names)] if names else []),
                       *(t.event.startswith(p, autoescape=True) for p in prefixes)))
    if f.outcome is not None:
        out.append(t.outcome == f.outcome)
    if f.actor_type is not None:
        out.append(t.actor_type == f.actor_type)
    if f.since is not None:
        out.append(t.at >= utc(f.since))
    if f.until is not None:
        out.append(t.at < utc(f.until))
    if f.tenant_id is not None:
        out.append(t.tenant_id == f.tenant_id)
    return out


def _entry(r: AuditEvent) -> Entry:
    return Entry(id=r.id, at=r.at, event=r.event, actor_type=r.actor_type,
                 actor_id=r.actor_id, actor_email=r.actor_email, user_id=r.user_id,
                 target=r.target, outcome=r.outcome, tenant_id=r.tenant_id, ip=r.ip_address,
                 user_agent=r.user_agent, details=dict(r.details or {}))


async def search(res: Resources, f: Filters, *, offset: int, limit: int,
                 count: bool = True) -> tuple[list[Entry], int | None]:
    """Newest first (ties by id, so pages never overlap); the total matching when
    ``count``."""
    where = _where(f)
    cond = and_(*where) if where else None
    query = select(AuditEvent)
    counted = select(func.count()).select_from(AuditEvent)
    if cond is not None:
        query, counted = query.where(cond), counted.where(cond)
    async with readonly(res.stale_readmaker) as s:  # history: lag is fine
        total = int((await s.execute(counted)).scalar_one()) if count else None
        rows = (await s.execute(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                                .offset(offset).limit(limit))).scalars().all()
    return [_entry(r) for r in rows], total
