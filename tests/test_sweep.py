"""Budget sweeps: equal to independent solves and monotone, in process, on a Dask
LocalCluster and on a separately started scheduler; resumable after a stop or a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scenarios.curve import budget_curve
from scenarios.runner import run_scenario
from scenarios.spec import load_scenario
from tests.dask_processes import group_gone, scheduler_and_workers

pytest.importorskip("distributed")

TINY = Path(__file__).parent / "data" / "tiny" / "scenario.toml"
BUDGETS = [0.0, 0.5e6, 1e6, 1.5e6, 2e6, 3e6, 4e6, 5e6]


def test_dask_sweep_matches_independent_solves_and_is_monotone() -> None:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, host="127.0.0.1") as cluster, \
            Client(cluster, set_as_default=False) as client:
        curve = budget_curve(TINY, BUDGETS, time_limit_s=20, client=client)
    points = curve.points
    assert points["budget"].tolist() == BUDGETS
    assert (points["status"] == "optimal").all()
    assert np.all(np.diff(points["objective"]) >= -1e-9)
    assert (points["total_cost"] <= points["budget"] + 1e-6).all()
    spec = load_scenario(TINY)
    for row in points.itertuples():
        alone = run_scenario(replace(spec, budget=row.budget), time_limit_s=20).plan
        assert row.objective == pytest.approx(alone.objective, rel=1e-9)
        assert row.bound >= row.objective - 1e-9
    sequential = budget_curve(TINY, BUDGETS, time_limit_s=20)
    assert sequential.points["objective"].tolist() == pytest.approx(
        points["objective"].tolist(), rel=1e-9)


def test_warm_start_equals_cold_solves_on_sample_city() -> None:
    budgets = [10e6, 20e6, 40e6]
    warm = budget_curve("yuzhong-baseline", budgets, time_limit_s=30).points
    cold = budget_curve("yuzhong-baseline", budgets, time_limit_s=30,
                        warm_start=False).points
    for w, c in zip(warm.itertuples(), cold.itertuples(), strict=True):
        assert w.status == c.status == "optimal"
        # both within the scenario's relative gap of 1e-4 of the optimum
        assert w.objective == pytest.approx(c.objective, rel=2e-4)
        assert w.objective <= c.bound + 1e-6 and c.objective <= w.bound + 1e-6


def test_stopped_sweep_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    """Points are saved as they finish; a second call solves only the missing budgets and
    gives the curve of an uninterrupted sweep; other settings or damaged files are not
    reused."""
    whole = budget_curve(TINY, BUDGETS, time_limit_s=20).points
    folder = tmp_path / "points"
    seen: list[int] = []

    def stop_after_three() -> bool:
        return len(seen) >= 3

    first = budget_curve(TINY, BUDGETS, time_limit_s=20, checkpoint=folder,
                         progress=lambda point: seen.append(point.index),
                         should_stop=stop_after_three)
    assert first.stopped_early and len(first.points) == 3
    assert len(list(folder.glob("budget-*.json"))) == 3
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    points: list = []
    again = budget_curve(TINY, BUDGETS, time_limit_s=20, checkpoint=folder,
                         progress=points.append)
    assert [p.resumed for p in points] == [True] * 3 + [False] * (len(BUDGETS) - 3)
    assert "(from an earlier run)" in points[0].describe()
    assert again.plans[0] is None and again.plans[-1] is not None
    compared = ["budget", "status", "objective", "bound", "total_cost",
                "newly_covered_total", "marginal_cost_per_resident", "plan_from_budget"]
    pd.testing.assert_frame_equal(again.points[compared], whole[compared])
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()
            if p.name in mtimes} == mtimes  # finished points were not rewritten

    points.clear()
    budget_curve(TINY, BUDGETS, time_limit_s=20, checkpoint=folder, progress=points.append)
    assert all(p.resumed for p in points)  # nothing left to solve: read back only

    points.clear()
    (folder / "budget-1000000.00.json").write_text("{not json", encoding="utf-8")
    budget_curve(TINY, BUDGETS, time_limit_s=20, checkpoint=folder, warm_start=False,
                 progress=points.append)
    assert not any(p.resumed for p in points)  # other settings: solved again


def test_killed_sweep_command_resumes_without_redoing_finished_budgets(
        tmp_path: Path) -> None:
    """``lifecircle sweep`` of the sample city killed with SIGKILL after its first points:
    run again, it reads those back, solves the rest, and writes the whole curve."""
    command = [sys.executable, "-m", "scenarios.cli", "sweep", "yuzhong-baseline",
               "--budgets", "5e6:40e6:8", "--time-limit", "20", "--out", "out"]
    points = tmp_path / "out" / "points"
    first = subprocess.Popen(command, cwd=tmp_path, start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while len(list(points.glob("budget-*.json"))) < 2:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.communicate()
    finally:
        if not group_gone(first.pid):
            os.killpg(first.pid, signal.SIGKILL)
    finished = {p.name: p.stat().st_mtime_ns for p in points.glob("budget-*.json")}
    assert 2 <= len(finished) < 8
    assert not (tmp_path / "out" / "curve.csv").exists()

    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                           timeout=600, check=False)
    assert again.returncode == 0, again.stderr
    assert f"{len(finished)} of 8 budgets done already" in again.stderr
    assert again.stdout.count("(from an earlier run)") == len(finished)
    for name, mtime in finished.items():
        assert (points / name).stat().st_mtime_ns == mtime, name
    # a point killed while being written left at most a temporary, removed by its rewrite
    assert sorted(p.name for p in points.iterdir()) == sorted(
        f"budget-{b:.2f}.json" for b in np.linspace(5e6, 40e6, 8))
    curve = pd.read_csv(tmp_path / "out" / "curve.csv")
    assert len(curve) == 8 and curve["objective"].is_monotonic_increasing
    assert set(curve["status"]) <= {"optimal", "feasible"}
    assert (curve["bound"] >= curve["objective"] - 1e-6).all()


def test_sweep_on_a_separately_started_scheduler_and_two_workers(tmp_path: Path) -> None:
    with scheduler_and_workers(tmp_path, workers=2) as address:
        curve = budget_curve(TINY, BUDGETS, time_limit_s=20, scheduler=address)
    alone = budget_curve(TINY, BUDGETS, time_limit_s=20, warm_start=False)
    assert (curve.points["status"] == "optimal").all()
    assert curve.points["objective"].tolist() == pytest.approx(
        alone.points["objective"].tolist(), rel=1e-9)
