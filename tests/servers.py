"""Servers of the tests' own, on free ports of this machine, that a test may stop, restart
or kill: a PostgreSQL cluster (made by initdb) with streaming replicas (made by
pg_basebackup), and a Redis server. The machine's own PostgreSQL and Redis are never
touched. Fault and replica tests (tests/ops) use them; they need PostgreSQL's programs
and redis-server on this machine, as CI's has."""

from __future__ import annotations

import glob
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg


def _bindir() -> Path | None:
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]) if versions else None


PG_BIN = _bindir()
REDIS_SERVER = shutil.which("redis-server")
# PostgreSQL refuses to run as root: as root, its programs run as the postgres user.
AS_POSTGRES = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _ephemeral_ports() -> range:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


def free_port() -> int:
    """A free port for a server the tests stop and start again on it, outside the range the
    kernel takes clients' ports from: while the server is down, a client connecting to a
    port in that range can be given that very port as its own and connect to itself (a TCP
    self-connection), which then holds the port and the server cannot bind it again."""
    ephemeral = _ephemeral_ports()
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        if port in ephemeral:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port outside the ephemeral range")


def _wait_until(ready: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    pause = 0.02
    while time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            return
        time.sleep(pause)
        pause = min(pause * 2, 0.25)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


def _owned_dir(prefix: str) -> Path:
    """A new directory under the system's temporary one (not pytest's, which only root may
    enter), owned by the user PostgreSQL runs as."""
    made = Path(tempfile.mkdtemp(prefix=prefix))
    if AS_POSTGRES:
        shutil.chown(made, "postgres", "postgres")
    made.chmod(0o700)
    return made


class PgCluster:
    """One PostgreSQL server of the tests' own: its data directory and port."""

    def __init__(self, data: Path, port: int) -> None:
        self.data = data
        self.port = port

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert PG_BIN is not None
        program, *rest = args
        return subprocess.run(
            [*AS_POSTGRES, str(PG_BIN / program), *rest],
            capture_output=True, text=True, check=check, timeout=120,
        )  # fmt: skip

    @classmethod
    def primary(cls) -> PgCluster:
        """A new, empty cluster that streams its WAL to replicas (trust on 127.0.0.1, as
        the machine's own server), started."""
        root = _owned_dir("alumnet-pg-")
        cluster = cls(root / "data", free_port())
        cluster._run("initdb", "-D", str(cluster.data), "-U", "postgres", "-A", "trust",
                     "--no-sync", "-E", "UTF8", "--locale=C")  # fmt: skip
        with (cluster.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                "wal_level = replica\nmax_wal_senders = 5\nfsync = off\n"
                "synchronous_commit = off\nfull_page_writes = off\nshared_buffers = 32MB\n"
                "max_connections = 60\n"
            )
        with (cluster.data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        cluster.start()
        return cluster

    def replica(self) -> PgCluster:
        """A streaming replica of this (running) cluster on a port of its own, started: its
        data copied by pg_basebackup, which writes standby.signal and primary_conninfo."""
        root = _owned_dir("alumnet-pg-replica-")
        replica = PgCluster(root / "data", free_port())
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "-D", str(replica.data), "-R", "-X", "stream", "--no-sync",
                  "-c", "fast")  # fmt: skip
        with (replica.data / "postgresql.conf").open("a") as conf:
            conf.write(f"\nport = {replica.port}\nhot_standby = on\n")
        replica.start()
        return replica

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _answers(self) -> bool:
        try:
            with psycopg.connect(self.url(), connect_timeout=1) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-o", f"-p {self.port}", "-l",
                  str(self.data.parent / "server.log"), "-W", "start")  # fmt: skip
        _wait_until(self._answers, f"PostgreSQL on port {self.port}")

    def stop(self, mode: str = "fast") -> None:
        """Stop it: ``fast`` (sessions ended, as a restart does) or ``immediate`` (as a
        crash: no checkpoint; recovery replays the WAL at the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-W", "stop", check=False)
        _wait_until(lambda: not self._answers(), f"PostgreSQL on port {self.port} to stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def sql(self, statement: str, database: str = "postgres") -> list[tuple[object, ...]]:
        """Run one statement (autocommit); its rows, if it returns any."""
        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(statement.encode())
            return list(cursor.fetchall()) if cursor.description else []

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.data.parent, ignore_errors=True)


class RedisServer:
    """A Redis server of the tests' own (nothing kept on disk), that a test may stop and
    start again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_until(self._answers, f"Redis on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
