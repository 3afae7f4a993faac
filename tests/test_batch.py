"""``lifecircle batch``: scenario variants on Dask, resumable after a kill (tiny scenario)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from optimizer.errors import InputError
from scenarios.batch import batch_columns, folder_batch, load_batch, run_batch
from scenarios.cli import main
from scenarios.runner import run_scenario
from scenarios.spec import load_scenario
from tests.dask_processes import group_gone, scheduler_and_workers

distributed = pytest.importorskip("distributed")

TYPES = ("park", "canteen", "childcare")


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    """A local Dask cluster of one worker process, on 127.0.0.1 only."""
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1",
                                  scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) \
            as cluster, \
            distributed.Client(cluster, set_as_default=False) as dask_client:
        yield dask_client


def test_grid_gives_the_objectives_of_each_variant_alone(tiny_dir: Path, client) -> None:
    batch_file = _write(tiny_dir.parent, "grid.toml", """
base = "tiny/scenario.toml"
[solver]
time_limit_s = 10
[grid]
budget = [1e6, 2e6, 3e6]
"types.park.radius_m" = [300, 500]
""")
    batch = load_batch(batch_file)
    assert batch.keys == ("budget", "types.park.radius_m")
    assert len(batch.runs) == 6 and all(run.spec is not None for run in batch.runs)
    out = tiny_dir.parent / "out"
    table = run_batch(batch, out, client=client, progress=False)

    assert list(table.columns) == batch_columns(batch.keys, TYPES)
    assert list(table["name"]) == [run.name for run in batch.runs]
    assert table["name"][0] == "budget=1000000__types.park.radius_m=300"
    assert set(table["status"]) == {"optimal"}
    base = load_scenario(tiny_dir / "scenario.toml")
    for row in table.itertuples(index=False):
        radius = row[2]
        # The variant built independently of the batch code, solved alone like the CLI.
        alone = run_scenario(replace(base, budget=row.budget, types=tuple(
            replace(t, radius_m=float(radius)) if t.name == "park" else t
            for t in base.types)))
        assert row.objective == pytest.approx(alone.plan.objective, rel=1e-9)
        assert row.total_cost <= row.budget
        folder = out / row.run_dir
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["objective"] == pytest.approx(row.objective)
        assert summary["scenario"] == row.name
        assert summary["solver"]["time_limit_s"] == 10
        for name in ("sites.csv", "coverage.csv", "scenario.toml", "key.txt"):
            assert (folder / name).exists()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs.parquet"), table,
                                  check_dtype=False)
    assert len(pd.read_csv(out / "runs.csv")) == 6
    assert not [p for p in (out / "runs").iterdir() if p.name.startswith(".")]

    # Every run calling run_scenario itself (no shared instance) gives the same table.
    again = run_batch(batch, tiny_dir.parent / "unshared", client=client, progress=False,
                      share_instances=False)
    assert list(again["objective"]) == pytest.approx(list(table["objective"]), rel=1e-9)


def test_real_scheduler_and_two_worker_processes(tiny_dir: Path) -> None:
    batch_file = _write(tiny_dir.parent, "four.toml", """
