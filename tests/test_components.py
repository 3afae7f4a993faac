"""Small components of the coverage graph: their listed plans, and the exact budget split
the MIP makes between them and the rest."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer import FacilityType, SitingInstance, solve
from optimizer.components import small_components
from optimizer.coverage import compute_reach
from optimizer.model import build_milp, full_solution
from optimizer.reduce import reduce_problem
from tests.test_bruteforce import brute_force, random_instance


def _islands(seed: int, n_islands: int = 6) -> SitingInstance:
    """Islands 5 km apart, 2-4 candidate sites and 8-15 units each, one type, uneven
    costs: every island is its own component, and the budget must be split."""
    rng = np.random.default_rng(seed)
    demand, sites = [], []
    for i in range(n_islands):
        centre = np.array([5000.0 * i, 0.0])
        demand.append(centre + rng.uniform(-300, 300, (int(rng.integers(8, 16)), 2)))
        sites.append(centre + rng.uniform(-250, 250, (int(rng.integers(2, 5)), 2)))
    demand_xy, site_xy = np.vstack(demand), np.vstack(sites)
    return SitingInstance(
        types=(FacilityType("park", radius_m=200.0),),
        demand_ids=np.arange(len(demand_xy)).astype(str).astype(object),
        demand_xy=demand_xy,
        population=rng.integers(1, 50, (len(demand_xy), 1)).astype(float),
        site_ids=np.arange(len(site_xy)).astype(str).astype(object),
        site_xy=site_xy,
        site_cost=rng.choice([1.0, 1.5, 2.5], (len(site_xy), 1)),
        budget=float(rng.integers(4, 9)),
    )


def test_every_island_is_a_component_with_undominated_plans() -> None:
    inst = _islands(1)
    problem = reduce_problem(inst, compute_reach(inst))
    components = small_components(problem)
    assert sum(len(c.columns) for c in components) == problem.n_columns
    for component in components:
        assert len(component.value) >= 1
        # No listed plan is dominated by another: more cover for no more cost.
        cost = component.members.astype(float) @ problem.column_cost[component.columns]
        for o in range(len(cost)):
            better = (component.value >= component.value[o]) & (cost <= cost[o])
            better[o] = False
            assert not np.any(better & ((component.value > component.value[o])
                                        | (cost < cost[o])))


@pytest.mark.parametrize("seed", range(8))
def test_islands_get_the_exact_budget_split(seed: int) -> None:
    """The MIP over component plans finds the optimum a brute force over all site
    subsets finds."""
    inst = _islands(seed, n_islands=4)
    plan = solve(inst, time_limit_s=20, heuristic=False)
    assert plan.status == "optimal"
    n = inst.n_sites
    best = 0.0
    d = np.hypot(*(inst.demand_xy[:, None, :] - inst.site_xy[None, :, :]).transpose(2, 0, 1))
    reach = d <= 200.0
    for code in range(2 ** n):
        chosen = ((code >> np.arange(n)) & 1).astype(bool)
        if inst.site_cost[chosen, 0].sum() <= inst.budget + 1e-9:
            covered = reach[:, chosen].any(axis=1)
            best = max(best, float(inst.population[covered, 0].sum()))
    assert plan.objective == pytest.approx(best)


@pytest.mark.parametrize("seed", range(10))
def test_warm_start_maps_any_plan_to_listed_plans(seed: int) -> None:
    """A warm start built from any feasible plan keeps its value or better and satisfies
    every row of the model."""
    inst = random_instance(seed)
    problem = reduce_problem(inst, compute_reach(inst))
    milp = build_milp(problem)
    if not milp.layout.components:
        pytest.skip("no small component")
    exact = brute_force(inst)
    rng = np.random.default_rng(seed)
    for plan in exact.plans[rng.permutation(len(exact.plans))[:20]]:
        columns = [int(np.nonzero((problem.column_site == s) & (problem.column_type == t))[0][0])
                   for s, t in enumerate(plan) if t >= 0
                   and np.any((problem.column_site == s) & (problem.column_type == t))]
        values = full_solution(problem, np.asarray(columns, dtype=np.int64), milp)
        activity = milp.matrix @ values
        assert np.all(activity <= milp.row_upper + 1e-6)
        assert np.all(activity >= milp.row_lower - 1e-6)
        x = np.zeros(problem.n_columns)
        x[columns] = 1.0
        before = problem.constant + problem.group_weight[(problem.cover @ x) > 0].sum()
        assert milp.objective @ values + milp.offset >= before - 1e-6

