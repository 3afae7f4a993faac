r"""The stages of a solve, in order, each a function of what the stages before it produced.

.. code-block:: text

    pairs -> reductions -> start plan -> bound -> [neighbourhoods] -> search and MIP
          -> evaluation -> plan

:func:`optimizer.solve.solve` is that list. Every stage reads the :class:`SolveRun` (the
instance, the :class:`SolveSettings`, the :class:`~optimizer.deadline.Deadline`, the
backend, where progress and warnings go) and what came before:

* :func:`find_pairs` and :func:`apply_reductions` give the :class:`Prepared` problem;
* :func:`start_plan`, :func:`tighten_bound`, :func:`search_neighbourhoods` each return an
  updated :class:`Found` (the best plan so far, scored on the original data, and the best
  bound known before the MIP);
* :func:`search_and_mip` runs the portfolio (:mod:`optimizer.portfolio`) or the plain MIP
  and returns the new :class:`Found` with the MIP's raw answer in a :class:`MipOutcome`;
* :func:`evaluate` re-evaluates the MIP's plan and settles the bound and message;
* :func:`to_plan` makes the :class:`~optimizer.results.Plan`.

The internal objective is always maximised (least cost is the negated cost); plans are
compared with :func:`optimizer.assess.beats` and bounds with :func:`optimizer.assess.reaches`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from optimizer.assess import (
    TOLERANCE,
    Candidate,
    assess,
    beats,
    integral_objective,
    reaches,
    report_scale,
    trivial_bound,
)
from optimizer.checks import check_backend_fits
from optimizer.data.coverage import Reach, compute_reach
from optimizer.data.instance import SitingInstance
from optimizer.deadline import Deadline, StopSignal
from optimizer.memory import check_memory
from optimizer.model.milp import MilpArrays, build_milp, full_solution
from optimizer.model.phasing import expand_years
from optimizer.model.reduce import ReducedProblem, reduce_problem
from optimizer.results import Plan, SolverReport
from optimizer.search.bounds import lagrangian_bound
from optimizer.search.heuristics import greedy_swap
from optimizer.search.lns import large_neighbourhood_search, lns_applicable
from optimizer.search.portfolio import STOP_GRACE_S, run_portfolio
from optimizer.solvers.base import (
    Backend,
    BackendResult,
    ProgressCallback,
    ProgressEvent,
    SolveOptions,
    SolveStatus,
    relative_gap,
)
from optimizer.solvers.guard import resolve_backend

__all__ = [
    "Found",
    "MipOutcome",
    "Prepared",
    "SolveRun",
    "SolveSettings",
    "apply_reductions",
    "begin",
    "evaluate",
    "find_pairs",
    "infeasible_plan",
    "mip_alone",
    "search_and_mip",
    "search_neighbourhoods",
    "search_with_mip",
    "start_plan",
    "tighten_bound",
    "to_plan",
]

_LNS_SHARE = 0.3  # most of the time limit the neighbourhood search may take before the MIP
_LNS_MIN_COLUMNS = 1000  # below this the MIP alone is faster than searching neighbourhoods
_EMPTY = np.empty(0, dtype=np.int64)


@dataclass(frozen=True, kw_only=True)
class SolveSettings:
    """The options of :func:`optimizer.solve.solve` besides the time, the hooks and the
    instance (see there)."""

    solver: str = "highs"
    mip_gap: float = 1e-4
    threads: int | None = None
    seed: int = 0
    verbose: bool = False
    reductions: bool = True
    heuristic: bool = True
    use_mip: bool = True
    lns: bool = False


@dataclass(frozen=True, eq=False)
class SolveRun:
    """What every stage may read, and where progress events and warnings go.

    ``events`` and ``warnings`` are appended to by the stages, in order; the final report
    takes them as they are.
    """

    instance: SitingInstance
    settings: SolveSettings
    deadline: Deadline
    backend: Backend
    progress: ProgressCallback | None = None
    events: list[ProgressEvent] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def stop(self) -> StopSignal:
        """The caller's stop signal."""
        return self.deadline.stop

    def emit(self, event: ProgressEvent) -> None:
        """Record a progress event and hand it to the caller's callback."""
        self.events.append(event)
        if self.progress is not None:
            self.progress(event)

    def emit_now(self, source: str, incumbent: float | None, bound: float | None) -> None:
        """Emit an event stamped with the time since the solve started."""
        self.emit(ProgressEvent(source, self.deadline.elapsed(), incumbent, bound))


