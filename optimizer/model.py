r"""The budgeted multi-type maximal covering MILP, assembled from sparse constraint blocks.

Variables: :math:`x_k \in \{0,1\}` for each column :math:`k = (j, t)` (site :math:`j`
becomes type :math:`t`), and :math:`y_g \in [0,1]` for each coverage group :math:`g`
(integral at an optimum because :math:`x` is).

.. math::

    \max\; & c_0 + \sum_g w_g\, y_g \\
    \text{s.t.}\; & y_g - \sum_{k \in K(g)} x_k \le 0 && \forall g \quad\text{(coverage)}\\
    & \sum_{k \in K(j)} x_k \le 1 \;(= 1 \text{ if } j \text{ is forced open}) && \forall j
      \quad\text{(one use per site)}\\
    & \sum_k c_k x_k \le B && \text{(budget)}\\
    & \sum_{k: t_k = t} x_k \le N_t,\quad \sum_{k: t_k = t} c_k x_k \le s_t B
      && \text{(optional type caps)}\\
    & x_k = 1 && k \text{ forced}

Each constraint family is a :class:`ConstraintBlock`; new policy features add blocks to the
list instead of forking the model. Variables are ordered ``x`` then ``y``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from optimizer.reduce import ReducedProblem


@dataclass(frozen=True, eq=False)
class ConstraintBlock:
    """Rows ``lower <= matrix @ v <= upper`` with a name for reports."""

    name: str
    matrix: sparse.csr_matrix
    lower: np.ndarray
    upper: np.ndarray


@dataclass(frozen=True, eq=False)
class MilpArrays:
    """A MILP in bulk arrays, ready for any backend (maximisation).

    ``objective @ v + offset`` is maximised subject to
    ``row_lower <= matrix @ v <= row_upper`` and ``col_lower <= v <= col_upper``, with
    ``integrality[k]`` marking integer variables.
    """

    objective: np.ndarray
    offset: float
    matrix: sparse.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray
    block_names: tuple[str, ...]
    block_starts: np.ndarray
    n_x: int

    @property
    def n_cols(self) -> int:
        return len(self.objective)

    @property
    def n_rows(self) -> int:
        return self.matrix.shape[0]

    def block_of_row(self, row: int) -> str:
        return self.block_names[int(np.searchsorted(self.block_starts, row, side="right") - 1)]


def coverage_block(problem: ReducedProblem) -> ConstraintBlock:
    """:math:`y_g - \\sum_{k \\in K(g)} x_k \\le 0`."""
    n_groups = problem.n_groups
    matrix = sparse.hstack(
        [-problem.cover, sparse.identity(n_groups, format="csr")], format="csr"
    )
    return ConstraintBlock(
        "coverage", matrix, np.full(n_groups, -np.inf), np.zeros(n_groups)
    )


def site_use_block(problem: ReducedProblem, n_cols: int) -> ConstraintBlock:
    """At most one new use per site; exactly one for sites forced open as any type."""
    sites, inverse, counts = np.unique(
        problem.column_site, return_inverse=True, return_counts=True
    )
    forced_any = np.isin(sites, problem.forced_any_sites)
    rows_needed = (counts > 1) | forced_any
    row_of_site = np.cumsum(rows_needed) - 1
    keep = rows_needed[inverse]
    columns = np.nonzero(keep)[0]
    matrix = sparse.csr_matrix(
        (np.ones(len(columns)), (row_of_site[inverse[keep]], columns)),
        shape=(int(rows_needed.sum()), n_cols),
    )
    lower = np.where(forced_any[rows_needed], 1.0, -np.inf)
    return ConstraintBlock("one use per site", matrix, lower, np.ones(len(lower)))


def budget_block(problem: ReducedProblem, n_cols: int) -> ConstraintBlock:
    """:math:`\\sum_k c_k x_k \\le B`."""
    k = problem.n_columns
    matrix = sparse.csr_matrix(
        (problem.column_cost, (np.zeros(k, dtype=np.int64), np.arange(k))), shape=(1, n_cols)
    )
    return ConstraintBlock(
        "budget", matrix, np.array([-np.inf]), np.array([problem.instance.budget])
    )


def type_cap_blocks(problem: ReducedProblem, n_cols: int) -> list[ConstraintBlock]:
    """Optional per-type caps on the number of sites and on the budget share."""
    blocks = []
    budget = problem.instance.budget
    for t, ftype in enumerate(problem.instance.types):
        cols = np.nonzero(problem.column_type == t)[0]
        zeros = np.zeros(len(cols), dtype=np.int64)
        if ftype.max_sites is not None:
            matrix = sparse.csr_matrix((np.ones(len(cols)), (zeros, cols)), shape=(1, n_cols))
            blocks.append(
                ConstraintBlock(
                    f"max_sites[{ftype.name}]",
                    matrix,
                    np.array([-np.inf]),
                    np.array([float(ftype.max_sites)]),
                )
            )
        if ftype.max_budget_share is not None:
            matrix = sparse.csr_matrix(
                (problem.column_cost[cols], (zeros, cols)), shape=(1, n_cols)
            )
            blocks.append(
                ConstraintBlock(
                    f"max_budget_share[{ftype.name}]",
                    matrix,
                    np.array([-np.inf]),
                    np.array([ftype.max_budget_share * budget]),
                )
            )
    return blocks


def build_milp(problem: ReducedProblem) -> MilpArrays:
    """Assemble the MILP of the module docstring from its constraint blocks."""
    n_x, n_y = problem.n_columns, problem.n_groups
    n_cols = n_x + n_y
    blocks = [
        coverage_block(problem),
        site_use_block(problem, n_cols),
        budget_block(problem, n_cols),
        *type_cap_blocks(problem, n_cols),
    ]
    blocks = [b for b in blocks if b.matrix.shape[0] > 0]
    matrix = sparse.vstack([b.matrix for b in blocks], format="csr")
    starts = np.cumsum([0] + [b.matrix.shape[0] for b in blocks[:-1]])
    col_lower = np.zeros(n_cols)
    col_lower[problem.forced_columns] = 1.0
    integrality = np.zeros(n_cols, dtype=bool)
    integrality[:n_x] = True
    return MilpArrays(
        objective=np.concatenate([np.zeros(n_x), problem.group_weight]),
        offset=problem.constant,
        matrix=matrix,
        row_lower=np.concatenate([b.lower for b in blocks]),
        row_upper=np.concatenate([b.upper for b in blocks]),
        col_lower=col_lower,
        col_upper=np.ones(n_cols),
        integrality=integrality,
        block_names=tuple(b.name for b in blocks),
        block_starts=np.asarray(starts, dtype=np.int64),
        n_x=n_x,
    )


def full_solution(problem: ReducedProblem, chosen_columns: np.ndarray) -> np.ndarray:
    """Variable vector (x then y) for a set of open columns."""
    x = np.zeros(problem.n_columns)
    x[chosen_columns] = 1.0
    y = np.minimum(problem.cover @ x, 1.0)
    return np.concatenate([x, y])
