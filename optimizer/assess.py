"""Plans under consideration, decoded and scored on the original instance.

Every plan a stage finds (greedy, search, merge, neighbourhood, MIP) becomes a
:class:`Candidate` through :func:`assess`: its columns are decoded to sites and types,
every constraint is checked (:func:`optimizer.checks.plan_violations`) and the objective is
recomputed from the pairs, independently of the model that produced it. A candidate
replaces the best one only if it breaks nothing and scores higher (:func:`beats`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.checks import plan_violations
from optimizer.data.coverage import Reach
from optimizer.data.instance import SitingInstance
from optimizer.model.milp import MilpArrays
from optimizer.model.reduce import ReducedProblem
from optimizer.results import (
    UnitCoverage,
    evaluate_plan,
    floor_shortfalls,
    plan_objective,
    worst_group_share,
)

TOLERANCE = 1e-6
"""Relative tolerance at which one objective counts as above another or a bound as met."""


@dataclass(frozen=True, eq=False)
class Candidate:
    """A plan under consideration, scored on the original instance."""

    columns: np.ndarray
    site_index: np.ndarray
    type_index: np.ndarray
    coverage: UnitCoverage
    value: float
    parts: dict
    violations: list[str]
    source: str
    year_index: np.ndarray | None = None
    yearly: list[UnitCoverage] | None = None


def assess(instance: SitingInstance, reach: Reach, problem: ReducedProblem,
           columns: np.ndarray, solved: tuple[MilpArrays, np.ndarray] | None,
           source: str) -> Candidate:
    """Decode, check every constraint, and score a plan independently of the model.

    ``solved`` is the model and variable vector the plan came from, when it came from a
    MIP: with capacities, the people served are read from its assignment variables.
    """
    site_index, type_index = _decode(problem, columns)
    served = utilisation = None
    if solved is not None and instance.policy.capacitated_types():
        served, utilisation = _assignment(instance, problem, *solved)
    coverage = evaluate_plan(instance, reach, site_index, type_index, served=served,
                             utilisation=utilisation)
    violations = plan_violations(instance, site_index, type_index, coverage=coverage)
    year_index = yearly = None
    if problem.column_year is not None:
        year_index = problem.column_year[columns]
        spent = np.bincount(year_index, weights=instance.site_cost[site_index, type_index],
                            minlength=len(problem.year_names))
        for y in np.nonzero(spent > problem.area_budget * (1 + 1e-9) + 1e-9)[0]:
            violations.append(f"year {problem.year_names[y]} spends {spent[y]:,.0f} over its "
                              f"budget {problem.area_budget[y]:,.0f}")
        yearly = [evaluate_plan(instance, reach, site_index[year_index <= y],
                                type_index[year_index <= y])
                  for y in range(len(problem.year_names))]
    if instance.policy.objective == "min_cost":
        value, parts = least_cost_objective(instance, site_index, type_index, coverage)
    elif yearly is not None and instance.policy.phasing == "accumulated":
        values = [plan_objective(instance, c)[0] for c in yearly]
        value = float(sum(values))
        parts = {"by_year": dict(zip(problem.year_names, values, strict=True)),
                 "floor_shortfall": floor_shortfalls(instance, coverage)}
    elif instance.policy.objective == "maxmin":
        value = worst_group_share(instance, coverage)
        parts = {"worst_group_share": value}
    else:
        value, parts = plan_objective(instance, coverage)
    return Candidate(columns, site_index, type_index, coverage, value, parts, violations,
                     source, year_index, yearly)


def least_cost_objective(instance: SitingInstance, site_index: np.ndarray,
                         type_index: np.ndarray, coverage: UnitCoverage
                         ) -> tuple[float, dict]:
    r"""The least-cost objective, negated (internal values are maximised), with its parts.

    :math:`\sum_k c_k x_k`, plus :math:`\pi \sum_{c,t} s_{ct}` (``floor_penalty`` per
    person short) with soft floors: what the model minimises, so that a larger budget never
    reports a higher value.
    """
    policy = instance.policy
    cost = float(instance.site_cost[site_index, type_index].sum())
    parts: dict = {"cost": cost}
    total = cost
    if policy.has_soft_floors:
        short = {name: people for name, people in floor_shortfalls(instance, coverage).items()
                 if name.startswith("floor")}
        penalty = policy.floor_penalty * float(sum(short.values()))
        parts.update(floor_shortfall=short, floor_penalty=penalty)
        total += penalty
    return -total, parts


def _assignment(instance: SitingInstance, problem: ReducedProblem, milp: MilpArrays,
                values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """People served per unit and type, and use per site, from the assignment variables."""
    layout = milp.layout
    assert layout is not None
    amount = np.clip(values[layout.assignment], 0.0, None)
    group_served = np.bincount(layout.assignment_group, weights=amount,
                               minlength=problem.n_groups)
    share = np.divide(group_served, problem.group_population,
                      out=np.zeros(problem.n_groups), where=problem.group_population > 0)
    served = instance.population * 0.0
    for t in instance.policy.capacitated_types():
        groups = problem.unit_group[:, t]
        inside = groups >= 0
        served[inside, t] = instance.population[inside, t] * np.minimum(
            share[groups[inside]], 1.0)
        served[groups == -2, t] = instance.population[groups == -2, t]
    uncapacitated = [t for t in range(instance.n_types)
                     if t not in instance.policy.capacitated_types()]
    if uncapacitated:
        served[:, uncapacitated] = np.nan  # filled from coverage by evaluate_plan's caller
    use = np.bincount(problem.column_site[layout.assignment_column], weights=amount,
                      minlength=instance.n_sites)
    return served, use


def _decode(problem: ReducedProblem, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sites and types of the open columns."""
    return problem.column_site[columns], problem.column_type[columns]


def integral_objective(problem: ReducedProblem) -> bool:
    """Whether every weight (and the constant) is whole, so every plan scores a whole
    number and a bound may be rounded down."""
    weights = np.append(problem.group_weight, problem.constant)
    return bool(np.all(np.abs(weights - np.round(weights)) <= 1e-9))


def reaches(value: float, bound: float | None) -> bool:
    """True when ``value`` meets ``bound`` within the tolerance (the gap is closed)."""
    return bound is not None and value >= bound - TOLERANCE * max(1.0, abs(bound))


def beats(candidate: Candidate, best: Candidate) -> bool:
    """True when ``candidate`` violates nothing and scores above ``best``."""
    return not candidate.violations and candidate.value > best.value + TOLERANCE * max(
        1.0, abs(best.value))


def trivial_bound(problem: ReducedProblem) -> float | None:
    """A valid upper bound on the model objective, or None (least-cost mode)."""
    policy = problem.instance.policy
    if policy.objective == "min_cost":
        return None
    if policy.objective == "maxmin":
        return 1.0
    bound = problem.upper_bound
    if policy.has_circle:
        bound += policy.circle_weight * float(policy.circle_population.sum())
    return bound


def report_scale(value: float | None, minimise: bool) -> float | None:
    """Internal values are maximised; least-cost plans report the cost itself."""
    if value is None or not minimise:
        return value
    return -value
