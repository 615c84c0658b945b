"""The search behind ``authgate calibrate-hash``, on a cost model, and the command on real hashes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from authgate.crypto.argon2id import Params
from authgate.crypto.calibrate import OWASP, calibrate, minimum_passes

BIN = Path(sys.executable).with_name("authgate")


def linear(params: Params) -> float:
    """A machine where one pass over 1 MiB takes 4 ms (64 MiB, t=1: 256 ms)."""
    t, m, _ = params
    return t * m / 256


def test_most_memory_first_then_as_many_passes_as_fit() -> None:
    assert calibrate(1000, max_memory_kib=64 * 1024, cost=linear).params == (3, 65536, 1)
    assert calibrate(260, max_memory_kib=64 * 1024, cost=linear).params == (1, 65536, 1)
    assert calibrate(600, max_memory_kib=32 * 1024, parallelism=2, cost=linear).params == (4, 32768, 2)


def test_too_slow_for_the_memory_falls_back_to_owasps_configurations() -> None:
    result = calibrate(200, max_memory_kib=64 * 1024, cost=linear)
    assert result.params == (1, 46 * 1024, 1) and result.below_target
    result = calibrate(160, max_memory_kib=64 * 1024, cost=linear)
    assert result.params == (2, 19 * 1024, 1) and result.below_target


def test_never_weaker_than_owasp_even_when_nothing_fits() -> None:
    result = calibrate(10, max_memory_kib=64 * 1024, cost=linear)
    t, m, _ = result.params
    assert (m, t) in OWASP and not result.below_target
    assert result.ms == min(linear((t_, m_, 1)) for m_, t_ in OWASP)
    for memory in (7 * 1024, 8 * 1024, 20 * 1024, 64 * 1024, 1024 * 1024):
        assert memory * minimum_passes(memory) >= 7 * 1024 * 5
    with pytest.raises(ValueError):
        calibrate(250, max_memory_kib=6 * 1024, cost=linear)


def test_the_command_measures_real_hashes_and_prints_settings() -> None:
    r = subprocess.run([str(BIN), "calibrate-hash", "--target-ms", "100000", "--max-memory-mib", "8",
                        "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["memoryCostKib"] == 8192 and out["timeCost"] == 20 and out["parallelism"] == 1
    assert out["implementation"] == "libsodium" and out["ms"] > 0 and out["withinTarget"]
    assert out["env"]["AUTHGATE_PASSWORD_HASH__TIME_COST"] == 20
    r = subprocess.run([str(BIN), "calibrate-hash", "--target-ms", "0.001", "--max-memory-mib", "8"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "OWASP" in r.stderr
    assert "AUTHGATE_PASSWORD_HASH__MEMORY_COST_KIB=" in r.stdout
    r = subprocess.run([str(BIN), "calibrate-hash", "--target-ms", "100000", "--max-memory-mib", "8",
                        "--parallelism", "4", "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["parallelism"] == 4
    assert out["implementation"] == "argon2-cffi hashes, libsodium verifies"
    r = subprocess.run([str(BIN), "calibrate-hash", "--max-memory-mib", "2"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "7 MiB" in r.stderr
