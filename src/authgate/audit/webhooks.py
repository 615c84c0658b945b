"""Webhook delivery of audit events from the durable outbox (``WebhookDelivery`` rows).

Each server process runs one ``Dispatcher`` when ``audit.webhooks`` names an endpoint. It
claims due rows (``status`` pending, ``next_at`` passed) by pushing ``next_at`` a lease
ahead in one statement — ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, SQLite's single writer
elsewhere — so no two processes send a row at once, posts them outside any transaction,
then records the outcome: ``delivered``, another attempt after an exponential backoff
(``audit.webhook_backoff`` doubling, at most 6 hours), or ``failed`` after
``audit.webhook_max_attempts``. A process that dies mid-send leaves its rows leased: another
one (or the next start) retries them when the lease ends, so a receiver may see an event
twice and should dedupe on ``X-Authgate-Event-Id``. Requests never wait for any of it.

The body is JSON (``payload``); ``X-Authgate-Signature: t=<unix>,v1=<hex>`` is
HMAC-SHA256 under the endpoint's secret over ``"<t>.<body>"`` (``sign``/``verify``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import select, update

from authgate import __version__
from authgate.audit.models import AuditEvent, WebhookDelivery
from authgate.clock import iso_millis
from authgate.resources import Resources
from authgate.tx import readonly, transaction

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("authgate.audit.webhooks")

SIGNATURE_HEADER = "X-Authgate-Signature"
MAX_BACKOFF = timedelta(hours=6)
LEASE_MARGIN = timedelta(seconds=30)
BATCH = 20


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Authgate-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: float,
           tolerance: float = 300) -> bool:
    """A receiver's check (docs/DEPLOYING.md shows the same in a few lines): the MAC in
    constant time, and a timestamp within ``tolerance`` seconds (a replayed old body)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return abs(now - timestamp) <= tolerance and hmac.compare_digest(
        expected, parts.get("v1", ""))


def payload(row: AuditEvent) -> dict[str, Any]:
    """What a receiver gets: the audit row as the admin API shows it."""
    return {
        "id": row.id, "event": row.event, "occurredAt": iso_millis(row.at),
        "actor": {"type": row.actor_type, "id": row.actor_id, "email": row.actor_email},
        "userId": row.user_id, "target": row.target, "outcome": row.outcome,
        "tenantId": row.tenant_id, "ip": row.ip_address, "userAgent": row.user_agent,
        "details": dict(row.details or {}),
    }


