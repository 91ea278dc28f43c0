"""A throw-away PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` into a temporary folder.

The server listens on 127.0.0.1 on a free port, with its unix socket in the
same folder, trusts local connections (no password) and runs with
``fsync=off``: it exists for one test session. As root the folder is given
to the ``postgres`` user and every binary runs through ``runuser -u postgres
--`` (PostgreSQL refuses to run as root).

The binaries are found with ``pg_config --bindir``, else in
``/usr/lib/postgresql/*/bin``. Without them :class:`PostgresServer` raises
:class:`PostgresUnavailableError`, which says to install Debian's ``postgresql``
package (``.ci/run`` does it); the store tests fail rather than skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PostgresServer", "PostgresUnavailableError", "find_bindir"]

_INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found via `pg_config --bindir` or in "
    "/usr/lib/postgresql/*/bin: install Debian's `postgresql` package "
    "(`apt-get install -y postgresql`; .ci/run does this)"
)


class PostgresUnavailableError(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


def find_bindir() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``.

    Raises
    ------
    PostgresUnavailableError
        Neither ``pg_config --bindir`` nor ``/usr/lib/postgresql/*/bin`` has them.
    """
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += [Path(p) for p in versions]
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    raise PostgresUnavailableError(_INSTALL_HINT)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """Start a private PostgreSQL server; :attr:`url` reaches its ``postgres`` database.

    Parameters
    ----------
    user : str, default "ats"
        The superuser created by ``initdb``.

    Examples
    --------
    >>> with PostgresServer() as server:  # doctest: +SKIP
    ...     url = server.create_database("t1")
    """

    def __init__(self, user: str = "ats") -> None:
        self.bindir = find_bindir()
        self.user = user
        self.port = 0
        self._dir: Path | None = None
        self._as_postgres = os.geteuid() == 0

    @property
    def data_dir(self) -> Path:
        assert self._dir is not None, "server not started"
        return self._dir / "data"

    @property
    def url(self) -> str:
        """URL of the ``postgres`` database."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        """URL of ``database`` on this server."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60.0) -> None:
        cmd = list(args)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if out.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({out.returncode}): {out.stderr or out.stdout}"
            )

    def start(self) -> PostgresServer:
        """``initdb``, ``pg_ctl start`` and wait until the server accepts connections."""
        self._dir = Path(tempfile.mkdtemp(prefix="ats-pg-"))
        if self._as_postgres:
            shutil.chown(self._dir, "postgres", "postgres")
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        self.port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self._dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self._dir / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def create_database(self, name: str) -> str:
        """Create an empty database ``name`` (dropping any of that name); return its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            con.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 STRATEGY FILE_COPY')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name``, disconnecting its sessions."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server and delete its folder; safe to call twice."""
        if self._dir is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run(
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                )
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
