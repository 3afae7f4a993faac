"""Every shipped scenario runs by name from any working directory (short time limits)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scenarios.cli import main
from scenarios.library import DEFAULT_SCENARIO, shipped_scenarios

SHIPPED = sorted(shipped_scenarios())


def test_library_lists_the_sample_city_and_real_data() -> None:
    assert DEFAULT_SCENARIO == "yuzhong-baseline"
    for name in ("yuzhong-baseline", "yuzhong-budget-15m", "yuzhong-budget-60m",
                 "yuzhong-circles-5-10-15", "yuzhong-elderly-first", "yuzhong-euclidean",
                 "wuhan-canteens", "sf-stores", "swain55-s10-p5", "sjc324-s800-p4"):
        assert name in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenario_runs_from_another_directory(name: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["solve", name, "--out", "out", "--time-limit", "4", "--quiet"])
    capsys.readouterr()
    assert code == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] in ("optimal", "feasible")
    if summary["budget"] is not None:  # None: least-cost scenarios have no budget limit
        assert summary["total_cost"] <= summary["budget"] * (1 + 1e-9)
    if name.endswith("least-cost"):
        assert summary["objective"] == pytest.approx(summary["total_cost"])
        assert summary["bound"] <= summary["objective"] * (1 + 1e-9)
    else:
        assert summary["objective"] <= summary["bound"] * (1 + 1e-9)
    for kind, covered in summary["covered"].items():
        assert summary["covered_existing"][kind] <= covered <= summary["population"][kind]


def test_default_demo_uses_walking_distances(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scenarios.cli", "solve", "--out", "demo", "--quiet",
         "--time-limit", "10"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["scenario"] == "yuzhong-baseline"
    assert summary["crs"] == "EPSG:32648"
    assert any("walking distances on streets.graphml" in n for n in summary["notes"])
    assert set(summary["covered"]) == {"park", "canteen", "childcare"}
