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
from optimizer.model.milp import MilpArrays, build_milp, full_solution
from optimizer.model.reduce import ReducedProblem
from optimizer.search.subproblem import restricted_problem
from optimizer.solvers.base import Backend, BackendResult, SolveOptions, SolveStatus

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
    backend = _default_backend(backend)
    rng = np.random.default_rng(seed)
    incumbent = _Incumbent(problem, columns)
    start_value = best_value = incumbent.objective()
    space = _search_space(problem)
    sizes = _Sizes.start(int(incumbent.chosen.sum()), start_size, max_size, growth)
    tried = improvements = 0
    upper = problem.upper_bound - _EPS * max(1.0, problem.upper_bound)
    order: list[int] = []
    while not deadline.expired(margin=0.05) and best_value < upper:
        if should_stop is not None and should_stop():
            break
        movable = np.nonzero(incumbent.chosen & ~space.locked)[0]
        if len(movable) == 0:
            break
        if not order:
            order = list(rng.permutation(movable))
        seed_column = int(order.pop())
        if not incumbent.chosen[seed_column]:
            continue
        tried += 1
        released, free = _region(seed_column, movable, incumbent, space.xy, space.tree,
                                 space.reach, space.locked, size=sizes.size, spare=spare,
                                 max_free=max_free)
        sub = _sub_mip(problem, incumbent, released, free)
        left = deadline.left()
        if left <= 0.05:
            break
        result = backend.solve(sub.milp, options=SolveOptions(
            time_limit_s=min(left, 2.0 + 0.1 * sizes.size), mip_gap=1e-6, threads=1,
            seed=seed, should_stop=should_stop), warm_start=sub.warm)
        value = _take_if_better(incumbent, sub, result, best_value)
        if value is not None:
            best_value = value
            improvements += 1
            order = []
            if on_improvement is not None:
                on_improvement(np.nonzero(incumbent.chosen)[0], best_value)
        if not sizes.update(gained=value is not None, status=result.status):
            break
    return LnsResult(
        columns=np.nonzero(incumbent.chosen)[0],
        objective=best_value,
        improved=best_value > start_value,
        neighbourhoods=tried,
        improvements=improvements,
        runtime_s=deadline.elapsed(),
    )


def _default_backend(backend: Backend | None) -> Backend:
    """The backend for the sub-MIPs: ``backend``, or HiGHS if None.

    Parameters
    ----------
    backend
        A MIP backend, or None.

    Returns
    -------
    Backend
        The backend to use.
    """
    if backend is None:
        from optimizer.solvers.highs import HighsBackend

        backend = HighsBackend()
    return backend


@dataclass(frozen=True, eq=False)
class _Space:
    """Where the columns are: locked columns, coordinates, a k-d tree and reach radii."""

    locked: np.ndarray
    xy: np.ndarray
    tree: cKDTree
    reach: np.ndarray


def _search_space(problem: ReducedProblem) -> _Space:
    """The columns the search may not move (forced ones, those at sites forced open) and
    the geometry the neighbourhoods are drawn from.

    Parameters
    ----------
    problem
        The reduced coverage problem.

    Returns
    -------
    _Space
        Locked mask, column coordinates, their k-d tree and each column's reach radius.
    """
    locked = np.zeros(problem.n_columns, dtype=bool)
    locked[problem.forced_columns] = True
    locked |= np.isin(problem.column_site, problem.forced_any_sites)
    xy = problem.instance.site_xy[problem.column_site]
    return _Space(locked=locked, xy=xy, tree=cKDTree(xy),
                  reach=problem.instance.reach_radii[problem.column_type])


