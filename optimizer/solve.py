"""The solve pipeline: pairs -> reductions -> heuristic -> MILP -> backend -> plan.

The heuristic's plan warm-starts the MIP and is kept if the MIP returns nothing better, so
an incumbent is never lost at a time limit. The returned objective is re-evaluated on the
original instance, independently of the model.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from optimizer.bounds import lagrangian_bound
from optimizer.coverage import compute_reach
from optimizer.heuristics import greedy_swap
from optimizer.instance import ANY_TYPE, SitingInstance
from optimizer.model import build_milp, full_solution
from optimizer.reduce import ReducedProblem, reduce_problem
from optimizer.results import Plan, SolverReport, evaluate_plan
from optimizer.solvers import get_backend
from optimizer.solvers.base import ProgressEvent, SolveOptions, SolveStatus, relative_gap

_TOLERANCE = 1e-6


def explain_infeasibility(instance: SitingInstance) -> list[str]:
    """Reasons why forced sites, caps and budget cannot hold together (empty if none found)."""
    reasons = []
    forced_cost = 0.0
    per_type_count = np.zeros(instance.n_types, dtype=np.int64)
    per_type_cost = np.zeros(instance.n_types)
    forced_as: dict[int, int] = {}
    for site, t in zip(instance.forced_sites, instance.forced_type, strict=True):
        site_id = instance.site_ids[site]
        if instance.excluded[site]:
            reasons.append(f"site {site_id} is both forced open and excluded")
            continue
        if int(site) in forced_as and forced_as[int(site)] != int(t):
            reasons.append(f"site {site_id} is forced open more than once, as different types")
            continue
        forced_as[int(site)] = int(t)
        if t != ANY_TYPE and not np.isfinite(instance.site_cost[site, t]):
            reasons.append(
                f"site {site_id} is forced to '{instance.types[t].name}' but has no cost for it"
            )
            continue
        if t == ANY_TYPE:
            costs = instance.site_cost[site]
            if not np.isfinite(costs).any():
                reasons.append(f"site {site_id} is forced open but has no cost for any type")
                continue
            forced_cost += float(np.nanmin(costs))
        else:
            forced_cost += float(instance.site_cost[site, t])
            per_type_count[t] += 1
            per_type_cost[t] += float(instance.site_cost[site, t])
    if forced_cost > instance.budget * (1 + 1e-12):
        reasons.append(
            f"forced sites cost at least {forced_cost:,.0f} but the budget is "
            f"{instance.budget:,.0f}"
        )
    for t, ftype in enumerate(instance.types):
        if ftype.max_sites is not None and per_type_count[t] > ftype.max_sites:
            reasons.append(
                f"{per_type_count[t]} sites are forced to '{ftype.name}' but max_sites is "
                f"{ftype.max_sites}"
            )
        if ftype.max_budget_share is not None:
            cap = ftype.max_budget_share * instance.budget
            if per_type_cost[t] > cap * (1 + 1e-12):
                reasons.append(
                    f"sites forced to '{ftype.name}' cost {per_type_cost[t]:,.0f}, over its "
                    f"budget share cap {cap:,.0f}"
                )
    return reasons


def _decode(problem: ReducedProblem, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return problem.column_site[columns], problem.column_type[columns]


def _integral_objective(problem: ReducedProblem) -> bool:
    weights = np.append(problem.group_weight, problem.constant)
    return bool(np.all(np.abs(weights - np.round(weights)) <= 1e-9))


def plan_violations(
    instance: SitingInstance, site_index: np.ndarray, type_index: np.ndarray
) -> list[str]:
    """Constraints a plan breaks (empty list: feasible), checked on the original instance."""
    found = []
    tolerance = 1e-9 * max(1.0, abs(instance.budget))
    costs = instance.site_cost[site_index, type_index]
    if not np.isfinite(costs).all():
        found.append("a site was given a type it cannot take")
    if costs.sum() > instance.budget + tolerance:
        found.append(f"cost {costs.sum():,.2f} exceeds the budget {instance.budget:,.2f}")
    if len(np.unique(site_index)) != len(site_index):
        found.append("a site was given two uses")
    if instance.excluded[site_index].any():
        found.append("an excluded site was opened")
    open_type = dict(zip(site_index.tolist(), type_index.tolist(), strict=True))
    for site, t in zip(instance.forced_sites, instance.forced_type, strict=True):
        if site not in open_type or (t != ANY_TYPE and open_type[site] != t):
            found.append(f"forced site {instance.site_ids[site]} is not open as required")
    for t, ftype in enumerate(instance.types):
        chosen = type_index == t
        if ftype.max_sites is not None and chosen.sum() > ftype.max_sites:
            found.append(f"more than {ftype.max_sites} '{ftype.name}' sites")
        if ftype.max_budget_share is not None and costs[chosen].sum() > (
            ftype.max_budget_share * instance.budget + tolerance
        ):
            found.append(f"'{ftype.name}' exceeds its budget share")
    return found


def solve(
    instance: SitingInstance,
    *,
    solver: str = "highs",
    time_limit_s: float = 60.0,
    mip_gap: float = 1e-4,
    threads: int | None = None,
    seed: int = 0,
    verbose: bool = False,
    progress=None,
    reductions: bool = True,
    heuristic: bool = True,
    use_mip: bool = True,
) -> Plan:
    r"""Choose which sites become which type to maximise weighted coverage within budget.

    Solves the budgeted multi-type maximal covering model

    .. math::

        \max \sum_t w_t \sum_i p_{it}\, \mathbb{1}[\exists j: x_{jt}=1 \lor
        \text{existing}_t,\ d_{ij} \le r_t]
        \quad \text{s.t.} \sum_t x_{jt} \le 1,\ \sum_{j,t} c_{jt} x_{jt} \le B

    plus optional type caps and forced/excluded sites (see :mod:`optimizer.model`).

    Parameters
    ----------
    instance
        The validated instance.
    solver
        Backend name: ``highs`` (default), ``cbc``, ``ortools`` (SCIP), ``ortools-sat``.
    time_limit_s
        Wall-time limit for the whole pipeline (model build included).
    mip_gap
        Relative gap at which the search may stop.
    threads, seed, verbose
        Passed to the backend.
    progress
        Callback receiving :class:`~optimizer.solvers.base.ProgressEvent` (heuristic and
        solver incumbents and bounds).
    reductions
        Apply coverage-set merging and column dominance.
    heuristic
        Run greedy + swap and warm-start the MIP from it.
    use_mip
        Run the MIP backend (False: heuristic only, with the trivial bound).

    Returns
    -------
    Plan
        Always returned; check ``plan.status``. At a time limit it holds the best solution
        found by the heuristic or the solver, with the best bound and gap.
    """
    started = time.perf_counter()
    backend = get_backend(solver)
    events: list[ProgressEvent] = []
    warnings: list[str] = []

    def emit(event: ProgressEvent) -> None:
        events.append(event)
        if progress is not None:
            progress(event)

    reasons = explain_infeasibility(instance)
    reach = compute_reach(instance)
    problem = reduce_problem(instance, reach, reductions=reductions)
    build_s = time.perf_counter() - started
    empty = np.empty(0, dtype=np.int64)
    if reasons:
        report = SolverReport(
            backend.name, "infeasible before solving", "checks", build_s, 0.0, 0.0, None, {},
            problem.stats,
        )
        return Plan(
            instance, SolveStatus.INFEASIBLE, None, None, None,
            time.perf_counter() - started, empty, empty, None, report, tuple(reasons),
        )

    upper_bound = problem.upper_bound
    best_columns: np.ndarray | None = None
    best_value = -np.inf
    heuristic_value: float | None = None
    heuristic_s = 0.0
    source = "none"
    if heuristic:
        found = greedy_swap(
            problem, time_limit_s=min(2.0, max(0.05, 0.1 * time_limit_s)), seed=seed
        )
        heuristic_s = found.runtime_s
        if found.feasible and plan_violations(instance, *_decode(problem, found.columns)):
            found = replace(found, feasible=False)
        if found.feasible:
            best_columns, best_value = found.columns, found.objective
            heuristic_value = found.objective
            source = found.method
            emit(ProgressEvent(found.method, time.perf_counter() - started, best_value,
                               upper_bound))

    if heuristic and best_columns is not None and best_value < upper_bound:
        upper_bound = min(upper_bound, lagrangian_bound(
            problem, target=best_value, time_limit_s=min(1.0, 0.05 * time_limit_s)
        ))
        emit(ProgressEvent("lagrangian", time.perf_counter() - started, best_value,
                           upper_bound))
    bound: float | None = upper_bound
    message = "heuristic only"
    solver_s = 0.0
    model_size: dict[str, int] = {}
    solver_status: SolveStatus | None = None
    proven = best_columns is not None and best_value >= upper_bound - _TOLERANCE * max(
        1.0, abs(upper_bound)
    )
    if use_mip and not proven:
        milp = build_milp(problem)
        model_size = {"columns": milp.n_cols, "rows": milp.n_rows, "nonzeros": milp.matrix.nnz,
                      "integer": int(milp.integrality.sum())}
        build_s = time.perf_counter() - started - heuristic_s
        remaining = max(0.5, time_limit_s - (time.perf_counter() - started))
        warm = full_solution(problem, best_columns) if best_columns is not None else None
        solver_started = time.perf_counter() - started

        def emit_from_solver(event: ProgressEvent) -> None:
            bound_now = event.bound
            if bound_now is None or not np.isfinite(bound_now):
                bound_now = upper_bound
            emit(ProgressEvent(event.source, solver_started + event.elapsed_s,
                               event.incumbent, min(bound_now, upper_bound)))

        options = SolveOptions(
            time_limit_s=remaining, mip_gap=mip_gap, threads=threads, seed=seed,
            verbose=verbose, progress=emit_from_solver,
        )
        result = backend.solve(milp, options=options, warm_start=warm)
        solver_s = result.runtime_s
        solver_status = result.status
        message = result.message
        contradicted = (
            result.status == SolveStatus.OPTIMAL
            and result.objective is not None
            and best_columns is not None
            and best_value > result.objective + _TOLERANCE * max(1.0, abs(best_value))
        )
        if contradicted:
            # Seen with CBC 2.10.3's preprocessing: "optimal" below a plan we hold.
            warnings.append(
                f"{backend.name} claimed optimal {result.objective:,.6g} below the known plan "
                f"{best_value:,.6g}; its status and bound are ignored"
            )
            solver_status = SolveStatus.FEASIBLE
        elif result.bound is not None and result.status != SolveStatus.ERROR:
            bound = min(upper_bound, result.bound)
        if result.values is not None and result.objective is not None:
            columns = np.nonzero(result.values[: milp.n_x] > 0.5)[0]
            broken = plan_violations(instance, *_decode(problem, columns))
            if broken:
                warnings.append(f"{backend.name} returned an infeasible plan: {broken[0]}")
            elif result.objective > best_value + _TOLERANCE * max(1.0, abs(best_value)) or (
                best_columns is None
            ):
                best_columns, best_value = columns, result.objective
                source = backend.name
    elif proven:
        message = "heuristic reached the trivial upper bound"

    runtime = time.perf_counter() - started
    if best_columns is None:
        if solver_status == SolveStatus.INFEASIBLE:
            status = SolveStatus.INFEASIBLE
        elif solver_status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
            status = SolveStatus.ERROR  # the solver's plan broke a constraint (see warnings)
        else:
            status = solver_status or SolveStatus.NO_SOLUTION
        report = SolverReport(backend.name, message, source, build_s, heuristic_s, solver_s,
                              heuristic_value, model_size, problem.stats, tuple(events),
                              tuple(warnings))
        explanation = ("the solver proved the constraints infeasible",) if (
            status == SolveStatus.INFEASIBLE) else ()
        return Plan(instance, status, None, bound, None, runtime, empty, empty, None, report,
                    explanation)

    site_index, type_index = _decode(problem, best_columns)
    coverage = evaluate_plan(instance, reach, site_index, type_index)
    objective = float((coverage.covered * instance.population * instance.weights).sum())
    if abs(objective - best_value) > 1e-6 * max(1.0, abs(objective)):
        warnings.append(
            f"model objective {best_value:.6g} differs from re-evaluated {objective:.6g}"
        )
    if solver_status == SolveStatus.INFEASIBLE:
        warnings.append("the solver reported infeasible but a feasible plan was found")
    if bound is not None and _integral_objective(problem):
        # Every weight is whole, so no plan can score a fraction above the floor.
        bound = float(np.floor(bound + 1e-6))
    if bound is not None and bound < objective:
        bound = objective
    gap = relative_gap(objective, bound)
    if proven or solver_status == SolveStatus.OPTIMAL:
        status = SolveStatus.OPTIMAL
    else:
        status = SolveStatus.FEASIBLE
    report = SolverReport(
        backend=backend.name,
        message=message,
        source=source,
        build_s=build_s,
        heuristic_s=heuristic_s,
        solver_s=solver_s,
        heuristic_objective=heuristic_value,
        model_size=model_size,
        reductions=problem.stats,
        progress=tuple(events),
        warnings=tuple(warnings),
    )
    order = np.lexsort((site_index, type_index))
    return Plan(
        instance=instance,
        status=status,
        objective=objective,
        bound=bound,
        gap=gap,
        runtime_s=runtime,
        site_index=site_index[order],
        type_index=type_index[order],
        coverage=coverage,
        report=report,
    )
