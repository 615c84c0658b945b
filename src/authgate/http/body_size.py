"""ASGI middleware for the auth routes: body size cap and JSON content type."""

from __future__ import annotations

from functools import partial

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authgate import events
from authgate.errors import Code
from authgate.http.deps import request_origin
from authgate.http.errors import envelope

_BODY_METHODS = {b"POST", b"PUT", b"PATCH", b"DELETE"}


class _TooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the cap. An HTTPException so the
    framework's body parser re-raises it (it turns any other error into a 400)."""

    def __init__(self) -> None:
        super().__init__(413, "Request body is too large")


class BodyGuard:
    """Refuse bodies over ``max_bytes`` (413) and non-JSON bodies (415) under ``prefix``.

    An empty body with a JSON content type is fine: the official SDK sends one on bodiless
    POSTs. Requests that may change something (the body methods) get their client bound
    as the origin of the events they emit (``events.bind_origin``): a look-up made only
    if an event is emitted; the GET routes (the hot path) emit none and pay nothing.
    """

    def __init__(self, app: ASGIApp, *, prefix: str, max_bytes: int) -> None:
        self.app = app
        self.prefix = prefix
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        method = scope["method"].encode()
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if (length is None and method not in _BODY_METHODS
                and b"transfer-encoding" not in headers):
            await self.app(scope, receive, send)  # no body can follow: nothing to guard
            return
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                await envelope(400, "Invalid Content-Length", Code.INVALID_INPUT.value)(
                    scope, receive, send)
                return
            if declared > self.max_bytes:
                await envelope(413, "Request body is too large", Code.PAYLOAD_TOO_LARGE.value)(
                    scope, receive, send)
                return
        if method in _BODY_METHODS and (length not in (None, b"0")
                                        or b"transfer-encoding" in headers):
            ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if ctype != b"application/json" and not ctype.endswith(b"+json"):
                await envelope(415, "Content-Type must be application/json",
                               Code.UNSUPPORTED_MEDIA_TYPE.value)(scope, receive, send)
                return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        bound = events.bind_origin(partial(request_origin, scope))
        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await envelope(413, "Request body is too large", Code.PAYLOAD_TOO_LARGE.value)(
                    scope, receive, send)
        finally:
            events.unbind_origin(bound)
