"""The solve pipeline: pairs -> reductions -> start plan -> bound -> search and MIP ->
evaluation -> plan (the stages are in :mod:`optimizer.stages`).

The heuristic's plan warm-starts the MIP and is kept if the MIP returns nothing better, so
an incumbent is never lost at a time limit. The returned objective is re-evaluated on the
original instance, independently of the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace

import numpy as np

from optimizer import stages
from optimizer.checks import explain_infeasibility, plan_violations
from optimizer.data.coverage import Reach
from optimizer.data.instance import SitingInstance
from optimizer.deadline import Deadline
from optimizer.model.reduce import ReducedProblem
from optimizer.results import Plan, plan_objective
from optimizer.solvers.base import ProgressCallback, SolveStatus, relative_gap

__all__ = ["explain_infeasibility", "explain_policy_infeasibility", "plan_violations", "solve"]


def explain_policy_infeasibility(
    instance: SitingInstance, problem: ReducedProblem, reach: Reach, *,
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
    hard = replace(policy, objective="min_cost", maxmin_types=(), worst_share_floor=None)
    if policy.has_soft_floors:
        hard = replace(hard, floor_share=())  # penalties, not requests
    cheapest = solve(
        SitingInstance(**{**instance.__dict__, "budget": np.inf, "policy": hard}),
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
    progress: ProgressCallback | None = None,
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

    Notes
    -----
    The body is the list of stages of :mod:`optimizer.stages` (see
    ``docs/architecture.md``). The time limit and ``should_stop`` become one
    :class:`~optimizer.deadline.Deadline`, which every stage reads; the other options
    become :class:`~optimizer.stages.SolveSettings`.
    """
    deadline = Deadline.start(time_limit_s, should_stop=should_stop)
    settings = stages.SolveSettings(
        solver=solver, mip_gap=mip_gap, threads=threads, seed=seed, verbose=verbose,
        reductions=reductions, heuristic=heuristic, use_mip=use_mip, lns=lns)
    policy = instance.policy
    if policy.maxmin_types and policy.objective == "coverage" \
            and policy.worst_share_floor is None:
        return _solve_maxmin(instance, settings, deadline, progress=progress)
    run = stages.begin(instance, settings, deadline, progress=progress)
    reasons = explain_infeasibility(instance)
    reach = stages.find_pairs(run)
    prepared = stages.apply_reductions(run, reach)
    if reasons:
        return stages.infeasible_plan(run, prepared, reasons)
    found = stages.start_plan(run, prepared)
    found = stages.tighten_bound(run, prepared, found)
    found = stages.search_neighbourhoods(run, prepared, found)
    found, mip = stages.search_and_mip(run, prepared, found)
    found, mip = stages.evaluate(run, prepared, found, mip)
    return stages.to_plan(run, prepared, found, mip)


def _solve_maxmin(instance: SitingInstance, settings: stages.SolveSettings,
                  deadline: Deadline, *, progress: ProgressCallback | None) -> Plan:
    r"""Lexicographic max-min: raise the worst group's share, then maximise coverage.

    The first stage, :math:`\max z` (see :mod:`optimizer.policy`), subject to the hard
    floors and targets (soft floors left out: a penalty is no limit, and would be traded
    against :math:`z`), gets half the time limit; the second maximises coverage, soft-floor
    penalties included, with :math:`z^*` as a hard floor on every group's share
    (``Policy.worst_share_floor``) for the rest (at least 1 s). Both share the deadline's
    stop signal: stopped during the first stage, the second is cut short too; if it then
    has no plan, the first stage's plan (which meets the floor it set) is returned, scored
    for coverage, with the second stage's bound.
    """
    policy = instance.policy
    options = {**asdict(settings), "progress": progress, "should_stop": deadline.stop}
    first_policy = replace(policy, objective="maxmin")
    if policy.has_soft_floors:
        first_policy = replace(first_policy, floor_share=())
    first = solve(
        replace(instance, policy=first_policy),
        time_limit_s=deadline.limit_s / 2, **{**options, "heuristic": False},
    )
    if not first.has_solution:
        return replace(first, instance=instance)
    share = min(1.0, max(0.0, float(first.objective) - 1e-9))
    second_instance = replace(instance, policy=replace(policy, worst_share_floor=share))
    second = solve(second_instance, time_limit_s=deadline.left(at_least=1.0), **options)
    warnings = first.report.warnings + second.report.warnings
    if deadline.stop.seen:
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
                   runtime_s=deadline.elapsed())

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


