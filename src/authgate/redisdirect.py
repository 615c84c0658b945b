"""The Redis session store's hot commands on one pipelined connection of our own.

Through redis-py's asyncio client one MGET costs ~40 µs of CPU (pool checkout and release,
the connection's lock, retry and timeout wrappers, command packing, event dispatch, response
callbacks); written straight to a socket and parsed by hiredis it costs ~6 µs (figures in
docs/DESIGN-NOTES.md). So ``load``'s MGET, ``get``'s GET and the user snapshot's SET and DEL
go here, everything else through the shared client.

The connection is made by redis-py itself (``pool.make_connection()`` + ``connect()``: the
same address, TLS, credentials, database, client name, and on Sentinel the current master),
then its transport is handed to ``_Line``: commands are written as they come and the replies,
which Redis sends in order, resolve the waiting requests first-come first-served. No lock, no
checkout: any number of requests share the line.

Failures: a line that is lost (reset, closed by the server, Sentinel's ``CLIENT KILL`` after a
fail-over, ``READONLY`` from a demoted master) fails its waiting requests; each is retried
once on a fresh line, then it is a ``ConnectionError``. A reply that does not come within the
client's ``socket_timeout`` is a ``TimeoutError`` and the line is dropped (a partition never
answers; the next request connects anew). Both are redis-py's ``RedisError``s: the store maps
them to 503 as it does the client's. Cancelling a request leaves the line in step: its reply is
read and dropped.

It applies to the one-server and Sentinel forms on RESP2 (``for_client`` answers None
otherwise: a cluster routes per slot, RESP3 may interleave push messages).
"""

from __future__ import annotations

import asyncio
import collections
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio.connection import ConnectionPool

    from authgate.redisconn import RedisClient

_PENDING = object()  # hiredis's "no complete reply yet"


def pack(*parts: bytes | str | int) -> bytes:
    """One command in RESP (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        b = p if isinstance(p, bytes) else str(p).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class _Lost(Exception):
    """The line went away with the request on it (retried once on a fresh line)."""


class _Line(asyncio.Protocol):
    """One connection's replies, matched to the requests in the order they were written."""

    def __init__(self, writer: asyncio.StreamWriter, loop: asyncio.AbstractEventLoop) -> None:
        import hiredis

        self.writer = writer  # kept: a StreamWriter closes its transport when collected
        self.transport: Any = writer.transport
        self.loop = loop
        self.waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.reader = hiredis.Reader(notEnoughData=_PENDING)
        self.lost = False

    def data_received(self, data: bytes) -> None:
        try:
            self.reader.feed(data)
            while (reply := self.reader.gets()) is not _PENDING:
                fut = self.waiters.popleft()  # IndexError: a reply nobody asked for
                if not fut.done():  # a cancelled or timed-out request: drop its reply
                    fut.set_result(reply)
        except Exception:  # out of step (protocol error, unrequested reply): unusable
            self.abort()

    def eof_received(self) -> bool:
        self.lost = True
        return False  # the server hung up: close our side too (connection_lost follows)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_exception(_Lost())

    def abort(self) -> None:
        self.lost = True
        self.transport.abort()  # connection_lost fails whoever still waits


