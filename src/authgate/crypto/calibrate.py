"""Find the argon2id cost that takes a target time on this machine (``authgate calibrate-hash``).

The rule Django and Keycloak give: as much memory as the server can spare per concurrent
login, then as many passes as fit in the latency budget; less memory only when the fewest
passes allowed over it are already too slow. Never weaker than OWASP's argon2id
configurations, which all spend at least 35 MiB-passes (7 MiB x 5 ... 46 MiB x 1): a machine
that cannot hash that within the target is told so.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from authgate.crypto import argon2id
from authgate.crypto.argon2id import Params

OWASP = ((46 * 1024, 1), (19 * 1024, 2), (12 * 1024, 3), (9 * 1024, 4), (7 * 1024, 5))
"""OWASP's argon2id configurations (memory KiB, passes; p=1), most memory first: each
spends about the same memory x passes (35-46 MiB-passes)."""
OWASP_MIN_KIB = OWASP[-1][0]
MAX_PASSES = 20


def minimum_passes(memory_kib: int) -> int:
    """The fewest passes over ``memory_kib`` that match OWASP's weakest configuration."""
    return max(1, -(-OWASP_MIN_KIB * OWASP[-1][1] // memory_kib))


@dataclass(frozen=True)
class Calibration:
    params: Params
    ms: float
    """Median wall time of one verification (a login) against a hash made with ``params``."""
    implementation: str
    """What makes and verifies such hashes (``argon2id.implementation``/``verifier``)."""
    below_target: bool
    """False when even OWASP's minimum takes longer than the target."""


def measure(params: Params, *, samples: int = 3) -> float:
    """Median wall milliseconds of one real verification against a hash made with
    ``params`` (after one warm-up): what every login waits for. With p > 1 the hash is made
    by argon2-cffi and verified by libsodium, which take different times."""
    stored = argon2id.hash_password(params, "calibration-password")
    argon2id.verify_password(params, stored, "calibration-password")
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        argon2id.verify_password(params, stored, "calibration-password")
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def describe(params: Params) -> str:
    """``libsodium``, or which implementation makes and which verifies (p > 1)."""
    made, checked = argon2id.implementation(params), argon2id.verifier(params)
    return made if made == checked else f"{made} hashes, {checked} verifies"


def calibrate(target_ms: float, *, max_memory_kib: int, parallelism: int = 1,
              cost: Callable[[Params], float] = measure) -> Calibration:
    if max_memory_kib < OWASP_MIN_KIB:
        raise ValueError(f"at least {OWASP_MIN_KIB // 1024} MiB per hash (OWASP's minimum)")
    candidates = [(max_memory_kib, minimum_passes(max_memory_kib)),
                  *((m, t) for m, t in OWASP if m < max_memory_kib)]
    tried = []
    for memory, passes in candidates:  # the most memory whose fewest passes fit
        ms = cost((passes, memory, parallelism))
        tried.append((ms, memory, passes))
        if ms <= target_ms:
            break
    else:
        ms, memory, passes = min(tried)  # nothing fits: the cheapest OWASP accepts
    while passes < MAX_PASSES and ms <= target_ms:
        longer = cost((passes + 1, memory, parallelism))
        if longer > target_ms:
            break
        passes, ms = passes + 1, longer
    params = (passes, memory, parallelism)
    return Calibration(params, ms, describe(params), ms <= target_ms)
