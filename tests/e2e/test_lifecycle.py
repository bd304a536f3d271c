"""The echoai document's lifecycles against the real server over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers.server import running_server

pytestmark = pytest.mark.e2e


def test_design_to_production_and_agent_lifecycle(tmp_path: Path) -> None:
    with running_server(tmp_path / "storage", "--plugins-dir", str(tmp_path / "plugins")) as server, httpx.Client(base_url=server.url) as c:
        design = c.post("/workflows/design/prompt", json={"prompt": "Research the market and write a brief"}).json()
        wf = {**design["workflow"], "status": "validated"}
        wid = wf["workflow_id"]
        assert c.post("/workflows/validate/final", json={"workflow": wf}).json()["valid"]
        assert c.post("/workflows/temp/save", json=wf).status_code == 200
        test_run = c.post("/workflows/execute", json={"workflow_id": wid, "mode": "test", "input_payload": {"input_data": "coffee"}}).json()
        assert test_run["status"] == "completed"
        assert c.post("/workflows/final/save", json={"workflow": {**wf, "version": "1.0"}}).status_code == 201
        prod = c.post(
            "/workflows/execute", json={"workflow_id": wid, "mode": "final", "version": "1.0", "input_payload": {"input_data": "tea"}}
        ).json()
        assert prod["status"] == "completed" and "tea" in str(prod["output"])
        # The final version is a file, byte-stable, listed as a graph.
        final = tmp_path / "storage" / "workflows" / "final" / f"{wid}.v1.0.json"
        assert final.read_text().endswith("}\n")
        assert f"workflow:{wf['slug']}" in [g["name"] for g in c.get("/graphs?source=workflow").json()["graphs"]]

        assert c.post("/agents/register", json={"agent_id": "custom_agt_001", "name": "Custom"}).status_code == 201
        assert c.put("/agents/custom_agt_001", json={"role": "Data Analysis"}).json()["role"] == "Data Analysis"
        assert c.post("/agents/instantiate/custom_agt_001").json()["runtime_ready"] is True
        assert c.delete("/agents/custom_agt_001").status_code == 200
        assert c.get("/agents/custom_agt_001").status_code == 404
