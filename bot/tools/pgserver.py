"""A throwaway PostgreSQL server on a Unix socket, for tests and `isnad bench`.

It runs the PostgreSQL binaries on the machine (`initdb`, `pg_ctl`) into a temporary
folder. PostgreSQL refuses to run as root, so under root the folder is handed to the
`postgres` user and the binaries run as that user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SEARCH = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")
INSTALL_HINT = "PostgreSQL binaries not found (apt-get install postgresql)"


def find_binaries() -> Path | None:
    """Return the folder holding initdb and pg_ctl, or None."""
    for folder in (os.environ.get("ISNAD_PG_BIN", ""), *SEARCH):
        if folder and (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


@dataclass
class PgServer:
    """A running server; `url(name)` addresses one of its databases."""

    root: Path
    binaries: Path
    as_user: list[str] = field(default_factory=list)

    @property
    def socket_dir(self) -> Path:
        """Where the server's Unix socket lives."""
        return self.root / "socket"

    def url(self, database: str = "postgres") -> str:
        """Return a libpq URL for database on this server."""
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self.as_user, *args], check=True, capture_output=True, text=True, cwd=self.root
        )

    @classmethod
    def start(cls, binaries: Path | None = None) -> PgServer:
        """Create a cluster in a temporary folder and start it; RuntimeError when it fails."""
        binaries = binaries or find_binaries()
        if binaries is None:
            raise RuntimeError(INSTALL_HINT)
        root = Path(tempfile.mkdtemp(prefix="isnad-pg-"))
        as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
            as_user = ["runuser", "-u", "postgres", "--"]
        server = cls(root, binaries, as_user)
        (root / "socket").mkdir()
        if as_user:
            shutil.chown(root / "socket", "postgres")
        try:
            server._run(
                str(binaries / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
            # fsync off: the cluster is thrown away, and tests should not wait on disks.
            options = f"-k {root / 'socket'} -c listen_addresses='' -c fsync=off"
            options += " -c max_connections=200"
            server._run(
                str(binaries / "pg_ctl"),
                "-D",
                str(root / "data"),
                "-o",
                options,
                "-l",
                str(root / "log"),
                "-w",
                "start",
            )
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"PostgreSQL did not start: {exc.stderr.strip()[-300:]}") from exc
        return server

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once and delete its folder."""
        try:
            self._run(
                str(self.binaries / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-m",
                "immediate",
                "stop",
            )
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)
