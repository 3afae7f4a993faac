r"""Reductions that shrink the coverage model without changing its optimum.

Applied per type :math:`t`, before any model is built:

1. *Existing coverage.* Units already covered by an existing facility of type :math:`t`
   contribute a constant :math:`w_t p_{it}` and leave the model.
2. *Unreachable units.* Units no eligible column can reach leave the model.
3. *Identical coverage sets.* Units covered by exactly the same columns merge into one
   group :math:`g` with weight :math:`\sum_{i \in g} w_t p_{it}`.
4. *Empty columns.* A column (site, type) covering no remaining unit is dropped unless
   its site is forced open (opening it only spends budget).
5. *Dominated columns.* Column :math:`a` is dropped when another column :math:`b` of the
   same type covers a superset of its groups at no higher cost, :math:`b`'s site can take
   no other type, and :math:`a`'s site is not forced. Any plan using :math:`a` can then
   use :math:`b` instead at no loss, so an optimum survives (ties broken by index).

The result is a :class:`ReducedProblem`: columns (site, type, cost) and a sparse
group x column coverage matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from optimizer.coverage import Reach, existing_coverage, site_coverage
from optimizer.instance import ANY_TYPE, SitingInstance

_DOMINANCE_MAX_PRODUCT_NNZ = 30_000_000


@dataclass(frozen=True, eq=False)
class ReducedProblem:
    """The coverage model after reductions.

    Attributes
    ----------
    column_site, column_type, column_cost
        One entry per candidate column (site index, type index, cost).
    cover
        CSR ``(n_groups, n_columns)``; 1 where the column covers the group.
    group_weight, group_type
        Weighted population and type index of each group.
    constant
        Weighted population already covered by existing facilities.
    forced_columns
        Columns that must open (site forced to that type).
    forced_any_sites
        Sites that must open as some type.
    stats
        Sizes before and after each reduction, for the solver report.
    """

    instance: SitingInstance
    column_site: np.ndarray
    column_type: np.ndarray
    column_cost: np.ndarray
    cover: sparse.csr_matrix
    group_weight: np.ndarray
    group_type: np.ndarray
    constant: float
    forced_columns: np.ndarray
    forced_any_sites: np.ndarray
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def n_columns(self) -> int:
        return len(self.column_site)

    @property
    def n_groups(self) -> int:
        return len(self.group_weight)

    @property
    def upper_bound(self) -> float:
        """Objective if every reachable group were covered (a valid bound)."""
        return self.constant + float(self.group_weight.sum())


def _candidate_columns(instance: SitingInstance) -> tuple[np.ndarray, np.ndarray]:
    eligible = np.isfinite(instance.site_cost) & ~instance.excluded[:, None]
    for site, t in zip(instance.forced_sites, instance.forced_type, strict=True):
        if t != ANY_TYPE:
            keep = eligible[site, t]
            eligible[site, :] = False
            eligible[site, t] = keep
    sites, types = np.nonzero(eligible)
    order = np.lexsort((sites, types))
    return sites[order], types[order]


def _merge_identical_rows(
    matrix: sparse.csr_matrix, weight: np.ndarray
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Merge rows with the same column set; rows must be non-empty and sorted."""
    if matrix.shape[0] == 0:
        return matrix, weight
    rng = np.random.default_rng(20250101)
    keys = []
    for _ in range(2):
        salt = rng.integers(1, np.iinfo(np.int64).max, size=matrix.shape[1], dtype=np.uint64)
        keys.append(np.add.reduceat(salt[matrix.indices], matrix.indptr[:-1]))
    keys.append(np.diff(matrix.indptr).astype(np.uint64))
    stacked = np.column_stack(keys)
    _, first, inverse = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
    merged_weight = np.bincount(inverse.ravel(), weights=weight, minlength=len(first))
    return matrix[first], merged_weight


def _dominated_columns(
    matrix: sparse.csr_matrix,
    cost: np.ndarray,
    may_dominate: np.ndarray,
    may_drop: np.ndarray,
) -> np.ndarray:
    """Boolean mask of columns dominated by another (see module docstring, rule 5)."""
    n = matrix.shape[1]
    dropped = np.zeros(n, dtype=bool)
    row_nnz = np.diff(matrix.indptr).astype(np.int64)
    if n < 2 or not may_dominate.any() or int((row_nnz**2).sum()) > _DOMINANCE_MAX_PRODUCT_NNZ:
        return dropped
    as_int = matrix.astype(np.int32)
    overlap = (as_int.T @ as_int).tocoo()
    size = np.asarray(as_int.sum(axis=0)).ravel()
    a, b, shared = overlap.row, overlap.col, overlap.data
    candidate = (a != b) & (shared == size[a]) & may_drop[a] & may_dominate[b]
    a, b = a[candidate], b[candidate]
    strictly = (size[b] > size[a]) | (cost[b] < cost[a]) | (b < a)
    dominated = (cost[b] <= cost[a]) & strictly
    dropped[a[dominated]] = True
    return dropped


