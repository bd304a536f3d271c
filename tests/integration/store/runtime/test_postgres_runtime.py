"""The PostgreSQL runtime store against the runtime contract (the suite the SQLite store
passes), its checkpointer against LangGraph's checkpoint conformance suite, and its
migrations, on a real server (tests/helpers/postgres.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import psycopg
import pytest

from echo_orchestrator.backends import runtime_store
from echo_orchestrator.engine.recording import record_interrupted
from echo_orchestrator.errors import ConfigurationError
from echo_orchestrator.models import Execution, utcnow
from echo_orchestrator.store.runtime.postgres import PostgresRuntimeStore
from echo_orchestrator.store.runtime.postgres_connect import shown_url
from echo_orchestrator.store.runtime.postgres_schema import MIGRATIONS
from echo_orchestrator.store.runtime.sqlite import SqliteRuntimeStore
from tests.contract.checkpoint_conformance import assert_conformance
from tests.contract.opening import opening
from tests.contract.retention_contract import RetentionContract
from tests.contract.runtime_contract import RuntimeFactory, RuntimeStoreContract
from tests.helpers.postgres import new_schema


@pytest.fixture
def schema_url(postgres_database: str) -> str:
    return new_schema(postgres_database)


class TestPostgresRuntimeContract(RuntimeStoreContract, RetentionContract):
    @pytest.fixture
    async def make_runtime(self, schema_url: str) -> AsyncIterator[RuntimeFactory]:
        async with opening(lambda owner: PostgresRuntimeStore(schema_url, owner=owner)) as factory:
            yield factory


@pytest.mark.anyio
async def test_buffered_postgres_saver_passes_langgraph_checkpoint_conformance(postgres_database: str) -> None:
    async def new_store() -> PostgresRuntimeStore:
        return PostgresRuntimeStore(new_schema(postgres_database), owner="test")

    await assert_conformance("BufferedPostgresSaver", new_store)


@pytest.mark.anyio
async def test_nodes_starting_together_migrate_once(schema_url: str) -> None:
    stores = [PostgresRuntimeStore(schema_url, owner=f"host/boot:{n}") for n in range(4)]
    async with anyio.create_task_group() as tg:
        for store in stores:
            tg.start_soon(store.open)
    async with anyio.create_task_group() as tg:  # LangGraph's own tables too
        for store in stores:
            tg.start_soon(store.checkpointer)
    with psycopg.connect(schema_url) as conn:
        assert conn.execute("SELECT version FROM echo_schema").fetchall() == [(len(MIGRATIONS),)]
    for store in stores:
        await store.close()


@pytest.mark.anyio
async def test_a_database_newer_than_this_release_is_refused(schema_url: str) -> None:
    store = PostgresRuntimeStore(schema_url, owner="a")
    await store.open()
    await store.close()
    with psycopg.connect(schema_url, autocommit=True) as conn:
        conn.execute("UPDATE echo_schema SET version = version + 1")
    with pytest.raises(ConfigurationError, match="newer than this release"):
        await PostgresRuntimeStore(schema_url, owner="b").open()


@pytest.mark.anyio
async def test_an_unreachable_server_is_a_clear_error_without_the_password() -> None:
    store = PostgresRuntimeStore("postgresql://echo:hunter2@127.0.0.1:1/none?connect_timeout=1", owner="a")
    with pytest.raises(ConfigurationError) as caught:
        await store.open()
    assert "hunter2" not in str(caught.value) and "127.0.0.1:1" in str(caught.value)


def test_urls_are_shown_without_their_password() -> None:
    assert shown_url("postgresql://echo:s3cret@db:5432/echo") == "postgresql://echo:***@db:5432/echo"
    assert shown_url("postgresql://echo@db/echo") == "postgresql://echo@db/echo"


def test_the_runtime_url_picks_the_backend(tmp_path: Path) -> None:
    default = runtime_store(None, tmp_path)
    assert isinstance(default, SqliteRuntimeStore) and default.location == str(tmp_path / "runtime" / "runtime.sqlite")
    elsewhere = runtime_store(f"sqlite:///{tmp_path}/other.sqlite", tmp_path)
    assert isinstance(elsewhere, SqliteRuntimeStore) and elsewhere.location == f"{tmp_path}/other.sqlite"
    assert isinstance(runtime_store("postgresql://u@h/db", tmp_path), PostgresRuntimeStore)
    assert isinstance(runtime_store("postgres://u@h/db", tmp_path), PostgresRuntimeStore)
    for bad in ("mysql://u@h/db", "sqlite://", "runtime.sqlite"):
        with pytest.raises(ConfigurationError):
            runtime_store(bad, tmp_path)


@pytest.mark.anyio
@pytest.mark.slow  # waits on real timeouts (seconds): out of the fast loop, in every full run
async def test_a_process_on_another_host_is_alive_while_its_heartbeat_is_fresh(schema_url: str) -> None:
    other = PostgresRuntimeStore(schema_url, owner="otherhost/boot-x:41", heartbeat_seconds=0.1, dead_after_seconds=1.0)
    here = PostgresRuntimeStore(schema_url, owner="thishost/boot-y:7", dead_after_seconds=1.0)
    await other.open()
    await here.open()
    try:
        assert await here.owned_elsewhere("otherhost/boot-x:41")
        assert not await here.owned_elsewhere("thishost/boot-y:7")  # itself
        assert not await here.owned_elsewhere("nohost/boot:1") and not await here.owned_elsewhere(None)
        # A run it owns is left alone when another process settles what dead ones left.
        await other.save_execution(Execution(execution_id="exec_alive", kind="workflow", status="running", created_at=utcnow()))
        await other.flush()
        assert await record_interrupted(here) == []
        async with anyio.create_task_group() as tg:  # its heartbeat keeps it alive past the timeout
            tg.start_soon(other.keep_alive)
            await anyio.sleep(1.5)
            assert await here.owned_elsewhere("otherhost/boot-x:41")
            tg.cancel_scope.cancel()
        await anyio.sleep(1.2)  # silent for longer than the timeout: dead
        assert not await here.owned_elsewhere("otherhost/boot-x:41")
        assert await record_interrupted(here) == ["exec_alive"]
        assert (await here.get_execution("exec_alive")).status == "failed"
    finally:
        await other.close()
        await here.close()


@pytest.mark.anyio
async def test_a_process_that_closes_is_dead_at_once(schema_url: str) -> None:
    other = PostgresRuntimeStore(schema_url, owner="otherhost/boot-x:42")
    here = PostgresRuntimeStore(schema_url, owner="thishost/boot-y:8")
    await other.open()
    await here.open()
    assert await here.owned_elsewhere("otherhost/boot-x:42")
    await other.close()
    assert not await here.owned_elsewhere("otherhost/boot-x:42")
    await here.close()


@pytest.mark.anyio
async def test_one_node_of_a_cluster_prunes_at_a_time(schema_url: str) -> None:
    first, second = PostgresRuntimeStore(schema_url, owner="a"), PostgresRuntimeStore(schema_url, owner="b")
    await first.open()
    await second.open()
    try:
        async with first.retention_turn() as mine:
            assert mine
            async with second.retention_turn() as theirs:
                assert not theirs  # tried, not waited for
        async with second.retention_turn() as theirs:
            assert theirs  # given back when the first was done
    finally:
        await first.close()
        await second.close()
