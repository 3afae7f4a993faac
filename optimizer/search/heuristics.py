r"""Primal heuristics: greedy by coverage per cost, swap descent, iterated local search.

*Greedy* repeatedly opens the affordable column with the largest
:math:`\text{gain}_k / c_k` (and, separately, the largest :math:`\text{gain}_k`; the better
of the two runs is kept, as in the classic budgeted maximum coverage algorithm).
*Swap descent* applies the best improving add or swap (close :math:`a`, open :math:`b`)
until none is left; *iterated local search* then perturbs, refills and descends again
(see :mod:`optimizer.local_search`, where the compiled kernels and the incremental
bookkeeping live).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from optimizer.deadline import Deadline
from optimizer.model.reduce import ReducedProblem
from optimizer.search.local_search import CoverageSearch

_MAX_STALL_ROUNDS = 500  # iterated search: rounds without a new best before it stops


@dataclass(frozen=True, eq=False)
class HeuristicResult:
    """Open columns found by a heuristic, with their objective (constant included)."""

    columns: np.ndarray
    objective: float
    feasible: bool
    runtime_s: float
    method: str


def greedy_swap(
    problem: ReducedProblem,
    *,
    time_limit_s: float = 5.0,
    seed: int = 0,
    swap: bool = True,
    iterate: bool = True,
    should_stop: Callable[[], bool] | None = None,
) -> HeuristicResult:
    """Greedy construction plus swap descent (and iterated local search).

    Parameters
    ----------
    problem
        The reduced coverage problem.
    time_limit_s
        Wall-time budget for the iterated search.
    seed
        Seed of the perturbations.
    swap
        Run the swap descent after greedy.
    iterate
        Spend the rest of the time (or until 500 rounds bring nothing) on iterated local
        search.
    should_stop
        A thread-safe stop hook, polled between the stages and for the iterated search
        (every 20 ms from a helper thread); once it returns True the best plan so far is
        returned.

    Returns
    -------
    HeuristicResult
        The best plan found; ``feasible`` is False when forced sites alone break the budget.
    """
    clock = Deadline.start(time_limit_s)
    costs_vary = bool(problem.n_columns) and np.ptp(problem.column_cost) > 0
    best: CoverageSearch | None = None
    for by_ratio in (True, False) if costs_vary else (True,):
        if best is not None and should_stop is not None and should_stop():
            break
        search = CoverageSearch(problem)
        if not search.start(by_ratio=by_ratio):
            return HeuristicResult(np.empty(0, dtype=np.int64), float("nan"), False,
                                   clock.elapsed(), "greedy")
        if best is None or search.value > best.value:
            best = search
    assert best is not None
    method = "greedy"
    if swap and not (should_stop is not None and should_stop()):
        best.descend()
        method = "greedy+swap"
        if iterate:
            best.iterate(time_limit_s=clock.left(at_least=0.0),
                         seed=seed, max_stall_rounds=_MAX_STALL_ROUNDS,
                         should_stop=should_stop, interrupt=should_stop)
            method = "greedy+swap+ils"
    return HeuristicResult(best.columns(), best.value, True, clock.elapsed(), method)


def improve_plan(
    problem: ReducedProblem,
    columns: np.ndarray,
    *,
    time_limit_s: float,
    seed: int = 0,
) -> HeuristicResult:
    """Swap descent and iterated local search starting from a given feasible plan.

    The result is never worse than the start. Stops at the time limit or after 500 rounds
    without improvement.

    Parameters
    ----------
    problem
        The reduced coverage problem.
    columns
        Open columns of a plan that satisfies every constraint of ``problem``.
    time_limit_s
        Wall-time budget.
    seed
        Seed of the perturbations.

    Returns
    -------
    HeuristicResult
        The best plan found; ``feasible`` is False when the start cannot be rebuilt (a
        column that cannot be opened), in which case nothing was searched.
    """
    clock = Deadline.start(time_limit_s)
    search = CoverageSearch(problem)
    if not search.load(columns):
        return HeuristicResult(np.asarray(columns, dtype=np.int64), float("nan"), False,
                               clock.elapsed(), "ils")
    search.descend()
    search.iterate(time_limit_s=clock.left(at_least=0.0), seed=seed,
                   max_stall_rounds=_MAX_STALL_ROUNDS)
    return HeuristicResult(search.columns(), search.value, True, clock.elapsed(), "ils")
