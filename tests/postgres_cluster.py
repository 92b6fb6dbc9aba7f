"""A PostgreSQL cluster of a test's own (initdb and pg_ctl into a temporary directory, on a free port), to restart and
stop mid-run; the shared server on 5432 stays up for everyone else.

PostgreSQL refuses to run as root: as root the cluster belongs to the ``postgres`` user and every command runs as it
(``runuser``). The binaries come from the newest ``/usr/lib/postgresql/*/bin`` (Debian's ``postgresql`` package, which
``scripts/ensure-services.sh`` installs); a missing one fails the test with what to install, never skips it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

__all__ = ["PrivateCluster", "postgres_bin"]

HOST = "127.0.0.1"


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's binaries (AssertionError naming the package when there are none)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    assert found, (
        "no initdb under /usr/lib/postgresql/*/bin: run scripts/ensure-services.sh (Debian package postgresql)"
    )
    return found[-1].parent


class PrivateCluster:
    """A private PostgreSQL on a free port with one database, ``silentgw``; trust auth on 127.0.0.1."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="silentgw-pg-"))
        with socket.socket() as s:
            s.bind((HOST, 0))
            self.port: int = s.getsockname()[1]
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.url = f"postgresql://postgres@{HOST}:{self.port}/silentgw"
        if self.as_root:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        with (self.data / "postgresql.conf").open("a") as conf:
            # fsync off: a restart here is a clean stop and start, and the test should not wait on the disk
            conf.write(f"listen_addresses = '{HOST}'\nport = {self.port}\nunix_socket_directories = '{self.dir}'\n"
                       "fsync = off\nmax_connections = 50\n")  # fmt: skip

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{tool} failed: {done.stdout}{done.stderr}"

    def start(self) -> None:
        """Start it and wait until it answers (the database is made the first time)."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start")
        with psycopg.connect(f"postgresql://postgres@{HOST}:{self.port}/postgres", autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'silentgw'").fetchone() is None:
                conn.execute("CREATE DATABASE silentgw")

    def stop(self) -> None:
        """Stop it as an operator restarting it would (fast shutdown: open sessions are cut, work is rolled back)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def up(self) -> bool:
        """Whether it accepts connections."""
        try:
            with socket.create_connection((HOST, self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def remove(self) -> None:
        """Stop it if it runs (immediately) and delete its directory."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        deadline = time.monotonic() + 10
        while self.up() and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(self.dir, ignore_errors=True)
