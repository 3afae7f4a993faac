"""Plan improvement after the MIP (iterated local search, large-neighbourhood search):
never worse, always feasible, exact on tiny instances."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer import FacilityType, SitingInstance, solve
from optimizer.coverage import compute_reach
from optimizer.heuristics import greedy_swap, improve_plan
from optimizer.lns import large_neighbourhood_search, lns_applicable
from optimizer.reduce import reduce_problem
from tests.test_bruteforce import CLOSED, brute_force, feasible_mask, plan_value, random_instance


def _assignment(problem, columns: np.ndarray, n_sites: int) -> np.ndarray:
    assignment = np.full(n_sites, CLOSED, dtype=np.int64)
    sites = problem.column_site[columns]
    assert len(np.unique(sites)) == len(sites), "a site has two uses"
    assignment[sites] = problem.column_type[columns]
    return assignment


def test_lns_is_feasible_never_worse_and_mostly_exact_on_tiny_instances() -> None:
    """From a greedy start (no swaps) on 4-7 site instances: every result is feasible, its
    stated value is its true value, it never falls below the start or rises above the brute
    force optimum, and it reaches that optimum on most instances. (Not all: a neighbourhood
    frees only candidates near the released columns, so a distant better site can stay out.)
    """
    exact = searched = 0
    for seed in range(25):
        inst = random_instance(seed)
        problem = reduce_problem(inst, compute_reach(inst))
        if not lns_applicable(problem):
            continue
        start = greedy_swap(problem, swap=False, iterate=False, time_limit_s=1.0)
        if not start.feasible:  # forced sites over the budget
            continue
        found = large_neighbourhood_search(problem, start.columns, time_limit_s=20.0)
        assignment = _assignment(problem, found.columns, inst.n_sites)
        assert feasible_mask(inst, assignment[None, :])[0], f"seed {seed}: {assignment}"
        assert found.objective == pytest.approx(plan_value(inst, assignment), abs=1e-9)
        assert found.objective >= start.objective - 1e-9
        assert found.improved == (found.objective > start.objective + 1e-9)
        optimum = brute_force(inst).optimum
        assert found.objective <= optimum + 1e-9
        searched += 1
        exact += found.objective >= optimum - 1e-9
    assert searched >= 20
    assert exact >= 0.75 * searched, f"optimum reached on {exact} of {searched}"


def _clustered(seed: int, n: int = 4000, m: int = 1200, budget: float = 25.0) -> SitingInstance:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 6000, (20, 2))
    xy = centres[rng.integers(0, 20, n)] + rng.normal(0, 500, (n, 2))
    return SitingInstance(
        types=(FacilityType("park", radius_m=500.0),),
        demand_ids=np.arange(n).astype(str).astype(object),
        demand_xy=xy, population=rng.integers(1, 100, (n, 1)).astype(float),
        site_ids=np.arange(m).astype(str).astype(object),
        site_xy=rng.uniform(0, 6000, (m, 2)), site_cost=rng.choice([1.0, 1.5, 2.0], (m, 1)),
        budget=budget,
    )


def test_lns_keeps_a_swap_local_optimum_feasible_and_reports_each_gain() -> None:
    """On 1,200 candidate sites with uneven costs, every reported improvement is a feasible
    plan whose value the search states, and values only rise."""
    inst = _clustered(3)
    problem = reduce_problem(inst, compute_reach(inst))
    start = greedy_swap(problem, time_limit_s=0.5, iterate=False)
    seen: list[float] = []

    def improved(columns: np.ndarray, value: float) -> None:
        cost = problem.column_cost[columns].sum()
        assert cost <= inst.budget + 1e-9
        assert len(np.unique(problem.column_site[columns])) == len(columns)
        seen.append(value)

    found = large_neighbourhood_search(problem, start.columns, time_limit_s=4.0,
                                       on_improvement=improved)
    assert found.objective >= start.objective - 1e-9
    assert seen == sorted(seen)
    assert found.improvements == len(seen)
    if seen:
        assert seen[-1] == pytest.approx(found.objective)
    assert found.runtime_s < 4.0 + 2.5  # one sub-MIP may finish its own slice


def test_solve_runs_the_search_on_large_models_and_reports_it() -> None:
    inst = _clustered(5)
    plan = solve(inst, time_limit_s=6.0, lns=True)
    search = plan.report.search
    assert search["neighbourhoods"] >= 1
    assert search["objective"] >= search["start_objective"] - 1e-9
    assert plan.objective >= search["objective"] - 1e-6
    assert plan.bound is not None and plan.bound >= plan.objective - 1e-6
    assert plan.summary()["solver"]["search"] == search
    sources = {event.source for event in plan.report.progress}
    assert "greedy+swap+ils" in sources or "greedy+swap" in sources


def test_solve_without_heuristic_or_by_default_skips_the_search() -> None:
    assert solve(_clustered(5), time_limit_s=3.0, heuristic=False, lns=True).report.search == {}
    assert "neighbourhoods" not in solve(_clustered(5), time_limit_s=3.0).report.search


@pytest.mark.parametrize("all_features", [False, True])
def test_improve_plan_is_feasible_honest_and_never_worse(all_features: bool) -> None:
    """From a greedy start on tiny instances (with caps, shares, forced and existing sites
    when ``all_features``): the polished plan is feasible, its stated value is its true
    value, and it lies between the start and the brute-force optimum."""
    polished = 0
    for seed in range(20):
        inst = random_instance(seed, all_features=all_features)
        problem = reduce_problem(inst, compute_reach(inst))
        exact = brute_force(inst)
        start = greedy_swap(problem, swap=False, iterate=False, time_limit_s=1.0)
        if not exact.feasible or not start.feasible:  # solve() stops these before searching
            continue
        found = improve_plan(problem, start.columns, time_limit_s=2.0, seed=seed)
        assert found.feasible and found.method == "ils"
        assignment = _assignment(problem, found.columns, inst.n_sites)
        assert feasible_mask(inst, assignment[None, :])[0], f"seed {seed}: {assignment}"
        assert found.objective == pytest.approx(plan_value(inst, assignment), abs=1e-9)
        assert start.objective - 1e-9 <= found.objective <= exact.optimum + 1e-9
        polished += 1
    assert polished >= 12


def test_improve_plan_refuses_a_start_it_cannot_rebuild() -> None:
    inst = _clustered(3, n=300, m=40, budget=3.0)
    problem = reduce_problem(inst, compute_reach(inst))
    too_many = np.arange(min(len(problem.column_cost), 40))
    found = improve_plan(problem, too_many, time_limit_s=1.0)
    assert not found.feasible
