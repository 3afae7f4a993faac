"""The solve pipeline: pairs -> reductions -> heuristic -> MILP -> backend -> plan.

The heuristic's plan warm-starts the MIP and is kept if the MIP returns nothing better, so
an incumbent is never lost at a time limit. The returned objective is re-evaluated on the
original instance, independently of the model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from optimizer.bounds import lagrangian_bound
from optimizer.coverage import compute_reach
from optimizer.errors import InputError, Problem
from optimizer.heuristics import greedy_swap
from optimizer.instance import ANY_TYPE, SitingInstance
from optimizer.lns import large_neighbourhood_search, lns_applicable
from optimizer.model import MilpArrays, build_milp, full_solution
from optimizer.phasing import expand_years
from optimizer.policy import Policy
from optimizer.portfolio import STOP_GRACE_S, run_portfolio
from optimizer.reduce import ReducedProblem, reduce_problem
from optimizer.results import (
    Plan,
    SolverReport,
    UnitCoverage,
    evaluate_plan,
    floor_shortfalls,
    plan_objective,
    worst_group_share,
)
from optimizer.solvers import get_backend
from optimizer.solvers.base import (
    BackendResult,
    ProgressEvent,
    SolveOptions,
    SolveStatus,
    relative_gap,
)

_TOLERANCE = 1e-6
_LNS_SHARE = 0.3  # most of the time limit the neighbourhood search may take before the MIP
_LNS_MIN_COLUMNS = 1000  # below this the MIP alone is faster than searching neighbourhoods


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
    instance: SitingInstance,
    site_index: np.ndarray,
    type_index: np.ndarray,
    *,
    coverage: UnitCoverage | None = None,
) -> list[str]:
    """Constraints a plan breaks (empty list: feasible), checked on the original instance.

    With ``coverage``, hard equity floors, city-wide targets and capacities are checked too.
    """
    found = []
    policy = instance.policy
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
    if policy.has_area_budgets:
        spent = np.bincount(policy.site_area[site_index][policy.site_area[site_index] >= 0],
                            weights=costs[policy.site_area[site_index] >= 0],
                            minlength=len(policy.area_names))
        for a in np.nonzero(spent > policy.area_budget * (1 + 1e-9) + 1e-9)[0]:
            found.append(f"area '{policy.area_names[a]}' spends {spent[a]:,.0f} over its "
                         f"budget {policy.area_budget[a]:,.0f}")
    if coverage is not None:
        for name, short in floor_shortfalls(instance, coverage).items():
            if name.startswith("target") or policy.floor_mode == "hard":
                found.append(f"{name} is {short:,.1f} people short")
        if coverage.utilisation is not None and policy.site_capacity is not None:
            capacity = policy.site_capacity[site_index, type_index]
            use = coverage.utilisation[site_index]
            over = np.isfinite(capacity) & (use > capacity * (1 + 1e-6) + 1e-6)
            for j in np.nonzero(over)[0][:3]:
                found.append(f"site {instance.site_ids[site_index[j]]} serves {use[j]:,.1f} "
                             f"over its capacity {capacity[j]:,.1f}")
    return found


def explain_policy_infeasibility(
    instance: SitingInstance, problem: ReducedProblem, reach, *,
    should_stop: Callable[[], bool] | None = None,
) -> list[str]:
    """Why floors or targets cannot be met: out of reach, or beyond the budget.

    ``should_stop`` is handed to the least-cost solve that prices the floors and targets.
    """
    policy = instance.policy
    reasons = []
    for t, kind in enumerate(instance.types):
        pop = instance.population[:, t]
        reachable = problem.unit_group[:, t] != -1
        requests = []
        if policy.target(t) is not None:
            requests.append((f"the city-wide target for '{kind.name}'", np.ones_like(
                reachable), policy.target(t)))
        if policy.has_floors and policy.floor(t) is not None:
            for c, name in enumerate(policy.group_names):
                requests.append((f"the floor for '{kind.name}' in {name}",
                                 policy.unit_group == c, policy.floor(t)))
        for what, members, share in requests:
            total = float(pop[members].sum())
            best = float(pop[members & reachable].sum())
            if total > 0 and best < share * total * (1 - 1e-9):
                reasons.append(
                    f"{what} ({100 * share:.0f} %) cannot be met: at most "
                    f"{100 * best / total:.1f} % live within {kind.radius_m:g} m of a "
                    f"candidate or existing facility"
                )
    hard_requests = (policy.has_floors and policy.floor_mode == "hard") or policy.has_targets
    if reasons or not hard_requests or not np.isfinite(instance.budget):
        return reasons
    cheapest = solve(
        SitingInstance(**{**instance.__dict__, "budget": np.inf,
                          "policy": replace(policy, objective="min_cost")}),
        time_limit_s=10.0, heuristic=False, should_stop=should_stop,
    )
    if cheapest.has_solution and cheapest.bound is not None and (
            cheapest.bound > instance.budget * (1 + 1e-9)):
        reasons.append(
            f"meeting the floors and targets costs at least {cheapest.bound:,.0f} "
            f"(cheapest plan found: {cheapest.objective:,.0f}) but the budget is "
            f"{instance.budget:,.0f}"
        )
    return reasons


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
    lns: bool = False,
    should_stop: Callable[[], bool] | None = None,
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
        Run greedy + descent, then (plain coverage models) the search beside the MIP, or
        (other models) a short search that warm-starts the MIP.
    lns
        With ``heuristic``, also run a large-neighbourhood search
        (:mod:`optimizer.lns`) on large plain-coverage models, for up to 30 % of the time
        limit, before the search-and-MIP portfolio (:mod:`optimizer.portfolio`). Off by
        default: the portfolio's iterated search and merging found better plans.
    use_mip
        Run the MIP backend (False: heuristic only, with the trivial bound).
    should_stop
        A cancel hook, e.g. ``threading.Event().is_set`` set by a Cancel button. It is
        called from several threads (it must be thread-safe and cheap) by every stage: the
        compiled search (every 20 ms, ending within one round), the bounds, merges and
        neighbourhood sub-MIPs, and HiGHS's branch-and-cut (which, when it takes no
        interrupt within 0.5 s, e.g. inside its root LP, is left to end by itself in the
        background). Once it returns True the solve ends, usually within a second, with
        the best plan found so far (status ``feasible`` unless already proven), its bound
        and gap, and the warning "stopped on request after X.X s" (seconds into the
        solve); cancelled before any plan exists, the status is ``no_solution``. CBC and
        OR-Tools are not started after a stop but cannot be interrupted once running;
        pairs and reductions always run to their end.

    Returns
    -------
    Plan
        Always returned; check ``plan.status``. At a time limit it holds the best solution
        found by the heuristic or the solver, with the best bound and gap.
    """
    started = time.perf_counter()
    stop: _StopRequest | None
    if should_stop is None or isinstance(should_stop, _StopRequest):
        stop = should_stop  # (max-min's stages share the caller's)
    else:
        stop = _StopRequest(should_stop, started)

    def stopped() -> bool:
        """Poll the hook (True from its first True on)."""
        return stop is not None and stop()

    def was_stopped() -> bool:
        """Whether a stage has seen the stop (without polling the hook again)."""
        return stop is not None and stop.at is not None

    if instance.policy.maxmin_types and instance.policy.objective == "coverage":
        return _solve_maxmin(instance, solver=solver, time_limit_s=time_limit_s,
                             mip_gap=mip_gap, threads=threads, seed=seed, verbose=verbose,
                             progress=progress, reductions=reductions, heuristic=heuristic,
                             use_mip=use_mip, lns=lns, should_stop=stop)
    backend = get_backend(solver)
    _check_backend_fits(backend.name, instance.policy)
    events: list[ProgressEvent] = []
    warnings: list[str] = []

    def emit(event: ProgressEvent) -> None:
        events.append(event)
        if progress is not None:
            progress(event)

    reasons = explain_infeasibility(instance)
    reach = compute_reach(instance)
    problem = reduce_problem(instance, reach, reductions=reductions)
    if instance.policy.has_phasing:
        problem = expand_years(problem)
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

    policy = instance.policy
    minimise = policy.objective == "min_cost"
    capacitated = bool(policy.capacitated_types())
    upper_bound = _trivial_bound(problem)
    best: _Candidate | None = None
    heuristic_value: float | None = None
    heuristic_s = 0.0
    search: dict[str, float | int] = {}
    searchable = heuristic and lns_applicable(problem)
    if heuristic and policy.objective == "coverage" and not capacitated and not stopped():
        # Searchable models get the full search in the portfolio below; for the others
        # (floors, targets, complete circle) a short search gives the MIP a warm start.
        found = greedy_swap(problem, seed=seed, iterate=not searchable,
                            time_limit_s=min(2.0, max(0.05, 0.1 * time_limit_s)),
                            should_stop=stop)
        heuristic_s = found.runtime_s
        if found.feasible:
            candidate = _assess(instance, reach, problem, found.columns, None, found.method)
            if not candidate.violations:
                best = candidate
                heuristic_value = candidate.value
                emit(ProgressEvent(found.method, time.perf_counter() - started, best.value,
                                   upper_bound))
        if best is not None and policy.objective == "coverage" and not policy.has_circle \
                and best.value < upper_bound and not stopped():
            upper_bound = min(upper_bound, lagrangian_bound(
                problem, target=best.value, time_limit_s=min(1.0, 0.05 * time_limit_s),
                should_stop=stop,
            ))
            emit(ProgressEvent("lagrangian", time.perf_counter() - started, best.value,
                               upper_bound))
        if lns and best is not None and use_mip and best.value < upper_bound \
                and _worth_search(problem, _LNS_MIN_COLUMNS) and not stopped():
            lns_s = min(_LNS_SHARE * time_limit_s,
                        time_limit_s - (time.perf_counter() - started) - 1.0)
            if lns_s > 0.5:
                best, search = _improve_by_lns(instance, reach, problem, best, lns_s,
                                               seed=seed, upper_bound=upper_bound,
                                               started=started, emit=emit,
                                               should_stop=stop)
                heuristic_s += search["lns_s"]
    bound: float | None = upper_bound
    message = "heuristic only"
    solver_s = 0.0
    model_size: dict[str, int] = {}
    solver_status: SolveStatus | None = None
    warm_columns = best.columns if best is not None else None
    proven = best is not None and _reaches(best.value, upper_bound)
    result: BackendResult | None = None
    milp: MilpArrays | None = None
    if stopped():
        pass  # nothing more is started (the stop is reported below)
    elif searchable and best is not None and not proven:
        outcome = run_portfolio(
            problem, best.columns, backend=backend,
            time_limit_s=max(0.5, time_limit_s - (time.perf_counter() - started)),
            mip_gap=mip_gap, threads=threads, seed=seed, verbose=verbose,
            upper_bound=upper_bound, emit=emit, use_mip=use_mip, started=started,
            should_stop=stop)
        search.update(outcome.report)
        heuristic_s += float(outcome.report["search_s"])
        upper_bound = min(upper_bound, outcome.bound)
        bound = upper_bound
        if outcome.value > best.value:
            candidate = _assess(instance, reach, problem, outcome.columns, None,
                                outcome.source)
            if candidate.violations:
                warnings.append(f"the search returned an infeasible plan: "
                                f"{candidate.violations[0]}")
            elif _beats(candidate, best):
                best = candidate
        result, milp = outcome.mip, outcome.milp
        if not use_mip:
            message = "search only"
        elif result is None and was_stopped():
            message = "stopped on request"
        elif result is None and "second_search" in outcome.report:
            message = ("model too large for branch-and-cut in the time: a second search "
                       "chain ran instead")
        elif result is None:
            message = "the search met the bound"
    elif use_mip and not proven:
        milp = build_milp(problem)
        remaining = max(0.5, time_limit_s - (time.perf_counter() - started))
        warm = full_solution(problem, warm_columns, milp) if warm_columns is not None \
            else None
        solver_started = time.perf_counter() - started

        def emit_from_solver(event: ProgressEvent) -> None:
            bound_now = event.bound
            if bound_now is None or not np.isfinite(bound_now):
                bound_now = upper_bound
            elif upper_bound is not None:
                bound_now = min(bound_now, upper_bound)
            emit(ProgressEvent(event.source, solver_started + event.elapsed_s,
                               event.incumbent, bound_now))

        options = SolveOptions(
            time_limit_s=remaining, mip_gap=mip_gap, threads=threads, seed=seed,
            verbose=verbose, progress=emit_from_solver, should_stop=stop,
            stop_grace_s=None if stop is None else STOP_GRACE_S,
        )
        result = backend.solve(milp, options=options, warm_start=warm)
    if milp is not None:
        model_size = {"columns": milp.n_cols, "rows": milp.n_rows, "nonzeros": milp.matrix.nnz,
                      "integer": int(milp.integrality.sum())}
        if milp.layout is not None and milp.layout.components:
            model_size["small_components"] = len(milp.layout.components)
            model_size["component_plans"] = sum(len(c.value) for c in milp.layout.components)
    if result is not None and milp is not None:
        solver_s = result.runtime_s
        solver_status = result.status
        message = result.message
        tolerance = _TOLERANCE * max(1.0, abs(best.value)) if best is not None else 0.0
        # "Optimal" within the gap may sit a little below a plan found by the search, but
        # its bound may not. (CBC 2.10.3's preprocessing was seen claiming both too low.)
        claimed = result.bound if result.bound is not None else result.objective
        contradicted = (
            result.status == SolveStatus.OPTIMAL
            and claimed is not None
            and best is not None
            and best.value > claimed + tolerance
        )
        if contradicted:
            warnings.append(
                f"{backend.name} claimed optimal with bound {claimed:,.6g} below the known "
                f"plan {best.value:,.6g}; its status and bound are ignored"
            )
            solver_status = SolveStatus.FEASIBLE
        elif result.bound is not None and result.status != SolveStatus.ERROR:
            bound = result.bound if upper_bound is None else min(upper_bound, result.bound)
        if result.values is not None and result.objective is not None:
            columns = np.nonzero(result.values[: milp.n_x] > 0.5)[0]
            candidate = _assess(instance, reach, problem, columns, (milp, result.values),
                                backend.name)
            if candidate.violations:
                warnings.append(
                    f"{backend.name} returned an infeasible plan: {candidate.violations[0]}")
            elif best is None or candidate.value > best.value + tolerance:
                if candidate.value < result.objective - 1e-6 * max(1.0, abs(
                        candidate.value)):
                    # Below is suspicious; above is normal (a y the solver left below 1).
                    warnings.append(f"model objective {result.objective:.6g} is above the "
                                    f"re-evaluated {candidate.value:.6g}")
                best = candidate
    elif proven:
        message = "heuristic reached the trivial upper bound"
    elif result is None and was_stopped():
        message = "stopped on request"
    if stop is not None and stop.at is not None:
        warnings.append(stop.warning())

    runtime = time.perf_counter() - started
    if best is None:
        if solver_status == SolveStatus.INFEASIBLE:
            status = SolveStatus.INFEASIBLE
        elif solver_status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
            status = SolveStatus.ERROR  # the solver's plan broke a constraint (see warnings)
        else:
            status = solver_status or SolveStatus.NO_SOLUTION
        report = SolverReport(backend.name, message, "none", build_s, heuristic_s, solver_s,
                              heuristic_value, model_size, problem.stats, tuple(events),
                              tuple(warnings))
        explanation: tuple[str, ...] = ()
        if status == SolveStatus.INFEASIBLE:
            explanation = tuple(explain_policy_infeasibility(
                instance, problem, reach, should_stop=stop)) or (
                "the solver proved the constraints infeasible",)
        return Plan(instance, status, None, _report_scale(bound, minimise), None, runtime,
                    empty, empty, None, report, explanation)

    if solver_status == SolveStatus.INFEASIBLE:
        warnings.append("the solver reported infeasible but a feasible plan was found")
    if bound is not None and _integral_objective(problem) and policy.objective == "coverage" \
            and (
            policy.is_plain or (policy.has_area_budgets and not policy.has_circle)):
        # Every weight is whole, so no plan can score a fraction above the floor.
        bound = float(np.floor(bound + 1e-6))
    if bound is not None and bound < best.value:
        bound = best.value
    closed = _reaches(best.value, bound)
    status = SolveStatus.OPTIMAL if (proven or closed or solver_status == SolveStatus.OPTIMAL) \
        else SolveStatus.FEASIBLE
    objective = _report_scale(best.value, minimise)
    reported_bound = _report_scale(bound, minimise)
    gap = relative_gap(best.value, bound)
    report = SolverReport(
        backend=backend.name,
        message=message,
        source=best.source,
        build_s=build_s,
        heuristic_s=heuristic_s,
        solver_s=solver_s,
        heuristic_objective=heuristic_value,
        model_size=model_size,
        reductions=problem.stats,
        progress=tuple(events),
        warnings=tuple(warnings),
        objective_parts=best.parts,
        search=search,
    )
    order = np.lexsort((best.site_index, best.type_index))
    years = None
    if best.year_index is not None:
        order = np.lexsort((best.site_index, best.type_index, best.year_index))
        years = best.year_index[order]
    return Plan(
        instance=instance,
        status=status,
        objective=objective,
        bound=reported_bound,
        gap=gap,
        runtime_s=runtime,
        site_index=best.site_index[order],
        type_index=best.type_index[order],
        coverage=best.coverage,
        report=report,
        year_index=years,
        year_names=problem.year_names,
        yearly_coverage=tuple(best.yearly) if best.yearly is not None else (),
    )