def backoff(res: Resources, attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure."""
    base = res.settings.audit.webhook_backoff
    wait: timedelta = base * (2 ** min(attempts - 1, 20))
    return min(wait, MAX_BACKOFF)


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: str
    audit_id: str
    endpoint: str
    attempts: int


@dataclass(frozen=True, slots=True)
class _Result:
    claimed: _Claimed
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def _claim(res: Resources, now: datetime, limit: int) -> list[_Claimed]:
    lease = now + res.settings.audit.webhook_timeout + LEASE_MARGIN
    mine = list(res.settings.audit.webhooks)  # a process configured otherwise (a rollout
    # in progress) leaves other endpoints' rows to the processes that know them
    due = (select(WebhookDelivery.id)
           .where(WebhookDelivery.status == "pending", WebhookDelivery.next_at <= now,
                  WebhookDelivery.endpoint.in_(mine))
           .order_by(WebhookDelivery.next_at).limit(limit)
           .with_for_update(skip_locked=True))  # SQLite: one writer at a time anyway
    async with transaction(res.sessionmaker) as tx:
        rows = (await tx.session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id.in_(due.scalar_subquery()))
            .values(next_at=lease, attempts=WebhookDelivery.attempts + 1)
            .returning(WebhookDelivery.id, WebhookDelivery.audit_id,
                       WebhookDelivery.endpoint, WebhookDelivery.attempts)
            .execution_options(synchronize_session=False))).all()
    return [_Claimed(*r) for r in rows]


async def _send(res: Resources, client: httpx.AsyncClient, claimed: _Claimed,
                row: AuditEvent | None) -> _Result:
    hook = res.settings.audit.webhooks.get(claimed.endpoint)
    if hook is None or row is None:
        return _Result(claimed, None, "endpoint not configured" if hook is None
                       else "event purged")
    body = orjson.dumps(payload(row))
    stamp = int(res.clock.now().timestamp())
    headers = {
        "content-type": "application/json", "user-agent": f"authgate-webhooks/{__version__}",
        "x-authgate-event": row.event, "x-authgate-event-id": row.id,
        "x-authgate-delivery": claimed.id, "x-authgate-attempt": str(claimed.attempts),
        SIGNATURE_HEADER.lower(): sign(hook.secret.get_secret_value(), stamp, body),
    }
    try:
        resp = await client.post(hook.url, content=body, headers=headers,
                                 timeout=res.settings.audit.webhook_timeout.total_seconds())
    except Exception as exc:  # noqa: BLE001 (a receiver's failure is a retry, not ours)
        return _Result(claimed, None, type(exc).__name__)
    return _Result(claimed, resp.status_code, None if resp.is_success else f"HTTP {resp.status_code}")


async def _settle(res: Resources, results: list[_Result]) -> None:
    now = res.clock.now()
    cfg = res.settings.audit
    async with transaction(res.sessionmaker) as tx:
        for r in results:
            c = r.claimed
            if r.ok:
                values: dict[str, Any] = {"status": "delivered", "delivered_at": now}
            elif c.attempts >= cfg.webhook_max_attempts or r.error in (
                    "endpoint not configured", "event purged"):
                values = {"status": "failed"}
            else:
                values = {"next_at": now + backoff(res, c.attempts)}
            await tx.session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id == c.id).values(
                    last_status=r.status, last_error=r.error, **values))
    for r in results:
        if not r.ok:
            log.warning("webhook %s: delivery %s attempt %d failed (%s)", r.claimed.endpoint,
                        r.claimed.id, r.claimed.attempts, r.error)


async def deliver_due(res: Resources, client: httpx.AsyncClient, *,
                      limit: int = BATCH) -> int:
    """Send the deliveries due now (at most ``limit``), concurrently; returns how many
    were attempted."""
    claimed = await _claim(res, res.clock.now(), limit)
    if not claimed:
        return 0
    async with readonly(res.readmaker) as s:
        rows = {r.id: r for r in (await s.execute(
            select(AuditEvent).where(AuditEvent.id.in_({c.audit_id for c in claimed}))
        )).scalars()}
    results = await asyncio.gather(*(_send(res, client, c, rows.get(c.audit_id))
                                     for c in claimed))
    await _settle(res, list(results))
    return len(claimed)


class Dispatcher:
    """This process's sender: woken by new outbox rows, and every
    ``audit.webhook_poll_interval`` for retries and rows other processes left."""

    def __init__(self, res: Resources) -> None:
        self.res = res
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(),
                                                            name="authgate: webhooks")

    async def _run(self) -> None:
        import httpx  # only in a process that sends webhooks

        poll = self.res.settings.audit.webhook_poll_interval.total_seconds()
        async with httpx.AsyncClient(follow_redirects=False) as client:
            while not self._stopping:
                self._wake.clear()
                try:
                    sent = await deliver_due(self.res, client)
                except Exception as exc:  # noqa: BLE001 (the database may be away: retry)
                    log.warning("webhook sender: %s", type(exc).__name__)
                    sent = 0
                if sent == BATCH:
                    continue  # more may be due
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=poll)
                except TimeoutError:
                    pass

    async def stop(self, *, timeout: float = 10) -> None:
        """Let the attempts in flight finish (bounded), then stop; rows left leased are
        retried by the next process once their lease ends."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=timeout)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def start(res: Resources) -> Dispatcher | None:
    """Start this process's sender when webhooks are configured (``AuthGate.start``)."""
    if res.audit is None or not res.settings.audit.enabled or not res.settings.audit.webhooks:
        return None
    dispatcher = Dispatcher(res)
    res.audit.dispatcher = dispatcher
    dispatcher.start()
    return dispatcher
