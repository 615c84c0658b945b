"""The Redis session store's direct line (``authgate.redisdirect``): concurrent requests on one
pipelined connection each get their own reply; a line lost under a request is replaced and
the request retried; a cancelled request, an error reply or a timeout never leaves the line
out of step; a demoted master's READONLY is a connection error; the line works over TLS with
a password and a database (the app end to end, revocation seen at once); where it applies.

Against the machine's Redis (keys of the test's own) and local redis-servers the tests start;
the shared server's other clients are never touched (only the line's own connection is
killed)."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import exceptions

from authgate import redisconn, redisdirect
from authgate.redisdirect import RedisDirect, pack
from tests.conftest import REDIS_URL, MakeHarness, bearer
from tests.helpers import assert_error
from tests.redis_topologies import REDIS_CLI, SentinelSetup, cli, redis_processes
from tests.servers import free_port, make_cert

PREFIX = f"authgate-test-direct:{uuid.uuid4().hex[:8]}:"


class Line:
    """A client and its direct line, with the keys a test wrote (deleted after)."""

    def __init__(self, client: Any, direct: RedisDirect) -> None:
        self.client = client
        self.direct = direct

    async def client_id(self) -> int:
        """The server's id of the line's current connection."""
        reply: int = await self.direct._call(pack(b"CLIENT", b"ID"))
        return reply


@pytest.fixture
async def line() -> AsyncIterator[Line]:
    client = redisconn.connect(REDIS_URL)
    direct = redisdirect.for_client(client)
    assert direct is not None
    yield Line(client, direct)
    keys = [k async for k in client.scan_iter(match=PREFIX + "*")]
    if keys:
        await client.delete(*keys)
    await direct.close()
    await redisconn.close(client)


def _key(name: str) -> str:
    return PREFIX + name


async def test_concurrent_requests_each_get_their_own_reply(line: Line) -> None:
    values = {_key(f"k{i}"): f"value-{i}".encode() * (1 + i % 50) for i in range(300)}
    await line.client.mset(values)
    keys = list(values)
    first = await line.client_id()
    replies = await asyncio.gather(
        *(line.direct.get(k) for k in keys),
        *(line.direct.mget(keys[i], _key("missing"), keys[-1 - i]) for i in range(100)))
    assert list(replies[:300]) == [values[k] for k in keys]
    assert list(replies[300:]) == [[values[keys[i]], None, values[keys[-1 - i]]]
                                   for i in range(100)]
    assert await line.client_id() == first  # one connection carried them all
    assert await line.direct.set(_key("s"), b"v", ex=60) is True
    assert 0 < await line.client.ttl(_key("s")) <= 60
    assert await line.direct.delete(_key("s"), _key("missing")) == 1
    assert await line.client.get(_key("s")) is None


async def test_a_line_lost_under_a_request_is_replaced_and_the_request_retried(
        line: Line) -> None:
    await line.client.set(_key("a"), b"alive")
    victim = await line.client_id()
    # a request waiting on the line when the server drops it (BLPOP holds it there)
    waiting = asyncio.ensure_future(line.direct._call(pack(b"BLPOP", _key("list"), b"0.2")))
    await asyncio.sleep(0.05)
    assert await line.client.client_kill_filter(_id=victim) == 1
    assert await waiting is None  # retried on a fresh line: BLPOP timed out there
    assert await line.client_id() != victim
    # dropped while idle: the next request does not fail either
    assert await line.client.client_kill_filter(_id=await line.client_id()) == 1
    assert await line.direct.get(_key("a")) == b"alive"


async def test_a_cancelled_request_leaves_the_line_in_step(line: Line) -> None:
    await line.client.set(_key("b"), b"mine")
    first = await line.client_id()
    slow = asyncio.ensure_future(line.direct._call(pack(b"BLPOP", _key("list"), b"0.2")))
    await asyncio.sleep(0.05)
    slow.cancel()
    # queued behind the cancelled BLPOP on the same connection: its nil must not be taken
    # for this reply
    assert await line.direct.get(_key("b")) == b"mine"
    assert await line.client_id() == first


async def test_an_error_reply_is_a_redis_error_and_the_line_stays(line: Line) -> None:
    first = await line.client_id()
    with pytest.raises(exceptions.ResponseError):
        await line.direct._call(pack(b"NO-SUCH-COMMAND"))
    assert isinstance(exceptions.ResponseError(""), redisconn.failures())
    assert await line.client_id() == first


async def test_a_reply_that_does_not_come_times_out_and_drops_the_line(line: Line) -> None:
    await line.client.set(_key("c"), b"later")
    first = await line.client_id()
    line.direct._timeout = 0.05  # the client's socket_timeout (2 s) in the app
    with pytest.raises(exceptions.TimeoutError):
        await line.direct._call(pack(b"BLPOP", _key("list"), b"1"))
    line.direct._timeout = 2
    assert await line.direct.get(_key("c")) == b"later"  # on a new line
    assert await line.client_id() != first


async def test_a_demoted_master_is_a_connection_error(redis_sentinel: SentinelSetup) -> None:
    """A line still on a master that Sentinel turned into a replica: writes answer READONLY,
    which drops the line (the next one asks Sentinel again); reads carry on."""
    s = redis_sentinel
    replica = s.replica if s.current_master() == s.master else s.master
    client = redisconn.connect(f"redis://127.0.0.1:{replica}/0")
    direct = redisdirect.for_client(client)
    assert direct is not None
    try:
        with pytest.raises(exceptions.ConnectionError):
            await direct.set(_key("ro"), b"x")
        assert await direct.get(_key("ro")) is None
    finally:
        await direct.close()
        await redisconn.close(client)


def test_it_applies_to_one_server_and_sentinel_on_resp2_only() -> None:
    async def check(url: str) -> RedisDirect | None:
        client = redisconn.connect(url)
        try:
            return redisdirect.for_client(client)
        finally:
            await redisconn.close(client)

    def applies(url: str) -> bool:
        return asyncio.run(check(url)) is not None

    assert applies("redis://127.0.0.1:6379/0")
    assert applies("rediss://:pw@cache.example:6380/2")
    assert applies("unix:///run/redis.sock?db=1")
    assert applies("redis+sentinel://127.0.0.1:26379/svc/0")
    assert not applies("redis+cluster://127.0.0.1:7000,127.0.0.1:7001")
    assert not applies("redis://127.0.0.1:6379/0?protocol=3")  # push messages interleave


async def test_concurrent_requests_each_see_their_own_session(make_harness: MakeHarness,
                                                               backend: str) -> None:
    """The app on the line: many requests in flight at once, each answered with its own
    user; a revoked session is refused by every request sent after the logout."""
    if backend == "sqlite":
        pytest.skip("Redis does not depend on the database: the PostgreSQL run has it")
    h = await make_harness(session={"storage": "redis"})
    assert h.res.store._direct is not None  # type: ignore[attr-defined]
    emails = [f"user{i}@example.com" for i in range(6)]
    tokens = [await h.user_token(e) for e in emails]
    calls = [(e, t) for _ in range(10) for e, t in zip(emails, tokens, strict=True)]
    answers = await asyncio.gather(*(h.client.get("/auth/user", headers=bearer(t))
                                     for _, t in calls))
    assert [(r.status_code, r.json()["email"]) for r in answers] == [(200, e) for e, _ in calls]
    assert (await h.client.post("/auth/logout", headers=bearer(tokens[0]))).status_code == 200
    answers = await asyncio.gather(*(h.client.get("/auth/user", headers=bearer(t))
                                     for t in tokens * 3))
    assert [r.status_code for r in answers] == [401, 200, 200, 200, 200, 200] * 3


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A redis-server of the test's own with TLS, a password and the store in database 3:
    its plain port (for redis-cli) and the app's ``rediss://`` URL. Request it before
    ``make_harness`` so it outlives the app."""
    cert = make_cert(tmp_path)
    with redis_processes() as procs:
        plain, tls = free_port(), free_port()
        try:
            procs.start(plain, "--tls-port", str(tls), "--tls-cert-file", str(cert.cert),
                        "--tls-key-file", str(cert.key), "--tls-ca-cert-file", str(cert.cert),
                        "--tls-auth-clients", "no")
        except TimeoutError:
            pytest.skip("this redis-server has no TLS (built without BUILD_TLS)")
        assert cli(plain, "config", "set", "requirepass", "s3cret") == "OK"  # after the ping
        yield plain, f"rediss://:s3cret@127.0.0.1:{tls}/3?ssl_ca_certs={cert.cert}"


