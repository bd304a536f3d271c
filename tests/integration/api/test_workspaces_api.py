"""The seven workspace routes of the ouroboros document through HTTP, and the traversal
corpus against every one of them with a decoy outside the workspace."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from echo_orchestrator.api.app import create_app
from echo_orchestrator.settings import Settings
from tests.helpers.server import LOCAL
from tests.helpers.traversal import DECOY_NAME, DECOY_TEXT, HOSTILE, HOSTILE_NAMES, OTHER_TEXT, outside_snapshot, plant

Client = TestClient[Litestar]
REFUSED = {400, 403, 404}


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "storage"


@pytest.fixture
def client(storage: Path) -> Iterator[Client]:
    settings = Settings(
        storage_dir=storage,
        plugins_dir=None,  # type: ignore[arg-type]
        watch=False,
        watch_plugins=False,
        max_file_read_mb=0.01,  # about 10 KB served whole; more only in ranges
        auto_cleanup_enabled=False,
    )
    with TestClient(create_app(settings), base_url=LOCAL) as client:
        workspace = storage / "workspaces" / "default"
        plant(storage, workspace)
        run = workspace / "Working_Directory" / "wfexec_demo"
        (run / "charts").mkdir(parents=True)
        (run / "report.md").write_text("# Report\n\nAll good.\n")
        (run / "charts" / "sales.csv").write_text("month,sales\njan,10\n")
        (run / "big.bin").write_bytes(bytes(range(256)) * 100)  # 25,600 bytes: over the cap
        (workspace / "Longterm_Directory" / "notes.txt").write_text("kept across runs")
        yield client


def _error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"detail", "error"} and body["error"]["code"].startswith("ERR_"), body
    return dict(body["error"])


# -- the routes, in the document's shapes --------------------------------------------------


def test_workspace_config_shows_roots_as_configured(client: Client, storage: Path) -> None:
    config = client.get("/service/workspace-config").json()
    assert config == {
        "system_workspace": f"{storage.as_posix()}/workspaces",
        "output_dir": f"{storage.as_posix()}/workspaces/default/Working_Directory",
        "working_directory_name": "Working_Directory",
        "longterm_directory_name": "Longterm_Directory",
        "max_workspace_size_mb": 10240,
        "auto_cleanup_enabled": False,
        "cleanup_after_days": 30,
        "cleanup_interval_seconds": 3600,
        "max_file_read_mb": 0.01,
        "autocreate": False,
        "default_workspace": "default",
    }


def test_workspaces_are_listed_and_created(client: Client) -> None:
    listed = client.get("/service/workspaces").json()
    assert [w["name"] for w in listed["workspaces"]] == ["default", "other"] and listed["total"] == 2
    default = listed["workspaces"][0]
    assert default["path"].endswith("workspaces/default") and default["execution_count"] == 0
    assert default["file_count"] == 4 and default["size_mb"] == round((20 + 19 + 25_600 + 16) / 1024 / 1024, 3)
    created = client.post("/service/workspaces", json={"name": "team-a"})
    assert created.status_code == 201 and created.json()["name"] == "team-a" and created.json()["file_count"] == 0
    assert _error(client.post("/service/workspaces", json={"name": "team-a"}))["type"] == "ConflictError"
    assert client.post("/service/workspaces", json={"name": "../x"}).status_code == 400
    assert client.get("/workspace/directories", params={"workspace": "team-a"}).json()["total_size_mb"] == 0


def test_directories_are_shown_made_and_deleted(client: Client, storage: Path) -> None:
    shown = client.get("/workspace/directories").json()
    assert shown["workspace"] == "default" and shown["workspace_root"] == f"{storage.as_posix()}/workspaces/default"
    by_name = {d["name"]: d for d in shown["directories"]}
    assert by_name["Working_Directory"]["file_count"] == 3 and by_name["Longterm_Directory"]["file_count"] == 1
    assert by_name["Working_Directory"]["path"] == "Working_Directory"
    # The document's request names the parent by the root this route shows.
    made = client.post(
        "/workspace/directories", json={"action": "create", "directory_name": "Custom_Workspace", "parent_path": shown["workspace_root"]}
    )
    assert made.status_code == 200 and made.json() == {
        "status": "created",
        "workspace": "default",
        "directory_path": "Custom_Workspace",
        "message": "Directory created successfully",
    }
    nested = client.post("/workspace/directories", json={"action": "create", "directory_name": "b/c", "parent_path": "Custom_Workspace"})
    assert nested.json()["directory_path"] == "Custom_Workspace/b/c"
    assert client.post("/workspace/directories", json={"action": "create", "directory_name": "Custom_Workspace"}).status_code == 409
    for standard in ("Working_Directory", "Longterm_Directory", "."):
        assert client.post("/workspace/directories", json={"action": "delete", "directory_name": standard}).status_code == 409
    assert client.post("/workspace/directories", json={"action": "delete", "directory_name": "nope"}).status_code == 404
    deleted = client.post("/workspace/directories", json={"action": "delete", "directory_name": "Custom_Workspace"})
    assert deleted.json()["status"] == "deleted" and not (storage / "workspaces" / "default" / "Custom_Workspace").exists()
    assert client.post("/workspace/directories", json={"action": "rename", "directory_name": "x"}).status_code == 422
    assert client.get("/workspace/directories", params={"workspace": "nope"}).status_code == 404


def test_files_are_listed_with_filters_and_pages(client: Client) -> None:
    listed = client.get("/service/workspaces/default/files").json()
    assert listed["workspace"] == "default" and listed["directory"] == "" and listed["total"] == 4
    assert [f["path"] for f in listed["files"]] == [
        "Longterm_Directory/notes.txt",
        "Working_Directory/wfexec_demo/big.bin",
        "Working_Directory/wfexec_demo/charts/sales.csv",
        "Working_Directory/wfexec_demo/report.md",
    ]
    report = listed["files"][3]
    assert report["name"] == "report.md" and report["size_bytes"] == 20 and report["mime_type"] == "text/markdown"
    assert report["created_at"].endswith("Z") and report["modified_at"].endswith("Z")
    run = client.get("/service/workspaces/default/files", params={"directory": "Working_Directory/wfexec_demo", "extension": "csv"})
    assert [f["path"] for f in run.json()["files"]] == ["Working_Directory/wfexec_demo/charts/sales.csv"]
    page = client.get("/service/workspaces/default/files", params={"limit": 2, "offset": 1}).json()
    assert [f["name"] for f in page["files"]] == ["big.bin", "sales.csv"] and page["total"] == 4
    assert client.get("/service/workspaces/nope/files").status_code == 404
    assert client.get("/service/workspaces/default/files", params={"directory": "missing"}).status_code == 404
    assert client.get("/service/workspaces/default/files", params={"limit": 0}).status_code == 422


def test_content_is_streamed_with_type_length_etag_and_ranges(client: Client) -> None:
    url = "/service/workspaces/default/files/content"
    report = client.get(url, params={"file_path": "Working_Directory/wfexec_demo/report.md"})
    assert report.status_code == 200 and report.text == "# Report\n\nAll good.\n"
    assert report.headers["content-type"].startswith("text/markdown") and report.headers["content-length"] == "20"
    assert report.headers["x-content-type-options"] == "nosniff" and "sandbox" in report.headers["content-security-policy"]
    etag = report.headers["etag"]
    again = client.get(url, params={"file_path": "Working_Directory/wfexec_demo/report.md"}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    csv = client.get(url, params={"file_path": "Working_Directory/wfexec_demo/charts/sales.csv"})
    assert csv.headers["content-type"].startswith("text/csv")

    big = {"file_path": "Working_Directory/wfexec_demo/big.bin"}
    whole = client.get(url, params=big)
    assert whole.status_code == 413 and _error(whole)["details"]["size_bytes"] == 25_600
    part = client.get(url, params=big, headers={"Range": "bytes=256-511"})
    assert part.status_code == 206 and part.content == bytes(range(256))
    assert part.headers["content-range"] == "bytes 256-511/25600" and part.headers["content-length"] == "256"
    tail = client.get(url, params=big, headers={"Range": "bytes=-10"})
    assert tail.content == bytes(range(246, 256)) and tail.headers["content-range"] == "bytes 25590-25599/25600"
    rest = client.get(url, params=big, headers={"Range": "bytes=25000-"})
    assert len(rest.content) == 600 and rest.headers["content-type"] == "application/octet-stream"
    past = client.get(url, params=big, headers={"Range": "bytes=30000-"})
    assert past.status_code == 416 and past.headers["content-range"] == "bytes */25600"
    assert _error(past)["code"] == "ERR_REQUEST_004"
    stale = client.get(url, params=big, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert stale.status_code == 413  # the range is of another version: the whole file, which is too large
    several = client.get(url, params={"file_path": "Longterm_Directory/notes.txt"}, headers={"Range": "bytes=0-1,4-5"})
    assert several.status_code == 200 and several.text == "kept across runs"
    assert client.get(url, params={"file_path": "Longterm_Directory/missing.txt"}).status_code == 404
    assert client.get(url, params={"file_path": "Longterm_Directory"}).status_code == 400
    assert client.get(url).status_code == 422  # file_path is required


def test_checkpoints_of_an_unknown_workspace_are_404(client: Client) -> None:
    assert client.get("/service/workspaces/default/checkpoints").json() == {"workspace": "default", "checkpoints": [], "total": 0}
    assert _error(client.get("/service/workspaces/nope/checkpoints"))["type"] == "NotFoundError"


def test_an_execution_names_its_workspace(client: Client) -> None:
    missing = client.post("/graphs/ASIS/execute", json={"input": {"task": "t"}, "workspace": "nope", "async": True})
    assert missing.status_code == 404 and "ECHO_WORKSPACE_AUTOCREATE" in missing.json()["detail"]
    twice = client.post("/graphs/ASIS/execute", json={"input": {"task": "t"}, "workspace": "a", "config": {"workspace": "b"}})
    assert twice.status_code == 422
    done = client.post("/graphs/ASIS/execute", json={"input": {"task": "t"}, "config": {"workspace": "other"}}).json()
    assert done["status"] == "completed" and done["workspace"] == "other" and done["output_files"] == []
    info = client.get(f"/executions/{done['execution_id']}/info").json()
    assert info["workspace"] == "other" and info["output_files"] == []
    counts = {w["name"]: w["execution_count"] for w in client.get("/service/workspaces").json()["workspaces"]}
    assert counts == {"default": 0, "other": 1}


# -- path safety -------------------------------------------------------------------------


def _hostile_requests(text: str) -> list[tuple[str, str, dict[str, Any]]]:
    files = "/service/workspaces/default/files"
    return [
        ("GET", files, {"params": {"directory": text}}),
        ("GET", files, {"params": {"extension": text}}),
        ("GET", f"{files}/content", {"params": {"file_path": text}}),
        ("POST", "/workspace/directories", {"json": {"action": "create", "directory_name": text}}),
        ("POST", "/workspace/directories", {"json": {"action": "delete", "directory_name": text}}),
        ("POST", "/workspace/directories", {"json": {"action": "create", "directory_name": "ok", "parent_path": text}}),
        ("POST", "/workspace/directories", {"json": {"action": "delete", "directory_name": "ok", "parent_path": text}}),
    ]


def test_every_hostile_path_is_refused_by_every_route(client: Client, storage: Path) -> None:
    workspace = storage / "workspaces" / "default"
    before = outside_snapshot(storage, workspace)
    tried = 0
    for text in HOSTILE:
        for method, url, kwargs in _hostile_requests(text):
            response = client.request(method, url, **kwargs)
            tried += 1
            body = response.text
            assert DECOY_TEXT not in body and OTHER_TEXT not in body, (url, text)
            if "extension" in kwargs.get("params", {}) and response.status_code == 200:  # a plain word: a filter matching nothing
                assert re.fullmatch(r"[A-Za-z0-9_+-]+", text) and response.json()["files"] == [], text
                continue
            assert response.status_code in REFUSED, (method, url, text, response.status_code, body)
            error = _error(response)
            assert str(storage.resolve()) not in body and str(storage) not in body, body  # no server path
            assert error["type"] in ("ValidationError", "NotFoundError", "AuthenticationError")
        # Sent encoded once more: the server decodes once and must still refuse.
        if text.isascii() and text.isprintable():
            raw = client.get(f"/service/workspaces/default/files/content?file_path={text}")
            assert raw.status_code in REFUSED and DECOY_TEXT not in raw.text, text
    assert tried >= 50 * 7
    assert outside_snapshot(storage, workspace) == before
    assert (storage / DECOY_NAME).read_text() == DECOY_TEXT
    listed = client.get("/service/workspaces/default/files").json()
    assert all(DECOY_NAME not in f["path"] and "other-secret" not in f["path"] for f in listed["files"])


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_workspace_names_are_refused_by_every_route(client: Client, storage: Path, name: str) -> None:
    encoded = quote(name, safe="")
    for method, url, kwargs in [
        ("GET", f"/service/workspaces/{encoded}/files", {}),
        ("GET", f"/service/workspaces/{encoded}/files/content", {"params": {"file_path": "notes.txt"}}),
        ("GET", f"/service/workspaces/{encoded}/checkpoints", {}),
        ("GET", "/workspace/directories", {"params": {"workspace": name}}),
        ("POST", "/workspace/directories", {"json": {"action": "create", "directory_name": "x", "workspace": name}}),
        ("POST", "/service/workspaces", {"json": {"name": name}}),
        ("POST", "/graphs/ASIS/execute", {"json": {"input": {"task": "t"}, "workspace": name}}),
    ]:
        response = client.request(method, url, **kwargs)
        assert response.status_code in REFUSED, (method, url, name, response.status_code, response.text)
        assert DECOY_TEXT not in response.text
    assert sorted(p.name for p in (storage / "workspaces").iterdir() if p.is_dir()) == ["default", "other"]


def test_an_operator_may_let_executions_create_their_workspace(tmp_path: Path) -> None:
    settings = Settings(
        storage_dir=tmp_path / "storage",
        plugins_dir=None,  # type: ignore[arg-type]
        watch=False,
        watch_plugins=False,
        workspace_autocreate=True,
        auto_cleanup_enabled=False,
    )
    with TestClient(create_app(settings), base_url=LOCAL) as c:
        done = c.post("/graphs/ASIS/execute", json={"input": {"task": "t"}, "workspace": "new-team"}).json()
        assert done["status"] == "completed" and done["workspace"] == "new-team"
        assert {w["name"] for w in c.get("/service/workspaces").json()["workspaces"]} == {"default", "new-team"}
        assert c.get("/service/workspace-config").json()["autocreate"] is True
        assert c.post("/graphs/ASIS/execute", json={"input": {"task": "t"}, "workspace": "../up"}).status_code == 400
