"""Security notices by email (issue #19 item 6; ASVS 2.2.3, 2.5.5, 2.8.5), read from a real
SMTP server on both databases: every case is emailed once, with when/where/which device,
in the background (a dead relay fails nothing), through overridable templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from authgate import background
from authgate.config import Settings
from tests.conftest import Harness, MakeHarness, bearer
from tests.helpers import assert_error
from tests.mfa.helpers import code, enable_mfa, enroll, next_step, pending_login
from tests.servers import SmtpSink, free_port

EMAIL = "alice@example.com"
PW = "correct horse battery"
UA = {"user-agent": "NoticeTest/1.0 (X11)"}


async def _app(make_harness: MakeHarness, smtp_sink: SmtpSink, **overrides: Any) -> Harness:
    delivery = {"smtp": smtp_sink.settings(), **overrides.pop("delivery", {})}
    notifications = {"security_emails": True, **overrides.pop("notifications", {})}
    return await make_harness(app_name="Acme", delivery=delivery, notifications=notifications,
                              rate_limit={"enabled": False}, **overrides)


def test_notices_are_on_by_default() -> None:
    """The suite's harness turns them off (extra mails in every sink); the product does not."""
    assert Settings().notifications.security_emails is True
    assert Settings().notifications.security_log is True


async def _subjects(h: Harness, sink: SmtpSink, email: str = EMAIL) -> list[str]:
    await background.drain(h.res)
    return [m.subject for m in sink.to(email)]


