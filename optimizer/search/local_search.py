r"""Compiled local search for the coverage model: greedy, swap descent, iterated search.

The search works on a :class:`~optimizer.reduce.ReducedProblem` (groups :math:`g` with
weight :math:`w_g`, columns :math:`k` = (site, type) with cost :math:`c_k`) and keeps, for
the current set :math:`S` of open columns,

.. math::

    n_g = |S \cap K(g)|, \qquad \sigma_g = \sum_{k \in S \cap K(g)} k, \qquad
    \text{gain}_b = \sum_{g \in G(b),\, n_g = 0} w_g, \qquad
    \text{loss}_a = \sum_{g \in G(a),\, n_g = 1} w_g,

so that the sole open column of a group covered once is :math:`\sigma_g`, and the change of
the objective when open column :math:`a` is swapped for closed column :math:`b` is

.. math::

    \Delta(a, b) = \text{gain}_b - \text{loss}_a
        + \sum_{g \in G(b),\, n_g = 1,\, \sigma_g = a} w_g \;\le\; \text{gain}_b .

One pass over the groups of :math:`b` prices every swap into :math:`b` at once, and
:math:`\text{gain}_b` bounds all of them, so candidates are scanned by decreasing gain and
the scan stops at the first whose gain cannot beat the best move found. Opening or closing
a column updates counts, gains and losses through the sparse coverage matrix only.

Constraints hold at every step: one use per site, and resource rows
:math:`\sum_{k \in C} a_k x_k \le u_C` where every column belongs to at most one class
:math:`C` per family (the total budget, each type's count and cost caps, each area's
budget). Forced columns never close; a site forced open as any type may change type.

*Iterated local search* repeats: close a random open column and its nearest open
neighbours; refill by a randomised greedy (by gain per cost, one time in four by gain;
scores scaled by a random factor in :math:`[0.7, 1]`, one time in eight in
:math:`[0, 1]`); descend with improving adds and swaps among the columns near the change
(plus the closed columns of highest gain, the only far ones whose swaps can change); keep
the result if it is within :math:`2 \cdot 10^{-4}` of the best plan (threshold
acceptance), else go back; return to the best plan after 500 rounds without a new best.
The kernels are compiled with numba, release the GIL, and run in chunks of about 50 ms so
that the caller can watch the clock and report progress while a MIP solver runs in
another thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit

from optimizer.model.reduce import ReducedProblem

_JIT = {"cache": True, "nogil": True}
_EPS = 1e-9
_NOISE = 0.3  # randomised greedy: scores scaled by a factor in [1 - _NOISE, 1]
_ACCEPT = 2e-4  # threshold acceptance, relative to the best objective
_RETURN_AFTER = 500  # perturbations without a new best before going back to it
_CHUNK_SECONDS = 0.05
_WATCH_SECONDS = 0.02  # how often a search's helper thread polls a caller's stop hook
_PERTURB_DIVISOR = 10  # largest perturbation: a tenth of the open columns


# Data tuple D: (col_ptr, col_grp, grp_ptr, grp_col, weight, col_site, res_class,
#                res_coef, capacity, locked, ratio_cost, xy, reach, site_pinned)
# State tuple S: (is_open, count, sumidx, gain, loss, site_user, used, value)
# Work tuple W: (extra, mark, touched, open_list, stamp)


@njit(**_JIT)
def _open(D, S, k):
    col_ptr, col_grp, grp_ptr, grp_col, weight, col_site, res_class, res_coef = D[:8]
    is_open, count, sumidx, gain, loss, site_user, used, value = S
    for i in range(col_ptr[k], col_ptr[k + 1]):
        g = col_grp[i]
        w = weight[g]
        if count[g] == 0:
            value[0] += w
            for j in range(grp_ptr[g], grp_ptr[g + 1]):
                gain[grp_col[j]] -= w
            loss[k] += w
        elif count[g] == 1:
            loss[sumidx[g]] -= w
        count[g] += 1
        sumidx[g] += k
    is_open[k] = True
    site_user[col_site[k]] = k
    for f in range(res_class.shape[0]):
        c = res_class[f, k]
        if c >= 0:
            used[c] += res_coef[f, k]


@njit(**_JIT)
def _close(D, S, k):
    col_ptr, col_grp, grp_ptr, grp_col, weight, col_site, res_class, res_coef = D[:8]
    is_open, count, sumidx, gain, loss, site_user, used, value = S
    for i in range(col_ptr[k], col_ptr[k + 1]):
        g = col_grp[i]
        w = weight[g]
        count[g] -= 1
        sumidx[g] -= k
        if count[g] == 0:
            value[0] -= w
            for j in range(grp_ptr[g], grp_ptr[g + 1]):
                gain[grp_col[j]] += w
            loss[k] -= w
        elif count[g] == 1:
            loss[sumidx[g]] += w
    is_open[k] = False
    site_user[col_site[k]] = -1
    for f in range(res_class.shape[0]):
        c = res_class[f, k]
        if c >= 0:
            used[c] -= res_coef[f, k]


@njit(**_JIT)
def _rebuild(D, S):
    """Recompute counts, gains, losses, resource use and the value from the open set."""
    col_ptr, col_grp, grp_ptr, grp_col, weight, col_site, res_class, res_coef = D[:8]
    is_open, count, sumidx, gain, loss, site_user, used, value = S
    count[:] = 0
    sumidx[:] = 0
    site_user[:] = -1
    used[:] = 0.0
    for k in range(len(is_open)):
        if is_open[k]:
            site_user[col_site[k]] = k
            for f in range(res_class.shape[0]):
                c = res_class[f, k]
                if c >= 0:
                    used[c] += res_coef[f, k]
            for i in range(col_ptr[k], col_ptr[k + 1]):
                count[col_grp[i]] += 1
                sumidx[col_grp[i]] += k
    gain[:] = 0.0
    loss[:] = 0.0
    total = 0.0
    for g in range(len(count)):
        w = weight[g]
        if count[g] == 0:
            for j in range(grp_ptr[g], grp_ptr[g + 1]):
                gain[grp_col[j]] += w
        else:
            total += w
            if count[g] == 1:
                loss[sumidx[g]] += w
    value[0] = total


@njit(**_JIT)
def _fits(D, S, b, a):
    """Whether column ``b`` can open after closing ``a`` (``a = -1``: nothing closes)."""
    col_site, res_class, res_coef, capacity = D[5], D[6], D[7], D[8]
    site_user, used = S[5], S[6]
    user = site_user[col_site[b]]
    if user >= 0 and user != a:
        return False
    for f in range(res_class.shape[0]):
        c = res_class[f, b]
        if c < 0:
            continue
        need = used[c] + res_coef[f, b]
        if a >= 0 and res_class[f, a] == c:
            need -= res_coef[f, a]
        if need > capacity[c]:
            return False
    return True


@njit(**_JIT)
def _greedy(D, S, by_ratio, noise):
    """Open the best affordable column (by gain per cost, or by gain) until none gains;
    with ``noise`` > 0 each score is scaled by a random factor in [1 - noise, 1]."""
    ratio_cost = D[10]
    is_open, gain = S[0], S[3]
    while True:
        best = -1
        best_score = 0.0
        for b in range(len(is_open)):
            if is_open[b] or gain[b] <= _EPS:
                continue
            score = gain[b] / ratio_cost[b] if by_ratio else gain[b]
            if noise > 0.0:
                score *= 1.0 - noise * np.random.random()
            if score > best_score and _fits(D, S, b, -1):
                best, best_score = b, score
        if best < 0:
            return
        _open(D, S, best)


@njit(**_JIT)
def _order(keys):
    """Indices that sort ``keys`` ascending (Shell sort: numba compiles it in a fraction of
    the time its own argsort takes)."""
    n = len(keys)
    order = np.arange(n)
    gap = 1
    while gap < n // 3:
        gap = 3 * gap + 1
    while gap >= 1:
        for i in range(gap, n):
            item = order[i]
            j = i
            while j >= gap and keys[order[j - gap]] > keys[item]:
                order[j] = order[j - gap]
                j -= gap
            order[j] = item
        gap //= 3
    return order


@njit(**_JIT)
def _seeded_greedy(D, S, by_ratio, noise, seed):
    np.random.seed(seed)
    _greedy(D, S, by_ratio, noise)


@njit(**_JIT)
def _open_by_loss(D, S, out):
    """Open columns that may close (not forced, not on a site forced open), cheapest to
    close first, into ``out``; returns how many."""
    locked, col_site, site_pinned = D[9], D[5], D[13]
    is_open, loss = S[0], S[4]
    n = 0
    for k in range(len(is_open)):
        if is_open[k] and not locked[k] and not site_pinned[col_site[k]]:
            # Insertion sort: plans have a few hundred open columns at most.
            j = n
            while j > 0 and loss[out[j - 1]] > loss[k]:
                out[j] = out[j - 1]
                j -= 1
            out[j] = k
            n += 1
    return n


@njit(**_JIT)
def _best_partner(D, S, W, b, n_open, floor):
    """The best way to open closed column ``b``: add it, or swap it for an open column.
    Returns (a, delta) with a = -1 for an add, or (-2, floor) when no move gains more
    than ``floor``. ``W[3][:n_open]`` must list the closable open columns by loss."""
    col_ptr, col_grp, weight, col_site, locked, site_pinned = D[0], D[1], D[4], D[5], D[9], \
        D[13]
    count, sumidx, gain, loss, site_user = S[1], S[2], S[3], S[4], S[5]
    extra, mark, touched, open_list, stamp = W
    gb = gain[b]
    best_a, best_delta = -2, floor
    if gb <= floor:
        return best_a, best_delta  # gain bounds every move that opens b
    stamp[0] += 1
    st = stamp[0]
    n_touched = 0
    for i in range(col_ptr[b], col_ptr[b + 1]):
        g = col_grp[i]
        if count[g] == 1:
            a = sumidx[g]
            if mark[a] != st:
                mark[a] = st
                extra[a] = 0.0
                touched[n_touched] = a
                n_touched += 1
            extra[a] += weight[g]
    user = site_user[col_site[b]]
    if user >= 0:
        # The site is in use: only a change of its type is possible.
        if not locked[user]:
            d = gb - loss[user] + (extra[user] if mark[user] == st else 0.0)
            if d > best_delta and _fits(D, S, b, user):
                best_a, best_delta = user, d
        return best_a, best_delta
    if _fits(D, S, b, -1):
        return -1, gb  # no swap into b beats adding it
    for i in range(n_touched):
        a = touched[i]
        d = gb - loss[a] + extra[a]
        if d > best_delta and not locked[a] and not site_pinned[col_site[a]] \
                and _fits(D, S, b, a):
            best_a, best_delta = a, d
    for i in range(n_open):
        a = open_list[i]
        if mark[a] == st:
            continue
        d = gb - loss[a]
        if d <= best_delta:
            break  # the rest lose more
        if _fits(D, S, b, a):
            best_a, best_delta = a, d
            break
    return best_a, best_delta


@njit(**_JIT)
def _top_gain(S, how_many):
    """Closed columns of highest gain (fewer when fewer are closed)."""
    is_open, gain = S[0], S[3]
    top = np.full(how_many, -1, dtype=np.int64)
    last = how_many - 1
    for k in range(len(gain)):
        if is_open[k] or (top[last] >= 0 and gain[k] <= gain[top[last]]):
            continue
        j = last
        while j > 0 and (top[j - 1] < 0 or gain[top[j - 1]] < gain[k]):
            top[j] = top[j - 1]
            j -= 1
        top[j] = k
    return top[top >= 0]


@njit(**_JIT)
def _mark_near(D, dirty, k):
    """Mark the columns within twice the reach of column ``k`` (those whose moves a change
    at ``k`` can alter: two columns interact only through a group both cover)."""
    xy, reach = D[11], D[12]
    limit = (2.0 * reach) ** 2
    for c in range(len(dirty)):
        if (xy[c, 0] - xy[k, 0]) ** 2 + (xy[c, 1] - xy[k, 1]) ** 2 <= limit:
            dirty[c] = True


@njit(**_JIT)
def _descend(D, S, W, candidates):
    """Apply the best improving add or swap into ``candidates`` (or into one of the
    closed columns of highest gain: far from every change only their plain "gain minus
    loss" swaps can have improved) until none is left; returns the number of moves.
    Candidates are priced by decreasing gain, which bounds every move that opens them."""
    is_open, gain, value = S[0], S[3], S[7]
    moves = 0
    while True:
        top = _top_gain(S, 4)
        pool = np.concatenate((candidates, top))
        scores = np.empty(len(pool))
        for i in range(len(pool)):
            scores[i] = -gain[pool[i]]
        order = _order(scores)
        n_open = _open_by_loss(D, S, W[3])
        best_a, best_b = -2, -1
        best_d = _EPS * max(1.0, abs(value[0]))
        for i in range(len(pool)):
            b = pool[order[i]]
            if gain[b] <= best_d:
                break
            if is_open[b]:
                continue
            a, d = _best_partner(D, S, W, b, n_open, best_d)
            if a != -2:
                best_a, best_b, best_d = a, b, d
        if best_b < 0:
            return moves
        if best_a >= 0:
            _close(D, S, best_a)
        _open(D, S, best_b)
        moves += 1


@njit(**_JIT)
def _load(D, S, target):
    """Make the open set equal ``target`` (closing first, so sites and budget free up)."""
    is_open = S[0]
    for k in range(len(is_open)):
        if is_open[k] and not target[k]:
            _close(D, S, k)
    for k in range(len(is_open)):
        if target[k] and not is_open[k]:
            _open(D, S, k)


@njit(**_JIT)
def _perturb(D, S, W, size):
    """Close a random unlocked open column and its ``size - 1`` nearest open neighbours,
    refill by randomised greedy; returns the columns near every change."""
    xy = D[11]
    is_open, open_list = S[0], W[3]
    n_open = _open_by_loss(D, S, open_list)
    if n_open == 0:
        return np.arange(len(is_open))
    centre = open_list[np.random.randint(0, n_open)]
    dist = np.empty(n_open)
    for i in range(n_open):
        k = open_list[i]
        dist[i] = (xy[k, 0] - xy[centre, 0]) ** 2 + (xy[k, 1] - xy[centre, 1]) ** 2
    closing = open_list[:n_open][_order(dist)[:min(size, n_open)]].copy()
    before = is_open.copy()
    for k in closing:
        _close(D, S, k)
    # Refill by gain per cost, or now and then by gain alone: with uneven costs and a tight
    # budget some optima need a dear column that the ratio never picks.
    # One time in eight the refill is almost random (noise 1), so that no column's
    # score can keep it out of every refill.
    by_ratio = np.random.random() < 0.75
    _greedy(D, S, by_ratio, _NOISE if np.random.random() < 0.875 else 1.0)
    _greedy(D, S, True, 0.0)
    near = np.zeros(len(is_open), dtype=np.bool_)
    for c in np.nonzero(before != is_open)[0]:
        _mark_near(D, near, c)
    return np.nonzero(near)[0]


@njit(**_JIT)
def _ils(D, S, W, best_open, best_value, current_open, counters, n_iters, seed, halt):
    """``n_iters`` rounds of iterated local search (see the module docstring), fewer if
    ``halt[0]`` turns True (set by another thread); returns how many times the best plan
    improved. ``counters``: [rounds, round of the last new best, rejected rounds, largest
    perturbation, round of the last return to the best]."""
    np.random.seed(seed)
    value = S[7]
    everything = np.arange(len(S[0]))
    improvements = 0
    for _ in range(n_iters):
        if halt[0]:
            break
        size = 1 + np.random.randint(0, max(1, counters[3]))
        near = _perturb(D, S, W, size)
        _descend(D, S, W, near)
        counters[0] += 1
        scale = _EPS * max(1.0, abs(best_value[0]))
        if value[0] > best_value[0] + scale:
            _descend(D, S, W, everything)
            best_value[0] = value[0]
            best_open[:] = S[0]
            current_open[:] = S[0]
            improvements += 1
            counters[1] = counters[0]
        elif value[0] >= best_value[0] - _ACCEPT * abs(best_value[0]) - scale:
            current_open[:] = S[0]
        else:
            _load(D, S, current_open)
            counters[2] += 1
        if counters[0] - max(counters[1], counters[4]) > _RETURN_AFTER:
            _load(D, S, best_open)
            current_open[:] = best_open
            counters[4] = counters[0]
        if counters[0] % 64 == 0:
            _rebuild(D, S)  # no drift in the incremental sums
    return improvements


# --------------------------------------------------------------------------- driver


def _resource_rows(problem: ReducedProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class of every column in each resource family, its coefficient, and capacities.

    Families: the total budget, per-type count caps, per-type cost caps, area budgets.
    Capacities carry the same relative tolerance as the plan check (1e-9).
    """
    instance = problem.instance
    n = problem.n_columns
    cost = problem.column_cost.astype(float)
    classes: list[np.ndarray] = []
    coefs: list[np.ndarray] = []
    caps: list[float] = []

    def family(members: np.ndarray, coef: np.ndarray, capacity: np.ndarray) -> None:
        classes.append(np.where(members >= 0, members + len(caps), -1).astype(np.int64))
        coefs.append(np.asarray(coef, dtype=float))
        caps.extend(float(c) for c in capacity)

    if np.isfinite(instance.budget):
        family(np.zeros(n, dtype=np.int64), cost, np.array([instance.budget]))
    types = instance.types
    counts = np.array([np.inf if t.max_sites is None else t.max_sites for t in types])
    if np.isfinite(counts).any():
        family(problem.column_type, np.ones(n), counts)
    shares = np.array([np.inf if t.max_budget_share is None
                       else t.max_budget_share * instance.budget for t in types])
    if np.isfinite(shares).any():
        family(problem.column_type, cost, shares)
    if problem.column_area is not None and problem.area_budget is not None:
        family(problem.column_area, cost, np.asarray(problem.area_budget, dtype=float))
    capacity = np.array(caps, dtype=float)
    capacity = capacity + 1e-9 * np.maximum(1.0, np.abs(capacity))
    if not classes:
        return np.full((0, n), -1, dtype=np.int64), np.zeros((0, n)), capacity
    return np.vstack(classes), np.vstack(coefs), capacity


@dataclass(frozen=True, eq=False)
class SearchResult:
    """Best open columns a search found, and what it did."""

    columns: np.ndarray
    objective: float
    rounds: int
    improvements: int
    runtime_s: float


class CoverageSearch:
    """Compiled local search over one reduced problem.

    :meth:`start` (forced columns, then greedy) or :meth:`load` a plan, then
    :meth:`descend` and :meth:`iterate`. The current plan always satisfies every
    constraint of the problem; objectives include the reduction's constant.
    """

    def __init__(self, problem: ReducedProblem) -> None:
        self.problem = problem
        cover = problem.cover.tocsr()
        cover.sort_indices()
        by_column = cover.tocsc()
        by_column.sort_indices()
        n, m = problem.n_columns, problem.n_groups
        res_class, res_coef, capacity = _resource_rows(problem)
        self.locked = np.zeros(n, dtype=bool)
        self.locked[problem.forced_columns] = True
        # Sites forced open as any type: their column may change type, never close.
        self.site_pinned = np.zeros(problem.instance.n_sites, dtype=bool)
        self.site_pinned[problem.forced_any_sites] = True
        instance = problem.instance
        self._data = (
            by_column.indptr.astype(np.int64), by_column.indices.astype(np.int64),
            cover.indptr.astype(np.int64), cover.indices.astype(np.int64),
            problem.group_weight.astype(float), problem.column_site.astype(np.int64),
            res_class, res_coef, capacity, self.locked,
            np.maximum(problem.column_cost.astype(float), 1e-12),
            np.ascontiguousarray(instance.site_xy[problem.column_site], dtype=float),
            float(instance.reach_radii.max()) if instance.n_types else 0.0,
            self.site_pinned,
        )
        self._state = (
            np.zeros(n, dtype=np.bool_), np.zeros(m, dtype=np.int64),
            np.zeros(m, dtype=np.int64), np.zeros(n), np.zeros(n),
            np.full(instance.n_sites, -1, dtype=np.int64), np.zeros(len(capacity)),
            np.zeros(1),
        )
        self._work = (np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64),
                      np.zeros(n, dtype=np.int64), np.zeros(1, dtype=np.int64))
        _rebuild(self._data, self._state)

    @property
    def value(self) -> float:
        """Objective of the current plan (the reduction's constant included)."""
        return self.problem.constant + float(self._state[7][0])

    def columns(self) -> np.ndarray:
        """Open columns of the current plan."""
        return np.nonzero(self._state[0])[0]

    def fixed_columns(self) -> np.ndarray:
        """Open columns that never close (forced, or chosen for a site forced open)."""
        pinned = self.locked | self.site_pinned[self.problem.column_site]
        return np.nonzero(self._state[0] & pinned)[0]

    def _open_forced(self) -> bool:
        problem, is_open, gain = self.problem, self._state[0], self._state[3]
        for k in problem.forced_columns:
            if not is_open[k]:
                if not _fits(self._data, self._state, int(k), -1):
                    return False
                _open(self._data, self._state, int(k))
        for site in problem.forced_any_sites:
            candidates = np.nonzero(problem.column_site == site)[0]
            already = candidates[is_open[candidates]]
            if len(already):
                continue
            fits = [int(k) for k in candidates if _fits(self._data, self._state, int(k), -1)]
            if not fits:
                return False
            chosen = max(fits, key=lambda k: gain[k])
            _open(self._data, self._state, chosen)
        return True

    def start(self, *, by_ratio: bool = True, noise: float = 0.0, seed: int = 0) -> bool:
        """Open the forced columns, then greedy (by gain per cost, or by gain; with
        ``noise`` > 0 randomised, scores scaled by a factor in [1 - noise, 1]); False when
        the forced columns alone break a constraint."""
        _load(self._data, self._state, np.zeros(self.problem.n_columns, dtype=np.bool_))
        if not self._open_forced():
            return False
        _seeded_greedy(self._data, self._state, by_ratio, noise, seed % 2**32)
        return True

    def load(self, columns: np.ndarray) -> bool:
        """Make ``columns`` (plus any forced column missing) the plan. Returns False, and
        leaves only the forced columns open, when that breaks a constraint."""
        nothing = np.zeros(self.problem.n_columns, dtype=np.bool_)
        _load(self._data, self._state, nothing)
        for k in np.asarray(columns, dtype=np.int64):
            if not self._state[0][k]:
                if not _fits(self._data, self._state, int(k), -1):
                    _load(self._data, self._state, nothing)
                    self._open_forced()
                    return False
                _open(self._data, self._state, int(k))
        return self._open_forced()

    def descend(self) -> int:
        """Best improving adds and swaps until a local optimum; returns the moves made."""
        moves = _descend(self._data, self._state, self._work,
                         np.arange(self.problem.n_columns))
        _rebuild(self._data, self._state)
        return int(moves)

    def iterate(
        self,
        *,
        time_limit_s: float,
        seed: int = 0,
        target: float | None = None,
        max_stall_rounds: int | None = None,
        on_improvement: Callable[[np.ndarray, float], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        interrupt: Callable[[], bool] | None = None,
    ) -> SearchResult:
        """Iterated local search from the current plan; ends on the best plan found.

        Parameters
        ----------
        time_limit_s
            Wall-time budget, checked between chunks of about 50 ms.
        seed
            Seed of the perturbations.
        target
            Stop once the objective reaches this value (a proven upper bound).
        max_stall_rounds
            Stop after this many rounds without a new best (None: only time stops it).
        on_improvement
            Called with ``(columns, objective)`` whenever the best plan improves.
        should_stop
            Called between chunks; the search stops when it returns True.
        interrupt
            A thread-safe stop hook (a caller's cancel button), polled every 20 ms by a
            helper thread while the search runs, which then ends the compiled search within
            one round: rounds vary in cost, so a chunk can last seconds on large models.
        """
        started = time.perf_counter()
        deadline = started + time_limit_s
        best_open = self._state[0].copy()
        best_value = np.array([self._state[7][0]])
        current_open = best_open.copy()
        counters = np.array([0, 0, 0, max(3, int(best_open.sum()) // _PERTURB_DIVISOR), 0],
                            dtype=np.int64)
        goal = None if target is None else target - self.problem.constant - _EPS * max(
            1.0, abs(target))
        chunk, improvements, call = 4, 0, 0
        halt = np.zeros(1, dtype=np.bool_)
        finished = threading.Event()
        if interrupt is not None:

            def watch() -> None:
                while not finished.wait(_WATCH_SECONDS):
                    if interrupt():
                        halt[0] = True
                        return

            threading.Thread(target=watch, name="lifecircle-search-stop", daemon=True).start()
        try:
            while self.problem.n_columns and not halt[0]:
                if time.perf_counter() >= deadline:
                    break
                if goal is not None and best_value[0] >= goal:
                    break
                if should_stop is not None and should_stop():
                    break
                if max_stall_rounds is not None and \
                        counters[0] - counters[1] >= max_stall_rounds:
                    break
                tick = time.perf_counter()
                call += 1
                gained = _ils(self._data, self._state, self._work, best_open, best_value,
                              current_open, counters, chunk,
                              (seed * 1_000_003 + call) % 2**32, halt)
                spent = time.perf_counter() - tick
                chunk = int(np.clip(chunk * _CHUNK_SECONDS / max(spent, 1e-4), 1, 100_000))
                if gained:
                    improvements += int(gained)
                    if on_improvement is not None:
                        on_improvement(np.nonzero(best_open)[0],
                                       self.problem.constant + float(best_value[0]))
        finally:
            finished.set()
        _load(self._data, self._state, best_open)
        _rebuild(self._data, self._state)
        return SearchResult(
            columns=self.columns(), objective=self.value, rounds=int(counters[0]),
            improvements=improvements, runtime_s=time.perf_counter() - started,
        )
