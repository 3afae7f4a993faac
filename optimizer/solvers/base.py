"""The interface every solver backend implements, and the shared option/result types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np

from optimizer.model.milp import MilpArrays


class SolveStatus(StrEnum):
    """How a solve ended. ``FEASIBLE`` means a limit stopped the search with a solution."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    NO_SOLUTION = "no_solution"
    ERROR = "error"


@dataclass(frozen=True)
class ProgressEvent:
    """A progress report: the incumbent and bound so far (objective scale, maximisation)."""

    source: str
    elapsed_s: float
    incumbent: float | None
    bound: float | None

    @property
    def gap(self) -> float | None:
        return relative_gap(self.incumbent, self.bound)


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass(frozen=True, kw_only=True)
class SolveOptions:
    """Options common to every backend.

    Parameters
    ----------
    time_limit_s
        Wall-time limit of the MIP solve.
    mip_gap
        Relative gap at which the solver may stop and call the answer optimal.
    threads
        Threads for the solver (None: the solver's default).
    seed
        Random seed.
    verbose
        Print the solver's log.
    progress
        Called with a :class:`ProgressEvent` whenever the incumbent or bound improves.
    should_stop
        Polled while the solver runs; it stops (keeping its incumbent and bound) once this
        returns True. Lets a search running in another thread end the solve when it has
        met the bound. HiGHS only.
    incoming
        Polled while the solver runs; may return a full variable vector of a better plan
        found elsewhere, which the solver then takes as its incumbent. HiGHS only.
    on_solution
        Called with ``(values, objective)`` for every improving solution the solver finds.
        HiGHS only.
    stop_grace_s
        With ``should_stop``: answer at most this many seconds after it first returns True
        even if the solver has not stopped. HiGHS takes no interrupt in presolve or inside
        the LPs of its root node (after a stop it ran on for up to 3 s on Manhattan p=70,
        over 5 s on Bronx p=70, about 40 s on San Francisco p=70); it then runs in a
        helper thread, the last incumbent and bound its callbacks reported are returned,
        and it is left to end by itself at its next check (its hooks are no longer
        called; the interpreter waits for it before exiting). None (default): wait for
        the solver. HiGHS only.

    The hooks may be called from the solver's thread.
    """

    time_limit_s: float = 60.0
    mip_gap: float = 1e-4
    threads: int | None = None
    seed: int = 0
    verbose: bool = False
    progress: ProgressCallback | None = None
    should_stop: Callable[[], bool] | None = None
    incoming: Callable[[], np.ndarray | None] | None = None
    on_solution: Callable[[np.ndarray, float], None] | None = None
    stop_grace_s: float | None = None


@dataclass(frozen=True, eq=False)
class BackendResult:
    """What a backend returns: the raw variable vector and its claims."""

    status: SolveStatus
    values: np.ndarray | None
    objective: float | None
    bound: float | None
    runtime_s: float
    message: str = ""


class Backend(Protocol):
    """A MILP solver taking :class:`~optimizer.model.MilpArrays` in bulk."""

    name: str

    def is_available(self) -> bool: ...

    def solve(
        self,
        milp: MilpArrays,
        *,
        options: SolveOptions,
        warm_start: np.ndarray | None = None,
    ) -> BackendResult: ...


def relative_gap(incumbent: float | None, bound: float | None) -> float | None:
    """``(bound - incumbent) / max(|incumbent|, 1e-9)`` for a maximisation, floored at 0."""
    if incumbent is None or bound is None or not np.isfinite(bound):
        return None
    if not np.isfinite(incumbent):
        return None
    return max(0.0, (bound - incumbent) / max(abs(incumbent), 1e-9))
