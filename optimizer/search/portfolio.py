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

The code keeps the schedule apart from the work. :func:`plan_schedule` decides who runs
when, on which core and until when (:class:`Schedule`); the participants are
:func:`_search` (the calling thread), :func:`_mip_beside` or, on models too large for
branch-and-cut, :func:`_second_search` (the second thread), and :func:`_mip_after` (the
MIP after the search). They share a ``_Crew``: the problem, the schedule, the
``_Exchange`` (plans, bounds and events passed between the threads under one lock) and
the ``_Lead`` (the best plan, held by the calling thread, which announces progress).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from optimizer.deadline import Deadline, StopSignal
from optimizer.model.milp import MilpArrays, build_milp, full_solution
from optimizer.model.reduce import ReducedProblem
from optimizer.search.bounds import lagrangian_bound, lp_dual_bound
from optimizer.search.local_search import CoverageSearch
from optimizer.search.subproblem import restricted_problem
from optimizer.solvers.base import (
    Backend,
    BackendResult,
    ProgressEvent,
    SolveOptions,
    SolveStatus,
)

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
    """``value`` is above ``than`` by more than a relative 1e-9."""
    return value > than + 1e-9 * max(1.0, abs(than))


def plan_value(problem: ReducedProblem, columns: np.ndarray) -> float:
    """Objective of a plan on the reduced problem (constant included)."""
    x = np.zeros(problem.n_columns)
    x[np.asarray(columns, dtype=np.int64)] = 1.0
    covered = (problem.cover @ x) > 0.5
    return problem.constant + float(problem.group_weight[covered].sum())


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


@dataclass(frozen=True)
class Schedule:
    r"""Who runs when, on which core, until when.

    With HiGHS and at least two threads the MIP runs *beside* the search::

        calling thread  search chains, merged after every chain ........... deadline
        second thread   [Lagrangian] LP bound, branch-and-cut ... deadline - margin
                        (models too large for branch-and-cut: a second search chain)

    Otherwise (CBC, OR-Tools, one thread) the search runs until ``search_until``, half the
    time, and the MIP after it until the deadline; with ``use_mip=False`` the search alone
    runs until the deadline. Every share below is of ``budget_s``, the time the portfolio
    had when it started.

    Attributes
    ----------
    deadline
        The end of the portfolio (and of the solve).
    search_until
        The end of the search.
    budget_s
        Seconds from the portfolio's start to the deadline.
    started
        ``time.perf_counter()`` at the portfolio's start (for ``search_s``).
    concurrent
        The MIP runs beside the search, on the second thread.
    mip_threads
        Threads for the MIP (one fewer than given when beside the search, at least one).
    """

    deadline: Deadline
    search_until: Deadline
    budget_s: float
    started: float
    concurrent: bool
    mip_threads: int | None

    @property
    def chain_s(self) -> float:
        r"""Seconds per search chain, :math:`0.08\,T` clipped to 0.5-5 s."""
        return float(np.clip(_CHAIN_SHARE * self.budget_s, 0.5, 5.0))

    @property
    def merge_s(self) -> float:
        """Most seconds one merge may take."""
        return _MERGE_SHARE * self.chain_s

    @property
    def lp_bound_s(self) -> float:
        """Most seconds the interior-point LP bound may take."""
        return _LP_BOUND_SHARE * self.budget_s

    @property
    def huge_lagrangian_s(self) -> float:
        """Seconds of the longer subgradient run on models too large for branch-and-cut."""
        return min(_HUGE_LAGRANGIAN_MAX_S, _HUGE_LAGRANGIAN_SHARE * self.budget_s)

    @property
    def mip_until(self) -> Deadline:
        """When branch-and-cut beside the search is asked to end: HiGHS checks its limit
        and interrupt only between some steps (Bronx p=70: 2-4 s late), so a little early."""
        return self.deadline.before(min(_MIP_MARGIN_MAX_S, _MIP_MARGIN_SHARE * self.budget_s))


def plan_schedule(deadline: Deadline, *, backend_name: str, threads: int | None,
                  use_mip: bool) -> Schedule:
    """The schedule of a portfolio starting now (see :class:`Schedule`)."""
    started = time.perf_counter()
    concurrent = use_mip and backend_name == "highs" and (threads is None or threads >= 2)
    search_alone = concurrent or not use_mip
    return Schedule(
        deadline=deadline,
        search_until=deadline if search_alone else deadline.split(_SEQUENTIAL_SEARCH_SHARE),
        budget_s=deadline.left(),
        started=started,
        concurrent=concurrent,
        mip_threads=max(1, (threads or 2) - 1) if concurrent else threads,
    )


