"""Outputs survive a killed process: ``lifecircle solve --out DIR`` and ``lifecircle brief``
are started as subprocesses and SIGKILLed at random moments (seeded), mostly while they
write; after every kill each file in DIR must be absent, its previous complete version or
the new complete one (compared with reference runs), never a part of either, with no
temporary file under a final name; while ``summary.json`` exists, every run file belongs to
the same run as it. A final uninterrupted run leaves DIR equal to the reference.

Two scenarios alternate in the same DIR: ``tiny`` (3 M CNY, no communities) and ``tiny-b``
(1.5 M CNY, demand with ``community_id``, so it also writes ``coverage_by_group.csv``,
which a later ``tiny`` run must remove).

``LIFECIRCLE_KILL_LOOPS`` sets the number of killed solves (default 15, plus a quarter as
many killed briefs, at least 3); ``LIFECIRCLE_KILL_SEED`` the seed (default 17). The long
run quoted in ``docs/`` used ``LIFECIRCLE_KILL_LOOPS=200``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from scenarios.atomic import is_temporary

TINY = Path(__file__).parent / "data" / "tiny"
RUN_FILES = ("summary.json", "scenario.toml", "progress.csv", "sites.csv", "coverage.csv",
             "coverage_by_type.csv", "coverage_by_group.csv")
BRIEF = "brief.html"
STABLE_SUMMARY_KEYS = ("scenario", "scenario_file", "status", "objective", "bound", "gap",
                       "total_cost", "budget", "covered", "newly_covered", "covered_existing",
                       "population", "coverage_pct", "new_sites")
LOOPS = int(os.environ.get("LIFECIRCLE_KILL_LOOPS", "15"))
SEED = int(os.environ.get("LIFECIRCLE_KILL_SEED", "17"))
WRITE_WINDOW_S = 0.02  # the tiny run's files are written within 15-30 ms
BRIEF_WINDOW_S = 0.0005  # a brief is one file, written in about a millisecond


def _command(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("lifecircle")
    prefix = [str(script)] if script.exists() else [sys.executable, "-m", "scenarios.cli"]
    return [*prefix, *args]


def _run(*args: str) -> None:
    done = subprocess.run(_command(*args), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def _fingerprint(path: Path) -> object:
    """What must match a reference: parsed, with timings left out. Raises on a partial
    file (bad JSON, a CSV pandas cannot read)."""
    name = path.name
    if name == "summary.json":
        summary = json.loads(path.read_text(encoding="utf-8"))
        assert "runtime_s" in summary and "solver" in summary, "summary.json incomplete"
        return {key: summary.get(key) for key in STABLE_SUMMARY_KEYS}
    if name in ("scenario.toml", BRIEF):
        return path.read_bytes()
    frame = pd.read_csv(path)
    if name == "progress.csv":  # times vary; the columns and the best plan do not
        return (tuple(frame.columns), round(float(frame["incumbent"].max()), 3))
    return frame


def _same(a: object, b: object) -> bool:
    if isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame):
        return (isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame)
                and a.shape == b.shape and a.equals(b))
    return a == b


def _matches(path: Path, references: dict[str, dict[str, object]]) -> set[str]:
    """The variants whose reference file ``path`` equals (empty: a partial or foreign
    file)."""
    try:
        found = _fingerprint(path)
    except Exception:  # unreadable: half-written
        return set()
    return {variant for variant, files in references.items()
            if path.name in files and _same(found, files[path.name])}


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``A``: tests/data/tiny; ``B``: a copy with communities and half the budget."""
    folder = tmp_path_factory.mktemp("tiny-b")
    for name in ("demand.csv", "sites.csv", "existing.csv"):
        shutil.copy(TINY / name, folder / name)
    demand = pd.read_csv(folder / "demand.csv")
    demand["community_id"] = [f"C{i % 4}" for i in range(len(demand))]
    demand.to_csv(folder / "demand.csv", index=False)
    text = (TINY / "scenario.toml").read_text(encoding="utf-8")
    text = text.replace('name = "tiny"', 'name = "tiny-b"').replace(
        "budget = 3000000", "budget = 1500000")
    (folder / "scenario.toml").write_text(text, encoding="utf-8")
    return {"A": TINY / "scenario.toml", "B": folder / "scenario.toml"}


