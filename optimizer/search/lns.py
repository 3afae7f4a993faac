r"""Large-neighbourhood search: re-optimise a region of the incumbent exactly with the MIP.

Given an incumbent (open columns :math:`S`), a neighbourhood frees a set :math:`R \subseteq S`
of nearby open columns and every candidate column :math:`F` near them; all other open
columns stay fixed. The sub-problem is the same coverage model restricted to :math:`F`

.. math::

    \max \sum_{g \in G'} w_g y_g \quad\text{s.t.}\quad y_g \le \sum_{k \in F \cap K(g)} x_k,
    \quad \sum_{k \in F} c_k x_k \le B - c(S \setminus R), \quad \ldots

over the groups :math:`G'` not yet covered by the fixed columns, with every other
constraint (one use per site, type caps, area budgets) tightened by what the fixed columns
already use. Opening :math:`R` again is feasible, so the sub-optimum never loses; when it
gains, the incumbent moves. Sub-problems are small (a few hundred columns) and HiGHS solves
them in milliseconds to a second, so one pass explores many multi-swap moves that single
swaps cannot reach. Neighbourhoods grow when they stop paying and shrink when a sub-MIP hits
its time limit.

Only the plain coverage objective (with optional decay bands, type caps and area budgets)
is searched; other policies keep the greedy + swap incumbent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from optimizer.deadline import Deadline
from optimizer.model.milp import build_milp, full_solution
from optimizer.model.reduce import ReducedProblem
from optimizer.search.subproblem import restricted_problem
from optimizer.solvers.base import SolveOptions, SolveStatus

_EPS = 1e-9


def lns_applicable(problem: ReducedProblem) -> bool:
    """True when the objective is plain weighted coverage (what the sub-MIPs model)."""
    policy = problem.instance.policy
    return (
        policy.objective == "coverage"
        and not (policy.has_floors or policy.has_targets or policy.has_circle
                 or policy.capacitated_types() or policy.maxmin_types or policy.has_phasing)
        and problem.n_columns > 0
    )


@dataclass(frozen=True, eq=False)
class LnsResult:
    """Outcome of a search: the best open columns and what the search did."""

    columns: np.ndarray
    objective: float
    improved: bool
    neighbourhoods: int
    improvements: int
    runtime_s: float


class _Incumbent:
    """The open columns and their objective, with coverage counts per group."""

    def __init__(self, problem: ReducedProblem, columns: np.ndarray) -> None:
        self.problem = problem
        self.by_column = problem.cover.tocsc()
        self.chosen = np.zeros(problem.n_columns, dtype=bool)
        self.chosen[columns] = True
        self.count = np.asarray(self.by_column[:, self.chosen].sum(axis=1)).ravel()

    def objective(self) -> float:
        return self.problem.constant + float(self.problem.group_weight[self.count > 0].sum())

    def sole_weight(self, columns: np.ndarray) -> np.ndarray:
        """Weight each open column covers alone (lost if it closed)."""
        sole = np.where(self.count == 1, self.problem.group_weight, 0.0)
        return np.asarray(self.by_column[:, columns].T @ sole).ravel()

    def move(self, close: np.ndarray, open_: np.ndarray) -> None:
        for columns, sign in ((close, -1), (open_, 1)):
            if len(columns):
                self.count += sign * np.asarray(
                    self.by_column[:, columns].sum(axis=1)).ravel().astype(np.int64)
                self.chosen[columns] = sign > 0


def _region(
    seed_column: int,
    movable: np.ndarray,
    incumbent: _Incumbent,
    xy: np.ndarray,
    tree: cKDTree,
    reach: np.ndarray,
    locked: np.ndarray,
    *,
    size: int,
    spare: int,
    max_free: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The neighbourhood around ``seed_column``: the open columns released (its ``size``
    nearest movable ones, plus ``spare`` that cover least elsewhere) and the free columns
    of the sub-problem (unlocked columns within reach of the region, at most ``max_free``
    of them, and the released ones)."""
    distance = np.hypot(*(xy[movable] - xy[seed_column]).T)
    nearest = np.argsort(distance, kind="stable")[:size]
    released = movable[nearest]
    radius = float(distance[nearest].max() + 2.0 * reach.max())
    if spare:
        # Also release the open columns elsewhere that cover least on their own, so
        # that a region may gain a facility another part of the plan can spare.
        elsewhere = movable[distance > radius]
        loss = incumbent.sole_weight(elsewhere)
        released = np.union1d(released, elsewhere[np.argsort(loss, kind="stable")[:spare]])
    near = np.array(tree.query_ball_point(xy[seed_column], radius), dtype=np.int64)
    near = near[~locked[near]]
    if len(near) > max_free:
        far = np.hypot(*(xy[near] - xy[seed_column]).T)
        near = near[np.argsort(far, kind="stable")[:max_free]]
    return released, np.union1d(near, released)