class _Exchange:
    """What the search and the MIP hand each other, under one lock."""

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
        """The search's latest plan for the MIP (once), as a full variable vector."""
        with self.lock:
            offered, self.offer = self.offer, None
        return offered

    def post_plan(self, columns: np.ndarray, value: float, source: str) -> None:
        """A plan for the search's pool (from the MIP or the second search chain)."""
        with self.lock:
            self.mip_plans.append((columns, value, source))

    def take_news(self) -> tuple[list[ProgressEvent], list[tuple[np.ndarray, float, str]]]:
        """The events and plans posted since the last call."""
        with self.lock:
            events, self.events = self.events, []
            plans, self.mip_plans = self.mip_plans, []
        return events, plans

    def mip_done(self) -> bool:
        """The MIP has proven optimality or infeasibility."""
        result = self.mip_result
        return result is not None and result.status in (SolveStatus.OPTIMAL,
                                                         SolveStatus.INFEASIBLE)


class _Lead:
    """The best plan of the run, held (and changed) by the calling thread only, and the
    progress events it announces: the best plan and bound of the whole run, in time
    order."""

    def __init__(self, problem: ReducedProblem, columns: np.ndarray, value: float, *,
                 upper_bound: float, exchange: _Exchange, clock: Deadline,
                 emit: Callable[[ProgressEvent], None], report: dict[str, float | int],
                 mip_name: str, offer_to: MilpArrays | None) -> None:
        self.problem = problem
        self.columns, self.value, self.source = columns, value, "greedy"
        self.upper_bound = upper_bound
        self.exchange = exchange
        self.clock = clock
        self.emit = emit
        self.report = report
        self.mip_name = mip_name
        self.offer_to = offer_to
        self.recent_mip_plans: list[np.ndarray] = []
        self._last_elapsed = 0.0

    def bound(self) -> float:
        """The best bound of the run: the one given, or the MIP's and LP's if lower."""
        bound = self.upper_bound
        if self.exchange.mip_bound is not None:
            bound = min(bound, self.exchange.mip_bound)
        return bound

    def closed(self) -> bool:
        """The plan meets the bound (strictly: the MIP stops by itself within its gap
        once it holds the plan)."""
        bound = self.bound()
        return self.value >= bound - 1e-6 * max(1.0, abs(bound))

    def announce(self, how: str, elapsed: float) -> None:
        """Emit the lead and bound, stamped no earlier than the last event."""
        self._last_elapsed = max(self._last_elapsed, elapsed)
        self.emit(ProgressEvent(how, self._last_elapsed, self.value, self.bound()))

    def publish(self, columns: np.ndarray, value: float, how: str) -> None:
        """Take a better plan of the search, offer it to the MIP beside, announce it."""
        self.columns, self.value, self.source = np.sort(columns), value, how
        if self.offer_to is not None and how != self.mip_name:
            offered = full_solution(self.problem, self.columns, self.offer_to)
            with self.exchange.lock:
                self.exchange.offer = offered
        self.announce(how, self.clock.elapsed())

    def search_improved(self, columns: np.ndarray, value: float) -> None:
        """A search chain's ``on_improvement``: publish the plan if it leads."""
        if _improves(value, self.value):
            self.publish(columns, value, "ils")

    def drain(self) -> None:
        """Take the MIP's news: its plans into the pool (and the lead, if better), its
        bound into the progress stream."""
        events, plans = self.exchange.take_news()
        for columns, value, how in plans:
            self.recent_mip_plans.append(columns)
            if _improves(value, self.value):
                self.report["mip_plans_taken"] += 1
                self.columns, self.value, self.source = np.sort(columns), value, how
                if how != self.mip_name:
                    self.announce(how, self.clock.elapsed())
        for event in events:
            self.announce(event.source, event.elapsed_s)


class _Restarts:
    """Randomised greedy plans and their full descent for walkers that stopped improving.

    A descent cannot be interrupted, so a restart begins only if the longest so far would
    fit twice in the time left (shared by both threads' walkers)."""

    def __init__(self) -> None:
        self.longest = 0.0

    def __call__(self, walker: CoverageSearch, seed: int, until: Deadline) -> bool:
        if until.left() < 2.0 * self.longest + 0.05 or until.stopped():
            return False
        tick = time.perf_counter()
        walker.start(noise=_RESTART_NOISE, seed=seed)
        walker.descend()
        self.longest = max(self.longest, time.perf_counter() - tick)
        return True


