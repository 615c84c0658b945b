"""The request log: one line per HTTP request on the ``authgate.requests`` logger.

Written by the ``Edge`` once the response is sent (``logging.requests``, on by default).
Fields: ``time`` (UTC), ``requestId``, ``method``, ``route`` (the matched route's template,
``/auth/sessions/{session_id}``; null when nothing matched), ``status``, ``latencyMs``,
``userId`` (when the request authenticated a user), ``ip`` (the client, through trusted
proxies only), ``code`` (the stable error code of a refused request). Never the path, the
query string, a header or a body: those carry tokens, codes and addresses. The JSON line is
the record's message (and the same dict its ``request`` attribute, for structured
handlers); ``text`` (development) is the same facts for people. Nothing is built unless
the logger would write the line.

``X-Request-ID``: believed only from a trusted proxy (``security.trusted_proxies``, as
``X-Forwarded-For``) and only when it looks like an id; otherwise generated. The Edge echoes
it on the response and events carry it (``events.Origin.request_id``), so the request line
and the security log line of a sign-in can be joined.
"""

from __future__ import annotations

import logging
import os
import re
import time
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from starlette.types import Scope

from authgate.http.deps import client_address, trusted_peer

log = logging.getLogger("authgate.requests")

_ID = re.compile(rb"[A-Za-z0-9._:@+/=-]{1,128}")
"""What an accepted ``X-Request-ID`` may look like (UUIDs, nginx's ``$request_id``, AWS
trace ids); anything else is replaced by a generated id."""
_PLAIN = re.compile(r"[0-9A-Za-z.:%_-]{1,64}")
"""An address as it can be printed bare on a text line (an X-Forwarded-For hop may be
anything a trusted proxy passed on: quoted otherwise)."""


def request_id(scope: Scope, proxies: tuple[str, ...]) -> str:
    """The trusted proxy's ``X-Request-ID``, else a new 128-bit id (32 hex digits, like
    nginx's ``$request_id``)."""
    if proxies:
        client = scope.get("client")
        if client and trusted_peer(client[0], proxies):
            for key, value in scope["headers"]:
                if key == b"x-request-id":
                    if _ID.fullmatch(value):
                        return str(value, "ascii")
                    break
    return os.urandom(16).hex()


class RequestLog:
    """Formats and writes the line; ``wanted()`` is the cheap check made first."""

    def __init__(self, fmt: Literal["json", "text"], proxies: tuple[str, ...]) -> None:
        self.text = fmt == "text"
        self.proxies = proxies

    @staticmethod
    def wanted() -> bool:
        return log.isEnabledFor(logging.INFO)

    def write(self, scope: Scope, *, rid: str, status: int, started: float,
              code: str | None) -> None:
        route = getattr(scope.get("route"), "path", None)
        principal = scope.get("state", {}).get("principal")
        user = getattr(getattr(principal, "user", None), "id", None)
        latency = round((time.perf_counter() - started) * 1000, 3)
        ip = client_address(scope, self.proxies)
        if self.text:
            parts = [scope["method"], route or "-", str(status), f"{latency}ms"]
            if code:
                parts.append(f"code={code}")
            if user:
                parts.append(f"user={user}")
            if ip is not None and not _PLAIN.fullmatch(ip):
                ip = orjson.dumps(ip).decode()
            parts += [f"ip={ip or '-'}", f"id={rid}"]
            log.info(" ".join(parts))
            return
        line: dict[str, Any] = {
            "time": datetime.now(UTC), "requestId": rid, "method": scope["method"],
            "route": route, "status": status, "latencyMs": latency, "userId": user, "ip": ip,
        }
        if code:
            line["code"] = code
        log.info(orjson.dumps(line, option=orjson.OPT_UTC_Z).decode(), extra={"request": line})
