"""Comparison of scenarios (scenarios.compare): KPI deltas, site changes, per-type table."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from optimizer.errors import InputError
from optimizer.solvers import SolveStatus
from scenarios import ScenarioResult, load_scenario, run_scenario
from scenarios.compare import Comparison, compare_results

TINY = Path(__file__).parent / "data" / "tiny" / "scenario.toml"


@pytest.fixture(scope="module")
def tiny_pair() -> tuple[ScenarioResult, ScenarioResult]:
    """The tiny scenario and the same with a third of the budget."""
    spec = load_scenario(TINY)
    return (run_scenario(spec, time_limit_s=10),
            run_scenario(dataclasses.replace(spec, budget=1_000_000.0), time_limit_s=10))


@pytest.fixture(scope="module")
def yuzhong() -> tuple[ScenarioResult, ScenarioResult]:
    """The sample city at 30 M and at 60 M CNY."""
    return (run_scenario("yuzhong-baseline", time_limit_s=10),
            run_scenario("yuzhong-budget-60m", time_limit_s=10))


def _kpi(comparison: Comparison, key: str, column: str) -> object:
    table = comparison.kpis.set_index("kpi")
    return table.loc[key, column]


def _check_deltas(comparison: Comparison, base: ScenarioResult, other: ScenarioResult,
                  name: str) -> None:
    before = base.plan.coverage_by_type().set_index("type")
    after = other.plan.coverage_by_type().set_index("type")
    for t in base.instance.type_names:
        for column in ("covered", "newly_covered", "coverage_pct", "new_sites"):
            expected = after.loc[t, column] - before.loc[t, column]
            assert _kpi(comparison, f"{column}.{t}", f"delta_{name}") == pytest.approx(expected)
            assert _kpi(comparison, f"{column}.{t}", name) == pytest.approx(after.loc[t, column])
    assert _kpi(comparison, "objective", f"delta_{name}") == pytest.approx(
        other.plan.objective - base.plan.objective)
    assert _kpi(comparison, "total_cost", f"delta_{name}") == pytest.approx(
        other.plan.total_cost - base.plan.total_cost)
    assert _kpi(comparison, "budget", f"delta_{name}") == pytest.approx(
        other.instance.budget - base.instance.budget)


def test_kpi_table_and_deltas(tiny_pair: tuple[ScenarioResult, ScenarioResult]) -> None:
    base, small = tiny_pair
    comparison = compare_results([base, small], names=["full", "third"])
    assert comparison.names == ("full", "third")
    assert comparison.baseline == "full"
    kpis = comparison.kpis
    assert list(kpis.columns) == ["kpi", "unit", "full", "third", "delta_third"]
    assert kpis["kpi"].tolist()[:6] == ["status", "objective", "bound", "gap", "total_cost",
                                        "budget"]
    assert kpis["kpi"].is_unique
    units = dict(zip(kpis["kpi"], kpis["unit"], strict=True))
    assert units["covered.park"] == "people"
    assert units["coverage_pct.canteen"] == "%"
    assert units["total_cost"] == units["budget"] == "CNY"
    assert units["new_sites.childcare"] == "sites"
    assert _kpi(comparison, "status", "third") == "optimal"
    assert math.isnan(_kpi(comparison, "status", "delta_third"))
    _check_deltas(comparison, base, small, "third")
    assert _kpi(comparison, "objective", "delta_third") < 0

    reverse = compare_results([base, small], names=["full", "third"], baseline=1)
    assert list(reverse.kpis.columns) == ["kpi", "unit", "full", "third", "delta_full"]
    _check_deltas(reverse, small, base, "full")


def test_default_names_are_unique(tiny_pair: tuple[ScenarioResult, ScenarioResult]) -> None:
    comparison = compare_results(tiny_pair)
    assert comparison.names == ("tiny", "tiny (2)")
    assert "delta_tiny (2)" in comparison.kpis.columns


def test_per_type_long_table(tiny_pair: tuple[ScenarioResult, ScenarioResult]) -> None:
    base, small = tiny_pair
    comparison = compare_results([base, small], names=["full", "third"])
    table = comparison.per_type
    types = list(base.instance.type_names)
    assert len(table) == len(types) * 2
    assert table["type"].tolist() == [t for t in types for _ in range(2)]
    assert table["scenario"].tolist() == ["full", "third"] * len(types)
    for name, result in (("full", base), ("third", small)):
        expected = result.plan.coverage_by_type().set_index("type")
        rows = table[table["scenario"] == name].set_index("type")
        for column in ("population", "covered", "newly_covered", "coverage_pct", "new_sites",
                       "cost"):
            np.testing.assert_allclose(rows.loc[types, column], expected.loc[types, column])
        assert (rows["status"] == "optimal").all()


def test_site_changes_on_a_hand_made_case() -> None:
    """Baseline: S10 park, S04 canteen, S06 canteen forced, S00 excluded. Variant: S10
    excluded, S04 and S00 forced to childcare, S06 forced to canteen again."""
    spec = load_scenario(TINY)
    base = run_scenario(dataclasses.replace(
        spec, force_open={"S10": "park", "S04": "canteen", "S06": "canteen"},
        exclude=("S00",)), time_limit_s=10)
    variant = run_scenario(dataclasses.replace(
        spec, force_open={"S04": "childcare", "S00": "childcare", "S06": "canteen"},
        exclude=("S10",)), time_limit_s=10)
    comparison = compare_results([base, variant], names=["base", "variant"])
    changes = comparison.site_changes.set_index("site_id")
    assert list(comparison.site_changes.columns) == ["site_id", "base", "variant",
                                                     "change_variant", "change"]
    assert (changes.loc["S10", ["base", "variant", "change"]].tolist()
            == ["park", "", "dropped"])
    assert (changes.loc["S04", ["base", "variant", "change"]].tolist()
            == ["canteen", "childcare", "changed_type"])
    assert (changes.loc["S00", ["base", "variant", "change"]].tolist()
            == ["", "childcare", "added"])
    assert (changes.loc["S06", ["base", "variant", "change"]].tolist()
            == ["canteen", "canteen", "same"])
    assert (changes["change"] == changes["change_variant"]).all()
    # every other row agrees with the two plans' chosen sites
    chosen = {name: dict(zip(r.plan.chosen_sites()["site_id"], r.plan.chosen_sites()["type"],
                             strict=True))
              for name, r in (("base", base), ("variant", variant))}
    assert set(changes.index) == set(chosen["base"]) | set(chosen["variant"])
    for site, row in changes.iterrows():
        before, after = chosen["base"].get(site, ""), chosen["variant"].get(site, "")
        assert (row["base"], row["variant"]) == (before, after)
        expected = ("same" if before == after else "added" if not before
                    else "dropped" if not after else "changed_type")
        assert row["change"] == expected


def test_three_scenarios_mixed_change(tiny_pair: tuple[ScenarioResult, ScenarioResult]) -> None:
    base, small = tiny_pair
    comparison = compare_results([base, small, base], names=["a", "b", "c"])
    changes = comparison.site_changes
    assert {"change_b", "change_c", "change"} <= set(changes.columns)
    assert (changes["change_c"] == "same").all()
    for row in changes.itertuples():
        assert row.change == ("same" if row.change_b == "same" else "mixed")


def test_unsolved_results_have_nan_outcomes(
        tiny_pair: tuple[ScenarioResult, ScenarioResult]) -> None:
    base, _ = tiny_pair
    spec = dataclasses.replace(load_scenario(TINY), budget=100_000.0,
                               force_open={"S04": "childcare"})
    infeasible = run_scenario(spec, time_limit_s=10)
    assert infeasible.plan.status == SolveStatus.INFEASIBLE
    comparison = compare_results([base, infeasible], names=["base", "broke"])
    assert _kpi(comparison, "status", "broke") == "infeasible"
    for key in ("objective", "total_cost", "covered.park", "new_sites.park", "gap"):
        assert math.isnan(_kpi(comparison, key, "broke"))
        assert math.isnan(_kpi(comparison, key, "delta_broke"))
    assert _kpi(comparison, "budget", "broke") == pytest.approx(100_000)
    assert _kpi(comparison, "population.park", "delta_broke") == pytest.approx(0)
    assert (comparison.site_changes["change"] == "unsolved").all()
    rows = comparison.per_type[comparison.per_type["scenario"] == "broke"]
    assert (rows["status"] == "infeasible").all()
    assert rows["covered"].isna().all() and rows["population"].notna().all()


def test_mismatching_types_raise_input_error(
        tiny_pair: tuple[ScenarioResult, ScenarioResult]) -> None:
    base, _ = tiny_pair
    spec = load_scenario(TINY)
    renamed = dataclasses.replace(spec, types=(  # existing.csv has no childcare
        *spec.types[:2], dataclasses.replace(spec.types[2], name="nursery")))
    other = run_scenario(renamed, time_limit_s=10)
    with pytest.raises(InputError) as error:
        compare_results([base, other], names=["base", "renamed"])
    message = str(error.value)
    assert "\n" not in message
    assert "different facility types" in message
    assert "nursery" in message and "'renamed'" in message
    fewer = run_scenario(dataclasses.replace(spec, types=spec.types[:2]), time_limit_s=10)
    with pytest.raises(InputError, match="different facility types"):
        compare_results([base, fewer])


def test_bad_arguments_raise_input_error(
        tiny_pair: tuple[ScenarioResult, ScenarioResult]) -> None:
    with pytest.raises(InputError, match="no scenarios"):
        compare_results([])
    with pytest.raises(InputError, match="baseline 2"):
        compare_results(tiny_pair, baseline=2)
    with pytest.raises(InputError, match="3 names given for 2"):
        compare_results(tiny_pair, names=["a", "b", "c"])
    with pytest.raises(InputError, match="unique"):
        compare_results(tiny_pair, names=["a", "a"])
    with pytest.raises(InputError, match="unique"):
        compare_results(tiny_pair, names=["kpi", "b"])


def test_sample_city_budget_doubled(yuzhong: tuple[ScenarioResult, ScenarioResult]) -> None:
    base, double = yuzhong
    assert base.plan.has_solution and double.plan.has_solution
    comparison = compare_results([base, double])
    name = "yuzhong-budget-60m"
    assert comparison.names == ("yuzhong-baseline", name)
    _check_deltas(comparison, base, double, name)
    assert _kpi(comparison, "budget", f"delta_{name}") == pytest.approx(30_000_000)
    changes = comparison.site_changes
    for scenario, result in zip(comparison.names, yuzhong, strict=True):
        assert (changes[scenario] != "").sum() == len(result.plan.site_index)
        counts = changes[scenario][changes[scenario] != ""].value_counts()
        by_type = result.plan.coverage_by_type().set_index("type")["new_sites"]
        assert counts.reindex(by_type.index, fill_value=0).tolist() == by_type.tolist()
    tally = changes["change"].value_counts()
    assert (tally.get("added", 0) - tally.get("dropped", 0)
            == len(double.plan.site_index) - len(base.plan.site_index))
    assert set(tally.index) <= {"added", "dropped", "changed_type", "same"}
    per_type = comparison.per_type
    assert len(per_type) == 2 * base.instance.n_types
    assert set(per_type["scenario"]) == set(comparison.names)
    # twice the budget cannot do worse (both solved to the default gap)
    assert _kpi(comparison, "objective", name) >= 0.999 * _kpi(comparison, "objective",
                                                               "yuzhong-baseline")
