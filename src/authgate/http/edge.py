"""The app's one ASGI layer: everything authgate does around every request, in one hop.

``AuthGate.install`` puts it outside the framework's own middleware stack. Per request:

- the request id (a trusted proxy's ``X-Request-ID`` or a new one), echoed on the response
  and carried by the events the request emits (``events.Origin.request_id``);
- under the auth prefix, the body guard: a declared or streamed body over
  ``security.max_body_bytes`` is 413, a body that is not JSON 415, a bad ``Content-Length``
  400 (the error envelope); an empty body with a JSON type is fine (the SDK sends one);
- requests with a body method get their origin bound for events (a look-up made only if an
  event asks; the GET hot path emits none);
- the hot routes (``fastlane``) are called directly, everything else goes through the
  framework's stack;
- on the way out: ``Connection: close`` while draining, the console's security headers under
  its path, the metrics observation (``metrics.enabled``), the request log line
  (``logging.requests``).

One layer instead of five: each ASGI middleware costs every request a hop, a closure and a
copy of the start message (``bench/inproc.py`` figures in docs/DESIGN-NOTES.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authgate import events
from authgate.errors import Code
from authgate.http.deps import REQUEST_ID_KEY, request_origin
from authgate.http.errors import ERROR_CODE_KEY, envelope
from authgate.http.request_log import RequestLog, request_id

if TYPE_CHECKING:
    from authgate.http.fastlane import Lane
    from authgate.lifecycle import Drain
    from authgate.resources import Resources

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CLOSE = (b"connection", b"close")
HeaderHook = Callable[[str, list[tuple[bytes, bytes]]], list[tuple[bytes, bytes]]]
"""``(path, response headers) -> headers`` for responses under a path (the admin console)."""


class _TooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the cap. An HTTPException so the
    framework's body parser re-raises it (it turns any other error into a 400)."""

    def __init__(self) -> None:
        super().__init__(413, "Request body is too large")


class Edge:
    def __init__(self, app: ASGIApp, *, prefix: str, max_bytes: int, drain: Drain,
                 resources: Callable[[], Resources | None],
                 lanes: dict[tuple[str, str], Lane] | None = None,
                 overrides: Callable[[], bool] = lambda: False,
                 request_log: RequestLog | None = None, proxies: tuple[str, ...] = (),
                 path_headers: tuple[str, HeaderHook] | None = None,
                 metrics: bool = False) -> None:
        self.app = app
        self.prefix = prefix
        self.max_bytes = max_bytes
        self.drain = drain
        self.resources = resources
        self.lanes = lanes or {}
        self.overrides = overrides
        self.request_log = request_log
        self.proxies = proxies
        self.path_headers = path_headers
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope, self.proxies)
        scope[REQUEST_ID_KEY] = rid
        extra: list[tuple[bytes, bytes]] = [(b"x-request-id", rid.encode())]
        path: str = scope["path"]
        hook = self.path_headers
        if hook is not None and not (path == hook[0] or path.startswith(hook[0] + "/")):
            hook = None
        status = 500
        started_response = False

        async def sending(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                headers = [*message.get("headers", ()), *extra]
                if self.drain.active:
                    headers = [h for h in headers if h[0].lower() != b"connection"]
                    headers.append(_CLOSE)
                if hook is not None:
                    headers = hook[1](path, headers)
                message = {**message, "headers": headers}
            await send(message)

        bound = None
        if scope["method"] in _BODY_METHODS:
            bound = events.bind_origin(partial(request_origin, scope))
        try:
            await self._handle(scope, receive, sending)
        except _TooLarge:  # a streamed body passed the cap outside the framework's handlers
            if started_response:
                raise
            await envelope(413, "Request body is too large", Code.PAYLOAD_TOO_LARGE.value)(
                scope, receive, sending)
        finally:
            if bound is not None:
                events.unbind_origin(bound)
            self._after(scope, rid, status, started)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith(self.prefix):
            guarded = await self._guard_body(scope, receive, send)
            if guarded is None:
                return
            receive = guarded
        lane = self.lanes.get((scope["method"], scope["path"]))
        if lane is not None and not scope.get("root_path") and not self.overrides():
            await lane(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _guard_body(self, scope: Scope, receive: Receive, send: Send
                          ) -> Receive | None:
        """The receive to use, or None once a refusal was sent."""
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        chunked = headers.get(b"transfer-encoding")
        method = scope["method"]
        if length is None and chunked is None and method not in _BODY_METHODS:
            return receive  # no body can follow: nothing to guard
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                await envelope(400, "Invalid Content-Length", Code.INVALID_INPUT.value)(
                    scope, receive, send)
                return None
            if declared > self.max_bytes:
                await envelope(413, "Request body is too large",
                               Code.PAYLOAD_TOO_LARGE.value)(scope, receive, send)
                return None
        if method in _BODY_METHODS and (length not in (None, b"0") or chunked is not None):
            kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if kind != b"application/json" and not kind.endswith(b"+json"):
                await envelope(415, "Content-Type must be application/json",
                               Code.UNSUPPORTED_MEDIA_TYPE.value)(scope, receive, send)
                return None
        received = 0
        cap = self.max_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise _TooLarge
            return message

        return limited_receive

    def _after(self, scope: Scope, rid: str, status: int, started: float) -> None:
        code: str | None = scope.get(ERROR_CODE_KEY)
        if self.metrics:
            res = self.resources()
            if res is not None and res.metrics is not None:
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                res.metrics.observe(route, scope["method"], status, started, code)
        log = self.request_log
        if log is not None and log.wanted():
            log.write(scope, rid=rid, status=status, started=started, code=code)


def lanes_for(app: Any, routes: list[Any], hot_paths: tuple[str, ...], prefix: str
              ) -> dict[tuple[str, str], Lane]:
    """The compiled lanes of ``routes`` whose path is a hot path under ``prefix``."""
    from authgate.http.fastlane import compile_lane

    hot = {prefix + p for p in hot_paths}
    lanes: dict[tuple[str, str], Lane] = {}
    for route in routes:
        if route.path not in hot:
            continue
        lane = compile_lane(app, route)
        if lane is None:
            continue
        for method in route.methods or ():
            if method != "HEAD":
                lanes[(method, route.path)] = lane
    return lanes
