"""Solves outside Streamlit's script thread: a bounded pool, a queue beyond it, cancel.

One :class:`SolveJobs` per server process (held by ``st.cache_resource``). A job is keyed by
the scenario's :func:`~scenarios.store.content_key`: two sessions asking for the same
scenario share one solve; different scenarios queue. Finished results go to the
:class:`~scenarios.store.ResultStore`, so a page refresh or a server restart finds them.
"""

from __future__ import annotations

import hashlib
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import pandas as pd

from optimizer.errors import InputError
from optimizer.solvers.base import ProgressEvent
from scenarios.curve import BudgetCurve, budget_curve
from scenarios.runner import ScenarioResult, run_scenario
from scenarios.spec import ScenarioSpec
from scenarios.store import ResultStore, content_key


@dataclass(eq=False)
class SolveJob:
    """One scenario being solved: its progress events, a stop flag and the outcome."""

    key: str
    spec: ScenarioSpec
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    events: list[ProgressEvent] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    result: ScenarioResult | None = None
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    future: Future | None = None
    curve: BudgetCurve | None = None
    points: list[dict] = field(default_factory=list)

    @property
    def state(self) -> str:
        """``queued``, ``running`` or ``done``."""
        if self.finished is not None:
            return "done"
        return "running" if self.started is not None else "queued"


class SolveJobs:
    """A pool of ``workers`` solver threads with a queue; results land in ``store``."""

    def __init__(self, store: ResultStore, *, workers: int = 1) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="solve")
        self._jobs: dict[str, SolveJob] = {}
        self._lock = threading.Lock()

    def job(self, key: str) -> SolveJob | None:
        with self._lock:
            return self._jobs.get(key)

    def _start(self, key: str, spec: ScenarioSpec, work, *args: object) -> SolveJob:
        """Join the unfinished job of ``key``, or start ``work(job, *args)`` in the pool."""
        with self._lock:
            current = self._jobs.get(key)
            if current is not None and current.state != "done":
                return current
            job = SolveJob(key, spec)
            self._jobs[key] = job
            job.future = self._pool.submit(work, job, *args)
            return job

    def submit(self, spec: ScenarioSpec) -> SolveJob:
        """Start (or join) the solve of ``spec``; a finished job is replaced by a new one."""
        return self._start(content_key(spec), spec, self._run)

    @staticmethod
    def curve_key(spec: ScenarioSpec, budgets: list[float]) -> str:
        """The job and file key of a budget curve of ``spec`` at ``budgets``."""
        digest = hashlib.sha256(repr(sorted(budgets)).encode()).hexdigest()[:8]
        return f"curve-{content_key(spec)}-{digest}"

    def submit_curve(self, spec: ScenarioSpec, budgets: list[float]) -> SolveJob:
        """Start (or join) a budget-coverage curve of ``spec``; its points are saved as
        ``curves/<key>.csv`` in the store so they survive a restart."""
        return self._start(self.curve_key(spec, budgets), spec, self._curve, budgets)

    def curve_points(self, key: str) -> pd.DataFrame | None:
        """A finished curve's points (from this process or the store), or None."""
        job = self.job(key)
        if job is not None and job.curve is not None:
            return job.curve.points
        path = self.store.root / "curves" / f"{key}.csv"
        return pd.read_csv(path) if path.exists() else None

    def _curve(self, job: SolveJob, budgets: list[float]) -> None:
        job.started = time.monotonic()
        try:
            curve = budget_curve(job.spec, budgets, should_stop=job.stop.is_set,
                                 progress=lambda point: job.points.append(point.row))
            job.curve = curve
            if not curve.stopped_early:  # atomic: a temporary file renamed into place
                curve.to_csv(self.store.root / "curves" / f"{job.key}.csv")
        except InputError as error:
            job.problems = [str(p) for p in error.problems]
        except Exception as error:
            job.error = f"{type(error).__name__}: {error}"
            traceback.print_exc()
        finally:
            job.finished = time.monotonic()

    def cancel(self, key: str) -> None:
        """Ask a running job to stop (it keeps its best plan); drop a queued one."""
        job = self.job(key)
        if job is None:
            return
        job.stop.set()
        if job.state == "queued" and job.future is not None and job.future.cancel():
            job.finished = time.monotonic()
            job.error = "cancelled"

    def _run(self, job: SolveJob) -> None:
        job.started = time.monotonic()
        try:
            if job.stop.is_set():
                job.error = "cancelled"
                return
            result = run_scenario(job.spec, progress=job.events.append,
                                  should_stop=job.stop.is_set)
            self.store.put(result)
            job.result = result
        except InputError as error:
            job.problems = [str(p) for p in error.problems]
        except Exception as error:  # shown in the page as one line; details in the log
            job.error = f"{type(error).__name__}: {error}"
            traceback.print_exc()
        finally:
            job.finished = time.monotonic()
