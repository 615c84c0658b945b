"""Liveness and readiness: can this process take traffic right now?

Readiness asks the database (``SELECT 1``) and, when configured, Redis (``PING``; every
primary of a cluster), each
within ``server.health_timeout``, concurrently; a draining process is unready whatever they
answer. The answer names each dependency's state only: no URL, host or error text (the route
is public).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import text

from authgate import redisconn
from authgate.resources import Resources

log = logging.getLogger("authgate")
State = Literal["ok", "unavailable"]


@dataclass(frozen=True)
class Readiness:
    draining: bool
    checks: dict[str, State]

    @property
    def ready(self) -> bool:
        return not self.draining and all(v == "ok" for v in self.checks.values())


async def _database(res: Resources) -> None:
    async with res.db.reader.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _redis(res: Resources) -> None:
    assert res.redis is not None
    if redisconn.is_cluster(res.redis):  # a lost primary's slots are lost: ask every one
        await res.redis.ping(target_nodes=res.redis.PRIMARIES)
        return
    await res.redis.ping()


async def _check(name: str, probe: Awaitable[None], timeout: float) -> State:
    try:
        async with asyncio.timeout(timeout):
            await probe
    except Exception as exc:  # any failure means "not now"; the class only, never the text
        log.warning("readiness: %s unavailable (%s)", name, type(exc).__name__)
        return "unavailable"
    return "ok"


async def readiness(res: Resources) -> Readiness:
    """The state of each dependency (database, redis when configured) and of the drain."""
    timeout = res.settings.server.health_timeout
    probes: dict[str, Awaitable[None]] = {"database": _database(res)}
    if res.redis is not None:
        probes["redis"] = _redis(res)
    states = await asyncio.gather(*(_check(n, p, timeout) for n, p in probes.items()))
    return Readiness(draining=res.drain.active, checks=dict(zip(probes, states, strict=True)))
