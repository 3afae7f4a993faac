r"""Small components of the coverage graph, modelled by their best plans.

Columns and groups form a graph (a column is joined to the groups it covers and to the
other columns of its site). Columns in different components share no group and no site:
they interact only through the budget and the other resource rows (type caps, area
budgets). A component with few columns :math:`K_c` is therefore replaced, exactly, by the
list :math:`O_c` of its plans that no other plan of the component dominates (covering at
least as much while using no more of any resource), and a choice among them:

.. math::

    \sum_{o \in O_c} z_{co} \le 1, \qquad x_k = \sum_{o \in O_c:\, k \in o} z_{co}
    \quad (k \in K_c), \qquad \text{objective} \mathrel{+}= \sum_{o \in O_c} v_o z_{co},

with the component's coverage rows and :math:`y` variables dropped. The shared budget
rows stay on :math:`x`, so the MIP splits the budget exactly between the components and
the rest of the city; and the LP relaxation of a component is the convex hull of its
plans, which is never weaker than its coverage rows. Any optimal plan maps to one at least
as good that uses only listed plans (each component's part is replaced by a dominating
one, which fits wherever the original did because every resource coefficient is
non-negative).

Applied to the plain coverage objective only (no floors, targets, complete circle,
capacities, max-min or phasing, which add rows over :math:`y`), and not to components with
forced sites.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from optimizer.model.reduce import ReducedProblem

MAX_COLUMNS = 10  # a component with more columns keeps its coverage rows (2^10 plans)


@dataclass(frozen=True, eq=False)
class ComponentPlans:
    """The undominated plans of one small component.

    ``members[o, i]`` says whether plan ``o`` opens ``columns[i]``; ``value[o]`` is the
    weight it covers; ``usage[i]`` is what ``columns[i]`` uses of each resource. The empty
    plan is not listed (choosing no plan means it).
    """

    columns: np.ndarray
    groups: np.ndarray
    members: np.ndarray
    value: np.ndarray
    usage: np.ndarray

    def plan_for(self, chosen: np.ndarray, value: float) -> int:
        """The listed plan to use for a part ``chosen`` (bool per column) worth ``value``:
        the part itself if listed, else the best listed plan that covers at least as much
        and uses no more of any resource (one always exists). -1 for the empty part."""
        if not chosen.any():
            return -1
        same = np.nonzero((self.members == chosen).all(axis=1))[0]
        if len(same):
            return int(same[0])
        need = chosen.astype(float) @ self.usage
        fits = np.all(self.members.astype(float) @ self.usage <= need + 1e-9, axis=1)
        fits &= self.value >= value - 1e-9
        candidates = np.nonzero(fits)[0]
        return int(candidates[np.argmax(self.value[candidates])])


def decomposable(problem: ReducedProblem) -> bool:
    """True when the objective is plain weighted coverage (see the module docstring)."""
    policy = problem.instance.policy
    return policy.objective == "coverage" and not (
        policy.has_floors or policy.has_targets or policy.has_circle
        or policy.capacitated_types() or policy.maxmin_types or policy.has_phasing
    ) and problem.column_year is None


def _usage(problem: ReducedProblem, columns: np.ndarray) -> np.ndarray:
    """Per column, its use of every resource: cost, count and cost per type, cost per
    area (one coordinate each)."""
    n_types = problem.instance.n_types
    cost = problem.column_cost[columns]
    types = problem.column_type[columns]
    parts = [cost[:, None], (types[:, None] == np.arange(n_types)).astype(float),
             (types[:, None] == np.arange(n_types)) * cost[:, None]]
    if problem.column_area is not None and problem.area_budget is not None:
        areas = problem.column_area[columns]
        parts.append((areas[:, None] == np.arange(len(problem.area_budget))) * cost[:, None])
    return np.hstack(parts)


def _undominated(value: np.ndarray, usage: np.ndarray) -> np.ndarray:
    """Indices of the plans no other plan dominates (value >=, usage <= everywhere)."""
    order = np.lexsort((usage.sum(axis=1), -value))
    kept: list[int] = []
    for o in order:
        if kept:
            others = usage[kept]
            if np.any(np.all(others <= usage[o] + 1e-9, axis=1)):
                continue  # a kept plan covers at least as much for no more of anything
        kept.append(int(o))
    return np.asarray(kept, dtype=np.int64)


def small_components(problem: ReducedProblem,
                     max_columns: int = MAX_COLUMNS) -> list[ComponentPlans]:
    """The components with at most ``max_columns`` columns, each with its undominated
    plans (empty when the problem is not :func:`decomposable`)."""
    n_cols, n_groups = problem.n_columns, problem.n_groups
    if n_cols == 0 or not decomposable(problem):
        return []
    cover = problem.cover.tocsr()
    site_link = sparse.csr_matrix(
        (np.ones(n_cols), (problem.column_site, np.arange(n_cols))),
        shape=(problem.instance.n_sites, n_cols))
    graph = sparse.bmat([[None, cover, None], [cover.T, None, site_link.T],
                         [None, site_link, None]], format="csr")
    _, label = connected_components(graph, directed=False)
    column_label = label[n_groups:n_groups + n_cols]
    group_label = label[:n_groups]
    sizes = np.bincount(column_label)
    forced = np.zeros(len(sizes), dtype=bool)
    forced[column_label[problem.forced_columns]] = True
    forced_sites = np.isin(problem.column_site, problem.forced_any_sites)
    forced[column_label[forced_sites]] = True
    found = []
    by_column = cover.tocsc()
    for c in np.nonzero((sizes > 0) & (sizes <= max_columns) & ~forced)[0]:
        columns = np.nonzero(column_label == c)[0]
        groups = np.nonzero(group_label == c)[0]
        m = len(columns)
        codes = np.arange(1, 2 ** m, dtype=np.int64)
        members = ((codes[:, None] >> np.arange(m)) & 1).astype(bool)
        sites = problem.column_site[columns]
        clash = np.zeros(len(codes), dtype=bool)
        for site in np.unique(sites):
            clash |= members[:, sites == site].sum(axis=1) > 1
        members = members[~clash]
        local = by_column[groups][:, columns].toarray() > 0
        covered = (members.astype(np.int64) @ local.T.astype(np.int64)) > 0
        value = covered.astype(float) @ problem.group_weight[groups]
        per_column = _usage(problem, columns)
        keep = _undominated(value, members.astype(float) @ per_column)
        found.append(ComponentPlans(columns, groups, members[keep], value[keep], per_column))
    return found

