"""One structured log line per security event (ASVS 7.1.3, 7.1.4, 7.2.1).

Logger ``authgate.security``: a JSON object after ``security `` in the message, and the
same dict as the record's ``security`` attribute for structured handlers. Fields: ``time``
(UTC, from the app's clock), ``event``, ``outcome`` (``success``/``failure``), ``userId``,
``sessionId``, ``ip``, ``userAgent``, ``requestId`` (where the request that caused it came
from: ``events.current_origin``; the id is the one on the request's own line in
``authgate.requests``), and the event's data from an allow-list of fields that can
hold no secret (method, reason — an error code —, channel, device id, counts). Never a
password, code, token or email address: a login identifier is logged as a keyed hash
(``identifierHash``), which correlates attempts on one account without naming it. JSON
escapes control characters, so a user agent cannot forge a line (7.3.1). Failures are
logged at WARNING, the rest at INFO.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from authgate import events
from authgate.clock import iso_millis
from authgate.crypto.keys import keyed_hash
from authgate.resources import Resources

log = logging.getLogger("authgate.security")

FAILURES = frozenset({events.ACCESS_DENIED, events.LOGIN_FAILED, events.MFA_FAILED,
                      events.MFA_FAILURES_REPEATED, events.REFRESH_REUSE_DETECTED,
                      events.MFA_TOTP_REPLAYED, events.PASSKEY_CLONE_DETECTED})
"""Events that record a refused or suspicious attempt."""
SAFE_FIELDS = ("method", "reason", "channel", "deviceId", "count", "failures",
               "windowSeconds", "initiatedBy", "sessions", "trustedDevice", "path", "httpMethod")
QUIET = frozenset({events.ACCESS_DENIED})
"""Failures logged at INFO: every expired access token is one (clients refresh on it)."""
"""Event data that is logged as is (short strings, numbers, flags; nothing secret)."""
_MAX = 256


def _short(value: str | None) -> str | None:
    return None if value is None else value[:_MAX]


class SecurityLog:
    """The ``"*"`` subscriber: a plain function of the event, so it never awaits."""

    def __init__(self, res: Resources) -> None:
        self.res = res

    def line(self, event: events.Event) -> dict[str, Any]:
        origin = events.current_origin()
        data = event.data
        sid = data.get("sessionId")
        ip = origin.ip or data.get("ip")
        line: dict[str, Any] = {
            "time": iso_millis(self.res.clock.now()),
            "event": event.name,
            "outcome": "failure" if event.name in FAILURES else "success",
            "userId": event.user_id,
            "sessionId": sid if isinstance(sid, str) else origin.session_id,
            "ip": ip if isinstance(ip, str) else None,
            "userAgent": _short(origin.user_agent),
            "requestId": origin.request_id,
        }
        for key in SAFE_FIELDS:
            value = data.get(key)
            if isinstance(value, bool | int) or (isinstance(value, str) and len(value) <= 64):
                line[key] = value
        ident = data.get("identifier")
        if isinstance(ident, str) and ident:
            line["identifierHash"] = keyed_hash(self.res.keys.rate_account,
                                                "log:" + ident.strip().lower())[:16]
        return line

    def __call__(self, event: events.Event) -> None:
        line = self.line(event)
        failed = line["outcome"] == "failure" and event.name not in QUIET
        level = logging.WARNING if failed else logging.INFO
        log.log(level, "security %s", orjson.dumps(line).decode(), extra={"security": line})
