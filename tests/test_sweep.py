"""The sweep on a real Dask LocalCluster: equal to independent solves, monotone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from scenarios.curve import budget_curve
from scenarios.runner import run_scenario
from scenarios.spec import load_scenario

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
