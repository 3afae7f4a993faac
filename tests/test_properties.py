"""Properties of solve() on random small instances (hypothesis).

Random instances (3-12 demand units, 2-8 sites, 1-3 types on a 10 m grid, so that distances
exactly equal to a radius are common; blank costs, existing facilities, forced and excluded
sites, caps, supplied distances, and the policy switches: soft and hard equity floors,
targets, least cost, complete circle, distance-decay bands, capacities, area budgets,
phasing, max-min) are built as :class:`SitingInstance` directly, shaped as
:func:`scenarios.loader.build_instance` shapes them, and solved with
``solve(instance, time_limit_s=10)``. Checked, each from the instance alone (no optimizer
code is reused for the reference):

(a) the plan is feasible: budget, one use per site, types it can take, caps, forced and
    excluded sites, area and yearly budgets, hard floors and targets, capacities;
(b) coverage recomputed from ``plan.chosen_sites()`` (distances from the instance, radii
    from the types) equals ``plan.coverage_by_type()``, and so does the objective where it
    is a function of coverage;
(c) the optimum never falls when the budget or a radius grows (both proven optimal), and a
    feasible instance stays feasible;
(d) the optimum does not change when demand, site and existing rows are shuffled and ids
    renamed;
(e) HiGHS and CBC agree on proven optima (and on infeasibility);
(f) the bound is never below the objective (never above it for least cost).

Sizes: ``tests/hypothesis_profiles.py`` (CI by default, ``LIFECIRCLE_HYPOTHESIS_PROFILE=long``
for the long run recorded in ``docs/bad-inputs.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import product

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis_profiles import sized

from optimizer import ANY_TYPE, DistancePairs, FacilityType, Plan, SitingInstance, solve
from optimizer.policy import Policy
from optimizer.solvers import available_backends

pytestmark = pytest.mark.filterwarnings(
    # hypothesis's failure report imports libcst, which imports a deprecated module
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
TIME_LIMIT_S = 10.0
MIP_GAP = 1e-9
"""Tight, so that "optimal" means the optimum (the comparisons below are exact up to TOL)."""
REL_TOL = 1e-6
"""Relative tolerance of comparisons between optima (the solver's own closing tolerance)."""
GRID_M = 10
SWITCHES = ("soft_floors", "hard_floors", "targets", "min_cost", "circle", "bands",
            "capacity", "area_budgets", "phasing", "maxmin")
GROUP_NAMES = ("east", "north", "west")


def close(a: float, b: float) -> bool:
    """Equal up to the solver's tolerance."""
    return abs(a - b) <= REL_TOL * max(1.0, abs(a), abs(b)) + 1e-6


def at_most(a: float, b: float) -> bool:
    """``a <= b`` up to the solver's tolerance."""
    return a <= b + REL_TOL * max(1.0, abs(a), abs(b)) + 1e-6


# --------------------------------------------------------------------------- instances


@dataclass(frozen=True)
class Case:
    """A generated instance and the switches it was drawn with (for notes and events)."""

    instance: SitingInstance
    switches: tuple[str, ...]

    def __repr__(self) -> str:  # what hypothesis prints for a falsifying example
        return describe(self.instance, self.switches)


def describe(inst: SitingInstance, switches: tuple[str, ...] = ()) -> str:
    """The instance as Python-ish text, enough to rebuild it as a regression test."""
    policy = inst.policy
    lines = [
        f"switches={switches}",
        "types=" + repr([(t.name, t.radius_m, t.weight, t.max_sites, t.max_budget_share,
                          t.bands) for t in inst.types]),
        f"demand_xy={inst.demand_xy.tolist()}",
        f"population={inst.population.tolist()}",
        f"site_xy={inst.site_xy.tolist()}",
        f"site_cost={inst.site_cost.tolist()}",
        f"budget={inst.budget}",
        f"existing_xy={inst.existing_xy.tolist()} existing_type={inst.existing_type.tolist()}",
        f"forced={inst.forced_sites.tolist()} as {inst.forced_type.tolist()} "
        f"excluded={np.nonzero(inst.excluded)[0].tolist()}",
    ]
    if inst.distances is not None:
        d = inst.distances
        lines.append("distances=" + repr(list(zip(d.demand_index.tolist(),
                                                  d.target_index.tolist(),
                                                  d.distance_m.tolist(), strict=True))))
    for name in ("unit_group", "group_names", "floor_share", "floor_mode", "floor_penalty",
                 "target_share", "objective", "circle_types", "circle_weight",
                 "circle_population", "site_area", "area_names", "area_budget",
                 "site_capacity", "maxmin_types", "years", "year_budget", "phasing"):
        value = getattr(policy, name)
        if isinstance(value, np.ndarray):
            value = value.tolist()
        lines.append(f"policy.{name}={value!r}")
    return "\n".join(lines)


def _matrix(draw: st.DrawFn, rows: int, cols: int, values: st.SearchStrategy) -> np.ndarray:
    return np.array(draw(st.lists(st.lists(values, min_size=cols, max_size=cols),
                                  min_size=rows, max_size=rows)), dtype=float).reshape(rows,
                                                                                       cols)


def _grid_points(draw: st.DrawFn, n: int) -> np.ndarray:
    return _matrix(draw, n, 2, st.integers(0, 60)) * GRID_M


def _shares(draw: st.DrawFn, n_types: int) -> tuple[float | None, ...]:
    return tuple(draw(st.none() | st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0]))
                 for _ in range(n_types))


