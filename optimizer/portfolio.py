r"""Search and proof side by side for plain coverage models.

Two workers share the best plan:

* The **search** (the calling thread) runs *chains* of compiled iterated local search
  (:class:`~optimizer.local_search.CoverageSearch`), each from the best plan with its own
  seed. After every chain the best few distinct plans found so far are **merged**: the
  MIP restricted to the union :math:`U` of their open columns,

  .. math::

      \max \sum_g w_g y_g \quad\text{s.t.}\quad y_g \le \sum_{k \in U \cap K(g)} x_k,
      \quad \text{every other constraint unchanged},

  is solved by HiGHS (:func:`~optimizer.subproblem.restricted_problem`). Every plan in
  the pool is feasible for it, so the merged plan is at least as good as the best of them,
  and it recombines the parts in which the plans differ.
* The **MIP** (HiGHS branch-and-cut on the whole model, in a second thread) starts from
  the search's plan, takes every better plan the search finds as its incumbent (which
  prunes its tree), supplies the proven bound, and hands its own improving plans to the
  search's pool.

The run stops at the time limit, when the MIP proves optimality, or when the best plan
meets the best bound within the relative gap. Other backends (CBC, OR-Tools) take no
incumbents while they run, so for them, and with a single thread, the search runs first
and the MIP gets the remaining time, warm-started from the search's plan.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from optimizer.bounds import lagrangian_bound, lp_dual_bound
from optimizer.local_search import CoverageSearch
from optimizer.model import MilpArrays, build_milp, full_solution
from optimizer.reduce import ReducedProblem
from optimizer.solvers.base import BackendResult, ProgressEvent, SolveOptions, SolveStatus
from optimizer.subproblem import restricted_problem

_CHAIN_SHARE = 0.08  # of the time limit, per search chain (clipped to 0.5-5 s)
_SEQUENTIAL_SEARCH_SHARE = 0.5  # search share of the time when the MIP cannot run beside it
_CHAIN_STALL_ROUNDS = 2000  # a chain ends after this many rounds without a new best
_IDLE_CHAINS = 3  # without a MIP beside it, the search ends after this many fruitless chains
_WALKERS = 4  # independent search chains, merged after every turn
_RESTART_NOISE = 0.5  # randomised greedy for a walker that stopped improving
_MERGE_SHARE = 0.4  # a merge may take this share of a chain's time
_LP_BOUND_SHARE = 0.5  # most of the time limit the interior-point LP bound may take
# Above this many nonzeros HiGHS (presolve off, see optimizer.solvers.highs) had not
# finished its root LP in 60 s on Brooklyn: a second search chain runs instead.
_MIP_MAX_NONZEROS = 600_000
_MIP_MARGIN_SHARE = 0.05  # branch-and-cut is asked to end this share of the limit early,
_MIP_MARGIN_MAX_S = 3.0  # at most this many seconds
# On such models the interior point may not finish either (the 200,000-unit city: not in
# 60 s), so a longer subgradient run goes first: this share of the limit, at most 6 s
# (city: 2,922,520 in 5 s, against 3,096,606 from the 1 s run before the search).
_HUGE_LAGRANGIAN_SHARE = 0.1
_HUGE_LAGRANGIAN_MAX_S = 6.0
# After a stop on request, HiGHS gets this long to end by itself before it is left to end
# in the background (it takes no interrupt in presolve or its root LP).
STOP_GRACE_S = 0.5


@dataclass(frozen=True, eq=False)
class PortfolioResult:
    """The best plan of both workers, the MIP's own result, the best bound either proved
    (the MIP's, the LP bound, or the bound given), and what the search did."""

    columns: np.ndarray
    value: float
    source: str
    mip: BackendResult | None
    milp: MilpArrays | None
    bound: float
    report: dict[str, float | int] = field(default_factory=dict)


def _improves(value: float, than: float) -> bool:
    return value > than + 1e-9 * max(1.0, abs(than))


def plan_value(problem: ReducedProblem, columns: np.ndarray) -> float:
    """Objective of a plan on the reduced problem (constant included)."""
    x = np.zeros(problem.n_columns)
    x[np.asarray(columns, dtype=np.int64)] = 1.0
    covered = (problem.cover @ x) > 0.5
    return problem.constant + float(problem.group_weight[covered].sum())


class _Shared:
    """What the two workers exchange, under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.offer: np.ndarray | None = None
        self.mip_plans: list[tuple[np.ndarray, float, str]] = []
        self.events: list[ProgressEvent] = []
        self.mip_bound: float | None = None
        self.mip_result: BackendResult | None = None
        self.stop = False

    def tighten(self, bound: float) -> None:
        """Keep the lower of the bound held and ``bound`` (the caller holds the lock)."""
        self.mip_bound = bound if self.mip_bound is None else min(self.mip_bound, bound)

    def take_offer(self) -> np.ndarray | None:
        with self.lock:
            offered, self.offer = self.offer, None
        return offered


def merge_plans(problem: ReducedProblem, plans: list[np.ndarray], best: np.ndarray,
                fixed: np.ndarray, *, time_limit_s: float, seed: int = 0,
                should_stop: Callable[[], bool] | None = None
                ) -> tuple[np.ndarray, float, int]:
    """Solve the MIP over the union of the plans' columns (``fixed`` columns stay open).

    Returns the merged plan's columns, its objective (never below ``best``'s, which is
    among ``plans``) and the size of the union. ``should_stop`` is polled by HiGHS, which
    then ends early with what it has.
    """
    from optimizer.solvers.highs import HighsBackend

    union = np.unique(np.concatenate([np.asarray(p, dtype=np.int64) for p in plans]))
    sub, free = restricted_problem(problem, union, fixed)
    milp = build_milp(sub)
    warm = full_solution(sub, np.nonzero(np.isin(free, best))[0], milp)
    result = HighsBackend().solve(milp, options=SolveOptions(
        time_limit_s=time_limit_s, mip_gap=1e-6, threads=1, seed=seed,
        should_stop=should_stop), warm_start=warm)
    best_value = plan_value(problem, best)
    if result.values is None:
        return best, best_value, len(union)
    merged = np.concatenate([fixed, free[result.values[: milp.n_x] > 0.5]])
    value = plan_value(problem, merged)
    if value <= best_value:
        return best, best_value, len(union)
    return np.sort(merged), value, len(union)


def run_portfolio(
    problem: ReducedProblem,
    start: np.ndarray,
    *,
    backend,
    time_limit_s: float,
    mip_gap: float,
    threads: int | None,
    seed: int,
    verbose: bool,
    upper_bound: float,
    emit: Callable[[ProgressEvent], None],
    use_mip: bool = True,
    started: float | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> PortfolioResult:
    """Improve ``start`` by search and merging while the MIP proves a bound.

    Parameters
    ----------
    problem
        A plain coverage problem (:func:`optimizer.lns.lns_applicable`).
    start
        Open columns of a feasible plan (the greedy's).
    backend
        The MIP backend; HiGHS runs beside the search, others after it.
    time_limit_s
        Wall time for everything this function does.
    mip_gap
        Relative gap at which the run may stop.
    threads
        Threads in all; the MIP beside the search gets one fewer (at least one). With
        one thread the search and the MIP take turns.
    upper_bound
        A bound known before (Lagrangian or trivial); the run stops when the plan meets it.
    emit
        Receives progress events, always from the calling thread.
    use_mip
        False: search only.
    started
        ``time.perf_counter()`` of the whole solve, for the events' elapsed times.
    should_stop
        The caller's cancel hook (thread-safe). Polled for the search every 20 ms by a
        helper thread (the compiled search ends within one round), before every merge,
        restart and MIP, and by HiGHS (bounds and branch-and-cut, which is left to end in
        the background if it takes no interrupt within ``STOP_GRACE_S``); once it returns
        True both workers end and the best plan so far is returned (CBC and OR-Tools are
        not started after it, but cannot be stopped once running).
    """
    clock0 = time.perf_counter()
    started = clock0 if started is None else started
    deadline = clock0 + time_limit_s
    shared = _Shared()
    search = CoverageSearch(problem)
    if not search.load(start):
        raise ValueError("the start plan breaks a constraint of the problem")
    fixed = search.fixed_columns()
    best = search.columns()
    best_value = search.value
    source = "greedy"
    report: dict[str, float | int] = {"search_start_objective": best_value, "chains": 0,
                                      "search_rounds": 0, "merges": 0, "merge_gains": 0,
                                      "merge_s": 0.0, "mip_plans_taken": 0}
    concurrent = use_mip and backend.name == "highs" and (threads is None or threads >= 2)
    milp: MilpArrays | None = None
    worker: threading.Thread | None = None

    def cancelled() -> bool:
        return should_stop is not None and should_stop()

    if should_stop is None:
        def stop_mip() -> bool:
            return shared.stop
    else:
        def stop_mip() -> bool:
            return shared.stop or should_stop()

    def bound_now() -> float:
        bound = upper_bound
        if shared.mip_bound is not None:
            bound = min(bound, shared.mip_bound)
        return bound

    def closed() -> bool:
        # Strictly (the MIP stops by itself within its gap once it holds the plan).
        bound = bound_now()
        return best_value >= bound - 1e-6 * max(1.0, abs(bound))

    def mip_options(limit: float) -> SolveOptions:
        def on_progress(event: ProgressEvent) -> None:
            with shared.lock:
                if event.bound is not None and np.isfinite(event.bound):
                    shared.tighten(event.bound)
                shared.events.append(ProgressEvent(
                    event.source, mip_clock[0] + event.elapsed_s, event.incumbent,
                    min(event.bound, upper_bound) if event.bound is not None and np.isfinite(
                        event.bound) else upper_bound))

        def on_solution(values: np.ndarray, _objective: float) -> None:
            columns = np.nonzero(values[: problem.n_columns] > 0.5)[0]
            with shared.lock:
                shared.mip_plans.append((columns, plan_value(problem, columns), backend.name))

        mip_threads = threads if not concurrent else max(1, (threads or 2) - 1)
        return SolveOptions(time_limit_s=limit, mip_gap=mip_gap, threads=mip_threads,
                            seed=seed, verbose=verbose, progress=on_progress,
                            should_stop=stop_mip,
                            incoming=shared.take_offer if concurrent else None,
                            on_solution=on_solution,
                            stop_grace_s=None if should_stop is None else STOP_GRACE_S)

    longest_restart = [0.0]

    def restart(walker: CoverageSearch, restart_seed: int, until: float) -> bool:
        # A randomised greedy plan and its full descent, unless the longest restart so far
        # would not fit twice in the time left (the descent cannot be interrupted).
        if until - time.perf_counter() < 2.0 * longest_restart[0] + 0.05 or cancelled():
            return False
        tick = time.perf_counter()
        walker.start(noise=_RESTART_NOISE, seed=restart_seed)
        walker.descend()
        longest_restart[0] = max(longest_restart[0], time.perf_counter() - tick)
        return True

    chain_s = float(np.clip(_CHAIN_SHARE * time_limit_s, 0.5, 5.0))
    mip_clock = [0.0]  # when the MIP started, on the solve's clock
    if concurrent:
        milp = build_milp(problem)
        warm = full_solution(problem, best, milp)

        def record_bound(source: str, key: str, value: float) -> None:
            with shared.lock:
                shared.tighten(value)
                shared.events.append(ProgressEvent(
                    source, time.perf_counter() - started, None, value))
                report[key] = value

        def run_mip() -> None:
            # First the LP bound by interior point (seconds where HiGHS's own root LP by
            # simplex takes minutes), then branch-and-cut for the rest of the time.
            huge = milp.matrix.nnz > _MIP_MAX_NONZEROS
            if huge:
                record_bound("lagrangian", "lagrangian_bound", lagrangian_bound(
                    problem, target=float(report["search_start_objective"]),
                    max_iterations=100_000,
                    time_limit_s=min(_HUGE_LAGRANGIAN_MAX_S,
                                     _HUGE_LAGRANGIAN_SHARE * time_limit_s),
                    should_stop=should_stop))
            lp_bound = None if cancelled() else lp_dual_bound(
                problem, time_limit_s=_LP_BOUND_SHARE * time_limit_s, should_stop=should_stop)
            if lp_bound is not None:
                record_bound("lp-bound", "lp_bound", lp_bound)
            if cancelled():
                return
            if huge:
                second_search()
                return
            # HiGHS checks its limit and the interrupt only between some steps (Bronx p=70:
            # 2-4 s late), so it is asked to end a little early.
            margin = min(_MIP_MARGIN_MAX_S, _MIP_MARGIN_SHARE * time_limit_s)
            options = mip_options(max(0.5, deadline - margin - time.perf_counter()))
            mip_clock[0] = time.perf_counter() - started
            result = backend.solve(milp, options=options, warm_start=warm)
            with shared.lock:
                shared.mip_result = result
                if result.status == SolveStatus.OPTIMAL and result.bound is not None:
                    shared.tighten(result.bound)

        def second_search() -> None:
            # Branch-and-cut cannot even finish its root LP here: a second search chain
            # uses the core instead, its plans joining the pool like the MIP's would.
            report["second_search"] = 1
            helper = CoverageSearch(problem)
            helper.load(start)
            turn = 0

            def share(columns: np.ndarray, value: float) -> None:
                with shared.lock:
                    shared.mip_plans.append((columns, value, "ils-2"))

            while not stop_mip() and time.perf_counter() < deadline - 0.05:
                turn += 1
                before = helper.value
                found = helper.iterate(
                    time_limit_s=min(chain_s, deadline - time.perf_counter()),
                    seed=seed + 100_003 * turn, on_improvement=share,
                    max_stall_rounds=_CHAIN_STALL_ROUNDS, should_stop=stop_mip,
                    interrupt=should_stop)
                share(found.columns, found.objective)
                if not _improves(found.objective, before):
                    restart(helper, seed + 7 * turn, deadline)

        worker = threading.Thread(target=run_mip, name="lifecircle-mip", daemon=True)
        worker.start()

    last_elapsed = [0.0]

    def announce(how: str, elapsed: float) -> None:
        # Events state the best plan and bound of the whole run, in time order.
        last_elapsed[0] = max(last_elapsed[0], elapsed)
        emit(ProgressEvent(how, last_elapsed[0], best_value, bound_now()))

    def publish(columns: np.ndarray, value: float, how: str) -> None:
        nonlocal best, best_value, source
        best, best_value, source = np.sort(columns), value, how
        if concurrent and milp is not None and how != backend.name:
            offered = full_solution(problem, best, milp)
            with shared.lock:
                shared.offer = offered
        announce(how, time.perf_counter() - started)

    def drain() -> None:
        """Take the MIP's news: its plans into the pool (and the lead, if better), its
        bound into the progress stream."""
        nonlocal best, best_value, source
        with shared.lock:
            events, shared.events = shared.events, []
            plans, shared.mip_plans = shared.mip_plans, []
        for columns, value, how in plans:
            recent_mip_plans.append(columns)
            if _improves(value, best_value):
                report["mip_plans_taken"] += 1
                best, best_value, source = np.sort(columns), value, how
                if how != backend.name:
                    announce(how, time.perf_counter() - started)
        for event in events:
            announce(event.source, event.elapsed_s)

    def keep_going() -> bool:
        """Polled by the search between chunks: pass on the MIP's news, say when to stop."""
        drain()
        return mip_done() or closed() or cancelled()

    walkers = [search]
    recent_mip_plans: list[np.ndarray] = []
    mip_finished_optimal = False

    def mip_done() -> bool:
        result = shared.mip_result
        return result is not None and result.status in (SolveStatus.OPTIMAL,
                                                         SolveStatus.INFEASIBLE)

    search_until = deadline if (concurrent or not use_mip) else (
        clock0 + _SEQUENTIAL_SEARCH_SHARE * time_limit_s)
    idle = 0
    while True:
        drain()
        left = search_until - time.perf_counter()
        if left <= 0.05 or closed() or problem.n_columns == 0 or cancelled():
            break
        if mip_done():
            mip_finished_optimal = True
            break
        report["chains"] += 1
        turn = (report["chains"] - 1) % _WALKERS
        if turn == len(walkers):
            walker = CoverageSearch(problem)
            if restart(walker, seed + 7919 * report["chains"], search_until):
                walkers.append(walker)
            turn %= len(walkers)
        walker = walkers[turn]

        def improved(columns: np.ndarray, value: float) -> None:
            if _improves(value, best_value):
                publish(columns, value, "ils")

        value_before = best_value
        walker_before = walker.value
        found = walker.iterate(time_limit_s=min(chain_s, left), seed=seed + report["chains"],
                               target=bound_now(), on_improvement=improved,
                               max_stall_rounds=_CHAIN_STALL_ROUNDS,
                               should_stop=keep_going, interrupt=should_stop)
        report["search_rounds"] += found.rounds
        left = search_until - time.perf_counter()
        plans = [w.columns() for w in walkers] + [best] + recent_mip_plans[-2:]
        if len(walkers) >= 2 and left > 0.2 and not closed() and not cancelled():
            tick = time.perf_counter()
            merged, value, union = merge_plans(problem, plans, best, fixed,
                                               time_limit_s=min(left, _MERGE_SHARE * chain_s),
                                               seed=seed, should_stop=should_stop)
            report["merges"] += 1
            report["merge_s"] += time.perf_counter() - tick
            report["largest_merge"] = max(int(report.get("largest_merge", 0)), union)
            if _improves(value, best_value):
                report["merge_gains"] += 1
                publish(merged, value, "merge")
        if not _improves(found.objective, walker_before):
            # The walker is stuck: start it again from a randomised greedy plan.
            report["walker_restarts"] = int(report.get("walker_restarts", 0)) + 1
            restart(walker, seed + 7919 * report["chains"], search_until)
        idle = 0 if best_value > value_before else idle + 1
        if idle >= _IDLE_CHAINS and worker is None:
            break  # nothing runs beside the search and it has stopped finding anything
    report["search_s"] = time.perf_counter() - clock0

    mip_result: BackendResult | None = None
    if worker is not None:
        shared.stop = closed() or mip_finished_optimal or time.perf_counter() >= deadline
        if not shared.stop:
            shared.stop = True
        worker.join()
        mip_result = shared.mip_result
    elif use_mip and not closed() and not cancelled():
        milp = build_milp(problem)
        mip_clock[0] = time.perf_counter() - started
        left = max(0.5, deadline - time.perf_counter())
        mip_result = backend.solve(milp, options=mip_options(left),
                                   warm_start=full_solution(problem, best, milp))
        with shared.lock:
            if mip_result.bound is not None and mip_result.status != SolveStatus.ERROR:
                shared.tighten(mip_result.bound)
    drain()
    report["search_objective"] = best_value
    return PortfolioResult(columns=best, value=best_value, source=source, mip=mip_result,
                           milp=milp, bound=bound_now(), report=report)
