"""A real PostgreSQL primary and a streaming replica of its own, for the read-replica tests:
``initdb`` a primary and ``pg_basebackup -R`` a replica in a temporary directory, each on a
free loopback port (and its own socket directory), started with ``pg_ctl``, torn down after.
The machine's main cluster and its configuration are never touched.

PostgreSQL refuses to run as root: when the tests run as root, every command runs as the
``postgres`` OS user (``runuser``). The binaries are Debian's (``/usr/lib/postgresql/<n>/bin``,
the newest; ``AUTHGATE_TEST_PG_BIN`` overrides); skipped only when there are none.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from authgate.db import Database
from authgate.migrate import upgrade
from tests.servers import free_port

HOST = "127.0.0.1"
DBNAME = "authgate"


def _pg_bin() -> Path | None:
    if os.environ.get("AUTHGATE_TEST_PG_BIN"):
        return Path(os.environ["AUTHGATE_TEST_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    return found[-1].parent if found else None


def _run(root: Path, *cmd: str) -> None:
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    done = subprocess.run([*as_postgres, *cmd], capture_output=True, text=True, timeout=60,
                          cwd=root, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed: {done.stderr[-2000:]}")


@dataclass
class ReplicatedPostgres:
    """The pair: URLs for the app, and control of the replica."""

    bin: Path
    root: Path
    primary_port: int
    replica_port: int

    def url(self, port: int, db: str = DBNAME) -> str:
        return f"postgresql+asyncpg://postgres@{HOST}:{port}/{db}"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def replica_url(self) -> str:
        return self.url(self.replica_port)

    def pg_ctl(self, node: str, action: str) -> None:
        mode = ["-m", "fast"] if action != "start" else []
        _run(self.root, str(self.bin / "pg_ctl"), "-D", str(self.root / node), "-l",
             str(self.root / f"{node}.log"), "-w", "-t", "30", *mode, action)

    async def sql(self, port: int, query: str) -> object:
        conn = await asyncpg.connect(host=HOST, port=port, user="postgres", database=DBNAME)
        try:
            return await conn.fetchval(query)
        finally:
            await conn.close()

    async def caught_up(self, timeout: float = 20.0) -> None:
        """Wait until the replica has replayed everything the primary has written."""
        # the insert position: with synchronous_commit off a commit may not be written out yet
        target = await self.sql(self.primary_port, "SELECT pg_current_wal_insert_lsn()::text")
        async with asyncio.timeout(timeout):
            while not await self.sql(self.replica_port,
                                     f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"):
                await asyncio.sleep(0.05)

    async def pause_replay(self) -> None:
        await self.sql(self.replica_port, "SELECT pg_wal_replay_pause()")

    async def resume_replay(self) -> None:
        await self.sql(self.replica_port, "SELECT pg_wal_replay_resume()")


def _config(port: int, sockets: Path) -> str:
    return "\n".join([
        f"port = {port}", f"listen_addresses = '{HOST}'",
        f"unix_socket_directories = '{sockets}'", "wal_level = replica",
        "max_wal_senders = 4", "hot_standby = on", "fsync = off",
        "synchronous_commit = off", "full_page_writes = off", "shared_buffers = 16MB",
        "max_connections = 120", ""])


@contextlib.asynccontextmanager
async def replicated_postgres() -> AsyncIterator[ReplicatedPostgres]:
    pg_bin = _pg_bin()
    if pg_bin is None or shutil.which("runuser") is None and os.geteuid() == 0:
        pytest.skip("PostgreSQL server binaries are not installed (/usr/lib/postgresql)")
    root = Path(tempfile.mkdtemp(prefix="authgate-pg-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    pg = ReplicatedPostgres(pg_bin, root, free_port(), free_port())
    started: list[str] = []
    try:
        _run(root, str(pg_bin / "initdb"), "-D", str(root / "primary"), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
        with (root / "primary" / "postgresql.conf").open("a") as conf:
            conf.write(_config(pg.primary_port, root))
        pg.pg_ctl("primary", "start")
        started.append("primary")
        _run(root, str(pg_bin / "pg_basebackup"), "-h", HOST, "-p", str(pg.primary_port),
             "-U", "postgres", "-D", str(root / "replica"), "-R", "-X", "stream",
             "--no-sync")
        with (root / "replica" / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {pg.replica_port}\n")
        pg.pg_ctl("replica", "start")
        started.append("replica")
        admin = await asyncpg.connect(host=HOST, port=pg.primary_port, user="postgres",
                                      database="postgres")
        try:
            await admin.execute(f'CREATE DATABASE "{DBNAME}"')
        finally:
            await admin.close()
        db = Database(pg.primary_url)
        try:
            await upgrade(db.writer)
        finally:
            await db.dispose()
        await pg.caught_up()
        yield pg
    finally:
        for node in reversed(started):
            with contextlib.suppress(RuntimeError):  # already stopped by the test
                _run(root, str(pg_bin / "pg_ctl"), "-D", str(root / node), "-w", "-t", "30",
                     "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def pg_replica() -> AsyncIterator[ReplicatedPostgres]:
    async with replicated_postgres() as pg:
        yield pg
