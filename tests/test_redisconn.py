"""``redis_url`` forms (``authgate.redisconn.parse``): one server, a cluster, Sentinel; TLS
and credentials; every malformed URL refused when the settings are built, never echoing the
password."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from authgate.config import Settings
from authgate.redisconn import parse


def test_single_server_forms_are_left_to_redis_py() -> None:
    for url in ("redis://127.0.0.1:6379/0", "rediss://:pw@cache.example:6380/2",
                "unix:///run/redis.sock?db=1"):
        t = parse(url)
        assert t.topology == "single" and t.url == url
    assert parse("rediss://h/0").tls and not parse("redis://h/0").tls


def test_cluster_url_lists_the_seed_nodes_and_credentials() -> None:
    t = parse("redis+cluster://app:p%40ss%3Aword@10.0.0.1:7000,10.0.0.2,[::1]:7002/")
    assert t.topology == "cluster" and not t.tls
    assert t.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002))
    assert t.username == "app" and t.password == "p@ss:word"  # percent-decoded
    assert parse("redis+cluster://h:7000/0").nodes == (("h", 7000),)
    tls = parse("rediss+cluster://:pw@h:7000?ssl_ca_certs=/etc/ca.pem&ssl_cert_reqs=required")
    assert tls.tls and tls.username is None and tls.password == "pw"
    assert tls.options == {"ssl_ca_certs": "/etc/ca.pem", "ssl_cert_reqs": "required"}


def test_sentinel_url_names_the_service_and_database() -> None:
    t = parse("redis+sentinel://:pw@s1:26379,s2/mymaster/3?sentinel_password=spw")
    assert t.topology == "sentinel" and t.service == "mymaster" and t.db == 3
    assert t.nodes == (("s1", 26379), ("s2", 26379))  # the sentinel port by default
    assert t.password == "pw" and t.options == {"sentinel_password": "spw"}
    assert parse("rediss+sentinel://s1/mymaster").db == 0
    assert parse("rediss+sentinel://s1/mymaster").tls


@pytest.mark.parametrize(("url", "why"), [
    ("http://h:6379", "must start with"),
    ("redis+cluster://h:7000/1", "database 0 only"),
    ("redis+cluster://h:7000?sentinel_password=x", "unknown option"),
    ("redis+cluster://h:7000?ssl_verify=no", "unknown option"),
    ("redis+cluster://h:70x0", "port must be a number"),
    ("redis+cluster://h:7000,,h2:7001", "empty host"),
    ("redis+sentinel://s1:26379", "names the service"),
    ("redis+sentinel://s1:26379/svc/1/2", "names the service"),
    ("redis+sentinel://s1:26379/svc/x", "database must be a number"),
    ("rediss+sentinel://s1/svc?ssl_cert_reqs=maybe", "ssl_cert_reqs"),
])
def test_malformed_urls_are_refused_by_the_settings(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse(url)
    secret_url = url.replace("://", "://:hunter2-secret@", 1)
    with pytest.raises(ValidationError) as err:
        Settings(redis_url=secret_url)
    assert why in str(err.value) and "hunter2" not in str(err.value)


def test_the_password_stays_out_of_the_parsed_repr() -> None:
    t = parse("redis+sentinel://:hunter2-secret@s1/svc?sentinel_password=hunter3")
    assert "hunter2" not in repr(t) and "hunter3" not in repr(t)


def test_settings_accept_the_topology_forms() -> None:
    s = Settings(redis_url="redis+cluster://h1:7000,h2:7001", session={"storage": "redis"})
    assert s.redis_url == "redis+cluster://h1:7000,h2:7001"
    Settings(redis_url="rediss+sentinel://:pw@s1:26379,s2:26379/mymaster/0")


async def test_connect_wires_tls_and_credentials_to_the_right_servers() -> None:
    """No connection is made: the clients are inspected as built."""
    from redis.asyncio.cluster import RedisCluster

    from authgate import redisconn

    c = redisconn.connect("rediss+cluster://app:pw@h1:7000,h2:7001?ssl_ca_certs=/etc/ca.pem")
    assert isinstance(c, RedisCluster) and redisconn.is_cluster(c)
    assert list(c.nodes_manager.startup_nodes) == ["h1:7000", "h2:7001"]
    kw = c.connection_kwargs
    assert kw["connection_class"].__name__ == "SSLConnection"
    assert (kw["username"], kw["password"], kw["ssl_ca_certs"], kw["ssl_cert_reqs"]) == (
        "app", "pw", "/etc/ca.pem", "required")  # verification stays on unless turned off
    await redisconn.close(c)

    s = redisconn.connect(
        "rediss+sentinel://:pw@s1:26379,s2/svc/2?sentinel_password=spw&ssl_cert_reqs=none")
    assert not redisconn.is_cluster(s)
    pool = s.connection_pool
    assert pool.service_name == "svc"  # type: ignore[attr-defined]
    assert pool.connection_class.__name__ == "SentinelManagedSSLConnection"
    assert (pool.connection_kwargs["db"], pool.connection_kwargs["password"]) == (2, "pw")
    sentinels = pool.sentinel_manager.sentinels  # type: ignore[attr-defined]
    assert [(x.connection_pool.connection_kwargs["host"],
             x.connection_pool.connection_kwargs["port"],
             x.connection_pool.connection_kwargs["password"]) for x in sentinels] == [
        ("s1", 26379, "spw"), ("s2", 26379, "spw")]  # the sentinels' own password
    assert all(x.connection_pool.connection_class.__name__ == "SSLConnection"
               for x in sentinels)
    await redisconn.close(s)
