"""The methods compared: lifecircle's pipeline and its peers.

Each method takes a built instance and a time limit and returns a :class:`RunResult`.
Wall time is measured around everything the method needs after the instance is loaded:
coverage pairs, model build, solve and reading the answer back. Every objective is
re-evaluated here from the chosen sites with the same coverage (``d <= r``), never taken
from a solver's claim.

* ``lifecircle``: ``optimizer.solve`` with its defaults (HiGHS, reductions, greedy +
  descent, then the search-and-MIP portfolio of ``optimizer.portfolio``, mip_gap 1e-4).
* ``highs-plain``: the textbook MCLP (binary x per site and type, binary y per demand
  unit and type, one coverage row per unit and type, budget row, one-use-per-site rows when
  there are several types) built in bulk from the same sparse pairs, passed to HiGHS with
  no reductions, no heuristic and no warm start; same time limit and mip_rel_gap 1e-4.
* ``spopt-cbc``: ``spopt.locate.MCLP.from_cost_matrix`` on a dense demand x site cost
  matrix (Euclidean ``cdist``, or for supplied distances a matrix filled from the pairs
  with ``2r + 1`` elsewhere), solved with ``pulp.PULP_CBC_CMD(timeLimit=T, gapRel=1e-4)``.
  Only for single-type unit-cost instances; the best bound is read from CBC's log.
* ``lifecircle-bare`` (ablation, not run by default): ``optimizer.solve`` with
  ``reductions=False, heuristic=False``.
* ``lifecircle-lns`` (variant, not run by default): ``optimizer.solve`` with ``lns=True``
  (large-neighbourhood search before the MIP).
"""

from __future__ import annotations

import re
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

from benchmarks.instances import BenchCase, Built
from optimizer.coverage import compute_reach, site_coverage
from optimizer.instance import SitingInstance

MIP_GAP = 1e-4
DENSE_LIMIT = 25_000_000
DEFAULT_METHODS = ("lifecircle", "highs-plain", "spopt-cbc")
ALL_METHODS = (*DEFAULT_METHODS, "lifecircle-bare", "lifecircle-lns")


@dataclass
class RunResult:
    """One (instance, method) run."""

    status: str
    objective: float | None = None
    bound: float | None = None
    wall_s: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.bound is None:
            return None
        return max(0.0, (self.bound - self.objective) / max(abs(self.objective), 1e-9))


def skip_reason(method: str, case: BenchCase, dense_limit: int = DENSE_LIMIT) -> str | None:
    """Why ``method`` does not run on ``case`` (None: it runs)."""
    if method == "spopt-cbc":
        if case.p is None:
            return "spopt MCLP: single type, unit costs only"
        if case.dense_entries > dense_limit:
            return f"dense matrix {case.dense_entries / 1e6:.0f}M > {dense_limit / 1e6:.0f}M"
    return None


def evaluate(instance: SitingInstance, covers: list[sparse.csr_matrix], x: np.ndarray) -> float:
    """Weighted coverage of the open (site, type) matrix ``x`` (m, T) of booleans."""
    total = 0.0
    for t, matrix in enumerate(covers):
        hit = matrix @ x[:, t].astype(np.int64) > 0
        total += float(instance.weights[t] * instance.population[hit, t].sum())
    return total


# --------------------------------------------------------------------------- lifecircle


def run_lifecircle(built: Built, time_limit_s: float, *, bare: bool = False,
                   lns: bool = False) -> RunResult:
    from optimizer.solve import solve

    instance = built.instance
    started = time.perf_counter()
    if bare:
        plan = solve(instance, time_limit_s=time_limit_s, reductions=False, heuristic=False)
    else:
        plan = solve(instance, time_limit_s=time_limit_s, lns=lns)
    wall = time.perf_counter() - started
    report = plan.report
    notes = [f"open={len(plan.site_index)}", f"source={report.source}"]
    if plan.objective is not None:
        reached = [e.elapsed_s for e in report.progress
                   if e.incumbent is not None and e.incumbent >= plan.objective - 1e-6]
        if reached:
            notes.append(f"best@{min(reached):.1f}s")
    if report.heuristic_objective is not None:
        notes.append(f"heur={report.heuristic_objective:.6g} in {report.heuristic_s:.1f}s")
    search = report.search
    if "lns_s" in search:
        notes.append(f"lns {search['objective']:.6g} in {search['lns_s']:.1f}s "
                     f"({search['neighbourhoods']} neighbourhoods)")
    if "chains" in search:
        notes.append(f"search {search['search_s']:.1f}s: {search['chains']} chains, "
                     f"{search['merges']} merges ({search['merge_gains']} gained), "
                     f"{search['mip_plans_taken']} MIP plans taken")
    notes.append(f"solver {report.solver_s:.1f}s")
    if report.model_size:
        notes.append(
            f"model {report.model_size.get('columns', 0)}c x {report.model_size.get('rows', 0)}r"
        )
    notes.extend(report.warnings)
    objective = plan.objective
    if objective is not None:
        x = np.zeros((instance.n_sites, instance.n_types), dtype=bool)
        x[plan.site_index, plan.type_index] = True
        reach = compute_reach(instance)
        covers = [site_coverage(reach, instance, t) for t in range(instance.n_types)]
        check = evaluate(instance, covers, x)
        if abs(check - objective) > 1e-6 * max(1.0, abs(objective)):
            notes.append(f"REPORTED {objective:.10g} != RE-EVALUATED {check:.10g}")
            objective = check
        cost = float(np.nansum(instance.site_cost[plan.site_index, plan.type_index]))
        if cost > instance.budget * (1 + 1e-9):
            notes.append(f"OVER BUDGET {cost:.6g} > {instance.budget:.6g}")
    return RunResult(str(plan.status), objective, plan.bound, wall, notes)


