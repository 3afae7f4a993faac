r"""Multi-year phasing: budgets released year by year, conversions persist.

Each column :math:`k` is copied once per year: :math:`x_{k\tau}` opens it in year
:math:`\tau`, and a site still takes at most one use over the whole horizon. Year budgets
bound the spending of each year, :math:`\sum_k c_k x_{k\tau} \le B_\tau`.

* ``accumulated`` (default): coverage is counted every year, so earlier conversions are
  worth more: groups are copied per year, and year :math:`\tau`'s copy of :math:`g` is
  covered by any column of :math:`g` opened in a year :math:`\le \tau`. The objective is
  the sum over years (person-years of service).
* ``final``: only the final year's coverage counts (with ``min_cost`` and targets: reach
  the targets by the final year at least cost).

Built as an expansion of the reduced problem, so the heuristics, the model and every
backend work unchanged (year budgets reuse the area-budget rows).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import sparse

from optimizer.model.reduce import ReducedProblem

PHASING_OBJECTIVES = ("accumulated", "final")


def expand_years(problem: ReducedProblem) -> ReducedProblem:
    """The year-expanded problem (see the module docstring)."""
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
        }
        constant = problem.constant * n_years
    else:
        expanded = sparse.hstack([cover] * n_years, format="csr")
        groups = {}
        constant = problem.constant
    return replace(
        problem,
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
