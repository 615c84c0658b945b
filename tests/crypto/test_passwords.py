"""The password hasher's threads: off the event loop and below it in CPU priority."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from authgate.crypto.passwords import PasswordHasher


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux scheduling policy")
async def test_hashing_threads_yield_the_cpu_to_the_event_loop() -> None:
    """Hashing runs under SCHED_IDLE: a request waking on the event loop preempts it at once
    (the login storm's p99 of other routes)."""
    hasher = PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1, workers=1)
    loop = asyncio.get_running_loop()
    policy = await loop.run_in_executor(hasher._pool, os.sched_getscheduler, 0)
    assert policy == os.SCHED_IDLE
    assert os.sched_getscheduler(0) != os.SCHED_IDLE  # the caller's thread is untouched