# --------------------------------------------------------------------------- plain HiGHS


def run_highs_plain(built: Built, time_limit_s: float) -> RunResult:
    """Textbook MCLP in HiGHS, built in bulk, no reductions, no warm start."""
    import highspy

    instance = built.instance
    if len(instance.existing_ids) or len(instance.forced_sites) or instance.excluded.any():
        raise ValueError("highs-plain supports no existing, forced or excluded sites")
    if any(t.max_sites is not None or t.max_budget_share is not None for t in instance.types):
        raise ValueError("highs-plain supports no type caps")
    started = time.perf_counter()
    reach = compute_reach(instance)
    n, m, n_types = instance.n_demand, instance.n_sites, instance.n_types
    covers = [site_coverage(reach, instance, t) for t in range(n_types)]
    # Columns: x (site, type) where the cost is given, then y (unit, type) for every unit.
    col_site, col_type = np.nonzero(np.isfinite(instance.site_cost))
    order = np.lexsort((col_site, col_type))
    col_site, col_type = col_site[order], col_type[order]
    n_x, n_y = len(col_site), n * n_types
    blocks, lower, upper = [], [], []
    for t in range(n_types):
        cols = np.nonzero(col_type == t)[0]
        a = covers[t][:, col_site[cols]].tocoo()
        rows = a.row + t * n
        coverage = sparse.csr_matrix(
            (
                np.concatenate([-np.ones(a.nnz), np.ones(n)]),
                (
                    np.concatenate([rows - t * n, np.arange(n)]),
                    np.concatenate([cols[a.col], n_x + t * n + np.arange(n)]),
                ),
            ),
            shape=(n, n_x + n_y),
        )
        blocks.append(coverage)
        lower.append(np.full(n, -np.inf))
        upper.append(np.zeros(n))
    if n_types > 1:
        blocks.append(
            sparse.csr_matrix(
                (np.ones(n_x), (col_site, np.arange(n_x))), shape=(m, n_x + n_y)
            )
        )
        lower.append(np.full(m, -np.inf))
        upper.append(np.ones(m))
    cost = instance.site_cost[col_site, col_type]
    blocks.append(
        sparse.csr_matrix((cost, (np.zeros(n_x, dtype=np.int64), np.arange(n_x))),
                          shape=(1, n_x + n_y))
    )
    lower.append(np.array([-np.inf]))
    upper.append(np.array([instance.budget]))
    matrix = sparse.vstack(blocks, format="csr")
    objective = np.concatenate(
        [np.zeros(n_x), (instance.population * instance.weights).T.ravel()]
    )

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", MIP_GAP)
    lp = highspy.HighsLp()
    lp.num_col_ = n_x + n_y
    lp.num_row_ = matrix.shape[0]
    lp.col_cost_ = objective
    lp.col_lower_ = np.zeros(n_x + n_y)
    lp.col_upper_ = np.ones(n_x + n_y)
    lp.row_lower_ = np.concatenate(lower)
    lp.row_upper_ = np.concatenate(upper)
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(float)
    lp.a_matrix_.num_col_ = n_x + n_y
    lp.a_matrix_.num_row_ = matrix.shape[0]
    lp.integrality_ = [highspy.HighsVarType.kInteger] * (n_x + n_y)
    h.passModel(lp)
    build_s = time.perf_counter() - started
    h.run()
    info = h.getInfo()
    status = h.getModelStatus()
    has_solution = info.primal_solution_status == 2
    value = None
    if has_solution:
        chosen = np.asarray(h.getSolution().col_value[:n_x]) > 0.5
        x = np.zeros((m, n_types), dtype=bool)
        x[col_site[chosen], col_type[chosen]] = True
        value = evaluate(instance, covers, x)
    wall = time.perf_counter() - started
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else None
    if status == highspy.HighsModelStatus.kOptimal:
        result_status = "optimal"
    elif has_solution:
        result_status = "feasible"
    else:
        result_status = "no_solution"
    notes = [
        f"open={int(chosen.sum())}" if has_solution else "open=-",
        h.modelStatusToString(status),
        f"build {build_s:.1f}s",
        f"model {n_x + n_y}c x {matrix.shape[0]}r",
    ]
    return RunResult(result_status, value, bound, wall, notes)