async def test_password_change_is_told_with_when_where_and_device(
        make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    u = await h.make_user(verified=True, tokens=True)
    r = await h.client.post("/auth/change-password", headers={**bearer(u.access_token or ""), **UA},
                            json={"currentPassword": PW, "newPassword": "a different staple 42"})
    assert r.status_code == 200, r.text
    assert await _subjects(h, smtp_sink) == ["Your Acme password was changed"]
    mail = smtp_sink.to(EMAIL)[-1]
    assert "127.0.0.1" in mail.text and "NoticeTest/1.0 (X11)" in mail.text
    assert "UTC" in mail.text and "NoticeTest/1.0 (X11)" in mail.html
    assert PW not in mail.text and "a different staple 42" not in mail.text


async def test_mfa_device_codes_and_toggle_are_told(make_harness: MakeHarness,
                                                     smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    u = await h.make_user(verified=True, tokens=True)
    token = u.access_token or ""
    secret = await enroll(h, token)
    await enable_mfa(h, token)
    r = await h.client.post("/auth/mfa/generate-recovery-code", headers=bearer(token))
    assert r.status_code == 200, r.text
    codes = r.json()["codes"]
    assert sorted(await _subjects(h, smtp_sink)) == [  # sent concurrently: any order
        "An authenticator was added to your Acme account",
        "New recovery codes for your Acme account",
        "Two-step verification is on for your Acme account"]
    smtp_sink.reset()
    pending = (await pending_login(h))["accessToken"]
    r = await h.client.post("/auth/mfa/verify-recovery-code", json={"code": codes[0]},
                            headers=bearer(pending))
    assert r.status_code == 200, r.text
    assert "A recovery code was used on your Acme account" in await _subjects(h, smtp_sink)
    smtp_sink.reset()
    next_step(h)
    pending = (await pending_login(h))["accessToken"]
    r = await h.client.post("/auth/mfa/verify", headers=bearer(pending),
                            json={"otp": code(h, secret), "method": "totp"})
    assert r.status_code == 200, r.text
    full = r.json()["accessToken"]
    devices = (await h.client.get("/auth/mfa/devices", headers=bearer(full))).json()
    r = await h.client.delete(f"/auth/mfa/devices/{devices[0]['id']}", headers=bearer(full))
    assert r.status_code == 200, r.text
    assert await _subjects(h, smtp_sink) == ["An authenticator was removed from your Acme account"]
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": False}, headers=bearer(full))
    assert r.status_code == 200, r.text
    assert (await _subjects(h, smtp_sink))[-1] == \
        "Two-step verification is off for your Acme account"


async def test_sign_in_from_a_new_device_is_told_once(make_harness: MakeHarness,
                                                       smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    assert (await h.signup(EMAIL, PW)).status_code == 200  # the sign-up device is known
    assert (await h.login(EMAIL, PW)).status_code == 200
    assert await _subjects(h, smtp_sink) == []
    r = await h.client.post("/auth/login", headers=UA, json={
        "providerName": "email", "credentials": {"email": EMAIL, "password": PW}})
    assert r.status_code == 200
    assert await _subjects(h, smtp_sink) == ["New sign-in to your Acme account"]
    assert "NoticeTest/1.0 (X11)" in smtp_sink.to(EMAIL)[-1].text
    r = await h.client.post("/auth/login", headers=UA, json={
        "providerName": "email", "credentials": {"email": EMAIL, "password": PW}})
    assert r.status_code == 200
    assert len(await _subjects(h, smtp_sink)) == 1  # known now
    # a wrong password is not a sign-in
    r = await h.client.post("/auth/login", headers={"user-agent": "Other/2"}, json={
        "providerName": "email", "credentials": {"email": EMAIL, "password": "wrong password 1"}})
    assert r.status_code == 401
    assert len(await _subjects(h, smtp_sink)) == 1


async def test_refresh_reuse_is_told(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    u = await h.make_user(verified=True, tokens=True)
    first = u.refresh_token
    r = await h.client.post("/auth/refresh-token", json={"refreshToken": first})
    assert r.status_code == 200
    h.clock.advance(h.res.settings.jwt.refresh_reuse_grace * 2)
    r = await h.client.post("/auth/refresh-token", json={"refreshToken": first})
    assert r.status_code == 401
    assert "A signed-out session of your Acme account was used again" in \
        await _subjects(h, smtp_sink)


async def test_totp_replay_is_refused_logged_and_told(make_harness: MakeHarness,
                                                      smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    u = await h.make_user(verified=True, totp=True, mfa=True)
    one = (await pending_login(h))["accessToken"]
    otp = code(h, u.totp_secret or "")
    r = await h.client.post("/auth/mfa/verify", headers=bearer(one),
                            json={"otp": otp, "method": "totp"})
    assert r.status_code == 200, r.text
    smtp_sink.reset()
    seen: list[Any] = []
    h.res.events.subscribe("mfa.totp_replayed", seen.append)
    two = (await pending_login(h))["accessToken"]
    r = await h.client.post("/auth/mfa/verify", headers=bearer(two),
                            json={"otp": otp, "method": "totp"})
    assert_error(r, 401, "MFA_CODE_INVALID")
    assert [e.data for e in seen] == [{"deviceId": u.device_id}]
    assert "An authenticator code of your Acme account was reused" in \
        await _subjects(h, smtp_sink)
    # a plain wrong code is no replay
    seen.clear()
    r = await h.client.post("/auth/mfa/verify", headers=bearer(two),
                            json={"otp": "000000" if otp != "000000" else "111111",
                                  "method": "totp"})
    assert r.status_code == 401 and seen == []


async def test_password_reset_is_told(make_harness: MakeHarness, smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)
    await h.make_user(verified=True)
    assert (await h.client.post("/auth/forgot-password", json={"email": EMAIL})).status_code == 200
    await background.drain(h.res)
    r = await h.client.post("/auth/verify-forgot-password-otp",
                            json={"email": EMAIL, "code": smtp_sink.last_code(EMAIL)})
    assert r.status_code == 200, r.text
    r = await h.client.post("/auth/reset-password", json={
        "token": r.json()["resetToken"], "newPassword": "a different staple 42"})
    assert r.status_code == 200, r.text
    assert (await _subjects(h, smtp_sink))[-1] == "Your Acme password was reset"


async def test_a_dead_relay_fails_nothing(make_harness: MakeHarness, caplog: Any) -> None:
    h = await make_harness(delivery={"smtp": {"host": "127.0.0.1", "port": free_port(),
                                              "security": "none", "timeout": 2}},
                           notifications={"security_emails": True})
    u = await h.make_user(verified=True, tokens=True)
    r = await h.client.post("/auth/change-password", headers=bearer(u.access_token or ""),
                            json={"currentPassword": PW, "newPassword": "a different staple 42"})
    assert r.status_code == 200, r.text  # answered before the notice was even tried
    await background.drain(h.res)
    assert any("security notice password_changed failed" in m for m in caplog.messages)


async def test_templates_are_overridable(make_harness: MakeHarness, smtp_sink: SmtpSink,
                                         tmp_path: Path) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "password_changed.txt").write_text(
        "Subject: ${app_name}: password changed\n\nChanged ${when} from ${ip} (${device}).\n")
    h = await _app(make_harness, smtp_sink, delivery={"templates_dir": str(tmp_path)})
    u = await h.make_user(verified=True, tokens=True)
    r = await h.client.post("/auth/change-password", headers=bearer(u.access_token or ""),
                            json={"currentPassword": PW, "newPassword": "a different staple 42"})
    assert r.status_code == 200
    assert await _subjects(h, smtp_sink) == ["Acme: password changed"]
    assert smtp_sink.to(EMAIL)[-1].text.startswith("Changed ")


async def test_notices_can_be_skipped_or_switched_off(make_harness: MakeHarness,
                                                      smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, notifications={"skip": ["password_changed"]})
    u = await h.make_user(verified=True, tokens=True)
    r = await h.client.post("/auth/change-password", headers=bearer(u.access_token or ""),
                            json={"currentPassword": PW, "newPassword": "a different staple 42"})
    assert r.status_code == 200
    assert await _subjects(h, smtp_sink) == []
    off = await _app(make_harness, smtp_sink, notifications={"security_emails": False})
    assert (await off.login(EMAIL, "a different staple 42")).status_code == 200
    assert await _subjects(off, smtp_sink) == []
