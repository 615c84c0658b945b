"""The composition root: which senders an app gets, and which channels count for MFA."""

from __future__ import annotations

from pathlib import Path

import pytest

from authgate.delivery import HttpSmsSender, OutboxEmailSender, SmtpEmailSender
from tests.conftest import MakeHarness, bearer
from tests.helpers import set_user, user_id_of
from tests.servers import SmsSink, SmtpSink


async def test_default_is_the_outbox_and_email_only(make_harness: MakeHarness) -> None:
    h = await make_harness()
    d = h.res.delivery
    assert isinstance(d.email, OutboxEmailSender)
    assert d.email.directory == h.settings.resolved_data_dir() / "outbox"
    assert d.sms is None
    assert h.res.channels == frozenset({"email"})


async def test_smtp_and_sms_when_configured(make_harness: MakeHarness, smtp_sink: SmtpSink,
                                            sms_sink: SmsSink) -> None:
    h = await make_harness(delivery={"smtp": smtp_sink.settings(), "sms": sms_sink.settings()})
    d = h.res.delivery
    assert isinstance(d.email, SmtpEmailSender)
    assert isinstance(d.sms, HttpSmsSender)
    assert h.res.channels == frozenset({"email", "sms"})


async def test_bad_template_override_stops_start_up(make_harness: MakeHarness,
                                                    tmp_path: Path) -> None:
    (tmp_path / "tpl" / "email").mkdir(parents=True)
    (tmp_path / "tpl" / "email" / "mfa_code.txt").write_text("Subject: x\n\n${password}\n")
    with pytest.raises(ValueError, match="unknown placeholder"):
        await make_harness(delivery={"templates_dir": tmp_path / "tpl"})


async def test_sms_counts_as_a_method_only_with_a_channel(make_harness: MakeHarness,
                                                         sms_sink: SmsSink) -> None:
    """A phone-only account can enable MFA with SMS only when an SMS provider exists."""
    h = await make_harness(mfa={"methods": ["sms"]})
    token = await h.user_token()
    await set_user(h.res, await user_id_of(h.res, "alice@example.com"), phone="+15551234567",
                   phone_verified_at=h.clock.now())
    r = await h.client.get("/auth/mfa/status", headers=bearer(token))
    assert r.json()["verifiedMethods"] == []
    r = await h.client.post("/auth/mfa/toggle", json={"enabled": True}, headers=bearer(token))
    assert r.status_code == 403 and r.json()["code"] == "MFA_CANNOT_ENABLE_WITHOUT_METHOD"

    h2 = await make_harness(mfa={"methods": ["sms"]}, delivery={"sms": sms_sink.settings()})
    r = await h2.login()
    token = r.json()["accessToken"]
    r = await h2.client.get("/auth/mfa/status", headers=bearer(token))
    assert r.json()["verifiedMethods"] == ["sms"]
    r = await h2.client.post("/auth/mfa/toggle", json={"enabled": True}, headers=bearer(token))
    assert r.status_code == 200, r.text