@dataclass(frozen=True, eq=False)
class Prepared:
    """The pairs and the reduced problem every later stage works on."""

    reach: Reach
    problem: ReducedProblem
    build_s: float


@dataclass(frozen=True, eq=False)
class Found:
    r"""The best plan so far and what is known about it, before the MIP's answer.

    Attributes
    ----------
    best
        The best feasible plan, scored on the original instance (None: none yet).
    upper_bound
        A valid bound on the internal (maximised) objective: trivial, then Lagrangian, then
        the portfolio's; None in least-cost mode.
    heuristic_value
        The start plan's value (the report's ``heuristic_objective``).
    heuristic_s
        Seconds spent in greedy, descent, neighbourhoods and search.
    search
        What the neighbourhood search and the portfolio did (``summary.json`` →
        ``solver.search``).
    """

    best: Candidate | None = None
    upper_bound: float | None = None
    heuristic_value: float | None = None
    heuristic_s: float = 0.0
    search: dict[str, float | int] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class MipOutcome:
    """The MIP's raw answer, and the bound and message the evaluation settles.

    Attributes
    ----------
    proven
        The start plan already met the bound before the search and MIP stage (nothing ran).
    bound
        The best bound so far (the solver's, once evaluated).
    result, milp
        The backend's answer and its model (None: no MIP ran).
    message
        The report's message.
    solver_s, solver_status, model_size
        What the evaluation read from the MIP.
    """

    proven: bool
    bound: float | None
    result: BackendResult | None = None
    milp: MilpArrays | None = None
    message: str = "heuristic only"
    solver_s: float = 0.0
    solver_status: SolveStatus | None = None
    model_size: dict[str, int] = field(default_factory=dict)


def begin(instance: SitingInstance, settings: SolveSettings, deadline: Deadline, *,
          progress: ProgressCallback | None = None) -> SolveRun:
    """The run's context: the backend is looked up and checked against the policy.

    Raises
    ------
    InputError
        Unknown backend, or a policy the backend cannot represent.

    A known backend that is not installed is replaced by HiGHS with a warning, and the
    backend is guarded (:mod:`optimizer.solvers.guard`): if it fails, the best plan found
    so far is kept.
    """
    warnings: list[str] = []
    backend = resolve_backend(settings.solver, warnings)
    check_backend_fits(backend.name, instance.policy)
    return SolveRun(instance, settings, deadline, backend, progress, warnings=warnings)


def find_pairs(run: SolveRun) -> Reach:
    r"""Unit-site pairs within the largest radius, :math:`d_{ij} \le \max_t r_t`.

    A KD-tree (Euclidean) or the supplied distance table; sparse, never a dense demand x
    site matrix (:mod:`optimizer.coverage`). Not interrupted by a stop.

    Raises
    ------
    TooLargeError
        The model would not fit in memory (:func:`optimizer.memory.check_memory`, an
        estimate made before the pairs are built).
    """
    check_memory(run.instance)
    return compute_reach(run.instance)


def apply_reductions(run: SolveRun, reach: Reach) -> Prepared:
    """Reduce the problem (:mod:`optimizer.reduce`), and expand it by year when phased.

    Units covered by existing facilities become a constant and unreachable units leave;
    with ``reductions`` also units with one coverage set merge into weighted groups and
    useless and dominated columns leave. ``build_s`` is the time so far.
    """
    problem = reduce_problem(run.instance, reach, reductions=run.settings.reductions)
    if run.instance.policy.has_phasing:
        problem = expand_years(problem)
    return Prepared(reach, problem, build_s=run.deadline.elapsed())