# --------------------------------------------------------------------------- spopt + CBC

_NUMBER = r"(-?[0-9][0-9.eE+-]*)"


def parse_cbc_bound(log: str, objective: float | None) -> float | None:
    """Best bound from a CBC log (absolute value: the model is a maximisation)."""
    if "Result - Optimal solution found" in log and objective is not None:
        return objective
    found = re.findall(r"best possible " + _NUMBER, log)
    if found:
        return abs(float(found[-1]))
    found = re.findall(r"(?:Lower|Upper) bound:\s*" + _NUMBER, log)
    if found:
        return abs(float(found[-1]))
    return None


def dense_cost_matrix(instance: SitingInstance) -> np.ndarray:
    """Demand x site distances; pairs beyond the radius hold ``2r + 1``."""
    if instance.distances is None:
        from scipy.spatial.distance import cdist

        return cdist(instance.demand_xy, instance.site_xy)
    radius = float(instance.radii.max())
    matrix = np.full((instance.n_demand, instance.n_sites), 2 * radius + 1)
    pairs = instance.distances
    matrix[pairs.demand_index, pairs.target_index] = pairs.distance_m
    return matrix


def run_spopt_cbc(built: Built, time_limit_s: float, p: int) -> RunResult:
    """spopt's MCLP from a dense cost matrix, CBC through PuLP, end to end."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pulp
        from spopt.locate import MCLP

    instance = built.instance
    if instance.n_types != 1 or not np.all(instance.site_cost == 1.0):
        raise ValueError("spopt MCLP needs a single type with unit costs")
    radius = float(instance.radii[0])
    weights = instance.population[:, 0] * instance.weights[0]
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-cbc-") as tmp:
        log_path = Path(tmp) / "cbc.log"
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cost = dense_cost_matrix(instance)
            model = MCLP.from_cost_matrix(cost, weights, service_radius=radius, p_facilities=p)
            build_s = time.perf_counter() - started
            solver = pulp.PULP_CBC_CMD(
                msg=False, timeLimit=time_limit_s, gapRel=MIP_GAP, logPath=str(log_path)
            )
            error = None
            try:
                model.solve(solver)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
        chosen = np.array([(v.value() or 0.0) > 0.5 for v in model.fac_vars], dtype=bool)
        value = None
        if error is None and chosen.any():
            value = float(weights[(cost[:, chosen] <= radius).any(axis=1)].sum())
        wall = time.perf_counter() - started
        log = log_path.read_text(errors="replace") if log_path.exists() else ""
    notes.append(f"open={int(chosen.sum())}" if value is not None else "open=-")
    notes.append(f"build {build_s:.1f}s")
    if error is not None:
        notes.append(error.split(". See")[0])
        status = "no_solution"
    elif model.problem.sol_status == pulp.LpSolutionOptimal:
        status = "optimal"
    elif value is not None:
        status = "feasible"
    else:
        status = "no_solution"
    if value is not None and chosen.sum() > p:
        notes.append(f"OVER p: {int(chosen.sum())} sites")
    return RunResult(status, value, parse_cbc_bound(log, value), wall, notes)


def _dispatch(method: str, case: BenchCase, built: Built, time_limit_s: float) -> RunResult:
    if method == "lifecircle":
        return run_lifecircle(built, time_limit_s)
    if method == "lifecircle-bare":
        return run_lifecircle(built, time_limit_s, bare=True)
    if method == "lifecircle-lns":
        return run_lifecircle(built, time_limit_s, lns=True)
    if method == "highs-plain":
        return run_highs_plain(built, time_limit_s)
    if method == "spopt-cbc":
        assert case.p is not None
        return run_spopt_cbc(built, time_limit_s, case.p)
    raise KeyError(f"unknown method {method!r}")


def run_method(method: str, case: BenchCase, built: Built, time_limit_s: float) -> RunResult:
    """Run one method on one built case; flags a distance convention that does not
    reproduce the published solution's value."""
    result = _dispatch(method, case, built, time_limit_s)
    published = built.info.get("published_value")
    covers = built.info.get("published_solution_covers")
    if published is not None and covers != published:
        result.notes.append(
            f"DISTANCES DO NOT REPRODUCE THE PUBLISHED SOLUTION ({covers} != {published})"
        )
    return result