class _StopRequest:
    """The caller's cancel hook made sticky: once it has returned True, every later call
    does too without asking it again, and ``at`` keeps when (seconds into the solve) the
    stop was first seen. Nested solves (max-min's two stages) share one."""

    def __init__(self, hook: Callable[[], bool], started: float) -> None:
        self._hook = hook
        self._started = started
        self.at: float | None = None

    def __call__(self) -> bool:
        if self.at is None and self._hook():
            self.at = time.perf_counter() - self._started
        return self.at is not None

    def warning(self) -> str:
        return f"stopped on request after {self.at or 0.0:.1f} s"


def _solve_maxmin(instance: SitingInstance, *, time_limit_s: float,
                  should_stop: _StopRequest | None = None, **options) -> Plan:
    """Lexicographic max-min: raise the worst group's share, then maximise coverage.

    Stopped on request during the first stage, the second is cut short too; if it then
    has no plan, the first stage's plan (which meets the floor it set) is returned, scored
    for coverage, with the second stage's bound.
    """
    started = time.perf_counter()
    policy = instance.policy
    options["should_stop"] = should_stop
    first = solve(
        replace(instance, policy=replace(policy, objective="maxmin")),
        time_limit_s=time_limit_s / 2, **{**options, "heuristic": False},
    )
    if not first.has_solution:
        return first
    share = max(0.0, float(first.objective) - 1e-9)
    floors = list(policy.floor_share) + [None] * (instance.n_types - len(policy.floor_share))
    for t in policy.maxmin_types:
        floors[t] = max(floors[t] or 0.0, share)
    second_policy = replace(policy, maxmin_types=(), floor_share=tuple(floors),
                            floor_mode="hard")
    left = max(1.0, time_limit_s - (time.perf_counter() - started))
    second_instance = replace(instance, policy=second_policy)
    second = solve(second_instance, time_limit_s=left, **options)
    warnings = first.report.warnings + second.report.warnings
    if should_stop is not None and should_stop.at is not None:
        warnings = tuple(dict.fromkeys(warnings))  # both stages report the one stop
        if not second.has_solution and second.status == SolveStatus.NO_SOLUTION:
            second = _first_stage_plan(first, second, second_instance)
    parts = {**second.report.objective_parts, "worst_group_share": float(first.objective),
             "worst_group_share_status": str(first.status)}
    report = replace(second.report, objective_parts=parts, warnings=warnings)
    status = second.status
    if first.status != SolveStatus.OPTIMAL and status == SolveStatus.OPTIMAL:
        status = SolveStatus.FEASIBLE  # the floor itself is not proven best
    return replace(second, instance=instance, report=report, status=status,
                   runtime_s=time.perf_counter() - started)