@dataclass(frozen=True, eq=False)
class _Crew:
    """What every participant of the portfolio shares."""

    problem: ReducedProblem
    start: np.ndarray
    schedule: Schedule
    backend: Backend
    mip_gap: float
    seed: int
    verbose: bool
    upper_bound: float
    exchange: _Exchange
    lead: _Lead
    report: dict[str, float | int]
    restarts: _Restarts = field(default_factory=_Restarts)

    @property
    def stop(self) -> StopSignal:
        """The caller's stop signal."""
        return self.schedule.deadline.stop

    def cancelled(self) -> bool:
        """The caller asked to stop."""
        return self.schedule.deadline.stopped()

    def mip_should_stop(self) -> bool:
        """The MIP's (and second search's) stop hook: the search is done, or a stop."""
        return self.exchange.stop or self.cancelled()

    def record_bound(self, source: str, key: str, value: float) -> None:
        """A bound proven on the second thread, for the lead, the stream and the report."""
        with self.exchange.lock:
            self.exchange.tighten(value)
            self.exchange.events.append(ProgressEvent(
                source, self.schedule.deadline.elapsed(), None, value))
            self.report[key] = value


def run_portfolio(
    problem: ReducedProblem,
    start: np.ndarray,
    *,
    backend: Backend,
    deadline: Deadline,
    mip_gap: float,
    threads: int | None,
    seed: int,
    verbose: bool,
    upper_bound: float,
    emit: Callable[[ProgressEvent], None],
    use_mip: bool = True,
) -> PortfolioResult:
    """Improve ``start`` by search and merging while the MIP proves a bound.

    Parameters
    ----------
    problem
        A plain coverage problem (:func:`optimizer.lns.lns_applicable`).
    start
        Open columns of a feasible plan (the greedy's).
    backend
        The MIP backend; HiGHS runs beside the search, others after it (see
        :class:`Schedule`).
    deadline
        When everything this function does ends; its ``started`` stamps the events, its
        stop signal is the caller's cancel hook (thread-safe). The signal is polled for
        the search every 20 ms by a helper thread (the compiled search ends within one
        round), before every merge, restart and MIP, and by HiGHS (bounds and
        branch-and-cut, which is left to end in the background if it takes no interrupt
        within ``STOP_GRACE_S``); once it says stop both workers end and the best plan so
        far is returned (CBC and OR-Tools are not started after it, but cannot be
        stopped once running).
    mip_gap
        Relative gap at which the run may stop.
    threads
        Threads in all; the MIP beside the search gets one fewer (at least one). With
        one thread the search and the MIP take turns.
    seed, verbose
        Seed of the search and the MIP; the MIP's log.
    upper_bound
        A bound known before (Lagrangian or trivial); the run stops when the plan meets it.
    emit
        Receives progress events, always from the calling thread.
    use_mip
        False: search only.
    """
    schedule = plan_schedule(deadline, backend_name=backend.name, threads=threads,
                             use_mip=use_mip)
    search = CoverageSearch(problem)
    if not search.load(start):
        raise ValueError("the start plan breaks a constraint of the problem")
    report: dict[str, float | int] = {"search_start_objective": search.value, "chains": 0,
                                      "search_rounds": 0, "merges": 0, "merge_gains": 0,
                                      "merge_s": 0.0, "mip_plans_taken": 0}
    milp = build_milp(problem) if schedule.concurrent else None
    exchange = _Exchange()
    lead = _Lead(problem, search.columns(), search.value, upper_bound=upper_bound,
                 exchange=exchange, clock=deadline, emit=emit, report=report,
                 mip_name=backend.name, offer_to=milp)
    crew = _Crew(problem, start, schedule, backend, mip_gap, seed, verbose, upper_bound,
                 exchange, lead, report)
    worker: threading.Thread | None = None
    if milp is not None:
        worker = threading.Thread(target=_mip_beside, name="lifecircle-mip", daemon=True,
                                  args=(crew, milp, full_solution(problem, lead.columns, milp)))
        worker.start()
    _search(crew, search, search.fixed_columns(), mip_beside=worker is not None)
    report["search_s"] = time.perf_counter() - schedule.started
    mip_result: BackendResult | None = None
    if worker is not None:
        exchange.stop = True
        worker.join()
        mip_result = exchange.mip_result
    elif use_mip and not lead.closed() and not crew.cancelled():
        mip_result, milp = _mip_after(crew)
    lead.drain()
    report["search_objective"] = lead.value
    return PortfolioResult(columns=lead.columns, value=lead.value, source=lead.source,
                           mip=mip_result, milp=milp, bound=lead.bound(), report=report)


