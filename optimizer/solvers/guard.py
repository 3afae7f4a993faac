"""A backend that never takes the solve down with it.

A MILP backend is foreign code (a C++ library, a subprocess, a Python wrapper of either):
it may be missing on a machine, raise on a model it dislikes, run out of memory or have its
subprocess killed. None of that may cost the planner the plan the search already found.
:func:`guarded` wraps a backend so that any exception from its ``solve`` becomes a
:class:`~optimizer.solvers.base.BackendResult` with status ``error`` and the exception in
its message; the solve then keeps the best plan found so far, reports it as feasible with
the bound known from the search and the Lagrangian stage, and says why in its warnings
(:func:`optimizer.stages.evaluate`). :func:`resolve_backend` does the same for a backend
that is not installed: HiGHS (a core dependency) takes its place, with a warning.

A crash that kills the whole process (a segmentation fault inside a native library) cannot
be caught here; the web app and batch runs keep their results on disk for that case
(:mod:`scenarios.store`, :mod:`scenarios.atomic`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from optimizer.errors import InputError, Problem
from optimizer.model.milp import MilpArrays
from optimizer.solvers.base import Backend, BackendResult, SolveOptions, SolveStatus

FALLBACK = "highs"
"""The backend used when the one asked for is not installed (a core dependency)."""


@dataclass(frozen=True)
class GuardedBackend:
    """``inner`` with every exception of :meth:`solve` turned into a status-``error``
    result (``KeyboardInterrupt`` and ``SystemExit`` still propagate)."""

    inner: Backend

    @property
    def name(self) -> str:
        return self.inner.name

    def is_available(self) -> bool:
        return self.inner.is_available()

    def solve(self, milp: MilpArrays, *, options: SolveOptions,
              warm_start: np.ndarray | None = None) -> BackendResult:
        started = time.perf_counter()
        try:
            return self.inner.solve(milp, options=options, warm_start=warm_start)
        except MemoryError:
            return BackendResult(SolveStatus.ERROR, None, None, None,
                                 time.perf_counter() - started,
                                 f"{self.name} ran out of memory")
        except Exception as error:  # foreign code: anything it raises is its failure
            text = " ".join(str(error).split())[:200] or type(error).__name__
            return BackendResult(SolveStatus.ERROR, None, None, None,
                                 time.perf_counter() - started,
                                 f"{self.name} failed: {type(error).__name__}: {text}")


def guarded(backend: Backend) -> GuardedBackend:
    """``backend`` wrapped by :class:`GuardedBackend` (not wrapped twice)."""
    return backend if isinstance(backend, GuardedBackend) else GuardedBackend(backend)


def resolve_backend(name: str, warnings: list[str]) -> GuardedBackend:
    """The guarded backend called ``name``; when it is known but not installed here, HiGHS
    instead, with a warning appended to ``warnings``.

    Raises
    ------
    InputError
        ``name`` is no backend at all (a typo is the user's to fix, not to paper over).
    """
    from optimizer.solvers import BACKENDS, get_backend

    backend = BACKENDS.get(name.lower())
    if backend is None:
        get_backend(name)  # raises the error naming the choices
        raise InputError([Problem(f"unknown solver '{name}'")])  # pragma: no cover
    if not backend.is_available():
        warnings.append(f"solver '{name}' is not installed here (pip install "
                        f"'lifecircle[solvers]'); {FALLBACK} was used instead")
        backend = get_backend(FALLBACK)
    return guarded(backend)
