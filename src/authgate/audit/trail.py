"""Writing the audit trail: the event-bus subscriber, direct records, and the purge.

The subscriber (``AuditTrail``, on ``"*"``) turns an event into a row while the request is
still running (``events.current_origin`` knows the client then) and queues it; a
background task writes what is queued, up to ``audit.batch_size`` rows per statement, in
one unit of work with the webhook outbox rows. So a login pays for building a dict, not
for a database round trip, and a failing database costs a logged warning, never the
request. ``drain`` (the app's shutdown, ``Resources.close``, tests) waits for the queue.

Admin actions (``authgate.admin.audit``) and operator commands (``record``) are written
at once instead: an admin expects the console's audit page to show the change just made.

What a row may say: an allow-list of event fields (``SAFE_FIELDS``: ids, methods, error
codes, counts); a login identifier becomes a keyed hash (``identifierHash``: it correlates
attempts on one account without naming it, and a password typed into the email field is
not kept); no password, code, token or email address of a user is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, bindparam, insert

from authgate import background, events
from authgate.audit.models import AuditEvent, WebhookDelivery
from authgate.crypto.keys import keyed_hash
from authgate.db import Base, new_id
from authgate.resources import Resources

if TYPE_CHECKING:
    from authgate.audit.webhooks import Dispatcher

log = logging.getLogger("authgate.audit")

USER, ADMIN, CLI, SYSTEM = "user", "admin", "cli", "system"
ACTOR_TYPES = (USER, ADMIN, CLI, SYSTEM)
SUCCESS, FAILURE = "success", "failure"

FAILURES = frozenset({events.ACCESS_DENIED, events.LOGIN_FAILED, events.MFA_FAILED,
                      events.MFA_FAILURES_REPEATED, events.REFRESH_REUSE_DETECTED,
                      events.MFA_TOTP_REPLAYED, events.PASSKEY_CLONE_DETECTED})
"""Events that record a refused or suspicious attempt (``outcome`` failure)."""
SAFE_FIELDS = ("method", "reason", "reasonCode", "channel", "deviceId", "deviceName",
               "count", "failures", "windowSeconds", "initiatedBy", "sessions",
               "trustedDevice", "sessionId", "endedBy", "provider", "providerName",
               "apiKeyId", "name", "tenantId", "isNewUser", "invitedBy", "tokenSent", "from",
               "to", "credentialId", "storedCount", "presentedCount", "path", "httpMethod")
"""Event data stored as is (short strings, numbers, flags; nothing secret)."""
HANDLED_ELSEWHERE = frozenset({events.ADMIN_ACTION, events.ADMIN_CREATED,
                               events.ADMIN_PASSWORD_RESET})
"""Admin changes: ``authgate.admin.audit.record`` writes their row itself."""
_MAX_TEXT = 64
_AUDIT_INSERT = insert(Base.metadata.tables[AuditEvent.__tablename__])
_OUTBOX_INSERT = insert(Base.metadata.tables[WebhookDelivery.__tablename__])
_AUDIT_TABLE = Base.metadata.tables[AuditEvent.__tablename__]
_AUDIT_ONE = insert(_AUDIT_TABLE).values(
    {c.name: bindparam(c.name, type_=c.type) for c in _AUDIT_TABLE.c})
"""One row, built once for ``Database.hot_write`` (a login's single event)."""


@dataclass(frozen=True, slots=True)
class Acting:
    """Who caused the events of a block of work outside a user's request."""

    actor_type: str
    actor_id: str | None = None


_acting: ContextVar[Acting | None] = ContextVar("authgate_audit_acting", default=None)


@contextmanager
def acting(actor_type: str, actor_id: str | None = None) -> Iterator[None]:
    """``with acting(CLI, "operator"):`` — events emitted inside (a CLI command revoking
    sessions, a scheduled job) are recorded as that actor's, not the account owner's."""
    token = _acting.set(Acting(actor_type, actor_id))
    try:
        yield
    finally:
        _acting.reset(token)


class _OrderedIds:
    """UUIDv7-shaped ids (RFC 9562: 48-bit Unix milliseconds, then a 12-bit counter, then
    random bits) that grow within a process, so rows written at the same recorded instant
    still list newest first in the order they happened (``ORDER BY at DESC, id DESC``)."""

    def __init__(self) -> None:
        self.last_ms = 0
        self.seq = 0

    def __call__(self) -> str:
        ms = time.time_ns() // 1_000_000
        if ms > self.last_ms:
            self.last_ms, self.seq = ms, 0
        else:  # the same millisecond (or the clock stepped back): count on from the last
            self.seq += 1
            if self.seq > 0xFFF:
                self.last_ms, self.seq = self.last_ms + 1, 0
        value = (self.last_ms << 80) | (0x7 << 76) | (self.seq << 64) | (
            0b10 << 62) | secrets.randbits(62)
        return str(uuid.UUID(int=value))


ordered_id = _OrderedIds()


def _short(value: str | None, n: int) -> str | None:
    return None if value is None else value[:n]


def _safe(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in SAFE_FIELDS:
        value = data.get(key)
        if isinstance(value, bool | int) or value is None and key in data:
            out[key] = value
        elif isinstance(value, str):
            out[key] = value[:_MAX_TEXT]
    return out


def row_from_event(res: Resources, event: events.Event) -> dict[str, Any]:
    """The row of one bus event, with the request's client (call it while the request
    runs: the origin is the request's)."""
    origin = events.current_origin()
    data = event.data
    details = _safe(data)
    ident = data.get("identifier")
    if isinstance(ident, str) and ident:
        details["identifierHash"] = keyed_hash(res.keys.rate_account,
                                               "log:" + ident.strip().lower())[:16]
    who = _acting.get()
    inviter = data.get("invitedBy")
    if who is not None:
        actor_type, actor_id = who.actor_type, who.actor_id
    elif origin.admin_id is not None:  # a console request (an admin removing a device...)
        actor_type, actor_id = ADMIN, origin.admin_id
    elif data.get("providerName") == "admin":  # the console's own sign-in
        actor_type, actor_id = ADMIN, None
    elif isinstance(inviter, str):  # an invitation: the inviter acted on the invitee
        actor_type, actor_id = USER, inviter
    else:
        actor_type, actor_id = USER, event.user_id
    ip = origin.ip or data.get("ip")
    tenant = data.get("tenantId") if isinstance(data.get("tenantId"), str) else origin.tenant_id
    if event.name == events.TENANT_SWITCHED and isinstance(data.get("to"), str):
        tenant = data["to"]
    target = next((data[k] for k in ("deviceId", "apiKeyId", "credentialId", "sessionId")
                   if isinstance(data.get(k), str)), None)
    return make_row(res, event.name, actor_type=actor_type, actor_id=actor_id,
                    user_id=event.user_id, target=target,
                    outcome=FAILURE if event.name in FAILURES else SUCCESS, tenant_id=tenant,
                    ip=ip if isinstance(ip, str) else None, user_agent=origin.user_agent,
                    details=details)


def make_row(res: Resources, event: str, *, actor_type: str, actor_id: str | None = None,
             actor_email: str | None = None, user_id: str | None = None,
             target: str | None = None, outcome: str = SUCCESS, tenant_id: str | None = None,
             ip: str | None = None, user_agent: str | None = None,
             details: dict[str, Any] | None = None, at: datetime | None = None,
             ) -> dict[str, Any]:
    """A row written directly (admin actions, operator commands)."""
    return {
        "id": ordered_id(), "at": at or res.clock.now(), "event": event[:64],
        "actor_type": actor_type, "actor_id": actor_id,
        "actor_email": _short(actor_email, 320), "user_id": user_id,
        "target": _short(target, 255), "outcome": outcome, "tenant_id": _short(tenant_id, 36),
        "ip_address": _short(ip, 64), "user_agent": _short(user_agent, 512),
        "details": details or {},
    }


async def write(res: Resources, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` and their webhook deliveries in one unit of work (one statement
    each), then wake this process's webhook sender."""
    if not rows:
        return
    cfg = res.settings.audit
    now = res.clock.now()
    outbox = [{"id": new_id(), "audit_id": row["id"], "endpoint": name, "status": "pending",
               "attempts": 0, "next_at": now, "created_at": now}
              for row in rows for name, hook in cfg.webhooks.items()
              if cfg.enabled and hook.wants(row["event"])]
    if len(rows) == 1 and not outbox:
        # one statement, atomic on its own: on the hot path (a unit of work cost ~0.8 ms of
        # CPU per login here: pool checkout and ping, BEGIN, INSERT, COMMIT)
        await res.db.hot_write(_AUDIT_ONE, rows[0])
        return
    # Core, not the ORM session: a batch of plain dicts needs no identity map (a third of
    # the cost of writing one row went to the session's bookkeeping)
    async with res.db.writer.begin() as conn:
        await conn.execute(_AUDIT_INSERT, rows)
        if outbox:
            await conn.execute(_OUTBOX_INSERT, outbox)
    if outbox and res.audit is not None and res.audit.dispatcher is not None:
        res.audit.dispatcher.wake()


async def record(res: Resources, event: str, *, actor_type: str = CLI,
                 actor_id: str | None = None, user_id: str | None = None,
                 target: str | None = None, outcome: str = SUCCESS,
                 **details: Any) -> None:
    """Store one row now (an operator command: ``authgate mfa reset`` records
    ``record(res, "user.mfa_reset", user_id=uid, target=uid)``). A failure to store is
    logged, never raised: the change it describes has already happened."""
    try:
        await write(res, [make_row(res, event, actor_type=actor_type, actor_id=actor_id,
                                   user_id=user_id, target=target, outcome=outcome,
                                   details=details)])
    except Exception as exc:  # noqa: BLE001 (logged; the caller's change stands)
        log.warning("could not store the audit entry of %s: %s", event, type(exc).__name__)


class AuditTrail:
    """The ``"*"`` subscriber and its writer (one per app: ``Resources.audit``)."""

    def __init__(self, res: Resources) -> None:
        self.res = res
        self.queue: deque[dict[str, Any]] = deque()
        self.writer: asyncio.Task[None] | None = None
        self.dispatcher: Dispatcher | None = None
        """Set while the app sends webhooks (``authgate.audit.webhooks``)."""
        self.dropped = 0
        self._now = asyncio.Event()
        """Set by ``drain``: write without waiting for ``audit.flush_delay``."""
        self.skip = frozenset(res.settings.audit.skip) | HANDLED_ELSEWHERE

    def __call__(self, event: events.Event) -> None:
        if event.name in self.skip:
            return
        cfg = self.res.settings.audit
        if len(self.queue) >= cfg.queue_limit:
            self.queue.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("audit queue full: %d events dropped so far", self.dropped)
        self.queue.append(row_from_event(self.res, event))
        if self.writer is None or self.writer.done():
            try:
                self.writer = background.spawn(self.res, self._write_queued(),
                                               name="audit trail")
            except RuntimeError:  # no running loop: the next event (or drain) writes it
                self.writer = None

    async def _write_queued(self) -> None:
        cfg = self.res.settings.audit
        if cfg.flush_delay and not self._now.is_set():
            # let the events of concurrent requests join this batch (one statement for many)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._now.wait(), cfg.flush_delay)
        size = cfg.batch_size
        while self.queue:
            batch = [self.queue.popleft() for _ in range(min(size, len(self.queue)))]
            try:
                await write(self.res, batch)
            except Exception as exc:  # noqa: BLE001 (a request must never see it)
                log.warning("could not store %d audit entries: %s", len(batch),
                            type(exc).__name__)

    async def drain(self) -> None:
        """Write everything queued now (shutdown, tests)."""
        self._now.set()
        try:
            if self.writer is not None and not self.writer.done():
                await asyncio.shield(self.writer)
            if self.queue:
                await self._write_queued()
        finally:
            self._now.clear()

    async def close(self) -> None:
        """Stop sending webhooks and write what is queued (``Resources.close``)."""
        dispatcher, self.dispatcher = self.dispatcher, None
        if dispatcher is not None:
            await dispatcher.stop()
        await self.drain()


def subscribe(res: Resources) -> AuditTrail:
    trail = AuditTrail(res)
    res.audit = trail
    if res.settings.audit.enabled:
        res.events.subscribe("*", trail)
    return trail


async def purge(res: Resources, now: datetime, *, batch: int = 1000) -> int:
    """Delete rows older than ``audit.retention`` (their webhook deliveries go with them:
    ``ON DELETE CASCADE``), ``batch`` rows per unit of work so no lock is held long; returns
    how many rows went. Registered with the housekeeping as ``audit``
    (``authgate.audit.purge``); stops early when the housekeeping run is asked to stop."""
    from authgate.housekeeping import delete_rows

    retention = res.settings.audit.retention
    if retention is None:
        return 0
    return await delete_rows(res, cast(Table, AuditEvent.__table__),
                             AuditEvent.at < now - retention, batch=batch)
