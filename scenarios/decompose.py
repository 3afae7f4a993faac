r"""Decomposition: parts of a city that share nothing but the budget, solved apart.

Units and candidate sites form a graph (a unit is joined to every site within the largest
radius). Its components :math:`P_1, \dots, P_m` share no unit and no site, so for the
plain coverage model (no floors, targets, caps, areas, forced sites, phasing) the optimum
splits exactly:

.. math::

    z(B) = z_0 + \max \Big\{ \sum_p f_p(b_p) : \sum_p b_p \le B \Big\},

with :math:`f_p(b)` the best gain of part :math:`p` within budget :math:`b` and
:math:`z_0` the coverage by existing facilities. Each :math:`f_p` is a non-decreasing step
function. It is enumerated from the top: solve part :math:`p` at :math:`b = B`; its plan
costs :math:`c \le b` and scores :math:`v`, so :math:`f_p = v` on :math:`[c, b]`
(:math:`f_p(c) \ge v` by the plan, :math:`\le v` by monotonicity); then solve at the
largest budget below :math:`c` and repeat until the plan is empty. With whole-number costs
(CNY) "the largest budget below :math:`c`" is :math:`c - 1/2` and the enumeration is
exact; with fractional costs it is :math:`c - \max(10^{-6} c, 10^{-3})` and a breakpoint
within that sliver could be missed (``exact_costs`` False in the result).

The parts' (cost, value) lists are merged by a multiple-choice knapsack: pairwise sums,
keeping only undominated pairs within :math:`B`. Each part solve runs with ``mip_gap=0``;
the combined plan is proven optimal when every part solve was, and its objective is
recomputed on the whole instance. A part solve that stopped at a limit makes the result
``feasible`` with no bound claimed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from optimizer.coverage import compute_reach
from optimizer.errors import InputError, Problem
from optimizer.instance import SitingInstance
from optimizer.results import evaluate_plan, plan_objective
from optimizer.solve import solve
from optimizer.solvers.base import SolveStatus

__all__ = ["DecomposedPlan", "coverage_parts", "solve_decomposed"]


@dataclass(frozen=True, eq=False)
class DecomposedPlan:
    """The combined plan of a decomposed solve.

    ``site_index``/``type_index`` are the new uses; ``objective`` is recomputed on the
    whole instance; ``status`` is ``optimal`` when every part solve was proven;
    ``parts`` is the number of parts, ``part_solves`` the solves made, ``breakpoints``
    the (cost, gain) points per part.
    """

    status: SolveStatus
    objective: float
    total_cost: float
    site_index: np.ndarray
    type_index: np.ndarray
    parts: int
    part_solves: int
    runtime_s: float
    exact_costs: bool
    breakpoints: tuple[tuple[tuple[float, float], ...], ...] = field(repr=False, default=())


def _check(instance: SitingInstance) -> None:
    policy = instance.policy
    why = None
    if not policy.is_plain:
        why = "only the plain coverage model decomposes (no floors, targets, areas, caps...)"
    elif instance.distances is not None:
        why = "a distance table is given (use coordinates)"
    elif len(instance.forced_sites):
        why = "forced sites are given"
    elif any(t.max_sites is not None or t.max_budget_share is not None
             for t in instance.types):
        why = "a type has max_sites or max_budget_share, which couple the parts"
    if why:
        raise InputError([Problem(f"cannot decompose: {why}")])


def coverage_parts(instance: SitingInstance) -> list[tuple[np.ndarray, np.ndarray]]:
    """(units, sites) of each component of the unit-site graph that holds a site."""
    reach = compute_reach(instance)
    units, sites, _ = reach.site_pairs()
    n_units, n_sites = instance.n_demand, instance.n_sites
    graph = sparse.csr_matrix((np.ones(len(units)), (units, n_units + sites)),
                              shape=(n_units + n_sites,) * 2)
    _, label = connected_components(graph, directed=False)
    site_label = label[n_units:]
    parts = []
    for value in np.unique(site_label):
        part_sites = np.nonzero(site_label == value)[0]
        part_units = np.nonzero(label[:n_units] == value)[0]
        parts.append((part_units, part_sites))
    return parts


def _sub_instance(instance: SitingInstance, units: np.ndarray,
                  sites: np.ndarray) -> SitingInstance:
    def rows(frame, index):
        return None if frame is None else frame.iloc[index].reset_index(drop=True)

    return replace(
        instance, demand_ids=instance.demand_ids[units], demand_xy=instance.demand_xy[units],
        population=instance.population[units], site_ids=instance.site_ids[sites],
        site_xy=instance.site_xy[sites], site_cost=instance.site_cost[sites],
        excluded=None if instance.excluded is None else instance.excluded[sites],
        demand_attributes=rows(instance.demand_attributes, units),
        site_attributes=rows(instance.site_attributes, sites))


def _part_curve(part: SitingInstance, budget: float, whole: bool, solver: str,
                time_limit_s: float) -> tuple[list[tuple[float, float, np.ndarray, np.ndarray]],
                                               bool, int]:
    """(cost, gain, sites, types) per breakpoint of the part, from the top; proven?"""
    empty = np.empty(0, dtype=np.int64)
    base = plan_objective(part, evaluate_plan(part, compute_reach(part), empty, empty))[0]
    points: list[tuple[float, float, np.ndarray, np.ndarray]] = []
    proven, solves, b = True, 0, budget
    while b >= 0:
        plan = solve(replace(part, budget=b), solver=solver, time_limit_s=time_limit_s,
                     mip_gap=0.0, threads=1)
        solves += 1
        if not plan.has_solution or len(plan.site_index) == 0:
            proven &= plan.status == SolveStatus.OPTIMAL
            break
        proven &= plan.status == SolveStatus.OPTIMAL
        cost = float(plan.total_cost)
        points.append((cost, float(plan.objective) - base, plan.site_index, plan.type_index))
        step = 0.5 if whole else max(1e-6 * cost, 1e-3)
        b = min(cost, b) - step  # strictly below, even if the solver overspent a hair
    points.append((0.0, 0.0, empty, empty))
    return points, proven, solves


def _merge(lists: Sequence[list[tuple[float, float, tuple[int, int]]]],
           budget: float) -> tuple[float, float, list[tuple[int, int]]]:
    """Multiple-choice knapsack over parts' (cost, gain) options: the best total gain."""
    frontier: list[tuple[float, float, list[tuple[int, int]]]] = [(0.0, 0.0, [])]
    for options in lists:
        combined = [(c + oc, v + ov, [*chosen, key]) for c, v, chosen in frontier
                    for oc, ov, key in options if c + oc <= budget * (1 + 1e-12)]
        combined.sort(key=lambda item: (item[0], -item[1]))
        frontier, best = [], -np.inf
        for item in combined:  # keep the pairs no cheaper pair beats
            if item[1] > best + 1e-9:
                frontier.append(item)
                best = item[1]
    return max(frontier, key=lambda item: item[1])


