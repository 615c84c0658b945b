"""The password hasher's threads: off the event loop and below it in CPU priority."""

from __future__ import annotations

import asyncio
import os
import sys
from concurrent.futures.process import BrokenProcessPool

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
    """``authgate serve`` workers hash in processes of their own (the event loop's GIL is
    never held by a hash, and no thread of ours feeds them); the answers are the thread
    pool's, and a process that died is replaced, idle or in the middle of a hash."""
    from authgate.crypto.passwords import HashingProcesses

    hasher = PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1, workers=2,
                            processes=True)
    try:
        pool = hasher._pool
        assert isinstance(pool, HashingProcesses)
        stored = await hasher.hash("correct horse")
        assert await hasher.verify(stored, "correct horse") is True
        assert await hasher.verify(stored, "wrong horse") is False
        assert await hasher.verify(None, "correct horse") is False
        assert hasher.verify_sync(stored, "correct horse") is True  # same hash format
        # more jobs than processes: they wait their turn, each gets its own answer
        got = await asyncio.gather(*[hasher.verify(stored, pw) for pw in
                                     ["correct horse", "nope", "correct horse", "x", "y"]])
        assert got == [True, False, True, False, False]
        with pytest.raises(ZeroDivisionError):  # a failing job raises in its caller
            await pool.run(divmod, 1, 0)
        child = await pool.run(os.getpid)
        assert child != os.getpid()
        if sys.platform.startswith("linux"):
            assert await pool.run(os.sched_getscheduler, 0) == os.SCHED_IDLE
        os.kill(child, 9)  # an idle hashing process dies (the OOM killer, an operator)
        await asyncio.sleep(0.2)
        assert await hasher.verify(stored, "correct horse") is True
        assert [c.process.pid for c in pool._children].count(child) == 0
        # one dies in the middle of a job: the job's caller gets its answer all the same
        import time
        busy = asyncio.ensure_future(pool.run(time.sleep, 30))
        await asyncio.sleep(0.5)
        [victim] = [c for c in pool._children if c.job is not None]
        assert victim.process.pid is not None
        os.kill(victim.process.pid, 9)
        with pytest.raises(BrokenProcessPool):
            await busy  # pool.run alone reports it; hasher.check retries once
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
        "    pid = await h._pool.run(os.getpid)\n"
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
