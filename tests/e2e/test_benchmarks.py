"""Every benchmark script runs, at a tiny size (`--smoke`): a script broken by a change fails
the suite instead of rotting until someone needs its figures. Its figures are printed, never
asserted (performance is measured in benchmarks/, not tested)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers.postgres import temporary_database, throwaway_cluster
from tests.helpers.server import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCRIPTS = sorted(p.name for p in (REPO / "benchmarks").glob("bench_*.py"))


def test_every_script_is_listed_here() -> None:
    assert SCRIPTS == [
        "bench_catalogue.py",
        "bench_cluster.py",
        "bench_engine.py",
        "bench_mcp.py",
        "bench_recovery.py",
        "bench_round_trips.py",
        "bench_soak.py",
        "bench_storage.py",
        "bench_streaming.py",
        "bench_throughput.py",
        "bench_tokens.py",
        "bench_ws_churn.py",
    ]


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_benchmark_runs(script: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if script == "bench_cluster.py":
        with temporary_database():  # a server answers (else: skipped with the reason, or failed where required)
            pass
    if script == "bench_round_trips.py":
        with throwaway_cluster():  # initdb and pg_ctl are there (else: skipped with the reason, or failed where required)
            pass
    done = subprocess.run(
        [sys.executable, f"benchmarks/{script}", "--smoke"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{script}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.stdout.strip(), f"{script} printed no figures"
    print(done.stdout)
