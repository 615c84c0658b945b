"""argon2id password hashing, run off the event loop so a login burst never stalls it."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class PasswordHasher:
    """Hash, verify, and tell when a stored hash should be upgraded.

    argon2-cffi releases the GIL while hashing, so a small thread pool gives real
    parallelism across cores while the event loop keeps serving other requests.
    """

    def __init__(
        self, *, time_cost: int, memory_cost_kib: int, parallelism: int, workers: int = 4
    ) -> None:
        self._ph = _Argon2(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
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
