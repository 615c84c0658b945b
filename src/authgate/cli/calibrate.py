"""``authgate calibrate-hash``: the argon2id cost that takes a target time here."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from authgate.crypto.calibrate import calibrate


def calibrate_hash(
    target_ms: Annotated[float, typer.Option(help="Latency budget of one hash, in ms")] = 250,
    max_memory_mib: Annotated[int, typer.Option(
        help="Memory one hash may take (each concurrent login holds this much)")] = 64,
    parallelism: Annotated[int, typer.Option(
        help="Lanes; 1 hashes with libsodium (fastest), more with argon2-cffi (libsodium "
             "verifies either)")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Print the argon2id settings whose hash takes about TARGET_MS on this machine.

    As much memory as allowed, then as many passes as fit; less memory only when one pass
    is too slow; never below OWASP's weakest configuration. Run it on the machine (or the
    machine type) that will serve logins, while it is otherwise idle."""
    if target_ms <= 0 or max_memory_mib < 1 or not 1 <= parallelism <= 64:
        typer.echo("authgate: --target-ms must be > 0, --max-memory-mib >= 1, "
                   "--parallelism 1..64", err=True)
        raise typer.Exit(2)
    try:
        result = calibrate(target_ms, max_memory_kib=max_memory_mib * 1024,
                           parallelism=parallelism)
    except ValueError as exc:
        typer.echo(f"authgate: --max-memory-mib: {exc}", err=True)
        raise typer.Exit(2) from None
    t, m, p = result.params
    cores = os.cpu_count() or 1
    per_core = 1000 / result.ms  # a verification runs its lanes on one thread (libsodium)
    settings = {"AUTHGATE_PASSWORD_HASH__TIME_COST": t,
                "AUTHGATE_PASSWORD_HASH__MEMORY_COST_KIB": m,
                "AUTHGATE_PASSWORD_HASH__PARALLELISM": p}
    if as_json:
        typer.echo(json.dumps({"timeCost": t, "memoryCostKib": m, "parallelism": p,
                               "ms": round(result.ms, 1), "implementation": result.implementation,
                               "withinTarget": result.below_target, "env": settings}))
    else:
        typer.echo(f"argon2id m={m} KiB ({m / 1024:g} MiB), t={t}, p={p}: {result.ms:.0f} ms "
                   f"per login ({result.implementation}); about {per_core * cores:.1f} "
                   f"logins/s on this machine's {cores} cores, {m / 1024 * cores:g} MiB while "
                   "every core hashes")
        for name, value in settings.items():
            typer.echo(f"{name}={value}")
    if not result.below_target:
        typer.echo(f"authgate: the weakest cost OWASP accepts takes {result.ms:.0f} ms here, "
                   f"over the {target_ms:g} ms target: printed anyway, do not go lower", err=True)
        raise typer.Exit(1)
