"""A real PostgreSQL for the tests that need one: a database of their own, dropped after.

The server is `ECHO_TEST_POSTGRES_URL` (default: the local one on 127.0.0.1:5432 with trust
authentication, as the project's machines have). Where none answers, those tests skip and
say why; with `ECHO_REQUIRE_POSTGRES=1` (set by `.ci/run`) they fail instead, so CI can
never pass by skipping them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
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
