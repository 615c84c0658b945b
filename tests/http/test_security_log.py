"""The security log (issue #19 item 7; ASVS 7.1.3, 7.1.4, 7.2.1, 7.3.1): one structured line per
security event on ``authgate.security`` with event, outcome, user, session, client address
and user agent; never a password, code, token or email address."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from authgate import background, events
from tests.conftest import Harness, MakeHarness, bearer
from tests.mfa.helpers import code, pending_login

EMAIL = "alice@example.com"
PW = "correct horse battery"
UA = "LogTest/3.1"


def lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    out = []
    for rec in caplog.records:
        if rec.name == "authgate.security":
            message = rec.getMessage()
            assert message.startswith("security ") and "\n" not in message
            line = json.loads(message.removeprefix("security "))
            assert line == rec.security  # type: ignore[attr-defined]
            out.append(line)
    return out


@pytest.fixture
def caplog_security(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="authgate.security")
    return caplog


async def test_authentication_decisions_are_logged_without_secrets(
        h: Harness, caplog_security: pytest.LogCaptureFixture) -> None:
    u = await h.make_user(verified=True)
    headers = {"user-agent": UA}
    r = await h.client.post("/auth/login", headers=headers, json={
        "providerName": "email", "credentials": {"email": EMAIL, "password": "wrong password 1"}})
    assert r.status_code == 401
    r = await h.client.post("/auth/login", headers=headers, json={
        "providerName": "email", "credentials": {"email": "nobody@example.com",
                                                 "password": "wrong password 2"}})
    assert r.status_code == 401
    r = await h.client.post("/auth/login", headers=headers, json={
        "providerName": "email", "credentials": {"email": EMAIL, "password": PW}})
    assert r.status_code == 200
    token = r.json()["accessToken"]
    r = await h.client.post("/auth/logout", headers={**bearer(token), **headers})
    assert r.status_code == 200
    await background.drain(h.res)
    got = lines(caplog_security)
    failed = [g for g in got if g["event"] == "user.login_failed"]
    assert [(f["outcome"], f["userId"], f["ip"], f["userAgent"]) for f in failed] == [
        ("failure", u.id, "127.0.0.1", UA), ("failure", None, "127.0.0.1", UA)]
    assert failed[0]["identifierHash"] != failed[1]["identifierHash"]
    ok = [g for g in got if g["event"] == "user.logged_in"]
    assert [(o["outcome"], o["userId"], o["ip"], o["userAgent"]) for o in ok] == [
        ("success", u.id, "127.0.0.1", UA)]
    out = [g for g in got if g["event"] == "user.logged_out"]
    assert len(out) == 1 and out[0]["sessionId"] and out[0]["userId"] == u.id
    assert all(g["time"].endswith("Z") for g in got)
    text = caplog_security.text
    for secret in (PW, "wrong password 1", "wrong password 2", EMAIL, "nobody@example.com",
                   token):
        assert secret not in text


async def test_mfa_failures_replays_and_refresh_reuse_are_failures(
        h: Harness, caplog_security: pytest.LogCaptureFixture) -> None:
    u = await h.make_user(verified=True, totp=True, mfa=True, tokens=True)
    otp = code(h, u.totp_secret or "")
    pending = (await pending_login(h))["accessToken"]
    wrong = "000000" if otp != "000000" else "111111"
    r = await h.client.post("/auth/mfa/verify", headers=bearer(pending),
                            json={"otp": wrong, "method": "totp"})
    assert r.status_code == 401
    r = await h.client.post("/auth/mfa/verify", headers=bearer(pending),
                            json={"otp": otp, "method": "totp"})
    assert r.status_code == 200
    again = (await pending_login(h))["accessToken"]
    r = await h.client.post("/auth/mfa/verify", headers=bearer(again),
                            json={"otp": otp, "method": "totp"})
    assert r.status_code == 401
    first = u.refresh_token
    assert (await h.client.post("/auth/refresh-token", json={"refreshToken": first})).status_code == 200
    h.clock.advance(h.res.settings.jwt.refresh_reuse_grace * 2)
    assert (await h.client.post("/auth/refresh-token", json={"refreshToken": first})).status_code == 401
    got = {g["event"]: g for g in lines(caplog_security)}
    assert got["mfa.failed"]["outcome"] == "failure"
    assert got["mfa.failed"]["reason"] == "MFA_CODE_INVALID"
    assert got["mfa.verified"]["outcome"] == "success" and got["mfa.verified"]["sessionId"]
    replay = got["mfa.totp_replayed"]
    assert (replay["outcome"], replay["userId"], replay["deviceId"]) == (
        "failure", u.id, u.device_id)
    assert replay["sessionId"] is not None  # the pending session that replayed it
    reuse = got["session.refresh_reuse_detected"]
    assert reuse["outcome"] == "failure" and reuse["sessionId"]
    assert otp not in caplog_security.text and wrong not in caplog_security.text
    for record in caplog_security.records:
        if record.name == "authgate.security":
            line = json.loads(record.getMessage()[9:])
            loud = line["outcome"] == "failure" and line["event"] != "access.denied"
            assert record.levelno == (logging.WARNING if loud else logging.INFO)


async def test_a_forged_user_agent_cannot_forge_a_line(
        h: Harness, caplog_security: pytest.LogCaptureFixture) -> None:
    forged = 'x"} security {"event":"user.logged_in","outcome":"success'
    r = await h.client.post("/auth/login", headers={"user-agent": forged}, json={
        "providerName": "email", "credentials": {"email": EMAIL, "password": PW}})
    assert r.status_code == 401
    # control characters cannot come through HTTP; a host emitting events may pass anything
    token = events.bind_origin(lambda: events.Origin(ip="192.0.2.9", user_agent="a\nb\r\x00"))
    try:
        await h.res.events.emit(events.Event(events.LOGIN_FAILED, None,
                                             {"identifier": "x\ny"}))
    finally:
        events.unbind_origin(token)
    got = lines(caplog_security)  # each message is one line of valid JSON
    got = [g for g in got if g["event"] == "user.login_failed"]
    assert len(got) == 2
    assert got[0]["userAgent"] == forged
    assert got[1]["userAgent"] == "a\nb\r\x00" and got[1]["ip"] == "192.0.2.9"


async def test_the_log_can_be_switched_off(make_harness: MakeHarness,
                                           caplog_security: pytest.LogCaptureFixture) -> None:
    h = await make_harness(notifications={"security_log": False})
    await h.login(EMAIL, "wrong password 1")
    assert lines(caplog_security) == []


async def test_refused_requests_are_logged(h: Harness,
                                          caplog_security: pytest.LogCaptureFixture) -> None:
    """ASVS 7.2.2: every 401/403 is an ``access.denied`` line (at INFO: an expired token is
    one, and clients refresh on it), with the client; a success adds none."""
    u = await h.make_user(verified=True, totp=True, mfa=True, tokens=True)
    r = await h.client.get("/auth/user", headers={"user-agent": UA})
    assert r.status_code == 401
    r = await h.client.get("/auth/user", headers={**bearer(u.access_token or ""),
                                                  "user-agent": UA})
    assert r.status_code == 401 and r.json()["code"] == "MFA_REQUIRED"
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": False},
                            headers={"authorization": "Bearer not.a.token"})
    assert r.status_code == 401
    assert (await h.client.get("/auth/client-config")).status_code == 200
    denied = [g for g in lines(caplog_security) if g["event"] == "access.denied"]
    assert [(d["reason"], d["path"], d["httpMethod"], d["outcome"]) for d in denied] == [
        ("NO_AUTH_PROVIDED", "/auth/user", "GET", "failure"),
        ("MFA_REQUIRED", "/auth/user", "GET", "failure"),
        ("INVALID_TOKEN", "/auth/mfa/toggle", "POST", "failure")]
    assert denied[0]["ip"] == "127.0.0.1" and denied[0]["userAgent"] == UA
    assert all(r.levelno == logging.INFO for r in caplog_security.records
               if r.name == "authgate.security")
    assert u.access_token not in caplog_security.text