def infeasible_plan(run: SolveRun, prepared: Prepared, reasons: list[str]) -> Plan:
    """The answer when forced sites, caps and budget cannot hold together (nothing ran)."""
    report = SolverReport(
        run.backend.name, "infeasible before solving", "checks", prepared.build_s, 0.0, 0.0,
        None, {}, prepared.problem.stats,
    )
    return Plan(
        run.instance, SolveStatus.INFEASIBLE, None, None, None, run.deadline.elapsed(),
        _EMPTY, _EMPTY, None, report, tuple(reasons),
    )


def start_plan(run: SolveRun, prepared: Prepared) -> Found:
    r"""Greedy by gain per cost (and by gain), then the best improving add or swap.

    Only for the coverage objective without capacities (other models start from the MIP
    alone). Searchable models (:func:`optimizer.lns.lns_applicable`) stop at the descent,
    their search comes in :func:`search_and_mip`; the others get a short iterated search,
    :math:`\min(2, \max(0.05, 0.1\,T))` seconds, to warm-start the MIP.
    """
    instance, problem, settings = run.instance, prepared.problem, run.settings
    policy = instance.policy
    found = Found(upper_bound=trivial_bound(problem))
    if not (settings.heuristic and policy.objective == "coverage"
            and not policy.capacitated_types() and not run.stop()):
        return found
    searchable = lns_applicable(problem)
    result = greedy_swap(problem, seed=settings.seed, iterate=not searchable,
                         time_limit_s=min(2.0, max(0.05, 0.1 * run.deadline.limit_s)),
                         should_stop=run.stop.hook)
    found = replace(found, heuristic_s=result.runtime_s)
    if result.feasible:
        candidate = assess(instance, prepared.reach, problem, result.columns, None,
                           result.method)
        if not candidate.violations:
            found = replace(found, best=candidate, heuristic_value=candidate.value)
            run.emit_now(result.method, candidate.value, found.upper_bound)
    return found


def tighten_bound(run: SolveRun, prepared: Prepared, found: Found) -> Found:
    r"""The Lagrangian bound (:func:`optimizer.bounds.lagrangian_bound`) when it can help.

    Only with a start plan below the bound, for the coverage objective without the
    complete-circle term; for :math:`\min(1, 0.05\,T)` seconds.
    """
    best, policy = found.best, run.instance.policy
    if (best is None or policy.objective != "coverage" or policy.has_circle
            or not best.value < found.upper_bound or run.stop()):
        return found
    bound = min(found.upper_bound, lagrangian_bound(
        prepared.problem, target=best.value,
        time_limit_s=min(1.0, 0.05 * run.deadline.limit_s), should_stop=run.stop.hook,
    ))
    run.emit_now("lagrangian", best.value, bound)
    return replace(found, upper_bound=bound)


def search_neighbourhoods(run: SolveRun, prepared: Prepared, found: Found) -> Found:
    r"""With ``lns=True``: re-optimise regions of the plan exactly (:mod:`optimizer.lns`).

    Only on plain coverage models of at least 1,000 columns, with the MIP to follow, for
    :math:`\min(0.3\,T,\ \text{left} - 1)` seconds (not under 0.5 s). The plan found is
    kept only if it scores higher on the original data.
    """
    best, problem, settings = found.best, prepared.problem, run.settings
    if not (settings.lns and best is not None and settings.use_mip
            and best.value < found.upper_bound and lns_applicable(problem)
            and problem.n_columns >= _LNS_MIN_COLUMNS and not run.stop()):
        return found
    lns_s = min(_LNS_SHARE * run.deadline.limit_s, run.deadline.left() - 1.0)
    if lns_s <= 0.5:
        return found

    def improved(_columns: np.ndarray, value: float) -> None:
        run.emit_now("lns", value, found.upper_bound)

    searched = large_neighbourhood_search(problem, best.columns, time_limit_s=lns_s,
                                          seed=settings.seed, on_improvement=improved,
                                          should_stop=run.stop.hook)
    search = {"lns_s": searched.runtime_s, "neighbourhoods": searched.neighbourhoods,
              "improvements": searched.improvements, "start_objective": best.value,
              "objective": searched.objective}
    if searched.improved:
        candidate = assess(run.instance, prepared.reach, problem, searched.columns, None,
                           "lns")
        if beats(candidate, best):
            best = candidate
    return replace(found, best=best, search=search,
                   heuristic_s=found.heuristic_s + searched.runtime_s)