def _first_stage_plan(first: Plan, second: Plan, second_instance: SitingInstance) -> Plan:
    """Max-min stopped before the second stage found a plan: the first stage's plan
    (feasible for the second stage, whose floor it set), scored for coverage, with the
    second stage's bound."""
    assert first.coverage is not None
    value, parts = plan_objective(second_instance, first.coverage)
    report = replace(second.report, source=f"maxmin stage 1 ({first.report.source})",
                     objective_parts=parts, progress=first.report.progress
                     + second.report.progress)
    bound = second.bound if second.bound is None else max(second.bound, value)
    return replace(first, status=SolveStatus.FEASIBLE, objective=value, bound=bound,
                   gap=relative_gap(value, bound), report=report)


def _worth_search(problem: ReducedProblem, min_columns: int) -> bool:
    """Local and neighbourhood search pay on big plain-coverage models only."""
    return lns_applicable(problem) and problem.n_columns >= min_columns


def _reaches(value: float, bound: float | None) -> bool:
    """True when ``value`` meets ``bound`` within the tolerance (the gap is closed)."""
    return bound is not None and value >= bound - _TOLERANCE * max(1.0, abs(bound))


def _beats(candidate: _Candidate, best: _Candidate) -> bool:
    """True when ``candidate`` violates nothing and scores above ``best``."""
    return not candidate.violations and candidate.value > best.value + _TOLERANCE * max(
        1.0, abs(best.value))


