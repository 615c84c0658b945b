"""The persisted audit trail: what the event-bus subscriber writes (who, what, when, from
where, outcome; never a secret), that it never fails a request, and the purge."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select, text

from authgate import background, events
from authgate.audit import trail
from authgate.audit.models import AuditEvent, WebhookDelivery
from authgate.audit.query import Entry, Filters, search
from authgate.tx import readonly
from tests.conftest import Harness, MakeHarness, bearer

PASSWORD = "correct horse battery"
UA = "audit-test-browser/2.0"


async def rows(h: Harness, **filters: Any) -> list[Entry]:
    await background.drain(h.res)
    found, _ = await search(h.res, Filters(**filters), offset=0, limit=500)
    return found


async def test_sign_ins_and_failures_are_recorded_with_client_and_outcome(h: Harness) -> None:
    u = await h.make_user("alice@example.com")
    h.client.headers["user-agent"] = UA
    assert (await h.login()).status_code == 200
    r = await h.login(password="Wrong-password-typed-here")
    assert r.status_code == 401
    r = await h.login("nobody@example.com", password="alice@example.com-typed-as-password")
    assert r.status_code == 401
    mine = await rows(h, user_ids=(u.id,))
    names = [e.event for e in mine]
    assert names == [events.LOGIN_FAILED, events.LOGGED_IN]  # newest first
    failed, ok = mine
    assert ok.outcome == "success" and failed.outcome == "failure"
    assert ok.actor_type == "user" and ok.actor_id == u.id and ok.user_id == u.id
    assert ok.ip == "127.0.0.1" and ok.user_agent == UA
    assert failed.details["identifierHash"] and "identifier" not in failed.details
    stranger = [e for e in await rows(h, events=(events.LOGIN_FAILED,)) if e.user_id is None]
    assert len(stranger) == 1 and stranger[0].actor_id is None
    assert stranger[0].details["identifierHash"] != failed.details["identifierHash"]
    dump = orjson.dumps([e.details for e in await rows(h)]).decode()
    for secret in ("Wrong-password", "alice@example.com", "nobody@example.com", PASSWORD):
        assert secret not in dump


async def test_account_changes_and_session_ends_are_recorded(h: Harness) -> None:
    token = await h.user_token("bob@example.com")
    me = (await h.client.get("/auth/me", headers=bearer(token))).json()
    uid = me["id"] if "id" in me else me["user"]["id"]
    r = await h.client.post("/auth/change-password", headers=bearer(token), json={
        "currentPassword": PASSWORD, "newPassword": "another horse battery staple"})
    assert r.status_code in (200, 201), r.text
    token = r.json().get("accessToken", token)
    r = await h.client.post("/auth/logout-all", headers=bearer(token))
    assert r.status_code in (200, 201), r.text
    names = {e.event for e in await rows(h, user_ids=(uid,))}
    assert {events.USER_CREATED, events.PASSWORD_CHANGED, events.LOGGED_OUT_ALL} <= names
    changed = next(e for e in await rows(h, user_ids=(uid,))
                   if e.event == events.PASSWORD_CHANGED)
    assert changed.details == {"initiatedBy": "user"}
    assert not any("email" in e.details for e in await rows(h))


async def test_events_outside_a_request_and_the_acting_actor(h: Harness) -> None:
    with trail.acting(trail.CLI, "ops"):
        await h.res.events.emit(events.Event(events.LOGGED_OUT_ALL, "u-1", {"sessions": 2}))
    await h.res.events.emit(events.Event(events.MFA_TOTP_REPLAYED, "u-1", {"deviceId": "d1"}))
    token = events.bind_origin(lambda: events.Origin(ip="203.0.113.9", user_agent="x" * 900,
                                                     session_id="s1", tenant_id="t-1"))
    try:
        await h.res.events.emit(events.Event(events.MFA_ENABLED, "u-1",
                                             {"method": "totp", "code": "123456",
                                              "password": "hunter2", "secret": "JBSW"}))
    finally:
        events.unbind_origin(token)
    got = {e.event: e for e in await rows(h, user_ids=("u-1",))}
    assert got[events.LOGGED_OUT_ALL].actor_type == "cli"
    assert got[events.LOGGED_OUT_ALL].actor_id == "ops"
    replay = got[events.MFA_TOTP_REPLAYED]
    assert replay.outcome == "failure" and replay.target == "d1" and replay.ip is None
    enabled = got[events.MFA_ENABLED]
    assert enabled.details == {"method": "totp"}  # code, password, secret: not allow-listed
    assert enabled.tenant_id == "t-1" and enabled.ip == "203.0.113.9"
    assert enabled.user_agent == "x" * 512


async def test_skipped_events_and_admin_events_are_not_duplicated(h: Harness) -> None:
    await h.res.events.emit(events.Event(events.ACCESS_DENIED, None, {"reason": "X"}))
    await h.res.events.emit(events.Event(events.ADMIN_ACTION, None, {"action": "user.update"}))
    assert await rows(h) == []


async def test_a_database_failure_never_fails_the_request(
        h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    await h.make_user("carol@example.com")
    async with h.res.db.writer.begin() as conn:
        await conn.execute(text("ALTER TABLE authgate_audit_log RENAME TO audit_away"))
    try:
        with caplog.at_level(logging.WARNING, logger="authgate.audit"):
            r = await h.login("carol@example.com")
            await background.drain(h.res)
        assert r.status_code == 200
        assert any("could not store 1 audit entries" in m for m in caplog.messages)
    finally:
        async with h.res.db.writer.begin() as conn:
            await conn.execute(text("ALTER TABLE audit_away RENAME TO authgate_audit_log"))
    assert (await h.login("carol@example.com")).status_code == 200
    assert [e.event for e in await rows(h)] == [events.LOGGED_IN]


async def test_events_are_written_in_batches(make_harness: MakeHarness) -> None:
    h = await make_harness(audit={"batch_size": 3})
    for i in range(7):
        await h.res.events.emit(events.Event(events.MFA_CODE_SENT, f"u{i}", {"method": "email"}))
    assert h.res.audit is not None
    assert len(h.res.audit.queue) == 7  # queued by the subscriber, not yet written
    await background.drain(h.res)
    assert not h.res.audit.queue
    assert len(await rows(h)) == 7


async def test_audit_off_writes_no_user_events(make_harness: MakeHarness) -> None:
    h = await make_harness(audit={"enabled": False})
    await h.make_user("dan@example.com")
    assert (await h.login("dan@example.com")).status_code == 200
    assert await rows(h) == []


async def test_purge_deletes_rows_past_the_retention_in_batches(
        make_harness: MakeHarness) -> None:
    h = await make_harness(audit={"retention": "30d", "webhooks": {"siem": {
        "url": "http://127.0.0.1:9/hook", "secret": "s3cr3t-webhook-key-0123456789abcdef"}}})
    now = h.clock.now()
    old = [trail.make_row(h.res, "user.logged_in", actor_type="user", user_id="u",
                          at=now - timedelta(days=31 + i)) for i in range(5)]
    fresh = [trail.make_row(h.res, "user.logged_in", actor_type="user", user_id="u",
                            at=now - timedelta(days=29)),
             trail.make_row(h.res, "user.logged_in", actor_type="user", user_id="u", at=now)]
    await trail.write(h.res, old + fresh)
    assert await trail.purge(h.res, now, batch=2) == 5
    assert await trail.purge(h.res, now, batch=2) == 0
    async with readonly(h.res.readmaker) as s:
        left = set((await s.execute(select(AuditEvent.id))).scalars())
        outbox = (await s.execute(select(func.count()).select_from(WebhookDelivery))).scalar()
    assert left == {r["id"] for r in fresh}
    assert outbox == 2  # the purged rows' deliveries went with them


async def test_purge_keeps_everything_without_a_retention(make_harness: MakeHarness) -> None:
    h = await make_harness(audit={"retention": None})
    old = trail.make_row(h.res, "user.logged_in", actor_type="user",
                         at=h.clock.now() - timedelta(days=3650))
    await trail.write(h.res, [old])
    assert await trail.purge(h.res, h.clock.now()) == 0
    assert len(await rows(h)) == 1


def test_row_of_an_event_without_data_has_no_details() -> None:
    assert trail._safe({"method": "totp", "count": 3, "trustedDevice": True,
                        "deviceName": "n" * 100, "nested": {"a": 1}}) == {
        "method": "totp", "count": 3, "trustedDevice": True, "deviceName": "n" * 64}
