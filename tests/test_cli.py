"""The CLI contract: exit codes, outputs, messages (run in-process and as a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from scenarios.cli import main


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_sf_scenario_reproduces_spopt(tmp_path: Path, capsys) -> None:
    code, out, _ = _run(["solve", "sf-stores", "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    for key in ("objective", "status", "bound", "gap", "total_cost", "covered",
                "newly_covered", "runtime_s"):
        assert key in summary
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(875_247)
    assert summary["covered"] == {"store": pytest.approx(875_247)}
    assert summary["gap"] == pytest.approx(0, abs=1e-4)
    sites = pd.read_csv(tmp_path / "sites.csv")
    assert list(sites.columns[:3]) == ["site_id", "type", "cost"]
    assert len(sites) == 4
    coverage = pd.read_csv(tmp_path / "coverage.csv")
    assert len(coverage) == 205
    assert coverage.loc[coverage.covered, "population"].sum() == pytest.approx(875_247)
    assert (coverage.loc[coverage.covered, "distance_m"] <= 5000).all()
    assert "875,247" in out


@pytest.mark.parametrize("solver", ["highs", "cbc", "ortools-scip"])
def test_multitype_scenario_same_optimum_per_backend(tiny_dir: Path, tmp_path: Path, capsys,
                                                     solver: str) -> None:
    out = tmp_path / solver
    code, _, _ = _run(["solve", str(tiny_dir / "scenario.toml"), "--out", str(out),
                       "--solver", solver, "--quiet"], capsys)
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(9070.0)
    assert summary["total_cost"] <= 3_000_000
    assert summary["covered_existing"]["park"] > 0
    assert summary["newly_covered"]["park"] == pytest.approx(
        summary["covered"]["park"] - summary["covered_existing"]["park"])


def test_console_script_runs_from_another_directory(tmp_path: Path) -> None:
    scenario = Path(__file__).parent / "data" / "tiny" / "scenario.toml"
    done = subprocess.run(
        [sys.executable, "-m", "scenarios.cli", "solve", str(scenario), "--out", "res",
         "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "res" / "summary.json").exists()


def test_bad_input_exit_code_two_and_no_traceback(tiny_dir: Path, tmp_path: Path) -> None:
    demand = pd.read_csv(tiny_dir / "demand.csv")
    demand.loc[4, "pop_total"] = -5
    demand.to_csv(tiny_dir / "demand.csv", index=False)
    done = subprocess.run(
        [sys.executable, "-m", "scenarios.cli", "solve", str(tiny_dir / "scenario.toml"),
         "--out", str(tmp_path / "o")],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "error: demand.csv, row 5, column 'pop_total': value '-5' is negative"
    )


def test_infeasible_budget_exit_code_three(tiny_dir: Path, tmp_path: Path, capsys) -> None:
    text = (tiny_dir / "scenario.toml").read_text()
    text = text.replace(
        "budget = 3000000", 'budget = 1000000\nforce_open = { S02 = "park", S03 = "park" }'
    )
    (tiny_dir / "scenario.toml").write_text(text)
    code, _, err = _run(["solve", str(tiny_dir / "scenario.toml"), "--out", str(tmp_path)],
                        capsys)
    assert code == 3
    assert "forced sites cost at least 2,100,000 but the budget is 1,000,000" in err
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "infeasible"


def test_time_limit_flag_keeps_incumbent(tmp_path: Path, capsys) -> None:
    code, _, _ = _run(["solve", "sf-stores", "--out", str(tmp_path), "--time-limit", "0.01",
                       "--quiet"], capsys)
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] in ("optimal", "feasible")
    assert summary["objective"] is not None and summary["bound"] >= summary["objective"]


def test_unknown_scenario_name(capsys) -> None:
    code, _, err = _run(["solve", "no-such-scenario", "--out", "x"], capsys)
    assert code == 2
    assert "no scenario file or shipped scenario called 'no-such-scenario'" in err


def test_validate_and_list(capsys) -> None:
    code, out, _ = _run(["validate", "sf-stores"], capsys)
    assert code == 0 and "205 demand units, 16 sites" in out
    code, out, _ = _run(["validate"], capsys)
    assert code == 0 and "1836 demand units, 565 sites, 44 existing facilities" in out
    code, out, _ = _run(["scenarios"], capsys)
    assert code == 0 and "sf-stores" in out


@pytest.mark.parametrize(
    ("name", "optimum"),
    [("swain55-s10-p5", 609.0), ("sjc324-s800-p4", 12_106.0), ("sf-stores", 875_247.0)],
)
def test_shipped_published_scenarios_reproduce_optima(name: str, optimum: float,
                                                      tmp_path: Path, capsys) -> None:
    code, _, _ = _run(["solve", name, "--out", str(tmp_path), "--quiet", "--gap", "0"], capsys)
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(optimum)
    assert summary["bound"] == pytest.approx(optimum)


def test_real_wuhan_scenario_reports_honest_gap(tmp_path: Path, capsys) -> None:
    code, _, _ = _run(["solve", "wuhan-canteens", "--out", str(tmp_path), "--quiet",
                       "--time-limit", "3"], capsys)
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] in ("optimal", "feasible")
    assert summary["crs"] == "EPSG:4547"
    assert 45_000 < summary["objective"] <= summary["bound"] <= 54_803.0 + 1e-6
    assert summary["gap"] == pytest.approx(
        (summary["bound"] - summary["objective"]) / summary["objective"])
    assert summary["new_sites"] == {"canteen": 20}
