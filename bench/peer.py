"""nest-auth 2.11.1 as a benchmark peer (``./bench/run --peer nest-auth``).

The runnable upstream lives beside the repository (``../shared/peers/nest-auth-2.11.1``, or
``AUTHGATE_NEST_AUTH_PEER``): one node process on PostgreSQL with its library defaults
(argon2id m=64 MiB, t=3, p=4). It is started with a database of its own, users are signed up
through its HTTP API, and the suite drives it with the same wrk scripts, connections and
durations as authgate; CPU and RSS are read from its node process like a worker's.

It runs from a copy under ``bench/out/nest-auth-peer`` (its sources, refreshed when they
change; ``node_modules`` installed there once by its ``start.sh``): the shared directory is
read-only and may serve other runs at the same time.
"""

from __future__ import annotations

import contextlib
import filecmp
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Self

import httpx
import psutil

PEER = Path(os.environ.get("AUTHGATE_NEST_AUTH_PEER",
                           Path(__file__).resolve().parents[2] / "shared/peers/nest-auth-2.11.1"))
if not PEER.is_dir():
    PEER = Path("/work/shared/peers/nest-auth-2.11.1")
WORKDIR = Path(__file__).resolve().parent / "out" / "nest-auth-peer"
_BUILT = ("node_modules", "dist", "run", "BENCH.md")


def working_copy(source: Path = PEER, dest: Path = WORKDIR) -> Path:
    """``source`` copied to ``dest`` (writable), keeping an installed ``node_modules`` unless
    the lock file changed."""
    lock = "package-lock.json"
    if dest.is_dir() and not ((dest / lock).is_file()
                              and filecmp.cmp(source / lock, dest / lock, shallow=False)):
        shutil.rmtree(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name in _BUILT:
            continue
        target = dest / item.name
        if item.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(item, target)
        else:
            shutil.copyfile(item, target)
            shutil.copymode(item, target)
    for path in [dest, *dest.rglob("*")]:
        if "node_modules" not in path.parts:
            path.chmod(path.stat().st_mode | 0o200)
    return dest


class NestAuthPeer:
    """Duck-types the suite's ``Server`` (``base``, ``workers``, ``worker_pids``, ``helper_pids``)."""

    workers = 1

    def __init__(self, port: int, db_name: str = "nestauth_bench") -> None:
        self.port, self.db_name = port, db_name
        self.base = f"http://127.0.0.1:{port}"
        self.pid: int | None = None
        self.dir = WORKDIR

    @staticmethod
    def available() -> str | None:
        """Why the peer cannot run here, or None."""
        if not (PEER / "start.sh").is_file():
            return f"nest-auth peer not found at {PEER} (set AUTHGATE_NEST_AUTH_PEER)"
        for tool in ("node", "npm"):
            if subprocess.run(["which", tool], capture_output=True).returncode:
                return f"{tool} not installed"
        return None

    def start(self) -> Self:
        env = dict(os.environ, DB_NAME=self.db_name, FRESH="1",
                   ACCESS_TOKEN_TTL=os.environ.get("ACCESS_TOKEN_TTL", "6h"))
        self.dir = working_copy()
        subprocess.run([str(self.dir / "start.sh"), str(self.port)], env=env, check=True,
                       capture_output=True, timeout=600)
        self.pid = int((self.dir / "run" / f"nest-ref-{self.port}.pid").read_text().strip())
        return self

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run([str(self.dir / "stop.sh"), str(self.port)], capture_output=True,
                           timeout=60)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def worker_pids(self) -> list[int]:
        if self.pid is None:
            return []
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(self.pid)
            return [proc.pid, *(c.pid for c in proc.children(recursive=True))]
        return []

    def helper_pids(self) -> list[int]:
        return []  # node hashes on libuv's threads, inside the process counted above

    def sign_up(self, emails: list[str], password: str) -> list[str]:
        """Access tokens of freshly signed-up users (signups in parallel, 4 at a time)."""
        def one(email: str) -> str:
            for _ in range(3):
                r = httpx.post(self.base + "/auth/signup",
                               json={"email": email, "password": password}, timeout=60)
                if r.status_code in (200, 201):
                    return str(r.json()["accessToken"])
                time.sleep(0.5)
            raise RuntimeError(f"nest-auth signup failed: {r.status_code} {r.text[:200]}")

        with ThreadPoolExecutor(4) as ex:
            return list(ex.map(one, emails))