def solve_decomposed(instance: SitingInstance, *, solver: str = "highs",
                     time_limit_s: float = 60.0, client=None) -> DecomposedPlan:
    """Solve a plain coverage instance part by part and merge exactly (module docstring).

    ``client``: a ``distributed.Client`` to solve the parts' curves on (else in process).

    Raises
    ------
    InputError
        The instance's policy couples the parts (see :func:`_check`).
    """
    _check(instance)
    started = time.perf_counter()
    parts = coverage_parts(instance)
    finite = instance.site_cost[np.isfinite(instance.site_cost)]
    whole = bool(np.all(finite == np.round(finite)))
    subs = [_sub_instance(instance, u, s) for u, s in parts]
    args = (instance.budget, whole, solver, time_limit_s)
    if client is None:
        curves = [_part_curve(sub, *args) for sub in subs]
    else:
        curves = client.gather([client.submit(_part_curve, sub, *args, pure=False)
                                for sub in subs])
    options = [[(c, v, (p, k)) for k, (c, v, _, _) in enumerate(points)]
               for p, (points, _, _) in enumerate(curves)]
    total_cost, _, chosen = _merge(options, instance.budget)
    site_parts, type_parts = [], []
    for p, k in chosen:
        _, _, sites, types = curves[p][0][k]
        site_parts.append(parts[p][1][sites])
        type_parts.append(types)
    site_index = np.concatenate(site_parts) if site_parts else np.empty(0, np.int64)
    type_index = np.concatenate(type_parts) if type_parts else np.empty(0, np.int64)
    coverage = evaluate_plan(instance, compute_reach(instance), site_index, type_index)
    objective = plan_objective(instance, coverage)[0]
    proven = all(ok for _, ok, _ in curves)
    return DecomposedPlan(
        status=SolveStatus.OPTIMAL if proven else SolveStatus.FEASIBLE,
        objective=float(objective), total_cost=float(total_cost), site_index=site_index,
        type_index=type_index, parts=len(parts),
        part_solves=sum(n for _, _, n in curves), runtime_s=time.perf_counter() - started,
        exact_costs=whole,
        breakpoints=tuple(tuple((c, v) for c, v, _, _ in points) for points, _, _ in curves))