@dataclass
class _Sizes:
    """The neighbourhood size schedule: grow after a round without gain, shrink the
    largest size when a sub-MIP cannot be closed."""

    size: int
    max_size: int
    n_open: int
    growth: int
    failures: int = 0

    @classmethod
    def start(cls, n_open: int, start_size: int, max_size: int, growth: int) -> _Sizes:
        """The schedule for an incumbent with ``n_open`` open columns.

        Parameters
        ----------
        n_open
            Open columns of the starting incumbent.
        start_size, max_size, growth
            As in :func:`large_neighbourhood_search`.

        Returns
        -------
        _Sizes
            Starting at ``start_size``, both sizes within ``[1, n_open]``.
        """
        return cls(size=min(start_size, max(1, n_open)),
                   max_size=max(1, min(n_open, max_size)), n_open=n_open, growth=growth)

    def update(self, *, gained: bool, status: SolveStatus) -> bool:
        """Adjust the size after a neighbourhood.

        Parameters
        ----------
        gained
            Whether the neighbourhood improved the incumbent.
        status
            The sub-MIP's status (feasible only: it was not closed in time).

        Returns
        -------
        bool
            False when the search should stop: every region was tried at the largest
            size without gain.
        """
        if gained:
            self.failures = 0
        elif status == SolveStatus.FEASIBLE and self.size > 1:
            self.max_size = self.size - 1  # the sub-MIP was too hard to close at this size
            self.size, self.failures = self.max_size, 0
        else:
            self.failures += 1
            if self.failures >= max(1, -(-self.n_open // self.size)):
                # Every region was tried at this size without gain: look wider.
                if self.size >= self.max_size:
                    return False
                self.size, self.failures = min(self.size + self.growth, self.max_size), 0
        return True


@dataclass(frozen=True, eq=False)
class _SubMip:
    """A neighbourhood's sub-problem: its model, warm start and current value."""

    released: np.ndarray
    free: np.ndarray
    milp: MilpArrays
    warm: np.ndarray | None
    current: float


def _sub_mip(problem: ReducedProblem, incumbent: _Incumbent, released: np.ndarray,
             free: np.ndarray) -> _SubMip:
    """The sub-MIP over the ``free`` columns with every other open column but the
    ``released`` ones fixed.

    Parameters
    ----------
    problem
        The reduced coverage problem.
    incumbent
        The current plan.
    released
        Open columns freed by the neighbourhood.
    free
        Candidate columns of the sub-problem (see :func:`_region`).

    Returns
    -------
    _SubMip
        Its model, the free columns it kept, the released plan as a warm start and that
        plan's value in the sub-problem.
    """
    fixed = incumbent.chosen.copy()
    fixed[released] = False
    sub, free = restricted_problem(problem, free, np.nonzero(fixed)[0])
    milp = build_milp(sub)
    released_in_sub = np.isin(free, released)
    warm = full_solution(sub, np.nonzero(released_in_sub)[0], milp)
    covered = np.asarray(sub.cover[:, released_in_sub].sum(axis=1)).ravel() > 0
    current = float(sub.group_weight[covered].sum())
    return _SubMip(released=released, free=free, milp=milp, warm=warm, current=current)


def _take_if_better(incumbent: _Incumbent, sub: _SubMip, result: BackendResult,
                    best_value: float) -> float | None:
    """Move the incumbent to the sub-MIP's plan if that gains.

    Parameters
    ----------
    incumbent
        The current plan (moved in place when it gains).
    sub
        The neighbourhood's sub-MIP.
    result
        The backend's answer for it.
    best_value
        The incumbent's objective.

    Returns
    -------
    float or None
        The new objective, or None (incumbent unchanged) when the sub-MIP did not beat the
        released plan or the model overstated the gain.
    """
    current = sub.current
    if result.values is not None and result.objective is not None and \
            result.objective > current + _EPS * max(1.0, current):
        chosen = sub.free[result.values[: sub.milp.n_x] > 0.5]
        incumbent.move(sub.released, chosen)
        value = incumbent.objective()
        if value > best_value + _EPS * max(1.0, abs(best_value)):
            return value
        incumbent.move(chosen, sub.released)  # the model overstated the gain: undo
    return None
