"""A throwaway PostgreSQL cluster and the Postgres taps' venvs, for tests/postgres.

The cluster is made with ``initdb`` in a temporary directory, started with ``pg_ctl`` on a
free loopback port and stopped (and deleted) when the caller is done with it. PostgreSQL refuses
to run as root, so under root the server runs as the ``postgres`` user that Debian's package
creates. Without server binaries the tests skip, naming the script that installs them.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ENSURE = "tests/postgres/ensure_postgres.sh"


@dataclass(frozen=True)
class Postgres:
    """A running cluster: where to connect, and the client to run SQL with."""

    host: str
    port: int
    user: str
    psql: Path

    def run_sql(self, sql: str, database: str = "postgres") -> None:
        """Run ``sql`` with psql, stopping at the first error."""
        subprocess.run(
            [
                *(str(self.psql), "-X", "-q", "-v", "ON_ERROR_STOP=1"),
                *("-h", self.host, "-p", str(self.port), "-U", self.user, "-d", database),
            ],
            input=sql.encode(),
            check=True,
            capture_output=True,
            timeout=60,
        )


def _server_bin() -> Path | None:
    """The newest installed server's bin directory (Debian installs one per major version)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Postgres]:
    """A fresh cluster (trust authentication on loopback), stopped and deleted afterwards."""
    bin_dir = _server_bin()
    if bin_dir is None:
        pytest.skip(f"PostgreSQL server binaries not found: run `bash {ENSURE}` as root")
    as_user: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip(f"running as root with no postgres user: run `bash {ENSURE}`")
        as_user = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="tso-postgres-"))
    if owner is not None:
        os.chown(base, owner.pw_uid, owner.pw_gid)
    data, log = base / "data", base / "server.log"
    port = _free_port()
    pg_ctl = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data)]
    try:
        subprocess.run(
            [
                *(*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "tester"),
                *("--auth=trust", "--encoding=UTF8", "--no-locale"),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*pg_ctl, "-o", options, "-l", str(log), "-w", "-t", "60", "start"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        yield Postgres("127.0.0.1", port, "tester", bin_dir / "psql")
    finally:
        if (data / "postmaster.pid").exists():
            stop = [*pg_ctl, "-m", "fast", "-w", "stop"]
            subprocess.run(stop, check=False, capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def tap_executable(venv: str, requirements: str, script: str) -> Path:
    """A tap's console script in its own venv, made as ``make`` makes it when missing."""
    path = ROOT / venv
    exe = path / "bin" / script
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        pip = [str(path / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "-r", str(HERE / requirements)], check=True)
    return exe
