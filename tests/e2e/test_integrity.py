"""Nothing lost under concurrency, against the real server with one and two worker
processes: racing updates all land, one version is one file, one slug has one holder, and
editors get ETags and 412s."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from tests.helpers.postgres import new_schema
from tests.helpers.server import RunningServer, running_server
from tests.helpers.storage import copy_storage

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


@pytest.fixture(scope="module", params=[1, 2], ids=["1-worker", "2-workers"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp(f"integrity{request.param}")
    copy_storage(root / "storage")
    # Several workers share their runs through PostgreSQL (the embedded runtime refuses them).
    env = {"ECHO_RUNTIME_URL": new_schema(request.getfixturevalue("postgres_database"))} if request.param > 1 else {}
    extra = ("--plugins-dir", str(root / "plugins"), "--workers", str(request.param))
    with running_server(root / "storage", *extra, env=env, timeout=40) as running:
        yield running


def fresh_connections(server: RunningServer) -> httpx.AsyncClient:
    # A new connection per request, so the kernel spreads them over the worker processes.
    return httpx.AsyncClient(base_url=server.url, timeout=60, limits=httpx.Limits(max_keepalive_connections=0))


async def gather(*calls: Any) -> list[httpx.Response]:
    results: list[httpx.Response | None] = [None] * len(calls)

    async def one(i: int, call: Any) -> None:
        results[i] = await call

    async with anyio.create_task_group() as tg:
        for i, call in enumerate(calls):
            tg.start_soon(one, i, call)
    return [r for r in results if r is not None]


def template(server: RunningServer) -> dict[str, Any]:
    wf: dict[str, Any] = httpx.get(f"{server.url}/workflows/sales-insights/final/1.0").json()
    return wf


async def test_concurrent_updates_all_land(server: RunningServer) -> None:
    async with fresh_connections(server) as c:
        agent_id = f"race_{time.monotonic_ns()}"
        assert (await c.post("/agents/register", json={"agent_id": agent_id, "role": "Writer"})).status_code == 201
        answers = await gather(*(c.put(f"/agents/{agent_id}", json={"metadata": {f"k{i}": i}}) for i in range(20)))
        assert [r.status_code for r in answers] == [200] * 20
        kept = (await c.get(f"/agents/{agent_id}")).json()["metadata"]
    assert {f"k{i}" for i in range(20)} <= set(kept)  # 20 of 20: no lost update


async def test_one_version_is_one_file(server: RunningServer) -> None:
    base = template(server)
    async with fresh_connections(server) as c:
        for round_ in range(4):
            wf = {**base, "workflow_id": f"wf_v{round_}_{time.monotonic_ns()}", "slug": f"v-race-{round_}-{time.monotonic_ns()}"}
            spellings = ["2", "2.0", "2.0.0", "2", "2.0", "2.0.0"]
            answers = await gather(*(c.post("/workflows/final/save", json={"workflow": wf, "version": v}) for v in spellings))
            codes = sorted(r.status_code for r in answers)
            assert codes == [201, 409, 409, 409, 409, 409], [r.text for r in answers]
            winner = next(r.json() for r in answers if r.status_code == 201)
            assert winner["version"] == "2.0" and winner["path"] == f"workflows/final/{wf['workflow_id']}.v2.0.json"
            files = sorted(p.name for p in (server.storage / "workflows" / "final").glob(f"{wf['workflow_id']}.v*.json"))
            assert files == [f"{wf['workflow_id']}.v2.0.json"]
            for spelling in ("2", "2.0", "2.0.0"):
                assert (await c.get(f"/workflows/{wf['workflow_id']}/final/{spelling}")).status_code == 200


async def test_final_saves_naming_no_version_all_succeed(server: RunningServer) -> None:
    wf = {**template(server), "workflow_id": f"wf_next_{time.monotonic_ns()}", "slug": f"next-{time.monotonic_ns()}"}
    del wf["version"]  # no version named anywhere: each save takes the next free one
    async with fresh_connections(server) as c:
        answers = await gather(*(c.post("/workflows/final/save", json={"workflow": wf}) for _ in range(12)))
        assert [r.status_code for r in answers] == [201] * 12, [r.text for r in answers if r.status_code != 201]
        versions = sorted((r.json()["version"] for r in answers), key=lambda v: tuple(int(p) for p in v.split(".")))
        assert len(set(versions)) == 12
        # Lists come from each worker's index, which follows the other workers' writes within
        # a watcher tick (single-entity reads are fresh from disk at once).
        deadline = time.monotonic() + 5
        while sorted((await c.get(f"/workflows/{wf['workflow_id']}/versions")).json().get("versions", [])) != sorted(versions):
            assert time.monotonic() < deadline
            await anyio.sleep(0.05)
        for version in versions:
            assert (await c.get(f"/workflows/{wf['workflow_id']}/final/{version}")).status_code == 200


async def test_one_slug_one_holder(server: RunningServer) -> None:
    base = template(server)
    slug = f"contested-{time.monotonic_ns()}"
    async with fresh_connections(server) as c:
        answers = await gather(
            *(
                c.post("/workflows/temp/save", json={**base, "workflow_id": f"wf_slug_{i}_{slug}", "slug": slug, "status": "validated"})
                for i in range(12)
            )
        )
        codes = sorted(r.status_code for r in answers)
        assert codes == [200] + [409] * 11, [r.text for r in answers]
        health = (await c.get("/service/health")).json()
    assert not [p for p in health["storage"]["problems"] if p["field"] == "slug"]


async def test_editors_get_etags_and_412(server: RunningServer) -> None:
    async with fresh_connections(server) as c:
        agent_id = f"etag_{time.monotonic_ns()}"
        await c.post("/agents/register", json={"agent_id": agent_id, "role": "Writer"})
        read = await c.get(f"/agents/{agent_id}")
        tag = read.headers["etag"]
        assert (await c.get(f"/agents/{agent_id}", headers={"If-None-Match": tag})).status_code == 304
        first = await c.put(f"/agents/{agent_id}", json={"role": "Editor"}, headers={"If-Match": tag})
        assert first.status_code == 200 and first.headers["etag"] != tag
        stale = await c.put(f"/agents/{agent_id}", json={"role": "Other"}, headers={"If-Match": tag})
        assert stale.status_code == 412 and stale.json()["error"]["code"] == "ERR_CONFLICT_002"
        assert stale.json()["error"]["details"]["etag"] == first.headers["etag"]
        assert (await c.delete(f"/agents/{agent_id}", headers={"If-Match": tag})).status_code == 412
        assert (await c.get(f"/agents/{agent_id}")).json()["role"] == "Editor"  # the stale write did nothing
        assert (await c.delete(f"/agents/{agent_id}", headers={"If-Match": first.headers["etag"]})).status_code == 200

        final = await c.get("/workflows/sales-insights/final/1.0")
        again = await c.get("/workflows/sales-insights/final/1")
        assert final.headers["etag"] == again.headers["etag"] and "immutable" in final.headers["cache-control"]
        assert (await c.get("/workflows/sales-insights/final/1.0", headers={"If-None-Match": final.headers["etag"]})).status_code == 304

        wf = {**final.json(), "workflow_id": f"wf_etag_{time.monotonic_ns()}", "slug": f"etag-{time.monotonic_ns()}", "status": "validated"}
        assert (await c.post("/workflows/temp/save", json=wf, headers={"If-Match": '"nothing-yet"'})).status_code == 412
        assert (await c.post("/workflows/temp/save", json=wf)).status_code == 200
        temp = await c.get(f"/workflows/{wf['workflow_id']}/temp")
        edited = {**wf, "description": "edited"}
        assert (await c.post("/workflows/temp/save", json=edited, headers={"If-Match": temp.headers["etag"]})).status_code == 200
        assert (await c.post("/workflows/temp/save", json=wf, headers={"If-Match": temp.headers["etag"]})).status_code == 412
        assert (await c.delete(f"/workflows/{wf['slug']}/temp", headers={"If-Match": temp.headers["etag"]})).status_code == 412
        assert (await c.delete(f"/workflows/{wf['slug']}/temp")).status_code == 200  # by slug, as GET finds it


async def test_an_external_slug_clash_keeps_the_holder(server: RunningServer) -> None:
    holder = template(server)
    newcomer = {**holder, "workflow_id": f"wf_newcomer_{time.monotonic_ns()}", "status": "draft"}
    path = server.storage / "workflows" / "draft" / f"{newcomer['workflow_id']}.json"
    path.write_text(json.dumps(newcomer, indent=2) + "\n")  # as a git pull or an editor would
    try:
        async with fresh_connections(server) as c:
            deadline = time.monotonic() + 10
            while True:
                health = (await c.get("/service/health")).json()
                slug_problems = [p for p in health["storage"]["problems"] if p["field"] == "slug"]
                if slug_problems or time.monotonic() > deadline:
                    break
                await anyio.sleep(0.05)
            assert slug_problems and newcomer["workflow_id"] in slug_problems[0]["message"]
            assert f"which workflow '{holder['workflow_id']}' holds" in slug_problems[0]["message"]
            for _ in range(6):  # every worker answers the same
                assert (await c.get("/workflows/sales-insights/final/1.0")).json()["workflow_id"] == holder["workflow_id"]
        checked = subprocess.run(
            [sys.executable, "-m", "echo_orchestrator", "validate", str(server.storage)], capture_output=True, text=True, timeout=60
        )
        assert checked.returncode == 1 and f"workflow '{newcomer['workflow_id']}' claims slug 'sales-insights'" in checked.stdout
    finally:
        path.unlink()
