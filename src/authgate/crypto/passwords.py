"""argon2id password hashing, run off the event loop so a login burst never stalls it.

What is hashed is not the raw string (issue #19, ASVS 2.1.4, 2.4.5):

* **Unicode NFKC** first (``normalise``): the same visible password typed on two keyboards
  (``"é"`` precomposed or ``"e"`` + combining accent, full-width digits) is one password.
  Hashes stored before normalisation are verified with the raw string as a fallback, and
  ``Verdict.rehash`` asks the caller to store the normalised hash. The fallback cannot widen
  what a new hash accepts: it is tried only for input that NFKC changes, and such a string
  never equals the (normal) string a new hash was made of.
* **an optional pepper**: with ``password_hash.pepper_keys`` argon2 hashes
  ``HMAC-SHA256(pepper, password)`` instead, and the stored string says which pepper
  (``pepper:<kid>:$argon2id$...``). A database dump alone then cannot be cracked offline.
  The first key peppers new hashes, every listed key verifies; a hash under another pepper
  (or none) is upgraded at the owner's next login (``Verdict.rehash``), so a pepper is
  rotated by putting a new key first and dropping the old one once logins have moved.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import hmac
import os
import sys
import threading
import time
import unicodedata
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Protocol, cast

from authgate.crypto import argon2id
from authgate.crypto.argon2id import Params

HASH_THREAD_NICENESS = 19
"""How much lower than the process a hashing thread runs (Linux nice steps, capped at 19).
CFS weights add up: at +19 the 4 lane threads of each of 2 concurrent hashes together weigh
about an eighth of the event loop's thread; at +10 they would outweigh it."""


def _yield_to_event_loop() -> None:
    """Run in each hashing thread: lower its CPU priority, so a login storm takes the CPU the
    event loop leaves over instead of a fair share of it (logins still get every idle
    cycle). Linux scopes niceness to a thread, and argon2's lane threads inherit it."""
    if sys.platform.startswith("linux"):
        try:
            # SCHED_IDLE: any runnable normal thread (the event loop) preempts it at once,
            # where a niced thread only loses on weight (a request waking behind it waits
            # for the scheduler's wake-up granularity; docs/DESIGN-NOTES.md).
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return
        except (OSError, AttributeError):
            pass
        tid = threading.get_native_id()
        try:
            base = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(19, base + HASH_THREAD_NICENESS))
        except OSError:
            pass


def _hashing_process(owner: int) -> None:
    """Initializer of a hashing process: lowest CPU priority, and gone once the worker that
    owns it is (a worker killed, or ending with ``os._exit``, never tells its pool to stop)."""
    _yield_to_event_loop()

    def _watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # pragma: no cover - the pid now belongs to another user
                os._exit(0)

    threading.Thread(target=_watch, name="owner-watch", daemon=True).start()


def _serve(conn: Connection, owner: int) -> None:
    """A hashing process: ``(fn, args)`` in, ``(ok, result or exception)`` out, until the
    pipe closes or says None."""
    _hashing_process(owner)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        fn, args = job
        try:
            answer: tuple[bool, object] = (True, fn(*args))
        except BaseException as exc:  # noqa: BLE001 - the caller's future raises it
            answer = (False, exc)
        conn.send(answer)


class _Child:
    __slots__ = ("conn", "job", "process")

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.job: asyncio.Future[object] | None = None