def _improve_by_lns(instance: SitingInstance, reach, problem: ReducedProblem,
                    best: _Candidate, time_limit_s: float, *, seed: int, upper_bound: float | None,
                    started: float, emit, should_stop: Callable[[], bool] | None = None
                    ) -> tuple[_Candidate, dict[str, float | int]]:
    """Run the neighbourhood search from ``best``; keep its plan only if it scores higher."""

    def improved(_columns: np.ndarray, value: float) -> None:
        emit(ProgressEvent("lns", time.perf_counter() - started, value, upper_bound))

    found = large_neighbourhood_search(problem, best.columns, time_limit_s=time_limit_s,
                                       seed=seed, on_improvement=improved,
                                       should_stop=should_stop)
    search = {"lns_s": found.runtime_s,
              "neighbourhoods": found.neighbourhoods, "improvements": found.improvements,
              "start_objective": best.value, "objective": found.objective}
    if found.improved:
        candidate = _assess(instance, reach, problem, found.columns, None, "lns")
        if _beats(candidate, best):
            return candidate, search
    return best, search


def _check_backend_fits(name: str, policy: Policy) -> None:
    """CP-SAT has no continuous variables: refuse models whose optimum needs them."""
    if name != "ortools-sat":
        return
    needs = []
    if policy.capacitated_types():
        needs.append("capacities (fractional assignment)")
    if policy.has_floors and policy.floor_mode == "soft":
        needs.append("soft floors (fractional shortfalls)")
    if policy.maxmin_types or policy.objective == "maxmin":
        needs.append("max-min (a fractional share)")
    if needs:
        raise InputError([Problem(
            f"solver 'ortools-sat' (CP-SAT) cannot represent {' and '.join(needs)}: use "
            f"highs, cbc or ortools")])


