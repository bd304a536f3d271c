"""A real PostgreSQL for the tests that need one: a database of their own, dropped after.

The server is `ECHO_TEST_POSTGRES_URL` (default: the local one on 127.0.0.1:5432 with trust
authentication, as the project's machines have). Where none answers, those tests skip and
say why; with `ECHO_REQUIRE_POSTGRES=1` (set by `.ci/run`) they fail instead, so CI can
never pass by skipping them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    return os.environ.get("ECHO_TEST_POSTGRES_URL") or DEFAULT_ADMIN_URL


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def with_schema(url: str, schema: str) -> str:
    """The URL whose connections use `schema` first (libpq's `options`)."""
    parts = urlsplit(url)
    option = quote(f"-c search_path={schema}", safe="")
    query = f"{parts.query}&options={option}" if parts.query else f"options={option}"
    return urlunsplit(parts._replace(query=query))


def unavailable(reason: str) -> None:
    if os.environ.get("ECHO_REQUIRE_POSTGRES"):
        pytest.fail(f"PostgreSQL is required here (ECHO_REQUIRE_POSTGRES is set) but {reason}")
    pytest.skip(f"no PostgreSQL: {reason} (set ECHO_TEST_POSTGRES_URL to a server's admin URL)")


@contextmanager
def temporary_database() -> Iterator[str]:
    """A new, empty database on the test server; its URL. Dropped afterwards."""
    try:
        import psycopg
    except ImportError:
        unavailable("its driver is not installed (pip install -e '.[test]')")
        raise
    url = admin_url()
    name = f"echo_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        unavailable(f"{urlsplit(url).hostname}:{urlsplit(url).port or 5432} did not answer ({str(exc).strip()[:120]})")
        raise
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(url, name)
    finally:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_schema(database_url: str) -> str:
    """A fresh schema in the database; the URL whose connections use it."""
    import psycopg

    schema = f"s_{secrets.token_hex(6)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return with_schema(database_url, schema)


class Cluster:
    """A PostgreSQL server of a test's own (`throwaway_cluster`), to stop, start and freeze."""

    def __init__(self, pg_bin: Path, data: Path, port: int, user: str | None, settings: Sequence[str] = ()) -> None:
        self.pg_bin, self.data, self.port, self.user = pg_bin, data, port, user
        self.settings = tuple(settings)  # "name=value" server settings beyond ours
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self.log = data.parent / "server.log"

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.pg_bin / "pg_ctl"), "-D", str(self.data), *args], user=self.user, capture_output=True, text=True, check=check
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data.parent} -c fsync=off -c max_connections=60"
        options += "".join(f" -c {setting}" for setting in self.settings)
        self._pg_ctl("-l", str(self.log), "-o", options, "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: connections are cut, as a restart or failover cuts them; `immediate`: a crash."""
        self._pg_ctl("-m", mode, "-w", "-t", "30", "stop", check=False)

    def processes(self) -> list[int]:
        """The postmaster and its children: what `freeze` stops."""
        import psutil

        pid_file = self.data / "postmaster.pid"
        try:  # the server (or one of its backends) may be going as we look
            main = psutil.Process(int(pid_file.read_text().split()[0]))
            return [main.pid, *(child.pid for child in main.children(recursive=True))]
        except (OSError, ValueError, IndexError, psutil.Error):
            return []

    def _signal(self, sig: signal.Signals) -> None:
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def freeze(self) -> None:
        """The server hangs: every PostgreSQL process stopped (SIGSTOP), connections left open."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)


def _pg_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


@contextmanager
def throwaway_cluster(settings: Sequence[str] = ()) -> Iterator[Cluster]:
    """A new PostgreSQL cluster (`initdb`, trust authentication) on a free loopback port,
    started (with `settings`, "name=value" each); stopped and removed afterwards. As root,
    it runs as the `postgres` user."""
    pg_bin = _pg_bin()
    if pg_bin is None or not (pg_bin / "initdb").exists():
        unavailable("initdb and pg_ctl are not installed (Debian: apt-get install postgresql)")
        raise AssertionError  # unreachable: unavailable() skips or fails
    user = None
    root = Path(tempfile.mkdtemp(prefix="echo-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        import pwd

        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            unavailable("running as root and there is no `postgres` user to run initdb as")
            raise
        os.chown(root, account.pw_uid, account.pw_gid)
        user = "postgres"
    data = root / "data"
    try:
        subprocess.run(
            [str(pg_bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
            user=user,
            capture_output=True,
            text=True,
            check=True,
        )
        from tests.helpers.server import free_port

        cluster = Cluster(pg_bin, data, free_port(), user, settings)
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.thaw()
            cluster.stop("immediate")
    finally:
        shutil.rmtree(root, ignore_errors=True)
