"""Template loading, overrides and start-up validation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from authgate.delivery import TemplateError, Templates, kind_for
from authgate.delivery.templates import EMAIL_KINDS, NOTICE_KINDS, SMS_KINDS, humanize


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(seconds=1), "1 second"), (timedelta(seconds=90), "90 seconds"),
    (timedelta(minutes=1), "1 minute"), (timedelta(minutes=10), "10 minutes"),
    (timedelta(hours=2), "2 hours"), (timedelta(days=1), "1 day"),
])
def test_humanize(delta: timedelta, text: str) -> None:
    assert humanize(delta) == text


def test_packaged_templates_cover_every_kind() -> None:
    t = Templates()
    t.check("Acme")
    for kind in EMAIL_KINDS:
        rendered = t.email(kind, app_name="Acme", code="314159", expires_in=timedelta(minutes=3))
        assert "Acme" in rendered.subject
        if kind in NOTICE_KINDS:  # no code in a notice
            assert "Acme" in rendered.text and "Acme" in rendered.html
            continue
        assert "314159" in rendered.text and "314159" in rendered.html
        assert "3 minutes" in rendered.text and "3 minutes" in rendered.html
    for kind in SMS_KINDS:
        body = t.sms(kind, app_name="Acme", code="314159", expires_in=timedelta(minutes=3))
        assert "Acme" in body and len(body) <= 160
        assert ("314159" in body) == (kind not in NOTICE_KINDS)


def test_purposes_map_to_kinds() -> None:
    assert kind_for("mfa") == "mfa_code"
    assert kind_for("password_reset") == "password_reset"
    with pytest.raises(ValueError):
        kind_for("magic_link_login")


def test_override_dir_replaces_single_files(tmp_path: Path) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "sms").mkdir()
    (tmp_path / "email" / "mfa_code.txt").write_text(
        "Subject: ${app_name} code ${code}\n\nHello! ${code} (valid ${expires_minutes} min)\n")
    (tmp_path / "sms" / "mfa_code.txt").write_text("Code ${code}\n")
    t = Templates(tmp_path)
    mail = t.email("mfa_code", app_name="Acme", code="123456", expires_in=timedelta(minutes=10))
    assert mail.subject == "Acme code 123456"
    assert mail.text == "Hello! 123456 (valid 10 min)\n"
    assert "<!DOCTYPE html>" in mail.html  # the packaged HTML is still used
    assert t.sms("mfa_code", app_name="Acme", code="123456",
                 expires_in=timedelta(minutes=1)) == "Code 123456"
    packaged = t.email("password_reset", app_name="Acme", code="1",
                       expires_in=timedelta(minutes=1))
    assert packaged.subject == "Reset your Acme password"


@pytest.mark.parametrize(("name", "content", "match"), [
    ("email/mfa_code.txt", "Subject: hi\n\n${user.password}\n", "malformed|unknown"),
    ("email/mfa_code.txt", "Subject: hi\n\n${secret}\n", "unknown placeholder"),
    ("email/mfa_code.txt", "no subject line here\n", "must start with 'Subject:"),
    ("email/mfa_code.html", "<p>$</p>", "malformed"),
    ("sms/password_reset.txt", "${code} ${link}", "unknown placeholder"),
])
def test_bad_override_fails_at_load(tmp_path: Path, name: str, content: str, match: str) -> None:
    path = tmp_path / name
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(TemplateError, match=match):
        Templates(tmp_path)
