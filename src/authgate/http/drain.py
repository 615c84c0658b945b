"""``Connection: close`` on every response while the app drains.

Keep-alive connections (a proxy's upstream pool, a client's) would otherwise outlive the
drain and meet a closed socket mid-request; with this header the server closes each one after
its current response, and the peer opens its next connection elsewhere. Serving normally it
costs one attribute test per request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from authgate.lifecycle import Drain

_CLOSE = (b"connection", b"close")


class CloseWhileDraining:
    def __init__(self, app: ASGIApp, *, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.drain.active or scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", ()) if h[0].lower() != b"connection"]
                message = {**message, "headers": [*headers, _CLOSE]}
            await send(message)

        await self.app(scope, receive, closing)
