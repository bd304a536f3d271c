"""A Hypothesis state machine drives the definition API (register, update, delete, design,
validate, temp save, final save, clone) against a small model of what should be stored;
after every step the API, the files on disk and the storage check agree with the model."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule
from litestar.testing import TestClient

from echo_orchestrator.api.app import create_app
from echo_orchestrator.settings import Settings
from echo_orchestrator.store.definitions.check import check_storage
from tests.helpers.server import LOCAL

AGENT_IDS = st.sampled_from(["alpha", "beta", "gamma"])
PROMPTS = st.sampled_from(["Research the market, then write a summary", "Analyze the data and review it", "Translate the text"])


def vkey(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 2 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


class DefinitionMachine(RuleBasedStateMachine):
    workflows = Bundle("workflows")

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp()) / "storage"
        app = create_app(Settings(storage_dir=self.root, plugins_dir=None, watch=False, watch_plugins=False))  # type: ignore[arg-type]
        self.client = TestClient(app, base_url=LOCAL)
        self.client.__enter__()
        # the model: agent id -> metadata keys; workflow id -> {"draft", "temp", "finals", "agents"}
        self.agents: dict[str, set[str]] = {}
        self.model: dict[str, dict[str, Any]] = {}

    def teardown(self) -> None:
        self.client.__exit__(None, None, None)

    def used(self, agent_id: str) -> bool:
        return any(agent_id in w["agents"] for w in self.model.values())

    # -- agents ------------------------------------------------------------------------

    @rule(agent_id=AGENT_IDS)
    def register(self, agent_id: str) -> None:
        r = self.client.post("/agents/register", json={"agent_id": agent_id, "role": "Writer", "output_schema": ["out"]})
        assert r.status_code == (409 if agent_id in self.agents else 201), r.text
        self.agents.setdefault(agent_id, set())

    @rule(agent_id=AGENT_IDS, key=st.sampled_from(["k1", "k2", "k3"]))
    def update(self, agent_id: str, key: str) -> None:
        r = self.client.put(f"/agents/{agent_id}", json={"metadata": {key: 1}})
        if agent_id not in self.agents:
            assert r.status_code == 404
            return
        assert r.status_code == 200, r.text
        self.agents[agent_id].add(key)

    @rule(agent_id=AGENT_IDS, force=st.booleans())
    def delete_agent(self, agent_id: str, force: bool) -> None:
        r = self.client.delete(f"/agents/{agent_id}", params={"force": force})
        if agent_id not in self.agents:
            assert r.status_code == 404
        elif self.used(agent_id) and not force:
            assert r.status_code == 409
        else:
            assert r.status_code == 200, r.text
            del self.agents[agent_id]

    # -- workflows -----------------------------------------------------------------------

    @rule(target=workflows, prompt=PROMPTS)
    def design(self, prompt: str) -> Any:
        r = self.client.post("/workflows/design/prompt", json={"prompt": prompt})
        assert r.status_code == 201, r.text
        wf = r.json()["workflow"]
        for agent_id in wf["agents"]:
            self.agents.setdefault(agent_id, set())
        self.model[wf["workflow_id"]] = {"draft": "draft", "temp": False, "finals": [], "agents": set(wf["agents"])}
        return wf["workflow_id"]

    @rule(workflow_id=workflows)
    def validate_final(self, workflow_id: str) -> None:
        entry = self.model[workflow_id]
        draft = self.client.get(f"/workflows/{workflow_id}/draft")
        if entry["draft"] is None:
            assert draft.status_code == 404
            return
        report = self.client.post("/workflows/validate/final", json={"workflow": draft.json()})
        assert report.status_code == 200
        if all(a in self.agents for a in entry["agents"]):
            assert report.json()["valid"], report.json()
            entry["draft"] = "validated"
        else:
            assert not report.json()["valid"]

    @rule(workflow_id=workflows)
    def save_temp(self, workflow_id: str) -> None:
        entry = self.model[workflow_id]
        if entry["draft"] != "validated":
            return
        draft = self.client.get(f"/workflows/{workflow_id}/draft").json()
        r = self.client.post("/workflows/temp/save", json=draft)
        ok = all(a in self.agents for a in entry["agents"])
        assert r.status_code == (200 if ok else 400), r.text
        entry["temp"] = entry["temp"] or ok

    @rule(workflow_id=workflows)
    def save_final(self, workflow_id: str) -> None:
        entry = self.model[workflow_id]
        if entry["draft"] != "validated":
            return
        draft = self.client.get(f"/workflows/{workflow_id}/draft").json()
        draft.pop("version", None)
        r = self.client.post("/workflows/final/save", json={"workflow": draft})
        if not all(a in self.agents for a in entry["agents"]):
            assert r.status_code == 400
            return
        assert r.status_code == 201, r.text
        version = r.json()["version"]
        expected = "1.0" if not entry["finals"] else f"1.{len(entry['finals'])}"
        assert version == expected
        entry["finals"].append(version)

    @rule(workflow_id=workflows, overwrite=st.booleans())
    def clone(self, workflow_id: str, overwrite: bool) -> None:
        entry = self.model[workflow_id]
        if not entry["finals"]:
            r = self.client.post("/workflows/clone", json={"workflow_id": workflow_id, "from_version": "1.0"})
            assert r.status_code == 404
            return
        r = self.client.post(
            "/workflows/clone", json={"workflow_id": workflow_id, "from_version": entry["finals"][-1], "overwrite": overwrite}
        )
        if entry["draft"] is not None and not overwrite:
            assert r.status_code == 409
            return
        assert r.status_code == 200, r.text
        entry["draft"] = "draft"

    @rule(workflow_id=workflows)
    def delete_temp(self, workflow_id: str) -> None:
        entry = self.model[workflow_id]
        r = self.client.delete(f"/workflows/{workflow_id}/temp")
        assert r.status_code == (200 if entry["temp"] else 404)
        entry["temp"] = False

    # -- the API, the files and the check agree with the model ----------------------------

    @invariant()
    def agree(self) -> None:
        listed = {a["agent_id"]: a for a in self.client.get("/agents/list").json()["agents"]}
        assert set(listed) == set(self.agents)
        on_disk = {p.stem for p in (self.root / "agents").glob("*.json")}
        assert on_disk == set(self.agents)
        for agent_id, keys in self.agents.items():
            stored = json.loads((self.root / "agents" / f"{agent_id}.json").read_text())
            assert keys <= set(stored["metadata"]) and keys <= set(listed[agent_id]["metadata"])
        for workflow_id, entry in self.model.items():
            assert (self.root / "workflows" / "draft" / f"{workflow_id}.json").exists() == (entry["draft"] is not None)
            assert (self.root / "workflows" / "temp" / f"{workflow_id}.temp.json").exists() == entry["temp"]
            finals = sorted(p.name for p in (self.root / "workflows" / "final").glob(f"{workflow_id}.v*.json"))
            assert finals == sorted(f"{workflow_id}.v{v}.json" for v in entry["finals"])
            versions = self.client.get(f"/workflows/{workflow_id}/versions")
            if entry["finals"]:
                assert versions.json()["versions"] == sorted(entry["finals"], key=vkey)
            else:
                assert versions.status_code == 404
        assert check_storage(self.root).problems == []


DefinitionMachine.TestCase.settings = settings(
    max_examples=20, stateful_step_count=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
TestDefinitions = DefinitionMachine.TestCase
TestDefinitions.pytestmark = [pytest.mark.slow]  # a few seconds of generated sequences: out of the fast loop