class RedisDirect:
    """``mget``/``get``/``set``/``delete`` as redis-py answers them (bytes, no decoding) on
    one pipelined connection made from ``pool``'s settings."""

    def __init__(self, pool: ConnectionPool) -> None:
        from redis import exceptions

        self._pool = pool
        self._timeout: float | None = pool.connection_kwargs.get("socket_timeout")
        self._line: _Line | None = None
        self._connecting: asyncio.Task[_Line] | None = None
        self._closed = False
        self._errors = exceptions

    async def mget(self, *keys: str) -> list[bytes | None]:
        reply: list[bytes | None] = await self._call(pack(b"MGET", *keys))
        return reply

    async def get(self, key: str) -> bytes | None:
        reply: bytes | None = await self._call(pack(b"GET", key))
        return reply

    async def set(self, key: str, value: bytes | str, *, ex: int | None = None,
                  nx: bool = False) -> bool:
        """True if written (False: ``nx`` and the key exists)."""
        args: list[bytes | str | int] = [b"SET", key, value]
        if ex is not None:
            args += [b"EX", ex]
        if nx:
            args.append(b"NX")
        reply: Any = await self._call(pack(*args))
        return bool(reply == b"OK")

    async def delete(self, *keys: str) -> int:
        reply: int = await self._call(pack(b"DEL", *keys))
        return reply

    async def _call(self, command: bytes) -> Any:
        """Write ``command`` and wait for its reply: one retry on a fresh line if the line
        is lost under it, none after a timeout (docstring above)."""
        for attempt in (1, 2):
            line = self._line
            loop = asyncio.get_running_loop()
            if line is None or line.lost or line.loop is not loop or line.transport.is_closing():
                line = await self._connect()  # (closing: a reset whose news is on its way)
            fut: asyncio.Future[Any] = loop.create_future()
            line.waiters.append(fut)
            try:
                line.transport.write(command)
            except Exception:  # closed under us before connection_lost was delivered
                line.lost = True
                fut.set_exception(_Lost())
            timer = (loop.call_later(self._timeout, self._expire, line, fut)
                     if self._timeout else None)
            try:
                reply = await fut
            except _Lost:
                if attempt == 2:
                    raise self._errors.ConnectionError("Redis connection lost") from None
                continue
            finally:
                if timer is not None:
                    timer.cancel()
            if isinstance(reply, Exception):  # an error reply (hiredis.ReplyError)
                message = str(reply)
                if message.startswith("READONLY"):  # a demoted master (Sentinel fail-over)
                    line.abort()
                    if attempt == 1:
                        continue
                    raise self._errors.ConnectionError("Redis master is now a replica")
                raise self._errors.ResponseError(message)
            return reply
        raise AssertionError("unreachable")  # pragma: no cover

    def _expire(self, line: _Line, fut: asyncio.Future[Any]) -> None:
        if not fut.done():
            fut.set_exception(self._errors.TimeoutError("Timeout reading from Redis"))
            line.abort()  # a server that does not answer one request answers none

    async def _connect(self) -> _Line:
        """The current line, or a new one; concurrent callers share one attempt."""
        if self._closed:
            raise self._errors.ConnectionError("Redis client closed")
        task = self._connecting
        if task is None:
            task = self._connecting = asyncio.ensure_future(self._open())
            task.add_done_callback(self._connected)
        return await asyncio.shield(task)

    def _connected(self, task: asyncio.Task[_Line]) -> None:
        self._connecting = None
        if not task.cancelled() and task.exception() is None:
            self._line = task.result()

    async def _open(self) -> _Line:
        conn = self._pool.make_connection()  # type: ignore[no-untyped-call]
        await conn.connect()  # redis-py's own hand-shake (and, on Sentinel, master look-up)
        writer = conn._writer  # noqa: SLF001 - the stream the hand-shake ran on
        assert writer is not None
        line = _Line(writer, asyncio.get_running_loop())
        line.transport.set_protocol(line)
        # The socket is the line's now: the Connection must neither read nor close it.
        conn._reader = conn._writer = None  # noqa: SLF001
        if self._closed:
            line.transport.close()
            raise self._errors.ConnectionError("Redis client closed")
        return line

    async def close(self) -> None:
        self._closed = True
        line, self._line = self._line, None
        if line is not None:
            line.transport.close()


def for_client(client: RedisClient) -> RedisDirect | None:
    """A direct line beside ``client`` where it applies (module docstring), else None."""
    from redis.asyncio import Redis

    if not isinstance(client, Redis):  # a cluster
        return None
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    if str(kwargs.get("protocol") or 2) != "2" or kwargs.get("redis_connect_func"):
        return None
    try:
        import hiredis  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency (redis[hiredis])
        return None
    return RedisDirect(pool)