def reduce_problem(
    instance: SitingInstance, reach: Reach, *, reductions: bool = True
) -> ReducedProblem:
    """Build the reduced group x column coverage problem.

    Parameters
    ----------
    instance
        The siting instance.
    reach
        Pairs within the largest radius, from :func:`~optimizer.coverage.compute_reach`.
    reductions
        Apply merging and column dominance (rules 3-5). Rules 1-2 always apply, as they
        only remove constants and zero terms.

    Returns
    -------
    ReducedProblem
    """
    col_site, col_type = _candidate_columns(instance)
    col_cost = instance.site_cost[col_site, col_type]
    covered_existing = existing_coverage(reach, instance)
    weights = instance.weights
    constant = float((covered_existing * instance.population * weights).sum())

    forced_site_mask = np.zeros(instance.n_sites, dtype=bool)
    forced_site_mask[instance.forced_sites] = True
    types_per_site = np.bincount(col_site, minlength=instance.n_sites)
    stats: dict[str, int] = {
        "units": instance.n_demand,
        "columns_before": len(col_site),
    }

    keep_columns = np.ones(len(col_site), dtype=bool)
    blocks: list[tuple[np.ndarray, sparse.csr_matrix, np.ndarray, int]] = []
    for t in range(instance.n_types):
        cols = np.nonzero(col_type == t)[0]
        full = site_coverage(reach, instance, t)[:, col_site[cols]]
        unit_weight = instance.population[:, t] * weights[t]
        useful = (unit_weight > 0) & ~covered_existing[:, t]
        matrix = full[useful].tocsr()
        matrix.sort_indices()
        matrix.eliminate_zeros()
        reachable = np.diff(matrix.indptr) > 0
        matrix = matrix[reachable]
        group_weight = unit_weight[useful][reachable]
        stats[f"units_in_model[{t}]"] = int(matrix.shape[0])
        if reductions:
            matrix, group_weight = _merge_identical_rows(matrix, group_weight)
            on_forced = forced_site_mask[col_site[cols]]
            empty = (np.asarray(matrix.sum(axis=0)).ravel() == 0) & ~on_forced
            may_dominate = (types_per_site[col_site[cols]] == 1) & ~empty
            dominated = _dominated_columns(matrix, col_cost[cols], may_dominate, ~on_forced)
            keep_columns[cols[empty | dominated]] = False
            stats[f"empty_columns[{t}]"] = int(empty.sum())
            stats[f"dominated_columns[{t}]"] = int((dominated & ~empty).sum())
        stats[f"groups[{t}]"] = int(matrix.shape[0])
        blocks.append((cols, matrix, group_weight, t))

    # Renumber kept columns and stack the per-type blocks (block diagonal by type).
    new_index = np.full(len(col_site), -1, dtype=np.int64)
    new_index[keep_columns] = np.arange(int(keep_columns.sum()))
    rows, cols_out, group_weights, group_types = [], [], [], []
    offset = 0
    for cols, matrix, group_weight, t in blocks:
        coo = matrix.tocoo()
        mapped = new_index[cols[coo.col]]
        alive = mapped >= 0
        rows.append(coo.row[alive] + offset)
        cols_out.append(mapped[alive])
        group_weights.append(group_weight)
        group_types.append(np.full(len(group_weight), t, dtype=np.int64))
        offset += matrix.shape[0]
    n_columns = int(keep_columns.sum())
    cover = sparse.csr_matrix(
        (np.ones(sum(len(r) for r in rows)), (np.concatenate(rows), np.concatenate(cols_out))),
        shape=(offset, n_columns),
    )
    col_site, col_type, col_cost = (
        col_site[keep_columns],
        col_type[keep_columns],
        col_cost[keep_columns],
    )

    forced_columns = []
    forced_any = []
    for site, t in zip(instance.forced_sites, instance.forced_type, strict=True):
        if t == ANY_TYPE:
            forced_any.append(site)
        else:
            match = np.nonzero((col_site == site) & (col_type == t))[0]
            forced_columns.extend(match.tolist())
    stats["columns_after"] = n_columns
    stats["groups_after"] = offset
    return ReducedProblem(
        instance=instance,
        column_site=col_site,
        column_type=col_type,
        column_cost=col_cost,
        cover=cover,
        group_weight=np.concatenate(group_weights) if group_weights else np.empty(0),
        group_type=np.concatenate(group_types) if group_types else np.empty(0, dtype=np.int64),
        constant=constant,
        forced_columns=np.asarray(forced_columns, dtype=np.int64),
        forced_any_sites=np.asarray(forced_any, dtype=np.int64),
        stats=stats,
    )