@dataclass(frozen=True, eq=False)
class _Candidate:
    """A plan under consideration, scored on the original instance."""

    columns: np.ndarray
    site_index: np.ndarray
    type_index: np.ndarray
    coverage: UnitCoverage
    value: float
    parts: dict
    violations: list[str]
    source: str
    year_index: np.ndarray | None = None
    yearly: list[UnitCoverage] | None = None


def _assess(instance: SitingInstance, reach, problem: ReducedProblem,
            columns: np.ndarray, solved: tuple | None, source: str) -> _Candidate:
    """Decode, check every constraint, and score a plan independently of the model."""
    site_index, type_index = _decode(problem, columns)
    served = utilisation = None
    if solved is not None and instance.policy.capacitated_types():
        served, utilisation = _assignment(instance, problem, *solved)
    coverage = evaluate_plan(instance, reach, site_index, type_index, served=served,
                             utilisation=utilisation)
    violations = plan_violations(instance, site_index, type_index, coverage=coverage)
    year_index = yearly = None
    if problem.column_year is not None:
        year_index = problem.column_year[columns]
        spent = np.bincount(year_index, weights=instance.site_cost[site_index, type_index],
                            minlength=len(problem.year_names))
        for y in np.nonzero(spent > problem.area_budget * (1 + 1e-9) + 1e-9)[0]:
            violations.append(f"year {problem.year_names[y]} spends {spent[y]:,.0f} over its "
                              f"budget {problem.area_budget[y]:,.0f}")
        yearly = [evaluate_plan(instance, reach, site_index[year_index <= y],
                                type_index[year_index <= y])
                  for y in range(len(problem.year_names))]
    if instance.policy.objective == "min_cost":
        cost = float(instance.site_cost[site_index, type_index].sum())
        value, parts = -cost, {"cost": cost}
    elif yearly is not None and instance.policy.phasing == "accumulated":
        values = [plan_objective(instance, c)[0] for c in yearly]
        value = float(sum(values))
        parts = {"by_year": dict(zip(problem.year_names, values, strict=True)),
                 "floor_shortfall": floor_shortfalls(instance, coverage)}
    elif instance.policy.objective == "maxmin":
        value = worst_group_share(instance, coverage)
        parts = {"worst_group_share": value}
    else:
        value, parts = plan_objective(instance, coverage)
    return _Candidate(columns, site_index, type_index, coverage, value, parts, violations,
                      source, year_index, yearly)


