"""The solve pipeline stage by stage (optimizer.stages), the time budget (Deadline) and
the stop signal (StopSignal), and a toy policy switch added the way docs/architecture.md
describes."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import replace

import numpy as np
import pytest

from optimizer import SitingInstance, solve, stages
from optimizer.coverage import Reach
from optimizer.deadline import Deadline, StopSignal
from optimizer.errors import InputError
from optimizer.solve import plan_violations
from optimizer.solvers.base import SolveStatus
from optimizer.subproblem import keep_columns
from tests.test_bruteforce import brute_force, check_plan, dense_distances, random_instance
from tests.test_lns import _clustered

SEED = 4  # a tiny instance with a feasible, non-trivial optimum


def _run(instance: SitingInstance, time_limit_s: float = 20.0, *,
         should_stop=None, **settings) -> stages.SolveRun:
    return stages.begin(instance, stages.SolveSettings(**settings),
                        Deadline.start(time_limit_s, should_stop=should_stop))


def _prepared(instance: SitingInstance, run: stages.SolveRun | None = None) -> stages.Prepared:
    run = run or _run(instance)
    return stages.apply_reductions(run, stages.find_pairs(run))


# ------------------------------------------------------------------------ time budget


def test_deadline_measures_from_its_start() -> None:
    deadline = Deadline(started=time.perf_counter() - 2.0, limit_s=10.0)
    assert deadline.elapsed() == pytest.approx(2.0, abs=0.2)
    assert deadline.left() == pytest.approx(8.0, abs=0.2)
    assert deadline.at == pytest.approx(deadline.started + 10.0)
    assert not deadline.expired()
    assert deadline.expired(margin=9.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        deadline.limit_s = 1.0  # type: ignore[misc]


def test_deadline_expires_and_left_goes_negative() -> None:
    deadline = Deadline(started=time.perf_counter() - 2.0, limit_s=1.0)
    assert deadline.expired()
    assert deadline.left() == pytest.approx(-1.0, abs=0.2)
    assert deadline.left(at_least=0.5) == 0.5
    later = deadline.at_least(3.0)
    assert not later.expired() and later.left() == pytest.approx(3.0, abs=0.2)
    assert Deadline.start(10.0).at_least(3.0).left() == pytest.approx(10.0, abs=0.2)


def test_split_and_sub_give_nearer_deadlines_sharing_the_clock_and_stop() -> None:
    deadline = Deadline.start(10.0, should_stop=lambda: False)
    half = deadline.split(0.5)
    assert half.left() == pytest.approx(5.0, abs=0.2)
    assert half.started == deadline.started and half.stop is deadline.stop
    assert deadline.sub(2.0).left() == pytest.approx(2.0, abs=0.2)
    assert deadline.sub(100.0).at == deadline.at  # never later than the one it came from
    assert deadline.before(3.0).left() == pytest.approx(7.0, abs=0.2)
    assert deadline.left() == pytest.approx(10.0, abs=0.2)  # unchanged (frozen)


def test_stop_signal_latches_and_records_when() -> None:
    answers = iter([False, True, False, False])
    calls = []

    def hook() -> bool:
        calls.append(1)
        return next(answers)

    signal = StopSignal(hook, started=time.perf_counter() - 1.0)
    assert signal.active and signal.hook is signal
    assert not signal() and not signal.seen
    assert signal() and signal.seen
    assert signal() and signal()  # latched: the hook is not asked again
    assert len(calls) == 2
    assert signal.at == pytest.approx(1.0, abs=0.2)
    assert signal.warning() == f"stopped on request after {signal.at:.1f} s"
    assert StopSignal.of(signal) is signal  # nested solves share it
    deadline = Deadline.start(5.0, should_stop=signal)
    assert deadline.stop is signal and deadline.stopped()


def test_without_a_hook_nothing_stops_and_callees_get_none() -> None:
    signal = StopSignal()
    assert not signal.active and signal.hook is None
    assert not signal() and not signal.seen
    assert not Deadline.start(5.0).stopped()


# ----------------------------------------------------------------------------- stages


def test_begin_checks_the_backend() -> None:
    inst = random_instance(SEED)
    assert _run(inst).backend.name == "highs"
    with pytest.raises(InputError):
        _run(inst, solver="no-such-solver")


def test_find_pairs_lists_every_pair_within_the_largest_radius() -> None:
    inst = random_instance(SEED)
    reach = stages.find_pairs(_run(inst))
    assert isinstance(reach, Reach)
    to_site, _ = dense_distances(inst)
    radius = max(t.radius_m for t in inst.types)
    demand, site, distance = reach.site_pairs()
    assert len(demand) == int((to_site <= radius).sum())
    assert np.allclose(distance, to_site[demand, site])


def test_apply_reductions_keeps_the_bound_and_times_the_build() -> None:
    inst = random_instance(SEED)
    reduced = _prepared(inst)
    plain = _prepared(inst, _run(inst, reductions=False))
    assert reduced.problem.n_columns <= plain.problem.n_columns
    assert reduced.problem.upper_bound == pytest.approx(plain.problem.upper_bound)
    assert reduced.problem.upper_bound >= brute_force(inst).optimum - 1e-9
    assert reduced.build_s >= 0.0 and "columns_before" in reduced.problem.stats


def test_infeasible_plan_explains_itself() -> None:
    inst = random_instance(SEED)
    run = _run(inst)
    plan = stages.infeasible_plan(run, _prepared(inst, run), ["forced sites cost too much"])
    assert plan.status == SolveStatus.INFEASIBLE and plan.objective is None
    assert plan.explanation == ("forced sites cost too much",)
    assert plan.report.message == "infeasible before solving"


def test_start_plan_is_feasible_scored_and_announced() -> None:
    inst = random_instance(SEED)
    run = _run(inst)
    prepared = _prepared(inst, run)
    found = stages.start_plan(run, prepared)
    assert found.best is not None and not found.best.violations
    assert found.heuristic_value == found.best.value
    assert found.best.value <= brute_force(inst).optimum + 1e-9
    assert found.upper_bound == pytest.approx(prepared.problem.upper_bound)
    assert [e.source for e in run.events] == [found.best.source]
    off = _run(inst, heuristic=False)
    assert stages.start_plan(off, _prepared(inst, off)).best is None


def test_tighten_bound_stays_above_the_optimum() -> None:
    inst = random_instance(SEED)
    run = _run(inst)
    prepared = _prepared(inst, run)
    start = stages.start_plan(run, prepared)
    found = stages.tighten_bound(run, prepared, start)
    assert brute_force(inst).optimum - 1e-6 <= found.upper_bound <= start.upper_bound
    assert run.events[-1].source == "lagrangian"


def test_search_neighbourhoods_runs_only_when_asked_and_never_loses() -> None:
    inst = _clustered(3)
    run = _run(inst, 6.0, lns=True)
    prepared = _prepared(inst, run)
    start = stages.start_plan(run, prepared)
    assert stages.search_neighbourhoods(_run(inst, 6.0), prepared, start) is start
    found = stages.search_neighbourhoods(run, prepared, start)
    assert found.search["neighbourhoods"] >= 1
    assert found.best.value >= start.best.value and not found.best.violations
    assert found.heuristic_s > start.heuristic_s


def test_search_and_mip_starts_nothing_after_a_stop() -> None:
    inst = random_instance(SEED)
    run = _run(inst, should_stop=lambda: True)
    prepared = _prepared(inst, run)
    found = stages.Found(upper_bound=prepared.problem.upper_bound)
    after, mip = stages.search_and_mip(run, prepared, found)
    assert after is found and mip.result is None and mip.milp is None


def test_search_with_mip_reaches_the_optimum() -> None:
    inst = random_instance(SEED)
    run = _run(inst)
    prepared = _prepared(inst, run)
    found, mip = stages.search_and_mip(run, prepared, stages.start_plan(run, prepared))
    found, mip = stages.evaluate(run, prepared, found, mip)
    assert found.best.value == pytest.approx(brute_force(inst).optimum)
    assert "chains" in found.search  # the portfolio ran
    assert mip.bound >= found.best.value - 1e-6


def test_mip_alone_then_evaluate_keeps_the_mip_plan() -> None:
    inst = random_instance(SEED)
    run = _run(inst, heuristic=False)
    prepared = _prepared(inst, run)
    found = stages.start_plan(run, prepared)
    mip = stages.mip_alone(run, prepared, found)
    assert mip.result.status == SolveStatus.OPTIMAL and mip.milp is not None
    found, mip = stages.evaluate(run, prepared, found, mip)
    assert found.best.source == "highs"
    assert found.best.value == pytest.approx(brute_force(inst).optimum)
    assert mip.model_size["columns"] == mip.milp.n_cols and mip.solver_s > 0
    assert mip.message == mip.result.message


def test_evaluate_reports_a_stop() -> None:
    inst = random_instance(SEED)
    run = _run(inst, should_stop=lambda: True)
    prepared = _prepared(inst, run)
    assert run.stop()
    _, mip = stages.evaluate(run, prepared, stages.Found(),
                             stages.MipOutcome(proven=False, bound=None))
    assert mip.message == "stopped on request"
    assert run.warnings == [run.stop.warning()]


def test_to_plan_matches_solve() -> None:
    inst = random_instance(SEED)
    run = _run(inst)
    prepared = _prepared(inst, run)
    found = stages.start_plan(run, prepared)
    found, mip = stages.search_and_mip(run, prepared, found)
    plan = stages.to_plan(run, prepared, *stages.evaluate(run, prepared, found, mip))
    assert plan.status == SolveStatus.OPTIMAL
    check_plan(inst, plan)
    assert plan.objective == pytest.approx(solve(inst, time_limit_s=20).objective)
    assert plan.report.progress == tuple(run.events)


# ------------------------------------------------------- a toy policy switch (see docs)


def _forbid_type(t: int):
    """A column rule: no site may become type ``t`` (the documented Prepared -> Prepared
    step between apply_reductions and start_plan)."""

    def rule(prepared: stages.Prepared) -> stages.Prepared:
        keep = prepared.problem.column_type != t
        return replace(prepared, problem=keep_columns(prepared.problem, keep))

    return rule


def _solve_with(instance: SitingInstance, rule, *, time_limit_s: float = 20.0):
    """optimizer.solve.solve's stage list with ``rule`` after the reductions."""
    run = _run(instance, time_limit_s)
    prepared = rule(stages.apply_reductions(run, stages.find_pairs(run)))
    found = stages.start_plan(run, prepared)
    found = stages.tighten_bound(run, prepared, found)
    found = stages.search_neighbourhoods(run, prepared, found)
    found, mip = stages.search_and_mip(run, prepared, found)
    found, mip = stages.evaluate(run, prepared, found, mip)
    return stages.to_plan(run, prepared, found, mip)


def test_toy_policy_switch_forbids_a_type() -> None:
    """Solved with the rule, the plan has no site of the type, breaks nothing, and scores
    the optimum of the same instance with that type's costs blanked (brute force)."""
    checked = 0
    for seed in range(12):
        inst = random_instance(seed)
        if len(inst.forced_sites):
            continue  # a forced site may need the forbidden type
        blanked = inst.site_cost.copy()
        blanked[:, 1] = np.nan
        exact = brute_force(replace(inst, site_cost=blanked))
        plan = _solve_with(inst, _forbid_type(1))
        assert not (plan.type_index == 1).any()
        assert plan_violations(inst, plan.site_index, plan.type_index) == []
        assert plan.status == SolveStatus.OPTIMAL
        assert plan.objective == pytest.approx(exact.optimum, rel=1e-9, abs=1e-9)
        assert plan.bound >= plan.objective - 1e-6
        checked += 1
    assert checked >= 4
