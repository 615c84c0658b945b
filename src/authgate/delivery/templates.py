"""Message templates: one text and one HTML file per email kind, one text file per SMS kind.

Packaged templates live in ``authgate/templates/{email,sms}/``; ``delivery.templates_dir``
may hold replacements with the same relative names, taken file by file. Templates are
``string.Template`` text (``${app_name}``, ``${code}``, ``${expires_in}``,
``${expires_minutes}``): no logic, so an operator's override cannot run code. The text file
of an email starts with a ``Subject: ...`` line and a blank line. Alerts are emails with
counts instead of a code (``mfa_failures``: the owner is told that wrong second factors
piled up; ``${app_name}``, ``${failures}``, ``${window}``).

Everything is loaded and test-rendered once at start-up, so a typo in an override (an
unknown placeholder, a missing subject line) stops the service instead of failing the first
user who needs a code.
"""

from __future__ import annotations

import html
import importlib.resources
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from string import Template
from typing import Literal

from authgate.vocabulary import SECURITY_NOTICES, SecurityNotice

Kind = Literal[
    "mfa_code", "email_verification", "phone_verification", "password_reset",
    "passwordless_login", "account_exists", "invitation",
]
EMAIL_KINDS: tuple[Kind, ...] = (
    "mfa_code", "email_verification", "password_reset", "passwordless_login", "account_exists",
    "invitation")
SMS_KINDS: tuple[Kind, ...] = (
    "mfa_code", "phone_verification", "password_reset", "passwordless_login", "account_exists",
    "invitation")
"""``invitation``: ``${code}`` is the invitation token, or the link to
``registration.invitation_url`` carrying it."""
NOTICE_KINDS: tuple[Kind, ...] = ("account_exists",)
"""Notices carry no code: rendered with an empty ``code`` and ``expires_in``."""
PLACEHOLDERS = frozenset({"app_name", "code", "expires_in", "expires_minutes"})
SECURITY_PLACEHOLDERS = frozenset({"app_name", "when", "ip", "device"})
"""Security notices (``vocabulary.SECURITY_NOTICES``: password changed, MFA off, new
sign-in, ...) say what happened, when, and from where."""
AlertKind = Literal["mfa_failures"]
ALERT_KINDS: tuple[AlertKind, ...] = ("mfa_failures",)
ALERT_PLACEHOLDERS = frozenset({"app_name", "failures", "window"})


class TemplateError(ValueError):
    """A template file is missing, malformed or uses an unknown placeholder."""


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def humanize(delta: timedelta) -> str:
    """``timedelta(minutes=10)`` → ``"10 minutes"``: the largest unit that divides it."""
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def _check_header(value: str, what: str) -> str:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise TemplateError(f"{what} must be a single line")
    return value