base = "tiny/scenario.toml"
[grid]
budget = [1e6, 3e6]
[[variant]]
name = "plain"
[[variant]]
name = "elderly-first"
"types.canteen.weight" = 4
""")
    with scheduler_and_workers(tiny_dir.parent, workers=2) as address:
        table = run_batch(batch_file, tiny_dir.parent / "out", scheduler=address,
                          progress=False)
    assert list(table["name"]) == ["plain__budget=1000000", "plain__budget=3000000",
                                   "elderly-first__budget=1000000",
                                   "elderly-first__budget=3000000"]
    assert set(table["status"]) == {"optimal"}
    assert list(table["types.canteen.weight"].isna()) == [True, True, False, False]
    for row in load_batch(batch_file).runs:
        alone = run_scenario(row.spec)
        got = table.set_index("name").loc[row.name, "objective"]
        assert got == pytest.approx(alone.plan.objective, rel=1e-9)


def test_killed_batch_resumes_without_redoing_finished_runs(tiny_dir: Path) -> None:
    budgets = [1_000_000 + 100_000 * k for k in range(24)]
    _write(tiny_dir.parent, "ladder.toml",
           f'base = "tiny/scenario.toml"\n[grid]\nbudget = {budgets}\n')
    command = [sys.executable, "-m", "scenarios.cli", "batch", "ladder.toml", "--out", "out",
               "--workers", "1", "--quiet"]
    runs = tiny_dir.parent / "out" / "runs"
    first = subprocess.Popen(command, cwd=tiny_dir.parent, start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list(runs.glob("*/summary.json")):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.communicate()
        deadline = time.monotonic() + 20  # the local cluster's worker exits with its parent
        while not group_gone(first.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert group_gone(first.pid), "worker processes outlived the killed batch"
    finally:
        if not group_gone(first.pid):
            os.killpg(first.pid, signal.SIGKILL)
    finished = {p.parent.name: p.stat().st_mtime_ns for p in runs.glob("*/summary.json")}
    assert 0 < len(finished) < len(budgets)
    table = pd.read_csv(tiny_dir.parent / "out" / "runs.csv")
    assert "pending" in set(table["status"])  # written before the first run started

    again = subprocess.run(command[:-1], cwd=tiny_dir.parent, capture_output=True, text=True,
                           timeout=180, check=False)
    assert again.returncode == 0, again.stderr
    assert f"{len(finished)} done already" in again.stderr
    for name, mtime in finished.items():
        assert (runs / name / "summary.json").stat().st_mtime_ns == mtime, name
    table = pd.read_csv(tiny_dir.parent / "out" / "runs.csv")
    assert list(table["budget"]) == budgets
    assert set(table["status"]) == {"optimal"}
    assert table["objective"].is_monotonic_increasing
    assert sorted(p.name for p in runs.iterdir()) == sorted(table["name"])  # no leftovers
    assert not (tiny_dir.parent / "out" / ".batch.lock").exists()


def test_bad_variants_are_reported_and_the_others_finish(tiny_dir: Path, client) -> None:
    batch_file = _write(tiny_dir.parent, "mixed.toml", """
base = "tiny/scenario.toml"
[grid]
"types.canteen.weight" = [1, 2]
[[variant]]
name = "ok"
[[variant]]
name = "negative-radius"
"types.park.radius_m" = -300
[[variant]]
name = "budget-typo"
budget = "30M"
[[variant]]
name = "missing-file"
demand = "nowhere.csv"
""")
    table = run_batch(batch_file, tiny_dir.parent / "out", client=client, progress=False)
    status = dict(zip(table["name"], table["status"], strict=True))
    error = dict(zip(table["name"], table["error"], strict=True))
    assert status["ok__types.canteen.weight=1"] == status["ok__types.canteen.weight=2"] == \
        "optimal"
    for weight in (1, 2):
        assert status[f"negative-radius__types.canteen.weight={weight}"] == "error"
        assert "types.park.radius_m' must be >= 0" in \
            error[f"negative-radius__types.canteen.weight={weight}"]
        assert "'budget' must be a number" in error[f"budget-typo__types.canteen.weight={weight}"]
        assert "nowhere.csv" in error[f"missing-file__types.canteen.weight={weight}"]
    assert table.loc[table["status"] == "error", "run_dir"].isna().all()
    assert list(table["budget"].isna()) == [False, False] + [True] * 6

    # A folder of scenario files: each file is a run; a bad file is an error row.
    folder = tiny_dir.parent / "scenarios"
    folder.mkdir()
    good = (tiny_dir / "scenario.toml").read_text().replace('"demand.csv"',
                                                            '"../tiny/demand.csv"')
    good = good.replace('"sites.csv"', '"../tiny/sites.csv"').replace(
        '"existing.csv"', '"../tiny/existing.csv"')
    _write(folder, "good.toml", good)
    _write(folder, "bad.toml", good.replace("radius_m = 300", "radius_m = -1", 1))
    batch = folder_batch(folder)
    assert [run.name for run in batch.runs] == ["bad", "good"]
    table = run_batch(batch, tiny_dir.parent / "folder-out", client=client, progress=False)
    assert list(table["status"]) == ["error", "optimal"]
    assert list(table["scenario_file"]) == ["bad.toml", "good.toml"]

    # Exit code 1 when a run errored (every run here is bad input: no cluster needed).
    _write(tiny_dir.parent, "allbad.toml", 'base = "tiny/scenario.toml"\n'
                                           '[grid]\n"types.park.radius_m" = [-1, -2]\n')
    code = main(["batch", str(tiny_dir.parent / "allbad.toml"), "--out",
                 str(tiny_dir.parent / "allbad"), "--quiet"])
    assert code == 1


def test_a_run_that_raises_is_retried_then_reported(tiny_dir: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import scenarios.batch as batch_module

    batch_file = _write(tiny_dir.parent, "flaky.toml", """
