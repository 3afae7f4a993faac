"""lifecircle's optimisation library: instances, coverage, models, heuristics, solvers."""

from optimizer.errors import InfeasibleError, InputError, LifecircleError, Problem
from optimizer.instance import ANY_TYPE, DistancePairs, FacilityType, SitingInstance
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
