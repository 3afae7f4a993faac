"""The one entry point the CLI, the app and batch runs share: scenario in, results out."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from optimizer.instance import SitingInstance
from optimizer.results import Plan
from optimizer.solve import solve
from optimizer.solvers.base import ProgressCallback
from scenarios.atomic import (
    atomic_path,
    fsync_path,
    remove_stale_temporaries,
    write_text_atomic,
)
from scenarios.library import resolve_scenario
from scenarios.loader import build_instance
from scenarios.spec import ScenarioSpec, SolverSpec, load_scenario, scenario_toml


@dataclass(frozen=True, eq=False)
class ScenarioResult:
    """A solved scenario: its spec, the instance it became, and the plan."""

    spec: ScenarioSpec
    instance: SitingInstance
    plan: Plan

    def summary(self) -> dict[str, Any]:
        """``summary.json``: the plan's summary plus the scenario's name and path."""
        summary = {
            "scenario": self.spec.name,
            "scenario_file": str(self.spec.path) if self.spec.path else None,
            **self.plan.summary(),
        }
        summary["solver"]["time_limit_s"] = self.spec.solver.time_limit_s
        summary["solver"]["gap_limit"] = self.spec.solver.gap
        return summary


def with_solver_overrides(
    spec: ScenarioSpec,
    *,
    solver: str | None = None,
    time_limit_s: float | None = None,
    gap: float | None = None,
    threads: int | None = None,
    seed: int | None = None,
) -> ScenarioSpec:
    """A copy of ``spec`` with the given ``[solver]`` settings replaced."""
    current = spec.solver
    updated = SolverSpec(
        name=solver if solver is not None else current.name,
        time_limit_s=time_limit_s if time_limit_s is not None else current.time_limit_s,
        gap=gap if gap is not None else current.gap,
        threads=threads if threads is not None else current.threads,
        seed=seed if seed is not None else current.seed,
    )
    return replace(spec, solver=updated)


def run_scenario(
    scenario: ScenarioSpec | str | Path,
    *,
    progress: ProgressCallback | None = None,
    verbose: bool = False,
    should_stop: Callable[[], bool] | None = None,
    **solver_overrides: Any,
) -> ScenarioResult:
    """Load (if needed), validate and solve a scenario.

    Parameters
    ----------
    scenario
        A spec, a path to a TOML file, or the name of a shipped scenario.
    progress
        Receives progress events (heuristic and solver incumbents and bounds).
    verbose
        Print the solver's log.
    should_stop
        Cancel hook (e.g. ``threading.Event().is_set``), passed to
        :func:`optimizer.solve.solve`: once it returns True the solve ends within about a
        second with the best plan so far (status ``feasible``) or ``no_solution``.
    **solver_overrides
        ``solver``, ``time_limit_s``, ``gap``, ``threads``, ``seed``: override ``[solver]``.

    Raises
    ------
    InputError
        Bad input, with every problem listed.
    """
    spec = scenario if isinstance(scenario, ScenarioSpec) else load_scenario(
        resolve_scenario(scenario)
    )
    spec = with_solver_overrides(spec, **solver_overrides)
    instance = build_instance(spec)
    plan = solve(
        instance,
        solver=spec.solver.name,
        time_limit_s=spec.solver.time_limit_s,
        mip_gap=spec.solver.gap,
        threads=spec.solver.threads,
        seed=spec.solver.seed,
        verbose=verbose,
        progress=progress,
        should_stop=should_stop,
    )
    return ScenarioResult(spec, instance, plan)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


OPTIONAL_OUTPUTS = ("coverage_by_year.csv", "coverage_by_group.csv")
"""Files :func:`write_outputs` writes only for some scenarios (and removes otherwise)."""


def write_outputs(result: ScenarioResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``summary.json``, ``sites.csv``, ``coverage.csv``, ``coverage_by_type.csv``,
    ``scenario.toml`` (the scenario as solved, with absolute data paths), ``progress.csv``
    (incumbent, bound and gap over time) and, where the demand has a grouping column
    (``policy.group_by`` or ``community_id``), ``coverage_by_group.csv``.
    :func:`scenarios.store.load_run` rebuilds the result from these files.

    Every file is written atomically (:mod:`scenarios.atomic`: a temporary file in
    ``out_dir``, fsynced, renamed over the target), so each is either its previous complete
    version or the new one, even when the process is killed. ``summary.json`` is the run's
    commit record: it is removed first and written last, so when it exists every other
    file belongs to the same run. Rewriting a folder is idempotent: optional files of an
    earlier run that this result does not have (``coverage_by_group.csv``,
    ``coverage_by_year.csv``) are removed, as are temporary files left by killed writers;
    files lifecircle does not write here are left alone."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    paths = {
        "summary": out / "summary.json",
        "sites": out / "sites.csv",
        "coverage": out / "coverage.csv",
        "coverage_by_type": out / "coverage_by_type.csv",
    }
    if paths["summary"].exists():  # the folder is an incomplete run until it is back
        paths["summary"].unlink()
        fsync_path(out)

    def frame(key: str, table: pd.DataFrame) -> None:
        paths.setdefault(key, out / f"{key}.csv")
        with atomic_path(paths[key]) as temporary:
            table.to_csv(temporary, index=False)

    paths["scenario"] = out / "scenario.toml"
    write_text_atomic(
        paths["scenario"],
        "# The scenario as solved (absolute data paths); `lifecircle solve` reruns it.\n"
        + scenario_toml(result.spec))
    frame("progress", pd.DataFrame(
        [(e.source, e.elapsed_s, e.incumbent, e.bound, e.gap) for e in result.plan.report.progress],
        columns=["source", "elapsed_s", "incumbent", "bound", "gap"],
    ))
    frame("sites", result.plan.chosen_sites())
    frame("coverage", result.plan.unit_coverage())
    frame("coverage_by_type", result.plan.coverage_by_type())
    if result.plan.yearly_coverage:
        frame("coverage_by_year", result.plan.coverage_by_year())
    group_by = result.spec.policy.group_by
    if group_by is None and result.instance.demand_attributes is not None and (
            "community_id" in result.instance.demand_attributes.columns):
        group_by = "community_id"
    if group_by is not None:
        frame("coverage_by_group", result.plan.coverage_by_group(group_by))
    for name in OPTIONAL_OUTPUTS:  # left by an earlier run of another scenario
        if Path(name).stem not in paths:
            (out / name).unlink(missing_ok=True)
    write_text_atomic(
        paths["summary"],
        json.dumps(_json_safe(result.summary()), indent=2, ensure_ascii=False) + "\n")
    return paths
