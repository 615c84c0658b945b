"""Webhook delivery against a real local HTTP server the test starts (no mock of httpx):
the signature verifies, 500s are retried with backoff, delivery gives up after N attempts,
a slow receiver does not slow the request, and the outbox is delivered once however many
processes send and whether or not a sender died mid-send."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from authgate import background, events
from authgate.audit import trail, webhooks
from authgate.audit.models import WebhookDelivery
from authgate.tx import readonly
from tests.conftest import Harness, MakeHarness

SECRET = "whsec-" + "k3Y9" * 10


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class Receiver:
    """A webhook endpoint: answers ``statuses`` in turn (then 200), after ``delay`` s."""

    statuses: deque[int] = field(default_factory=deque)
    delay: float = 0.0
    got: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                time.sleep(receiver.delay)
                receiver.got.append(Received({k.lower(): v for k, v in self.headers.items()},
                                             body))
                status = receiver.statuses.popleft() if receiver.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the senders post concurrently

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/authgate"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


async def until(check: Callable[[], bool | Awaitable[bool]], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


async def make(make_harness: MakeHarness, receiver: Receiver, **audit: Any) -> tuple[Harness, str]:
    """An app sending to ``receiver`` under an endpoint name of its own (an idle app of
    another test never claims this test's rows)."""
    name = "hook-" + secrets.token_hex(4)
    h = await make_harness(audit={"webhooks": {name: {"url": receiver.url, "secret": SECRET,
                                                      "events": ["user.*", "mfa.*"]}},
                                  "webhook_backoff": "10s", "webhook_poll_interval": "0.1s",
                                  **audit})
    return h, name


async def deliveries(h: Harness) -> list[WebhookDelivery]:
    async with readonly(h.res.readmaker) as s:
        return list((await s.execute(select(WebhookDelivery))).scalars())


def wake(h: Harness) -> None:
    assert h.res.audit is not None and h.res.audit.dispatcher is not None
    h.res.audit.dispatcher.wake()


async def test_a_signed_event_reaches_the_endpoint(make_harness: MakeHarness,
                                                   receiver: Receiver) -> None:
    h, name = await make(make_harness, receiver)
    u = await h.make_user("alice@example.com")
    h.client.headers["user-agent"] = "hook-test/1"
    assert (await h.login()).status_code == 200
    await h.res.events.emit(events.Event(events.API_KEY_CREATED, u.id, {"apiKeyId": "k"}))
    await until(lambda: len(receiver.got) == 1)
    got = receiver.got[0]
    # the documented check, written out independently of authgate.audit.webhooks
    parts = dict(p.split("=", 1) for p in got.headers["x-authgate-signature"].split(","))
    mac = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + got.body, hashlib.sha256)
    assert hmac.compare_digest(mac.hexdigest(), parts["v1"])
    assert abs(int(parts["t"]) - time.time()) < 60
    assert webhooks.verify(SECRET, got.headers["x-authgate-signature"], got.body,
                           now=time.time())
    assert not webhooks.verify(SECRET, got.headers["x-authgate-signature"], got.body + b" ",
                               now=time.time())
    assert not webhooks.verify("another-secret", got.headers["x-authgate-signature"],
                               got.body, now=time.time())
    assert not webhooks.verify(SECRET, got.headers["x-authgate-signature"], got.body,
                               now=time.time() + 3600)  # an old body replayed
    body = got.json
    assert body["event"] == "user.logged_in" and body["userId"] == u.id
    assert body["actor"] == {"type": "user", "id": u.id, "email": None}
    assert body["outcome"] == "success" and body["ip"] == "127.0.0.1"
    assert body["userAgent"] == "hook-test/1" and body["occurredAt"].endswith("Z")
    assert got.headers["x-authgate-event"] == "user.logged_in"
    assert got.headers["x-authgate-event-id"] == body["id"]
    assert got.headers["content-type"] == "application/json"
    await background.drain(h.res)
    await until(lambda: _status(h, "delivered", attempts=1))
    [row] = await deliveries(h)
    assert row.endpoint == name and row.attempts == 1 and row.last_status == 200
    assert len(await deliveries(h)) == 1  # api_key.* is not among the endpoint's events


async def test_failures_are_retried_with_backoff_then_given_up(make_harness: MakeHarness,
                                                               receiver: Receiver) -> None:
    h, _ = await make(make_harness, receiver, webhook_max_attempts=3)
    receiver.statuses.extend([500, 503, 500, 500])
    await h.res.events.emit(events.Event(events.MFA_ENABLED, "u1", {"method": "totp"}))
    await until(lambda: len(receiver.got) == 1)

    lease = h.settings.audit.webhook_timeout + webhooks.LEASE_MARGIN

    async def settled(attempts: int) -> bool:  # attempted, and the outcome recorded
        [d] = await deliveries(h)
        return d.attempts == attempts and (d.status != "pending"
                                           or d.next_at != h.clock.now() + lease)

    await until(lambda: settled(1))
    [d] = await deliveries(h)
    assert d.status == "pending" and d.last_status == 500
    assert d.next_at == h.clock.now() + timedelta(seconds=10)  # the first backoff
    await asyncio.sleep(0.3)
    wake(h)
    await asyncio.sleep(0.3)
    assert len(receiver.got) == 1  # not before it is due
    h.clock.advance(10)
    wake(h)
    await until(lambda: len(receiver.got) == 2)
    await until(lambda: settled(2))
    [d] = await deliveries(h)
    assert d.status == "pending" and d.last_status == 503
    assert d.next_at == h.clock.now() + timedelta(seconds=20)  # doubled
    h.clock.advance(20)
    wake(h)
    await until(lambda: len(receiver.got) == 3)
    await until(lambda: settled(3))
    [d] = await deliveries(h)
    assert d.status == "failed" and d.last_error == "HTTP 500"
    h.clock.advance(3600)
    wake(h)
    await asyncio.sleep(0.4)
    assert len(receiver.got) == 3  # given up after webhook_max_attempts
    assert [r.headers["x-authgate-attempt"] for r in receiver.got] == ["1", "2", "3"]
    assert len({r.json["id"] for r in receiver.got}) == 1