def _reference(folder: Path) -> dict[str, object]:
    return {path.name: _fingerprint(path) for path in folder.iterdir()}


def _kill_at_random(process: subprocess.Popen, folder: Path, target: str | None,
                    rng: random.Random, *, whole_run_s: float, window_s: float) -> str:
    """SIGKILL ``process``: one time in four at a uniform moment of its run, otherwise a
    random moment within ``window_s`` after it starts writing (``target``'s ``summary.json``
    removed or a temporary file appeared). Returns ``finished`` when it exited first."""
    if rng.random() < 0.25:
        deadline = time.monotonic() + rng.uniform(0.0, whole_run_s)
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.002)
    else:
        had_target = target is not None and (folder / target).exists()
        leftovers = set(os.listdir(folder))  # temporaries of earlier kills do not count
        deadline = time.monotonic() + 60.0
        while process.poll() is None and time.monotonic() < deadline:
            names = os.listdir(folder)
            if any(is_temporary(n) and n not in leftovers for n in names) or (
                    had_target and target not in names):
                break
            time.sleep(0.0003)
        time.sleep(rng.uniform(0.0, window_s))
    if process.poll() is not None:
        return "finished"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    return "killed"


def _check_folder(folder: Path, names: tuple[str, ...], state: dict[str, str | None],
                  variant: str, references: dict[str, dict[str, object]],
                  removable: set[str]) -> None:
    """Assert every file is a complete previous or new version and update ``state``
    (file name -> variant, None when absent); while ``summary.json`` exists, every run
    file must be of its run."""
    present = set(os.listdir(folder))
    temporaries = {n for n in present if is_temporary(n)}
    assert present - temporaries <= set(names), f"unexpected files {present - set(names)}"
    for name in temporaries:  # a killed writer's leftover, under a hidden name of ours
        assert name.startswith(".tmp-") and name.split("-", 3)[3] in names, name
    found: dict[str, set[str]] = {}
    for name in names:
        before = state[name]
        if name not in present:
            assert before is None or name in removable, f"{name} vanished"
            state[name] = None
            continue
        found[name] = _matches(folder / name, references)
        assert found[name], f"{name} is not a complete version of any run (half-written?)"
        allowed = {variant} | ({before} if before is not None else set())
        assert found[name] & allowed, f"{name} is from {found[name]}, expected {allowed}"
        state[name] = variant if variant in found[name] else next(iter(found[name] & allowed))
    summary = state.get("summary.json")
    if summary is not None:  # the commit record: every run file belongs to its run
        for name in names:
            expected = name in references[summary]
            assert (name in found) == expected, f"{name} present={name in found} with the " \
                                                f"summary of run {summary}"
            assert not expected or summary in found[name], f"{name} not of run {summary}"


def _snapshot(folder: Path) -> dict[str, int]:
    """Name -> inode of every entry (a rewritten file has a new inode)."""
    return {entry.name: entry.inode() for entry in os.scandir(folder)}


def _outcome(how: str, before: dict[str, int], after: dict[str, int], marker: str) -> str:
    """Where a kill landed, from the folder before the run and after the kill; ``marker``
    is the file written last (``summary.json``, or the brief)."""
    if how == "finished":
        return "finished before the kill"
    new_temporaries = {n for n in after if is_temporary(n)} - set(before)
    changed = {n for n in set(before) | set(after)
               if not is_temporary(n) and before.get(n) != after.get(n)}
    if not new_temporaries and not changed:
        return "killed before writing"
    if not new_temporaries and marker in changed and marker in after:
        return "killed after writing"
    return "killed mid-write"


