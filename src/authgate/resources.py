"""Everything a running authgate holds: built once from Settings, passed down, closed once.

The app's lifespan and the CLI both call ``build_resources``; nothing connects or reads the
environment at import time.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from authgate.clock import Clock, SystemClock
from authgate.config import Settings
from authgate.crypto.keys import derive
from authgate.crypto.passwords import PasswordHasher
from authgate.crypto.tokens import TokenCodec
from authgate.db import Database
from authgate.events import EventBus
from authgate.sessions.db_store import DatabaseSessionStore, load_user_snapshot
from authgate.sessions.memory_store import MemorySessionStore
from authgate.sessions.store import SessionStore

if TYPE_CHECKING:  # the Redis client is imported only when redis_url is configured
    import redis.asyncio as aioredis

log = logging.getLogger("authgate")
DEV_SECRET_FILE = ".authgate-secret"


@dataclass
class Keys:
    """Purpose-bound keys (see crypto.keys)."""

    root: bytes
    otp: bytes
    trust: bytes
    recovery: bytes
    totp_lookup: bytes
    csrf: bytes


@dataclass
class Resources:
    settings: Settings
    clock: Clock
    db: Database
    sessionmaker: async_sessionmaker[AsyncSession]
    readmaker: async_sessionmaker[AsyncSession]
    """Sessions on the reader engine: for read-only flows (no write lock on SQLite)."""
    store: SessionStore
    hasher: PasswordHasher
    tokens: TokenCodec
    keys: Keys
    events: EventBus
    redis: aioredis.Redis | None = None
    channels: frozenset[str] = frozenset()
    """Delivery channels that can carry one-time codes (``email``, ``sms``)."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Feature packages attach their own collaborators here (delivery, rate limits)."""

    async def close(self) -> None:
        await self.store.close()
        if self.redis is not None and self.settings.session.storage != "redis":
            await self.redis.aclose()
        await self.db.dispose()
        self.hasher.close()


def _create_dev_secret(path: Path) -> str:
    """Write a new secret atomically and return the one that ended up in ``path``.

    Several worker processes can start at the same moment: each writes a private temporary
    file and hard-links it into place, so exactly one secret wins and nobody ever reads a
    half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(value + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_text().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return value


def dev_secret(settings: Settings) -> bytes:
    """A generated secret persisted beside the database, for development only."""
    path: Path = settings.resolved_data_dir() / DEV_SECRET_FILE
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        value = _create_dev_secret(path)
    if len(value) < 32:
        raise RuntimeError(f"{path} holds no usable secret: delete it, or set "
                           "AUTHGATE_JWT__SECRET")
    log.warning(
        "No JWT secret configured: using a development secret stored in %s. "
        "Production MUST set AUTHGATE_JWT__SECRET (or jwt.private_key_file).",
        path,
    )
    return value.encode()


def _signing_material(settings: Settings, root: bytes) -> tuple[Any, Any]:
    jwt_s = settings.jwt
    if jwt_s.algorithm.startswith("HS"):
        return root, root
    assert jwt_s.private_key_file is not None
    private = jwt_s.private_key_file.read_bytes()
    if jwt_s.public_key_file is not None:
        public: Any = jwt_s.public_key_file.read_bytes()
    else:
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(private, password=None)
        public = key.public_key()
    return private, public


def build_keys(settings: Settings) -> Keys:
    if settings.jwt.secret is not None:
        root = settings.jwt.secret.get_secret_value().encode()
    elif settings.jwt.private_key_file is not None:
        root = derive(settings.jwt.private_key_file.read_bytes(), "root-from-private-key", 64)
    else:
        root = dev_secret(settings)
    return Keys(
        root=root,
        otp=derive(root, "otp-hash"),
        trust=derive(root, "trust-token-hash"),
        recovery=derive(root, "recovery-code-hash"),
        totp_lookup=derive(root, "totp-secret-lookup"),
        csrf=derive(root, "csrf"),
    )


def build_resources(settings: Settings, *, clock: Clock | None = None,
                    hash_processes: bool = False) -> Resources:
    """``hash_processes``: hash passwords in processes of their own (a server worker that
    owns its process; see ``PasswordHasher``)."""
    keys = build_keys(settings)
    db = Database(settings.database_url, pool_size=settings.database_pool_size)
    sessionmaker = async_sessionmaker(db.writer, expire_on_commit=False)
    redis_client: aioredis.Redis | None = None
    if settings.redis_url:
        import redis.asyncio as aioredis

        redis_client = aioredis.from_url(
            settings.redis_url, socket_timeout=2, socket_connect_timeout=2,
            health_check_interval=10, retry_on_timeout=False,
        )

    async def user_loader(user_id: str) -> Any:
        return await load_user_snapshot(db, user_id)

    user_ttl = int(settings.session.user_cache_ttl.total_seconds())
    store: SessionStore
    if settings.session.storage == "redis":
        from authgate.sessions.redis_store import RedisSessionStore

        assert redis_client is not None
        store = RedisSessionStore(redis_client, user_loader, prefix=settings.redis_prefix,
                                  user_ttl_seconds=user_ttl)
    elif settings.session.storage == "memory":
        store = MemorySessionStore(user_loader, user_ttl_seconds=user_ttl)
    else:
        store = DatabaseSessionStore(db)
    sign, verify = _signing_material(settings, keys.root)
    tokens = TokenCodec(
        root_secret=keys.root,
        algorithm=settings.jwt.algorithm,
        signing_key=sign,
        verify_key=verify,
        issuer=settings.jwt.issuer,
        audience=settings.jwt.audience,
        access_ttl=settings.jwt.access_token_expires_in,
        refresh_ttl=settings.jwt.refresh_token_expires_in,
    )
    ph = settings.password_hash
    hasher = PasswordHasher(
        time_cost=ph.time_cost, memory_cost_kib=ph.memory_cost_kib, parallelism=ph.parallelism,
        processes=hash_processes,
    )
    return Resources(
        settings=settings,
        clock=clock or SystemClock(),
        db=db,
        sessionmaker=sessionmaker,
        readmaker=async_sessionmaker(db.reader, expire_on_commit=False),
        store=store,
        hasher=hasher,
        tokens=tokens,
        keys=keys,
        events=EventBus(),
        redis=redis_client,
    )
