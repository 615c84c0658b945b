"""Whether this app is draining: the one bit a graceful shutdown flips first.

A load balancer stops sending new work once ``GET /health/ready`` fails; until the server
closes its listener, responses carry ``Connection: close`` so no keep-alive connection
outlives the drain. ``authgate serve`` flips it on SIGTERM; a host app that mounts authgate
calls ``gate.begin_drain()`` from its own shutdown hook.
"""

from __future__ import annotations

import time


class Drain:
    """Set once, never cleared: a draining process is on its way out."""

    __slots__ = ("since",)

    def __init__(self) -> None:
        self.since: float | None = None
        """``time.monotonic()`` when the drain began; None while serving normally."""

    @property
    def active(self) -> bool:
        return self.since is not None

    def begin(self) -> None:
        if self.since is None:
            self.since = time.monotonic()
