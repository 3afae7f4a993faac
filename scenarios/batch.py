"""Batch runs on Dask: hundreds of scenario variants from one file, resumable.

A *batch file* (TOML) names a base scenario and the variants to run::

    base = "yuzhong-baseline"          # a shipped scenario, or a TOML path relative to this file
    retries = 1                        # optional: rerun a run that raised this many times

    [solver]                           # optional: [solver] settings for every run
    time_limit_s = 30

    [grid]                             # optional: every combination of these values
    budget = [10e6, 20e6, 30e6, 60e6]
    "types.park.radius_m" = [300, 500]

    [[variant]]                        # optional: named variants (dotted keys to set)
    name = "elderly-first"
    "types.canteen.weight" = 3

Keys are the scenario file's keys, dotted (``"policy.targets.canteen"``); a value replaces
the base scenario's (relative paths are relative to the base scenario's folder). With a grid
and named variants, every named variant is run at every grid point. Each run is the base
scenario with the batch's ``[solver]``, then the variant's keys, then the grid point's keys
applied by :func:`scenarios.explain.apply_edits`, validated by
:func:`scenarios.spec.parse_scenario` and solved as ``lifecircle solve`` would solve it
(:func:`scenarios.runner.run_scenario`, same seed). A folder instead of a batch file runs
every scenario TOML in it.

:func:`run_batch` sends the runs to a Dask cluster (a local one by default) and writes each
run's usual outputs (:func:`scenarios.runner.write_outputs`) to ``OUT/runs/<name>/``,
atomically, plus the table ``OUT/runs.csv`` / ``OUT/runs.parquet``. A batch killed halfway
and started again skips every run whose folder is complete and redoes only the rest.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import re
import shutil
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from optimizer.errors import InputError, Problem, ProblemCollector
from scenarios.explain import apply_edits
from scenarios.library import resolve_scenario
from scenarios.runner import ScenarioResult, run_scenario, with_solver_overrides, write_outputs
from scenarios.spec import (
    NETWORK_KEYS,
    POLICY_KEYS,
    SOLVER_KEYS,
    TABLE_OPTIONS,
    TABLE_ROLES,
    TOP_LEVEL_KEYS,
    TYPE_KEYS,
    ScenarioSpec,
    SolverSpec,
    load_scenario,
    parse_scenario,
    spec_to_data,
)
from scenarios.store import content_key

if TYPE_CHECKING:
    from distributed import Client

    from optimizer.instance import SitingInstance

__all__ = ["BatchRun", "BatchSpec", "batch_columns", "folder_batch", "load_batch",
           "parse_batch", "run_batch"]

BATCH_KEYS = {"base", "name", "description", "grid", "variant", "solver", "retries"}
"""Top-level keys of a batch file."""

FINISHED = ("optimal", "feasible", "infeasible", "no_solution")
"""Statuses of a run that finished (the solver said something); ``error`` means it did not."""

_STAGING = ".tmp"
"""Suffix of a run folder being written (``runs/.<name>.<random>.tmp``)."""

_FORBIDDEN = re.compile(r'[\x00-\x1f<>:"/\\|?*]')
"""Characters a run name (a folder name) must not contain."""

_TABLE_EVERY_S = 2.0
"""The results table is rewritten at most this often while runs finish (and at the end)."""


@dataclass(frozen=True)
class BatchRun:
    """One run of a batch.

    Attributes
    ----------
    name
        The run's name, also its folder ``OUT/runs/<name>/`` and the scenario's name.
    params
        The variant's settings: dotted scenario key -> value (a folder batch:
        ``scenario_file``).
    spec
        The validated scenario, or None when it is bad input (then ``error`` says why).
    error
        Why the scenario is bad input (one problem per ``;``), else None.
    """

    name: str
    params: dict[str, Any]
    spec: ScenarioSpec | None
    error: str | None = None


@dataclass(frozen=True)
class BatchSpec:
    """A parsed, validated batch: its runs, in order.

    Attributes
    ----------
    name
        The batch's name (``name`` in the file, else the file's or folder's name).
    runs
        The runs, in the order of the table.
    keys
        The parameter columns of the table (dotted scenario keys, in order of appearance).
    path
        The batch file or scenario folder, if read from disk.
    base
        The base scenario's TOML file (None for a folder batch).
    retries
        How many times a run that raised is run again (bad input is never retried).
    description
        Free text from the batch file.
    """

    name: str
    runs: tuple[BatchRun, ...]
    keys: tuple[str, ...] = ()
    path: Path | None = None
    base: Path | None = None
    retries: int = 0
    description: str = ""

    @property
    def types(self) -> tuple[str, ...]:
        """Facility type names over all valid runs, in order of first appearance."""
        names: dict[str, None] = {}
        for run in self.runs:
            if run.spec is not None:
                names.update((t.name, None) for t in run.spec.types)
        return tuple(names)


# ---------------------------------------------------------------------------------------
# Reading batch files


def load_batch(path: str | Path, *, time_limit_s: float | None = None) -> BatchSpec:
    """Read a batch file, or make a batch of every scenario TOML in a folder.

    Parameters
    ----------
    path
        A batch TOML file (see :mod:`scenarios.batch`) or a folder of scenario files.
    time_limit_s
        Per-run time limit overriding the batch's and the scenarios' ``[solver]`` one.

    Raises
    ------
    InputError
        Every problem of the batch file at once (unknown keys, empty grid lists, duplicate
        variant names, a bad base scenario...). Problems of a single variant's scenario
        (a negative radius, a missing file) are not raised: the run carries them as its
        ``error`` and is reported in the table.
    """
    path = Path(path)
    if path.is_dir():
        return folder_batch(path, time_limit_s=time_limit_s)
    if not path.exists():
        raise InputError([Problem("batch file or scenario folder not found", file=str(path))])
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InputError([Problem(f"not valid TOML: {error}", file=path.name)]) from None
    return parse_batch(data, base_dir=path.resolve().parent, label=path.name, name=path.stem,
                       path=path.resolve(), time_limit_s=time_limit_s)


def parse_batch(
    data: Mapping[str, Any],
    *,
    base_dir: Path,
    label: str = "batch",
    name: str = "batch",
    path: Path | None = None,
    time_limit_s: float | None = None,
) -> BatchSpec:
    """Validate a batch dictionary (as read from TOML) into a :class:`BatchSpec`.

    Parameters
    ----------
    data
        The batch file's content.
    base_dir
        Folder that a relative ``base`` path is relative to.
    label
        How problems name the batch (the file name).
    name
        The batch's name when ``data`` has none.
    path
        The batch file, recorded in the result.
    time_limit_s
        Per-run time limit overriding every other.

    Raises
    ------
    InputError
        Every problem at once, one per line.
    """
    problems = ProblemCollector()
    unknown = set(data) - BATCH_KEYS
    if unknown:
        problems.add(f"unknown keys: {', '.join(sorted(unknown))} "
                     f"(allowed: {', '.join(sorted(BATCH_KEYS))})", file=label)
    base_path, base_spec = _base(data.get("base"), base_dir, label, problems)
    solver = _solver_edits(data.get("solver"), label, problems)
    if time_limit_s is not None:
        solver["solver.time_limit_s"] = float(time_limit_s)
    retries = data.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        problems.add(f"'retries' must be a whole number >= 0, got {retries!r}", file=label)
        retries = 0
    grid = _grid(data.get("grid"), label, problems)
    variants = _variants(data.get("variant"), set(grid), label, problems)
    if "grid" not in data and "variant" not in data:
        problems.add("nothing to run: give a [grid] and/or [[variant]] tables", file=label)
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            problems.add(f"'{key}' must be text", file=label)
    base_data: dict[str, Any] = {}
    if base_spec is not None:
        base_data = apply_edits(spec_to_data(base_spec), solver)
        try:  # the base with the batch's [solver]: a bad value would fail every run
            parse_scenario(base_data, base=base_path.parent, label=label)
        except InputError as error:
            problems.extend(error.problems)
    problems.raise_if_any()
    assert base_spec is not None and base_path is not None

    points = [dict(zip(grid, values, strict=True))
              for values in itertools.product(*grid.values())] if grid else [{}]
    named = variants or [("", {})]
    keys = dict.fromkeys(grid)
    for _, edits in named:
        keys.update(dict.fromkeys(edits))
    runs = []
    for (variant, edits), point in itertools.product(named, points):
        run_name = "__".join(part for part in (variant, _point_name(point)) if part)
        settings = {**edits, **point}
        runs.append(_make_run(run_name or base_spec.name, settings, base_data, base_spec,
                              base_path, label))
    text = data.get("name")
    return BatchSpec(
        name=text if isinstance(text, str) and text else name,
        runs=_unique_names(runs),
        keys=tuple(keys),
        path=path,
        base=base_path,
        retries=int(retries),
        description=str(data.get("description", "")),
    )


def folder_batch(folder: str | Path, *, time_limit_s: float | None = None) -> BatchSpec:
    """A batch of every scenario TOML directly in ``folder`` (sorted by name).

    Each run is the scenario file as ``lifecircle solve FILE`` reads it, named by the file's
    stem; a file that is bad input becomes a run with its ``error``. TOML files that are
    batch files themselves (with a ``base`` key) are skipped.

    Raises
    ------
    InputError
        The folder holds no scenario file.
    """
    folder = Path(folder)
    runs = []
    for file in sorted(p for p in folder.glob("*.toml") if p.is_file()):
        with contextlib.suppress(tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
            if "base" in tomllib.loads(file.read_text(encoding="utf-8")):
                continue  # a batch file next to its scenarios
        params = {"scenario_file": file.name}
        name = _FORBIDDEN.sub("-", file.stem).lstrip(".") or "scenario"
        try:
            spec = load_scenario(file)
            if time_limit_s is not None:
                spec = with_solver_overrides(spec, time_limit_s=float(time_limit_s))
            runs.append(BatchRun(name, params, spec))
        except InputError as error:
            runs.append(BatchRun(name, params, None, _error_text(error)))
    if not runs:
        raise InputError([Problem("no scenario files (*.toml) in this folder",
                                  file=str(folder))])
    return BatchSpec(name=folder.resolve().name, runs=_unique_names(runs),
                     keys=("scenario_file",), path=folder.resolve())


def _base(raw: Any, base_dir: Path, label: str,
          problems: ProblemCollector) -> tuple[Path | None, ScenarioSpec | None]:
    """The base scenario: a TOML path relative to the batch file, or a shipped name."""
    if raw is None:
        problems.add("missing required key 'base' (a scenario file or shipped scenario name)",
                     file=label)
        return None, None
    if not isinstance(raw, str) or not raw.strip():
        problems.add(f"'base' must be a scenario file or shipped scenario name, got {raw!r}",
                     file=label)
        return None, None
    candidate = (base_dir / raw).resolve()
    try:
        if candidate.is_file():
            path = candidate
        elif raw.endswith(".toml") or "/" in raw or "\\" in raw:
            problems.add(f"base scenario file not found: {candidate}", file=label)
            return None, None
        else:
            path = resolve_scenario(raw).resolve()
        return path, load_scenario(path)
    except InputError as error:
        problems.extend(error.problems)
        return None, None


def _solver_edits(raw: Any, label: str, problems: ProblemCollector) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.add("[solver] must be a table", file=label)
        return {}
    unknown = set(raw) - SOLVER_KEYS
    if unknown:
        problems.add(f"unknown keys in [solver]: {', '.join(sorted(unknown))} "
                     f"(allowed: {', '.join(sorted(SOLVER_KEYS))})", file=label)
    return {f"solver.{k}": v for k, v in raw.items() if k in SOLVER_KEYS}


def _flatten(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dotted keys of nested tables: ``{"types": {"park": {"radius_m": 1}}}`` and
    ``{"types.park.radius_m": 1}`` both give ``("types.park.radius_m", 1)``."""
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _flatten(value, dotted + ".")
        else:
            yield dotted, value


