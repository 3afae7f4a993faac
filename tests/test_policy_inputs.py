"""The ``[policy]`` section and the policy type keys in scenario files: each bad input gets
its own one-line message, and every switch runs end to end into the output files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scenario_edits import edit_csv, edit_toml, messages

from optimizer.errors import InputError
from scenarios.loader import build_instance
from scenarios.runner import run_scenario, write_outputs
from scenarios.spec import POLICY_KEYS, load_scenario

DEMAND_COLUMNS = "id, x, y, pop_total, pop_60plus, pop_0_3"
SITES_COLUMNS = "id, x, y, kind, cost_park, cost_canteen, cost_childcare"








def _policy(tiny_dir: Path, body: str) -> Path:
    """Append a ``[policy]`` section (the tiny scenario ends with its last type)."""
    path = tiny_dir / "scenario.toml"
    path.write_text(path.read_text() + "\n[policy]\n" + body.strip() + "\n")
    return path


def _type_keys(tiny_dir: Path, type_name: str, body: str) -> Path:
    """Add keys to ``[types.NAME]`` (right after its ``cost`` line)."""
    cost = f'cost = "cost_{type_name}"'
    return edit_toml(tiny_dir, cost, cost + "\n" + body.strip())


def _add_columns(tiny_dir: Path) -> None:
    """community (demand), street, seats and places (sites) for the policy switches."""
    def communities(frame: pd.DataFrame) -> None:
        x = frame["x"].astype(float)
        frame["community"] = np.where(x < 500, "C1", np.where(x < 1000, "C2", "C3"))

    def streets(frame: pd.DataFrame) -> None:
        x = frame["x"].astype(float)
        frame["street"] = np.where(x < 750, "West", "East")
        frame["seats"] = np.where(frame["cost_canteen"] != "", "40", "")
        frame["places"] = np.where(frame["cost_childcare"] != "", "6", "")

    edit_csv(tiny_dir / "demand.csv", communities)
    edit_csv(tiny_dir / "sites.csv", streets)


# ----------------------------------------------------------------------- [policy] keys


def test_unknown_policy_key(tiny_dir: Path) -> None:
    path = _policy(tiny_dir, "floor_share = 0.5\ngroup_by = \"community\"")
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert [str(p) for p in caught.value.problems] == [
        f"scenario.toml: unknown keys in [policy]: floor_share "
        f"(allowed: {', '.join(sorted(POLICY_KEYS))})"
    ]


def test_floors_without_group_by(tiny_dir: Path) -> None:
    path = _policy(tiny_dir, "floors = { park = 0.4 }")
    assert messages(path) == [
        "scenario.toml: policy.floors needs 'group_by' (a demand column such as community_id)"
    ]


@pytest.mark.parametrize("body, message", [
    ('group_by = "community"\nfloors = { library = 0.4 }',
     "scenario.toml: policy.floors: unknown type 'library'"),
    ("targets = { library = 0.4, park = 0.2 }",
     "scenario.toml: policy.targets: unknown type 'library'"),
    ('complete_circle = { types = ["park", "library"], weight = 1, population = "pop_total" }',
     "scenario.toml: policy.complete_circle: unknown type 'library'"),
], ids=["floors", "targets", "complete_circle"])
def test_unknown_type_in_policy(tiny_dir: Path, body: str, message: str) -> None:
    _add_columns(tiny_dir)
    assert messages(_policy(tiny_dir, body)) == [message]


@pytest.mark.parametrize("body, message", [
    ('group_by = "community"\nfloors = { park = 1.5 }',
     "scenario.toml: 'policy.floors.park' is a share: at most 1, got 1.5"),
    ("targets = { canteen = 2 }",
     "scenario.toml: 'policy.targets.canteen' is a share: at most 1, got 2.0"),
    ("targets = { canteen = -0.1 }",
     "scenario.toml: 'policy.targets.canteen' must be >= 0, got -0.1"),
    ('targets = { canteen = "most" }',
     "scenario.toml: 'policy.targets.canteen' must be a number, got 'most'"),
], ids=["floor_over_1", "target_over_1", "negative", "text"])
def test_share_out_of_range(tiny_dir: Path, body: str, message: str) -> None:
    _add_columns(tiny_dir)
    assert messages(_policy(tiny_dir, body)) == [message]


def test_share_of_exactly_one_is_accepted(tiny_dir: Path) -> None:
    _add_columns(tiny_dir)
    spec = load_scenario(_policy(tiny_dir, 'group_by = "community"\nfloors = { park = 1 }'))
    assert spec.policy.floors == {"park": 1.0}


@pytest.mark.parametrize("body, message", [
    ('objective = "cheapest"',
     "scenario.toml: 'policy.objective' must be coverage or min_cost, got 'cheapest'"),
    ('floor_mode = "strict"',
     "scenario.toml: 'policy.floor_mode' must be hard or soft, got 'strict'"),
    ("floor_penalty = -1", "scenario.toml: 'policy.floor_penalty' must be >= 0, got -1"),
    ('floors = ["park"]\ngroup_by = "community"',
     "scenario.toml: 'policy.floors' must map type names to shares"),
    ('complete_circle = { weight = 1, population = "pop_total" }',
     "scenario.toml: 'policy.complete_circle' needs types = [...], weight and population"),
    ('complete_circle = { types = ["park", "canteen"], weight = 1 }',
     "scenario.toml: 'policy.complete_circle.population' must be a demand column"),
    ('area_budgets = { budgets = { West = 1000000 } }',
     "scenario.toml: 'policy.area_budgets' needs column = \"...\" and budgets = {...}"),
    ('area_budgets = { column = "street", budgets = { West = "lots" } }',
     "scenario.toml: 'policy.area_budgets.budgets.West' must be a number, got 'lots'"),
], ids=["objective", "floor_mode", "penalty", "floors_list", "circle_types",
        "circle_population", "area_column", "area_amount"])
def test_malformed_policy_values(tiny_dir: Path, body: str, message: str) -> None:
    _add_columns(tiny_dir)
    assert messages(_policy(tiny_dir, body)) == [message]


def test_group_by_column_missing_from_demand(tiny_dir: Path) -> None:
    path = _policy(tiny_dir, 'group_by = "community"\nfloors = { park = 0.4 }')
    assert messages(path) == [
        f"demand.csv, column 'community': missing column (the file has: {DEMAND_COLUMNS})"
    ]


def test_blank_group(tiny_dir: Path) -> None:
    _add_columns(tiny_dir)
    edit_csv(tiny_dir / "demand.csv", lambda f: f.__setitem__(
        "community", f["community"].where(f.index != 2, "")))
    path = _policy(tiny_dir, 'group_by = "community"\nfloors = { park = 0.4 }')
    assert messages(path) == ["demand.csv, row 3, column 'community': blank group"]


def test_circle_population_column_missing(tiny_dir: Path) -> None:
    path = _policy(tiny_dir, 'complete_circle = { types = ["park", "canteen"], weight = 1, '
                             'population = "residents" }')
    assert messages(path) == [
        f"demand.csv, column 'residents': missing column (the file has: {DEMAND_COLUMNS})"
    ]


def test_area_budget_for_an_area_no_site_has(tiny_dir: Path) -> None:
    _add_columns(tiny_dir)
    path = _policy(tiny_dir, 'area_budgets = { column = "street", budgets = '
                             '{ West = 1000000, North = 500000 } }')
    assert messages(path) == [
        "sites.csv, column 'street': policy.area_budgets: no site has street = 'North'"
    ]


def test_area_budget_column_missing(tiny_dir: Path) -> None:
    path = _policy(tiny_dir, 'area_budgets = { column = "street", budgets = { West = 1 } }')
    assert messages(path) == [
        f"sites.csv, column 'street': missing column (the file has: {SITES_COLUMNS})"
    ]


def test_sites_outside_every_area_only_count_against_the_total(tiny_dir: Path) -> None:
    _add_columns(tiny_dir)
    path = _policy(tiny_dir, 'area_budgets = { column = "street", budgets = { West = 1e6 } }')
    instance = build_instance(load_scenario(path))
    east = (pd.read_csv(tiny_dir / "sites.csv")["street"] == "East").to_numpy()
    assert instance.policy.site_area.tolist() == np.where(east, -1, 0).tolist()
    assert f"{int(east.sum())} sites lie in areas without an area budget (only the total " \
           f"budget applies to them)" in instance.notes


# ------------------------------------------------------------------ type policy keys


def test_capacity_column_missing(tiny_dir: Path) -> None:
    path = _type_keys(tiny_dir, "canteen", 'capacity = "seats"')
    assert messages(path) == [
        f"sites.csv, column 'seats': missing column (the file has: {SITES_COLUMNS})"
    ]


def test_blank_capacity_for_a_site_that_can_take_the_type(tiny_dir: Path) -> None:
    _add_columns(tiny_dir)
    # S01 (row 2) can become a canteen; S02 (row 3) cannot, so its blank seats are fine.
    edit_csv(tiny_dir / "sites.csv", lambda f: f.__setitem__(
        "seats", f["seats"].where(~f.index.isin([1, 2]), "")))
    path = _type_keys(tiny_dir, "canteen", 'capacity = "seats"')
    assert messages(path) == [
        "sites.csv, row 2, column 'seats': site can become 'canteen' but its capacity is blank"
    ]


def test_capacity_not_a_number(tiny_dir: Path) -> None:
    _add_columns(tiny_dir)
    edit_csv(tiny_dir / "sites.csv", lambda f: f.__setitem__(
        "seats", f["seats"].where(f.index != 3, "many")))
    path = _type_keys(tiny_dir, "canteen", 'capacity = "seats"')
    assert "sites.csv, row 4, column 'seats': value 'many' is not a number" in messages(path)


def test_capacity_factor_scales_the_column(tiny_dir: Path) -> None:
    _add_columns(tiny_dir)
    path = _type_keys(tiny_dir, "canteen", 'capacity = "seats"\ncapacity_factor = 2.5')
    instance = build_instance(load_scenario(path))
    capacity = instance.policy.site_capacity
    canteen = np.isfinite(instance.site_cost[:, 1])
    assert capacity.shape == instance.site_cost.shape
    assert (capacity[canteen, 1] == 100.0).all()
    assert np.isnan(capacity[~canteen, 1]).all()
    assert np.isnan(capacity[:, [0, 2]]).all()
    assert instance.policy.capacitated_types() == (1,)


@pytest.mark.parametrize("bands, message", [
    ("[[200, 0.5]]", "scenario.toml: 'types.park.bands' radii must increase beyond the radius"),
    ("[[500, 0.5], [450, 0.25]]",
     "scenario.toml: 'types.park.bands' radii must increase beyond the radius"),
    ("[[500, 0.5], [800, 0.6]]",
     "scenario.toml: 'types.park.bands' credits must decrease, between 0 and 1"),
    ("[[500, 1.0]]", "scenario.toml: 'types.park.bands' credits must decrease, between 0 and 1"),
    ("[[500, 0]]", "scenario.toml: 'types.park.bands' credits must decrease, between 0 and 1"),
    ("[500, 0.5]", "scenario.toml: 'types.park.bands' must be a list of [radius_m, credit] "
                   "pairs"),
], ids=["inside_radius", "not_increasing", "credit_rises", "credit_one", "credit_zero",
        "not_pairs"])
def test_bad_bands(tiny_dir: Path, bands: str, message: str) -> None:
    path = _type_keys(tiny_dir, "park", f"bands = {bands}")
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert [str(p) for p in caught.value.problems] == [message]


def test_bands_with_capacity(tiny_dir: Path) -> None:
    _add_columns(tiny_dir)
    path = _type_keys(tiny_dir, "canteen", 'capacity = "seats"\nbands = [[800, 0.5]]')
    assert messages(path) == [
        "scenario.toml: [types.canteen] cannot combine 'bands' with 'capacity' yet"
    ]


def test_capacity_must_name_a_column(tiny_dir: Path) -> None:
    path = _type_keys(tiny_dir, "canteen", "capacity = 40")
    assert messages(path) == ["scenario.toml: 'types.canteen.capacity' must be a sites "
                               "column name"]


def test_every_problem_reported_together(tiny_dir: Path) -> None:
    path = _type_keys(tiny_dir, "park", "bands = [[200, 0.5]]")
    path = _policy(tiny_dir, 'floors = { park = 1.5, library = 0.2 }\nfloor_mode = "x"')
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert [str(p) for p in caught.value.problems] == [
        "scenario.toml: 'types.park.bands' radii must increase beyond the radius",
        "scenario.toml: 'policy.floors.park' is a share: at most 1, got 1.5",
        "scenario.toml: policy.floors: unknown type 'library'",
        "scenario.toml: 'policy.floor_mode' must be hard or soft, got 'x'",
    ]


# ------------------------------------------------------------------------ end to end


SWITCHES = {
    "floors_soft": ("", 'group_by = "community"\nfloors = { park = 0.5, canteen = 0.7 }\n'
                        'floor_mode = "soft"\nfloor_penalty = 2'),
    "floors_hard": ("", 'group_by = "community"\nfloors = { canteen = 0.3 }'),
    "targets": ("", "targets = { park = 0.3, childcare = 0.2 }"),
    "least_cost": ("", 'objective = "min_cost"\ntargets = { park = 0.25, canteen = 0.5 }'),
    "complete_circle": ("", 'complete_circle = { types = ["park", "canteen"], weight = 0.5, '
                            'population = "pop_total" }'),
    "area_budgets": ("", 'area_budgets = { column = "street", budgets = { West = 1000000, '
                         'East = 1500000 } }'),
    "bands": ('[types.park]\nbands = [[450, 0.5], [600, 0.25]]', ""),
    "capacity": ('[types.canteen]\ncapacity = "seats"\ncapacity_factor = 2\n'
                 '[types.childcare]\ncapacity = "places"', ""),
}


def _switch(tiny_dir: Path, name: str) -> Path:
    _add_columns(tiny_dir)
    type_keys, policy = SWITCHES[name]
    path = tiny_dir / "scenario.toml"
    current = None
    for line in type_keys.splitlines():
        if line.startswith("[types."):
            current = line[len("[types."):-1]
        else:
            assert current is not None
            _type_keys(tiny_dir, current, line)
    if name == "least_cost":
        edit_toml(tiny_dir, "budget = 3000000\n", "")
    if policy:
        _policy(tiny_dir, policy)
    return path


@pytest.mark.parametrize("name", list(SWITCHES))
def test_switch_runs_end_to_end(tiny_dir: Path, tmp_path: Path, name: str) -> None:
    path = _switch(tiny_dir, name)
    result = run_scenario(path, time_limit_s=20)
    plan = result.plan
    assert plan.status == "optimal", (plan.report.message, plan.explanation)
    assert not plan.report.warnings
    paths = write_outputs(result, tmp_path / "out")
    summary = json.loads(paths["summary"].read_text())
    for key in ("status", "objective", "bound", "total_cost", "budget", "covered", "served",
                "objective_parts", "explanation", "warnings"):
        assert key in summary, key
    assert set(summary["served"]) == {"park", "canteen", "childcare"}
    for kind, served in summary["served"].items():
        assert served <= summary["covered"][kind] + 1e-6
    parts = summary["objective_parts"]
    sites = pd.read_csv(paths["sites"])
    group_file = tmp_path / "out" / "coverage_by_group.csv"
    assert group_file.exists() == (name.startswith("floors")), name
    capacity_columns = {"capacity", "served", "utilisation_pct"}
    assert capacity_columns <= set(sites.columns) if name == "capacity" else \
        not capacity_columns & set(sites.columns)

    if name.startswith("floors"):
        groups = pd.read_csv(group_file)
        assert list(groups.columns) == ["type", "community", "population", "covered", "served",
                                        "unserved", "coverage_pct", "served_pct"]
        assert sorted(set(groups["community"])) == ["C1", "C2", "C3"]
        assert set(groups["type"]) == {"park", "canteen", "childcare"}
        assert "floor_shortfall" in parts
        canteen = groups[groups["type"] == "canteen"]
        if name == "floors_hard":
            assert parts["floor_shortfall"] == {}
            assert (canteen["covered"] >= 0.3 * canteen["population"] - 1e-6).all()
        else:
            short = sum(parts["floor_shortfall"].values())
            assert summary["objective"] == pytest.approx(parts["coverage"] - 2 * short)
    if name == "targets":
        assert summary["covered"]["park"] >= 0.3 * summary["population"]["park"]
        assert summary["covered"]["childcare"] >= 0.2 * summary["population"]["childcare"]
    if name == "least_cost":
        assert summary["budget"] is None  # no budget: unlimited (inf is not JSON)
        assert summary["objective"] == pytest.approx(summary["total_cost"])
        assert parts == {"cost": pytest.approx(summary["total_cost"])}
        assert summary["bound"] <= summary["objective"] + 1e-6
        assert summary["covered"]["park"] >= 0.25 * summary["population"]["park"]
        assert summary["covered"]["canteen"] >= 0.5 * summary["population"]["canteen"]
    if name == "complete_circle":
        assert parts["complete_circle_population"] >= 0
        assert summary["objective"] == pytest.approx(
            parts["coverage"] + 0.5 * parts["complete_circle_population"])
    if name == "area_budgets":
        street = pd.read_csv(tiny_dir / "sites.csv").set_index("id")["street"]
        spent = sites.groupby(sites["site_id"].map(street))["cost"].sum()
        assert spent.get("West", 0.0) <= 1_000_000
        assert spent.get("East", 0.0) <= 1_500_000
    if name == "bands":
        coverage = pd.read_csv(paths["coverage"])
        park = coverage[coverage["type"] == "park"]
        assert set(np.round(park["credit"], 6)) <= {0.0, 0.25, 0.5, 1.0}
        assert (park.loc[park["covered"], "credit"] == 1.0).all()
        assert summary["objective"] == pytest.approx(parts["coverage"])
    if name == "capacity":
        assert set(sites.loc[sites["type"] == "park", "utilisation_pct"].isna()) <= {True}
        limited = sites[sites["type"] != "park"]
        assert (limited["served"] <= limited["capacity"] + 1e-6).all()
        assert (limited["utilisation_pct"] <= 100 + 1e-6).all()
        assert (limited["utilisation_pct"] > 100 - 1e-6).any(), "no capacity binds"
        assert set(limited.loc[limited["type"] == "canteen", "capacity"]) <= {80.0}
        assert summary["served"]["canteen"] <= summary["covered"]["canteen"]
        assert summary["objective"] == pytest.approx(parts["coverage"])


def test_no_switch_writes_no_policy_files(tiny_dir: Path, tmp_path: Path) -> None:
    result = run_scenario(tiny_dir / "scenario.toml", time_limit_s=20)
    paths = write_outputs(result, tmp_path / "out")
    assert result.instance.policy.is_plain
    assert "coverage_by_group" not in paths
    summary = json.loads(paths["summary"].read_text())
    assert summary["served"] == summary["covered"]
    assert summary["objective_parts"]["floor_shortfall"] == {}
    assert "capacity" not in pd.read_csv(paths["sites"]).columns


def test_infeasible_floor_scenario_writes_its_explanation(tiny_dir: Path,
                                                         tmp_path: Path) -> None:
    path = _switch(tiny_dir, "floors_hard")
    edit_toml(tiny_dir, "floors = { canteen = 0.3 }", "floors = { park = 1.0 }")
    result = run_scenario(path, time_limit_s=20)
    assert result.plan.status == "infeasible"
    paths = write_outputs(result, tmp_path / "out")
    summary = json.loads(paths["summary"].read_text())
    assert summary["status"] == "infeasible"
    assert summary["objective"] is None
    assert summary["explanation"]
    assert all("the floor for 'park' in C" in line and "cannot be met" in line
               for line in summary["explanation"])
    assert pd.read_csv(paths["sites"]).empty


def test_least_cost_without_budget_loads_with_no_budget_limit(tiny_dir: Path) -> None:
    edit_toml(tiny_dir, "budget = 3000000\n", "")
    with pytest.raises(InputError, match="missing required key 'budget'"):
        load_scenario(tiny_dir / "scenario.toml")
    spec = load_scenario(_policy(tiny_dir, 'objective = "min_cost"\ntargets = { park = 0.2 }'))
    assert math.isinf(spec.budget)
    assert build_instance(spec).policy.objective == "min_cost"