async def test_the_app_over_tls_with_a_password_and_a_database(
        tls_redis: tuple[int, str], make_harness: MakeHarness, backend: str) -> None:
    """``rediss://`` end to end: the line makes its connection with redis-py's TLS, AUTH
    and SELECT, serves the hot path, and a logout is seen by the very next request."""
    if backend == "sqlite":
        pytest.skip("Redis does not depend on the database: the PostgreSQL run has it")
    plain, url = tls_redis
    h = await make_harness(redis_url=url, session={"storage": "redis"})
    assert h.res.store._direct is not None  # type: ignore[attr-defined]
    alice = await h.user_token("alice@example.com")
    bob = await h.user_token("bob@example.com")
    for _ in range(3):
        r = await h.client.get("/auth/user", headers=bearer(alice))
        assert r.status_code == 200, r.text
    assert REDIS_CLI is not None
    keys = subprocess.run(
        [REDIS_CLI, "-h", "127.0.0.1", "-p", str(plain), "--no-auth-warning", "-a", "s3cret",
         "-n", "3", "--scan", "--pattern", f"{h.settings.redis_prefix}sess:*"],
        capture_output=True, text=True, check=True, timeout=10).stdout.split()
    assert len(keys) == 2  # in database 3 of the TLS server
    assert (await h.client.post("/auth/logout", headers=bearer(alice))).status_code == 200
    assert_error(await h.client.get("/auth/user", headers=bearer(alice)), 401,
                 "SESSION_NOT_FOUND")
    assert (await h.client.get("/auth/user", headers=bearer(bob))).status_code == 200
