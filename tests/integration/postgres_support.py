"""A real PostgreSQL for the control-plane tests: Debian's binaries, `initdb` in a temp dir, the
server on a free loopback port (no Unix socket), stopped by PID.

PostgreSQL refuses to run as root, so as root (CI) the cluster belongs to the `postgres` system
user that Debian's package creates, and both commands run as it. Logins use SCRAM passwords, and
the platform connects as `mainport`, which owns its database and is not a superuser.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from core.processes import free_port
from tests.conftest import wait_for

APP_ROLE = "mainport"


def pg_bindir() -> Path:
    """Debian installs the server under /usr/lib/postgresql/N/bin, not on PATH."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if found:
        return found[-1].parent
    on_path = shutil.which("postgres")
    if on_path is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    return Path(on_path).parent


@dataclass
class Postgres:
    host: str
    port: int
    admin_password: str
    app_password: str
    proc: subprocess.Popen[bytes]
    root: Path

    def _admin(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user="postgres",
            password=self.admin_password,
            dbname=dbname,
            autocommit=True,
        )

    def new_database(self) -> str:
        """A fresh database owned by the app role; its SQLAlchemy URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self._admin() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(APP_ROLE)
                )
            )
        return self.url(name)

    def url(self, dbname: str) -> str:
        return (
            f"postgresql+psycopg://{APP_ROLE}:{self.app_password}@{self.host}:{self.port}/{dbname}"
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)  # "fast" shutdown
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres() -> Postgres:
    """A new cluster in its own temp dir (not under pytest's, which only root may enter)."""
    bindir = pg_bindir()
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="mainport-pg-"))
    data = root / "pgdata"
    admin_password = secrets.token_urlsafe(16)
    app_password = secrets.token_urlsafe(16)
    pwfile = root / "pwfile"
    pwfile.write_text(admin_password + "\n")
    pwfile.chmod(0o600)
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (root, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "--encoding=UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        user=user,
    )
    pwfile.unlink()
    port = free_port()
    with (root / "postgres.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-k",
                "",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            user=user,
            start_new_session=True,
        )
    server = Postgres("127.0.0.1", port, admin_password, app_password, proc, root)

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"postgres exited: {(root / 'postgres.log').read_text()[-2000:]}")
        try:
            with server._admin():
                return True
        except psycopg.OperationalError:
            return False

    wait_for(ready, timeout_s=60, what="postgres to accept logins")
    with server._admin() as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(app_password)
            )
        )
    return server
