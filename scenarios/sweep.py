r"""Fast solves of one instance at many budgets: shared pairs, warm starts, Dask.

Every point of a budget curve is the model of :func:`optimizer.solve.solve` on the same
instance with only :math:`B` changed. The pairs (:mod:`optimizer.coverage`) and the reduced
problem (:mod:`optimizer.reduce`) do not depend on :math:`B`, so they are built once per
process (:class:`SharedModel`, cached per worker) and only the budget row changes.

A plan :math:`x` with :math:`\sum c_k x_k \le B_{k-1}` is feasible at every
:math:`B_k > B_{k-1}`, so the previous point's plan is a start plan for the next: the better
of it and the greedy start plan warm-starts the MIP (:func:`optimizer.stages.mip_alone`,
single-threaded HiGHS by default), which proves or bounds the point. On the sample city
this is faster per point than the portfolio of :func:`optimizer.solve.solve`, whose search
runs beside (two threads) or before (one thread) the MIP. Max-min scenarios use
:func:`optimizer.solve.solve` unchanged (their floor moves with the budget).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from optimizer.checks import explain_infeasibility
from optimizer.coverage import Reach, compute_reach
from optimizer.deadline import Deadline
from optimizer.instance import SitingInstance
from optimizer.reduce import ReducedProblem, reduce_problem
from optimizer.results import Plan
from optimizer.solve import solve

__all__ = ["PointSettings", "SharedModel", "solve_ladder"]

_CACHE: dict[str, SharedModel] = {}
"""Per process (per Dask worker): the shared model of each sweep, by its token."""


@dataclass(frozen=True, kw_only=True)
class PointSettings:
    """How each budget is solved (the scenario's ``[solver]``; ``threads`` None means 1)."""

    solver: str = "highs"
    time_limit_s: float = 60.0
    mip_gap: float = 1e-4
    threads: int | None = None
    seed: int = 0
    warm_start: bool = True


@dataclass(frozen=True, eq=False)
class SharedModel:
    """The budget-independent part of the model: the instance, its pairs, the reduction."""

    instance: SitingInstance
    reach: Reach
    problem: ReducedProblem

    @classmethod
    def build(cls, instance: SitingInstance) -> SharedModel:
        reach = compute_reach(instance)
        return cls(instance, reach, reduce_problem(instance, reach))

    def columns_of(self, plan: Plan | None) -> np.ndarray | None:
        """The reduced problem's columns opened by ``plan`` (None if one is missing)."""
        if plan is None or not plan.has_solution or plan.year_index is not None:
            return None
        index = {(int(s), int(t)): k for k, (s, t) in enumerate(
            zip(self.problem.column_site, self.problem.column_type, strict=True))}
        columns = [index.get((int(s), int(t)))
                   for s, t in zip(plan.site_index, plan.type_index, strict=True)]
        if any(c is None for c in columns):
            return None
        return np.asarray(columns, dtype=np.int64)


def _warm_applicable(instance: SitingInstance) -> bool:
    policy = instance.policy
    return policy.objective == "coverage" and not policy.maxmin_types \
        and not policy.has_phasing


def solve_point(shared: SharedModel, budget: float, settings: PointSettings,
                start: Plan | None = None) -> Plan:
    """The model of ``solve(replace(instance, budget=budget))``, warm-started from ``start``.

    Runs the stages of :func:`optimizer.solve.solve` (:mod:`optimizer.stages`) on the
    shared pairs and reduction: the infeasibility checks, the greedy start plan, the
    better of it and ``start`` (a plan for a smaller budget), then the MIP alone with that
    warm start, its evaluation on the original data, and the plan. Without
    ``warm_start`` (or for max-min or phased models) it is :func:`optimizer.solve.solve`.
    """
    from optimizer import stages
    from optimizer.assess import assess, beats

    instance = replace(shared.instance, budget=float(budget))
    if not (settings.warm_start and _warm_applicable(instance)):
        return solve(instance, solver=settings.solver, time_limit_s=settings.time_limit_s,
                     mip_gap=settings.mip_gap, threads=settings.threads, seed=settings.seed)
    deadline = Deadline.start(settings.time_limit_s)
    options = stages.SolveSettings(solver=settings.solver, mip_gap=settings.mip_gap,
                                   threads=settings.threads or 1, seed=settings.seed)
    run = stages.begin(instance, options, deadline)
    prepared = stages.Prepared(shared.reach, replace(shared.problem, instance=instance),
                               build_s=deadline.elapsed())
    reasons = explain_infeasibility(instance)
    if reasons:
        return stages.infeasible_plan(run, prepared, reasons)
    found = stages.start_plan(run, prepared)
    columns = shared.columns_of(start)
    if columns is not None:
        candidate = assess(instance, prepared.reach, prepared.problem, columns, None,
                           "smaller budget")
        if not candidate.violations and (found.best is None or beats(candidate, found.best)):
            found = replace(found, best=candidate)
            run.emit_now(candidate.source, candidate.value, found.upper_bound)
    found, mip = stages.evaluate(run, prepared, found, _mip(run, prepared, found))
    return stages.to_plan(run, prepared, found, mip)


def _mip(run, prepared, found):
    from optimizer import stages
    from optimizer.assess import reaches

    best = found.best
    if best is not None and reaches(best.value, found.upper_bound):
        return stages.MipOutcome(proven=True, bound=found.upper_bound)
    return stages.mip_alone(run, prepared, found)


def solve_chain(shared: SharedModel, budgets: Sequence[float], settings: PointSettings,
                *, on_plan: Callable[[int, Plan], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> list[Plan]:
    """Solve ascending ``budgets`` one after another, each warm-started by the plan before."""
    plans: list[Plan] = []
    start: Plan | None = None
    for index, budget in enumerate(budgets):
        if should_stop is not None and should_stop():
            break
        plan = solve_point(shared, budget, settings, start)
        if plan.has_solution and (start is None or (plan.objective or 0) >= (
                start.objective or 0)):
            start = plan
        plans.append(plan)
        if on_plan is not None:
            on_plan(index, plan)
    return plans


def _chain_task(token: str, instance: SitingInstance, budgets: list[float],
                settings: PointSettings) -> list[Plan]:
    """On a worker: the shared model (built once per worker and sweep), then a chain."""
    shared = _CACHE.get(token)
    if shared is None:
        _CACHE.clear()  # one sweep at a time per worker
        shared = _CACHE[token] = SharedModel.build(instance)
    return solve_chain(shared, budgets, settings)


def solve_ladder(instance: SitingInstance, budgets: Sequence[float],
                 settings: PointSettings, *, client=None, chunks: int | None = None,
                 on_plan: Callable[[int, Plan], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> list[Plan]:
    """Plans for ascending ``budgets``: in this process, or on a Dask ``client``.

    On Dask the instance is scattered once (broadcast) and the ladder cut into ``chunks``
    contiguous runs of budgets (default: four per worker), each a task solving its budgets
    ascending with warm starts; the shared model is built once per worker. ``on_plan`` is
    called as plans arrive (in ladder order within a chunk).
    """
    budgets = [float(b) for b in budgets]
    if client is None:
        return solve_chain(SharedModel.build(instance), budgets, settings, on_plan=on_plan,
                           should_stop=should_stop)
    from distributed import as_completed

    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    count = min(len(budgets), chunks or 4 * n_workers)
    pieces = [list(p) for p in np.array_split(np.arange(len(budgets)), count) if len(p)]
    token = uuid.uuid4().hex
    scattered = client.scatter(instance, broadcast=True, hash=False)
    futures = {}
    for number, piece in enumerate(pieces):
        future = client.submit(_chain_task, token, scattered, [budgets[i] for i in piece],
                               settings, key=f"lifecircle-sweep-{number}-{token[:10]}",
                               pure=False)
        futures[future] = piece
    plans: list[Plan | None] = [None] * len(budgets)
    for future in as_completed(list(futures), loop=client.loop):
        piece = futures[future]
        for index, plan in zip(piece, future.result(), strict=True):
            plans[index] = plan
            if on_plan is not None:
                on_plan(index, plan)
        future.release()
        if should_stop is not None and should_stop():
            for other in futures:
                other.cancel()
            break
    done = [p for p in plans if p is not None]
    if len(done) < len(plans):  # stopped: the leading points that were solved
        first_missing = next(i for i, p in enumerate(plans) if p is None)
        return [p for p in plans[:first_missing]]  # type: ignore[misc]
    return done
