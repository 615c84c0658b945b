"""``registration.hide_existing_accounts`` (issue 12 item 13): a signup with a taken email or
phone answers like a successful signup without auto-login, issues nothing for the existing
account, and tells its owner in the background (throttled); off by default, where the
contract's 400 ``EMAIL_ALREADY_EXISTS`` stays."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from authgate import background
from tests.conftest import Harness, MakeHarness
from tests.helpers import assert_error, count_users, set_cookies, user_id_of
from tests.servers import SmsSink, SmtpSink

EMAIL = "alice@example.com"
PHONE = "+15551234567"
PW = "correct horse battery"
OTHER_PW = "another horse battery"
NO_LOGIN = {"message": "Signup successful", "accessToken": "", "refreshToken": "",
            "isRequiresMfa": False}
SUBJECT = "Someone tried to sign up to Acme with your address"


async def _app(make_harness: MakeHarness, smtp_sink: SmtpSink, **overrides: Any) -> Harness:
    registration = {"hide_existing_accounts": True, **overrides.pop("registration", {})}
    delivery = {"smtp": smtp_sink.settings(), **overrides.pop("delivery", {})}
    return await make_harness(app_name="Acme", registration=registration, delivery=delivery,
                              rate_limit={"enabled": False}, **overrides)


async def _signup(h: Harness, **body: Any) -> Any:
    r = await h.client.post("/auth/signup", json={"password": OTHER_PW, **body})
    await background.drain(h.res)
    return r


async def test_default_keeps_the_contract(make_harness: MakeHarness) -> None:
    h = await make_harness()
    assert (await h.signup(EMAIL, PW)).status_code == 200
    assert_error(await h.signup(EMAIL, OTHER_PW), 400, "EMAIL_ALREADY_EXISTS")


async def test_taken_email_answers_like_a_new_signup(make_harness: MakeHarness,
                                                     smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink, registration={"auto_login_after_signup": False})
    new = await _signup(h, email="bob@example.com")
    assert (new.status_code, new.json()) == (200, NO_LOGIN)
    assert (await h.signup(EMAIL, PW)).status_code == 200
    uid = await user_id_of(h.res, EMAIL)
    sessions = len(await h.res.store.list_for_user(uid, h.clock.now()))
    taken = await _signup(h, email=" Alice@Example.com ")
    assert (taken.status_code, taken.json()) == (new.status_code, new.json())
    assert list(taken.headers.keys()) == list(new.headers.keys())
    # nothing written: one account, its password unchanged, no session for it
    assert await count_users(h.res, EMAIL) == 1
    assert (await h.login(EMAIL, PW)).status_code == 200
    assert_error(await h.login(EMAIL, OTHER_PW), 401, "INVALID_CREDENTIALS")
    assert len(await h.res.store.list_for_user(uid, h.clock.now())) == sessions + 1  # the login
    # the owner is told, once an hour however often it is tried
    [mail] = smtp_sink.to(EMAIL)
    assert mail.subject == SUBJECT and "no new account was created" in mail.text
    assert (await _signup(h, email=EMAIL)).json() == NO_LOGIN
    assert len(smtp_sink.to(EMAIL)) == 1
    h.clock.advance(timedelta(hours=1, seconds=1))
    await _signup(h, email=EMAIL)
    assert len(smtp_sink.to(EMAIL)) == 2


async def test_auto_login_issues_nothing_for_a_taken_address(make_harness: MakeHarness,
                                                             smtp_sink: SmtpSink) -> None:
    h = await _app(make_harness, smtp_sink)  # auto_login_after_signup left on
    r = await h.signup(EMAIL, PW)  # a new address answers the same body: hiding implies it
    assert (r.status_code, r.json()) == (200, NO_LOGIN) and set_cookies(r) == {}
    assert (await h.login(EMAIL, PW)).status_code == 200  # and signs in the usual way
    uid = await user_id_of(h.res, EMAIL)
    before = len(await h.res.store.list_for_user(uid, h.clock.now()))
    for headers in ({}, {"x-access-token-type": "cookie"}):
        r = await h.client.post("/auth/signup", headers=headers,
                                json={"email": EMAIL, "password": OTHER_PW})
        assert (r.status_code, r.json()) == (200, NO_LOGIN)
        assert set_cookies(r) == {}
    await background.drain(h.res)
    assert len(await h.res.store.list_for_user(uid, h.clock.now())) == before
    assert len(smtp_sink.to(EMAIL)) == 1


async def test_taken_phone_is_told_by_sms(make_harness: MakeHarness, smtp_sink: SmtpSink,
                                          sms_sink: SmsSink) -> None:
    h = await _app(make_harness, smtp_sink, phone_auth_enabled=True,
                   delivery={"sms": sms_sink.settings()},
                   registration={"auto_login_after_signup": False})
    assert (await _signup(h, phone=PHONE, password=PW)).status_code == 200
    r = await _signup(h, phone="+1 (555) 123-4567")
    assert (r.status_code, r.json()) == (200, NO_LOGIN)
    [sms] = sms_sink.to(PHONE)
    assert "already has an account" in sms.form["Body"] and "Acme" in sms.form["Body"]
    assert await count_users(h.res) == 1


async def test_the_notice_template_can_be_overridden(make_harness: MakeHarness,
                                                     smtp_sink: SmtpSink,
                                                     tmp_path: Path) -> None:
    (tmp_path / "tpl" / "email").mkdir(parents=True)
    (tmp_path / "tpl" / "email" / "account_exists.txt").write_text(
        "Subject: ${app_name}: signup attempt\n\nSomeone tried your address.\n")
    h = await _app(make_harness, smtp_sink, delivery={"templates_dir": str(tmp_path / "tpl")})
    assert (await h.signup(EMAIL, PW)).status_code == 200
    await _signup(h, email=EMAIL)
    [mail] = smtp_sink.to(EMAIL)
    assert mail.subject == "Acme: signup attempt" and "Someone tried your address." in mail.text
