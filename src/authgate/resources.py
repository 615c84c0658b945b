"""Everything a running authgate holds: built once from Settings, passed down, closed once.

``Resources`` is a plain typed record: every collaborator a feature needs is a field here,
built by ``authgate.composition.build_resources`` (above the feature packages, so none of
them has to reach another through a string-keyed bag). Nothing connects or reads the
environment at import time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from authgate.clock import Clock
from authgate.config import Settings
from authgate.crypto.keys import derive
from authgate.crypto.passwords import PasswordHasher
from authgate.crypto.secretbox import SecretBox
from authgate.crypto.tokens import TokenCodec
from authgate.db import Database
from authgate.delivery import Delivery
from authgate.events import EventBus
from authgate.lifecycle import Drain

if TYPE_CHECKING:  # annotations only: the session package builds on Resources, not under it
    from authgate.audit.trail import AuditTrail
    from authgate.crypto.jwks import KeyRing
    from authgate.metrics import Metrics
    from authgate.redisconn import RedisClient  # redis-py only when redis_url is set
    from authgate.sessions.store import SessionStore

log = logging.getLogger("authgate")
DEV_SECRET_FILE = ".authgate-secret"
T = TypeVar("T")


@dataclass
class Keys:
    """Purpose-bound keys (see crypto.keys)."""

    root: bytes
    otp: bytes
    trust: bytes
    recovery: bytes
    totp_lookup: bytes
    csrf: bytes
    rate_account: bytes
    """Keys the per-account rate-limit subjects (counters never hold an email or phone)."""
    api_key: bytes
    """Keys the stored hashes of API-key secrets."""


@dataclass
class Resources:
    settings: Settings
    clock: Clock
    db: Database
    sessionmaker: async_sessionmaker[AsyncSession]
    readmaker: async_sessionmaker[AsyncSession]
    """Sessions on the reader engine: for read-only flows (no write lock on SQLite). Always
    the primary: what it reads is current."""
    stale_readmaker: async_sessionmaker[AsyncSession]
    """Sessions for reads that tolerate replication lag (lists, statistics, history): the
    read replica when ``database_replica_url`` is set, else the same as ``readmaker``. Never
    for a read that decides anything (sessions, codes, MFA state, permissions checks) or
    that follows a write of the same flow."""
    store: SessionStore
    hasher: PasswordHasher
    tokens: TokenCodec
    keys: Keys
    events: EventBus
    delivery: Delivery
    """Renders and sends one-time codes (``res.delivery.send_code``)."""
    secretbox: SecretBox
    """Encrypts TOTP seeds (the ``mfa.encryption_keys`` ring)."""
    redis: RedisClient | None = None
    """``redis_url``'s client: one server, a cluster or a Sentinel-managed master
    (``authgate.redisconn``)."""
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    """Background work still running (``authgate.background``): referenced here because
    the event loop holds tasks only weakly."""
    provider_cache: dict[str, Any] = field(default_factory=dict)
    """Identity providers' discovery documents and signing keys (``federation.oidc``),
    fetched on first use and refreshed by age or an unknown key id."""
    metrics: Metrics | None = None
    """``metrics.enabled``: the Prometheus series (``authgate.metrics``)."""
    drain: Drain = field(default_factory=Drain)
    """Set on SIGTERM (``authgate serve``) or by ``AuthGate.begin_drain``: readiness fails."""
    audit: AuditTrail | None = None
    """The audit trail's writer (``authgate.audit.trail``; set by the composition root)."""
    warned_no_client_ip: bool = False
    """The "per-IP limits cannot apply" warning was logged (once per app)."""

    @property
    def channels(self) -> frozenset[str]:
        """Delivery channels that can carry one-time codes (``email``, ``sms``)."""
        return self.delivery.channels

    async def close(self) -> None:
        if self.audit is not None:  # what is queued reaches the database before it closes
            await self.audit.close()
        await self.store.close()
        if self.redis is not None and self.settings.session.storage != "redis":
            from authgate import redisconn

            await redisconn.close(self.redis)
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


def _key_file(setting: str, path: Path, load: Callable[[bytes], T]) -> T:
    try:
        return load(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"{setting} {path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError) as exc:  # TypeError: an encrypted private key
        raise ValueError(f"{setting} {path}: {exc}") from None


def signing_material(settings: Settings, root: bytes) -> tuple[Any, Any, KeyRing | None]:
    """The access-token signing key, its verification key and (asymmetric algorithms) the
    key ring: the current public key and ``jwt.previous_public_key_files``. A key file that
    cannot be read, does not fit ``jwt.algorithm``, or a public key file that is not the
    private key's half fails here, at start-up, with the setting named (ValueError)."""
    from authgate.crypto.jwks import KeyRing, algorithm_of, load_private, load_public, same_key

    jwt_s = settings.jwt
    if jwt_s.algorithm.startswith("HS"):
        return root, root, None
    assert jwt_s.private_key_file is not None
    where = f"jwt.private_key_file {jwt_s.private_key_file}"
    private = _key_file("jwt.private_key_file", jwt_s.private_key_file, load_private)
    public = private.public_key()
    try:
        alg = algorithm_of(public)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if alg != jwt_s.algorithm:
        raise ValueError(f"{where}: a key for {alg}, but jwt.algorithm is {jwt_s.algorithm}")
    if jwt_s.public_key_file is not None:
        given = _key_file("jwt.public_key_file", jwt_s.public_key_file, load_public)
        if not same_key(given, public):
            raise ValueError(f"jwt.public_key_file {jwt_s.public_key_file}: not the public "
                             "half of jwt.private_key_file")
    previous = [_key_file("jwt.previous_public_key_files", path, load_public)
                for path in jwt_s.previous_public_key_files]
    return private, public, KeyRing.of(public, previous)


def build_secretbox(settings: Settings, keys: Keys) -> SecretBox:
    """The TOTP key ring; a malformed ``mfa.encryption_keys`` entry fails here, at start-up,
    rather than at the first enrolment."""
    return SecretBox.from_config(
        [k.get_secret_value() for k in settings.mfa.encryption_keys], keys.root)


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
        rate_account=derive(root, "rate-limit-account"),
        api_key=derive(root, "api-key-hash"),
    )