@st.composite
def cases(draw: st.DrawFn, *, switches: tuple[str, ...] = SWITCHES) -> Case:
    """A random small instance, with some of ``switches`` on (as the loader builds them)."""
    n_types = draw(st.integers(1, 3))
    n_sites = draw(st.integers(2, 8))
    n_demand = draw(st.integers(3, 12))
    on = set(draw(st.sets(st.sampled_from(switches), max_size=3)))
    if "phasing" in on:
        on -= {"circle", "capacity", "area_budgets", "maxmin"}
    if "min_cost" in on:
        on.discard("maxmin")

    radii = [draw(st.integers(1, 40)) * GRID_M for _ in range(n_types)]
    weights = [draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0])) for _ in range(n_types)]
    bands: list[tuple[tuple[float, float], ...]] = [()] * n_types
    if "bands" in on:
        for t in range(n_types):
            if draw(st.booleans()):
                r2 = radii[t] + draw(st.integers(1, 20)) * GRID_M
                c2 = draw(st.sampled_from([0.25, 0.5, 0.75]))
                bands[t] = ((float(r2), c2),)
                if draw(st.booleans()):
                    bands[t] += ((float(r2 + draw(st.integers(1, 20)) * GRID_M), c2 / 2),)
    capacitated: list[int] = []
    if "capacity" in on:
        capacitated = sorted(draw(st.sets(st.sampled_from(range(n_types)), min_size=1)))
        capacitated = [t for t in capacitated if not bands[t]]
    types = tuple(
        FacilityType(
            f"type{t}", radius_m=float(radii[t]), weight=weights[t], population=f"pop{t}",
            max_sites=draw(st.none() | st.integers(0, 3)),
            max_budget_share=draw(st.none() | st.sampled_from([0.25, 0.5, 0.75, 1.0])),
            bands=bands[t],
        )
        for t in range(n_types)
    )
    demand_xy = _grid_points(draw, n_demand)
    site_xy = _grid_points(draw, n_sites)
    for xy in (demand_xy, site_xy):  # twins: same place (merged units, dominated columns)
        for k in range(1, len(xy)):
            if draw(st.integers(0, 5)) == 0:
                xy[k] = xy[k - 1]
    population = _matrix(draw, n_demand, n_types, st.integers(0, 200))
    site_cost = _matrix(draw, n_sites, n_types,
                        st.one_of(st.integers(1, 12), st.just(np.nan)))
    usable_cost = np.where(np.isfinite(site_cost), site_cost, 0.0)
    budget = float(draw(st.integers(0, int(usable_cost.sum()) + 2)))
    n_existing = draw(st.integers(0, 3))
    existing_xy = _grid_points(draw, n_existing)
    existing_type = np.array([draw(st.integers(0, n_types - 1)) for _ in range(n_existing)],
                             dtype=np.int64)

    forced_sites: list[int] = []
    forced_type: list[int] = []
    usable = np.nonzero(np.isfinite(site_cost).any(axis=1))[0]
    if len(usable) and draw(st.integers(0, 3)) == 0:
        site = int(draw(st.sampled_from(usable)))
        finite = np.nonzero(np.isfinite(site_cost[site]))[0].tolist()
        forced_sites.append(site)
        forced_type.append(draw(st.sampled_from([ANY_TYPE, *finite])))
    excluded = np.zeros(n_sites, dtype=bool)
    for j in draw(st.sets(st.integers(0, n_sites - 1), max_size=2)):
        if j not in forced_sites:
            excluded[j] = True

    distances = None
    if draw(st.integers(0, 4)) == 0:
        n_targets = n_sites + n_existing
        listed = [(i, k) for i in range(n_demand) for k in range(n_targets)
                  if draw(st.integers(0, 3)) > 0]
        distance = [float(draw(st.integers(0, 50)) * GRID_M) for _ in listed]
        if listed:
            i, k = np.array(listed, dtype=np.int64).T
            distances = DistancePairs(i, k, np.array(distance))
        else:
            distances = DistancePairs(np.empty(0, np.int64), np.empty(0, np.int64),
                                      np.empty(0))

    policy: dict[str, object] = {}
    if on & {"soft_floors", "hard_floors", "maxmin"}:
        codes = np.array([draw(st.integers(0, 2)) for _ in range(n_demand)])
        uniques, codes = np.unique(codes, return_inverse=True)
        policy["unit_group"] = codes.astype(np.int64)
        policy["group_names"] = tuple(GROUP_NAMES[int(u)] for u in uniques)
    if on & {"soft_floors", "hard_floors"}:
        policy["floor_share"] = _shares(draw, n_types)
        policy["floor_mode"] = "soft" if "soft_floors" in on else "hard"
        policy["floor_penalty"] = draw(st.sampled_from([0.5, 1.0, 3.0]))
    if on & {"targets", "min_cost"}:
        policy["target_share"] = _shares(draw, n_types)
    if "min_cost" in on:
        policy["objective"] = "min_cost"
        if draw(st.booleans()):
            budget = np.inf
    if "maxmin" in on:
        policy["maxmin_types"] = tuple(sorted(draw(st.sets(st.sampled_from(range(n_types)),
                                                           min_size=1))))
    if "circle" in on:
        policy["circle_types"] = tuple(sorted(draw(st.sets(st.sampled_from(range(n_types)),
                                                           min_size=1))))
        policy["circle_weight"] = draw(st.sampled_from([0.5, 1.0, 2.0]))
        policy["circle_population"] = np.array(
            [draw(st.integers(0, 100)) for _ in range(n_demand)], dtype=float)
    if capacitated:
        capacity = np.full(site_cost.shape, np.nan)
        factor = draw(st.sampled_from([1.0, 1.5]))
        for t in capacitated:
            values = np.array([draw(st.integers(0, 150)) for _ in range(n_sites)], float)
            capacity[:, t] = np.where(np.isfinite(site_cost[:, t]), values * factor, np.nan)
        policy["site_capacity"] = capacity
    if "area_budgets" in on:
        codes = np.array([draw(st.integers(-1, 1)) for _ in range(n_sites)], dtype=np.int64)
        present = [a for a in (0, 1) if (codes == a).any()]
        if present:
            remap = {a: k for k, a in enumerate(present)}
            policy["site_area"] = np.array([remap.get(int(c), -1) for c in codes], np.int64)
            policy["area_names"] = tuple(("a", "b")[a] for a in present)
            policy["area_budget"] = np.array([float(draw(st.integers(0, 15)))
                                              for _ in present])
    if "phasing" in on:
        n_years = draw(st.integers(2, 3))
        policy["years"] = tuple(str(2026 + y) for y in range(n_years))
        policy["year_budget"] = np.array([float(draw(st.integers(0, 15)))
                                          for _ in range(n_years)])
        policy["phasing"] = draw(st.sampled_from(["accumulated", "final"]))
        if on & {"soft_floors", "hard_floors"}:
            policy["phasing"] = "final"  # floors hold in the final year only
        if not np.isfinite(budget) or draw(st.booleans()):
            budget = float(policy["year_budget"].sum())  # type: ignore[union-attr]

    instance = SitingInstance(
        types=types,
        demand_ids=np.array([f"d{i}" for i in range(n_demand)], dtype=object),
        demand_xy=demand_xy,
        population=population,
        site_ids=np.array([f"s{j}" for j in range(n_sites)], dtype=object),
        site_xy=site_xy,
        site_cost=site_cost,
        budget=budget,
        existing_ids=np.array([f"e{k}" for k in range(n_existing)], dtype=object),
        existing_xy=existing_xy,
        existing_type=existing_type,
        forced_sites=np.array(forced_sites, dtype=np.int64),
        forced_type=np.array(forced_type, dtype=np.int64),
        excluded=excluded,
        distances=distances,
        policy=Policy(**policy),  # type: ignore[arg-type]
    )
    return Case(instance, tuple(sorted(on)))


