r"""Fast primal heuristics: greedy by coverage per cost, then swap local search.

Both work on a :class:`~optimizer.reduce.ReducedProblem` with incremental bookkeeping:
``count[g]`` (open columns covering group :math:`g`) and ``gain[k]`` (weight of still
uncovered groups column :math:`k` would cover), updated through the sparse coverage
matrix when a column opens or closes, never recomputed from scratch.

*Greedy* repeatedly opens the feasible column with the largest :math:`\text{gain}_k / c_k`
(and, separately, the largest :math:`\text{gain}_k`; the better of the two runs is kept,
as in the classic budgeted maximum coverage algorithm).
*Swap* closes an open column :math:`a` and opens the feasible column :math:`b` that
maximises :math:`\text{gain}_b^{-a} - \text{loss}_a` while that is positive, then tops up
with greedy additions, until no improving move remains or time runs out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from optimizer.reduce import ReducedProblem

_EPS = 1e-9


@dataclass(frozen=True, eq=False)
class HeuristicResult:
    """Open columns found by a heuristic, with their objective (constant included)."""

    columns: np.ndarray
    objective: float
    feasible: bool
    runtime_s: float
    method: str


def _row_entries(matrix: sparse.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column indices of the given CSR rows, and the position of each row they came from."""
    starts = matrix.indptr[rows]
    lengths = matrix.indptr[rows + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    owner = np.repeat(np.arange(len(rows)), lengths)
    first = np.cumsum(lengths) - lengths
    positions = starts[owner] + np.arange(total) - first[owner]
    return matrix.indices[positions], owner


class _CoverState:
    """Incremental state of a partial plan (internal; one object per heuristic run)."""

    def __init__(self, problem: ReducedProblem) -> None:
        self.problem = problem
        self.by_group = problem.cover.tocsr()
        self.by_column = problem.cover.tocsc()
        self.weight = problem.group_weight
        n_cols = problem.n_columns
        self.count = np.zeros(problem.n_groups, dtype=np.int64)
        self.gain = np.asarray(problem.cover.T @ self.weight).ravel()
        self.chosen = np.zeros(n_cols, dtype=bool)
        self.site_taken = np.zeros(problem.instance.n_sites, dtype=bool)
        self.spent = 0.0
        n_types = problem.instance.n_types
        self.type_count = np.zeros(n_types, dtype=np.int64)
        self.type_cost = np.zeros(n_types)
        budget = problem.instance.budget
        types = problem.instance.types
        self.max_count = np.array(
            [np.inf if t.max_sites is None else t.max_sites for t in types], dtype=float
        )
        self.max_cost = np.array(
            [np.inf if t.max_budget_share is None else t.max_budget_share * budget for t in types]
        )
        self.budget = budget
        self.tolerance = 1e-9 * max(1.0, abs(budget)) if np.isfinite(budget) else 0.0
        self.column_area = problem.column_area
        self.area_budget = problem.area_budget
        self.area_spent = (None if problem.column_area is None
                           else np.zeros(len(problem.area_names)))

    def groups_of(self, k: int) -> np.ndarray:
        return self.by_column.indices[self.by_column.indptr[k] : self.by_column.indptr[k + 1]]

    def _shift_gain(self, groups: np.ndarray, sign: float) -> None:
        if len(groups) == 0:
            return
        cols, owner = _row_entries(self.by_group, groups)
        self.gain += sign * np.bincount(
            cols, weights=self.weight[groups][owner], minlength=len(self.gain)
        )

    def open(self, k: int) -> None:
        groups = self.groups_of(k)
        newly = groups[self.count[groups] == 0]
        self.count[groups] += 1
        self._shift_gain(newly, -1.0)
        self._book(k, +1)

    def close(self, k: int) -> None:
        groups = self.groups_of(k)
        self.count[groups] -= 1
        lost = groups[self.count[groups] == 0]
        self._shift_gain(lost, +1.0)
        self._book(k, -1)

    def _book(self, k: int, sign: int) -> None:
        p = self.problem
        t = p.column_type[k]
        self.chosen[k] = sign > 0
        self.site_taken[p.column_site[k]] = sign > 0
        self.spent += sign * p.column_cost[k]
        self.type_count[t] += sign
        self.type_cost[t] += sign * p.column_cost[k]
        if self.column_area is not None and self.column_area[k] >= 0:
            self.area_spent[self.column_area[k]] += sign * p.column_cost[k]

    def can_open(self, *, freed: int | None = None) -> np.ndarray:
        """Mask of columns that could open now (after closing column ``freed``, if given)."""
        p = self.problem
        site_taken = self.site_taken.copy()
        spent = float(self.spent)
        type_count, type_cost = self.type_count.copy(), self.type_cost.copy()
        if freed is not None:
            site_taken[p.column_site[freed]] = False
            spent -= p.column_cost[freed]
            type_count[p.column_type[freed]] -= 1
            type_cost[p.column_type[freed]] -= p.column_cost[freed]
        t = p.column_type
        mask = (
            ~self.chosen
            & ~site_taken[p.column_site]
            & (spent + p.column_cost <= self.budget + self.tolerance)
            & (type_count[t] + 1 <= self.max_count[t])
            & (type_cost[t] + p.column_cost <= self.max_cost[t] + self.tolerance)
        )
        if self.column_area is not None:
            area_spent = self.area_spent.copy()
            if freed is not None and self.column_area[freed] >= 0:
                area_spent[self.column_area[freed]] -= p.column_cost[freed]
            area = self.column_area
            limited = area >= 0
            room = np.full(len(mask), np.inf)
            room[limited] = (self.area_budget[area[limited]] - area_spent[area[limited]]
                             + 1e-9 * np.maximum(1.0, self.area_budget[area[limited]]))
            mask &= p.column_cost <= room
        return mask

    _ARRAYS = ("count", "gain", "chosen", "site_taken", "type_count", "type_cost")

    def _copy_area(self) -> np.ndarray | None:
        return None if self.area_spent is None else self.area_spent.copy()

    def snapshot(self) -> dict[str, object]:
        saved: dict[str, object] = {name: getattr(self, name).copy() for name in self._ARRAYS}
        saved["spent"] = float(self.spent)
        saved["area_spent"] = self._copy_area()
        return saved

    def restore(self, saved: dict[str, object]) -> None:
        for name in self._ARRAYS:
            setattr(self, name, saved[name].copy())  # type: ignore[attr-defined]
        self.spent = float(saved["spent"])  # type: ignore[arg-type]
        area = saved["area_spent"]
        self.area_spent = None if area is None else area.copy()  # type: ignore[attr-defined]

    def objective(self) -> float:
        return self.problem.constant + float(self.weight[self.count > 0].sum())

    def greedy_fill(self, *, by_ratio: bool, allowed: np.ndarray | None = None) -> None:
        """Open the best feasible column (by gain per cost, or gain) until none gains."""
        cost = np.maximum(self.problem.column_cost, 0.0)
        while True:
            mask = self.can_open() & (self.gain > _EPS)
            if allowed is not None:
                mask &= allowed
            if not mask.any():
                return
            score = self.gain / np.maximum(cost, 1e-12) if by_ratio else self.gain
            k = int(np.argmax(np.where(mask, score, -np.inf)))
            self.open(k)


def _start(problem: ReducedProblem) -> _CoverState | None:
    """Open forced columns and one column per site forced open as any type."""
    state = _CoverState(problem)
    for k in problem.forced_columns:
        state.open(int(k))
    for site in problem.forced_any_sites:
        candidates = np.nonzero((problem.column_site == site) & state.can_open())[0]
        if len(candidates) == 0:
            return None
        state.open(int(candidates[np.argmax(state.gain[candidates])]))
    if state.spent > state.budget + state.tolerance:
        return None
    return state


def _swap_search(state: _CoverState, *, deadline: float, rng: np.random.Generator) -> None:
    p = state.problem
    locked = _locked_columns(p)
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for a in rng.permutation(np.nonzero(state.chosen & ~locked)[0]):
            if time.perf_counter() >= deadline:
                return
            groups = state.groups_of(int(a))
            sole = groups[state.count[groups] == 1]
            loss = float(state.weight[sole].sum())
            gain_after = state.gain.copy()
            if len(sole):
                cols, owner = _row_entries(state.by_group, sole)
                gain_after += np.bincount(
                    cols, weights=state.weight[sole][owner], minlength=len(gain_after)
                )
            mask = state.can_open(freed=int(a))
            mask[a] = False
            if not mask.any():
                continue
            b = int(np.argmax(np.where(mask, gain_after, -np.inf)))
            if gain_after[b] - loss > _EPS * max(1.0, loss):
                state.close(int(a))
                state.open(b)
                improved = True
        state.greedy_fill(by_ratio=True)


def _locked_columns(problem: ReducedProblem) -> np.ndarray:
    locked = np.zeros(problem.n_columns, dtype=bool)
    locked[problem.forced_columns] = True
    locked |= np.isin(problem.column_site, problem.forced_any_sites)
    return locked


def _iterated_search(
    state: _CoverState, *, deadline: float, rng: np.random.Generator, max_stall: int = 200
) -> int:
    """Iterated local search: close a few random open columns, refill, swap; keep if better.

    Stops at the deadline, after ``max_stall`` perturbations in a row without improvement,
    or at the trivial upper bound. Returns the number of perturbations tried.
    """
    locked = _locked_columns(state.problem)
    best_value, best = state.objective(), state.snapshot()
    tries = stalled = 0
    upper = state.problem.upper_bound - _EPS * max(1.0, state.problem.upper_bound)
    while time.perf_counter() < deadline and stalled < max_stall and best_value < upper:
        movable = np.nonzero(state.chosen & ~locked)[0]
        if len(movable) == 0:
            break
        tries += 1
        size = int(rng.integers(1, max(2, len(movable) // 5) + 1))
        for k in rng.choice(movable, size=min(size, len(movable)), replace=False):
            state.close(int(k))
        # Refill with a randomised greedy: a random share of candidates is hidden at first.
        state.greedy_fill(by_ratio=True, allowed=rng.random(len(state.gain)) >= 0.3)
        state.greedy_fill(by_ratio=True)
        _swap_search(state, deadline=deadline, rng=rng)
        value = state.objective()
        if value > best_value + _EPS * max(1.0, abs(best_value)):
            best_value, best = value, state.snapshot()
            stalled = 0
        else:
            state.restore(best)
            stalled += 1
    state.restore(best)
    return tries


def greedy_swap(
    problem: ReducedProblem,
    *,
    time_limit_s: float = 5.0,
    seed: int = 0,
    swap: bool = True,
    iterate: bool = True,
) -> HeuristicResult:
    """Greedy construction plus swap local search.

    Parameters
    ----------
    problem
        The reduced coverage problem.
    time_limit_s
        Wall-time budget for the local search.
    seed
        Seed of the move order.
    swap
        Run the swap local search after greedy.
    iterate
        Spend the rest of the time on iterated local search (perturb, refill, swap).

    Returns
    -------
    HeuristicResult
        The best plan found; ``feasible`` is False when forced sites alone break the budget.
    """
    started = time.perf_counter()
    best: _CoverState | None = None
    costs_vary = np.ptp(problem.column_cost) > 0 if problem.n_columns else False
    for by_ratio in (True, False) if costs_vary else (True,):
        state = _start(problem)
        if state is None:
            return HeuristicResult(
                np.empty(0, dtype=np.int64),
                float("nan"),
                False,
                time.perf_counter() - started,
                "greedy",
            )
        state.greedy_fill(by_ratio=by_ratio)
        if best is None or state.objective() > best.objective():
            best = state
    assert best is not None
    method = "greedy"
    if swap:
        _swap_search(
            best,
            deadline=started + time_limit_s,
            rng=np.random.default_rng(seed),
        )
        method = "greedy+swap"
        if iterate:
            _iterated_search(best, deadline=started + time_limit_s,
                             rng=np.random.default_rng(seed + 1))
            method = "greedy+swap+ils"
    return HeuristicResult(
        columns=np.nonzero(best.chosen)[0],
        objective=best.objective(),
        feasible=True,
        runtime_s=time.perf_counter() - started,
        method=method,
    )


def improve_plan(
    problem: ReducedProblem,
    columns: np.ndarray,
    *,
    time_limit_s: float,
    seed: int = 0,
) -> HeuristicResult:
    """Swap and iterated local search starting from a given feasible plan.

    Used to polish a plan another method found (the MIP at its time limit): the result
    is never worse than the start. Stops at the time limit or when the iterated search
    stalls (see :func:`_iterated_search`).

    Parameters
    ----------
    problem
        The reduced coverage problem.
    columns
        Open columns of a plan that satisfies every constraint of ``problem``.
    time_limit_s
        Wall-time budget.
    seed
        Seed of the move order.

    Returns
    -------
    HeuristicResult
        The best plan found; ``feasible`` is False when the start cannot be rebuilt (a
        column that cannot be opened), in which case nothing was searched.
    """
    started = time.perf_counter()
    state = _start(problem)
    columns = np.asarray(columns, dtype=np.int64)
    if state is not None:
        for k in columns:
            if not state.chosen[k]:
                if not state.can_open()[k]:
                    state = None
                    break
                state.open(int(k))
    if state is None:
        return HeuristicResult(columns, float("nan"), False, time.perf_counter() - started,
                               "ils")
    deadline = started + time_limit_s
    _swap_search(state, deadline=deadline, rng=np.random.default_rng(seed))
    _iterated_search(state, deadline=deadline, rng=np.random.default_rng(seed + 1))
    return HeuristicResult(
        columns=np.nonzero(state.chosen)[0],
        objective=state.objective(),
        feasible=True,
        runtime_s=time.perf_counter() - started,
        method="ils",
    )