def _assignment(instance: SitingInstance, problem: ReducedProblem, milp: MilpArrays,
                values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """People served per unit and type, and use per site, from the assignment variables."""
    layout = milp.layout
    assert layout is not None
    amount = np.clip(values[layout.assignment], 0.0, None)
    group_served = np.bincount(layout.assignment_group, weights=amount,
                               minlength=problem.n_groups)
    share = np.divide(group_served, problem.group_population,
                      out=np.zeros(problem.n_groups), where=problem.group_population > 0)
    served = instance.population * 0.0
    for t in instance.policy.capacitated_types():
        groups = problem.unit_group[:, t]
        inside = groups >= 0
        served[inside, t] = instance.population[inside, t] * np.minimum(
            share[groups[inside]], 1.0)
        served[groups == -2, t] = instance.population[groups == -2, t]
    uncapacitated = [t for t in range(instance.n_types)
                     if t not in instance.policy.capacitated_types()]
    if uncapacitated:
        served[:, uncapacitated] = np.nan  # filled from coverage by evaluate_plan's caller
    use = np.bincount(problem.column_site[layout.assignment_column], weights=amount,
                      minlength=instance.n_sites)
    return served, use


def _trivial_bound(problem: ReducedProblem) -> float | None:
    """A valid upper bound on the model objective, or None (least-cost mode)."""
    policy = problem.instance.policy
    if policy.objective == "min_cost":
        return None
    if policy.objective == "maxmin":
        return 1.0
    bound = problem.upper_bound
    if policy.has_circle:
        bound += policy.circle_weight * float(policy.circle_population.sum())
    return bound


def _report_scale(value: float | None, minimise: bool) -> float | None:
    """Internal values are maximised; least-cost plans report the cost itself."""
    if value is None or not minimise:
        return value
    return -value
