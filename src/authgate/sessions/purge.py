"""Purge tasks of the session stores: expired rows of the database store, and the ids of
ended sessions in the Redis store's per-user index (its session keys expire by TTL)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table

from authgate.housekeeping import cutoff, purges
from authgate.sessions.models import SessionRow

if TYPE_CHECKING:
    from authgate.resources import Resources


def _redis_store(res: Resources) -> bool:
    return res.settings.session.storage == "redis"


async def _prune(res: Resources, now: datetime, *, dry_run: bool) -> int:
    from authgate.sessions.redis_store import RedisSessionStore

    store = res.store
    if not isinstance(store, RedisSessionStore):
        return 0
    return await store.prune_index(dry_run=dry_run)


async def _purge_index(res: Resources, now: datetime) -> int:
    return await _prune(res, now, dry_run=False)


async def _count_index(res: Resources, now: datetime) -> int:
    return await _prune(res, now, dry_run=True)


purges.register_rows("sessions", cast(Table, SessionRow.__table__),
                     lambda res, now: SessionRow.expires_at <= cutoff(res, now))
purges.register("session-index", _purge_index, count=_count_index, applies=_redis_store)
