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


def write_outputs(result: ScenarioResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``summary.json``, ``sites.csv``, ``coverage.csv``, ``coverage_by_type.csv``,
    ``scenario.toml`` (the scenario as solved, with absolute data paths), ``progress.csv``
    (incumbent, bound and gap over time) and, where the demand has a grouping column
    (``policy.group_by`` or ``community_id``), ``coverage_by_group.csv``.
    :func:`scenarios.store.load_run` rebuilds the result from these files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "summary": out / "summary.json",
        "sites": out / "sites.csv",
        "coverage": out / "coverage.csv",
        "coverage_by_type": out / "coverage_by_type.csv",
    }
    paths["summary"].write_text(
        json.dumps(_json_safe(result.summary()), indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    paths["scenario"] = out / "scenario.toml"
    paths["scenario"].write_text(
        "# The scenario as solved (absolute data paths); `lifecircle solve` reruns it.\n"
        + scenario_toml(result.spec), encoding="utf-8")
    paths["progress"] = out / "progress.csv"
    pd.DataFrame(
        [(e.source, e.elapsed_s, e.incumbent, e.bound, e.gap) for e in result.plan.report.progress],
        columns=["source", "elapsed_s", "incumbent", "bound", "gap"],
    ).to_csv(paths["progress"], index=False)
    result.plan.chosen_sites().to_csv(paths["sites"], index=False)
    result.plan.unit_coverage().to_csv(paths["coverage"], index=False)
    result.plan.coverage_by_type().to_csv(paths["coverage_by_type"], index=False)
    if result.plan.yearly_coverage:
        paths["coverage_by_year"] = out / "coverage_by_year.csv"
        result.plan.coverage_by_year().to_csv(paths["coverage_by_year"], index=False)
    group_by = result.spec.policy.group_by
    if group_by is None and result.instance.demand_attributes is not None and (
            "community_id" in result.instance.demand_attributes.columns):
        group_by = "community_id"
    if group_by is not None:
        paths["coverage_by_group"] = out / "coverage_by_group.csv"
        result.plan.coverage_by_group(group_by).to_csv(paths["coverage_by_group"], index=False)
    return paths
