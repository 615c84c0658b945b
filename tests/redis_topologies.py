"""Real local Redis topologies started from Debian's ``redis-server``: a 3-node Redis Cluster
and a Sentinel set-up (a master, a replica, one sentinel), in temporary directories on free
ports, torn down after. The machine's own Redis (6379) is never touched.

Fixtures (re-exported by ``tests/conftest.py``): ``redis_cluster`` and ``redis_sentinel``
(one per test session and process; their URLs are ``redis+cluster://…`` and
``redis+sentinel://…/authgate/0``), ``fresh_cluster`` and ``fresh_sentinel`` (a set-up of the
test's own, for a test that stops a node or fails the master over). Skipped only where ``redis-server`` is not installed.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HOST = "127.0.0.1"
SERVICE = "authgate"
REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")
START_TIMEOUT = 20.0


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free port whose cluster-bus port (+10000) is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = int(s.getsockname()[1])
        if port <= 55000 and _port_free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def cli(port: int, *args: str, timeout: float = 5.0) -> str:
    """``redis-cli -p port args…``: the reply as text ("" when the server does not answer)."""
    assert REDIS_CLI is not None
    done = subprocess.run([REDIS_CLI, "-h", HOST, "-p", str(port), *args],
                          capture_output=True, text=True, timeout=timeout, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def wait_for(what: str, check: Callable[[], bool], timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class RedisProcesses:
    """The redis-server processes of one topology, and where they keep their files."""

    root: Path
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, port: int, *args: str, config: str | None = None) -> None:
        assert REDIS_SERVER is not None
        workdir = self.root / str(port)
        workdir.mkdir()
        cmd = [REDIS_SERVER]
        if config is not None:  # a sentinel rewrites its configuration file
            (workdir / "redis.conf").write_text(config)
            cmd.append(str(workdir / "redis.conf"))
        cmd += ["--port", str(port), "--bind", HOST, "--dir", str(workdir), "--save", "",
                "--appendonly", "no", "--protected-mode", "no", *args]
        log = (workdir / "log").open("wb")
        self.procs[port] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for(f"redis on {port}", lambda: cli(port, "ping") == "PONG")

    def stop(self, port: int) -> None:
        proc = self.procs.pop(port)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        for port in list(self.procs):
            self.stop(port)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def redis_processes() -> Iterator[RedisProcesses]:
    if REDIS_SERVER is None or REDIS_CLI is None:
        pytest.skip("redis-server/redis-cli are not installed (Debian: redis-server)")
    procs = RedisProcesses(Path(tempfile.mkdtemp(prefix="authgate-redis-")))
    try:
        yield procs
    finally:
        procs.close()


@dataclass(frozen=True)
class Cluster:
    ports: tuple[int, ...]
    procs: RedisProcesses

    def stop(self, port: int) -> None:
        """Stop one node (a lost machine)."""
        self.procs.stop(port)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"{HOST}:{p}" for p in self.ports)


@contextlib.contextmanager
def start_cluster() -> Iterator[Cluster]:
    """Three masters, no replicas, every slot covered."""
    with redis_processes() as procs:
        ports = tuple(cluster_port() for _ in range(3))
        for port in ports:
            procs.start(port, "--cluster-enabled", "yes",
                        "--cluster-config-file", f"nodes-{port}.conf",
                        "--cluster-node-timeout", "2000")
        assert REDIS_CLI is not None
        subprocess.run([REDIS_CLI, "--cluster", "create", *[f"{HOST}:{p}" for p in ports],
                        "--cluster-replicas", "0", "--cluster-yes"],
                       capture_output=True, check=True, timeout=30)
        for port in ports:
            wait_for(f"cluster state ok on {port}",
                     lambda port=port: "cluster_state:ok" in cli(port, "cluster", "info"))
        yield Cluster(ports, procs)


@dataclass
class SentinelSetup:
    procs: RedisProcesses
    master: int
    replica: int
    sentinel: int

    @property
    def url(self) -> str:
        return f"redis+sentinel://{HOST}:{self.sentinel}/{SERVICE}/0"

    def current_master(self) -> int:
        reply = cli(self.sentinel, "sentinel", "get-master-addr-by-name", SERVICE).split()
        return int(reply[1]) if len(reply) == 2 else 0

    def fail_over(self) -> int:
        """``SENTINEL FAILOVER``; returns the new master's port once the sentinel announces
        it and it accepts writes."""
        old = self.current_master()
        assert cli(self.sentinel, "sentinel", "failover", SERVICE) == "OK"
        wait_for("the failover", lambda: self.current_master() not in (0, old))
        new = self.current_master()
        wait_for("the new master to take writes",
                 lambda: "role:master" in cli(new, "info", "replication"))
        return new


@contextlib.contextmanager
def start_sentinel() -> Iterator[SentinelSetup]:
    with redis_processes() as procs:
        master, replica, sentinel = free_port(), free_port(), free_port()
        procs.start(master)
        procs.start(replica, "--replicaof", HOST, str(master))
        wait_for("the replica to sync",
                 lambda: "master_link_status:up" in cli(replica, "info", "replication"))
        procs.start(sentinel, "--sentinel", config=(
            f"sentinel monitor {SERVICE} {HOST} {master} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 2000\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"))
        setup = SentinelSetup(procs, master, replica, sentinel)
        wait_for("the sentinel to see the replica", lambda: str(replica) in cli(
            sentinel, "sentinel", "replicas", SERVICE))
        yield setup


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Cluster]:
    with start_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[SentinelSetup]:
    with start_sentinel() as setup:
        yield setup


@pytest.fixture
def fresh_cluster() -> Iterator[Cluster]:
    with start_cluster() as cluster:
        yield cluster


@pytest.fixture
def fresh_sentinel() -> Iterator[SentinelSetup]:
    with start_sentinel() as setup:
        yield setup


def topology_url(request: pytest.FixtureRequest, topology: str) -> str | None:
    """The ``redis_url`` of a parametrised topology: ``redis`` (the machine's Redis, the
    harness default: None), ``redis-cluster`` or ``redis-sentinel``."""
    if topology == "redis-cluster":
        cluster: Cluster = request.getfixturevalue("redis_cluster")
        return cluster.url
    if topology == "redis-sentinel":
        sentinel: SentinelSetup = request.getfixturevalue("redis_sentinel")
        return sentinel.url
    return None
