"""Search and MIP side by side: solution merging, the HiGHS hooks that let the workers
exchange plans and stop each other, and what solve() reports about the run."""

from __future__ import annotations

import time

import numpy as np
import pytest

from optimizer import solve
from optimizer.coverage import compute_reach
from optimizer.heuristics import greedy_swap
from optimizer.local_search import CoverageSearch
from optimizer.model import build_milp, full_solution
from optimizer.portfolio import merge_plans, plan_value
from optimizer.reduce import reduce_problem
from optimizer.solve import plan_violations
from optimizer.solvers.base import SolveOptions, SolveStatus
from optimizer.solvers.highs import HighsBackend
from tests.test_lns import _clustered


def _problem(seed: int = 3, **kwargs):
    inst = _clustered(seed, **kwargs)
    return inst, reduce_problem(inst, compute_reach(inst))


def test_merging_never_loses_and_opens_only_columns_of_the_plans() -> None:
    inst, problem = _problem()
    plans, values = [], []
    for seed in range(3):
        search = CoverageSearch(problem)
        assert search.start()
        found = search.iterate(time_limit_s=0.3, seed=seed)
        plans.append(found.columns)
        values.append(found.objective)
    best = plans[int(np.argmax(values))]
    merged, value, union = merge_plans(problem, plans, best, np.empty(0, dtype=np.int64),
                                       time_limit_s=10.0)
    assert value >= max(values) - 1e-9
    assert value == pytest.approx(plan_value(problem, merged))
    assert set(merged.tolist()) <= set(np.concatenate(plans).tolist())
    assert union == len(np.unique(np.concatenate(plans)))
    sites, types = problem.column_site[merged], problem.column_type[merged]
    assert plan_violations(inst, sites, types) == []


def test_highs_takes_a_plan_offered_while_it_runs() -> None:
    """No warm start, but the incoming hook offers the heuristic's plan: HiGHS ends with
    at least that plan's value."""
    _, problem = _problem(5, n=6000, m=2500, budget=40.0)
    start = greedy_swap(problem, time_limit_s=1.0)
    milp = build_milp(problem)
    offered = full_solution(problem, start.columns, milp)
    calls: list[float] = []

    def incoming():
        calls.append(time.perf_counter())
        return offered if len(calls) == 1 else None

    def taken_a_while_ago() -> bool:  # a loaded machine may need long to get there
        return bool(calls) and time.perf_counter() - calls[0] > 1.0

    result = HighsBackend().solve(milp, options=SolveOptions(
        time_limit_s=60.0, threads=1, incoming=incoming, should_stop=taken_a_while_ago))
    assert calls, "HiGHS never asked for a plan"
    assert result.objective is not None
    assert result.objective >= start.objective - 1e-6


def test_highs_stops_when_the_caller_asks() -> None:
    """A hard model with a 60 s limit ends soon after should_stop turns True, keeping what
    it had."""
    _, problem = _problem(5, n=6000, m=2500, budget=40.0)
    milp = build_milp(problem)
    start = greedy_swap(problem, time_limit_s=0.2, iterate=False)
    began = time.perf_counter()
    result = HighsBackend().solve(
        milp, options=SolveOptions(time_limit_s=60.0, threads=1,
                                   should_stop=lambda: time.perf_counter() - began > 1.0),
        warm_start=full_solution(problem, start.columns, milp))
    assert time.perf_counter() - began < 15.0
    if result.status != SolveStatus.OPTIMAL:
        assert result.message == "stopped by the caller"
        assert result.status == SolveStatus.FEASIBLE


def test_solve_runs_search_and_mip_side_by_side_and_reports_it() -> None:
    """On a 2,500-site model: the plan is at least the greedy's, never above the bound, the
    report says what the search did, and the progress stream only ever improves."""
    inst = _clustered(5, n=6000, m=2500, budget=40.0)
    events = []
    plan = solve(inst, time_limit_s=6.0, progress=events.append)
    search = plan.report.search
    assert search["chains"] >= 1 and search["search_s"] > 0
    assert plan.objective >= search["search_start_objective"] - 1e-9
    assert plan.bound is not None and plan.bound >= plan.objective - 1e-6
    assert plan.report.model_size["columns"] > 0
    assert plan.summary()["solver"]["search"] == search
    assert plan.runtime_s < 10.0
    incumbents = [e.incumbent for e in events if e.incumbent is not None]
    bounds = [e.bound for e in events if e.bound is not None]
    assert incumbents == sorted(incumbents)
    assert bounds == sorted(bounds, reverse=True)
    assert incumbents[-1] == pytest.approx(plan.objective)


