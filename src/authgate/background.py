"""Work that must not shape a response: sending a password-reset or login code.

Public routes that answer the same thing whether or not an account exists (forgot-password,
passwordless send) hand the account look-up, the code and the delivery to a task here, so
neither the answer nor its timing depends on the account or on the mail relay::

    background.spawn(res, _deliver(res, ...), name="password reset")

Tasks are kept referenced in ``res.tasks`` (the event loop holds only weak references) and
their failures are logged by class and error code only: a message could carry the code.
``drain`` waits for them (tests, and the app's shutdown so a code being sent is not cut off).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from authgate.errors import AuthError, backend_of
from authgate.resources import Resources

log = logging.getLogger("authgate.background")


async def _run(res: Resources, work: Coroutine[Any, Any, None], name: str) -> None:
    try:
        await work
    except asyncio.CancelledError:
        log.warning("%s: cancelled before it finished", name)
        raise
    except Exception as exc:  # noqa: BLE001 (a background task has no caller to raise to)
        # Never the message: it might quote what was being sent.
        log.warning("%s failed: %s", name,
                    exc.code.value if isinstance(exc, AuthError) else type(exc).__name__)
        backend = backend_of(exc)
        if backend is not None and res.metrics is not None:  # no answer counts this one
            res.metrics.backend_error(backend)


def spawn(res: Resources, work: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
    """Run ``work`` after the response; its errors are logged, never raised."""
    tasks = res.tasks
    task = asyncio.get_running_loop().create_task(_run(res, work, name), name=f"authgate: {name}")
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return task


def pending(res: Resources) -> int:
    return sum(1 for t in res.tasks if not t.done())


async def drain(res: Resources, *, timeout: float | None = None) -> None:
    """Wait for every spawned task (including ones spawned meanwhile); after ``timeout``
    seconds the rest are cancelled."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while tasks := {t for t in res.tasks if not t.done()}:
        left = None if deadline is None else max(0.0, deadline - loop.time())
        _, still = await asyncio.wait(tasks, timeout=left)
        if still and deadline is not None and loop.time() >= deadline:
            for task in still:
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)
            return
