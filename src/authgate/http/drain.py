"""``Connection: close`` on every response once the app drains.

Keep-alive connections (a proxy's upstream pool, a client's) would otherwise outlive the
drain and meet a closed socket mid-request; with this header the server closes each one after
its current response, and the peer opens its next connection elsewhere. ``AuthGate.begin_drain``
wraps the app's built middleware stack in it, so serving normally costs nothing.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_CLOSE = (b"connection", b"close")


class CloseWhileDraining:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", ()) if h[0].lower() != b"connection"]
                message = {**message, "headers": [*headers, _CLOSE]}
            await send(message)

        await self.app(scope, receive, closing)
