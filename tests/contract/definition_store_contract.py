"""The definition store contract: every backend must pass these.

A backend's test module subclasses `DefinitionStoreContract` and provides `make_store`, a
fixture returning a factory that opens a store on one shared backing location (so a second
call sees what the first one wrote, as a restart would).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
import pytest

from echo_orchestrator.errors import Conflict, Invalid, NotFound
from echo_orchestrator.models import McpServerConfig, McpSettings
from echo_orchestrator.store.definitions import codec
from echo_orchestrator.store.definitions.base import DefinitionStore, EntityRef, WorkflowQuery
from tests.factories import agent, workflow

StoreFactory = Callable[[], Awaitable[DefinitionStore]]


@pytest.mark.anyio
class DefinitionStoreContract:
    @pytest.fixture
    async def store(self, make_store: StoreFactory) -> DefinitionStore:
        return await make_store()

    # -- agents ------------------------------------------------------------------------

    async def test_agent_round_trip(self, store: DefinitionStore) -> None:
        original = agent("agt_1", metadata={"registered_at": "2026-01-15T10:00:00Z"})
        await store.create_agent(original)
        assert await store.get_agent("agt_1") == original

    async def test_returned_agent_is_a_copy(self, store: DefinitionStore) -> None:
        await store.create_agent(agent("agt_1"))
        got = await store.get_agent("agt_1")
        got.name = "changed by caller"
        got.tools.append("x")
        assert (await store.get_agent("agt_1")).name == "Agt_1"
        assert (await store.get_agent("agt_1")).tools == []

    async def test_create_existing_agent_conflicts_and_keeps_the_original(self, store: DefinitionStore) -> None:
        await store.create_agent(agent("agt_1", name="First"))
        with pytest.raises(Conflict):
            await store.create_agent(agent("agt_1", name="Second"))
        assert (await store.get_agent("agt_1")).name == "First"

    async def test_save_agent_replaces(self, store: DefinitionStore) -> None:
        await store.create_agent(agent("agt_1", name="First"))
        await store.save_agent(agent("agt_1", name="Second"))
        assert (await store.get_agent("agt_1")).name == "Second"

    async def test_delete_agent(self, store: DefinitionStore) -> None:
        await store.create_agent(agent("agt_1"))
        await store.delete_agent("agt_1")
        with pytest.raises(NotFound):
            await store.get_agent("agt_1")
        with pytest.raises(NotFound):
            await store.delete_agent("agt_1")

    async def test_list_agents_by_role_with_pagination(self, store: DefinitionStore) -> None:
        for i in range(5):
            await store.create_agent(agent(f"agt_{i}", role="Research" if i % 2 else "Writing"))
        research = await store.list_agents(role="Research")
        assert [a.agent_id for a in research.items] == ["agt_1", "agt_3"]
        page = await store.list_agents(limit=2, offset=2)
        assert [a.agent_id for a in page.items] == ["agt_2", "agt_3"]
        assert page.total == 5

    # -- drafts and temps --------------------------------------------------------------

    async def test_draft_lifecycle(self, store: DefinitionStore) -> None:
        await store.save_draft(workflow("wf_1"), create=True)
        with pytest.raises(Conflict):
            await store.save_draft(workflow("wf_1"), create=True)
        await store.save_draft(workflow("wf_1", name="Renamed"))
        assert (await store.get_draft("wf_1")).name == "Renamed"
        await store.delete_draft("wf_1")
        with pytest.raises(NotFound):
            await store.get_draft("wf_1")

    async def test_temp_lifecycle(self, store: DefinitionStore) -> None:
        await store.save_temp(workflow("wf_1", status="testing"))
        assert (await store.get_temp("wf_1")).status == "testing"
        await store.delete_temp("wf_1")
        with pytest.raises(NotFound):
            await store.get_temp("wf_1")
        with pytest.raises(NotFound):
            await store.delete_temp("wf_1")

    # -- encoded reads -----------------------------------------------------------------

    async def test_encoded_is_what_get_gives_with_its_etag(self, store: DefinitionStore) -> None:
        await store.create_agent(agent("agt_1"))
        await store.save_draft(workflow("wf_1", slug="one"), create=True)
        await store.save_temp(workflow("wf_1", slug="one", status="testing"))
        await store.create_final(workflow("wf_1", slug="one", version="1.0", status="final"))
        pairs = [
            (EntityRef("agent", "agt_1"), await store.get_agent("agt_1")),
            (EntityRef("draft", "wf_1"), await store.get_draft("wf_1")),
            (EntityRef("temp", "one"), await store.get_temp("wf_1")),
            (EntityRef("final", "wf_1", "1"), await store.get_final("wf_1", "1.0")),
        ]
        for ref, entity in pairs:
            encoded = await store.encoded(ref)
            assert msgspec.json.decode(encoded.body, type=type(entity)) == entity, ref
            assert encoded.body == msgspec.json.encode(entity)
            assert encoded.etag == codec.etag(entity)

    async def test_encoded_follows_changes_and_errors_as_get(self, store: DefinitionStore) -> None:
        await store.create_agent(agent("agt_1", name="First"))
        first = await store.encoded(EntityRef("agent", "agt_1"))
        assert await store.encoded(EntityRef("agent", "agt_1")) == first
        await store.save_agent(agent("agt_1", name="Second"))
        second = await store.encoded(EntityRef("agent", "agt_1"))
        assert second.etag != first.etag and b'"Second"' in second.body
        await store.delete_agent("agt_1")
        with pytest.raises(NotFound):
            await store.encoded(EntityRef("agent", "agt_1"))
        with pytest.raises(NotFound):
            await store.encoded(EntityRef("final", "wf_missing", "1.0"))
        with pytest.raises(Invalid):
            await store.encoded(EntityRef("final", "wf_missing", "v1"))

    # -- finals ------------------------------------------------------------------------

    async def test_final_versions_are_immutable_and_sorted_as_versions(self, store: DefinitionStore) -> None:
        for version in ("1.10", "2.0", "1.9", "1.0"):
            await store.create_final(workflow("wf_1", version=version, status="final"))
        assert await store.list_versions("wf_1") == ["1.0", "1.9", "1.10", "2.0"]
        with pytest.raises(Conflict):
            await store.create_final(workflow("wf_1", version="1.9", name="other", status="final"))
        with pytest.raises(Conflict):  # "1" is the same version as "1.0"
            await store.create_final(workflow("wf_1", version="1", status="final"))
        assert (await store.get_final("wf_1", "1.9")).name == "Workflow wf_1"

    async def test_missing_final_version(self, store: DefinitionStore) -> None:
        await store.create_final(workflow("wf_1", version="1.0", status="final"))
        with pytest.raises(NotFound):
            await store.get_final("wf_1", "3.0")
        with pytest.raises(NotFound):
            await store.get_final("wf_missing", "1.0")
        assert await store.list_versions("wf_missing") == []

    async def test_malformed_version_lookup_is_invalid(self, store: DefinitionStore) -> None:
        await store.create_final(workflow("wf_1", version="1.0", status="final"))
        with pytest.raises(Invalid):
            await store.get_final("wf_1", "v1")

    async def test_runnable_is_highest_final_then_temp(self, store: DefinitionStore) -> None:
        await store.save_draft(workflow("wf_1", slug="flow"))
        with pytest.raises(Conflict):
            await store.get_runnable("flow")
        await store.save_temp(workflow("wf_1", slug="flow", status="testing", name="temp"))
        assert (await store.get_runnable("flow")).name == "temp"
        await store.create_final(workflow("wf_1", slug="flow", version="1.9", status="final"))
        await store.create_final(workflow("wf_1", slug="flow", version="1.10", status="final"))
        assert (await store.get_runnable("wf_1")).version == "1.10"

    # -- catalogue ---------------------------------------------------------------------

    async def test_resolve_by_id_or_slug(self, store: DefinitionStore) -> None:
        await store.save_draft(workflow("wf_1", slug="market-research"))
        assert await store.resolve_workflow("wf_1") == "wf_1"
        assert await store.resolve_workflow("market-research") == "wf_1"
        with pytest.raises(NotFound):
            await store.resolve_workflow("nope")

    async def test_slug_belongs_to_one_workflow(self, store: DefinitionStore) -> None:
        await store.save_draft(workflow("wf_1", slug="shared"))
        with pytest.raises(Conflict):
            await store.save_draft(workflow("wf_2", slug="shared"))
        with pytest.raises(Conflict):
            await store.create_final(workflow("wf_2", slug="shared", version="1.0", status="final"))
        with pytest.raises(NotFound):
            await store.get_draft("wf_2")

    async def test_list_workflows_filters(self, store: DefinitionStore) -> None:
        await store.create_final(workflow("wf_a", slug="alpha", category="business", tags=["x", "y"], version="1.0", status="final"))
        await store.save_draft(workflow("wf_b", slug="beta", category="research", tags=["x"], description="Market study"))
        await store.save_draft(workflow("wf_c", slug="gamma", status="archived"))

        async def slugs(**query: object) -> list[str]:
            page = await store.list_workflows(WorkflowQuery(**query))  # type: ignore[arg-type]
            return [w.slug for w in page.items]

        assert await slugs() == ["alpha", "beta"]
        assert await slugs(include_archived=True) == ["alpha", "beta", "gamma"]
        assert await slugs(status="archived") == ["gamma"]
        assert await slugs(status="active") == ["alpha"]
        assert await slugs(status="final") == ["alpha"]
        assert await slugs(status="draft") == ["beta"]
        # A final version cloned to a draft is still a released workflow: `final`, not `draft`.
        await store.save_draft(workflow("wf_a", slug="alpha", category="business", tags=["x", "y"]))
        assert await slugs(status="draft") == ["beta"] and await slugs(status="final") == ["alpha"]
        assert {w.slug: w.status for w in (await store.list_workflows(WorkflowQuery())).items} == {"alpha": "final", "beta": "draft"}
        assert await slugs(category="research") == ["beta"]
        assert await slugs(tags=["x"]) == ["alpha", "beta"]
        assert await slugs(tags=["x", "y"]) == ["alpha"]
        assert await slugs(search="MARKET") == ["beta"]
        page = await store.list_workflows(WorkflowQuery(limit=1, offset=1))
        assert (page.total, [w.slug for w in page.items]) == (2, ["beta"])

    async def test_counts(self, store: DefinitionStore) -> None:
        await store.create_agent(agent("agt_1"))
        await store.save_draft(workflow("wf_1"))
        await store.save_temp(workflow("wf_1"))
        await store.create_final(workflow("wf_1", version="1.0"))
        await store.create_final(workflow("wf_2", version="1.0"))
        counts = store.counts()
        assert (counts.agents, counts.workflows, counts.drafts, counts.temps, counts.finals) == (1, 2, 1, 1, 2)

    # -- MCP settings and durability -----------------------------------------------------

    async def test_mcp_settings_round_trip(self, store: DefinitionStore) -> None:
        assert (await store.get_mcp_settings()).mcp_servers == {}
        settings = McpSettings(mcp_servers={"time": McpServerConfig(command="uvx", args=["mcp-server-time"])})
        await store.save_mcp_settings(settings)
        assert await store.get_mcp_settings() == settings

    async def test_everything_survives_a_restart(self, store: DefinitionStore, make_store: StoreFactory) -> None:
        await store.create_agent(agent("agt_1"))
        await store.save_draft(workflow("wf_1", slug="flow"))
        await store.create_final(workflow("wf_1", slug="flow", version="1.0", status="final"))
        await store.close()
        reopened = await make_store()
        assert (await reopened.get_agent("agt_1")).agent_id == "agt_1"
        assert await reopened.resolve_workflow("flow") == "wf_1"
        assert await reopened.list_versions("wf_1") == ["1.0"]
        assert reopened.problems() == []

    async def test_a_workflow_another_writer_just_saved_is_found_by_slug(self, store: DefinitionStore, make_store: StoreFactory) -> None:
        """Two processes on one store: what one saved, the other resolves by id or slug at
        once, before any change notification reaches it."""
        other = await make_store()
        await other.save_temp(workflow("wf_elsewhere", slug="made-elsewhere"))
        assert await store.resolve_workflow("made-elsewhere") == "wf_elsewhere"
        assert (await store.get_temp("made-elsewhere")).workflow_id == "wf_elsewhere"
        await store.delete_temp(await store.resolve_workflow("made-elsewhere"))
        with pytest.raises(NotFound):
            await other.get_temp("wf_elsewhere")