def run(inst: SitingInstance, **options: object) -> Plan:
    return solve(inst, time_limit_s=TIME_LIMIT_S, mip_gap=MIP_GAP,  # type: ignore[arg-type]
                 **options)


# ------------------------------------------------------------------------ reference


def dense_distances(inst: SitingInstance) -> tuple[np.ndarray, np.ndarray]:
    """Demand x site and demand x existing distances (inf where a supplied pair is missing),
    with the same arithmetic (``np.hypot`` of coordinate differences) a GIS would use."""
    m = inst.n_sites
    targets = np.vstack([inst.site_xy, inst.existing_xy]).reshape(-1, 2)
    if inst.distances is None:
        full = np.hypot(inst.demand_xy[:, None, 0] - targets[None, :, 0],
                        inst.demand_xy[:, None, 1] - targets[None, :, 1])
    else:
        full = np.full((inst.n_demand, len(targets)), np.inf)
        pairs = inst.distances
        full[pairs.demand_index, pairs.target_index] = pairs.distance_m
    return full[:, :m], full[:, m:]


def indices_from_chosen(plan: Plan) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Site, type (and year) indices read back from ``plan.chosen_sites()`` only."""
    inst = plan.instance
    chosen = plan.chosen_sites()
    site_position = {str(s): j for j, s in enumerate(inst.site_ids)}
    type_position = {name: t for t, name in enumerate(inst.type_names)}
    sites = np.array([site_position[s] for s in chosen["site_id"]], dtype=np.int64)
    kinds = np.array([type_position[t] for t in chosen["type"]], dtype=np.int64)
    years = None
    if "year" in chosen.columns:
        year_position = {y: k for k, y in enumerate(inst.policy.years)}
        years = np.array([year_position[y] for y in chosen["year"]], dtype=np.int64)
    assert chosen["cost"].to_numpy() == pytest.approx(inst.site_cost[sites, kinds])
    assert chosen["x"].to_numpy() == pytest.approx(inst.site_xy[sites, 0])
    return sites, kinds, years


def nearest_by_type(inst: SitingInstance, sites: np.ndarray, kinds: np.ndarray,
                    *, existing: bool = True) -> np.ndarray:
    """(n, T): distance from each unit to its nearest open (or existing) facility of type t."""
    d_site, d_existing = dense_distances(inst)
    out = np.full((inst.n_demand, inst.n_types), np.inf)
    for t in range(inst.n_types):
        mine = sites[kinds == t]
        if len(mine):
            out[:, t] = d_site[:, mine].min(axis=1)
        if existing and (inst.existing_type == t).any():
            out[:, t] = np.minimum(out[:, t],
                                   d_existing[:, inst.existing_type == t].min(axis=1))
    return out


def reference_value(inst: SitingInstance, sites: np.ndarray, kinds: np.ndarray) -> float:
    """The model's objective of an uncapacitated plan, from the README's definitions."""
    policy = inst.policy
    nearest = nearest_by_type(inst, sites, kinds)
    covered = nearest <= inst.radii[None, :]
    value = 0.0
    for t, kind in enumerate(inst.types):
        credit = np.zeros(inst.n_demand)
        for radius, share in reversed(list(zip(kind.band_radii(), kind.band_credits(),
                                               strict=True))):
            credit = np.where(nearest[:, t] <= radius, share, credit)
        value += kind.weight * float(credit @ inst.population[:, t])
    if policy.has_circle:
        complete = covered[:, list(policy.circle_types)].all(axis=1)
        value += policy.circle_weight * float(policy.circle_population[complete].sum())
    if policy.floor_mode == "soft" and policy.has_floors:
        value -= policy.floor_penalty * sum(
            short for name, short in shortfalls(inst, covered).items()
            if name.startswith("floor"))
    return value


def least_cost(inst: SitingInstance, sites: np.ndarray, kinds: np.ndarray,
               served: np.ndarray) -> float:
    """The least-cost objective of a plan: its cost, plus floor_penalty per person short of
    a soft floor (what the model minimises). ``served``: people served per unit and type,
    read for capacitated types only."""
    value = float(inst.site_cost[sites, kinds].sum())
    policy = inst.policy
    if policy.floor_mode == "soft" and policy.has_floors:
        covered = nearest_by_type(inst, sites, kinds) <= inst.radii[None, :]
        people = inst.population * covered
        capacitated = list(policy.capacitated_types())
        people[:, capacitated] = served[:, capacitated]
        value += policy.floor_penalty * sum(
            short for name, short in shortfalls(inst, covered, people).items()
            if name.startswith("floor"))
    return value


def worst_share(inst: SitingInstance, covered: np.ndarray) -> float:
    """The lowest covered share over every group and max-min type (1 if none)."""
    policy = inst.policy
    shares = [1.0]
    for t in policy.maxmin_types:
        pop = inst.population[:, t]
        for c in range(len(policy.group_names)):
            members = policy.unit_group == c
            if pop[members].sum() > 0:
                shares.append(float(pop[members & covered[:, t]].sum() / pop[members].sum()))
    return min(shares)


def shortfalls(inst: SitingInstance, covered: np.ndarray,
               served: np.ndarray | None = None) -> dict[str, float]:
    """People short of each floor and target (positive entries only)."""
    policy = inst.policy
    people = inst.population * covered if served is None else served
    out: dict[str, float] = {}
    for t in range(inst.n_types):
        pop = inst.population[:, t]
        share = policy.target(t)
        if share is not None:
            short = share * pop.sum() - people[:, t].sum()
            if short > 1e-6 * max(1.0, pop.sum()):
                out[f"target[{t}]"] = float(short)
        share = policy.floor(t) if policy.has_floors else None
        if share is not None:
            for c in range(len(policy.group_names)):
                members = policy.unit_group == c
                need = share * pop[members].sum()
                short = need - people[members, t].sum()
                if short > 1e-6 * max(1.0, need):
                    out[f"floor[{c},{t}]"] = float(short)
    return out


def violations(inst: SitingInstance, sites: np.ndarray, kinds: np.ndarray,
               years: np.ndarray | None, served: np.ndarray | None = None) -> list[str]:
    """Constraints the plan breaks, checked from the instance alone (empty: feasible).

    ``served`` (people served per unit and type) is the plan's capacity-limited service;
    without it, capacitated types count only the people existing facilities serve (a lower
    bound on what the plan can serve).
    """
    policy = inst.policy
    found = []
    if len(np.unique(sites)) != len(sites):
        found.append("a site has two uses")
    costs = inst.site_cost[sites, kinds]
    if not np.isfinite(costs).all():
        found.append("a site took a type it cannot take (blank cost)")
    if not at_most(float(costs.sum()), inst.budget):
        found.append("over the budget")
    if inst.excluded[sites].any():
        found.append("an excluded site opened")
    opened = dict(zip(sites.tolist(), kinds.tolist(), strict=True))
    for site, kind in zip(inst.forced_sites.tolist(), inst.forced_type.tolist(), strict=True):
        if site not in opened or (kind != ANY_TYPE and opened[site] != kind):
            found.append(f"forced site {site} not open as required")
    for t, kind in enumerate(inst.types):
        if kind.max_sites is not None and (kinds == t).sum() > kind.max_sites:
            found.append(f"more than max_sites of {kind.name}")
        if kind.max_budget_share is not None and not at_most(
                float(costs[kinds == t].sum()), kind.max_budget_share * inst.budget):
            found.append(f"over the budget share of {kind.name}")
    if policy.has_area_budgets:
        for a, limit in enumerate(policy.area_budget):
            if not at_most(float(costs[policy.site_area[sites] == a].sum()), float(limit)):
                found.append(f"area {policy.area_names[a]} over its budget")
    if policy.has_phasing:
        if years is None or len(years) != len(sites):
            found.append("no year for every new use")
        else:
            for y, limit in enumerate(policy.year_budget):
                if not at_most(float(costs[years == y].sum()), float(limit)):
                    found.append(f"year {policy.years[y]} over its budget")
    covered = nearest_by_type(inst, sites, kinds) <= inst.radii[None, :]
    people = inst.population * covered
    capacitated = list(policy.capacitated_types())
    if capacitated:
        by_existing = nearest_by_type(inst, sites[:0], kinds[:0]) <= inst.radii[None, :]
        people[:, capacitated] = (inst.population * by_existing)[:, capacitated] \
            if served is None else served[:, capacitated]
    for name, short in shortfalls(inst, covered, people).items():
        if name.startswith("target") or policy.floor_mode == "hard":
            found.append(f"{name} is {short} people short")
    return found


def check_feasible(inst: SitingInstance, plan: Plan) -> None:
    """Property (a): every constraint holds for the plan, checked from the instance."""
    policy = inst.policy
    sites, kinds = plan.site_index, plan.type_index
    assert plan.coverage is not None
    assert plan.total_cost == pytest.approx(float(inst.site_cost[sites, kinds].sum()))
    covered = nearest_by_type(inst, sites, kinds) <= inst.radii[None, :]
    for t in policy.capacitated_types():
        got = plan.coverage.served[:, t]
        assert (got <= inst.population[:, t] * covered[:, t] + 1e-6).all(), \
            f"type {t} serves people out of reach"
        capacity = policy.site_capacity[sites, kinds]
        use = plan.coverage.utilisation[sites]
        limited = (kinds == t) & np.isfinite(capacity)
        assert (use[limited] <= capacity[limited] * (1 + 1e-6) + 1e-6).all(), "over capacity"
    broken = violations(inst, sites, kinds, plan.year_index, plan.coverage.served)
    assert not broken, broken


def witness(inst: SitingInstance) -> bool:
    """True when opening only the forced sites (as their type, or their cheapest type) is
    feasible: then the instance is not infeasible. With phasing, in any years (every
    assignment of years is tried)."""
    sites = inst.forced_sites.astype(np.int64)
    kinds = inst.forced_type.copy()
    for k, (site, kind) in enumerate(zip(sites, kinds, strict=True)):
        if kind == ANY_TYPE:
            costs = inst.site_cost[site]
            kinds[k] = int(np.nanargmin(costs)) if np.isfinite(costs).any() else 0
    if not inst.policy.has_phasing:
        return not violations(inst, sites, kinds, None)
    return any(not violations(inst, sites, kinds, np.array(years, dtype=np.int64))
               for years in product(range(len(inst.policy.years)), repeat=len(sites)))


def check_bound(inst: SitingInstance, plan: Plan) -> None:
    """Property (f): the bound is on the right side of the objective."""
    if not plan.has_solution or plan.bound is None:
        return
    assert plan.objective is not None
    if inst.policy.objective == "min_cost":
        assert at_most(plan.bound, plan.objective), (plan.bound, plan.objective)
        assert plan.coverage is not None
        assert close(plan.objective, least_cost(inst, plan.site_index, plan.type_index,
                                                plan.coverage.served))
    else:
        assert at_most(plan.objective, plan.bound), (plan.objective, plan.bound)
    assert plan.gap is None or plan.gap >= -1e-9


def check_coverage(inst: SitingInstance, plan: Plan) -> None:
    """Property (b): coverage from ``chosen_sites()`` alone equals the reported coverage."""
    sites, kinds, years = indices_from_chosen(plan)
    if years is not None:
        assert plan.year_index is not None
    covered = nearest_by_type(inst, sites, kinds) <= inst.radii[None, :]
    before = nearest_by_type(inst, sites[:0], kinds[:0]) <= inst.radii[None, :]
    table = plan.coverage_by_type().set_index("type")
    for t, kind in enumerate(inst.types):
        pop = inst.population[:, t]
        row = table.loc[kind.name]
        assert row["covered"] == pytest.approx(float(pop[covered[:, t]].sum())), kind.name
        assert row["covered_existing"] == pytest.approx(float(pop[before[:, t]].sum()))
        assert row["new_sites"] == int((kinds == t).sum())
        assert row["cost"] == pytest.approx(float(inst.site_cost[sites[kinds == t], t].sum()))
    assert plan.coverage is not None
    assert (plan.coverage.covered == covered).all(), "per-unit coverage differs"
    policy = inst.policy
    if policy.maxmin_types and not policy.capacitated_types():
        # The second stage keeps the worst share the first stage reached.
        reached = plan.report.objective_parts["worst_group_share"]
        assert worst_share(inst, covered) >= reached - 1e-6, (worst_share(inst, covered),
                                                              reached)
    if policy.objective == "min_cost":
        assert close(plan.objective, least_cost(inst, sites, kinds, plan.coverage.served))
    elif policy.capacitated_types():
        return  # served comes from an assignment LP
    elif policy.has_phasing and policy.phasing == "accumulated":
        assert years is not None
        value = sum(reference_value(inst, sites[years <= y], kinds[years <= y])
                    for y in range(len(policy.years)))
        assert close(plan.objective, value), (plan.objective, value)
    else:
        value = reference_value(inst, sites, kinds)
        assert close(plan.objective, value), (plan.objective, value)


def record(text: str, *, is_event: bool = False) -> None:
    """A note (printed with a falsifying example) or an event (counted in the statistics),
    when running under hypothesis."""
    if currently_in_test_context():
        (event if is_event else note)(text)


def check_plan(case: Case, plan: Plan) -> None:
    """Properties (a), (b) and (f) of one solved plan."""
    inst = case.instance
    record(f"status={plan.status} objective={plan.objective} bound={plan.bound} "
         f"sites={plan.site_index.tolist()} types={plan.type_index.tolist()} "
         f"message={plan.report.message!r} warnings={plan.report.warnings} "
         f"explanation={plan.explanation}")
    record(f"status {plan.status}", is_event=True)
    for switch in case.switches:
        record(f"switch {switch}", is_event=True)
    assert plan.status in ("optimal", "feasible", "infeasible", "no_solution"), plan.status
    if plan.status == "feasible":
        record(f"status feasible with {case.switches}", is_event=True)
    if plan.status == "infeasible":
        assert plan.explanation, "infeasible without an explanation"
        assert plan.objective is None
        assert not witness(inst), "infeasible, but opening only the forced sites is feasible"
        return
    assert plan.has_solution, (plan.status, plan.report.message)
    check_feasible(inst, plan)
    check_coverage(inst, plan)
    check_bound(inst, plan)


# ----------------------------------------------------------------------- properties


@sized(ci=600, long=10000)
@given(cases())
def test_plan_is_feasible_recomputable_and_bounded(case: Case) -> None:
    """(a) feasible, (b) coverage and objective recomputed from chosen_sites(), (f) bound."""
    check_plan(case, run(case.instance))


def _better_or_equal(inst: SitingInstance, small: Plan, large: Plan, what: str) -> None:
    """The larger instance's optimum is at least the smaller's (cost: at most)."""
    if small.has_solution:
        assert large.status != "infeasible", f"{what} made a feasible instance infeasible"
    if small.status != "optimal" or large.status != "optimal":
        event(f"{what}: not both optimal")
        return
    event(f"{what}: compared")
    if inst.policy.objective == "min_cost":
        assert at_most(large.objective, small.objective), (what, small.objective,
                                                           large.objective)
    else:
        assert at_most(small.objective, large.objective), (what, small.objective,
                                                           large.objective)


@sized(ci=250, long=4000)
@given(cases(switches=tuple(s for s in SWITCHES if s != "maxmin")),
       st.integers(1, 10), st.integers(0, 2), st.integers(1, 10))
def test_optimum_never_falls_when_budget_or_radius_grows(
        case: Case, extra_budget: int, grown_type: int, extra_radius: int) -> None:
    """(c) more budget, or a larger radius (bands shifted with it), never lowers the optimum
    (never raises the least cost). Max-min is excluded: a larger budget raises its floor."""
    inst = case.instance
    base = run(inst)
    check_plan(case, base)
    policy = inst.policy
    richer_policy = policy
    if policy.has_phasing:
        richer_policy = replace(policy, year_budget=policy.year_budget + extra_budget)
    richer = replace(inst, budget=inst.budget + extra_budget, policy=richer_policy)
    _better_or_equal(inst, base, run(richer), "budget")
    t = grown_type % inst.n_types
    delta = float(extra_radius * GRID_M)
    kind = inst.types[t]
    wider_kind = replace(kind, radius_m=kind.radius_m + delta,
                         bands=tuple((r + delta, c) for r, c in kind.bands))
    wider = replace(inst, types=(*inst.types[:t], wider_kind, *inst.types[t + 1:]))
    _better_or_equal(inst, base, run(wider), "radius")


def shuffled(inst: SitingInstance, rng: np.random.Generator) -> SitingInstance:
    """The same instance with demand, site and existing rows shuffled and every id renamed."""
    n, m, e = inst.n_demand, inst.n_sites, len(inst.existing_ids)
    pd_, ps, pe = rng.permutation(n), rng.permutation(m), rng.permutation(e)
    inv_d, inv_s, inv_e = np.argsort(pd_), np.argsort(ps), np.argsort(pe)
    distances = None
    if inst.distances is not None:
        d = inst.distances
        target = np.concatenate([inv_s, m + inv_e]).astype(np.int64)[d.target_index]
        order = rng.permutation(len(d.demand_index))
        distances = DistancePairs(inv_d[d.demand_index][order], target[order],
                                  d.distance_m[order])
    policy = inst.policy
    changes: dict[str, object] = {}
    if policy.unit_group is not None:
        changes["unit_group"] = policy.unit_group[pd_]
    if policy.circle_population is not None:
        changes["circle_population"] = policy.circle_population[pd_]
    if policy.site_area is not None:
        changes["site_area"] = policy.site_area[ps]
    if policy.site_capacity is not None:
        changes["site_capacity"] = policy.site_capacity[ps]
    return replace(
        inst,
        demand_ids=np.array([f"unit-{k}" for k in rng.permutation(n)], dtype=object),
        demand_xy=inst.demand_xy[pd_], population=inst.population[pd_],
        site_ids=np.array([f"地块{k}" for k in rng.permutation(m)], dtype=object),
        site_xy=inst.site_xy[ps], site_cost=inst.site_cost[ps], excluded=inst.excluded[ps],
        existing_ids=np.array([f"ex {k}" for k in rng.permutation(e)], dtype=object),
        existing_xy=inst.existing_xy[pe], existing_type=inst.existing_type[pe],
        forced_sites=inv_s[inst.forced_sites].astype(np.int64),
        distances=distances, policy=replace(policy, **changes),  # type: ignore[arg-type]
    )


@sized(ci=250, long=4000)
@given(cases(), st.integers(0, 2**32 - 1))
def test_optimum_invariant_under_shuffled_rows_and_renamed_ids(case: Case, seed: int) -> None:
    """(d) the optimum depends on the data, not on row order or ids."""
    inst = case.instance
    plan = run(inst)
    other = shuffled(inst, np.random.default_rng(seed))
    again = run(other)
    check_plan(Case(other, case.switches), again)
    assert (plan.status == "infeasible") == (again.status == "infeasible")
    if plan.status != "optimal" or again.status != "optimal":
        event("shuffle: not both optimal")
        return
    event("shuffle: compared")
    assert close(plan.objective, again.objective), (plan.objective, again.objective)


CBC = "cbc" in available_backends()


@pytest.mark.skipif(not CBC, reason="CBC (PuLP) not installed")
@sized(ci=250, long=4000)
@given(cases())
def test_highs_and_cbc_agree_on_proven_optima(case: Case) -> None:
    """(e) both backends' MIPs (no heuristic, so the backend decides) reach the same
    optimum, and agree on infeasibility."""
    inst = case.instance
    highs = run(inst, heuristic=False)
    cbc = run(inst, solver="cbc", heuristic=False)
    check_plan(case, highs)
    check_plan(case, cbc)
    if "infeasible" in (highs.status, cbc.status) and "feasible" not in (highs.status,
                                                                          cbc.status):
        assert highs.status == cbc.status, (highs.status, cbc.status)
    if highs.status != "optimal" or cbc.status != "optimal":
        event("backends: not both optimal")
        return
    event("backends: compared")
    assert close(highs.objective, cbc.objective), (highs.objective, cbc.objective)


# ------------------------------------------------------------------- regressions


def test_describe_names_every_policy_field() -> None:
    """The falsifying-example printout is enough to rebuild an instance."""
    text = describe(replace(tiny_instance(), policy=Policy(target_share=(0.5,))))
    assert "policy.target_share=(0.5,)" in text and "site_cost=" in text


def tiny_instance() -> SitingInstance:
    """One unit exactly on the radius of one site (the inclusive boundary)."""
    return SitingInstance(
        types=(FacilityType("park", radius_m=50.0),),
        demand_ids=np.array(["a", "b", "c"], dtype=object),
        demand_xy=np.array([[0.0, 0.0], [30.0, 40.0], [300.0, 0.0]]),
        population=np.array([[10.0], [20.0], [5.0]]),
        site_ids=np.array(["s0", "s1"], dtype=object),
        site_xy=np.array([[0.0, 0.0], [300.0, 10.0]]),
        site_cost=np.array([[2.0], [1.0]]),
        budget=2.0,
    )


def test_unit_exactly_on_the_radius_is_covered() -> None:
    plan = run(tiny_instance())
    assert plan.status == "optimal" and plan.objective == 30.0
    check_plan(Case(tiny_instance(), ()), plan)
    assert pd.Series(plan.chosen_sites()["site_id"]).tolist() == ["s0"]


def maxmin_soft_floor_instance(canteen_floor: float) -> SitingInstance:
    """Max-min on parks, a soft canteen floor: park and canteen sites at a (group g0) and b
    (g1, with c, whom nothing reaches); a budget for two conversions."""
    return SitingInstance(
        types=(FacilityType("park", radius_m=100.0), FacilityType("canteen", radius_m=100.0)),
        demand_ids=np.array(["a", "b", "c"], dtype=object),
        demand_xy=np.array([[0.0, 0.0], [1000.0, 0.0], [5000.0, 0.0]]),
        population=np.array([[10.0, 10.0], [10.0, 10.0], [10.0, 10.0]]),
        site_ids=np.array(["s0", "s1"], dtype=object),
        site_xy=np.array([[0.0, 0.0], [1000.0, 0.0]]),
        site_cost=np.array([[1.0, 1.0], [1.0, 1.0]]),
        budget=2.0,
        policy=Policy(unit_group=np.array([0, 1, 1]), group_names=("g0", "g1"),
                      floor_share=(None, canteen_floor), floor_mode="soft",
                      floor_penalty=1.0, maxmin_types=(0,)),
    )


def test_maxmin_with_an_unmet_soft_floor_is_not_infeasible() -> None:
    """Shrunk by hypothesis from test_plan_is_feasible_recomputable_and_bounded: max-min on
    type0, a 10 % soft floor on type2 that nothing can reach, no forced site. The empty
    plan is feasible (soft floors only cost a penalty). Fixed bug (optimizer/solve.py,
    _solve_maxmin): the second stage made every floor hard, so the solve said
    infeasible."""
    kinds = tuple(FacilityType(f"type{t}", radius_m=10.0, weight=0.0, population=f"pop{t}")
                  for t in range(3))
    population = np.zeros((6, 3))
    population[5, 2] = 1.0
    inst = SitingInstance(
        types=kinds,
        demand_ids=np.array([f"d{i}" for i in range(6)], dtype=object),
        demand_xy=np.zeros((6, 2)),
        population=population,
        site_ids=np.array(["s0", "s1", "s2"], dtype=object),
        site_xy=np.zeros((3, 2)),
        site_cost=np.array([[1.0, np.nan, np.nan]] + [[np.nan] * 3] * 2),
        budget=0.0,
        policy=Policy(unit_group=np.zeros(6, dtype=np.int64), group_names=("east",),
                      floor_share=(None, None, 0.1), floor_mode="soft", floor_penalty=0.5,
                      maxmin_types=(0,)),
    )
    assert witness(inst)
    plan = run(inst)
    assert plan.status == "optimal", plan.explanation


def test_maxmin_with_an_unmet_soft_floor_raises_the_worst_share() -> None:
    """Two parks give the worst group (g1) half its people: the max-min stage must find
    0.5, whatever a soft canteen floor of 100 % (unreachable for c) costs in penalty.
    Fixed bug: the first stage kept the soft floors' penalties beside the worst share and
    traded one for the other."""
    plan = run(maxmin_soft_floor_instance(1.0))
    assert plan.report.objective_parts.get("worst_group_share") == pytest.approx(0.5)
    assert plan.status == "optimal", plan.explanation


def test_maxmin_with_a_met_soft_floor() -> None:
    """Without the unmet floor the same scenario solves: parks at both sites."""
    plan = run(maxmin_soft_floor_instance(0.0))
    assert plan.status == "optimal"
    assert plan.report.objective_parts["worst_group_share"] == pytest.approx(0.5)
    assert plan.type_index.tolist() == [0, 0]


def forced_phasing_instance(year_budget: list[float], forced: int = 0) -> SitingInstance:
    """Shrunk by hypothesis (test_plan_is_feasible_recomputable_and_bounded, with the
    witness opening forced sites in the first year with room): s0 (10 people) or s1 (20) is
    forced open as a park (cost 1); two years."""
    return SitingInstance(
        types=(FacilityType("park", radius_m=100.0),),
        demand_ids=np.array(["a", "b"], dtype=object),
        demand_xy=np.array([[0.0, 0.0], [500.0, 0.0]]),
        population=np.array([[10.0], [20.0]]),
        site_ids=np.array(["s0", "s1"], dtype=object),
        site_xy=np.array([[0.0, 0.0], [500.0, 0.0]]),
        site_cost=np.array([[1.0], [1.0]]),
        budget=float(sum(year_budget)),
        forced_sites=np.array([forced]), forced_type=np.array([0]),
        policy=Policy(years=("2026", "2027"), year_budget=np.array(year_budget),
                      phasing="accumulated"),
    )


@pytest.mark.parametrize("objective", ["coverage", "min_cost"])
def test_forced_site_may_open_in_a_later_year(objective: str) -> None:
    """Fixed bug (optimizer/phasing.py, expand_years): forced columns were fixed in the
    first year's copy only, so with no room in that year's budget the scenario was called
    infeasible although the site can open in a later year."""
    inst = forced_phasing_instance([0.0, 1.0])
    inst = replace(inst, policy=replace(inst.policy, objective=objective))
    plan = run(inst)
    assert plan.status == "optimal", plan.explanation
    assert plan.site_index.tolist() == [0] and plan.year_index.tolist() == [1]


def test_forced_site_opens_in_the_first_year_when_it_fits() -> None:
    """The forced site serves more: it opens first."""
    plan = run(forced_phasing_instance([1.0, 1.0], forced=1))
    assert plan.status == "optimal" and plan.objective == 20.0 * 2 + 10.0
    assert plan.site_index.tolist() == [1, 0] and plan.year_index.tolist() == [0, 1]
    check_plan(Case(plan.instance, ("phasing",)), plan)


def test_forced_site_waits_for_a_site_that_serves_more() -> None:
    """The forced site opens in the year the optimum puts it in, not necessarily the first:
    s1 (20 people) in 2026, the forced s0 (10) in 2027 serve 50 person-years, 10 more than
    with s0 first (which the solver gave while forced sites had to open in the first
    year)."""
    plan = run(forced_phasing_instance([1.0, 1.0]))
    assert plan.status == "optimal" and plan.objective == 20.0 * 2 + 10.0
    assert plan.site_index.tolist() == [1, 0] and plan.year_index.tolist() == [0, 1]
    assert plan.instance.forced_sites.tolist() == [0]
    check_plan(Case(plan.instance, ("phasing",)), plan)


def test_target_with_accumulated_phasing_is_met_in_the_final_year() -> None:
    """Minimal form of a hypothesis example (test_highs_and_cbc_agree_on_proven_optima:
    least cost, phasing, a 100 % target): opening A in 2026 and B in 2027 meets the target
    for a cost of 2. Fixed bug (optimizer/model.py, _floor_and_target_rows): under
    accumulated phasing the target's row summed every year's copy of the groups, so the
    MIP took a plan covering half the people in two years as meeting a 100 % target, the
    re-evaluation rejected it and the scenario ended with status 'error'."""
    inst = SitingInstance(
        types=(FacilityType("park", radius_m=100.0),),
        demand_ids=np.array(["a", "b"], dtype=object),
        demand_xy=np.array([[0.0, 0.0], [1000.0, 0.0]]),
        population=np.array([[1.0], [1.0]]),
        site_ids=np.array(["A", "B"], dtype=object),
        site_xy=np.array([[0.0, 0.0], [1000.0, 0.0]]),
        site_cost=np.array([[1.0], [1.0]]),
        budget=2.0,
        policy=Policy(target_share=(1.0,), years=("2026", "2027"),
                      year_budget=np.array([1.0, 1.0]), phasing="accumulated",
                      objective="min_cost"),
    )
    plan = run(inst)
    assert plan.status == "optimal", plan.report.warnings
    assert plan.objective == 2.0


def test_target_with_final_phasing_is_met() -> None:
    """The same with only the final year counted: solved."""
    inst = SitingInstance(
        types=(FacilityType("park", radius_m=100.0),),
        demand_ids=np.array(["a", "b"], dtype=object),
        demand_xy=np.array([[0.0, 0.0], [1000.0, 0.0]]),
        population=np.array([[1.0], [1.0]]),
        site_ids=np.array(["A", "B"], dtype=object),
        site_xy=np.array([[0.0, 0.0], [1000.0, 0.0]]),
        site_cost=np.array([[1.0], [1.0]]),
        budget=2.0,
        policy=Policy(target_share=(1.0,), years=("2026", "2027"),
                      year_budget=np.array([1.0, 1.0]), phasing="final",
                      objective="min_cost"),
    )
    plan = run(inst)
    assert plan.status == "optimal" and plan.objective == 2.0
    check_plan(Case(inst, ("min_cost", "phasing", "targets")), plan)


def least_cost_soft_floor_instance(budget: float) -> SitingInstance:
    """Shrunk by hypothesis (test_optimum_never_falls_when_budget_or_radius_grows): least
    cost with a soft 10 % floor (penalty 0.5 per person) that one site of cost 1 meets."""
    return SitingInstance(
        types=(FacilityType("type0", radius_m=10.0, weight=0.0, population="pop0"),),
        demand_ids=np.array(["d0", "d1", "d2", "d3"], dtype=object),
        demand_xy=np.zeros((4, 2)),
        population=np.array([[0.0], [0.0], [0.0], [20.0]]),
        site_ids=np.array(["s0", "s1", "s2", "s3"], dtype=object),
        site_xy=np.zeros((4, 2)),
        site_cost=np.array([[1.0], [np.nan], [np.nan], [np.nan]]),
        budget=budget,
        policy=Policy(unit_group=np.zeros(4, dtype=np.int64), group_names=("east",),
                      floor_share=(0.1,), floor_mode="soft", floor_penalty=0.5,
                      target_share=(None,), objective="min_cost"),
    )


def test_least_cost_with_soft_floors_never_rises_with_the_budget() -> None:
    """Fixed bug (optimizer/assess.py): the MIP minimised cost + floor_penalty x people
    short, but the plan was scored and reported by its cost alone, so with budget 1 it
    opened s0 and reported 1, though a plan of cost 0 (budget 0) is feasible. The objective
    is now cost + penalty, what the MIP minimises."""
    none = run(least_cost_soft_floor_instance(0.0))
    some = run(least_cost_soft_floor_instance(1.0))
    assert none.status == some.status == "optimal"
    assert some.objective <= none.objective


def test_forced_site_no_year_can_hold_is_explained() -> None:
    plan = run(forced_phasing_instance([0.5, 0.5]))
    assert plan.status == "infeasible"
    assert plan.explanation == ("site s0 is forced open and costs at least 1, more than any "
                                "year's budget (at most 0)",)
