"""The compiled local search: its incremental bookkeeping against a recount from scratch,
feasibility and honesty of every plan, local optimality of the descent, and the iterated
search against brute force on tiny multi-type instances."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.coverage import compute_reach
from optimizer.local_search import CoverageSearch, _close, _open, _rebuild
from optimizer.reduce import reduce_problem
from tests.test_bruteforce import (
    brute_force,
    feasible_mask,
    plan_value,
    random_instance,
)
from tests.test_lns import _assignment


def _state_copy(search: CoverageSearch) -> list[np.ndarray]:
    return [np.array(a, copy=True) for a in search._state]


@pytest.mark.parametrize("seed", range(12))
def test_incremental_bookkeeping_matches_a_recount(seed: int) -> None:
    """After any sequence of opens and closes, counts, gains, losses, resource use, site
    users and the value equal what a recount from the open set gives."""
    inst = random_instance(seed, all_features=seed % 2 == 0)
    problem = reduce_problem(inst, compute_reach(inst))
    if problem.n_columns == 0:
        pytest.skip("no candidate column")
    search = CoverageSearch(problem)
    rng = np.random.default_rng(seed)
    for _ in range(60):
        k = int(rng.integers(problem.n_columns))
        if search._state[0][k]:
            _close(search._data, search._state, k)
        elif search._state[5][problem.column_site[k]] < 0:
            _open(search._data, search._state, k)
    incremental = _state_copy(search)
    _rebuild(search._data, search._state)
    for got, want in zip(incremental, search._state, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-9)


@pytest.mark.parametrize("seed", range(40))
def test_descent_ends_in_a_local_optimum_and_iterating_never_loses(seed: int) -> None:
    """Greedy + descent give a feasible plan with its true value from which no single add or
    swap gains (checked by enumeration); the iterated search never ends below it, stays
    feasible, and never exceeds the brute-force optimum."""
    inst = random_instance(seed, all_features=seed % 3 == 0)
    problem = reduce_problem(inst, compute_reach(inst))
    search = CoverageSearch(problem)
    if not search.start():
        return  # forced sites alone break the budget
    search.descend()
    columns = search.columns()
    assignment = _assignment(problem, columns, inst.n_sites)
    assert feasible_mask(inst, assignment[None, :])[0]
    value = search.value
    assert value == pytest.approx(plan_value(inst, assignment), abs=1e-9)

    locked = set(search.fixed_columns().tolist())
    closed = [k for k in range(problem.n_columns) if k not in set(columns.tolist())]
    neighbours = [np.append(columns, b) for b in closed]
    neighbours += [np.append(np.delete(columns, i), b) for i, a in enumerate(columns)
                   if int(a) not in locked for b in closed]
    for plan in neighbours:
        sites = problem.column_site[plan]
        if len(np.unique(sites)) < len(sites):
            continue
        moved = _assignment(problem, plan, inst.n_sites)
        if feasible_mask(inst, moved[None, :])[0]:
            assert plan_value(inst, moved) <= value * (1 + 1e-9) + 1e-9, f"gain: {moved}"

    found = search.iterate(time_limit_s=2.0, seed=seed, max_stall_rounds=300)
    after = _assignment(problem, found.columns, inst.n_sites)
    assert feasible_mask(inst, after[None, :])[0]
    assert found.objective == pytest.approx(plan_value(inst, after), abs=1e-9)
    assert found.objective >= value - 1e-9
    assert found.objective <= brute_force(inst).optimum + 1e-9


def test_iterated_search_reaches_most_tiny_optima() -> None:
    """From greedy, the iterated search finds the brute-force optimum on most instances."""
    exact = searched = 0
    for seed in range(30):
        inst = random_instance(seed)
        problem = reduce_problem(inst, compute_reach(inst))
        search = CoverageSearch(problem)
        if not search.start():
            continue
        found = search.iterate(time_limit_s=1.0, seed=seed, max_stall_rounds=500)
        searched += 1
        exact += found.objective >= brute_force(inst).optimum - 1e-9
    assert searched >= 25
    assert exact >= 0.9 * searched, f"optimum reached on {exact} of {searched}"


def test_load_refuses_a_plan_that_breaks_the_budget() -> None:
    inst = random_instance(4)
    problem = reduce_problem(inst, compute_reach(inst))
    search = CoverageSearch(problem)
    assert not search.load(np.arange(problem.n_columns))
    assert set(search.columns().tolist()) == set(search.fixed_columns().tolist())


def test_iterate_stops_at_the_target() -> None:
    """With the optimum as target the search ends as soon as it holds a plan worth it."""
    inst = random_instance(7)
    problem = reduce_problem(inst, compute_reach(inst))
    optimum = brute_force(inst).optimum
    search = CoverageSearch(problem)
    assert search.start()
    found = search.iterate(time_limit_s=30.0, target=optimum)
    assert found.objective == pytest.approx(optimum, abs=1e-9)
    assert found.runtime_s < 5.0
