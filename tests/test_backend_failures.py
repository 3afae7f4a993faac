"""A failing or missing MIP backend never costs the plan the search found.

The failures are injected around the real HiGHS backend (it raises after being called, or
runs out of memory), since a native solver cannot be made to crash on demand; the search,
the Lagrangian bound and the evaluation are all real. A backend that is not installed is
stood in for by HiGHS with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from optimizer import solve
from optimizer.errors import InputError
from optimizer.solve import plan_violations
from optimizer.solvers import BACKENDS
from optimizer.solvers.base import SolveStatus
from optimizer.solvers.guard import GuardedBackend, guarded
from optimizer.solvers.highs import HighsBackend
from tests.test_lns import _clustered


@dataclass
class FailingBackend:
    """The real HiGHS backend, failing with ``error`` each time it is asked to solve."""

    error: BaseException
    name: str = "highs"
    calls: list[int] = field(default_factory=list)

    def is_available(self) -> bool:
        return True

    def solve(self, milp, *, options, warm_start=None):
        self.calls.append(1)
        raise self.error


@dataclass
class MissingBackend:
    """A backend whose package is not installed on this machine."""

    name: str = "cbc"

    def is_available(self) -> bool:
        return False

    def solve(self, milp, *, options, warm_start=None):  # pragma: no cover - never called
        raise AssertionError("a missing backend must not be called")


def _instance():
    """1,500 units x 400 sites in 20 clusters: the search does not prove it, so the MIP
    runs beside it."""
    return _clustered(11, n=1500, m=400, budget=15.0)


@pytest.mark.parametrize("error, words", [
    (RuntimeError("HiGHS returned kError\nmodel status: Unknown"),
     "highs failed: RuntimeError: HiGHS returned kError model status: Unknown"),
    (MemoryError(), "highs ran out of memory"),
])
def test_a_failing_backend_keeps_the_search_plan(monkeypatch, error, words) -> None:
    failing = FailingBackend(error)
    monkeypatch.setitem(BACKENDS, "highs", failing)
    instance = _instance()
    plan = solve(instance, time_limit_s=3.0, seed=1)
    assert failing.calls, "the MIP backend was never asked, so nothing was tested"
    assert plan.status in (SolveStatus.FEASIBLE, SolveStatus.OPTIMAL)
    assert plan.has_solution and plan.objective > 0
    assert plan_violations(instance, plan.site_index, plan.type_index) == []
    assert plan.bound is not None and plan.bound >= plan.objective
    warning = next(w for w in plan.report.warnings if "failed" in w or "memory" in w)
    assert words in warning and "the best plan found so far is kept" in warning
    assert "\n" not in warning
    # the same instance with the real backend: the kept plan is a real, good plan
    monkeypatch.setitem(BACKENDS, "highs", HighsBackend())
    reference = solve(instance, time_limit_s=10.0, seed=1)
    assert plan.objective <= reference.bound + 1e-6
    assert plan.objective >= 0.9 * reference.objective


def test_a_missing_backend_is_replaced_by_highs_with_a_warning(monkeypatch) -> None:
    monkeypatch.setitem(BACKENDS, "cbc", MissingBackend())
    instance = _instance()
    plan = solve(instance, solver="cbc", time_limit_s=5.0, seed=1)
    assert plan.report.backend == "highs"
    assert any("solver 'cbc' is not installed here" in w and "highs was used instead" in w
               for w in plan.report.warnings)
    reference = solve(instance, time_limit_s=5.0, seed=1)
    assert plan.objective == pytest.approx(reference.objective)


def test_an_unknown_backend_is_still_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown solver 'gurobbi'"):
        solve(_instance(), solver="gurobbi", time_limit_s=1.0)


def test_guarding_twice_wraps_once_and_interrupts_pass_through() -> None:
    once = guarded(HighsBackend())
    assert guarded(once) is once and isinstance(once, GuardedBackend)
    interrupted = guarded(FailingBackend(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        interrupted.solve(None, options=None)  # type: ignore[arg-type]
