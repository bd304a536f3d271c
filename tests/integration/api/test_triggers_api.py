"""The trigger routes over HTTP: schedules as files (create, list with next fire times,
replace, pause, resume, delete; every refusal with the error body), `POST /hooks/{id}`
(a Standard Webhooks signature or the API's keys; stale, wrong and replayed requests
refused), a run's `webhook` checked when it is started and its deliveries listed."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from standardwebhooks import Webhook

from echo_orchestrator.api.app import create_app
from echo_orchestrator.settings import Settings
from tests.helpers.receiver import receiving
from tests.helpers.server import LOCAL
from tests.helpers.storage import copy_storage

SECRET = "whsec_" + base64.b64encode(b"the hook's shared secret, 32 b!!").decode()
KEY, READER = "eo_trigger-test-key-0123456789abcdef", "eo_trigger-reader-key-0123456789abcd"
TRIGGERS = [
    {"id": "new-topic", "auth": "signature", "secret": "${TOPIC_HOOK_SECRET}", "inputs": {"topic": "issue.title"}},
    {"id": "keyed", "auth": "api_key"},
    {"id": "answer-now", "auth": "api_key", "wait": True, "timeout_seconds": 20},
]


def storage_with_triggers(tmp_path: Path) -> Path:
    storage = copy_storage(tmp_path / "storage")
    final = storage / "workflows" / "final" / "wf_market_research.v1.0.json"
    document = json.loads(final.read_text())
    final.write_text(json.dumps({**document, "triggers": TRIGGERS}))
    return storage


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient[Litestar]]:
    monkeypatch.setenv("TOPIC_HOOK_SECRET", SECRET)
    settings = Settings(
        storage_dir=storage_with_triggers(tmp_path),
        plugins_dir=None,
        watch=False,
        watch_plugins=False,
        scheduler=False,
        api_keys=f"{KEY},{READER} read-only",
    )
    with TestClient(create_app(settings), base_url=LOCAL) as c:
        c.headers["Authorization"] = f"Bearer {KEY}"
        yield c


def signed(body: bytes, *, secret: str = SECRET, at: float | None = None, message_id: str = "msg_1") -> dict[str, str]:
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, moment, body),
    }


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["message"] and error["code"]
    return error


def test_schedules_are_files_with_their_next_fires(client: TestClient[Litestar], tmp_path: Path) -> None:
    body = {
        "schedule_id": "morning",
        "workflow": "market-research",
        "inputs": {"topic": "tides"},
        "cron": "0 7 * * 1-5",
        "timezone": "Europe/Berlin",
    }
    created = client.post("/schedules", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["file"] == "schedules/morning.json" and len(created.json()["next_fire_times"]) == 5
    on_disk = (tmp_path / "storage" / "schedules" / "morning.json").read_text()
    assert on_disk.endswith("}\n") and json.loads(on_disk)["cron"] == "0 7 * * 1-5"
    assert error_of(client.post("/schedules", json=body), 409)["code"] == "ERR_CONFLICT_001"

    listed = client.get("/schedules").json()
    assert listed["total"] == 1 and listed["schedules"][0]["schedule"]["schedule_id"] == "morning"
    assert client.get("/service/health").json()["triggers"]["enabled"] == 1
    paused = client.post("/schedules/morning/pause").json()
    assert paused["schedule"]["enabled"] is False and paused["next_fire_times"] == []
    assert json.loads((tmp_path / "storage" / "schedules" / "morning.json").read_text())["enabled"] is False
    resumed = client.post("/schedules/morning/resume").json()
    assert resumed["schedule"]["enabled"] is True and resumed["recent_fires"][0]["outcome"] == "resumed"
    replaced = client.put("/schedules/morning", json={**body, "cron": None, "interval_seconds": 3600})
    assert replaced.status_code == 200 and replaced.json()["schedule"]["interval_seconds"] == 3600
    assert client.get("/schedules/morning/fires").json()[0]["outcome"] == "resumed"
    assert client.delete("/schedules/morning").status_code == 204
    assert error_of(client.get("/schedules/morning"), 404)["code"] == "ERR_NOT_FOUND_001"
    assert not (tmp_path / "storage" / "schedules" / "morning.json").exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cron": "every day"}, "(body)"),
        ({"timezone": "Nowhere/Town"}, "(body)"),
        ({"workflow": "no-such-workflow"}, "workflow"),
        ({"overlap": "sometimes"}, "overlap"),
        ({"schedule_id": "../escape"}, "schedule_id"),
    ],
)
def test_a_schedule_that_cannot_be_kept_is_refused_with_the_error_body(
    client: TestClient[Litestar], tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    body = {"schedule_id": "bad", "workflow": "market-research", "cron": "* * * * *", **change}
    error = error_of(client.post("/schedules", json=body), 422)
    assert error["details"]["errors"][0]["field"] == field
    assert not list((tmp_path / "storage" / "schedules").glob("*.json"))  # nothing half-saved


def test_a_read_only_key_sees_schedules_but_changes_none(client: TestClient[Litestar]) -> None:
    reader = {"Authorization": f"Bearer {READER}"}
    assert client.get("/schedules", headers=reader).status_code == 200
    body = {"workflow": "market-research", "inputs": {"topic": "x"}, "interval_seconds": 60}
    assert error_of(client.post("/schedules", json=body, headers=reader), 403)["code"] == "ERR_AUTH_002"
    assert error_of(client.get("/schedules", headers={"Authorization": "Bearer wrong"}), 401)["code"] == "ERR_AUTH_001"


def test_a_signed_hook_starts_a_run_with_its_input_mapped(client: TestClient[Litestar]) -> None:
    body = json.dumps({"issue": {"title": "tides", "number": 7}}).encode()
    started = client.post("/hooks/new-topic", content=body, headers={**signed(body), "Authorization": ""})
    assert started.status_code == 202, started.text
    execution = client.get(f"/executions/{started.json()['execution_id']}").json()
    assert execution["metadata"]["trigger_id"] == "new-topic" and execution["metadata"]["webhook_id"] == "msg_1"
    assert execution["caller"] == "hook:new-topic"
    assert client.get(f"/executions/{started.json()['execution_id']}/info").json()["inputs"] == {"topic": "tides"}


def test_wrong_stale_and_replayed_hooks_are_refused_with_the_error_body(client: TestClient[Litestar]) -> None:
    body = json.dumps({"issue": {"title": "tides"}}).encode()
    no_key = {"Authorization": ""}
    wrong = signed(body, secret="whsec_" + base64.b64encode(b"not the secret at all, 32 bytes!").decode(), message_id="m-wrong")
    assert "signature" in error_of(client.post("/hooks/new-topic", content=body, headers={**wrong, **no_key}), 401)["message"]
    tampered = signed(body, message_id="m-tampered")
    assert error_of(client.post("/hooks/new-topic", content=body + b" ", headers={**tampered, **no_key}), 401)
    stale = signed(body, at=time.time() - 3600, message_id="m-stale")
    assert "timestamp" in error_of(client.post("/hooks/new-topic", content=body, headers={**stale, **no_key}), 401)["message"]
    unsigned = {"content-type": "application/json", **no_key}
    assert error_of(client.post("/hooks/new-topic", content=body, headers=unsigned), 401)["code"] == "ERR_AUTH_001"
    fresh = signed(body, message_id="m-once")
    assert client.post("/hooks/new-topic", content=body, headers={**fresh, **no_key}).status_code == 202
    replay = client.post("/hooks/new-topic", content=body, headers={**fresh, **no_key})
    assert error_of(replay, 409)["details"]["webhook_id"] == "m-once"
    missing = signed(b'{"issue": {}}', message_id="m-missing")
    assert error_of(client.post("/hooks/new-topic", content=b'{"issue": {}}', headers={**missing, **no_key}), 422)
    assert error_of(client.post("/hooks/nobody", content=body, headers=signed(body, message_id="m-x")), 404)


def test_a_hook_body_meets_the_apis_limits_before_anything_runs(client: TestClient[Litestar]) -> None:
    deep = b"[" * 200 + b"]" * 200
    assert error_of(client.post("/hooks/new-topic", content=deep, headers=signed(deep, message_id="m-deep")), 400)
    assert error_of(client.post("/hooks/keyed", content=b"<xml/>", headers={"content-type": "application/xml"}), 415)
    foreign = {"content-type": "application/json", "origin": "https://evil.example"}
    assert error_of(client.post("/hooks/keyed", content=b"{}", headers=foreign), 403)  # a browser on another site
    assert client.get("/executions").json()["total"] == 0


def test_a_keyed_hook_takes_the_apis_keys(client: TestClient[Litestar]) -> None:
    body = json.dumps({"topic": "tides"}).encode()
    plain = {"content-type": "application/json"}
    assert error_of(client.post("/hooks/keyed", content=body, headers={**plain, "Authorization": ""}), 401)["code"] == "ERR_AUTH_001"
    reader = {**plain, "Authorization": f"Bearer {READER}"}
    assert error_of(client.post("/hooks/keyed", content=body, headers=reader), 403)["code"] == "ERR_AUTH_002"
    started = client.post("/hooks/keyed", content=body, headers=plain)
    assert started.status_code == 202
    assert client.get(f"/executions/{started.json()['execution_id']}").json()["caller"].startswith("key:")
    answered = client.post("/hooks/answer-now", content=body, headers=plain)
    assert answered.status_code == 200 and answered.json()["status"] == "completed" and answered.json()["outputs"]


def test_a_runs_webhook_is_checked_when_it_starts_and_its_deliveries_are_listed(client: TestClient[Litestar]) -> None:
    refused = client.post("/workflows/market-research/execute", json={"inputs": {"topic": "x"}, "webhook": {"url": "http://127.0.0.1:9/"}})
    assert error_of(refused, 422)["details"]["field"] == "webhook.url"
    secret = client.post(
        "/workflows/market-research/execute",
        json={"inputs": {"topic": "x"}, "webhook": {"url": "https://example.com/", "secret": "${HOME}"}},
    )
    assert error_of(secret, 422)["details"]["errors"][0]["field"] == "webhook.secret"
    started = client.post("/workflows/market-research/execute", json={"inputs": {"topic": "x"}})
    listed = client.get(f"/executions/{started.json()['execution_id']}/webhooks").json()
    assert listed == {"execution_id": started.json()["execution_id"], "deliveries": []}
    assert error_of(client.get("/executions/nope/webhooks"), 404)


def test_a_delivered_webhook_shows_each_attempt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with receiving(SECRET, answers=[500]) as receiver:
        settings = Settings(
            storage_dir=copy_storage(tmp_path / "storage"),
            plugins_dir=None,
            watch=False,
            watch_plugins=False,
            scheduler=False,
            webhook_secret=SECRET,
            webhook_allowed_urls=(f"http://127.0.0.1:{receiver.port}/hooks",),
            webhook_backoff_seconds=0.1,
        )
        with TestClient(create_app(settings), base_url=LOCAL) as c:
            body = {"inputs": {"topic": "x"}, "webhook": {"url": receiver.url, "events": ["completed"]}}
            execution_id = c.post("/workflows/market-research/execute", json=body).json()["execution_id"]
            receiver.wait_for(2)
            deadline = time.monotonic() + 10
            while (listed := c.get(f"/executions/{execution_id}/webhooks").json())["deliveries"][0]["status"] == "pending":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            triggers = c.get("/service/health").json()["triggers"]
    (delivery,) = listed["deliveries"]
    assert delivery["status"] == "delivered" and [a["status_code"] for a in delivery["history"]] == [500, 200]
    assert triggers == {
        "schedules": 0, "enabled": 0, "scheduler": "off", "deliveries_pending": 0, "deliveries_failed_last_day": 0, "error": None,
    }  # fmt: skip
    assert delivery["url"] == receiver.url and delivery["event"] == "completed" and "secret" in delivery