def search_and_mip(run: SolveRun, prepared: Prepared, found: Found
                   ) -> tuple[Found, MipOutcome]:
    """Search beside the MIP (:func:`search_with_mip`), or the MIP alone (:func:`mip_alone`).

    Nothing starts after a stop, or when the start plan already meets the bound. Plain
    coverage models with a start plan get the portfolio; the others the MIP, warm-started.
    """
    best = found.best
    proven = best is not None and reaches(best.value, found.upper_bound)
    outcome = MipOutcome(proven=proven, bound=found.upper_bound)
    if run.stop():
        return found, outcome  # nothing more is started (the stop is reported later)
    if run.settings.heuristic and lns_applicable(prepared.problem) and best is not None \
            and not proven:
        return search_with_mip(run, prepared, found)
    if run.settings.use_mip and not proven:
        return found, mip_alone(run, prepared, found)
    return found, outcome


def search_with_mip(run: SolveRun, prepared: Prepared, found: Found
                    ) -> tuple[Found, MipOutcome]:
    """The portfolio (:func:`optimizer.portfolio.run_portfolio`) until the deadline (at
    least 0.5 s); its plan is kept if it scores higher on the original data."""
    settings, best = run.settings, found.best
    assert best is not None and found.upper_bound is not None
    outcome = run_portfolio(
        prepared.problem, best.columns, backend=run.backend,
        deadline=run.deadline.at_least(0.5), mip_gap=settings.mip_gap,
        threads=settings.threads, seed=settings.seed, verbose=settings.verbose,
        upper_bound=found.upper_bound, emit=run.emit, use_mip=settings.use_mip)
    upper_bound = min(found.upper_bound, outcome.bound)
    if outcome.value > best.value:
        candidate = assess(run.instance, prepared.reach, prepared.problem, outcome.columns,
                           None, outcome.source)
        if candidate.violations:
            run.warnings.append(f"the search returned an infeasible plan: "
                                f"{candidate.violations[0]}")
        elif beats(candidate, best):
            best = candidate
    message = "heuristic only"  # (replaced by the MIP's own message when it answered)
    if not settings.use_mip:
        message = "search only"
    elif outcome.mip is None and run.stop.seen:
        message = "stopped on request"
    elif outcome.mip is None and "second_search" in outcome.report:
        message = ("model too large for branch-and-cut in the time: a second search "
                   "chain ran instead")
    elif outcome.mip is None:
        message = "the search met the bound"
    found = replace(found, best=best, upper_bound=upper_bound,
                    heuristic_s=found.heuristic_s + float(outcome.report["search_s"]),
                    search={**found.search, **outcome.report})
    return found, MipOutcome(proven=False, bound=upper_bound, result=outcome.mip,
                             milp=outcome.milp, message=message)


def mip_alone(run: SolveRun, prepared: Prepared, found: Found) -> MipOutcome:
    """The whole MILP (:func:`optimizer.model.build_milp`) on the backend until the
    deadline (at least 0.5 s), warm-started from the best plan; its progress events are
    capped by the bound known before."""
    problem, settings, upper_bound = prepared.problem, run.settings, found.upper_bound
    milp = build_milp(problem)
    remaining = run.deadline.left(at_least=0.5)
    warm = full_solution(problem, found.best.columns, milp) if found.best is not None \
        else None
    solver_started = run.deadline.elapsed()

    def emit_from_solver(event: ProgressEvent) -> None:
        bound_now = event.bound
        if bound_now is None or not np.isfinite(bound_now):
            bound_now = upper_bound
        elif upper_bound is not None:
            bound_now = min(bound_now, upper_bound)
        run.emit(ProgressEvent(event.source, solver_started + event.elapsed_s,
                               event.incumbent, bound_now))

    options = SolveOptions(
        time_limit_s=remaining, mip_gap=settings.mip_gap, threads=settings.threads,
        seed=settings.seed, verbose=settings.verbose, progress=emit_from_solver,
        should_stop=run.stop.hook, stop_grace_s=STOP_GRACE_S if run.stop.active else None,
    )
    result = run.backend.solve(milp, options=options, warm_start=warm)
    return MipOutcome(proven=False, bound=upper_bound, result=result, milp=milp)


