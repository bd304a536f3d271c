"""Crash safety and exclusive creation, with real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from echo_orchestrator.models import Agent
from echo_orchestrator.store import atomic
from tests.helpers.processes import python

WRITER = """
import sys, anyio
from pathlib import Path
from echo_orchestrator.models import Agent
from echo_orchestrator.store.definitions.files import FileDefinitionStore

async def main():
    store = FileDefinitionStore(Path(sys.argv[1]))
    await store.open()
    big = "x" * 4_000_000  # a large file makes a kill during the write likely
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        await store.save_agent(Agent(agent_id="agt_1", name=f"v{i % 2}", description=big))

anyio.run(main)
"""


@pytest.mark.slow
def test_sigkill_mid_write_leaves_old_or_new_file_and_next_start_sweeps_temp(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    target = root / "agents" / "agt_1.json"
    leftovers = 0
    for attempt in range(6):
        proc = python(WRITER, str(root))
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
        time.sleep(0.15 + 0.05 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if target.exists():
            agent = msgspec.json.decode(target.read_bytes(), type=Agent)  # never torn
            assert agent.name in ("v0", "v1") and len(agent.description) == 4_000_000
        leftovers += len(list((root / "agents").glob(".*.tmp")))

        # The next start removes temp files of dead writers and serves the intact file.
        check = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, anyio; from pathlib import Path;"
                "from echo_orchestrator.store.definitions.files import FileDefinitionStore as S\n"
                "async def m():\n"
                "    s = S(Path(sys.argv[1])); await s.open(); print(len(s.problems()), s.counts().agents)\n"
                "anyio.run(m)",
                str(root),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert check.stdout.split() == ["0", "1" if target.exists() else "0"]
        assert list((root / "agents").glob(".*.tmp")) == []
    print(f"temp files left by killed writers and swept: {leftovers}")


def test_sweep_keeps_temp_files_of_live_writers(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".a.json.{dead_pid}.abcd.tmp"
    live = tmp_path / f".b.json.{os.getpid()}.abcd.tmp"
    stray = tmp_path / ".c.json.tmp"
    for path in (stale, live, stray):
        path.write_text("{}")
    removed = atomic.sweep_temp_files(tmp_path)
    assert sorted(removed) == sorted([stale, stray])
    assert live.exists()


RACER = """
import sys, time, anyio
from pathlib import Path
from echo_orchestrator.errors import Conflict
from echo_orchestrator.models import Workflow
from echo_orchestrator.store.definitions.files import FileDefinitionStore

async def main():
    store = FileDefinitionStore(Path(sys.argv[1]))
    await store.open()
    go = Path(sys.argv[2])
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.0005)
    try:
        await store.create_final(Workflow(workflow_id="wf_1", version="1.0", status="final", name=sys.argv[3]))
        print("won", flush=True)
    except Conflict:
        print("conflict", flush=True)

anyio.run(main)
"""


@pytest.mark.parametrize("round_", range(3))
def test_racing_final_creates_across_processes_have_one_winner(tmp_path: Path, round_: int) -> None:
    root, go = tmp_path / "storage", tmp_path / "go"
    racers = [python(RACER, str(root), str(go), f"racer-{i}") for i in range(6)]
    for proc in racers:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    go.touch()
    results = [proc.communicate(timeout=30)[0].strip() for proc in racers]
    assert sorted(results) == ["conflict"] * 5 + ["won"]
    winner = results.index("won")
    final = json.loads((root / "workflows" / "final" / "wf_1.v1.0.json").read_text())
    assert final["name"] == f"racer-{winner}"  # the file is the winner's, complete
    assert list((root / "workflows" / "final").iterdir()) == [root / "workflows" / "final" / "wf_1.v1.0.json"]


def test_create_exclusive_refuses_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    atomic.create_exclusive(target, b"one\n")
    with pytest.raises(FileExistsError):
        atomic.create_exclusive(target, b"two\n")
    assert target.read_bytes() == b"one\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
