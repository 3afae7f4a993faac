"""Results: the chosen plan, its coverage re-evaluated on the original instance, and the
solver's report. Everything a map, table or briefing needs is here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from optimizer.data.coverage import Reach
from optimizer.data.instance import SitingInstance
from optimizer.solvers.base import ProgressEvent, SolveStatus


@dataclass(frozen=True, eq=False)
class UnitCoverage:
    """Per demand unit and type: coverage, credit, people served, nearest facility.

    ``covered`` is within the service radius; ``credit`` is the decay-band credit of the
    nearest facility (1 within the radius, 0 beyond every band); ``served`` is people served
    (the target population times ``covered``, or the capacity-limited assignment);
    ``serving`` numbers candidate sites ``0..n_sites-1`` and existing facilities after them
    (``-1``: none in reach).
    """

    covered: np.ndarray
    covered_existing: np.ndarray
    serving: np.ndarray
    distance_m: np.ndarray
    credit: np.ndarray
    served: np.ndarray
    utilisation: np.ndarray | None = None


def evaluate_plan(
    instance: SitingInstance,
    reach: Reach,
    site_index: np.ndarray,
    type_index: np.ndarray,
    *,
    served: np.ndarray | None = None,
    utilisation: np.ndarray | None = None,
) -> UnitCoverage:
    """Coverage of a plan computed from the pairs, independently of any model or solver.

    ``served`` (people served per unit and type) replaces population x coverage for
    capacitated types; it comes from the solver's assignment, checked in
    :func:`optimizer.solve.plan_violations`.
    """
    n, n_types = instance.n_demand, instance.n_types
    open_type = np.full(instance.n_sites, -1, dtype=np.int64)
    open_type[site_index] = type_index
    facility_type = np.concatenate([open_type, instance.existing_type.astype(np.int64)])
    ftype = facility_type[reach.facility]
    reach_radii = instance.reach_radii
    within = (ftype >= 0) & (reach.distance <= reach_radii[np.maximum(ftype, 0)])
    covered = np.zeros((n, n_types), dtype=bool)
    covered_existing = np.zeros((n, n_types), dtype=bool)
    serving = np.full((n, n_types), -1, dtype=np.int64)
    distance = np.full((n, n_types), np.nan)
    credit = np.zeros((n, n_types))
    demand, facility, dist, ftype = (
        reach.demand[within],
        reach.facility[within],
        reach.distance[within],
        ftype[within],
    )
    radius = instance.radii[ftype]
    is_existing = facility >= instance.n_sites
    in_radius = dist <= radius
    covered_existing[demand[is_existing & in_radius], ftype[is_existing & in_radius]] = True
    order = np.lexsort((facility, dist, ftype, demand))
    key = demand[order] * n_types + ftype[order]
    _, first = np.unique(key, return_index=True)
    best = order[first]
    d_best, t_best = demand[best], ftype[best]
    serving[d_best, t_best] = facility[best]
    distance[d_best, t_best] = dist[best]
    covered[d_best, t_best] = dist[best] <= radius[best]
    for t, kind in enumerate(instance.types):
        of_type = t_best == t
        radii, credits = kind.band_radii(), kind.band_credits()
        band = np.searchsorted(radii, dist[best][of_type], side="left")
        credit[d_best[of_type], t] = np.append(credits, 0.0)[band]
    covered_people = instance.population * covered
    served = covered_people if served is None else np.where(np.isnan(served), covered_people,
                                                            served)
    return UnitCoverage(covered, covered_existing, serving, distance, credit, served,
                        utilisation)


def plan_objective(instance: SitingInstance, coverage: UnitCoverage) -> tuple[float, dict]:
    """The model's objective recomputed from a plan's coverage, with its parts.

    ``sum_t w_t sum_i credit_it * served_it`` (served equals the population where the type
    has no capacities), plus the complete-life-circle term, minus soft-floor penalties.
    """
    policy = instance.policy
    capacitated = list(policy.capacitated_types())
    credited = instance.population * coverage.credit
    if capacitated:
        credited[:, capacitated] = coverage.served[:, capacitated]
    coverage_value = float((credited * instance.weights).sum())
    parts: dict[str, Any] = {"coverage": coverage_value}
    value = coverage_value
    if policy.has_circle:
        share = np.where(coverage.covered, 1.0, 0.0)
        if capacitated:
            pop = instance.population[:, capacitated]
            share[:, capacitated] = np.divide(coverage.served[:, capacitated], pop,
                                              out=share[:, capacitated], where=pop > 0)
        complete = share[:, list(policy.circle_types)].min(axis=1)
        circle = float((complete * policy.circle_population).sum())
        parts["complete_circle_population"] = circle
        value += policy.circle_weight * circle
    shortfalls = floor_shortfalls(instance, coverage)
    parts["floor_shortfall"] = shortfalls
    if policy.floor_mode == "soft":
        value -= policy.floor_penalty * sum(shortfalls.values())
    return value, parts


def worst_group_share(instance: SitingInstance, coverage: UnitCoverage) -> float:
    """Lowest covered share over every group and max-min type (1 if none)."""
    policy = instance.policy
    worst = 1.0
    for t in policy.maxmin_types:
        pop = instance.population[:, t]
        total = np.bincount(policy.unit_group, weights=pop, minlength=len(policy.group_names))
        served = np.bincount(policy.unit_group, weights=coverage.served[:, t],
                             minlength=len(policy.group_names))
        shares = served[total > 0] / total[total > 0]
        if len(shares):
            worst = min(worst, float(shares.min()))
    return worst


def floor_shortfalls(instance: SitingInstance, coverage: UnitCoverage) -> dict[str, float]:
    """People short of each equity floor or city-wide target (only positive entries)."""
    policy = instance.policy
    short: dict[str, float] = {}
    for t, kind in enumerate(instance.types):
        pop = instance.population[:, t]
        served = coverage.served[:, t]
        if policy.target(t) is not None:
            gap = policy.target(t) * pop.sum() - served.sum()
            if gap > 1e-6 * max(1.0, pop.sum()):
                short[f"target[{kind.name}]"] = float(gap)
        if policy.has_floors and policy.floor(t) is not None:
            need = policy.floor(t) * np.bincount(policy.unit_group, weights=pop,
                                                 minlength=len(policy.group_names))
            have = np.bincount(policy.unit_group, weights=served,
                               minlength=len(policy.group_names))
            for c in np.nonzero(need - have > 1e-6 * np.maximum(1.0, need))[0]:
                short[f"floor[{policy.group_names[c]}, {kind.name}]"] = float(
                    need[c] - have[c])
    return short


@dataclass(frozen=True, eq=False)
class SolverReport:
    """How the answer was found: backend, timings, model size, reductions, progress."""

    backend: str
    message: str
    source: str
    build_s: float
    heuristic_s: float
    solver_s: float
    heuristic_objective: float | None
    model_size: dict[str, int]
    reductions: dict[str, int]
    progress: tuple[ProgressEvent, ...] = ()
    warnings: tuple[str, ...] = ()
    objective_parts: dict[str, Any] = field(default_factory=dict)
    search: dict[str, float | int] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Plan:
    """A siting plan with its status, objective, bound and coverage.

    Attributes
    ----------
    status
        ``optimal`` (proven within the gap tolerance), ``feasible`` (a limit stopped the
        search; best solution returned), ``infeasible``, ``no_solution`` or ``error``.
    objective
        Weighted covered population, existing coverage included, recomputed from the pairs.
    bound
        Best proven upper bound on the objective.
    gap
        ``(bound - objective) / objective``.
    site_index, type_index
        The new uses: site ``site_index[k]`` becomes type ``type_index[k]``.
    coverage
        Per unit and type coverage of the plan.
    explanation
        For infeasible results: which constraints cannot hold together.
    year_index, year_names, yearly_coverage
        Multi-year phasing: the year each new use opens, and the coverage after each year.
    """

    instance: SitingInstance
    status: SolveStatus
    objective: float | None
    bound: float | None
    gap: float | None
    runtime_s: float
    site_index: np.ndarray
    type_index: np.ndarray
    coverage: UnitCoverage | None
    report: SolverReport
    explanation: tuple[str, ...] = field(default=())
    year_index: np.ndarray | None = None
    year_names: tuple[str, ...] = ()
    yearly_coverage: tuple[UnitCoverage, ...] = ()

    @property
    def has_solution(self) -> bool:
        return self.coverage is not None

    @property
    def total_cost(self) -> float:
        return float(self.instance.site_cost[self.site_index, self.type_index].sum())

    def chosen_sites(self) -> pd.DataFrame:
        """Columns ``site_id, type, cost, x, y`` for the new uses, cheapest type first."""
        inst = self.instance
        frame = pd.DataFrame(
            {
                "site_id": inst.site_ids[self.site_index].astype(str),
                "type": np.asarray(inst.type_names, dtype=object)[self.type_index],
                "cost": inst.site_cost[self.site_index, self.type_index],
                "x": inst.site_xy[self.site_index, 0],
                "y": inst.site_xy[self.site_index, 1],
            }
        )
        if self.year_index is not None:
            frame.insert(0, "year", np.asarray(self.year_names, dtype=object)[self.year_index])
        capacity = inst.policy.site_capacity
        if capacity is not None and self.coverage is not None and (
                self.coverage.utilisation is not None):
            cap = capacity[self.site_index, self.type_index]
            used = np.where(np.isfinite(cap), self.coverage.utilisation[self.site_index],
                            np.nan)
            frame["capacity"] = cap
            frame["served"] = used
            frame["utilisation_pct"] = np.where(cap > 0, 100.0 * used / np.where(
                cap > 0, cap, 1.0), np.nan)
        attributes = inst.site_attributes
        if attributes is not None and len(attributes.columns):
            extra = attributes.iloc[self.site_index].reset_index(drop=True)
            extra = extra.drop(columns=[c for c in extra.columns if c in frame.columns])
            frame = pd.concat([frame, extra], axis=1)
        keys = ["year", "type", "site_id"] if self.year_index is not None else ["type",
                                                                                "site_id"]
        return frame.sort_values(keys, kind="stable").reset_index(drop=True)

    def coverage_by_type(self) -> pd.DataFrame:
        """Per type: target group, population, covered before/after, newly covered, %."""
        inst = self.instance
        rows = []
        for t, ftype in enumerate(inst.types):
            pop = inst.population[:, t]
            total = float(pop.sum())
            before = after = served = 0.0
            if self.coverage is not None:
                before = float(pop[self.coverage.covered_existing[:, t]].sum())
                after = float(pop[self.coverage.covered[:, t]].sum())
                served = float(self.coverage.served[:, t].sum())
            chosen = self.type_index == t
            rows.append(
                {
                    "type": ftype.name,
                    "population_group": ftype.population,
                    "radius_m": ftype.radius_m,
                    "weight": ftype.weight,
                    "population": total,
                    "covered_existing": before,
                    "covered": after,
                    "newly_covered": after - before,
                    "coverage_pct": 100.0 * after / total if total > 0 else 0.0,
                    "coverage_existing_pct": 100.0 * before / total if total > 0 else 0.0,
                    "served": served,
                    "served_pct": 100.0 * served / total if total > 0 else 0.0,
                    "new_sites": int(chosen.sum()),
                    "cost": float(
                        inst.site_cost[self.site_index[chosen], self.type_index[chosen]].sum()
                    ),
                }
            )
        return pd.DataFrame(rows)

    def unit_coverage(self) -> pd.DataFrame:
        """Long table: one row per demand unit and type (``serving_id`` empty if uncovered)."""
        inst = self.instance
        n, n_types = inst.n_demand, inst.n_types
        if self.coverage is None:
            return pd.DataFrame(
                columns=[
                    "demand_id", "type", "population", "covered",
                    "covered_existing", "serving_id", "serving_kind", "distance_m",
                ]
            )
        serving = self.coverage.serving
        facility_ids = np.concatenate(
            [inst.site_ids.astype(str), inst.existing_ids.astype(str)]
        ).astype(object)
        flat = serving.ravel()
        ids = np.where(flat >= 0, facility_ids[np.maximum(flat, 0)], "")
        kind = np.where(
            flat < 0, "", np.where(flat >= inst.n_sites, "existing", "new")
        )
        return pd.DataFrame(
            {
                "demand_id": np.repeat(inst.demand_ids.astype(str), n_types),
                "type": np.tile(np.asarray(inst.type_names, dtype=object), n),
                "population": inst.population.ravel(),
                "covered": self.coverage.covered.ravel(),
                "covered_existing": self.coverage.covered_existing.ravel(),
                "serving_id": ids,
                "serving_kind": kind,
                "distance_m": self.coverage.distance_m.ravel(),
                "served": self.coverage.served.ravel(),
                "credit": self.coverage.credit.ravel(),
            }
        )

    def coverage_by_year(self) -> pd.DataFrame:
        """Multi-year phasing: per year and type, new sites, spending and coverage after it."""
        inst = self.instance
        rows = []
        for y, coverage in enumerate(self.yearly_coverage):
            opened = self.year_index == y
            for t, kind in enumerate(inst.types):
                pop = inst.population[:, t]
                chosen = opened & (self.type_index == t)
                covered = float(pop[coverage.covered[:, t]].sum())
                rows.append({
                    "year": self.year_names[y], "type": kind.name,
                    "new_sites": int(chosen.sum()),
                    "cost": float(inst.site_cost[self.site_index[chosen],
                                                 self.type_index[chosen]].sum()),
                    "covered": covered,
                    "coverage_pct": 100 * covered / pop.sum() if pop.sum() > 0 else 0.0,
                })
        return pd.DataFrame(rows)

    def coverage_by_group(self, column: str) -> pd.DataFrame:
        """Per group of a demand column (community, street...) and type: population,
        covered, served, unserved and coverage %."""
        inst = self.instance
        attributes = inst.demand_attributes
        if attributes is None or column not in attributes.columns or self.coverage is None:
            return pd.DataFrame()
        frames = []
        for t, kind in enumerate(inst.types):
            pop = inst.population[:, t]
            frame = pd.DataFrame({
                column: attributes[column].to_numpy(),
                "population": pop,
                "covered": pop * self.coverage.covered[:, t],
                "served": self.coverage.served[:, t],
            }).groupby(column, sort=True).sum()
            frame["unserved"] = frame["population"] - frame["served"]
            frame["coverage_pct"] = 100 * frame["covered"] / frame["population"].where(
                frame["population"] > 0)
            frame["served_pct"] = 100 * frame["served"] / frame["population"].where(
                frame["population"] > 0)
            frames.append(frame.reset_index().assign(type=kind.name))
        table = pd.concat(frames, ignore_index=True)
        return table[["type", column, "population", "covered", "served", "unserved",
                      "coverage_pct", "served_pct"]]

    def summary(self) -> dict[str, Any]:
        """The ``summary.json`` content (a public contract: keys are only ever added)."""
        by_type = self.coverage_by_type().set_index("type")
        names = list(self.instance.type_names)
        return {
            "status": str(self.status),
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "total_cost": self.total_cost,
            "budget": self.instance.budget,
            "covered": {t: float(by_type.loc[t, "covered"]) for t in names},
            "newly_covered": {t: float(by_type.loc[t, "newly_covered"]) for t in names},
            "covered_existing": {t: float(by_type.loc[t, "covered_existing"]) for t in names},
            "population": {t: float(by_type.loc[t, "population"]) for t in names},
            "coverage_pct": {t: float(by_type.loc[t, "coverage_pct"]) for t in names},
            "new_sites": {t: int(by_type.loc[t, "new_sites"]) for t in names},
            "served": {t: float(by_type.loc[t, "served"]) for t in names},
            "runtime_s": self.runtime_s,
            "solver": {
                "backend": self.report.backend,
                "message": self.report.message,
                "source": self.report.source,
                "build_s": self.report.build_s,
                "heuristic_s": self.report.heuristic_s,
                "solver_s": self.report.solver_s,
                "heuristic_objective": self.report.heuristic_objective,
                "model": self.report.model_size,
                "reductions": self.report.reductions,
                "search": self.report.search,
            },
            "objective_parts": self.report.objective_parts,
            "crs": self.instance.crs,
            "explanation": list(self.explanation),
            "warnings": list(self.report.warnings),
            "notes": list(self.instance.notes),
        }


def restore_plan(
    instance: SitingInstance,
    reach: Reach,
    *,
    site_ids: np.ndarray,
    type_names: np.ndarray,
    status: SolveStatus,
    objective: float | None,
    bound: float | None,
    gap: float | None,
    runtime_s: float,
    report: SolverReport,
    years: np.ndarray | None = None,
    year_names: tuple[str, ...] = (),
    served: np.ndarray | None = None,
    site_served: np.ndarray | None = None,
    explanation: tuple[str, ...] = (),
) -> Plan:
    """A :class:`Plan` rebuilt from its recorded decisions (a run folder's ``sites.csv``).

    Coverage is re-evaluated from the pairs, as after a solve; ``served`` (people served per
    unit and type, ``NaN`` where not capacitated) and ``site_served`` (per candidate site)
    restore a capacitated assignment, which the pairs alone do not determine. Raises
    ``KeyError`` for a site id or type name the instance does not have.
    """
    site_position = {str(s): k for k, s in enumerate(instance.site_ids.astype(str))}
    type_position = {name: t for t, name in enumerate(instance.type_names)}
    site_index = np.array([site_position[str(s)] for s in site_ids], dtype=np.int64)
    type_index = np.array([type_position[str(t)] for t in type_names], dtype=np.int64)
    year_index = None
    if years is not None and year_names:
        year_position = {str(y): k for k, y in enumerate(year_names)}
        year_index = np.array([year_position[str(y)] for y in years], dtype=np.int64)
    coverage = None
    yearly: tuple[UnitCoverage, ...] = ()
    if status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        coverage = evaluate_plan(instance, reach, site_index, type_index, served=served,
                                 utilisation=site_served)
        if year_index is not None:
            yearly = tuple(
                evaluate_plan(instance, reach, site_index[year_index <= y],
                              type_index[year_index <= y])
                for y in range(len(year_names))
            )
    return Plan(instance, status, objective, bound, gap, runtime_s, site_index, type_index,
                coverage, report, explanation, year_index, year_names if year_index is not None
                else (), yearly)
