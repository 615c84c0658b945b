"""The request-timing hook of ``GET /metrics``: installed only with ``metrics.enabled``.

It reads the matched route's template from the ASGI scope after the app ran (no second
match) and the error ``code`` the error handlers left there; the counting is a few dictionary
look-ups and float additions per request.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authgate.http.errors import ERROR_CODE_KEY

if TYPE_CHECKING:
    from authgate.app import AuthGate


class RequestTiming:
    def __init__(self, app: ASGIApp, *, gate: AuthGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        res = self.gate.resources
        if scope["type"] != "http" or res is None or res.metrics is None:
            await self.app(scope, receive, send)
            return
        status = 500

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, recording)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            res.metrics.observe(route, scope["method"], status, started,
                                scope.get(ERROR_CODE_KEY))
