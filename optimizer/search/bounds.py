r"""Upper bounds that are cheap to compute: a Lagrangian relaxation of the coverage rows.

Relaxing :math:`y_g \le \sum_{k \in K(g)} x_k` with multipliers :math:`\lambda_g \ge 0`,
and also dropping the one-use-per-site rows, type caps and forced sites (dropping
constraints of a maximisation only raises its value), gives for every :math:`\lambda`

.. math::

    L(\lambda) = c_0 + \sum_g \max(0, w_g - \lambda_g)
        + \max_{0 \le x \le 1,\ c^\top x \le B} \sum_k x_k \sum_{g \in G(k)} \lambda_g
    \;\ge\; \text{OPT},

where the inner problem is a fractional knapsack solved by sorting. Subgradient steps
(Polyak, with the heuristic's value as target) minimise :math:`L`. For one type with unit
costs the best :math:`L` equals the LP relaxation bound, reached in a fraction of the time
a simplex root solve takes on large overlapping instances.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from optimizer.deadline import Deadline
from optimizer.model.reduce import ReducedProblem


def _fractional_knapsack(value: np.ndarray, cost: np.ndarray, budget: float) -> np.ndarray:
    x = np.zeros(len(value))
    useful = value > 0
    free = useful & (cost <= 0)
    x[free] = 1.0
    paid = np.nonzero(useful & (cost > 0))[0]
    if len(paid) == 0 or budget <= 0:
        return x
    order = paid[np.argsort(-value[paid] / cost[paid], kind="stable")]
    cumulative = np.cumsum(cost[order])
    full = cumulative <= budget
    x[order[full]] = 1.0
    stop = int(full.sum())
    if stop < len(order):
        spent = cumulative[stop - 1] if stop > 0 else 0.0
        x[order[stop]] = (budget - spent) / cost[order[stop]]
    return x


def _relaxed(cover_t, cost: np.ndarray, budget: float, weight: np.ndarray,
             multipliers: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """:math:`L(\\lambda) - \\text{constant}` with its maximisers: the column values
    :math:`x` (a fractional knapsack) and the groups :math:`y` worth more than their
    multiplier."""
    y = weight > multipliers
    column_value = cover_t @ multipliers
    x = _fractional_knapsack(column_value, cost, budget)
    return float((weight - multipliers)[y].sum() + column_value @ x), x, y


def lagrangian_value(problem: ReducedProblem, multipliers: np.ndarray) -> float:
    """:math:`L(\\lambda)` for multipliers clipped to :math:`[0, w_g]` (a valid upper bound
    for any of them)."""
    weight = problem.group_weight
    multipliers = np.clip(np.nan_to_num(multipliers), 0.0, weight)
    value, _, _ = _relaxed(problem.cover.T, problem.column_cost, problem.instance.budget,
                           weight, multipliers)
    return problem.constant + value


def lp_dual_bound(problem: ReducedProblem, *, time_limit_s: float,
                  should_stop: Callable[[], bool] | None = None) -> float | None:
    """Upper bound from approximate duals of the LP relaxation.

    The relaxation keeps the coverage rows and the budget; HiGHS's interior point method
    solves it without crossover, and its coverage-row duals, clipped to :math:`[0, w_g]`,
    are evaluated as Lagrangian multipliers, so the bound is valid however approximate the
    duals are (an unfinished solve returns None). ``should_stop``, polled by the interior
    point, ends it early (and then returns None).
    """
    from optimizer.solvers.highs import highs_lp_duals

    if problem.n_groups == 0:
        return None
    duals = highs_lp_duals(problem, time_limit_s=time_limit_s, should_stop=should_stop)
    if duals is None:
        return None
    return min(lagrangian_value(problem, np.abs(duals)), problem.upper_bound)


def lagrangian_bound(
    problem: ReducedProblem,
    *,
    target: float | None = None,
    time_limit_s: float = 1.0,
    max_iterations: int = 500,
    should_stop: Callable[[], bool] | None = None,
) -> float:
    """Best Lagrangian upper bound found by subgradient optimisation (objective scale).

    Parameters
    ----------
    problem
        The reduced coverage problem.
    target
        A known feasible objective (e.g. the heuristic's), used in the Polyak step.
    time_limit_s, max_iterations
        Stopping rules.
    should_stop
        Polled every iteration; the best bound so far is returned once it says True.

    Returns
    -------
    float
        A valid upper bound on the optimum, never above the trivial bound.
    """
    weight = problem.group_weight
    if problem.n_groups == 0:
        return problem.constant
    clock = Deadline.start(time_limit_s)
    cover = problem.cover.tocsr()
    cover_t = cover.T.tocsr()
    cost = problem.column_cost
    budget = problem.instance.budget
    multipliers = 0.1 * weight
    best = problem.upper_bound
    goal = (target if target is not None else problem.constant) - problem.constant
    step_scale, stall = 2.0, 0
    for _ in range(max_iterations):
        if clock.expired():
            break
        if should_stop is not None and should_stop():
            break
        value, x, y = _relaxed(cover_t, cost, budget, weight, multipliers)
        if problem.constant + value < best - 1e-9 * max(1.0, best):
            best, stall = problem.constant + value, 0
        else:
            stall += 1
            if stall >= 30:
                step_scale, stall = step_scale / 2, 0
                if step_scale < 1e-4:
                    break
        subgradient = (cover @ x) - y
        norm = float(subgradient @ subgradient)
        if norm <= 1e-12:
            break
        step = step_scale * max(value - goal, 1e-9 * max(1.0, value)) / norm
        multipliers = np.clip(multipliers - step * subgradient, 0.0, weight)
    return min(best, problem.upper_bound)
