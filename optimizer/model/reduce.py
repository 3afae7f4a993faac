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

from optimizer.data.coverage import Reach, existing_coverage, site_coverage
from optimizer.data.instance import ANY_TYPE, SitingInstance

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
        Sites that must open as some type (after
        :func:`optimizer.phasing.expand_years`: also the sites of the forced columns, which
        open in some year).
    stats
        Sizes before and after each reduction, for the solver report.
    group_population, group_band, group_code
        Unweighted target population, decay band (0 = within the service radius) and
        equity-group code (-1: none) of each group.
    unit_group
        ``(n_demand, n_types)``: the band-0 group holding each unit, ``-1`` if the unit is
        not in the model (no target population or nothing in reach), ``-2`` if an existing
        facility already covers it.
    column_area, area_budget, area_names
        Separate budgets over sets of columns: areas (districts, streets) or, after
        :func:`optimizer.phasing.expand_years`, years. ``column_area`` is -1 for columns
        under the total budget only.
    column_year, year_names
        The year each column opens in (multi-year phasing only).
    group_year
        The year whose coverage each group counts (accumulated phasing only: the groups
        are copied per year); floors, targets and shares hold in the final year's groups.
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
    group_population: np.ndarray | None = None
    group_band: np.ndarray | None = None
    group_code: np.ndarray | None = None
    unit_group: np.ndarray | None = None
    column_area: np.ndarray | None = None
    area_budget: np.ndarray | None = None
    area_names: tuple[str, ...] = ()
    column_year: np.ndarray | None = None
    year_names: tuple[str, ...] = ()
    group_year: np.ndarray | None = None

    def final_year_groups(self) -> np.ndarray:
        """Boolean mask of the groups counting the final year's coverage (all groups
        without accumulated phasing)."""
        if self.group_year is None:
            return np.ones(self.n_groups, dtype=bool)
        return self.group_year == (len(self.year_names) - 1)

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


def _merge_key(matrix: sparse.csr_matrix, extra: np.ndarray | None) -> np.ndarray:
    """Row keys: two salted hashes of the column set, its size, and an extra code."""
    rng = np.random.default_rng(20250101)
    keys = []
    for _ in range(2):
        salt = rng.integers(1, np.iinfo(np.int64).max, size=matrix.shape[1], dtype=np.uint64)
        keys.append(np.add.reduceat(salt[matrix.indices], matrix.indptr[:-1]))
    keys.append(np.diff(matrix.indptr).astype(np.uint64))
    if extra is not None:
        keys.append(extra.astype(np.int64).view(np.uint64))
    return np.column_stack(keys)


