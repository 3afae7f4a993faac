"""Decomposition by parts of the coverage graph equals the monolithic proven optimum."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from optimizer import solve
from optimizer.coverage import compute_reach
from optimizer.errors import InputError
from optimizer.instance import FacilityType, SitingInstance
from optimizer.results import evaluate_plan, plan_objective
from scenarios.decompose import coverage_parts, solve_decomposed


def _clusters(seed: int, n: int = 4, whole: bool = True) -> SitingInstance:
    """Clusters 5 km apart, 3-6 sites and 10-25 units each, two types, uneven costs."""
    rng = np.random.default_rng(seed)
    demand, sites = [], []
    for i in range(n):
        centre = np.array([5000.0 * i, 0.0])
        demand.append(centre + rng.uniform(-400, 400, (int(rng.integers(10, 26)), 2)))
        sites.append(centre + rng.uniform(-350, 350, (int(rng.integers(3, 7)), 2)))
    demand_xy, site_xy = np.vstack(demand), np.vstack(sites)
    costs = [1e6, 1.5e6, 2.5e6, 3e6] if whole else [1.1e6 + 0.25, 1.55e6 + 0.5, 2.45e6 + 0.75]
    return SitingInstance(
        types=(FacilityType("park", radius_m=300.0),
               FacilityType("canteen", radius_m=250.0, weight=2.0)),
        demand_ids=np.arange(len(demand_xy)).astype(str).astype(object),
        demand_xy=demand_xy,
        population=rng.integers(1, 60, (len(demand_xy), 2)).astype(float),
        site_ids=np.arange(len(site_xy)).astype(str).astype(object),
        site_xy=site_xy,
        site_cost=rng.choice(costs, (len(site_xy), 2)),
        budget=float(rng.integers(4, 14)) * 1e6,
    )


@pytest.mark.parametrize(("seed", "whole"), [(1, True), (3, False)])
def test_decomposed_equals_monolithic_optimum(seed: int, whole: bool) -> None:
    instance = _clusters(seed, whole=whole)
    assert len(coverage_parts(instance)) >= 4
    merged = solve_decomposed(instance, time_limit_s=30)
    alone = solve(instance, time_limit_s=60, mip_gap=0.0)
    assert alone.status == "optimal" and merged.status == "optimal"
    assert merged.exact_costs is whole
    assert merged.objective == pytest.approx(alone.objective, rel=1e-9)
    assert merged.total_cost <= instance.budget + 1e-6
    # the combined plan is real: recomputed on the whole instance, within budget
    spent = instance.site_cost[merged.site_index, merged.type_index].sum()
    assert spent == pytest.approx(merged.total_cost)
    coverage = evaluate_plan(instance, compute_reach(instance), merged.site_index,
                             merged.type_index)
    assert plan_objective(instance, coverage)[0] == pytest.approx(merged.objective)


def test_each_budget_of_a_ladder() -> None:
    instance = _clusters(4)
    for budget in (0.0, 3e6, 8e6):
        small = replace(instance, budget=budget)
        merged = solve_decomposed(small, time_limit_s=30)
        alone = solve(small, time_limit_s=60, mip_gap=0.0)
        assert merged.objective == pytest.approx(alone.objective, rel=1e-9)


def test_refuses_coupled_policies() -> None:
    instance = _clusters(1)
    capped = replace(instance, types=(replace(instance.types[0], max_sites=2),
                                      instance.types[1]))
    with pytest.raises(InputError, match="cannot decompose"):
        solve_decomposed(capped)
