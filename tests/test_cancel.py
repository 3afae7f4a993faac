"""The cancel hook: ``solve(..., should_stop=...)`` ends within about a second of a stop,
with the best plan so far (status ``feasible``, its bound and gap, and a warning), or
``no_solution`` when no plan exists yet; nothing is raised."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from optimizer import solve
from optimizer.coverage import compute_reach
from optimizer.heuristics import greedy_swap
from optimizer.model import build_milp, full_solution
from optimizer.reduce import reduce_problem
from optimizer.results import Plan
from optimizer.solve import plan_violations
from optimizer.solvers import available_backends
from optimizer.solvers.base import SolveOptions, SolveStatus
from optimizer.solvers.highs import HighsBackend
from scenarios import run_scenario
from tests.test_lns import _clustered

STOP_S = 1.5  # when the Cancel button is pressed, after the call starts
SLACK_S = 1.5  # how long after that the call may take to return
STOPPED = "stopped on request after"


@pytest.fixture(scope="module", autouse=True)
def _warm() -> Iterator[None]:
    """Load the compiled search and the sample city's walking distances before timing
    anything (the first solve in a process compiles or loads the numba kernels), and let
    any HiGHS left to end in the background finish before the next module."""
    run_scenario("yuzhong-baseline", time_limit_s=2.0)
    yield
    for thread in threading.enumerate():
        if thread.name == "lifecircle-highs":
            thread.join(timeout=60.0)


def _hard_instance():
    """6,000 units x 2,500 sites: the MIP is still 0.8 % from proven after 20 s."""
    return _clustered(5, n=6000, m=2500, budget=40.0)


def _cancel_after(seconds: float) -> tuple[threading.Event, threading.Timer]:
    pressed = threading.Event()
    timer = threading.Timer(seconds, pressed.set)
    timer.daemon = True
    return pressed, timer


def _stopped(plan: Plan) -> bool:
    return any(w.startswith(STOPPED) for w in plan.report.warnings)


def _assert_feasible_plan(plan: Plan) -> None:
    assert plan.has_solution
    assert plan.objective is not None
    assert plan.bound is not None and plan.bound >= plan.objective - 1e-6
    assert plan.gap is not None
    assert plan.total_cost <= plan.instance.budget * (1 + 1e-9)
    assert plan_violations(plan.instance, plan.site_index, plan.type_index) == []


def test_cancel_on_the_sample_city_keeps_the_best_plan() -> None:
    pressed, timer = _cancel_after(STOP_S)
    began = time.perf_counter()
    timer.start()
    result = run_scenario("yuzhong-baseline", time_limit_s=60, should_stop=pressed.is_set)
    elapsed = time.perf_counter() - began
    timer.cancel()
    plan = result.plan
    assert elapsed < STOP_S + SLACK_S, f"returned {elapsed - STOP_S:.2f} s after the stop"
    assert plan.status in (SolveStatus.FEASIBLE, SolveStatus.OPTIMAL)
    _assert_feasible_plan(plan)
    if plan.status == SolveStatus.OPTIMAL:
        # Only if proven before the stop: then nothing was cut short (or the gap is closed).
        assert not _stopped(plan) or plan.gap <= result.spec.solver.gap
    else:
        assert _stopped(plan), plan.report.warnings  # with 60 s, only the stop ends it early


def test_cancel_mid_search_on_the_sample_city() -> None:
    """Pressed 0.2 s after the first plan, while the search and branch-and-cut run."""
    pressed, armed = threading.Event(), threading.Event()
    pressed_at: list[float] = []

    def press() -> None:
        pressed_at.append(time.perf_counter())
        pressed.set()

    def progress(_event) -> None:
        if not armed.is_set():
            armed.set()
            timer = threading.Timer(0.2, press)
            timer.daemon = True
            timer.start()

    result = run_scenario("yuzhong-baseline", time_limit_s=60, should_stop=pressed.is_set,
                          progress=progress)
    returned = time.perf_counter()
    plan = result.plan
    _assert_feasible_plan(plan)
    if _stopped(plan):
        late = returned - pressed_at[0]
        assert late < SLACK_S, f"returned {late:.2f} s after the stop"
        assert plan.status == SolveStatus.FEASIBLE or plan.gap <= result.spec.solver.gap
    else:
        assert plan.status == SolveStatus.OPTIMAL  # proven before the button was pressed


def test_cancel_on_a_long_solve_returns_its_incumbent_within_the_slack() -> None:
    instance = _hard_instance()
    pressed, timer = _cancel_after(STOP_S)
    began = time.perf_counter()
    timer.start()
    plan = solve(instance, time_limit_s=60, should_stop=pressed.is_set)
    elapsed = time.perf_counter() - began
    timer.cancel()
    assert plan.status == SolveStatus.FEASIBLE
    assert elapsed < STOP_S + SLACK_S, f"returned {elapsed - STOP_S:.2f} s after the stop"
    _assert_feasible_plan(plan)
    assert _stopped(plan)
    assert plan.report.progress, "the incumbent's history is kept"


def test_cancel_before_anything_gives_a_clean_result() -> None:
    for plan in (
        solve(_hard_instance(), time_limit_s=60, should_stop=lambda: True),
        run_scenario("yuzhong-baseline", time_limit_s=60, should_stop=lambda: True).plan,
    ):
        assert plan.status in (SolveStatus.FEASIBLE, SolveStatus.NO_SOLUTION)
        assert plan.runtime_s < SLACK_S
        assert _stopped(plan)
        if plan.status == SolveStatus.FEASIBLE:
            _assert_feasible_plan(plan)
        else:
            assert plan.objective is None and not plan.has_solution


def test_a_hook_that_never_fires_changes_nothing_visible() -> None:
    plan = run_scenario("yuzhong-baseline", time_limit_s=60, should_stop=lambda: False).plan
    assert plan.status == SolveStatus.OPTIMAL
    assert not _stopped(plan)


@pytest.mark.skipif("cbc" not in available_backends(), reason="CBC not installed")
def test_cancel_with_cbc() -> None:
    """CBC cannot be interrupted, but the search before it can, and CBC is then not
    started."""
    pressed, timer = _cancel_after(STOP_S)
    began = time.perf_counter()
    timer.start()
    result = run_scenario("yuzhong-baseline", time_limit_s=60, solver="cbc",
                          should_stop=pressed.is_set)
    elapsed = time.perf_counter() - began
    timer.cancel()
    plan = result.plan
    assert elapsed < STOP_S + SLACK_S, f"returned {elapsed - STOP_S:.2f} s after the stop"
    assert plan.status == SolveStatus.FEASIBLE
    assert plan.report.backend == "cbc"
    _assert_feasible_plan(plan)
    assert _stopped(plan)


def test_cancel_during_maxmin_keeps_a_plan_meeting_the_floor() -> None:
    """Stopped once the first stage (raise the worst group's share) has a plan: the
    second stage is cut short, and its plan or the first stage's is returned."""
    pressed = threading.Event()

    def progress(event) -> None:
        if event.incumbent is not None:
            pressed.set()

    result = run_scenario("yuzhong-maxmin", time_limit_s=60, should_stop=pressed.is_set,
                          progress=progress)
    plan = result.plan
    assert plan.status in (SolveStatus.FEASIBLE, SolveStatus.OPTIMAL)
    assert plan.objective is not None and plan.total_cost <= plan.instance.budget * (1 + 1e-9)
    assert "worst_group_share" in plan.report.objective_parts
    if plan.status == SolveStatus.FEASIBLE:
        assert sum(w.startswith(STOPPED) for w in plan.report.warnings) == 1


def test_highs_answers_within_the_grace_when_it_takes_no_interrupt() -> None:
    """HiGHS does not poll its interrupt inside the root LP; with ``stop_grace_s`` the
    caller gets its answer anyway and HiGHS ends by itself later."""
    instance = _hard_instance()
    problem = reduce_problem(instance, compute_reach(instance))
    milp = build_milp(problem)
    start = greedy_swap(problem, time_limit_s=0.2, iterate=False)
    began = time.perf_counter()
    result = HighsBackend().solve(
        milp, options=SolveOptions(time_limit_s=60.0, threads=1, stop_grace_s=0.3,
                                   should_stop=lambda: time.perf_counter() - began > 0.5),
        warm_start=full_solution(problem, start.columns, milp))
    assert time.perf_counter() - began < 0.5 + 0.3 + 0.5
    assert result.status in (SolveStatus.FEASIBLE, SolveStatus.NO_SOLUTION)
    if result.values is not None:
        assert result.objective == pytest.approx(
            float(milp.objective @ result.values + milp.offset))
        assert np.all(result.values[: milp.n_x] >= -1e-9)
