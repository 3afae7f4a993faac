"""lifecircle's optimisation library: instances, coverage, models, heuristics, solvers.

Layers: :mod:`optimizer.data` (instance, readers, networks, coverage),
:mod:`optimizer.model` (policy, reductions, MILP), :mod:`optimizer.search` (heuristics,
bounds, portfolio), :mod:`optimizer.solvers` (backends); on top, :mod:`optimizer.solve` and
its stages (:mod:`optimizer.stages`), with :mod:`optimizer.assess`, :mod:`optimizer.checks`,
:mod:`optimizer.results`, :mod:`optimizer.deadline` and :mod:`optimizer.errors`.
"""

from optimizer import _moved  # noqa: F401  (old module paths stay importable)
from optimizer.data.instance import ANY_TYPE, DistancePairs, FacilityType, SitingInstance
from optimizer.errors import InfeasibleError, InputError, LifecircleError, Problem
from optimizer.results import Plan
from optimizer.solve import solve
from optimizer.solvers import ProgressEvent, SolveStatus, available_backends

__all__ = [
    "ANY_TYPE",
    "DistancePairs",
    "FacilityType",
    "InfeasibleError",
    "InputError",
    "LifecircleError",
    "Plan",
    "Problem",
    "ProgressEvent",
    "SitingInstance",
    "SolveStatus",
    "available_backends",
    "solve",
]