def large_neighbourhood_search(
    problem: ReducedProblem,
    columns: np.ndarray,
    *,
    time_limit_s: float,
    seed: int = 0,
    backend=None,
    max_size: int = 12,
    max_free: int = 1500,
    spare: int = 0,
    start_size: int = 3,
    growth: int = 1,
    on_improvement=None,
    should_stop=None,
) -> LnsResult:
    """Improve an incumbent by exact re-optimisation of spatial neighbourhoods.

    Parameters
    ----------
    problem
        The reduced coverage problem (:func:`lns_applicable` must hold).
    columns
        The incumbent's open columns (feasible).
    time_limit_s
        Wall-time budget.
    seed
        Seed of the neighbourhood order.
    backend
        MIP backend for the sub-problems (default: HiGHS).
    max_size
        Most open columns released at once. The search starts at ``start_size`` and grows
        by ``growth`` after a full round of regions without gain; it stops after a round at
        the largest size (a local optimum for every such neighbourhood) or shrinks the
        largest size when a sub-MIP cannot be closed within its time slice.
    max_free
        Most candidate columns in one sub-problem (the nearest to the seed).
    spare
        Also release this many open columns elsewhere, those covering least on their own,
        so a region can gain a facility another part of the plan can spare. Measured on the
        Máximo cases this slows the search (bigger, harder sub-MIPs) more than it helps,
        hence 0.
    start_size, growth
        First neighbourhood size and its increment.
    on_improvement
        Called with ``(columns, objective)`` after every improvement.
    should_stop
        Called between neighbourhoods, and passed to the sub-MIPs (HiGHS ends one early);
        the search stops when it returns True.

    Returns
    -------
    LnsResult
        The best plan (never worse than the start).
    """
    deadline = Deadline.start(time_limit_s)
    if backend is None:
        from optimizer.solvers.highs import HighsBackend

        backend = HighsBackend()
    rng = np.random.default_rng(seed)
    incumbent = _Incumbent(problem, columns)
    start_value = best_value = incumbent.objective()
    locked = np.zeros(problem.n_columns, dtype=bool)
    locked[problem.forced_columns] = True
    locked |= np.isin(problem.column_site, problem.forced_any_sites)
    xy = problem.instance.site_xy[problem.column_site]
    tree = cKDTree(xy)
    reach = problem.instance.reach_radii[problem.column_type]
    n_open = int(incumbent.chosen.sum())
    size, max_size = min(start_size, max(1, n_open)), max(1, min(n_open, max_size))
    tried = improvements = failures = 0
    upper = problem.upper_bound - _EPS * max(1.0, problem.upper_bound)
    order: list[int] = []
    while not deadline.expired(margin=0.05) and best_value < upper:
        if should_stop is not None and should_stop():
            break
        movable = np.nonzero(incumbent.chosen & ~locked)[0]
        if len(movable) == 0:
            break
        if not order:
            order = list(rng.permutation(movable))
        seed_column = int(order.pop())
        if not incumbent.chosen[seed_column]:
            continue
        tried += 1
        released, free = _region(seed_column, movable, incumbent, xy, tree, reach, locked,
                                 size=size, spare=spare, max_free=max_free)
        fixed = incumbent.chosen.copy()
        fixed[released] = False
        sub, free = restricted_problem(problem, free, np.nonzero(fixed)[0])
        milp = build_milp(sub)
        released_in_sub = np.isin(free, released)
        warm = full_solution(sub, np.nonzero(released_in_sub)[0], milp)
        covered = np.asarray(sub.cover[:, released_in_sub].sum(axis=1)).ravel() > 0
        current = float(sub.group_weight[covered].sum())
        left = deadline.left()
        if left <= 0.05:
            break
        result = backend.solve(milp, options=SolveOptions(
            time_limit_s=min(left, 2.0 + 0.1 * size), mip_gap=1e-6, threads=1, seed=seed,
            should_stop=should_stop), warm_start=warm)
        gained = False
        if result.values is not None and result.objective is not None and \
                result.objective > current + _EPS * max(1.0, current):
            chosen = free[result.values[: milp.n_x] > 0.5]
            incumbent.move(released, chosen)
            value = incumbent.objective()
            if value > best_value + _EPS * max(1.0, abs(best_value)):
                best_value = value
                improvements += 1
                gained = True
                order = []
                if on_improvement is not None:
                    on_improvement(np.nonzero(incumbent.chosen)[0], best_value)
            else:  # the model overstated the gain: undo
                incumbent.move(chosen, released)
        if gained:
            failures = 0
        elif result.status == SolveStatus.FEASIBLE and size > 1:
            max_size = size - 1  # the sub-MIP was too hard to close at this size
            size, failures = max_size, 0
        else:
            failures += 1
            if failures >= max(1, -(-n_open // size)):
                # Every region was tried at this size without gain: look wider.
                if size >= max_size:
                    break
                size, failures = min(size + growth, max_size), 0
    return LnsResult(
        columns=np.nonzero(incumbent.chosen)[0],
        objective=best_value,
        improved=best_value > start_value,
        neighbourhoods=tried,
        improvements=improvements,
        runtime_s=deadline.elapsed(),
    )
