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


async def test_server_workers_hash_in_processes_of_their_own() -> None:
    """``authgate serve`` workers hash in a process pool (the event loop's GIL is never held
    by a hash); the answers are the thread pool's, and a pool whose process died is renewed."""
    from concurrent.futures import ProcessPoolExecutor

    hasher = PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1, workers=1,
                            processes=True)
    try:
        assert isinstance(hasher._pool, ProcessPoolExecutor)
        stored = await hasher.hash("correct horse")
        assert await hasher.verify(stored, "correct horse") is True
        assert await hasher.verify(stored, "wrong horse") is False
        assert await hasher.verify(None, "correct horse") is False
        assert hasher.verify_sync(stored, "correct horse") is True  # same hash format
        loop = asyncio.get_running_loop()
        child = await loop.run_in_executor(hasher._pool, os.getpid)
        assert child != os.getpid()
        if sys.platform.startswith("linux"):
            policy = await loop.run_in_executor(hasher._pool, os.sched_getscheduler, 0)
            assert policy == os.SCHED_IDLE
        os.kill(child, 9)  # the hashing process dies (the OOM killer, an operator)
        await asyncio.sleep(0.2)
        assert await hasher.verify(stored, "correct horse") is True
    finally:
        hasher.close()


def test_hashing_processes_end_with_the_worker_that_owns_them(tmp_path: object) -> None:
    """A worker that dies without stopping its pool (SIGKILL) leaves no hashing process."""
    import signal
    import subprocess
    import time

    script = (
        "import asyncio, os, sys\n"
        "from authgate.crypto.passwords import PasswordHasher\n"
        "async def main():\n"
        "    h = PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1, workers=1,"
        " processes=True)\n"
        "    await h.hash('x')\n"
        "    pid = await asyncio.get_running_loop().run_in_executor(h._pool, os.getpid)\n"
        "    print(pid, flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        child = int(proc.stdout.readline())
        os.kill(child, 0)  # alive while its owner is
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the hashing process outlived its worker")
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