class HashingProcesses:
    """Up to ``workers`` hashing processes, each fed over a pipe of its own by the event loop
    itself: a job is pickled onto the pipe, the answer read when the loop sees the pipe
    readable. ``ProcessPoolExecutor`` ran two threads of its own per pool (its queue
    feeder and its manager), which took ~0.6 ms of CPU per login and the event loop's GIL
    each time they woke. Jobs beyond the free processes wait in arrival order. A process
    that dies (killed, out of memory) fails its job with ``BrokenProcessPool`` and is
    replaced by the next job. Bound to the event loop that first uses it (one per server
    worker)."""

    def __init__(self, workers: int) -> None:
        import multiprocessing

        # forkserver: children start from a clean process, not a copy of a running event loop
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload([__name__])
        self._workers = workers
        self._children: list[_Child] = []
        self._idle: list[_Child] = []
        self._waiting: collections.deque[tuple[object, tuple[object, ...],
                                               asyncio.Future[object]]] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def run(self, fn: object, *args: object) -> object:
        """``fn(*args)`` in a hashing process (``fn`` and its arguments travel pickled)."""
        if self._closed:
            raise RuntimeError("the hashing processes are closed")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("the hashing processes belong to another event loop")
        fut: asyncio.Future[object] = loop.create_future()
        self._waiting.append((fn, args, fut))
        self._dispatch()
        return await fut

    def _dispatch(self) -> None:
        while self._waiting and (self._idle or len(self._children) < self._workers):
            fn, args, fut = self._waiting.popleft()
            if fut.done():  # its caller was cancelled while it waited
                continue
            child = self._idle.pop() if self._idle else self._start()
            child.job = fut
            try:
                child.conn.send((fn, args))
            except (OSError, ValueError):  # the process is gone: its pipe closed
                self._lost(child)

    def _start(self) -> _Child:
        ours, theirs = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=_serve, args=(theirs, os.getpid()),
                                    name="authgate-hash", daemon=True)
        process.start()
        theirs.close()
        child = _Child(process, ours)
        self._children.append(child)
        assert self._loop is not None
        self._loop.add_reader(ours.fileno(), self._answered, child)
        return child

    def _answered(self, child: _Child) -> None:
        try:
            ok, value = child.conn.recv()
        except (EOFError, OSError):
            self._lost(child)
            return
        job, child.job = child.job, None
        self._idle.append(child)
        if job is not None and not job.done():
            if ok:
                job.set_result(value)
            else:
                job.set_exception(cast(BaseException, value))
        self._dispatch()

    def _lost(self, child: _Child) -> None:
        """A process that died: its job fails, the next job starts a new one."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(child.conn.fileno())
        child.conn.close()
        if child in self._children:
            self._children.remove(child)
        if child in self._idle:
            self._idle.remove(child)
        child.process.join(0)
        job, child.job = child.job, None
        if job is not None and not job.done():
            job.set_exception(BrokenProcessPool("a hashing process died"))
        self._dispatch()

    def close(self) -> None:
        """Stop the processes and wait for them (the app's shutdown)."""
        self._closed = True
        for _, _, fut in self._waiting:
            fut.cancel()
        self._waiting.clear()
        for child in list(self._children):
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(child.conn.fileno())
            try:
                child.conn.send(None)
            except (OSError, ValueError):
                pass
            if child.job is not None and not child.job.done():
                child.job.cancel()
        for child in self._children:
            child.process.join(5)
            if child.process.is_alive():
                child.process.kill()
                child.process.join(1)
            child.conn.close()
        self._children.clear()
        self._idle.clear()


PEPPER_PREFIX = "pepper:"


def normalise(password: str) -> str:
    """The form every password is checked, hashed and verified in: Unicode NFKC."""
    return unicodedata.normalize("NFKC", password)


@dataclass(frozen=True)
class Pepper:
    """A secret key mixed into password hashes, named by ``kid`` in the stored string."""

    kid: str
    key: bytes = b""

    def __repr__(self) -> str:  # never the key
        return f"Pepper(kid={self.kid!r})"

    def apply(self, password: str) -> str:
        """What argon2 hashes: HMAC-SHA256 of the password, base64 (44 ASCII characters)."""
        mac = hmac.new(self.key, password.encode("utf-8"), hashlib.sha256).digest()
        return base64.b64encode(mac).decode("ascii")


def parse_peppers(entries: Sequence[str]) -> tuple[Pepper, ...]:
    """``"<kid>:<base64 key>"`` entries (key ≥ 16 bytes, kid ``[A-Za-z0-9_-]{1,16}``);
    ValueError naming the entry's position for a malformed one (never its value)."""
    peppers: list[Pepper] = []
    for i, entry in enumerate(entries):
        kid, sep, encoded = entry.strip().partition(":")
        try:
            key = base64.b64decode(encoded, validate=True) if sep else b""
        except ValueError:
            key = b""
        if not (sep and 1 <= len(kid) <= 16 and kid.replace("-", "").replace("_", "").isalnum()
                and kid.isascii() and len(key) >= 16):
            raise ValueError(f"pepper key #{i + 1}: expected '<kid>:<base64 key of at least "
                             "16 bytes>' (kid: letters, digits, '-', '_'; at most 16)")
        if any(p.kid == kid for p in peppers):
            raise ValueError(f"pepper key #{i + 1}: kid {kid!r} is listed twice")
        peppers.append(Pepper(kid, key))
    return tuple(peppers)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A verification's answer: ``ok``, and ``rehash`` when the stored hash should be
    replaced by ``hash(password)`` (other argon2 parameters, another pepper or none, or a
    hash of the un-normalised password)."""

    ok: bool
    rehash: bool = False


# Module-level, so a process pool can run them: they travel by name, with the parameters.
def _hash(params: Params, password: str) -> str:
    return argon2id.hash_password(params, password)


def _verify(params: Params, stored: str, password: str) -> bool:
    return argon2id.verify_password(params, stored, password)


def _timed(fn: object, *args: object) -> tuple[object, float]:
    """``fn(*args)`` and the seconds it took where it ran (a hashing process or thread)."""
    start = time.perf_counter()
    result = fn(*args)  # type: ignore[operator]
    return result, time.perf_counter() - start


class HashObserver(Protocol):
    """What the metrics (``metrics.enabled``) are told about the hashing pool."""

    def hash_queue(self, depth: int) -> None:
        """Hashes submitted and not finished (waiting for a hashing process or running)."""

    def hashed(self, operation: str, seconds: float, waited: float) -> None:
        """One argon2 ``operation`` (``hash``/``verify``): its own time, and how long it
        waited for a free hashing process."""


class PasswordHasher:
    """Hash, verify, and tell when a stored hash should be upgraded.

    Both implementations (``argon2id.py``) release the GIL while hashing, so a small thread
    pool gives real parallelism across cores while the event loop keeps serving requests.
    """

    def __init__(
        self, *, time_cost: int, memory_cost_kib: int, parallelism: int,
        workers: int | None = None, processes: bool = False,
        peppers: tuple[Pepper, ...] = (),
    ) -> None:
        self._params: Params = (time_cost, memory_cost_kib, parallelism)
        self._peppers = {p.kid: p for p in peppers}
        self._pepper = peppers[0] if peppers else None
        """The pepper of new hashes; the others only verify."""
        # One hash per core at most: each already runs its lanes on threads, and every
        # concurrent hash holds memory_cost of RAM.
        self._workers = workers or min(4, os.cpu_count() or 1)
        self._processes = processes
        self._pool = self._new_pool()
        self._dummy = argon2id.decoy(self._params)
        self.observer: HashObserver | None = None
        self._depth = 0

    # the stored string ------------------------------------------------------------------
    def _seal(self, digest: str) -> str:
        return digest if self._pepper is None else \
            f"{PEPPER_PREFIX}{self._pepper.kid}:{digest}"

    def _input(self, password: str) -> str:
        normal = normalise(password)
        return normal if self._pepper is None else self._pepper.apply(normal)

    def _open(self, stored: str | None) -> tuple[str, Pepper | None, bool]:
        """(argon2 string, its pepper, known): an unknown pepper id verifies nothing."""
        if stored is None:
            return self._dummy, None, True
        if not stored.startswith(PEPPER_PREFIX):
            return stored, None, True
        kid, _, digest = stored[len(PEPPER_PREFIX):].partition(":")
        pepper = self._peppers.get(kid)
        return (digest, pepper, True) if pepper is not None else (self._dummy, None, False)

    def _candidates(self, pepper: Pepper | None, password: str) -> list[str]:
        """The normalised password, then the raw one when NFKC changed it (hashes made
        before normalisation), each through the stored hash's pepper."""
        forms = [normalise(password)]
        if forms[0] != password:
            forms.append(password)
        return forms if pepper is None else [pepper.apply(f) for f in forms]

    def needs_rehash(self, stored: str) -> bool:
        """Other argon2 parameters, or another pepper than the current one (or none)."""
        digest, pepper, known = self._open(stored)
        if not known or pepper is not self._pepper:
            return True
        return argon2id.needs_rehash(self._params, digest)

    # synchronous (start-up, tests) ----------------------------------------------------------
    def hash_sync(self, password: str) -> str:
        return self._seal(_hash(self._params, self._input(password)))

    def verify_sync(self, stored: str | None, password: str) -> bool:
        digest, pepper, known = self._open(stored)
        ok = any([_verify(self._params, digest, c) for c in self._candidates(pepper, password)])
        return ok and known and stored is not None

    def _new_pool(self) -> Executor | HashingProcesses:
        """Threads, or (``processes``: an ``authgate serve`` worker) processes of their own.
        A hashing thread shares the event loop's GIL: each time it came back from argon2 it
        took the GIL, and a request waited behind it (a hashing thread runs at the lowest
        priority, so the wait could be long). In processes the hashes never touch the loop's
        GIL, and their 64 MiB each are not the worker's memory. Login storm, PostgreSQL,
        1 worker: p99 of GET /auth/user 2.4-3.0x -> 1.7x idle; logins/s unchanged."""
        if not self._processes:
            return ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="argon2",
                                      initializer=_yield_to_event_loop)
        return HashingProcesses(self._workers)

    async def _run(self, fn: object, *args: object) -> object:
        observer = self.observer
        if observer is None:
            return await self._submit(fn, *args)
        self._depth += 1
        observer.hash_queue(self._depth)
        submitted = time.perf_counter()
        try:
            timed = await self._submit(_timed, fn, *args)
        finally:
            self._depth -= 1
            observer.hash_queue(self._depth)
        result, took = cast("tuple[object, float]", timed)
        observer.hashed("hash" if fn is _hash else "verify", took,
                        max(0.0, time.perf_counter() - submitted - took))
        return result

    async def _submit(self, fn: object, *args: object) -> object:
        pool = self._pool
        if isinstance(pool, HashingProcesses):
            try:
                return await pool.run(fn, *args)
            except BrokenProcessPool:  # its process died (killed, out of memory): once more
                return await pool.run(fn, *args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, fn, *args)  # type: ignore[arg-type]

    async def hash(self, password: str) -> str:
        """The stored string for ``password`` (normalised, peppered when configured)."""
        return self._seal(str(await self._run(_hash, self._params, self._input(password))))

    async def check(self, stored: str | None, password: str) -> Verdict:
        """Verify, and say whether the stored hash should be upgraded. ``stored=None`` (no
        account, no password) and an unknown pepper verify against a decoy hash, so the
        work does not tell them apart from a wrong password; both answer not ok."""
        digest, pepper, known = self._open(stored)
        for i, candidate in enumerate(self._candidates(pepper, password)):
            if await self._run(_verify, self._params, digest, candidate) is True:
                if stored is None or not known:
                    return Verdict(False)
                return Verdict(True, rehash=i > 0 or self.needs_rehash(stored))
        return Verdict(False)

    async def verify(self, stored: str | None, password: str) -> bool:
        """``check(...).ok``: for callers that store a new hash anyway (change-password)."""
        return (await self.check(stored, password)).ok

    def close(self) -> None:
        # Processes are stopped and joined here, at the app's shutdown: a server's worker may
        # leave through a path that skips the executor's exit hook (granian's forked workers
        # then waited forever on a pool that was never told to stop).
        if isinstance(self._pool, HashingProcesses):
            self._pool.close()
        else:
            self._pool.shutdown(wait=False, cancel_futures=True)