base = "tiny/scenario.toml"
retries = 1
[grid]
"types.park.radius_m" = [300, 400, 500]
""")
    calls: Counter[float] = Counter()
    real = batch_module.run_scenario

    def flaky(spec):  # the 400 m run fails once, the 500 m run always
        radius = spec.types[0].radius_m
        calls[radius] += 1
        if radius == 500 or (radius == 400 and calls[radius] == 1):
            raise RuntimeError("boom")
        return real(spec)

    monkeypatch.setattr(batch_module, "run_scenario", flaky)
    # In-process workers (threads), so that the patch applies; HTTP on 127.0.0.1 only.
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None,
                                  scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                  worker_dashboard_address="127.0.0.1:0") as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        table = run_batch(batch_file, tiny_dir.parent / "out", client=client, progress=False)
    assert list(table["status"]) == ["optimal", "optimal", "error"]
    assert list(table["error"].fillna("")) == ["", "", "RuntimeError: boom"]
    assert calls == {300: 1, 400: 2, 500: 2}
    assert not (tiny_dir.parent / "out" / "runs" / "types.park.radius_m=500").exists()


def test_bad_batch_file_lists_every_problem(tiny_dir: Path, capsys) -> None:
    batch_file = _write(tiny_dir.parent, "bad.toml", """
base = "tiny/scenario.toml"
retry = 1
retries = -1
[solver]
time_limt_s = 5
[grid]
budget = []
budjet = [1, 2]
"types.park.radius" = [300]
"types.canteen.weight" = [1, 1.0]
"types.childcare.radius_m" = [300, 400]
[[variant]]
name = "a"
"types.childcare.radius_m" = 5
[[variant]]
name = "a"
[[variant]]
name = "x/y"
[[variant]]
"types.park.weight" = 2
""")
    with pytest.raises(InputError) as caught:
        load_batch(batch_file)
    messages = [p.message for p in caught.value.problems]
    expected = ["unknown keys: retry", "'retries' must be a whole number",
                "unknown keys in [solver]: time_limt_s", "'budget' is an empty list",
                "unknown scenario key 'budjet'", "unknown key 'radius' in 'types.park.radius'",
                "'types.canteen.weight' repeats 1",
                "sets 'types.childcare.radius_m', which the [grid] varies",
                "duplicate variant name 'a'", "the name must not contain /",
                "[[variant]] 4 needs a name"]
    for text in expected:
        assert any(text in m for m in messages), (text, messages)
    assert len(messages) == len(expected)
    assert all(p.file == "bad.toml" for p in caught.value.problems)

    code = main(["batch", str(batch_file), "--out", str(tiny_dir.parent / "out")])
    assert code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == len(expected)
    assert not (tiny_dir.parent / "out").exists()

    for text, problem in [
        ('base = "nowhere.toml"\n[grid]\nbudget = [1]\n', "base scenario file not found"),
        ('base = "no-such-shipped-scenario"\n[grid]\nbudget = [1]\n', "no scenario file or"),
        ('base = "tiny/scenario.toml"\n', "nothing to run"),
        ('[grid]\nbudget = [1]\n', "missing required key 'base'"),
        ('base = "tiny/scenario.toml"\n[solver]\ntime_limit_s = -1\n[grid]\nbudget = [1]\n',
         "'solver.time_limit_s' must be >= 0"),
    ]:
        with pytest.raises(InputError, match=problem):
            load_batch(_write(tiny_dir.parent, "other.toml", text))
