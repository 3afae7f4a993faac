"""Smoke test of the benchmark runner (``python -m benchmarks.run --quick``) on its
smallest cases: every method produces a row and lifecircle hits the published optima."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from benchmarks.methods import DEFAULT_METHODS
from benchmarks.run import main

SMALLEST = ["swain55-S10-p5", "sjc324-S800-p3"]
OPTIMA = {"swain55-S10-p5": 609.0, "sjc324-S800-p3": 11604.0}


def test_quick_benchmark_smallest_cases(tmp_path: Path, capsys) -> None:
    code = main(["--quick", "--only", *SMALLEST, "--in-process", "--time-limit", "3",
                 "--out", str(tmp_path)])
    assert code == 0
    table = capsys.readouterr().out
    assert table.startswith("| instance | method |")
    with open(tmp_path / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert (tmp_path / "results.md").exists() and (tmp_path / "machine.json").exists()
    by_key = {(r["instance"], r["method"]): r for r in rows}
    for name in SMALLEST:
        for method in DEFAULT_METHODS:
            row = by_key[(name, method)]
            assert row["status"] in ("optimal", "feasible"), row
            assert float(row["objective"]) > 0
            assert f"| {name} | {method} |" in table
        lifecircle = by_key[(name, "lifecircle")]
        assert lifecircle["status"] == "optimal"
        assert float(lifecircle["objective"]) == pytest.approx(OPTIMA[name])
        assert float(lifecircle["obj_vs_target"]) == pytest.approx(1.0)
        assert float(lifecircle["time_vs_lifecircle"]) == pytest.approx(1.0)