def _search(crew: _Crew, first: CoverageSearch, fixed: np.ndarray, *,
            mip_beside: bool) -> None:
    """The calling thread: chains of iterated local search, taking turns among up to
    ``_WALKERS`` walkers, the plans merged after every chain.

    Ends at ``search_until``, when the plan meets the bound, when the MIP beside has
    proven optimality, on a stop, or (nothing beside it) after ``_IDLE_CHAINS`` chains
    without a better plan.
    """
    lead, report, schedule = crew.lead, crew.report, crew.schedule
    until = schedule.search_until
    walkers = [first]
    idle = 0

    def keep_going() -> bool:
        """Polled by the search between chunks: pass on the MIP's news, say when to stop."""
        lead.drain()
        return crew.exchange.mip_done() or lead.closed() or crew.cancelled()

    while True:
        lead.drain()
        left = until.left()
        if left <= 0.05 or lead.closed() or crew.problem.n_columns == 0 or crew.cancelled():
            break
        if crew.exchange.mip_done():
            break
        report["chains"] += 1
        walker = _next_walker(crew, walkers)
        value_before = lead.value
        walker_before = walker.value
        found = walker.iterate(time_limit_s=min(schedule.chain_s, left),
                               seed=crew.seed + report["chains"], target=lead.bound(),
                               on_improvement=lead.search_improved,
                               max_stall_rounds=_CHAIN_STALL_ROUNDS,
                               should_stop=keep_going, interrupt=crew.stop.hook)
        report["search_rounds"] += found.rounds
        _merge(crew, walkers, fixed)
        if not _improves(found.objective, walker_before):
            # The walker is stuck: start it again from a randomised greedy plan.
            report["walker_restarts"] = int(report.get("walker_restarts", 0)) + 1
            crew.restarts(walker, crew.seed + 7919 * report["chains"], until)
        idle = 0 if lead.value > value_before else idle + 1
        if idle >= _IDLE_CHAINS and not mip_beside:
            break  # nothing runs beside the search and it has stopped finding anything


def _next_walker(crew: _Crew, walkers: list[CoverageSearch]) -> CoverageSearch:
    """The walker whose turn it is; a new one (from a randomised greedy plan) while there
    are fewer than ``_WALKERS`` and a restart fits in the time."""
    chain = int(crew.report["chains"])
    turn = (chain - 1) % _WALKERS
    if turn >= len(walkers):  # (a restart that did not fit leaves fewer walkers than turns)
        walker = CoverageSearch(crew.problem)
        if crew.restarts(walker, crew.seed + 7919 * chain, crew.schedule.search_until):
            walkers.append(walker)
        turn %= len(walkers)
    return walkers[turn]


def _merge(crew: _Crew, walkers: list[CoverageSearch], fixed: np.ndarray) -> None:
    """Merge the walkers' plans, the lead and the MIP's two latest plans
    (:func:`merge_plans`), once there are two walkers and time; publish a gain."""
    lead, report = crew.lead, crew.report
    left = crew.schedule.search_until.left()
    if len(walkers) < 2 or left <= 0.2 or lead.closed() or crew.cancelled():
        return
    plans = [w.columns() for w in walkers] + [lead.columns] + lead.recent_mip_plans[-2:]
    tick = time.perf_counter()
    merged, value, union = merge_plans(crew.problem, plans, lead.columns, fixed,
                                       time_limit_s=min(left, crew.schedule.merge_s),
                                       seed=crew.seed, should_stop=crew.stop.hook)
    report["merges"] += 1
    report["merge_s"] += time.perf_counter() - tick
    report["largest_merge"] = max(int(report.get("largest_merge", 0)), union)
    if _improves(value, lead.value):
        report["merge_gains"] += 1
        lead.publish(merged, value, "merge")