def _key_problem(key: str) -> str | None:
    """Why a dotted key is not a scenario key, or None if it is one."""
    parts = key.split(".")
    head = parts[0]
    if any(not part for part in parts):
        return f"'{key}' is not a dotted scenario key"
    if head == "name":
        return "'name' cannot be set: each run is named by its variant"
    if head not in TOP_LEVEL_KEYS:
        return f"unknown scenario key '{head}' in '{key}'"
    allowed: set[str] | None = None
    level = 1
    if head == "types":
        if len(parts) < 3:
            return f"'{key}' must name a type and a key, e.g. types.park.radius_m"
        allowed, level = TYPE_KEYS, 2
    elif head == "solver":
        allowed = SOLVER_KEYS
    elif head == "policy":
        allowed = POLICY_KEYS
    elif head == "network":
        allowed = NETWORK_KEYS
    elif head in TABLE_ROLES:
        allowed = TABLE_OPTIONS | set(TABLE_ROLES[head])
    if allowed is not None and len(parts) > level and parts[level] not in allowed:
        where = ".".join(parts[:level])
        return (f"unknown key '{parts[level]}' in '{key}' (allowed in {where}: "
                f"{', '.join(sorted(allowed))})")
    return None


def _grid(raw: Any, label: str, problems: ProblemCollector) -> dict[str, list[Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.add("[grid] must be a table of dotted keys and lists of values", file=label)
        return {}
    grid: dict[str, list[Any]] = {}
    if not raw:
        problems.add("[grid] is empty", file=label)
    for key, values in _flatten(raw):
        why = _key_problem(key)
        if why is not None:
            problems.add(f"[grid]: {why}", file=label)
            continue
        if not isinstance(values, list):
            problems.add(f"[grid] '{key}' must be a list of values, got {values!r}", file=label)
            continue
        if not values:
            problems.add(f"[grid] '{key}' is an empty list", file=label)
            continue
        shown = [_format_value(v) for v in values]
        repeated = sorted({s for s in shown if shown.count(s) > 1})
        if repeated:
            problems.add(f"[grid] '{key}' repeats {', '.join(repeated)}", file=label)
            continue
        grid[key] = values
    return grid


def _variants(raw: Any, grid_keys: set[str], label: str,
              problems: ProblemCollector) -> list[tuple[str, dict[str, Any]]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(v, dict) for v in raw):
        problems.add("'variant' must be [[variant]] tables", file=label)
        return []
    if not raw:
        problems.add("'variant' is an empty list", file=label)
    out: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for number, body in enumerate(raw, start=1):
        name = body.get("name")
        where = f"[[variant]] {number}"
        if not isinstance(name, str) or not name.strip():
            problems.add(f"{where} needs a name", file=label)
            continue
        where = f"[[variant]] '{name}'"
        bad_name = _name_problem(name)
        if bad_name is not None:
            problems.add(f"{where}: {bad_name}", file=label)
        if name in seen:
            problems.add(f"duplicate variant name '{name}'", file=label)
        seen.add(name)
        edits: dict[str, Any] = {}
        for key, value in _flatten({k: v for k, v in body.items() if k != "name"}):
            why = _key_problem(key)
            if why is not None:
                problems.add(f"{where}: {why}", file=label)
            elif key in grid_keys:
                problems.add(f"{where} sets '{key}', which the [grid] varies", file=label)
            else:
                edits[key] = value
        out.append((name, edits))
    return out


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a run folder's name, or None."""
    if _FORBIDDEN.search(name):
        return 'the name must not contain / \\ < > : " | ? * or control characters'
    if name.startswith(".") or name.strip() != name:
        return "the name must not start with '.' or with or end in spaces"
    if len(name) > 120:
        return "the name is longer than 120 characters"
    return None


def _format_value(value: Any) -> str:
    """A value as it appears in a run's name and in the table's text columns."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _point_name(point: Mapping[str, Any]) -> str:
    """``budget=10000000__types.park.radius_m=300``, safe as a folder name."""
    text = "__".join(f"{key}={_format_value(value)}" for key, value in point.items())
    text = _FORBIDDEN.sub("-", text).strip().lstrip(".")
    if len(text) > 120:
        import hashlib

        text = text[:100] + "-" + hashlib.sha256(text.encode()).hexdigest()[:12]
    return text


def _make_run(name: str, settings: dict[str, Any], base_data: dict[str, Any],
              base_spec: ScenarioSpec, base_path: Path, label: str) -> BatchRun:
    data = apply_edits(base_data, settings)
    data["name"] = name
    try:
        spec = parse_scenario(data, base=base_path.parent, label=f"{label} [{name}]")
    except InputError as error:
        return BatchRun(name, settings, None, _error_text(error))
    except (TypeError, ValueError, AttributeError) as error:  # e.g. a key set on a value
        return BatchRun(name, settings, None, f"{type(error).__name__}: {error}")
    return BatchRun(name, settings, replace(spec, path=base_spec.path))


def _unique_names(runs: Sequence[BatchRun]) -> tuple[BatchRun, ...]:
    """Runs with distinct names (a suffix ``-2``, ``-3``... where sanitising made twins)."""
    seen: set[str] = set()
    out = []
    for run in runs:
        name, number = run.name, 1
        while name.casefold() in seen:
            number += 1
            name = f"{run.name}-{number}"
        seen.add(name.casefold())
        out.append(run if name == run.name else replace(run, name=name))
    return tuple(out)


def _error_text(error: BaseException) -> str:
    if isinstance(error, InputError):
        return "; ".join(str(p) for p in error.problems) or "invalid input"
    return f"{type(error).__name__}: {error}"


# ---------------------------------------------------------------------------------------
# Running on Dask (the tasks run in worker processes)


@dataclass(frozen=True)
class _Failed:
    """A shared instance that could not be built (bad input), passed to its runs."""

    error: str


def _instance_budget(spec: ScenarioSpec) -> float:
    """The instance's budget, exactly as :func:`scenarios.loader.build_instance` sets it."""
    if spec.policy.years and not math.isfinite(spec.budget):
        return float(sum(spec.policy.year_budgets))
    return spec.budget


def _instance_key(spec: ScenarioSpec) -> str:
    """Runs with the same key build the same instance up to its budget and type weights."""
    neutral = replace(spec, name="batch", description="", budget=0.0, solver=SolverSpec(),
                      types=tuple(replace(t, weight=1.0) for t in spec.types))
    return content_key(neutral)


def _build_task(spec: ScenarioSpec) -> SitingInstance | _Failed:
    """Build the instance shared by runs that differ in budget, weights or solver only."""
    from scenarios.loader import build_instance

    try:
        return build_instance(spec)
    except InputError as error:
        return _Failed(_error_text(error))


def _solve_shared(spec: ScenarioSpec, shared: SitingInstance) -> ScenarioResult:
    """What :func:`scenarios.runner.run_scenario` does, on an instance built already.

    ``build_instance`` of a spec differing from the shared one's only in budget, type
    weights and ``[solver]`` gives this same instance with that budget and those weights;
    the solve call is run_scenario's, argument for argument.
    """
    from optimizer.solve import solve

    types = tuple(replace(kind, weight=wanted.weight)
                  for kind, wanted in zip(shared.types, spec.types, strict=True))
    instance = replace(shared, budget=_instance_budget(spec), types=types)
    plan = solve(
        instance,
        solver=spec.solver.name,
        time_limit_s=spec.solver.time_limit_s,
        mip_gap=spec.solver.gap,
        threads=spec.solver.threads,
        seed=spec.solver.seed,
        verbose=False,
        progress=None,
        should_stop=None,
    )
    return ScenarioResult(spec, instance, plan)


def _summary_fields(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of ``summary.json`` that the results table reports."""
    fields = ("status", "objective", "bound", "gap", "total_cost", "budget", "runtime_s",
              "coverage_pct", "newly_covered")
    return {key: summary.get(key) for key in fields}


def _staging_path(final: Path) -> Path:
    """A fresh temporary sibling of ``final``: ``.<name>.<random>.tmp``."""
    return final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}{_STAGING}")


def _write_run(result: ScenarioResult, final: Path, key: str) -> None:
    """Write a run folder atomically: a temporary sibling folder renamed into place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = _staging_path(final)
    try:
        staging.mkdir()
        write_outputs(result, staging)
        (staging / "key.txt").write_text(key + "\n", encoding="utf-8")
        if final.exists():  # an incomplete or outdated folder
            shutil.rmtree(final)
        os.replace(staging, final)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if _finished(final, key) is None:  # not written by a concurrent twin of this run
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _run_task(spec: ScenarioSpec, run_dir: str, key: str,
              shared: SitingInstance | _Failed | None = None) -> dict[str, Any]:
    """One run on a worker: solve, write the run folder, return the table's fields.

    Bad input is returned as ``{"status": "error", "error": ...}`` (retrying cannot help);
    any other exception is raised, so that Dask retries the run.
    """
    if isinstance(shared, _Failed):
        return {"status": "error", "error": shared.error}
    try:
        result = run_scenario(spec) if shared is None else _solve_shared(spec, shared)
    except InputError as error:
        return {"status": "error", "error": _error_text(error)}
    _write_run(result, Path(run_dir), key)
    return _summary_fields(result.summary())


# ---------------------------------------------------------------------------------------
# The client side


def _finished(folder: Path, key: str) -> dict[str, Any] | None:
    """The summary of a complete run folder written for this exact scenario, else None."""
    try:
        if (folder / "key.txt").read_text(encoding="utf-8").strip() != key:
            return None
        return json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def batch_columns(keys: Sequence[str], types: Sequence[str]) -> list[str]:
    """The columns of the results table (``runs.csv``) for these parameters and types."""
    per_type = [f"{what}_{t}" for what in ("coverage_pct", "newly_covered") for t in types]
    return ["name", *keys, "status", "objective", "bound", "gap", *per_type, "total_cost",
            *([] if "budget" in keys else ["budget"]), "runtime_s", "error", "run_dir"]


def _row(run: BatchRun, outcome: Mapping[str, Any] | None, run_dir: str | None) -> dict:
    """A table row: the run's parameters, then its outcome (None: not run yet)."""
    row: dict[str, Any] = {"name": run.name, **run.params}
    if outcome is None:
        row["status"] = "pending"
        if run.spec is not None:
            row["budget"] = _number(run.spec.budget)
        return row
    row["status"] = str(outcome.get("status") or "error")
    for key in ("objective", "bound", "gap", "total_cost", "runtime_s"):
        row[key] = _number(outcome.get(key))
    budget = outcome.get("budget")
    if budget is None:
        budget = run.spec.budget if run.spec is not None else run.params.get("budget")
    row["budget"] = _number(budget)
    for what in ("coverage_pct", "newly_covered"):
        for name, value in (outcome.get(what) or {}).items():
            row[f"{what}_{name}"] = _number(value)
    row["error"] = outcome.get("error")
    row["run_dir"] = run_dir if row["status"] != "error" else None
    return row


def _table(batch: BatchSpec, rows: Mapping[str, dict[str, Any]]) -> pd.DataFrame:
    """The results table, one row per run in batch order, typed for CSV and Parquet."""
    columns = batch_columns(batch.keys, batch.types)
    frame = pd.DataFrame([rows[run.name] for run in batch.runs]).reindex(columns=columns)
    for key in batch.keys:
        values = [v for v in frame[key] if v is not None and not _is_nan(v)]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if numeric:
            frame[key] = pd.to_numeric(frame[key], errors="coerce")
        else:  # text, lists, mixed: their TOML-like text
            frame[key] = [None if v is None or _is_nan(v) else _format_value(v)
                          for v in frame[key]]
    for column in ("name", "status", "error", "run_dir"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    numeric_columns = [c for c in columns if c not in (*batch.keys, "name", "status",
                                                       "error", "run_dir")]
    frame[numeric_columns] = frame[numeric_columns].apply(pd.to_numeric, errors="coerce")
    return frame


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _write_table(frame: pd.DataFrame, out: Path) -> None:
    """``runs.csv`` and ``runs.parquet``, each written to a temporary file and renamed."""
    targets: list[tuple[Path, Any]] = [(out / "runs.csv",
                                        lambda p: frame.to_csv(p, index=False))]
    try:
        import pyarrow  # noqa: F401

        targets.append((out / "runs.parquet", lambda p: frame.to_parquet(p, index=False)))
    except ImportError:  # pragma: no cover - pyarrow comes with lifecircle[geo]
        pass
    for target, write in targets:
        temporary = _staging_path(target)
        try:
            write(temporary)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


class _OutputLock:
    """``OUT/.batch.lock`` with the batch's process id: one batch per output folder.

    A lock left by a killed batch (its process is gone) is taken over.
    """

    def __init__(self, out: Path) -> None:
        self.path = out / ".batch.lock"
        self.held = False

    def __enter__(self) -> _OutputLock:
        if os.name != "posix":  # pragma: no cover - no cheap liveness check elsewhere
            return self
        try:
            owner = int(self.path.read_text(encoding="utf-8").strip() or 0)
        except (OSError, ValueError):
            owner = 0
        if owner and owner != os.getpid() and _alive(owner):
            raise InputError([Problem(f"another batch (process {owner}) is writing this "
                                      f"folder; wait for it or use another --out",
                                      file=str(self.path.parent))])
        self.path.write_text(f"{os.getpid()}\n", encoding="utf-8")
        self.held = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


@contextlib.contextmanager
def _dask_client(client: Client | None, scheduler: str | None,
                 workers: int | None) -> Iterator[Client]:
    """The given client; else one connected to ``scheduler``; else a local cluster."""
    try:
        import distributed
    except ImportError as error:  # pragma: no cover - installed with lifecircle[batch]
        raise ImportError("lifecircle batch needs Dask: pip install 'dask[distributed]'") \
            from error
    if client is not None:
        yield client
        return
    if scheduler is not None:
        try:
            connected = distributed.Client(scheduler, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            raise InputError([Problem(f"cannot connect to the Dask scheduler at "
                                      f"{scheduler}: {error}")]) from None
        try:
            yield connected
        finally:
            connected.close()
        return
    if workers is not None and workers < 1:
        raise InputError([Problem(f"workers must be >= 1, got {workers}")])
    # Processes on 127.0.0.1 and no dashboard; the scheduler's bare HTTP endpoint (health,
    # metrics) takes a free port on 127.0.0.1 instead of 8787: nothing listens beyond localhost.
    with distributed.LocalCluster(n_workers=workers or 1, threads_per_worker=1,
                                  processes=True, dashboard_address=None, host="127.0.0.1",
                                  scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                  silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster, set_as_default=False) as local:
        yield local


class _Lines:
    """A stand-in for tqdm when it is not installed: the per-run lines only."""

    def update(self, n: int = 1) -> None:
        pass

    def write(self, text: str, file: Any = None) -> None:
        print(text, file=file or sys.stderr, flush=True)


@contextlib.contextmanager
def _progress_bar(total: int, name: str, *, enabled: bool) -> Iterator[Any]:
    """A tqdm progress bar on stderr (disabled: nothing), or plain lines without tqdm."""
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is optional: per-run lines only
        yield _Lines()
        return
    with tqdm(total=total, desc=name, unit="run", file=sys.stderr, disable=not enabled,
              dynamic_ncols=True) as bar:
        yield bar


def _describe(run: BatchRun, row: Mapping[str, Any]) -> str:
    """One progress line: ``name: optimal, objective 123,456.0, gap 0.000%, 1.2 s``."""
    if row["status"] == "error":
        return f"{run.name}: error: {row.get('error')}"
    text = f"{run.name}: {row['status']}"
    if math.isfinite(row.get("objective", math.nan)):
        text += f", objective {row['objective']:,.1f}"
        gap = row.get("gap", math.nan)
        text += f", gap {100 * gap:.3f}%" if math.isfinite(gap) else ""
    return text + f", {row.get('runtime_s', math.nan):.1f} s"


def run_batch(
    batch: str | Path | BatchSpec,
    out_dir: str | Path,
    *,
    client: Client | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    share_instances: bool = True,
) -> pd.DataFrame:
    """Run every variant of a batch on Dask and tabulate the results.

    Each run is solved as ``lifecircle solve`` solves its scenario
    (:func:`scenarios.runner.run_scenario`, the scenario's seed and ``[solver]``), so a
    run's result is the result of running that variant alone (with proven optima the
    objectives are equal; at a time limit the plan found may differ, as between any two
    runs). Its usual outputs go to ``OUT/runs/<name>/`` (plus ``key.txt``, the scenario's
    :func:`scenarios.store.content_key`), written into a temporary sibling folder that is
    renamed into place, so a folder is either complete or absent. Started again on the same
    ``OUT``, a batch skips every run whose folder holds ``summary.json`` and the same key
    (so an edited scenario, data file or solver setting is solved again) and redoes the rest.

    Inputs: runs that differ only in budget, type weights or ``[solver]`` (a budget grid,
    say) share one instance, built once by a Dask task on a worker and handed to their
    runs, which then make run_scenario's solve call on it with their budget and weights
    (``share_instances=False`` makes every run call ``run_scenario`` itself). Runs that
    differ in anything else (radii, data files, policies) build their own instance from
    the files; walking distances then come from the on-disk network cache that
    :func:`scenarios.loader.build_instance` keeps (``~/.cache/lifecircle`` or
    ``$LIFECIRCLE_CACHE_DIR``), so the street network is routed once per distinct network,
    points and largest radius, but their tables (and the network file) are read once per
    run. Reading is cheap next to solving: building the sample city's instance takes about
    0.5 s with a warm cache, a solve 1-3 s.

    Parameters
    ----------
    batch
        A batch file, a folder of scenario files, or a :class:`BatchSpec`.
    out_dir
        Output folder: ``runs/<name>/`` per run, ``runs.csv`` and ``runs.parquet``.
    client
        A ``distributed.Client`` to use (left open).
    workers
        Worker processes of the local cluster started when neither ``client`` nor
        ``scheduler`` is given (default 1; one thread each, no dashboard, 127.0.0.1 only).
    scheduler
        Address of a running Dask scheduler (``tcp://host:port``) to connect to. Its
        workers must see the data files and ``out_dir`` at the same paths (one machine,
        or a shared file system).
    progress
        A progress bar and one line per finished run on stderr.
    share_instances
        Build one instance per group of runs that differ only in budget, weights and
        solver settings (see above).

    Returns
    -------
    pandas.DataFrame
        One row per run, in batch order (also written to ``runs.csv`` / ``runs.parquet``):
        ``name``, one column per parameter (dotted key), ``status`` (``optimal``,
        ``feasible``, ``infeasible``, ``no_solution``, or ``error`` for bad input or a run
        that raised after its retries), ``objective``, ``bound``, ``gap``,
        ``coverage_pct_<type>``, ``newly_covered_<type>`` (as in ``summary.json``),
        ``total_cost``, ``budget``, ``runtime_s`` (the solve), ``error`` (why, for
        ``error`` rows) and ``run_dir`` (relative to ``out_dir``).

    Raises
    ------
    InputError
        A bad batch file (every problem at once), an unreachable scheduler, or another
        batch writing ``out_dir``.

    Notes
    -----
    The local cluster's workers are spawned processes, so a script calling this without
    ``client`` or ``scheduler`` must do so under ``if __name__ == "__main__":``.
    """
    spec = batch if isinstance(batch, BatchSpec) else load_batch(batch)
    out = Path(out_dir).resolve()
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    with _OutputLock(out):
        for stale in runs_dir.glob(f".*{_STAGING}"):  # left by a killed batch
            shutil.rmtree(stale, ignore_errors=True)
        for stale in out.glob(f".runs.*{_STAGING}"):
            stale.unlink(missing_ok=True)
        rows: dict[str, dict[str, Any]] = {}
        keys: dict[str, str] = {}
        todo: list[BatchRun] = []
        done = bad = 0
        for run in spec.runs:
            if run.spec is None:
                rows[run.name] = _row(run, {"status": "error", "error": run.error}, None)
                bad += 1
                continue
            keys[run.name] = content_key(run.spec)
            summary = _finished(runs_dir / run.name, keys[run.name])
            if summary is not None:
                rows[run.name] = _row(run, summary, f"runs/{run.name}")
                done += 1
            else:
                rows[run.name] = _row(run, None, None)
                todo.append(run)
        if progress:
            print(f"{spec.name}: {len(spec.runs)} runs, {done} done already, {bad} bad "
                  f"input, {len(todo)} to solve", file=sys.stderr, flush=True)
        _write_table(_table(spec, rows), out)
        if todo:
            with _dask_client(client, scheduler, workers) as dask_client:
                _execute(dask_client, spec, todo, keys, rows, runs_dir, out,
                         progress=progress, share_instances=share_instances)
        frame = _table(spec, rows)
        _write_table(frame, out)
    return frame


def _execute(client: Client, batch: BatchSpec, todo: Sequence[BatchRun],
             keys: Mapping[str, str], rows: dict[str, dict[str, Any]], runs_dir: Path,
             out: Path, *, progress: bool, share_instances: bool) -> None:
    """Submit the runs (and shared instance builds), then collect them as they finish."""
    from distributed import as_completed

    groups: dict[str, list[BatchRun]] = {}
    for run in todo:
        assert run.spec is not None
        group = _instance_key(run.spec) if share_instances else run.name
        groups.setdefault(group, []).append(run)
    token = uuid.uuid4().hex[:10]
    futures = {}
    for number, members in enumerate(groups.values()):
        shared = None
        if len(members) > 1:
            shared = client.submit(_build_task, members[0].spec, key=f"lifecircle-build-"
                                   f"{number}-{token}", retries=batch.retries, pure=False)
        for run in members:
            future = client.submit(
                _run_task, run.spec, str(runs_dir / run.name), keys[run.name], shared,
                key=f"lifecircle-run-{len(futures)}-{token}", retries=batch.retries,
                pure=False)
            futures[future] = run
    last_write = time.monotonic()
    with _progress_bar(len(futures), batch.name, enabled=progress) as bar:
        for future in as_completed(list(futures), loop=client.loop):
            run = futures[future]
            try:
                outcome = future.result()
            except Exception as error:  # the run raised after its retries, or was cancelled
                outcome = {"status": "error", "error": _error_text(error)}
            rows[run.name] = _row(run, outcome, f"runs/{run.name}")
            future.release()
            bar.update(1)
            if progress:
                bar.write(_describe(run, rows[run.name]), file=sys.stderr)
            if time.monotonic() - last_write >= _TABLE_EVERY_S:
                _write_table(_table(batch, rows), out)
                last_write = time.monotonic()