def test_killed_solves_and_briefs_never_leave_half_written_files(
        scenarios: dict[str, Path], tmp_path: Path) -> None:
    started = time.monotonic()
    rng = random.Random(SEED)
    references: dict[str, dict[str, object]] = {}
    durations: dict[str, float] = {}
    for variant, toml in scenarios.items():
        folder = tmp_path / f"ref-{variant}"
        begun = time.monotonic()
        _run("solve", str(toml), "--out", str(folder), "--quiet")
        durations[variant] = time.monotonic() - begun
        references[variant] = _reference(folder)
    assert "coverage_by_group.csv" in references["B"]
    assert "coverage_by_group.csv" not in references["A"]
    for name in references["A"]:  # every file tells the two runs apart
        if name in references["B"]:
            assert not _same(references["A"][name], references["B"][name]), name

    # killed solves, alternating scenarios in one folder that starts as a complete run A
    out = tmp_path / "out"
    shutil.copytree(tmp_path / "ref-A", out)
    state: dict[str, str | None] = {n: ("A" if n in references["A"] else None)
                                    for n in RUN_FILES}
    outcomes: Counter[str] = Counter()
    for _ in range(LOOPS):
        variant = rng.choice("AB")
        before = _snapshot(out)
        process = subprocess.Popen(
            _command("solve", str(scenarios[variant]), "--out", str(out), "--quiet"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        outcome = _kill_at_random(process, out, "summary.json", rng,
                                  whole_run_s=durations[variant], window_s=WRITE_WINDOW_S)
        removable = {"summary.json"} | ({"coverage_by_group.csv"} if variant == "A" else set())
        outcomes["solve " + _outcome(outcome, before, _snapshot(out), "summary.json")] += 1
        _check_folder(out, RUN_FILES, state, variant, references, removable)

    # killed briefs of the two reference runs, alternating, into one brief.html
    briefs: dict[str, dict[str, object]] = {}
    brief_dir = tmp_path / "brief"
    brief_dir.mkdir()
    for variant in "AB":
        begun = time.monotonic()
        _run("brief", str(tmp_path / f"ref-{variant}"), "--out",
             str(tmp_path / f"brief-{variant}.html"), "--lang", "en")
        durations[f"brief-{variant}"] = time.monotonic() - begun
        briefs[variant] = {BRIEF: (tmp_path / f"brief-{variant}.html").read_bytes()}
    shutil.copy(tmp_path / "brief-A.html", brief_dir / BRIEF)
    brief_state: dict[str, str | None] = {BRIEF: "A"}
    for _ in range(max(3, LOOPS // 4)):
        variant = rng.choice("AB")
        before = _snapshot(brief_dir)
        process = subprocess.Popen(
            _command("brief", str(tmp_path / f"ref-{variant}"), "--out",
                     str(brief_dir / BRIEF), "--lang", "en"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        outcome = _kill_at_random(process, brief_dir, None, rng, window_s=BRIEF_WINDOW_S,
                                  whole_run_s=durations[f"brief-{variant}"])
        outcomes["brief " + _outcome(outcome, before, _snapshot(brief_dir), BRIEF)] += 1
        _check_folder(brief_dir, (BRIEF,), brief_state, variant, briefs, set())

    # a final uninterrupted run: exactly the reference, no leftovers (idempotent)
    _run("solve", str(scenarios["A"]), "--out", str(out), "--quiet")
    assert sorted(os.listdir(out)) == sorted(references["A"])
    for name, expected in references["A"].items():
        assert _same(_fingerprint(out / name), expected), name
    _run("brief", str(tmp_path / "ref-A"), "--out", str(brief_dir / BRIEF), "--lang", "en")
    assert os.listdir(brief_dir) == [BRIEF]
    assert (brief_dir / BRIEF).read_bytes() == briefs["A"][BRIEF]
    elapsed = time.monotonic() - started
    print(f"\n{LOOPS} killed solves, {max(3, LOOPS // 4)} killed briefs in {elapsed:.1f} s: "
          + ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())))
    if LOOPS >= 10:  # the kills are aimed at the writes: some must land there
        assert outcomes["solve killed mid-write"] >= 1, outcomes