def _mip_options(crew: _Crew, *, limit: float, started_at: float) -> SolveOptions:
    """Options of the MIP: its events and plans go to the exchange, it takes the search's
    offers when beside it, and stops when the search is done or on a stop.

    ``started_at`` (seconds into the solve) shifts the MIP's event times to the solve's
    clock.
    """
    exchange, problem, upper_bound = crew.exchange, crew.problem, crew.upper_bound

    def on_progress(event: ProgressEvent) -> None:
        finite = event.bound is not None and bool(np.isfinite(event.bound))
        with exchange.lock:
            if finite:
                exchange.tighten(event.bound)
            exchange.events.append(ProgressEvent(
                event.source, started_at + event.elapsed_s, event.incumbent,
                min(event.bound, upper_bound) if finite else upper_bound))

    def on_solution(values: np.ndarray, _objective: float) -> None:
        columns = np.nonzero(values[: problem.n_columns] > 0.5)[0]
        exchange.post_plan(columns, plan_value(problem, columns), crew.backend.name)

    return SolveOptions(time_limit_s=limit, mip_gap=crew.mip_gap,
                        threads=crew.schedule.mip_threads, seed=crew.seed,
                        verbose=crew.verbose, progress=on_progress,
                        should_stop=crew.mip_should_stop,
                        incoming=exchange.take_offer if crew.schedule.concurrent else None,
                        on_solution=on_solution,
                        stop_grace_s=STOP_GRACE_S if crew.stop.active else None)


def _mip_beside(crew: _Crew, milp: MilpArrays, warm: np.ndarray | None) -> None:
    """The second thread: the LP bound by interior point (seconds where HiGHS's own root
    LP by simplex takes minutes), then branch-and-cut until ``mip_until``.

    Models over ``_MIP_MAX_NONZEROS`` first get a longer subgradient bound, and a second
    search chain (:func:`_second_search`) instead of branch-and-cut.
    """
    problem, schedule, report, stop = crew.problem, crew.schedule, crew.report, crew.stop
    huge = milp.matrix.nnz > _MIP_MAX_NONZEROS
    if huge:
        crew.record_bound("lagrangian", "lagrangian_bound", lagrangian_bound(
            problem, target=float(report["search_start_objective"]),
            max_iterations=100_000, time_limit_s=schedule.huge_lagrangian_s,
            should_stop=stop.hook))
    lp_bound = None if crew.cancelled() else lp_dual_bound(
        problem, time_limit_s=schedule.lp_bound_s, should_stop=stop.hook)
    if lp_bound is not None:
        crew.record_bound("lp-bound", "lp_bound", lp_bound)
    if crew.cancelled():
        return
    if huge:
        _second_search(crew)
        return
    limit = schedule.mip_until.left(at_least=0.5)
    options = _mip_options(crew, limit=limit, started_at=schedule.deadline.elapsed())
    result = crew.backend.solve(milp, options=options, warm_start=warm)
    with crew.exchange.lock:
        crew.exchange.mip_result = result
        if result.status == SolveStatus.OPTIMAL and result.bound is not None:
            crew.exchange.tighten(result.bound)


def _second_search(crew: _Crew) -> None:
    """Branch-and-cut cannot even finish its root LP: a second search chain uses the core
    instead, its plans joining the pool like the MIP's would."""
    crew.report["second_search"] = 1
    deadline = crew.schedule.deadline
    helper = CoverageSearch(crew.problem)
    helper.load(crew.start)
    turn = 0

    def share(columns: np.ndarray, value: float) -> None:
        crew.exchange.post_plan(columns, value, "ils-2")

    while not crew.mip_should_stop() and not deadline.expired(margin=0.05):
        turn += 1
        before = helper.value
        found = helper.iterate(
            time_limit_s=min(crew.schedule.chain_s, deadline.left()),
            seed=crew.seed + 100_003 * turn, on_improvement=share,
            max_stall_rounds=_CHAIN_STALL_ROUNDS, should_stop=crew.mip_should_stop,
            interrupt=crew.stop.hook)
        share(found.columns, found.objective)
        if not _improves(found.objective, before):
            crew.restarts(helper, crew.seed + 7 * turn, deadline)


def _mip_after(crew: _Crew) -> tuple[BackendResult, MilpArrays]:
    """The MIP after the search (CBC, OR-Tools, one thread) until the deadline (at least
    0.5 s), warm-started from the lead."""
    problem = crew.problem
    milp = build_milp(problem)
    started_at = crew.schedule.deadline.elapsed()
    limit = crew.schedule.deadline.left(at_least=0.5)
    result = crew.backend.solve(milp, options=_mip_options(crew, limit=limit,
                                                           started_at=started_at),
                                warm_start=full_solution(problem, crew.lead.columns, milp))
    with crew.exchange.lock:
        if result.bound is not None and result.status != SolveStatus.ERROR:
            crew.exchange.tighten(result.bound)
    return result, milp
