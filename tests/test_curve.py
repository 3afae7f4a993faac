"""The budget-coverage curve: library function, monotonicity, marginal cost, CLI and plot."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scenarios.curve as curve_module
import scenarios.sweep as sweep_module
from optimizer.errors import InputError
from optimizer.solvers.base import SolveStatus
from scenarios.cli import main
from scenarios.curve import (
    BudgetCurve,
    CurvePoint,
    budget_curve,
    curve_columns,
    parse_budgets,
)
from scenarios.runner import run_scenario
from scenarios.spec import load_scenario

TINY = Path(__file__).parent / "data" / "tiny" / "scenario.toml"
TYPES = ("park", "canteen", "childcare")
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def tiny_curve() -> BudgetCurve:
    return budget_curve(TINY, [3e6, 0, 1e6, 2e6, 5e6, 2e6], time_limit_s=20)


def test_points_ascending_with_documented_columns(tiny_curve: BudgetCurve) -> None:
    points = tiny_curve.points
    assert tiny_curve.scenario == "tiny"
    assert tiny_curve.types == TYPES
    assert list(points.columns) == curve_columns(TYPES)
    assert points["budget"].tolist() == [0, 1e6, 2e6, 3e6, 5e6]  # sorted, duplicate dropped
    assert (points["plan_from_budget"] == points["budget"]).all()
    assert not tiny_curve.stopped_early
    assert len(tiny_curve.plans) == len(points)


def test_objective_non_decreasing_and_within_budget(tiny_curve: BudgetCurve) -> None:
    points = tiny_curve.points
    assert (points["status"] == "optimal").all()
    assert np.all(np.diff(points["objective"]) >= -1e-9)
    assert (points["total_cost"] <= points["budget"] + 1e-6).all()
    # Nothing built at budget 0: the objective is the existing-coverage constant.
    first = points.iloc[0]
    assert first["total_cost"] == 0
    assert first["weighted_gain"] == pytest.approx(0.0)
    assert first["newly_covered_total"] == pytest.approx(0.0)
    constant = first["objective"]
    assert np.allclose(points["weighted_gain"], points["objective"] - constant)


def test_each_point_equals_an_independent_solve(tiny_curve: BudgetCurve) -> None:
    spec = load_scenario(TINY)
    for row in tiny_curve.points.itertuples():
        alone = run_scenario(replace(spec, budget=row.budget), time_limit_s=20).plan
        assert alone.status == SolveStatus.OPTIMAL
        assert row.status == "optimal"
        assert row.objective == pytest.approx(alone.objective, rel=1e-9)
        assert row.bound >= row.objective - 1e-9


def test_per_type_columns_match_the_plan(tiny_curve: BudgetCurve) -> None:
    for plan, row in zip(tiny_curve.plans, tiny_curve.points.itertuples(), strict=True):
        table = plan.coverage_by_type().set_index("type")
        for name in TYPES:
            assert getattr(row, f"covered_{name}") == pytest.approx(table.loc[name, "covered"])
            assert getattr(row, f"new_sites_{name}") == table.loc[name, "new_sites"]
        assert row.newly_covered_total == pytest.approx(table["newly_covered"].sum())
        assert row.total_cost == pytest.approx(plan.total_cost)


def test_marginal_cost_hand_checked() -> None:
    rows = [
        {"newly_covered_total": 1000.0, "total_cost": 2_000_000.0},
        {"newly_covered_total": 1400.0, "total_cost": 2_900_000.0},  # 900,000 / 400
        {"newly_covered_total": 1400.0, "total_cost": 3_500_000.0},  # no gain
        {"newly_covered_total": 1300.0, "total_cost": 3_900_000.0},  # fewer people
        {"newly_covered_total": float("nan"), "total_cost": float("nan")},  # no plan
    ]
    done = []
    for row in rows:
        done.append({**row, "marginal_cost_per_resident": float("nan")})
        curve_module._add_marginal(done)
    marginal = [r["marginal_cost_per_resident"] for r in done]
    assert math.isnan(marginal[0])
    assert marginal[1] == pytest.approx(2250.0)
    assert all(math.isnan(m) for m in marginal[2:])


def test_marginal_cost_column_on_the_curve(tiny_curve: BudgetCurve) -> None:
    points = tiny_curve.points
    spent = points["total_cost"].diff()
    gained = points["newly_covered_total"].diff()
    expected = (spent / gained).where(gained > 0)
    assert math.isnan(points["marginal_cost_per_resident"].iloc[0])
    pd.testing.assert_series_equal(points["marginal_cost_per_resident"], expected,
                                   check_names=False)


def test_worse_plan_at_a_limit_keeps_the_previous_plan(monkeypatch) -> None:
    """A solve stopping below the previous point's objective reports the previous plan."""
    real_solve = sweep_module.solve_point

    def fake_solve(shared, budget, settings, start=None):
        plan = real_solve(shared, budget, settings, start)
        if budget == 2e6:  # pretend a limit stopped it with the 0-budget plan
            worse = real_solve(shared, 0.0, settings)
            return replace(worse, instance=plan.instance, status=SolveStatus.FEASIBLE,
                           bound=plan.bound, gap=None)
        return plan

    monkeypatch.setattr(sweep_module, "solve_point", fake_solve)
    curve = budget_curve(TINY, [1e6, 2e6, 3e6], time_limit_s=20)
    points = curve.points.set_index("budget")
    assert points.loc[2e6, "plan_from_budget"] == 1e6
    assert points.loc[2e6, "objective"] == points.loc[1e6, "objective"]
    assert points.loc[2e6, "status"] == "feasible"
    assert points.loc[2e6, "gap"] > 0
    assert math.isnan(points.loc[2e6, "marginal_cost_per_resident"])
    assert curve.plans[1] is curve.plans[0]
    assert points.loc[3e6, "plan_from_budget"] == 3e6
    assert np.all(np.diff(curve.points["objective"]) >= 0)


