"""Solver backends behind one interface (:class:`~optimizer.solvers.base.Backend`)."""

from __future__ import annotations

from optimizer.errors import InputError, Problem
from optimizer.solvers.base import (
    Backend,
    BackendResult,
    ProgressCallback,
    ProgressEvent,
    SolveOptions,
    SolveStatus,
    relative_gap,
)
from optimizer.solvers.cbc import CbcBackend
from optimizer.solvers.highs import HighsBackend
from optimizer.solvers.ortools import OrToolsBackend

BACKENDS: dict[str, Backend] = {
    "highs": HighsBackend(),
    "cbc": CbcBackend(),
    "ortools": OrToolsBackend("scip"),
    "ortools-scip": OrToolsBackend("scip"),
    "ortools-sat": OrToolsBackend("sat"),
}
"""Backend names accepted by ``--solver`` and ``[solver] name``."""


def get_backend(name: str) -> Backend:
    """Return the backend called ``name``, or raise :class:`InputError` naming the choices."""
    backend = BACKENDS.get(name.lower())
    if backend is None:
        choices = ", ".join(BACKENDS)
        raise InputError([Problem(f"unknown solver '{name}' (choose one of: {choices})")])
    if not backend.is_available():
        raise InputError(
            [Problem(f"solver '{name}' is not installed: pip install 'lifecircle[solvers]'")]
        )
    return backend


def available_backends() -> list[str]:
    """Names of the backends installed here (aliases included)."""
    return [name for name, backend in BACKENDS.items() if backend.is_available()]


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendResult",
    "ProgressCallback",
    "ProgressEvent",
    "SolveOptions",
    "SolveStatus",
    "available_backends",
    "get_backend",
    "relative_gap",
]