def test_search_alone_stops_once_it_finds_nothing_more() -> None:
    inst = _clustered(3)
    plan = solve(inst, time_limit_s=60.0, use_mip=False)
    assert plan.runtime_s < 30.0
    assert plan.report.message == "search only"
    assert plan.status in ("feasible", "optimal")


@pytest.mark.parametrize(("solver", "threads"), [("cbc", None), ("highs", 1)])
def test_search_then_mip_when_they_cannot_run_together(solver: str, threads) -> None:
    """CBC takes no plans while it runs, and one thread leaves no room for two workers: the
    search runs first, then the MIP from its plan."""
    inst = _clustered(5, n=6000, m=2500, budget=40.0)
    plan = solve(inst, solver=solver, threads=threads, time_limit_s=8.0)
    assert plan.report.search["chains"] >= 1
    assert plan.report.search["search_s"] < 6.0
    assert plan.report.backend == solver
    assert plan.report.model_size["columns"] > 0 and plan.report.solver_s > 0
    assert plan.objective >= plan.report.search["search_start_objective"] - 1e-9
    assert plan.bound >= plan.objective - 1e-6


def test_highs_solves_with_any_thread_count_in_one_process() -> None:
    """HiGHS's global scheduler refuses a thread count other than its first ("Not Set");
    the backend restarts it between solves, so every count works in turn."""
    _, problem = _problem(3, n=500, m=100, budget=5.0)
    milp = build_milp(problem)
    results = [HighsBackend().solve(milp, options=SolveOptions(time_limit_s=20, threads=t))
               for t in (None, 1, 2, 1)]
    assert [r.status for r in results] == [SolveStatus.OPTIMAL] * 4
    assert len({round(r.objective, 6) for r in results}) == 1


def test_a_model_too_large_for_branch_and_cut_gets_a_second_search(monkeypatch) -> None:
    """Above the size where HiGHS cannot finish its root LP, the second core runs another
    search chain: its plans join the pool; a longer Lagrangian run and the LP bound still
    bound the plan."""
    import optimizer.portfolio as portfolio

    monkeypatch.setattr(portfolio, "_MIP_MAX_NONZEROS", 0)
    inst = _clustered(5, n=6000, m=2500, budget=40.0)
    plan = solve(inst, time_limit_s=6.0)
    assert plan.report.search["second_search"] == 1
    assert plan.report.message.startswith("model too large for branch-and-cut")
    assert plan.report.solver_s == 0.0
    assert plan.objective >= plan.report.search["search_start_objective"] - 1e-9
    assert plan.bound >= plan.objective - 1e-6
    lagrangian = plan.report.search["lagrangian_bound"]
    assert plan.objective - 1e-6 <= plan.bound <= lagrangian + 1e-6
    assert plan.runtime_s < 9.0


def test_next_walker_when_restarts_did_not_fit() -> None:
    """Regression (maximo-Kings-p50 at a 10 s limit, IndexError): when the restarts that
    would add walkers found no time, the turn counter runs past the walkers there are;
    the next walker is then one of those, not an index error."""
    from types import SimpleNamespace

    from optimizer.portfolio import _next_walker

    inst = _clustered(2, n=300, m=60, budget=5.0)
    problem = reduce_problem(inst, compute_reach(inst))
    first = CoverageSearch(problem)
    crew = SimpleNamespace(report={"chains": 0}, problem=problem, seed=0,
                           schedule=SimpleNamespace(search_until=0.0),
                           restarts=lambda walker, seed, until: False)
    walkers = [first]
    for chain in range(1, 9):
        crew.report["chains"] = chain
        assert _next_walker(crew, walkers) is first
    assert walkers == [first]
