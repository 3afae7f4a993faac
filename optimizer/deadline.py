r"""The time budget of a solve and the caller's stop signal, each one object.

A solve gets a time limit :math:`T` and, optionally, a cancel hook. It starts its clock
once, at :math:`t_0`; every stage then works to the same instant :math:`t_0 + T`, or to a
nearer one it carves out of it:

.. math::

    \text{left}(t) = t_0 + T - t, \qquad
    \text{sub}(s) = \min(t_0 + T,\ t + s), \qquad
    \text{split}(\sigma) = \text{sub}(\sigma \cdot \text{left}(t)).

:class:`Deadline` holds :math:`t_0`, :math:`T` and the :class:`StopSignal`; it is frozen,
so a nearer deadline is a new object and handing one to a helper cannot move the caller's.
The compiled kernels, the bounds and the backends still take seconds and a plain hook
(``time_limit_s``, ``should_stop``): the caller converts at that boundary, with
:meth:`Deadline.left` and :attr:`StopSignal.hook`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace


class StopSignal:
    """The caller's cancel hook, latched.

    Once the hook has returned True every later call returns True without asking it again,
    and :attr:`at` keeps when the stop was first seen (seconds after ``started``). Calls may
    come from several threads; the hook itself must be thread-safe and cheap. Nested solves
    (max-min's two stages, the least-cost solve that explains an infeasibility) share one
    signal, so a stop is seen, and reported, once.

    Parameters
    ----------
    hook
        The caller's hook, e.g. ``threading.Event().is_set``; None: never stops.
    started
        ``time.perf_counter()`` that :attr:`at` counts from (default: now).
    """

    __slots__ = ("_hook", "_started", "at")

    def __init__(self, hook: Callable[[], bool] | None = None, *,
                 started: float | None = None) -> None:
        self._hook = hook
        self._started = time.perf_counter() if started is None else started
        self.at: float | None = None

    @classmethod
    def of(cls, hook: Callable[[], bool] | StopSignal | None, *,
           started: float | None = None) -> StopSignal:
        """``hook`` itself if it is already a signal (a nested solve's), else it wrapped."""
        if isinstance(hook, StopSignal):
            return hook
        return cls(hook, started=started)

    @property
    def active(self) -> bool:
        """True when there is a hook to ask (without one nothing ever stops)."""
        return self._hook is not None

    @property
    def hook(self) -> Callable[[], bool] | None:
        """This signal as a plain hook for the kernels and backends, or None without one.

        Callees treat None as "nothing will stop me" (no watcher thread, no grace
        period), so an inactive signal is handed on as None.
        """
        return self if self._hook is not None else None

    @property
    def seen(self) -> bool:
        """Whether a stop has been seen, without asking the hook again."""
        return self.at is not None

    def __call__(self) -> bool:
        """Ask the hook (until it first says True); True from then on."""
        if self.at is None and self._hook is not None and self._hook():
            self.at = time.perf_counter() - self._started
        return self.at is not None

    def warning(self) -> str:
        """The warning a stopped solve reports."""
        return f"stopped on request after {self.at or 0.0:.1f} s"


@dataclass(frozen=True)
class Deadline:
    """When the time is up, counted from the start of the solve, and the stop signal.

    Attributes
    ----------
    started
        ``time.perf_counter()`` at the start of the solve; :meth:`elapsed` and progress
        events count from it, also on a nearer deadline derived from this one.
    limit_s
        Seconds from ``started`` to the deadline (:math:`T`).
    stop
        The caller's stop signal, shared by every deadline derived from this one.
    """

    started: float
    limit_s: float
    stop: StopSignal = field(default_factory=StopSignal)

    @classmethod
    def start(cls, limit_s: float, *,
              should_stop: Callable[[], bool] | StopSignal | None = None,
              started: float | None = None) -> Deadline:
        """A deadline ``limit_s`` from now (or from ``started``), with the caller's hook."""
        started = time.perf_counter() if started is None else started
        return cls(started, float(limit_s), StopSignal.of(should_stop, started=started))

    @property
    def at(self) -> float:
        """The deadline on the ``time.perf_counter()`` clock."""
        return self.started + self.limit_s

    def elapsed(self) -> float:
        """Seconds since the solve started."""
        return time.perf_counter() - self.started

    def left(self, *, at_least: float | None = None) -> float:
        """Seconds until the deadline (negative once past it), or ``at_least`` if more."""
        left = self.at - time.perf_counter()
        return left if at_least is None else max(at_least, left)

    def expired(self, *, margin: float = 0.0) -> bool:
        """True from ``margin`` seconds before the deadline on."""
        return time.perf_counter() >= self.at - margin

    def stopped(self) -> bool:
        """Ask the stop signal (True once the caller has asked to stop)."""
        return self.stop()

    def _until(self, at: float) -> Deadline:
        return replace(self, limit_s=at - self.started)

    def sub(self, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now, or this one if that is nearer."""
        return self._until(min(self.at, time.perf_counter() + seconds))

    def split(self, share: float) -> Deadline:
        """The deadline after the first ``share`` of the time left."""
        return self.sub(share * self.left())

    def before(self, seconds: float) -> Deadline:
        """A deadline ``seconds`` before this one (a safety margin)."""
        return self._until(self.at - seconds)

    def at_least(self, seconds: float) -> Deadline:
        """This deadline, moved later if needed so that ``seconds`` are left from now.

        Stages that must run to give an answer at all (the MIP after a slow heuristic)
        get a minimum slice even past the limit.
        """
        return self._until(max(self.at, time.perf_counter() + seconds))
