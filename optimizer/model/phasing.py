r"""Multi-year phasing: budgets released year by year, conversions persist.

Each column :math:`k` is copied once per year: :math:`x_{k\tau}` opens it in year
:math:`\tau`, and a site still takes at most one use over the whole horizon. Year budgets
bound the spending of each year, :math:`\sum_k c_k x_{k\tau} \le B_\tau`.

* ``accumulated`` (default): coverage is counted every year, so earlier conversions are
  worth more: groups are copied per year, and year :math:`\tau`'s copy of :math:`g` is
  covered by any column of :math:`g` opened in a year :math:`\le \tau`. The objective is
  the sum over years (person-years of service). Targets (and floors) hold in the final
  year: their rows count the final year's copies only.
* ``final``: only the final year's coverage counts (with ``min_cost`` and targets: reach
  the targets by the final year at least cost).

A site forced open (as a given type, or as any type) opens in exactly one year of the
horizon, the one the optimisation prefers within the year budgets:
:math:`\sum_{k \in K(j),\,\tau} x_{k\tau} = 1` (its year copies form the site's "one use
per site" row, with a lower bound of 1). Fixing it in the first year (or the earliest with
room) would cost coverage, and could make a larger budget give a worse plan (a forced site
moved into a year that then holds it, displacing a better one).

Built as an expansion of the reduced problem, so the heuristics, the model and every
backend work unchanged (year budgets reuse the area-budget rows; the year copies of a
column all share its site, so "one use per site" spans the horizon).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import sparse

from optimizer.model.reduce import ReducedProblem

PHASING_OBJECTIVES = ("accumulated", "final")


def expand_years(problem: ReducedProblem) -> ReducedProblem:
    """The year-expanded problem (see the module docstring).

    Forced columns become forced sites: a site forced to a type has no other column (see
    :func:`optimizer.reduce.reduce_problem`), so "open as some type" over its year copies
    is "open as its type in some year".
    """
    policy = problem.instance.policy
    years = policy.years
    n_years, n_columns = len(years), problem.n_columns
    cover = problem.cover.tocsr()
    if policy.phasing == "accumulated":
        expanded = sparse.bmat(
            [[cover if later <= year else None for later in range(n_years)]
             for year in range(n_years)],
            format="csr",
        )
        if expanded.shape != (problem.n_groups * n_years, n_columns * n_years):
            expanded = sparse.csr_matrix(
                expanded, shape=(problem.n_groups * n_years, n_columns * n_years))

        def tile(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else np.tile(values, n_years)

        groups = {
            "group_weight": tile(problem.group_weight),
            "group_type": tile(problem.group_type),
            "group_population": tile(problem.group_population),
            "group_band": tile(problem.group_band),
            "group_code": tile(problem.group_code),
            "group_year": np.repeat(np.arange(n_years), problem.n_groups),
        }
        constant = problem.constant * n_years
    else:
        expanded = sparse.hstack([cover] * n_years, format="csr")
        groups = {}
        constant = problem.constant
    forced_sites = np.union1d(problem.forced_any_sites,
                              problem.column_site[problem.forced_columns])
    return replace(
        problem,
        forced_columns=np.empty(0, dtype=np.int64),
        forced_any_sites=forced_sites.astype(np.int64),
        column_site=np.tile(problem.column_site, n_years),
        column_type=np.tile(problem.column_type, n_years),
        column_cost=np.tile(problem.column_cost, n_years),
        cover=expanded,
        constant=constant,
        column_area=np.repeat(np.arange(n_years), n_columns),
        area_budget=np.asarray(policy.year_budget, dtype=float),
        area_names=tuple(years),
        column_year=np.repeat(np.arange(n_years), n_columns),
        year_names=tuple(years),
        stats={**problem.stats, "years": n_years, "columns_expanded": n_columns * n_years},
        **groups,
    )
