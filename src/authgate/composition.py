"""The composition root: builds ``Resources`` (every collaborator, typed) from Settings.

It sits above the feature packages (it picks the session store, the delivery senders, the
key ring) so that none of them has to import another to find its collaborators. The app's
lifespan, the CLI and the benchmarks call ``build_resources``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import async_sessionmaker

from authgate import delivery, notifications, redisconn
from authgate.audit import trail as audit_trail
from authgate.clock import Clock, SystemClock
from authgate.config import Settings
from authgate.crypto.passwords import PasswordHasher
from authgate.crypto.tokens import TokenCodec
from authgate.db import Database
from authgate.events import EventBus
from authgate.identity.snapshot import UserSnapshot, load_user_snapshot
from authgate.resources import Resources, build_keys, build_secretbox, signing_material
from authgate.sessions.db_store import DatabaseSessionStore
from authgate.sessions.memory_store import MemorySessionStore
from authgate.sessions.store import Rider, RiderRows, SessionStore

if TYPE_CHECKING:  # the Redis client is imported only when redis_url is configured
    from authgate.redisconn import RedisClient


def build_resources(settings: Settings, *, clock: Clock | None = None,
                    hash_processes: bool = False) -> Resources:
    """``hash_processes``: hash passwords in processes of their own (a server worker that
    owns its process; see ``PasswordHasher``)."""
    keys = build_keys(settings)
    secretbox = build_secretbox(settings, keys)  # fails fast on a malformed key ring
    sender = delivery.build(settings)
    db = Database(settings.database_url, pool_size=settings.database_pool_size,
                  replica_url=settings.database_replica_url,
                  replica_retry=settings.database_replica_retry.total_seconds(),
                  replica_max_lag=None if settings.database_replica_max_lag is None
                  else settings.database_replica_max_lag.total_seconds())
    sessionmaker = async_sessionmaker(db.writer, expire_on_commit=False)
    redis_client: RedisClient | None = None
    if settings.redis_url:
        redis_client = redisconn.connect(settings.redis_url)  # one server, cluster, sentinel

    async def user_loader(user_id: str) -> UserSnapshot | None:
        return await load_user_snapshot(db, user_id)

    async def rider_loader(rider: Rider, user_id: str) -> RiderRows:
        return await db.hot_fetch_all(rider, {"uid": user_id})

    user_ttl = int(settings.session.user_cache_ttl.total_seconds())
    store: SessionStore
    if settings.session.storage == "redis":
        from authgate.sessions.redis_store import RedisSessionStore

        assert redis_client is not None
        store = RedisSessionStore(redis_client, user_loader, prefix=settings.redis_prefix,
                                  user_ttl_seconds=user_ttl, rider_loader=rider_loader)
    elif settings.session.storage == "memory":
        store = MemorySessionStore(user_loader, user_ttl_seconds=user_ttl)
    else:
        store = DatabaseSessionStore(db)
    sign, verify, keyring = signing_material(settings, keys.root)
    tokens = TokenCodec(
        root_secret=keys.root,
        algorithm=settings.jwt.algorithm,
        signing_key=sign,
        verify_key=verify,
        issuer=settings.jwt.issuer,
        audience=settings.jwt.audience,
        access_ttl=settings.jwt.access_token_expires_in,
        refresh_ttl=settings.jwt.refresh_token_expires_in,
        keyring=keyring,
    )
    ph = settings.password_hash
    hasher = PasswordHasher(
        time_cost=ph.time_cost, memory_cost_kib=ph.memory_cost_kib, parallelism=ph.parallelism,
        processes=hash_processes, peppers=ph.peppers(),
    )
    res = Resources(
        settings=settings,
        delivery=sender,
        secretbox=secretbox,
        clock=clock or SystemClock(),
        db=db,
        sessionmaker=sessionmaker,
        readmaker=async_sessionmaker(db.reader, expire_on_commit=False),
        stale_readmaker=async_sessionmaker(db.stale, expire_on_commit=False),
        store=store,
        hasher=hasher,
        tokens=tokens,
        keys=keys,
        events=EventBus(),
        redis=redis_client,
    )
    notifications.subscribe(res)  # the security log and the owner's security emails
    audit_trail.subscribe(res)  # the persisted audit trail (and its webhook outbox)
    return res
