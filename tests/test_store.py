"""Run folders reload to the same result; the store is keyed by content and atomic."""

from __future__ import annotations

import shutil
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optimizer.errors import InputError
from scenarios import load_scenario, run_scenario
from scenarios.library import shipped_scenarios
from scenarios.spec import parse_scenario, scenario_toml
from scenarios.store import ResultStore, content_key, load_run

TINY = Path(__file__).parent / "data" / "tiny" / "scenario.toml"


def _same_result(a, b, *, same_run: bool = True) -> None:
    """``a`` and ``b`` hold the same plan; when they come from the same run (a stored
    result and its reload) also the same progress trace (two solves log their own)."""
    assert a.plan.status == b.plan.status
    assert a.plan.objective == pytest.approx(b.plan.objective)
    assert a.plan.bound == pytest.approx(b.plan.bound)
    pd.testing.assert_frame_equal(a.plan.chosen_sites(), b.plan.chosen_sites(),
                                  check_dtype=False)
    pd.testing.assert_frame_equal(a.plan.coverage_by_type(), b.plan.coverage_by_type())
    pd.testing.assert_frame_equal(a.plan.unit_coverage(), b.plan.unit_coverage(),
                                  check_dtype=False)
    assert a.summary()["covered"] == b.summary()["covered"]
    if same_run:
        assert len(a.plan.report.progress) == len(b.plan.report.progress)


@pytest.mark.parametrize("name", sorted(shipped_scenarios()))
def test_every_shipped_scenario_round_trips_through_toml(name):
    path = shipped_scenarios()[name]
    spec = load_scenario(path)
    for relative_to in (path.parent, None):
        text = scenario_toml(spec, relative_to=relative_to)
        back = parse_scenario(tomllib.loads(text), base=path.parent, label=path.name)
        assert replace(back, path=spec.path) == spec


@pytest.mark.parametrize("name", ["yuzhong-capacity", "yuzhong-phasing",
                                  "yuzhong-complete-circle"])
def test_policy_runs_reload_identically(tmp_path, name):
    result = run_scenario(name, time_limit_s=5)
    store = ResultStore(tmp_path)
    folder = store.put(result)
    _same_result(result, load_run(folder))
    if name == "yuzhong-capacity":
        sites = result.plan.chosen_sites()
        assert "served" in sites.columns


def test_store_finds_a_result_by_content_and_not_after_an_edit(tmp_path):
    spec = load_scenario(TINY)
    store = ResultStore(tmp_path / "store")
    assert store.get(spec) is None
    result = run_scenario(spec)
    store.put(result)
    # solver settings are part of the key
    assert store.get(replace(spec, solver=replace(spec.solver, time_limit_s=10))) is None
    again = store.get(load_scenario(TINY))
    assert again is not None
    _same_result(result, again)
    assert store.get(replace(spec, budget=spec.budget + 1)) is None
    # the same data copied elsewhere has the same key; edited data does not
    copy = tmp_path / "copy"
    shutil.copytree(TINY.parent, copy)
    assert content_key(load_scenario(copy / "scenario.toml")) == content_key(spec)
    demand = copy / "demand.csv"
    demand.write_text(demand.read_text().replace("\n", "\n", 1) + "\n", encoding="utf-8")
    frame = pd.read_csv(demand)
    frame.loc[0, frame.columns[-1]] += 1
    frame.to_csv(demand, index=False)
    assert content_key(load_scenario(copy / "scenario.toml")) != content_key(spec)
    # no staging folders are left behind
    assert [p.name for p in (tmp_path / "store").iterdir()] == [content_key(spec)]


def test_load_run_reports_missing_files(tmp_path):
    with pytest.raises(InputError, match=r"summary\.json"):
        load_run(tmp_path)


def test_a_cli_run_folder_reloads(tmp_path):
    from scenarios.cli import main

    assert main(["solve", str(TINY), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    loaded = load_run(tmp_path / "run")
    assert loaded.plan.status == "optimal"
    assert np.isfinite(loaded.plan.objective)
    fresh = run_scenario(TINY)
    _same_result(fresh, loaded, same_run=False)
    progress = pd.read_csv(tmp_path / "run" / "progress.csv")
    assert len(loaded.plan.report.progress) == len(progress) > 0