def test_progress_and_should_stop() -> None:
    seen: list[CurvePoint] = []
    curve = budget_curve(TINY, [0, 1e6, 2e6, 3e6], time_limit_s=20, progress=seen.append,
                         should_stop=lambda: len(seen) >= 2)
    assert curve.stopped_early
    assert curve.points["budget"].tolist() == [0, 1e6]
    assert [p.index for p in seen] == [0, 1]
    assert seen[1].count == 4
    assert seen[1].budget == 1e6
    assert "park" in seen[1].describe()


def test_sample_city_three_budgets(tmp_path: Path) -> None:
    curve = budget_curve("yuzhong-baseline", [10e6, 30e6, 60e6], time_limit_s=20)
    points = curve.points
    assert len(points) == 3
    assert points["objective"].notna().all()
    assert np.all(np.diff(points["objective"]) >= 0)
    assert np.all(np.diff(points["newly_covered_total"]) > 0)
    assert (points["marginal_cost_per_resident"].iloc[1:] > 0).all()
    png = curve.plot(tmp_path / "yuzhong.png", lang="zh")
    assert png.stat().st_size > 10_000


@pytest.mark.parametrize(("text", "expected"), [
    ("5e6:100e6:20", list(np.linspace(5e6, 100e6, 20))),
    ("0:3e6:4", [0.0, 1e6, 2e6, 3e6]),
    ("5e6, 10e6,30000000", [5e6, 10e6, 30e6]),
    ("30_000_000", [30e6]),
])
def test_parse_budgets_good(text: str, expected: list[float]) -> None:
    assert parse_budgets(text) == pytest.approx(expected)


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "empty"),
    ("abc", "'abc' is not a number"),
    ("5e6:abc:3", "'abc' is not a number"),
    ("5e6:1e6:3", "not above start"),
    ("1e6:5e6", "2 parts"),
    ("1e6:5e6:1", "whole number >= 2"),
    ("1e6:5e6:2.5", "whole number >= 2"),
    ("1e6,,2e6", "'' is not a number"),
    ("-5e6,1e6", "negative"),
    ("inf", "not finite"),
])
def test_parse_budgets_bad(text: str, fragment: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_budgets(text)
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message
    assert "start:stop:count" in message


def test_refuses_scenarios_the_budget_does_not_limit() -> None:
    with pytest.raises(InputError, match="coverage objective"):
        budget_curve("yuzhong-least-cost", [1e6])
    with pytest.raises(InputError, match="phasing"):
        budget_curve("yuzhong-phasing", [1e6])
    with pytest.raises(InputError, match="no budgets"):
        budget_curve(TINY, [])
    with pytest.raises(InputError, match="finite"):
        budget_curve(TINY, [float("nan")])


def test_cli_sweep_writes_curve(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sweep"
    code = main(["sweep", str(TINY), "--budgets", "1e6:3e6:3", "--out", str(out),
                 "--time-limit", "20"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    table = pd.read_csv(out / "curve.csv")
    documented = ["budget", "status", "objective", "bound", "gap", "total_cost",
                  *[f"{what}_{t}" for what in ("covered", "newly_covered", "coverage_pct",
                                               "new_sites") for t in TYPES],
                  "newly_covered_total", "weighted_gain", "marginal_cost_per_resident",
                  "runtime_s", "plan_from_budget"]
    assert list(table.columns) == documented
    readme = README.read_text(encoding="utf-8")
    for column in ("newly_covered_total", "weighted_gain", "marginal_cost_per_resident",
                   "plan_from_budget", "coverage_pct_<type>", "lifecircle sweep"):
        assert column in readme
    assert table["budget"].tolist() == [1e6, 2e6, 3e6]
    assert (table["status"] == "optimal").all()
    png = (out / "curve.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    lines = [line for line in captured.out.splitlines() if "M CNY" in line]
    assert len(lines) == 3


def test_cli_sweep_bad_budgets(tmp_path: Path, capsys) -> None:
    code = main(["sweep", str(TINY), "--budgets", "5e6:oops:3", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith("error: budgets '5e6:oops:3'")
    assert len(captured.err.strip().splitlines()) == 1
    assert not (tmp_path / "curve.csv").exists()


def test_plot_in_chinese(tiny_curve: BudgetCurve, tmp_path: Path) -> None:
    # Warnings are errors in this suite: a missing CJK glyph would fail the test.
    path = tiny_curve.plot(tmp_path / "zh" / "curve.png", lang="zh")
    assert path.read_bytes().startswith(b"\x89PNG")
    assert path.stat().st_size > 10_000
    assert curve_module._type_label("park", "口袋公园 pocket park", "zh") == "口袋公园"
    assert curve_module._type_label("park", "park", "zh") == "口袋公园"
    assert curve_module._type_label("store", "store", "zh") == "store"
    from matplotlib import font_manager

    if any(f.name == "Noto Sans CJK SC" for f in font_manager.fontManager.ttflist):
        assert curve_module._cjk_family() == "Noto Sans CJK SC"
    with pytest.raises(InputError, match="lang"):
        tiny_curve.plot(tmp_path / "x.png", lang="fr")  # type: ignore[arg-type]
