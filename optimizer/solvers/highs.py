"""HiGHS backend through highspy: the whole model is passed in one call as CSR arrays."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np
from scipy import sparse

from optimizer.deadline import Deadline
from optimizer.model.milp import MilpArrays
from optimizer.solvers.base import BackendResult, ProgressEvent, SolveOptions, SolveStatus


@cache
def _highspy():
    import highspy

    return highspy


_PRESOLVE_MAX_NONZEROS = 600_000


class _Scheduler:
    """HiGHS (1.7 and later) keeps one task scheduler *per calling thread*, created by the
    thread's first solve with that solve's thread count; a later solve in the same thread
    asking for another count fails with model status "Not Set". Resetting it
    (``Highs.resetGlobalScheduler``) only affects the thread that calls it. So the count
    is recorded per Python thread, and :meth:`use` resets the calling thread's scheduler
    when a solve asks for a different one: threads never touch each other's schedulers
    (the portfolio's sub-MIPs, the MIP beside the search and the app's solves each run in
    their own threads)."""

    local = threading.local()

    @staticmethod
    def wanted(requested: int | None) -> int:
        """The thread count a solve asking for ``requested`` uses (None: every core)."""
        return int(requested) if requested else max(1, os.cpu_count() or 1)

    @classmethod
    def use(cls, threads: int) -> None:
        """Make the calling thread's scheduler run ``threads`` threads; call it in the
        thread that then runs HiGHS."""
        if getattr(cls.local, "threads", None) != threads:
            # also when unknown: a solve outside this module (plain HiGHS in the
            # benchmarks) may have started one with HiGHS's default count
            _highspy().Highs.resetGlobalScheduler(True)
            cls.local.threads = threads


def new_highs():
    """A silent ``highspy.Highs`` (its constructor prints a banner on stdout once)."""
    hp = _highspy()
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            h = hp.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    h.setOptionValue("output_flag", False)
    return h


def _highs_lp(objective: np.ndarray, col_lower: np.ndarray, col_upper: np.ndarray,
              matrix: sparse.csr_matrix, row_lower: np.ndarray, row_upper: np.ndarray, *,
              maximize: bool, offset: float = 0.0):
    """A continuous ``highspy.HighsLp`` from arrays, the constraint matrix as CSR rows."""
    hp = _highspy()
    lp = hp.HighsLp()
    lp.num_col_, lp.num_row_ = len(objective), len(row_lower)
    lp.col_cost_ = objective
    lp.col_lower_ = col_lower
    lp.col_upper_ = col_upper
    lp.row_lower_ = row_lower
    lp.row_upper_ = row_upper
    lp.offset_ = offset
    lp.sense_ = hp.ObjSense.kMaximize if maximize else hp.ObjSense.kMinimize
    lp.a_matrix_.format_ = hp.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(float)
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = len(objective), len(row_lower)
    return lp


def pass_model(h, milp: MilpArrays, *, minimize: bool = False) -> None:
    """Hand the whole model to a ``highspy.Highs`` object in one call (CSR rows).

    With ``minimize`` the objective is negated and the offset dropped, which is the form
    the CBC backend exports to MPS.
    """
    hp = _highspy()
    lp = _highs_lp(-milp.objective if minimize else milp.objective, milp.col_lower,
                   milp.col_upper, milp.matrix, milp.row_lower, milp.row_upper,
                   maximize=not minimize, offset=0.0 if minimize else milp.offset)
    lp.integrality_ = [
        hp.HighsVarType.kInteger if flag else hp.HighsVarType.kContinuous
        for flag in milp.integrality
    ]
    h.passModel(lp)


def _consistent(milp: MilpArrays, values: np.ndarray, objective: float) -> bool:
    recomputed = float(milp.objective @ values + milp.offset)
    return abs(recomputed - objective) <= 1e-6 * max(1.0, abs(objective))


class HighsBackend:
    """HiGHS branch-and-cut (the default backend)."""

    name = "highs"

    @staticmethod
    @cache
    def is_available() -> bool:
        try:
            _highspy()
        except ImportError:
            return False
        return True

    def solve(
        self,
        milp: MilpArrays,
        *,
        options: SolveOptions,
        warm_start: np.ndarray | None = None,
    ) -> BackendResult:
        clock = Deadline.start(max(options.time_limit_s, 0.01))
        if milp.n_cols == 0:
            # HiGHS answers a model without columns with status "Empty", not "Optimal".
            if np.all(milp.row_lower <= 0.0) and np.all(milp.row_upper >= 0.0):
                offset = float(milp.offset)
                return BackendResult(SolveStatus.OPTIMAL, np.empty(0), offset, offset,
                                     clock.elapsed(), "empty model")
            return BackendResult(SolveStatus.INFEASIBLE, None, None, None,
                                 clock.elapsed(), "empty model is infeasible")
        h = new_highs()
        h.setOptionValue("output_flag", bool(options.verbose))
        h.setOptionValue("time_limit", clock.limit_s)
        h.setOptionValue("mip_rel_gap", float(options.mip_gap))
        h.setOptionValue("random_seed", int(options.seed))
        threads = _Scheduler.wanted(options.threads)
        if options.should_stop is not None and options.stop_grace_s is not None:
            return self._run_stoppable(h, milp, options, warm_start, threads, clock)
        return self._run(h, milp, options, warm_start, threads, clock)

    def _run_stoppable(self, h, milp: MilpArrays, options: SolveOptions,
                       warm_start: np.ndarray | None, threads: int,
                       clock: Deadline) -> BackendResult:
        """:meth:`_run` in a helper thread, answered within ``options.stop_grace_s`` of a
        stop (see :class:`~optimizer.solvers.base.SolveOptions`)."""
        seen: dict[str, object] = {"bound": None, "values": None}
        left_behind = threading.Event()

        def unless_left(hook):
            if hook is None:
                return None

            def call(*args):
                return None if left_behind.is_set() else hook(*args)

            return call

        options = replace(options, progress=unless_left(options.progress),
                          incoming=unless_left(options.incoming),
                          on_solution=unless_left(options.on_solution))
        outcome: dict[str, object] = {}

        def work() -> None:
            try:
                outcome["result"] = self._run(h, milp, options, warm_start, threads, clock,
                                              seen=seen)
            except BaseException as error:  # handed to the caller below
                outcome["error"] = error

        # Not a daemon: the interpreter waits for a HiGHS left running before it exits
        # (a daemon thread still inside HiGHS at exit aborts the process).
        worker = threading.Thread(target=work, name="lifecircle-highs")
        worker.start()
        assert options.should_stop is not None and options.stop_grace_s is not None
        asked: float | None = None
        while True:
            worker.join(0.02)
            if not worker.is_alive():
                break
            now = time.perf_counter()
            if asked is None and options.should_stop():
                asked = now
            if asked is not None and now - asked >= options.stop_grace_s:
                left_behind.set()
                values = seen["values"]
                kept = isinstance(values, np.ndarray) and len(values) == milp.n_cols
                bound = seen["bound"]
                return BackendResult(
                    SolveStatus.FEASIBLE if kept else SolveStatus.NO_SOLUTION,
                    values if kept else None,
                    float(milp.objective @ values + milp.offset) if kept else None,
                    bound if isinstance(bound, float) else None,
                    clock.elapsed(),
                    "stopped by the caller (HiGHS, in a step that takes no interrupt, "
                    "was left to end in the background)",
                )
        error = outcome.get("error")
        if isinstance(error, BaseException):
            raise error
        result = outcome["result"]
        assert isinstance(result, BackendResult)
        return result

    def _run(self, h, milp: MilpArrays, options: SolveOptions, warm_start: np.ndarray | None,
             threads: int, clock: Deadline, *,
             seen: dict[str, object] | None = None) -> BackendResult:
        """Solve ``milp`` with the configured ``h`` in the calling thread.

        Parameters
        ----------
        h
            A ``highspy.Highs`` with the solve's limits set (see :meth:`solve`).
        milp
            The model.
        options
            Solve options (callbacks, stop hook).
        warm_start
            A full variable vector to start from, or None.
        threads
            Thread count for HiGHS's scheduler in this thread.
        clock
            The solve's deadline.
        seen
            Filled with the last bound and incumbent the callbacks reported (shared with
            :meth:`_run_stoppable`); a fresh one if None.

        Returns
        -------
        BackendResult
            The outcome, with the callbacks' incumbent if HiGHS was interrupted.
        """
        _set_threads_and_presolve(h, milp, threads)
        pass_model(h, milp)
        _set_warm_start(h, warm_start)
        _subscribe_progress(h, options, clock)
        # HiGHS checks its time limit only between some phases: its root cut loop was seen
        # running 40 s past the limit. The MIP and simplex interrupt callbacks stop it at the
        # deadline (with the incumbent kept).
        if seen is None:
            seen = {"bound": None, "values": None}
        _subscribe_interrupts(h, options, clock, seen)
        h.run()
        outcome = _read_consistent_solution(h, milp, clock)
        if _was_interrupted(outcome.status, options, clock):
            return _interrupted_result(milp, outcome, seen, clock)
        return _final_result(h, outcome, clock)


def _set_threads_and_presolve(h, milp: MilpArrays, threads: int) -> None:
    """Set the thread count (and this thread's scheduler) and switch presolve off for big
    models.

    Parameters
    ----------
    h
        The ``highspy.Highs`` object.
    milp
        The model (its nonzero count decides presolve).
    threads
        Thread count for the solve.
    """
    _Scheduler.use(threads)
    h.setOptionValue("threads", threads)
    if milp.matrix.nnz > _PRESOLVE_MAX_NONZEROS:
        # Presolve neither checks the time limit nor takes an interrupt: on Brooklyn
        # (0.79 M nonzeros) it ran 35-48 s alone, 70 s with the other core busy.
        h.setOptionValue("presolve", "off")


def _set_warm_start(h, warm_start: np.ndarray | None) -> None:
    """Hand a full variable vector to HiGHS as its MIP start (nothing if None).

    Parameters
    ----------
    h
        The ``highspy.Highs`` object, with the model passed.
    warm_start
        Values of every column, or None.
    """
    if warm_start is None:
        return
    solution = _highspy().HighsSolution()
    solution.col_value = warm_start.astype(float).tolist()
    solution.value_valid = True
    h.setSolution(solution)


def _subscribe_progress(h, options: SolveOptions, clock: Deadline) -> None:
    """Report every improving MIP solution to ``options.progress`` (if set).

    Parameters
    ----------
    h
        The ``highspy.Highs`` object.
    options
        Solve options; nothing is subscribed without ``progress``.
    clock
        The solve's deadline (for the elapsed time in each event).
    """
    if options.progress is None:
        return
    callback = options.progress

    def report(event) -> None:
        out = event.data_out
        callback(
            ProgressEvent(
                source="highs",
                elapsed_s=clock.elapsed(),
                incumbent=float(out.objective_function_value),
                bound=float(out.mip_dual_bound),
            )
        )

    h.cbMipImprovingSolution.subscribe(report)


def _subscribe_interrupts(h, options: SolveOptions, clock: Deadline,
                          seen: dict[str, object]) -> None:
    """Subscribe the callbacks that stop HiGHS at the deadline or on the caller's stop,
    record its bound and incumbents in ``seen`` and take solutions offered by
    ``options.incoming``.

    Parameters
    ----------
    h
        The ``highspy.Highs`` object.
    options
        Solve options (``should_stop``, ``on_solution``, ``incoming``).
    clock
        The solve's deadline.
    seen
        Receives the last finite dual bound (``"bound"``) and incumbent (``"values"``).
    """

    def stop_lp_at_deadline(event) -> None:
        stop = clock.expired() or (
            options.should_stop is not None and options.should_stop())
        if stop and event.data_in is not None:
            # (highspy 1.16 made ``event.interrupt`` a method; the flag works in all.)
            event.data_in.user_interrupt = True

    def stop_at_deadline(event) -> None:
        bound = float(event.data_out.mip_dual_bound)
        if np.isfinite(bound):
            seen["bound"] = bound
        stop_lp_at_deadline(event)

    def keep_incumbent(event) -> None:
        values = np.asarray(event.data_out.mip_solution, dtype=float).copy()
        seen["values"] = values
        if options.on_solution is not None:
            options.on_solution(values, float(event.data_out.objective_function_value))

    def take_incoming(event) -> None:
        offered = options.incoming() if options.incoming is not None else None
        if offered is not None and event.data_in is not None:
            event.data_in.setSolution(np.asarray(offered, dtype=float))
            event.data_in.user_has_solution = True

    if options.incoming is not None:
        h.cbMipUserSolution.subscribe(take_incoming)
    h.cbMipInterrupt.subscribe(stop_at_deadline)
    # The root LP of a large model (Kings, 7,730 sites at 800 m) alone can outlast the
    # limit; stop the simplex too (the incumbent is the warm start or a callback's).
    h.cbSimplexInterrupt.subscribe(stop_lp_at_deadline)
    h.cbMipImprovingSolution.subscribe(keep_incumbent)


@dataclass
class _RunOutcome:
    """What HiGHS returned after a run: model status, info and the solution if any."""

    status: Any
    info: Any
    has_solution: bool
    values: np.ndarray | None
    objective: float | None


def _read_solution(h, objective_of: Callable[[Any, np.ndarray], float]) -> _RunOutcome:
    """Read the model status, info and primal solution of a finished run.

    Parameters
    ----------
    h
        The ``highspy.Highs`` object after ``run()``.
    objective_of
        Computes the objective from HiGHS's info and the column values.

    Returns
    -------
    _RunOutcome
        Values and objective are None when HiGHS has no primal solution.
    """
    status = h.getModelStatus()
    info = h.getInfo()
    has_solution = info.primal_solution_status == 2
    values = np.asarray(h.getSolution().col_value, dtype=float) if has_solution else None
    objective = objective_of(info, values) if has_solution else None
    return _RunOutcome(status, info, has_solution, values, objective)


def _read_consistent_solution(h, milp: MilpArrays, clock: Deadline) -> _RunOutcome:
    """Read the run's result, solving again without presolve when the returned column
    values do not match the reported objective.

    Parameters
    ----------
    h
        The ``highspy.Highs`` object after ``run()``.
    milp
        The model (to recompute the objective).
    clock
        The solve's deadline (the time left for a second run).

    Returns
    -------
    _RunOutcome
        The (possibly re-solved) result.
    """
    outcome = _read_solution(h, lambda info, _: float(info.objective_function_value))
    values, objective = outcome.values, outcome.objective
    stale = values is not None and objective is not None
    if stale and not _consistent(milp, values, objective):
        # Seen with HiGHS 1.16: after a MIP start, with presolve on, the reported optimum
        # is right but the returned column values are the start's. Solve again without
        # presolve (same start), which returns matching values.
        h.setOptionValue("presolve", "off")
        h.setOptionValue("time_limit", clock.left(at_least=1.0))
        h.run()
        outcome = _read_solution(h, lambda _, v: float(milp.objective @ v + milp.offset))
    return outcome


def _was_interrupted(status, options: SolveOptions, clock: Deadline) -> bool:
    """True when HiGHS ended without a proper status because our deadline passed or the
    caller asked to stop.

    Parameters
    ----------
    status
        HiGHS's model status.
    options
        Solve options (``should_stop``).
    clock
        The solve's deadline.
    """
    ms = _highspy().HighsModelStatus
    return status not in (ms.kOptimal, ms.kInfeasible, ms.kTimeLimit) and (
        clock.expired()
        or (options.should_stop is not None and options.should_stop()))


def _interrupted_result(milp: MilpArrays, outcome: _RunOutcome, seen: dict[str, object],
                        clock: Deadline) -> BackendResult:
    """The result of a run we interrupted: HiGHS reports an error and drops its incumbent
    and bound, so take the last ones its callbacks reported.

    Parameters
    ----------
    milp
        The model.
    outcome
        What HiGHS returned.
    seen
        The last bound and incumbent reported by the callbacks.
    clock
        The solve's deadline.

    Returns
    -------
    BackendResult
        Feasible with the kept incumbent, or without a solution.
    """
    values, objective, has_solution = outcome.values, outcome.objective, outcome.has_solution
    kept = seen["values"]
    if kept is not None and len(kept) == milp.n_cols:
        values = kept
        objective = float(milp.objective @ values + milp.offset)
        has_solution = True
    bound = seen["bound"]
    return BackendResult(
        SolveStatus.FEASIBLE if has_solution else SolveStatus.NO_SOLUTION,
        values if has_solution else None,
        objective if has_solution else None,
        bound if isinstance(bound, float) else None,
        clock.elapsed(),
        "stopped at the time limit" if clock.expired()
        else "stopped by the caller",
    )


def _result_status(status, has_solution: bool) -> SolveStatus:
    """Our status for HiGHS's model status.

    Parameters
    ----------
    status
        HiGHS's model status.
    has_solution
        Whether HiGHS returned a primal solution.

    Returns
    -------
    SolveStatus
        Optimal, infeasible, feasible, no solution (a limit or interrupt) or error.
    """
    ms = _highspy().HighsModelStatus
    if status == ms.kOptimal:
        return SolveStatus.OPTIMAL
    if status in (ms.kInfeasible, ms.kUnboundedOrInfeasible):
        return SolveStatus.INFEASIBLE
    if has_solution:
        return SolveStatus.FEASIBLE
    if status in (ms.kTimeLimit, ms.kIterationLimit, ms.kInterrupt, ms.kSolutionLimit):
        return SolveStatus.NO_SOLUTION
    return SolveStatus.ERROR


def _final_result(h, outcome: _RunOutcome, clock: Deadline) -> BackendResult:
    """The result of a run that ended by itself (optimal, infeasible, a limit or an error).

    Parameters
    ----------
    h
        The ``highspy.Highs`` object after the run.
    outcome
        What HiGHS returned.
    clock
        The solve's deadline.

    Returns
    -------
    BackendResult
        Status, values, objective, dual bound and HiGHS's status text.
    """
    runtime = clock.elapsed()
    info = outcome.info
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else None
    return BackendResult(
        status=_result_status(outcome.status, outcome.has_solution),
        values=outcome.values,
        objective=outcome.objective,
        bound=bound,
        runtime_s=runtime,
        message=h.modelStatusToString(outcome.status),
    )


def highs_lp_duals(problem, *, time_limit_s: float,
                   should_stop: Callable[[], bool] | None = None) -> np.ndarray | None:
    """Duals of the coverage rows of the LP relaxation (coverage rows and budget only),
    by interior point without crossover; None if it did not finish in time or
    ``should_stop`` (polled by the interior point) returned True first."""
    hp = _highspy()
    n, m = problem.n_columns, problem.n_groups
    cover = problem.cover.tocoo()
    rows = np.concatenate([cover.row, np.arange(m)])
    cols = np.concatenate([cover.col, n + np.arange(m)])
    values = np.concatenate([-np.ones(cover.nnz), np.ones(m)])
    upper = [np.zeros(m)]
    budget = problem.instance.budget
    if np.isfinite(budget):
        rows = np.concatenate([rows, np.full(n, m)])
        cols = np.concatenate([cols, np.arange(n)])
        values = np.concatenate([values, problem.column_cost.astype(float)])
        upper.append(np.array([budget]))
    row_upper = np.concatenate(upper)
    matrix = sparse.csr_matrix((values, (rows, cols)), shape=(len(row_upper), n + m))
    lp = _highs_lp(np.concatenate([np.zeros(n), problem.group_weight]), np.zeros(n + m),
                   np.ones(n + m), matrix, np.full(len(row_upper), -np.inf), row_upper,
                   maximize=True)
    h = new_highs()
    h.setOptionValue("solver", "ipm")
    h.setOptionValue("run_crossover", "off")
    h.setOptionValue("time_limit", float(max(time_limit_s, 0.01)))
    if should_stop is not None:

        def interrupt(event) -> None:
            if should_stop() and event.data_in is not None:
                event.data_in.user_interrupt = True

        h.cbIpmInterrupt.subscribe(interrupt)
    _Scheduler.use(1)
    h.setOptionValue("threads", 1)
    h.passModel(lp)
    h.run()
    if h.getModelStatus() != hp.HighsModelStatus.kOptimal:
        return None
    return np.asarray(h.getSolution().row_dual, dtype=float)[:m]