class Templates:
    """The loaded templates of one app; ``email()``/``sms()`` render a kind."""

    def __init__(self, override_dir: Path | None = None) -> None:
        self._override = override_dir
        self._email: dict[Kind, tuple[Template, Template, Template]] = {}
        self._sms: dict[Kind, Template] = {}
        self._alert: dict[AlertKind, tuple[Template, Template, Template]] = {}
        self._security: dict[SecurityNotice, tuple[Template, Template, Template]] = {}
        for notice in SECURITY_NOTICES:
            subject, body = self._split_subject(notice, self._read(f"email/{notice}.txt"),
                                                SECURITY_PLACEHOLDERS)
            self._security[notice] = (subject, body, self._load(
                f"email/{notice}.html", allowed=SECURITY_PLACEHOLDERS))
        for kind in EMAIL_KINDS:
            subject, body = self._split_subject(kind, self._read(f"email/{kind}.txt"))
            self._email[kind] = (subject, body, self._load(f"email/{kind}.html"))
        for alert in ALERT_KINDS:
            subject, body = self._split_subject(alert, self._read(f"email/{alert}.txt"),
                                                ALERT_PLACEHOLDERS)
            self._alert[alert] = (subject, body, self._load(f"email/{alert}.html",
                                                            allowed=ALERT_PLACEHOLDERS))
        for kind in SMS_KINDS:
            self._sms[kind] = self._load(f"sms/{kind}.txt")

    # loading ---------------------------------------------------------------------------
    def _read(self, name: str) -> str:
        if self._override is not None:
            candidate = self._override / name
            if candidate.is_file():
                return candidate.read_text(encoding="utf-8")
        packaged = importlib.resources.files("authgate").joinpath("templates", *name.split("/"))
        try:
            return packaged.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TemplateError(f"template {name} not found") from None

    def _load(self, name: str, *, text: str | None = None,
              allowed: frozenset[str] = PLACEHOLDERS) -> Template:
        tpl = Template(self._read(name) if text is None else text)
        if not tpl.is_valid():
            raise TemplateError(f"template {name}: malformed placeholder (use ${{name}})")
        unknown = set(tpl.get_identifiers()) - allowed
        if unknown:
            raise TemplateError(
                f"template {name}: unknown placeholder(s) {', '.join(sorted(unknown))}; "
                f"use {', '.join(sorted(allowed))}")
        return tpl

    def _split_subject(self, kind: str, text: str,
                       allowed: frozenset[str] = PLACEHOLDERS) -> tuple[Template, Template]:
        first, sep, rest = text.partition("\n")
        if not sep or not first.startswith("Subject:"):
            raise TemplateError(f"template email/{kind}.txt must start with 'Subject: ...'")
        name = f"email/{kind}.txt"
        subject = self._load(name, text=first.removeprefix("Subject:").strip(), allowed=allowed)
        return subject, self._load(name, text=rest.lstrip("\r\n"), allowed=allowed)

    # rendering -------------------------------------------------------------------------
    @staticmethod
    def _values(app_name: str, code: str, expires_in: timedelta) -> dict[str, str]:
        return {
            "app_name": app_name,
            "code": code,
            "expires_in": humanize(expires_in),
            "expires_minutes": str(max(1, round(expires_in.total_seconds() / 60))),
        }

    def email(self, kind: Kind, *, app_name: str, code: str,
              expires_in: timedelta) -> RenderedEmail:
        """Render an email. HTML gets every value escaped; the subject must stay one line
        (a value carrying CR/LF would otherwise inject headers)."""
        if kind not in self._email:
            raise TemplateError(f"no email template for {kind}")
        return self._render(self._email[kind], self._values(app_name, code, expires_in))

    def alert(self, kind: AlertKind, *, app_name: str, failures: int,
              window: timedelta) -> RenderedEmail:
        """Render an alert email (counts, no code), escaped and checked like ``email``."""
        if kind not in self._alert:
            raise TemplateError(f"no alert template for {kind}")
        return self._render(self._alert[kind], {
            "app_name": app_name, "failures": str(failures), "window": humanize(window)})

    def security(self, kind: SecurityNotice, *, app_name: str, when: str, ip: str,
                 device: str) -> RenderedEmail:
        """Render a security notice, escaped and checked like ``email``."""
        if kind not in self._security:
            raise TemplateError(f"no security notice template for {kind}")
        return self._render(self._security[kind], {
            "app_name": app_name, "when": when, "ip": ip, "device": device})

    @staticmethod
    def _render(parts: tuple[Template, Template, Template],
                values: dict[str, str]) -> RenderedEmail:
        subject, text, page = parts
        escaped = {k: html.escape(v, quote=True) for k, v in values.items()}
        return RenderedEmail(
            subject=_check_header(subject.substitute(values).strip(), "subject"),
            text=text.substitute(values),
            html=page.substitute(escaped),
        )

    def sms(self, kind: Kind, *, app_name: str, code: str, expires_in: timedelta) -> str:
        if kind not in self._sms:
            raise TemplateError(f"no SMS template for {kind}")
        return self._sms[kind].substitute(self._values(app_name, code, expires_in)).strip()

    def check(self, app_name: str) -> None:
        """Render every template once with this app's name (start-up validation)."""
        for kind in EMAIL_KINDS:
            self.email(kind, app_name=app_name, code="000000", expires_in=timedelta(minutes=1))
        for kind in SMS_KINDS:
            self.sms(kind, app_name=app_name, code="000000", expires_in=timedelta(minutes=1))
        for alert in ALERT_KINDS:
            self.alert(alert, app_name=app_name, failures=1, window=timedelta(days=1))
        for notice in SECURITY_NOTICES:
            self.security(notice, app_name=app_name, when="1 January 2026 at 00:00 UTC",
                          ip="192.0.2.1", device="Browser")
