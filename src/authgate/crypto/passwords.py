"""argon2id password hashing, run off the event loop so a login burst never stalls it."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

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


# Module-level, so a process pool can run them: they travel by name, with the parameters.
def _hash(params: Params, password: str) -> str:
    return argon2id.hash_password(params, password)


def _verify(params: Params, stored: str, password: str) -> bool:
    return argon2id.verify_password(params, stored, password)


class PasswordHasher:
    """Hash, verify, and tell when a stored hash should be upgraded.

    Both implementations (``argon2id.py``) release the GIL while hashing, so a small thread
    pool gives real parallelism across cores while the event loop keeps serving requests.
    """

    def __init__(
        self, *, time_cost: int, memory_cost_kib: int, parallelism: int,
        workers: int | None = None, processes: bool = False,
    ) -> None:
        self._params: Params = (time_cost, memory_cost_kib, parallelism)
        # One hash per core at most: each already runs its lanes on threads, and every
        # concurrent hash holds memory_cost of RAM.
        self._workers = workers or min(4, os.cpu_count() or 1)
        self._processes = processes
        self._pool = self._new_pool()
        self._dummy = argon2id.decoy(self._params)

    def hash_sync(self, password: str) -> str:
        return _hash(self._params, password)

    def verify_sync(self, stored: str | None, password: str) -> bool:
        return _verify(self._params, stored or self._dummy, password) and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        return argon2id.needs_rehash(self._params, stored)

    def _new_pool(self) -> Executor:
        """Threads, or (``processes``: an ``authgate serve`` worker) processes of their own.
        A hashing thread shares the event loop's GIL: each time it came back from argon2 it
        took the GIL, and a request waited behind it (a hashing thread runs at the lowest
        priority, so the wait could be long). In processes the hashes never touch the loop's
        GIL, and their 64 MiB each are not the worker's memory. Login storm, PostgreSQL,
        1 worker: p99 of GET /auth/user 2.4-3.0x -> 1.7x idle; logins/s unchanged."""
        if not self._processes:
            return ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="argon2",
                                      initializer=_yield_to_event_loop)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # forkserver: children start from a clean process, not a copy of a running event loop
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        return ProcessPoolExecutor(max_workers=self._workers, mp_context=ctx,
                                   initializer=_hashing_process, initargs=(os.getpid(),))

    async def _run(self, fn: object, *args: object) -> object:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn, *args)  # type: ignore[arg-type]
        except BrokenProcessPool:  # a hashing process died (killed, out of memory): renew
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return await loop.run_in_executor(self._pool, fn, *args)  # type: ignore[arg-type]

    async def hash(self, password: str) -> str:
        return str(await self._run(_hash, self._params, password))

    async def verify(self, stored: str | None, password: str) -> bool:
        """Constant-work check; ``stored=None`` verifies against a dummy and returns False."""
        ok = await self._run(_verify, self._params, stored or self._dummy, password)
        return ok is True and stored is not None

    def close(self) -> None:
        # Processes are stopped and joined here, at the app's shutdown: a server's worker may
        # leave through a path that skips the executor's exit hook (granian's forked workers
        # then waited forever on a pool that was never told to stop).
        self._pool.shutdown(wait=self._processes, cancel_futures=True)