def _merge_identical_rows(
    matrix: sparse.csr_matrix, extra: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Representative row and group index of each row (same column set and extra code).

    Rows must be non-empty with sorted indices.
    """
    if matrix.shape[0] == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    _, first, inverse = np.unique(
        _merge_key(matrix, extra), axis=0, return_index=True, return_inverse=True
    )
    return first, inverse.ravel()


def _dominated_columns(
    matrix: sparse.csr_matrix,
    cost: np.ndarray,
    may_dominate: np.ndarray,
    may_drop: np.ndarray,
    *,
    area: np.ndarray | None = None,
    capacity: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean mask of columns dominated by another (see module docstring, rule 5).

    With area budgets the dominating column must be in the same area; with capacities it
    must be unlimited (capacities add up when both sites open, so a bigger one is not
    enough).
    """
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
    if area is not None:
        same = area[a] == area[b]
        a, b = a[same], b[same]
    if capacity is not None:
        enough = np.isinf(capacity[b])
        a, b = a[enough], b[enough]
    strictly = (size[b] > size[a]) | (cost[b] < cost[a]) | (b < a)
    dominated = (cost[b] <= cost[a]) & strictly
    dropped[a[dominated]] = True
    return dropped


def _column_capacity(instance: SitingInstance, col_site: np.ndarray,
                     col_type: np.ndarray) -> np.ndarray | None:
    capacity = instance.policy.site_capacity
    if capacity is None:
        return None
    values = capacity[col_site, col_type]
    return np.where(np.isfinite(values), values, np.inf)


@dataclass(frozen=True, eq=False)
class _Columns:
    """The candidate (site, type) columns of :func:`reduce_problem` and what rules use."""

    site: np.ndarray
    type: np.ndarray
    cost: np.ndarray
    area: np.ndarray | None
    capacity: np.ndarray | None
    codes: np.ndarray | None  # unit group codes kept apart when merging rows
    circle_types: frozenset[int]


def _type_blocks(
    instance: SitingInstance,
    reach: Reach,
    t: int,
    cols: np.ndarray,
    columns: _Columns,
    existing_by_band: list[np.ndarray],
    *,
    constant: float,
    offset: int,
    unit_group: np.ndarray,
    stats: dict[str, int],
    reductions: bool,
) -> tuple[list[dict], float, int]:
    """Type ``t``'s group blocks, one per decay band (rules 1-3).

    Units already covered in a band go to the constant; the others' rows over the type's
    columns ``cols`` are merged when identical (``reductions``). Fills ``unit_group`` and
    ``stats`` for the type; returns the blocks, the constant and the group offset, updated.
    """
    ftype = instance.types[t]
    radii, credits = ftype.band_radii(), ftype.band_credits()
    band_weight = credits - np.append(credits[1:], 0.0)
    population = instance.population[:, t]
    weight_t = instance.weights[t]
    codes = columns.codes
    type_blocks = []
    for band, radius in enumerate(radii):
        covered = existing_by_band[band][:, t]
        unit_weight = population * weight_t * band_weight[band]
        constant += float(unit_weight[covered].sum())
        in_model = (population > 0) & ~covered
        if band == 0 and t in columns.circle_types:
            in_model = ~covered
        full = site_coverage(reach, instance, t, radius)[:, columns.site[cols]]
        matrix = full[in_model].tocsr()
        matrix.sort_indices()
        matrix.eliminate_zeros()
        units = np.nonzero(in_model)[0]
        reachable = np.diff(matrix.indptr) > 0
        matrix, units = matrix[reachable], units[reachable]
        if band == 0:
            unit_group[covered, t] = -2
            stats[f"units_in_model[{t}]"] = len(units)
        extra = codes[units] if codes is not None else None
        if reductions:
            first, group_of_unit = _merge_identical_rows(matrix, extra)
        else:
            first = np.arange(matrix.shape[0])
            group_of_unit = first.copy()
        n_groups = len(first)
        group_population = np.bincount(group_of_unit, weights=population[units],
                                       minlength=n_groups)
        if band == 0:
            unit_group[units, t] = offset + group_of_unit
        type_blocks.append({
            "matrix": matrix[first], "population": group_population,
            "weight": group_population * weight_t * band_weight[band],
            "band": band, "type": t,
            "code": extra[first] if extra is not None else np.full(n_groups, -1),
        })
        offset += n_groups
    return type_blocks, constant, offset


def _stack_blocks(
    blocks: list[tuple[np.ndarray, list[dict]]], keep_columns: np.ndarray
) -> tuple[sparse.csr_matrix, dict[str, np.ndarray]]:
    """Kept columns renumbered and the blocks stacked (block diagonal by type).

    Returns the group x column cover matrix and the groups' joined fields (weight,
    population, band, type, code).
    """
    new_index = np.full(len(keep_columns), -1, dtype=np.int64)
    new_index[keep_columns] = np.arange(int(keep_columns.sum()))
    rows, cols_out = [], []
    fields: dict[str, list[np.ndarray]] = {k: [] for k in ("weight", "population", "band",
                                                           "type", "code")}
    row_offset = 0
    for cols, type_blocks in blocks:
        for block in type_blocks:
            coo = block["matrix"].tocoo()
            mapped = new_index[cols[coo.col]]
            alive = mapped >= 0
            rows.append(coo.row[alive] + row_offset)
            cols_out.append(mapped[alive])
            n_groups = block["matrix"].shape[0]
            fields["weight"].append(block["weight"])
            fields["population"].append(block["population"])
            fields["band"].append(np.full(n_groups, block["band"], dtype=np.int64))
            fields["type"].append(np.full(n_groups, block["type"], dtype=np.int64))
            fields["code"].append(np.asarray(block["code"], dtype=np.int64))
            row_offset += n_groups
    n_columns = int(keep_columns.sum())
    joined = {k: (np.concatenate(v) if v else np.empty(0)) for k, v in fields.items()}
    cover = sparse.csr_matrix(
        (np.ones(sum(len(r) for r in rows)),
         (np.concatenate(rows) if rows else np.empty(0, dtype=np.int64),
          np.concatenate(cols_out) if cols_out else np.empty(0, dtype=np.int64))),
        shape=(row_offset, n_columns),
    )
    return cover, joined


def _forced(
    instance: SitingInstance, col_site: np.ndarray, col_type: np.ndarray
) -> tuple[list[int], list[int]]:
    """Forced columns (site forced as a given type) and sites forced as any type."""
    forced_columns: list[int] = []
    forced_any: list[int] = []
    for site, t in zip(instance.forced_sites, instance.forced_type, strict=True):
        if t == ANY_TYPE:
            forced_any.append(site)
        else:
            match = np.nonzero((col_site == site) & (col_type == t))[0]
            forced_columns.extend(match.tolist())
    return forced_columns, forced_any


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
        One block of groups per (type, decay band). A band-``b`` group's weight is
        :math:`w_t p (c_b - c_{b+1})`, so that summing over the bands within reach gives
        the credit of the nearest band.
    """
    policy = instance.policy
    col_site, col_type = _candidate_columns(instance)
    col_cost = instance.site_cost[col_site, col_type]
    columns = _Columns(
        site=col_site, type=col_type, cost=col_cost,
        area=policy.site_area[col_site] if policy.has_area_budgets else None,
        capacity=_column_capacity(instance, col_site, col_type),
        codes=policy.unit_group if (policy.has_floors or policy.maxmin_types) else None,
        circle_types=frozenset(policy.circle_types) if policy.has_circle else frozenset(),
    )
    forced_site_mask = np.zeros(instance.n_sites, dtype=bool)
    forced_site_mask[instance.forced_sites] = True
    types_per_site = np.bincount(col_site, minlength=instance.n_sites)
    stats: dict[str, int] = {"units": instance.n_demand, "columns_before": len(col_site)}
    unit_group = np.full((instance.n_demand, instance.n_types), -1, dtype=np.int64)

    constant = 0.0
    keep_columns = np.ones(len(col_site), dtype=bool)
    blocks = []
    offset = 0
    n_bands = max(len(ftype.band_radii()) for ftype in instance.types) if instance.n_types \
        else 0
    existing_by_band = [existing_coverage(reach, instance, band) for band in range(n_bands)]
    for t in range(instance.n_types):
        cols = np.nonzero(col_type == t)[0]
        on_forced = forced_site_mask[col_site[cols]]
        type_blocks, constant, offset = _type_blocks(
            instance, reach, t, cols, columns, existing_by_band, constant=constant,
            offset=offset, unit_group=unit_group, stats=stats, reductions=reductions)
        if reductions and len(cols):
            stacked = sparse.vstack([b["matrix"] for b in type_blocks], format="csr")
            empty = (np.asarray(stacked.sum(axis=0)).ravel() == 0) & ~on_forced
            may_dominate = (types_per_site[col_site[cols]] == 1) & ~empty
            dominated = _dominated_columns(
                stacked, col_cost[cols], may_dominate, ~on_forced,
                area=columns.area[cols] if columns.area is not None else None,
                capacity=columns.capacity[cols] if columns.capacity is not None else None,
            )
            keep_columns[cols[empty | dominated]] = False
            stats[f"empty_columns[{t}]"] = int(empty.sum())
            stats[f"dominated_columns[{t}]"] = int((dominated & ~empty).sum())
        stats[f"groups[{t}]"] = int(sum(b["matrix"].shape[0] for b in type_blocks))
        blocks.append((cols, type_blocks))

    cover, joined = _stack_blocks(blocks, keep_columns)
    n_columns, row_offset = cover.shape[1], cover.shape[0]
    col_site, col_type, col_cost = (
        col_site[keep_columns], col_type[keep_columns], col_cost[keep_columns]
    )
    forced_columns, forced_any = _forced(instance, col_site, col_type)
    stats["columns_after"] = n_columns
    stats["groups_after"] = row_offset
    return ReducedProblem(
        instance=instance,
        column_site=col_site,
        column_type=col_type,
        column_cost=col_cost,
        cover=cover,
        group_weight=joined["weight"].astype(float),
        group_type=joined["type"].astype(np.int64),
        constant=constant,
        forced_columns=np.asarray(forced_columns, dtype=np.int64),
        forced_any_sites=np.asarray(forced_any, dtype=np.int64),
        stats=stats,
        group_population=joined["population"].astype(float),
        group_band=joined["band"].astype(np.int64),
        group_code=joined["code"].astype(np.int64),
        unit_group=unit_group,
        column_area=policy.site_area[col_site] if policy.has_area_budgets else None,
        area_budget=policy.area_budget if policy.has_area_budgets else None,
        area_names=policy.area_names if policy.has_area_budgets else (),
    )