def evaluate(run: SolveRun, prepared: Prepared, found: Found, mip: MipOutcome
             ) -> tuple[Found, MipOutcome]:
    """Read the MIP's answer: its plan, re-evaluated on the original data, replaces the
    best if higher; its bound is taken unless its claim contradicts a known plan.

    Settles the message (the solver's own, or why none ran) and reports a stop.
    """
    milp, result = mip.milp, mip.result
    if milp is not None:
        mip = replace(mip, model_size=_model_size(milp))
    if result is not None and milp is not None:
        found, mip = _take_mip_answer(run, prepared, found, mip, result, milp)
    elif mip.proven:
        mip = replace(mip, message="heuristic reached the trivial upper bound")
    elif result is None and run.stop.seen:
        mip = replace(mip, message="stopped on request")
    if run.stop.seen:
        run.warnings.append(run.stop.warning())
    return found, mip


def _model_size(milp: MilpArrays) -> dict[str, int]:
    """Columns, rows, nonzeros and integers of the model, and its small components."""
    size = {"columns": milp.n_cols, "rows": milp.n_rows, "nonzeros": milp.matrix.nnz,
            "integer": int(milp.integrality.sum())}
    if milp.layout is not None and milp.layout.components:
        size["small_components"] = len(milp.layout.components)
        size["component_plans"] = sum(len(c.value) for c in milp.layout.components)
    return size


def _take_mip_answer(run: SolveRun, prepared: Prepared, found: Found, mip: MipOutcome,
                     result: BackendResult, milp: MilpArrays) -> tuple[Found, MipOutcome]:
    """The MIP's status, bound and plan, each checked against what is already known."""
    best, backend = found.best, run.backend.name
    status, bound = result.status, mip.bound
    if result.status == SolveStatus.ERROR:
        run.warnings.append(f"{result.message or backend + ' failed'}; " + (
            "the best plan found so far is kept" if best is not None
            else "no plan was found before it failed"))
    tolerance = TOLERANCE * max(1.0, abs(best.value)) if best is not None else 0.0
    # "Optimal" within the gap may sit a little below a plan found by the search, but
    # its bound may not. (CBC 2.10.3's preprocessing was seen claiming both too low.)
    claimed = result.bound if result.bound is not None else result.objective
    if (result.status == SolveStatus.OPTIMAL and claimed is not None and best is not None
            and best.value > claimed + tolerance):
        run.warnings.append(
            f"{backend} claimed optimal with bound {claimed:,.6g} below the known "
            f"plan {best.value:,.6g}; its status and bound are ignored"
        )
        status = SolveStatus.FEASIBLE
    elif result.bound is not None and result.status != SolveStatus.ERROR:
        bound = result.bound if mip.bound is None else min(mip.bound, result.bound)
    if result.values is not None and result.objective is not None:
        columns = np.nonzero(result.values[: milp.n_x] > 0.5)[0]
        candidate = assess(run.instance, prepared.reach, prepared.problem, columns,
                           (milp, result.values), backend)
        if candidate.violations:
            run.warnings.append(
                f"{backend} returned an infeasible plan: {candidate.violations[0]}")
        elif best is None or candidate.value > best.value + tolerance:
            if candidate.value < result.objective - 1e-6 * max(1.0, abs(candidate.value)):
                # Below is suspicious; above is normal (a y the solver left below 1).
                run.warnings.append(f"model objective {result.objective:.6g} is above the "
                                    f"re-evaluated {candidate.value:.6g}")
            found = replace(found, best=candidate)
    return found, replace(mip, bound=bound, solver_s=result.runtime_s, solver_status=status,
                          message=result.message)


