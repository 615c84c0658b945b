"""argon2id password hashing, run off the event loop so a login burst never stalls it."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

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
            # where a niced thread only loses on weight (a request waking behind it waited
            # for the scheduler's wake-up granularity: storm p99 3.8x idle, measured).
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


class PasswordHasher:
    """Hash, verify, and tell when a stored hash should be upgraded.

    argon2-cffi releases the GIL while hashing, so a small thread pool gives real
    parallelism across cores while the event loop keeps serving other requests.
    """

    def __init__(
        self, *, time_cost: int, memory_cost_kib: int, parallelism: int,
        workers: int | None = None,
    ) -> None:
        self._ph = _Argon2(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        # One hash per core at most: each already runs its lanes on threads, and every
        # concurrent hash holds memory_cost of RAM.
        workers = workers or min(4, os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2",
                                        initializer=_yield_to_event_loop)
        # A real hash of a random password: verifying against it costs what a real
        # verification costs, which hides whether an account exists.
        self._dummy = self._ph.hash("authgate-dummy-password-for-timing")

    def hash_sync(self, password: str) -> str:
        return self._ph.hash(password)

    def verify_sync(self, stored: str | None, password: str) -> bool:
        try:
            return self._ph.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._ph.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.hash_sync, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Constant-work check; ``stored=None`` verifies against a dummy and returns False."""
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self.verify_sync, stored, password
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
