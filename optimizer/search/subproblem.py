r"""Coverage sub-problems: some columns fixed open, a chosen set free, the rest closed.

Given fixed open columns :math:`F` and free columns :math:`R`, the sub-problem is the same
coverage model over :math:`R` alone

.. math::

    \max \sum_{g \in G'} w_g y_g \quad\text{s.t.}\quad y_g \le \sum_{k \in R \cap K(g)} x_k,
    \quad \sum_{k \in R} c_k x_k \le B - c(F), \quad \ldots

over the groups :math:`G'` that no fixed column covers, with every other constraint (one
use per site, type caps, area budgets) tightened by what the fixed columns use. Its
objective leaves out the constant and what :math:`F` covers. Large-neighbourhood search
(:mod:`optimizer.lns`) frees a region around part of a plan; solution merging
(:mod:`optimizer.portfolio`) frees the union of several good plans.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import sparse

from optimizer.model.reduce import ReducedProblem


def restricted_problem(problem: ReducedProblem, free: np.ndarray,
                       fixed: np.ndarray) -> tuple[ReducedProblem, np.ndarray]:
    """The coverage problem over ``free`` columns with ``fixed`` columns open.

    Returns the sub-problem and the free columns it kept (those whose site no fixed column
    takes), in the order of the sub-problem's columns. Forced sites are dropped: the caller
    keeps them among ``fixed``.
    """
    instance = problem.instance
    fixed = np.asarray(fixed, dtype=np.int64)
    free = np.setdiff1d(np.asarray(free, dtype=np.int64), fixed)
    site_taken = np.zeros(instance.n_sites, dtype=bool)
    site_taken[problem.column_site[fixed]] = True
    free = free[~site_taken[problem.column_site[free]]]
    by_column = problem.cover.tocsc()
    fixed_count = np.asarray(by_column[:, fixed].sum(axis=1)).ravel()
    open_groups = np.nonzero(fixed_count == 0)[0]
    cover = problem.cover[open_groups][:, free].tocsr()
    useful = np.diff(cover.indptr) > 0
    groups = open_groups[useful]
    cover = cover[useful]
    cost = problem.column_cost
    spent = float(cost[fixed].sum())
    budget = instance.budget - spent if np.isfinite(instance.budget) else instance.budget
    types = []
    for t, ftype in enumerate(instance.types):
        of_type = problem.column_type[fixed] == t
        max_sites = None if ftype.max_sites is None else ftype.max_sites - int(of_type.sum())
        share = None
        if ftype.max_budget_share is not None:
            room = ftype.max_budget_share * instance.budget - float(cost[fixed][of_type].sum())
            share = max(room, 0.0) / budget if budget > 0 else 0.0
        types.append(replace(ftype, max_sites=max_sites, max_budget_share=share))
    area_budget = problem.area_budget
    if problem.column_area is not None and area_budget is not None:
        areas = problem.column_area[fixed]
        inside = areas >= 0
        area_budget = area_budget - np.bincount(areas[inside], weights=cost[fixed][inside],
                                                minlength=len(area_budget))
    sub_instance = replace(instance, budget=budget, types=tuple(types),
                           forced_sites=np.empty(0, dtype=np.int64),
                           forced_type=np.empty(0, dtype=np.int64))
    return ReducedProblem(
        instance=sub_instance,
        column_site=problem.column_site[free],
        column_type=problem.column_type[free],
        column_cost=cost[free],
        cover=sparse.csr_matrix(cover),
        group_weight=problem.group_weight[groups],
        group_type=problem.group_type[groups],
        constant=0.0,
        forced_columns=np.empty(0, dtype=np.int64),
        forced_any_sites=np.empty(0, dtype=np.int64),
        group_population=None if problem.group_population is None
        else problem.group_population[groups],
        group_band=None if problem.group_band is None else problem.group_band[groups],
        group_code=None if problem.group_code is None else problem.group_code[groups],
        column_area=None if problem.column_area is None else problem.column_area[free],
        area_budget=area_budget,
        area_names=problem.area_names,
    ), free


def keep_columns(problem: ReducedProblem, keep: np.ndarray) -> ReducedProblem:
    r"""The same problem over the columns ``keep`` (a boolean mask): nothing else changes.

    Groups, weights, the constant, budgets and caps stay as they are, so
    :attr:`~optimizer.reduce.ReducedProblem.upper_bound` stays valid; forced columns are
    renumbered, and those not kept are dropped (the plan check on the original instance
    then rejects plans that leave their site closed). A rule that forbids columns is
    exact after the reductions when it removes whole types (dominance compares columns of
    one type only); one that removes single sites needs ``reductions=False``, or belongs
    in the instance (``excluded``).
    """
    keep = np.asarray(keep, dtype=bool)
    renumber = np.cumsum(keep) - 1
    forced = problem.forced_columns[keep[problem.forced_columns]]
    return replace(
        problem,
        column_site=problem.column_site[keep],
        column_type=problem.column_type[keep],
        column_cost=problem.column_cost[keep],
        cover=sparse.csr_matrix(problem.cover[:, keep]),
        forced_columns=renumber[forced].astype(np.int64),
        column_area=None if problem.column_area is None else problem.column_area[keep],
        column_year=None if problem.column_year is None else problem.column_year[keep],
        stats={**problem.stats, "columns_after_rule": int(keep.sum())},
    )