def to_plan(run: SolveRun, prepared: Prepared, found: Found, mip: MipOutcome) -> Plan:
    """The plan: the best candidate in site order, its status, the honest bound and gap.

    The bound is rounded down when every weight is whole, and never reported below the
    plan. Optimal when the plan meets the bound or the solver proved it.
    """
    runtime = run.deadline.elapsed()
    best = found.best
    if best is None:
        return _no_plan(run, prepared, found, mip, runtime)
    policy = run.instance.policy
    if mip.solver_status == SolveStatus.INFEASIBLE:
        run.warnings.append("the solver reported infeasible but a feasible plan was found")
    bound = mip.bound
    if bound is not None and integral_objective(prepared.problem) \
            and policy.objective == "coverage" \
            and (policy.is_plain or (policy.has_area_budgets and not policy.has_circle)):
        # Every weight is whole, so no plan can score a fraction above the floor.
        bound = float(np.floor(bound + 1e-6))
    if bound is not None and bound < best.value:
        bound = best.value
    optimal = mip.proven or reaches(best.value, bound) or (
        mip.solver_status == SolveStatus.OPTIMAL)
    minimise = policy.objective == "min_cost"
    order = np.lexsort((best.site_index, best.type_index))
    years = None
    if best.year_index is not None:
        order = np.lexsort((best.site_index, best.type_index, best.year_index))
        years = best.year_index[order]
    return Plan(
        instance=run.instance,
        status=SolveStatus.OPTIMAL if optimal else SolveStatus.FEASIBLE,
        objective=report_scale(best.value, minimise),
        bound=report_scale(bound, minimise),
        gap=relative_gap(best.value, bound),
        runtime_s=runtime,
        site_index=best.site_index[order],
        type_index=best.type_index[order],
        coverage=best.coverage,
        report=_report(run, prepared, found, mip, best),
        year_index=years,
        year_names=prepared.problem.year_names,
        yearly_coverage=tuple(best.yearly) if best.yearly is not None else (),
    )


def _report(run: SolveRun, prepared: Prepared, found: Found, mip: MipOutcome,
            best: Candidate | None) -> SolverReport:
    """How the answer was found (``summary.json`` → ``solver``)."""
    return SolverReport(
        backend=run.backend.name,
        message=mip.message,
        source=best.source if best is not None else "none",
        build_s=prepared.build_s,
        heuristic_s=found.heuristic_s,
        solver_s=mip.solver_s,
        heuristic_objective=found.heuristic_value,
        model_size=mip.model_size,
        reductions=prepared.problem.stats,
        progress=tuple(run.events),
        warnings=tuple(run.warnings),
        objective_parts=best.parts if best is not None else {},
        search=found.search if best is not None else {},
    )


def _no_plan(run: SolveRun, prepared: Prepared, found: Found, mip: MipOutcome,
             runtime: float) -> Plan:
    """No feasible plan: infeasible (explained), a solver error, or no solution in time."""
    if mip.solver_status == SolveStatus.INFEASIBLE:
        status = SolveStatus.INFEASIBLE
    elif mip.solver_status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        status = SolveStatus.ERROR  # the solver's plan broke a constraint (see warnings)
    else:
        status = mip.solver_status or SolveStatus.NO_SOLUTION
    report = _report(run, prepared, found, mip, None)
    explanation: tuple[str, ...] = ()
    if status == SolveStatus.INFEASIBLE:
        explanation = tuple(_explain(run, prepared)) or (
            "the solver proved the constraints infeasible",)
    minimise = run.instance.policy.objective == "min_cost"
    return Plan(run.instance, status, None, report_scale(mip.bound, minimise), None, runtime,
                _EMPTY, _EMPTY, None, report, explanation)


def _explain(run: SolveRun, prepared: Prepared) -> list[str]:
    """Why floors or targets cannot be met (:func:`optimizer.solve.
    explain_policy_infeasibility`, which solves a least-cost model)."""
    from optimizer.solve import explain_policy_infeasibility  # (solve imports this module)

    return explain_policy_infeasibility(run.instance, prepared.problem, prepared.reach,
                                        should_stop=run.stop.hook)