async def test_a_retry_succeeds(make_harness: MakeHarness, receiver: Receiver) -> None:
    h, _ = await make(make_harness, receiver)
    receiver.statuses.append(500)
    await h.res.events.emit(events.Event(events.MFA_DISABLED, "u1", {}))
    await until(lambda: len(receiver.got) == 1)
    await until(lambda: _status(h, "pending", attempts=1))
    h.clock.advance(10)
    wake(h)
    await until(lambda: _status(h, "delivered", attempts=2))
    assert receiver.got[0].body == receiver.got[1].body


async def _status(h: Harness, status: str, *, attempts: int) -> bool:
    found = await deliveries(h)
    return len(found) == 1 and found[0].status == status and found[0].attempts == attempts \
        and found[0].last_status is not None


async def test_a_slow_endpoint_does_not_slow_the_request(make_harness: MakeHarness,
                                                          receiver: Receiver) -> None:
    h, _ = await make(make_harness, receiver, webhook_timeout="2s")
    receiver.delay = 3.0
    await h.make_user("slow@example.com")
    await h.login("slow@example.com")  # warm up
    started = time.monotonic()
    r = await h.login("slow@example.com")
    took = time.monotonic() - started
    assert r.status_code == 200 and took < 1.5, took  # the receiver takes 3 s
    await until(lambda: _timed_out(h))  # the attempt ended at webhook_timeout


async def _timed_out(h: Harness) -> bool:
    return any(d.last_error == "ReadTimeout" and d.status == "pending"
               for d in await deliveries(h))


async def test_the_outbox_is_sent_once_by_several_processes(make_harness: MakeHarness,
                                                            receiver: Receiver) -> None:
    h, name = await make(make_harness, receiver)
    other = await make_harness(audit=h.settings.audit.model_dump())  # a second process
    assert other.res is not h.res
    rows = [trail.make_row(h.res, "user.logged_in", actor_type="user", user_id=f"u{i}")
            for i in range(40)]
    await trail.write(h.res, rows)
    async with httpx.AsyncClient() as c1, httpx.AsyncClient() as c2:
        await asyncio.gather(*(webhooks.deliver_due(x.res, c, limit=7)
                               for x, c in ((h, c1), (other, c2), (h, c1), (other, c2))))
    wake(h)
    wake(other)
    await until(lambda: len(receiver.got) >= 40)
    await asyncio.sleep(0.3)
    ids = [r.json["id"] for r in receiver.got]
    assert sorted(ids) == sorted(r["id"] for r in rows)  # each exactly once
    assert all(d.status == "delivered" and d.attempts == 1 and d.endpoint == name
               for d in await deliveries(h))


async def test_a_sender_that_died_mid_send_is_taken_over(make_harness: MakeHarness,
                                                         receiver: Receiver) -> None:
    h, _ = await make(make_harness, receiver)
    assert h.res.audit is not None and h.res.audit.dispatcher is not None
    await h.res.audit.dispatcher.stop()  # this process sends nothing by itself now
    await trail.write(h.res, [trail.make_row(h.res, "user.logged_in", actor_type="user")])
    [claimed] = await webhooks._claim(h.res, h.clock.now(), 10)  # then the sender "dies"
    async with httpx.AsyncClient() as client:
        assert await webhooks.deliver_due(h.res, client) == 0  # leased: nobody takes it
        h.clock.advance(h.settings.audit.webhook_timeout.total_seconds() + 30)
        assert await webhooks.deliver_due(h.res, client) == 1  # the lease is over
    assert len(receiver.got) == 1
    assert receiver.got[0].headers["x-authgate-delivery"] == claimed.id
    assert await _status(h, "delivered", attempts=2)


async def test_no_sender_without_webhooks(h: Harness) -> None:
    assert h.res.audit is not None and h.res.audit.dispatcher is None
    await trail.write(h.res, [trail.make_row(h.res, "user.logged_in", actor_type="user")])
    assert await deliveries(h) == []


def test_webhook_settings_are_checked() -> None:
    from pydantic import ValidationError

    from authgate.config import Settings

    for hooks in ({"Bad Name": {"url": "https://x.example", "secret": SECRET}},
                  {"siem": {"url": "ftp://x.example", "secret": SECRET}},
                  {"siem": {"url": "https://x.example", "secret": "short"}},
                  {"siem": {"url": "https://x.example", "secret": SECRET, "extra": 1}}):
        with pytest.raises(ValidationError):
            Settings(audit={"webhooks": hooks})
    s = Settings(audit={"webhooks": {"siem": {"url": "https://x.example/h", "secret": SECRET,
                                              "events": ["mfa.*", "user.logged_in"]}}})
    hook = s.audit.webhooks["siem"]
    assert hook.wants("mfa.enabled") and hook.wants("user.logged_in")
    assert not hook.wants("user.logged_out") and not hook.wants("mfaX.enabled")
    assert SECRET not in repr(s)
