"""Redis connections from one URL: a single server, a Redis Cluster, or a Sentinel-managed
master.

URL forms (``redis_url``; ``rediss`` instead of ``redis`` means TLS; user and password are
percent-encoded and are the data nodes' credentials)::

    redis://[[user]:password@]host:6379/0          one server (redis-py's own URL forms:
    rediss://…, unix:///run/redis.sock?db=0         every option redis-py accepts)
    redis+cluster://[[user]:password@]h1:7000,h2:7001,h3:7002[/0]
    redis+sentinel://[[user]:password@]h1:26379,h2:26379/<service>[/<db>]

Options of the cluster and sentinel forms (query string): ``ssl_ca_certs``,
``ssl_certfile``, ``ssl_keyfile``, ``ssl_cert_reqs`` (``required``, ``optional``, ``none``),
and for Sentinel ``sentinel_username``/``sentinel_password`` (the sentinels' own ``requirepass``,
when they have one). A cluster has database 0 only. Any other option is refused when the
settings are built, so a typo cannot silently drop TLS verification.

Why one URL rather than separate settings: every deployment tool already passes "the Redis
URL" around, and the form names the topology. ``parse`` is pure (the settings validate
with it); ``connect`` imports redis-py only when a URL is configured.

Every Redis use (the session store, the shared counters, the readiness probe) goes through
the one client ``connect`` returns (the session store's hot reads on a connection made from
its settings: ``authgate.redisdirect``); code that must behave differently on a cluster (keys in
different hash slots cannot share a MULTI or an MGET) asks ``is_cluster``. Failures of any
topology are ``failures()`` (redis-py's cluster errors are not all ``RedisError``s).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeGuard
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from redis.asyncio.cluster import RedisCluster

    RedisClient = aioredis.Redis | RedisCluster

log = logging.getLogger("authgate")

Topology = Literal["single", "cluster", "sentinel"]
_SCHEMES: dict[str, tuple[Topology, bool]] = {
    "redis+cluster": ("cluster", False), "rediss+cluster": ("cluster", True),
    "redis+sentinel": ("sentinel", False), "rediss+sentinel": ("sentinel", True),
}
_TLS_OPTIONS = {"ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs"}
_SENTINEL_OPTIONS = {"sentinel_username", "sentinel_password"}
_CERT_REQS = {"required", "optional", "none"}
# Bounds of every connection (a dead node must fail a request quickly, not hang it).
_TIMEOUTS: dict[str, Any] = {"socket_timeout": 2, "socket_connect_timeout": 2}


@dataclass(frozen=True)
class RedisTarget:
    """A parsed ``redis_url`` (no connection)."""

    topology: Topology
    url: str = field(repr=False)
    nodes: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    options: dict[str, str] = field(default_factory=dict, repr=False)


def parse(url: str) -> RedisTarget:
    """Parse and check a ``redis_url``; raises ValueError naming what is wrong (never the
    password)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("redis", "rediss", "unix"):
        return RedisTarget("single", url, tls=scheme == "rediss")
    if scheme not in _SCHEMES:
        raise ValueError("redis_url must start with redis://, rediss://, unix://, "
                         "redis+cluster://, rediss+cluster://, redis+sentinel:// or "
                         "rediss+sentinel://")
    topology, tls = _SCHEMES[scheme]
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username = password = None
    if userinfo:
        user, has_password, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password else None
    nodes = tuple(_node(n, 26379 if topology == "sentinel" else 6379)
                  for n in hosts.split(","))
    path = [p for p in parts.path.split("/") if p]
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    allowed = _TLS_OPTIONS | (_SENTINEL_OPTIONS if topology == "sentinel" else set())
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"redis_url: unknown option(s) {', '.join(unknown)}; "
                         f"allowed: {', '.join(sorted(allowed))}")
    if options.get("ssl_cert_reqs", "required") not in _CERT_REQS:
        raise ValueError("redis_url: ssl_cert_reqs must be required, optional or none")
    if topology == "cluster":
        if len(path) > 1 or (path and path[0] != "0"):
            raise ValueError("redis_url: a Redis Cluster has database 0 only")
        return RedisTarget("cluster", url, nodes, tls=tls, username=username,
                           password=password, options=options)
    if not path or len(path) > 2:
        raise ValueError("redis_url: a Sentinel URL names the service: "
                         "redis+sentinel://host:26379/<service>[/<db>]")
    return RedisTarget("sentinel", url, nodes, service=unquote(path[0]),
                       db=_number(path[1] if len(path) == 2 else "0", "database"),
                       tls=tls, username=username, password=password, options=options)


def _node(text: str, default_port: int) -> tuple[str, int]:
    if not text:
        raise ValueError("redis_url: empty host in the host list")
    if text.startswith("["):  # [IPv6]:port
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    return host, _number(port, "port") if port else default_port


def _number(text: str, what: str) -> int:
    if not text.isdigit():
        raise ValueError(f"redis_url: the {what} must be a number")
    return int(text)


def _tls(target: RedisTarget) -> dict[str, Any]:
    if not target.tls:
        return {}
    out: dict[str, Any] = {"ssl": True, "ssl_cert_reqs": target.options.get("ssl_cert_reqs",
                                                                             "required")}
    for key in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
        if key in target.options:
            out[key] = target.options[key]
    return out


def connect(url: str) -> RedisClient:
    """A client for ``url`` (``parse``'s forms). Nothing is connected yet: the first
    command connects (and a cluster client first reads the slot map)."""
    target = parse(url)
    if target.topology == "single":
        import redis.asyncio as aioredis

        return aioredis.from_url(url, health_check_interval=10, retry_on_timeout=False,
                                 **_TIMEOUTS)
    auth: dict[str, Any] = {"username": target.username, "password": target.password}
    if target.topology == "cluster":
        from redis.asyncio.cluster import ClusterNode, RedisCluster
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialWithJitterBackoff

        # redis-py's default (3 retries, backoff up to 10 s, a topology refresh each) held a
        # request for seconds while a cluster without a node refused every slot: a failing
        # request gives up within about a second instead (→ 503, the client retries).
        return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in target.nodes],
                            retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.25), 2),
                            **auth, **_tls(target), **_TIMEOUTS)
    import redis.asyncio as aioredis
    from redis.asyncio.sentinel import Sentinel

    sentinel_auth = {"username": target.options.get("sentinel_username"),
                     "password": target.options.get("sentinel_password")}
    sentinel = Sentinel(list(target.nodes),
                        sentinel_kwargs={**sentinel_auth, **_tls(target), **_TIMEOUTS},
                        **auth, **_tls(target), **_TIMEOUTS)
    master: aioredis.Redis = sentinel.master_for(target.service, db=target.db,
                                                 health_check_interval=10)
    return master


def is_cluster(client: RedisClient) -> TypeGuard[RedisCluster]:
    from redis.asyncio.cluster import RedisCluster

    return isinstance(client, RedisCluster)


async def close(client: RedisClient) -> None:
    """Close the client and, for a Sentinel-managed master, the sentinels' connections."""
    await client.aclose()
    manager = getattr(getattr(client, "connection_pool", None), "sentinel_manager", None)
    for sentinel in getattr(manager, "sentinels", ()):
        await sentinel.aclose()


def failures() -> tuple[type[Exception], ...]:
    """The exceptions that mean "Redis cannot serve us now" on every topology."""
    from redis.exceptions import RedisClusterException, RedisError

    return (RedisError, RedisClusterException)
