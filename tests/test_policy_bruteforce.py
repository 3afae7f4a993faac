"""Policy switches of solve() against an exhaustive enumeration on tiny random instances.

The reference below is written from the formulation in :mod:`optimizer.policy` only (it
shares no code with ``optimizer``): every assignment of {closed, type 0, type 1, ...} to
each of at most six sites is listed, coverage is evaluated from dense numpy distances
(``d <= r`` inclusive), and capacity-limited service is an independent LP per plan
(:func:`scipy.optimize.linprog`, HiGHS) over the demand x open-site pairs.

Semantics checked (see the module docstring of :mod:`optimizer.policy`):

* budgets by area: spend per area <= its budget (sites coded -1 have none), besides the total;
* equity floors: covered target population of type t in group c (existing facilities
  count) >= share * group population, hard (plans excluded) or soft (objective minus
  penalty * people short);
* city-wide targets: always hard;
* least cost: minimise the total cost subject to the budget and the targets / floors
  (with soft floors: cost + penalty * people short);
* complete life circle: the objective gains w * circle population of units covered within
  ``radius_m`` by every listed type;
* distance decay: credit of the nearest facility's band (1 within ``radius_m``);
* capacities: demand assigned fractionally to open sites in reach up to their capacity,
  existing facilities serve their units fully; the objective counts people served.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import numpy as np
import pytest
from scipy.optimize import linprog

from optimizer import FacilityType, Plan, SitingInstance, solve
from optimizer.errors import InputError
from optimizer.policy import Policy
from optimizer.solvers import available_backends

CLOSED = -1
TOL = 1e-7
"""People: populations are whole numbers and shares multiples of 0.01, so a floor is either
met exactly or missed by at least 0.01 people."""
SEEDS = range(10)
GROUP_NAMES = ("north", "south", "east")


# --------------------------------------------------------------------------- instances


def random_instance(seed: int, *, n_types: int | None = None) -> SitingInstance:
    """2-3 types, 4-6 sites, 10-20 units in an 800 m square; whole costs, some blank; one or
    two existing facilities; some units without target population."""
    rng = np.random.default_rng([20240611, seed])
    n_types = int(rng.integers(2, 4)) if n_types is None else n_types
    n_sites = int(rng.integers(4, 7))
    n_demand = int(rng.integers(10, 21))
    radii = rng.uniform(170.0, 380.0, n_types).round(1)
    weights = rng.choice([0.5, 1.0, 1.5, 2.0, 3.0], n_types)
    types = tuple(
        FacilityType(f"type{t}", radius_m=float(radii[t]), weight=float(weights[t]),
                     population=f"pop{t}")
        for t in range(n_types)
    )
    population = rng.integers(1, 120, (n_demand, n_types)).astype(float)
    population[rng.random(population.shape) < 0.15] = 0.0
    site_cost = rng.integers(1, 9, (n_sites, n_types)).astype(float)
    site_cost[rng.random(site_cost.shape) < 0.3] = np.nan
    for j in np.nonzero(~np.isfinite(site_cost).any(axis=1))[0]:
        site_cost[j, rng.integers(n_types)] = float(rng.integers(1, 9))
    cheapest = np.nanmin(site_cost, axis=1)
    budget = float(np.floor(rng.uniform(0.35, 0.65) * cheapest.sum())) + 1.0
    n_existing = int(rng.integers(1, 3))
    return SitingInstance(
        types=types,
        demand_ids=np.array([f"u{i}" for i in range(n_demand)], dtype=object),
        demand_xy=rng.uniform(0.0, 800.0, (n_demand, 2)),
        population=population,
        site_ids=np.array([f"s{j}" for j in range(n_sites)], dtype=object),
        site_xy=rng.uniform(0.0, 800.0, (n_sites, 2)),
        site_cost=site_cost,
        budget=budget,
        existing_ids=np.array([f"e{k}" for k in range(n_existing)], dtype=object),
        existing_xy=rng.uniform(0.0, 800.0, (n_existing, 2)),
        existing_type=rng.integers(0, n_types, n_existing).astype(np.int64),
    )


def policy_rng(seed: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([seed, salt, 7])


def with_policy(inst: SitingInstance, **policy: object) -> SitingInstance:
    return replace(inst, policy=Policy(**policy))  # type: ignore[arg-type]


def random_groups(inst: SitingInstance, rng: np.random.Generator) -> dict[str, object]:
    n_groups = int(rng.integers(2, 4))
    codes = rng.integers(0, n_groups, inst.n_demand)
    codes[:n_groups] = np.arange(n_groups)  # every group has a unit
    return {"unit_group": codes.astype(np.int64), "group_names": GROUP_NAMES[:n_groups]}


def random_shares(inst: SitingInstance, rng: np.random.Generator,
                  choices: tuple[float, ...]) -> tuple[float | None, ...]:
    shares: list[float | None] = [float(rng.choice(choices)) for _ in inst.types]
    shares[int(rng.integers(inst.n_types))] = None  # one type without a floor
    return tuple(shares)


def worst_group_shares(inst: SitingInstance, plans: np.ndarray,
                       unit_group: np.ndarray | None) -> np.ndarray:
    """(P, T): covered share of each type's population in the worst group (or city-wide)."""
    codes = np.zeros(inst.n_demand, np.int64) if unit_group is None else unit_group
    out = np.zeros((len(plans), inst.n_types))
    for t, kind in enumerate(inst.types):
        pop = inst.population[:, t]
        covered = nearest(inst, plans, t) <= kind.radius_m
        total = np.bincount(codes, weights=pop)
        have = np.stack([(covered[:, codes == c] * pop[codes == c]).sum(axis=1)
                         for c in range(len(total))], axis=1)
        out[:, t] = (have / np.where(total > 0, total, 1.0))[:, total > 0].min(axis=1)
    return out


def binding_shares(inst: SitingInstance, rng: np.random.Generator,
                   unit_group: np.ndarray | None, *, n_shares: int) -> tuple[float | None, ...]:
    """Shares (multiples of 0.01) between what the optimum without shares achieves in the
    worst group (or city-wide) and the most any feasible plan achieves there, on the types
    where these differ most: they usually bind and can often still be met."""
    plain = brute_force(inst)
    plans = plain.plans[plain.feasible]
    worst = worst_group_shares(inst, plans, unit_group)
    low = worst[np.argmax(plain.values[plain.feasible])]
    high = worst.max(axis=0)
    shares = np.floor((low + rng.uniform(0.3, 0.9, inst.n_types) * (high - low)) * 100) / 100
    order = np.lexsort((rng.random(inst.n_types), low - high))
    keep = order[:n_shares]
    return tuple(float(shares[t]) if t in keep else None for t in range(inst.n_types))


def floors_instance(seed: int, *, mode: str = "hard", base: SitingInstance | None = None
                    ) -> SitingInstance:
    """Equity floors on one or two types (of ``base``, with its policy, if given)."""
    inst = random_instance(seed) if base is None else base
    rng = policy_rng(seed, 1)
    groups = random_groups(inst, rng)
    shares = binding_shares(inst, rng, groups["unit_group"], n_shares=1 + seed % 2)
    return replace(inst, policy=replace(
        inst.policy, **groups, floor_mode=mode, floor_share=shares,  # type: ignore[arg-type]
        floor_penalty=float(rng.choice([0.5, 1.0, 2.5]))))


def area_instance(seed: int) -> SitingInstance:
    inst = random_instance(seed)
    rng = policy_rng(seed, 2)
    site_area = rng.integers(-1, 2, inst.n_sites).astype(np.int64)
    site_area[:2] = [0, 1]
    area_budget = rng.integers(1, 7, 2).astype(float)
    return with_policy(inst, site_area=site_area, area_names=("a", "b"),
                       area_budget=area_budget)


def targets_instance(seed: int) -> SitingInstance:
    inst = random_instance(seed)
    rng = policy_rng(seed, 3)
    return with_policy(inst, target_share=binding_shares(inst, rng, None, n_shares=1 + seed % 2))


def least_cost_instance(seed: int) -> SitingInstance:
    """Targets (and, every third seed, floors) any plan within the budget (unlimited on
    odd seeds) can reach, at 40-100 % of the most reachable."""
    inst = random_instance(seed)
    rng = policy_rng(seed, 4)
    if seed % 2:
        inst = replace(inst, budget=np.inf)
    plans = enumerate_plans(inst)
    total = plan_costs(inst, plans)[1]
    plans = plans[np.isfinite(total) & (total <= inst.budget)]
    policy: dict[str, object] = {"objective": "min_cost"}
    for key, groups in (("target_share", None), ("floor_share", random_groups(inst, rng))):
        if key == "floor_share" and seed % 3:
            continue
        high = worst_group_shares(inst, plans, None if groups is None
                                  else groups["unit_group"]).max(axis=0)
        shares = np.floor(high * rng.uniform(0.4, 1.0, inst.n_types) * 100) / 100
        policy[key] = tuple(float(s) if rng.random() < 0.7 else None for s in shares)
        if groups is not None:
            policy.update(groups)
    return with_policy(inst, **policy)


def circle_instance(seed: int, *, bands: bool = False) -> SitingInstance:
    inst = random_instance(seed)
    rng = policy_rng(seed, 5)
    if bands:
        inst = replace(inst, types=random_bands(inst, rng))
    n_listed = int(rng.integers(2, inst.n_types + 1))
    listed = tuple(sorted(rng.choice(inst.n_types, n_listed, replace=False).tolist()))
    circle_population = rng.integers(0, 60, inst.n_demand).astype(float)
    return with_policy(inst, circle_types=listed,
                       circle_weight=float(rng.choice([0.5, 1.0, 2.0, 4.0])),
                       circle_population=circle_population)


def random_bands(inst: SitingInstance, rng: np.random.Generator) -> tuple[FacilityType, ...]:
    kinds = []
    for t, kind in enumerate(inst.types):
        if t == 0 or rng.random() < 0.7:
            r2 = round(kind.radius_m * float(rng.uniform(1.2, 1.6)), 1)
            bands: tuple[tuple[float, float], ...] = ((r2, float(rng.choice([0.4, 0.5, 0.7]))),)
            if rng.random() < 0.5:
                bands += ((round(r2 * 1.3, 1), bands[0][1] / 2),)
            kind = replace(kind, bands=bands)
        kinds.append(kind)
    return tuple(kinds)


def decay_instance(seed: int) -> SitingInstance:
    inst = random_instance(seed)
    return replace(inst, types=random_bands(inst, policy_rng(seed, 6)))


def capacity_instance(seed: int, *, all_types: bool = False, twins: bool = False
                      ) -> SitingInstance:
    """Capacities on one or two types (all with ``all_types``); some sites unlimited, and
    fractional capacities every third seed. With ``twins`` every odd site stands 5 m from
    the site before it and can only take the first capacitated type, so that columns with
    the same coverage (and possibly both needed for their capacity) are common."""
    inst = random_instance(seed, n_types=2 + seed % 2)
    rng = policy_rng(seed, 7)
    capacity = np.full(inst.site_cost.shape, np.nan)
    limited = list(range(inst.n_types)) if all_types else [int(rng.integers(inst.n_types))]
    if not all_types and rng.random() < 0.5:
        limited = sorted({*limited, int(rng.integers(inst.n_types))})
    for t in limited:
        capacity[:, t] = rng.integers(20, 160, inst.n_sites).astype(float)
        capacity[rng.random(inst.n_sites) < 0.2, t] = np.nan  # unlimited at that site
    if seed % 3 == 0:
        capacity[:, limited[0]] *= 0.75  # fractional capacities
    if twins:
        t = limited[0]
        xy = inst.site_xy.copy()
        xy[1::2] = xy[0:-1:2] + 5.0
        cost = inst.site_cost.copy()
        cost[:, t] = np.where(np.isfinite(cost[:, t]), cost[:, t], 3.0)
        cost[1::2, :] = np.where(np.arange(inst.n_types) == t, cost[1::2, :], np.nan)
        capacity[:, t] = np.where(np.isfinite(capacity[:, t]), capacity[:, t], 60.0)
        inst = replace(inst, site_xy=xy, site_cost=cost)
    return with_policy(inst, site_capacity=capacity)


# ------------------------------------------------------------------------ brute force


def dense_distances(inst: SitingInstance) -> tuple[np.ndarray, np.ndarray]:
    """Demand x site and demand x existing Euclidean distances."""
    d_site = np.hypot(inst.demand_xy[:, None, 0] - inst.site_xy[None, :, 0],
                      inst.demand_xy[:, None, 1] - inst.site_xy[None, :, 1])
    existing = np.asarray(inst.existing_xy, dtype=float).reshape(-1, 2)
    d_existing = np.hypot(inst.demand_xy[:, None, 0] - existing[None, :, 0],
                          inst.demand_xy[:, None, 1] - existing[None, :, 1])
    return d_site, d_existing


def nearest(inst: SitingInstance, plans: np.ndarray, t: int) -> np.ndarray:
    """(P, n): distance from each unit to its nearest facility of type t, new or existing."""
    d_site, d_existing = dense_distances(inst)
    existing = d_existing[:, inst.existing_type == t].min(axis=1, initial=np.inf)
    opened = plans == t
    new = np.where(opened[:, None, :], d_site[None, :, :], np.inf).min(axis=2, initial=np.inf)
    return np.minimum(new, existing[None, :])


def band_credit(kind: FacilityType, distance: np.ndarray) -> np.ndarray:
    radii = [kind.radius_m, *(r for r, _ in kind.bands)]
    credits = [1.0, *(c for _, c in kind.bands)]
    credit = np.zeros_like(distance)
    for radius, value in reversed(list(zip(radii, credits, strict=True))):
        credit = np.where(distance <= radius, value, credit)
    return credit


def plan_costs(inst: SitingInstance, plans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, m) cost of each site's use (0 closed, inf impossible) and (P,) total."""
    m = inst.n_sites
    table = np.hstack([np.where(np.isfinite(inst.site_cost), inst.site_cost, np.inf),
                       np.zeros((m, 1))])
    per_site = table[np.arange(m)[None, :], plans]  # -1 picks the zero column
    return per_site, per_site.sum(axis=1)


def capacitated(policy: Policy) -> list[int]:
    if policy.site_capacity is None:
        return []
    return [int(t) for t in np.nonzero(np.isfinite(policy.site_capacity).any(axis=0))[0]]


def served_lp(inst: SitingInstance, t: int, open_sites: tuple[int, ...],
              requests: list[tuple[np.ndarray, float]], *, fixed: np.ndarray | None = None
              ) -> float | None:
    """Most people of type t served with capacities (None: the requests cannot hold).

    ``requests`` are hard ``(unit mask, people)`` lower bounds on people served. With
    ``fixed`` (people served per unit), only check that this service is achievable.
    """
    pop = inst.population[:, t]
    radius = inst.types[t].radius_m
    d_site, d_existing = dense_distances(inst)
    by_existing = (d_existing[:, inst.existing_type == t] <= radius).any(axis=1)
    sites = np.asarray(open_sites, dtype=np.int64)
    reach = (d_site[:, sites] <= radius) & ~by_existing[:, None] & (pop > 0)[:, None]
    unit, col = np.nonzero(reach)
    site = sites[col]
    k = len(unit)
    base = float(pop[by_existing].sum())
    rows, rhs = [], []
    for i in np.unique(unit):  # each unit at most its population
        rows.append((unit == i).astype(float))
        rhs.append(pop[i])
    for j in np.unique(site):
        cap = inst.policy.site_capacity[j, t]
        if np.isfinite(cap):
            rows.append((site == j).astype(float))
            rhs.append(cap)
    for mask, people in requests:
        rows.append(-mask[unit].astype(float))
        rhs.append(float(pop[mask & by_existing].sum()) - people + TOL)
    equal_rows, equal_rhs = [], []
    if fixed is not None:
        free = ~by_existing & (pop > 0)
        for i in np.nonzero(free)[0]:
            if (unit == i).any():
                equal_rows.append((unit == i).astype(float))
                equal_rhs.append(fixed[i])
            elif fixed[i] > TOL:
                return None
    if k == 0:
        ok = all(r >= -TOL for r in rhs)
        return base if ok else None
    result = linprog(
        -np.ones(k),
        A_ub=np.array(rows) if rows else None, b_ub=np.array(rhs) if rows else None,
        A_eq=np.array(equal_rows) if equal_rows else None,
        b_eq=np.array(equal_rhs) if equal_rows else None,
        bounds=(0, None), method="highs",
    )
    if result.status == 2:
        return None
    assert result.status == 0, result.message
    return base - float(result.fun)


@dataclass
class Reference:
    """Every assignment (``plans[k, j]``: type of site j or -1): feasibility, value, cost."""

    plans: np.ndarray
    feasible: np.ndarray
    values: np.ndarray
    costs: np.ndarray
    parts: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def any_feasible(self) -> bool:
        return bool(self.feasible.any())

    @property
    def optimum(self) -> float:
        return float(self.values[self.feasible].max())

    @property
    def min_cost(self) -> float:
        return float(self.costs[self.feasible].min())

    def row(self, assignment: np.ndarray) -> int:
        (match,) = np.nonzero((self.plans == assignment[None, :]).all(axis=1))
        return int(match[0])


def group_requests(inst: SitingInstance, t: int) -> list[tuple[str, np.ndarray, float]]:
    """Named ``(units, share)`` requests on type t: city-wide target and per-group floors."""
    policy = inst.policy
    out = []
    if t < len(policy.target_share) and policy.target_share[t] is not None:
        out.append((f"target[{inst.types[t].name}]", np.ones(inst.n_demand, bool),
                    float(policy.target_share[t])))
    if policy.unit_group is not None and t < len(policy.floor_share) and (
            policy.floor_share[t] is not None):
        for c, name in enumerate(policy.group_names):
            out.append((f"floor[{name}, {inst.types[t].name}]", policy.unit_group == c,
                        float(policy.floor_share[t])))
    return out


def enumerate_plans(inst: SitingInstance) -> np.ndarray:
    choices = range(CLOSED, inst.n_types)
    return np.array(list(itertools.product(choices, repeat=inst.n_sites)), dtype=np.int64)


def brute_force(inst: SitingInstance, plans: np.ndarray | None = None) -> Reference:
    """Evaluate every assignment (or the given ones) from the formulation."""
    policy = inst.policy
    plans = enumerate_plans(inst) if plans is None else plans
    per_site, total = plan_costs(inst, plans)
    feasible = np.isfinite(total) & (total <= inst.budget + 1e-9)
    if policy.site_area is not None and policy.area_budget is not None:
        for a, limit in enumerate(policy.area_budget):
            in_area = policy.site_area == a
            feasible &= np.where(in_area[None, :], per_site, 0.0).sum(axis=1) <= limit + 1e-9
    values = np.zeros(len(plans))
    shortfall = np.zeros(len(plans))
    covered = {}
    limited = capacitated(policy)
    for t, kind in enumerate(inst.types):
        distance = nearest(inst, plans, t)
        covered[t] = distance <= kind.radius_m
        pop = inst.population[:, t]
        requests = group_requests(inst, t)
        if t in limited:
            assert not kind.bands and policy.floor_mode == "hard"
            served = np.full(len(plans), np.nan)
            cache: dict[tuple[int, ...], float | None] = {}
            for p in np.nonzero(feasible)[0]:
                key = tuple(np.nonzero(plans[p] == t)[0].tolist())
                if key not in cache:
                    cache[key] = served_lp(inst, t, key, [
                        (units, share * float(pop[units].sum())) for _, units, share in requests
                    ])
                if cache[key] is None:
                    feasible[p] = False
                else:
                    served[p] = cache[key]
            values += kind.weight * np.nan_to_num(served)
            continue
        values += kind.weight * (band_credit(kind, distance) @ pop)
        for name, units, share in requests:
            need = share * float(pop[units].sum())
            have = (covered[t][:, units] * pop[units]).sum(axis=1)
            short = np.maximum(need - have, 0.0)
            short[short <= TOL * max(1.0, need)] = 0.0
            if policy.floor_mode == "soft" and name.startswith("floor"):
                shortfall += short
            else:
                feasible &= short == 0.0
    parts: dict[str, np.ndarray] = {}
    if policy.circle_types and policy.circle_population is not None:
        assert not set(policy.circle_types) & set(limited)
        complete = np.all([covered[t] for t in policy.circle_types], axis=0)
        parts["complete_circle_population"] = complete.astype(float) @ policy.circle_population
        values += policy.circle_weight * parts["complete_circle_population"]
    values -= policy.floor_penalty * shortfall
    parts["floor_shortfall"] = shortfall
    return Reference(plans, feasible, values, total, parts)


def assignment_of(plan: Plan) -> np.ndarray:
    assert len(np.unique(plan.site_index)) == len(plan.site_index), "a site has two uses"
    assignment = np.full(plan.instance.n_sites, CLOSED, dtype=np.int64)
    assignment[plan.site_index] = plan.type_index
    return assignment


def check_served(inst: SitingInstance, plan: Plan) -> None:
    """The plan's people served per unit are achievable with its open sites' capacities."""
    assert plan.coverage is not None
    assignment = assignment_of(plan)
    for t in capacitated(inst.policy):
        served = plan.coverage.served[:, t]
        assert (served <= inst.population[:, t] + 1e-6).all()
        key = tuple(np.nonzero(assignment == t)[0].tolist())
        assert served_lp(inst, t, key, [], fixed=served) is not None, "service not achievable"
        capacity = inst.policy.site_capacity[assignment == t, t]
        use = plan.coverage.utilisation[assignment == t]
        assert (use <= np.where(np.isfinite(capacity), capacity, np.inf) + 1e-6).all()
        assert served.sum() == pytest.approx(
            use.sum() + inst.population[plan.coverage.covered_existing[:, t], t].sum(),
            rel=1e-7, abs=1e-6)


def check_optimal(inst: SitingInstance, plan: Plan, exact: Reference, *,
                  min_cost: bool = False) -> np.ndarray:
    """The plan is optimal, feasible for the reference and scored as the reference does."""
    assert plan.status == "optimal", (plan.status, plan.report.message, plan.explanation)
    assert not plan.report.warnings, plan.report.warnings
    assignment = assignment_of(plan)
    row = exact.row(assignment)
    assert exact.feasible[row], f"plan {assignment.tolist()} breaks a policy constraint"
    if min_cost:
        assert plan.objective == pytest.approx(exact.min_cost, rel=1e-7, abs=1e-9)
        assert plan.objective == pytest.approx(plan.total_cost, rel=1e-9, abs=1e-9)
        assert plan.bound is not None and plan.bound <= plan.objective + 1e-6
    else:
        assert plan.objective == pytest.approx(exact.optimum, rel=1e-7, abs=1e-9)
        assert plan.objective == pytest.approx(exact.values[row], rel=1e-7, abs=1e-9)
        assert plan.bound is not None and plan.bound >= plan.objective - 1e-6
    assert plan.total_cost <= inst.budget + 1e-9
    return assignment


def run(inst: SitingInstance, **options: object) -> Plan:
    return solve(inst, time_limit_s=20, **options)  # type: ignore[arg-type]


# -------------------------------------------------------------------- single features


@pytest.mark.parametrize("seed", SEEDS)
def test_area_budgets_match_brute_force(seed: int) -> None:
    inst = area_instance(seed)
    exact = brute_force(inst)
    plan = run(inst)
    assignment = check_optimal(inst, plan, exact)
    spent = plan_costs(inst, assignment[None, :])[0][0]
    for a, limit in enumerate(inst.policy.area_budget):
        assert spent[inst.policy.site_area == a].sum() <= limit


@pytest.mark.parametrize("seed", SEEDS)
def test_hard_floors_match_brute_force(seed: int) -> None:
    inst = floors_instance(seed, mode="hard")
    exact = brute_force(inst)
    plan = run(inst)
    if not exact.any_feasible:
        assert plan.status == "infeasible"
        assert plan.objective is None and plan.explanation
        return
    check_optimal(inst, plan, exact)
    assert plan.report.objective_parts["floor_shortfall"] == {}
    for t in range(inst.n_types):
        for name, units, share in group_requests(inst, t):
            pop = inst.population[units, t]
            covered = pop[plan.coverage.covered[units, t]].sum()
            assert covered >= share * pop.sum() - TOL, name


@pytest.mark.parametrize("seed", SEEDS)
def test_soft_floors_match_brute_force(seed: int) -> None:
    inst = floors_instance(seed, mode="soft")
    exact = brute_force(inst)
    plan = run(inst)
    assignment = check_optimal(inst, plan, exact)
    row = exact.row(assignment)
    shortfall = plan.report.objective_parts["floor_shortfall"]
    assert sum(shortfall.values()) == pytest.approx(exact.parts["floor_shortfall"][row],
                                                    rel=1e-7, abs=1e-7)
    assert all(name.startswith("floor[") and short > 0 for name, short in shortfall.items())


@pytest.mark.parametrize("seed", SEEDS)
def test_targets_match_brute_force(seed: int) -> None:
    inst = targets_instance(seed)
    exact = brute_force(inst)
    plan = run(inst)
    if not exact.any_feasible:
        assert plan.status == "infeasible" and plan.explanation
        return
    check_optimal(inst, plan, exact)
    for t, share in enumerate(inst.policy.target_share):
        if share is not None:
            pop = inst.population[:, t]
            assert pop[plan.coverage.covered[:, t]].sum() >= share * pop.sum() - TOL


@pytest.mark.parametrize("seed", SEEDS)
def test_least_cost_matches_brute_force(seed: int) -> None:
    inst = least_cost_instance(seed)
    exact = brute_force(inst)
    plan = run(inst)
    if not exact.any_feasible:
        assert plan.status == "infeasible" and plan.explanation
        return
    check_optimal(inst, plan, exact, min_cost=True)
    assert plan.report.objective_parts == {"cost": pytest.approx(exact.min_cost)}
    assert plan.summary()["objective"] == pytest.approx(plan.summary()["total_cost"])


@pytest.mark.parametrize("seed", SEEDS)
def test_least_cost_with_soft_floors_matches_brute_force(seed: int) -> None:
    """The objective is cost + penalty x people short, minimised and reported as such."""
    inst = floors_instance(seed, mode="soft")
    inst = replace(inst, budget=np.inf if seed % 2 else inst.budget,
                   policy=replace(inst.policy, objective="min_cost"))
    exact = brute_force(inst)
    plan = run(inst)
    if not exact.any_feasible:
        assert plan.status == "infeasible" and plan.explanation
        return
    penalised = exact.costs + inst.policy.floor_penalty * exact.parts["floor_shortfall"]
    assert plan.status == "optimal", (plan.status, plan.report.message)
    row = exact.row(assignment_of(plan))
    assert exact.feasible[row]
    assert plan.objective == pytest.approx(float(penalised[exact.feasible].min()),
                                           rel=1e-7, abs=1e-7)
    assert plan.objective == pytest.approx(penalised[row], rel=1e-7, abs=1e-7)
    parts = plan.report.objective_parts
    assert parts["cost"] == pytest.approx(plan.total_cost)
    assert parts["floor_penalty"] == pytest.approx(
        inst.policy.floor_penalty * exact.parts["floor_shortfall"][row], rel=1e-7, abs=1e-7)
    assert plan.bound is not None and plan.bound <= plan.objective + 1e-6


@pytest.mark.parametrize("seed", SEEDS)
def test_complete_circle_matches_brute_force(seed: int) -> None:
    inst = circle_instance(seed)
    exact = brute_force(inst)
    plan = run(inst)
    assignment = check_optimal(inst, plan, exact)
    assert plan.report.objective_parts["complete_circle_population"] == pytest.approx(
        exact.parts["complete_circle_population"][exact.row(assignment)])


@pytest.mark.parametrize("seed", SEEDS)
def test_distance_decay_matches_brute_force(seed: int) -> None:
    inst = decay_instance(seed)
    exact = brute_force(inst)
    plan = run(inst)
    assignment = check_optimal(inst, plan, exact)
    for t, kind in enumerate(inst.types):
        expected = band_credit(kind, nearest(inst, assignment[None, :], t)[0])
        assert plan.coverage.credit[:, t] == pytest.approx(expected)


@pytest.mark.parametrize("seed", SEEDS)
def test_capacities_match_brute_force(seed: int) -> None:
    inst = capacity_instance(seed)
    exact = brute_force(inst)
    plan = run(inst)
    check_optimal(inst, plan, exact)
    check_served(inst, plan)
    summary = plan.summary()
    for t in capacitated(inst.policy):
        name = inst.types[t].name
        assert summary["served"][name] <= summary["covered"][name] + 1e-6


@pytest.mark.parametrize("seed", [*SEEDS[:6], 12])
def test_capacities_with_twin_sites_match_brute_force(seed: int) -> None:
    """Sites with the same coverage: opening both may be needed for their capacity."""
    inst = capacity_instance(seed, twins=True)
    exact = brute_force(inst)
    plan = run(inst)
    check_optimal(inst, plan, exact)
    check_served(inst, plan)


def test_capacity_of_a_column_with_the_same_coverage_is_not_lost() -> None:
    """Minimal case: 100 people, two 50-place sites in reach of them, budget for both."""
    inst = SitingInstance(
        types=(FacilityType("canteen", radius_m=300.0),),
        demand_ids=np.array(["a"], dtype=object),
        demand_xy=np.array([[0.0, 0.0]]),
        population=np.array([[100.0]]),
        site_ids=np.array(["s0", "s1"], dtype=object),
        site_xy=np.array([[0.0, 0.0], [10.0, 0.0]]),
        site_cost=np.array([[1.0], [1.0]]),
        budget=2.0,
        policy=Policy(site_capacity=np.array([[50.0], [50.0]])),
    )
    exact = brute_force(inst)
    assert exact.optimum == 100.0
    for reductions in (False, True):
        plan = run(inst, reductions=reductions)
        check_optimal(inst, plan, exact)
        assert plan.site_index.tolist() == [0, 1]


# ---------------------------------------------------------------------------- combos


@pytest.mark.parametrize("seed", SEEDS[:6])
@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_floors_with_area_budgets(seed: int, mode: str) -> None:
    inst = floors_instance(seed, mode=mode, base=area_instance(seed))
    exact = brute_force(inst)
    plan = run(inst)
    if not exact.any_feasible:
        assert plan.status == "infeasible" and plan.explanation
        return
    check_optimal(inst, plan, exact)


@pytest.mark.parametrize("seed", SEEDS[:6])
def test_complete_circle_with_distance_decay(seed: int) -> None:
    inst = circle_instance(seed, bands=True)
    exact = brute_force(inst)
    plan = run(inst)
    check_optimal(inst, plan, exact)


@pytest.mark.parametrize("seed", SEEDS[:8])
def test_capacities_with_hard_floors(seed: int) -> None:
    inst = floors_instance(seed, base=capacity_instance(seed))
    exact = brute_force(inst)
    plan = run(inst)
    if not exact.any_feasible:
        assert plan.status == "infeasible" and plan.explanation
        return
    check_optimal(inst, plan, exact)
    check_served(inst, plan)


# ------------------------------------------------------------ switches off = plain model


def _plain(inst: SitingInstance) -> SitingInstance:
    """The same instance with every switch off (no policy, no decay bands)."""
    return replace(inst, policy=Policy(), types=tuple(replace(t, bands=()) for t in inst.types))


OFF_SWITCHES = {
    "floor_share_zero": lambda inst: Policy(
        unit_group=np.arange(inst.n_demand) % 2, group_names=("a", "b"),
        floor_share=tuple(0.0 for _ in inst.types)),
    "floor_share_none": lambda inst: Policy(
        unit_group=np.arange(inst.n_demand) % 2, group_names=("a", "b"),
        floor_share=tuple(None for _ in inst.types), floor_mode="soft", floor_penalty=9.0),
    "target_zero": lambda inst: Policy(target_share=tuple(0.0 for _ in inst.types)),
    "area_budgets_huge": lambda inst: Policy(
        site_area=np.arange(inst.n_sites) % 3 - 1, area_names=("a", "b"),
        area_budget=np.array([1e9, 1e9])),
    "circle_weight_zero": lambda inst: Policy(
        circle_types=tuple(range(inst.n_types)), circle_weight=0.0,
        circle_population=np.full(inst.n_demand, 50.0)),
    "capacity_all_nan": lambda inst: Policy(site_capacity=np.full(inst.site_cost.shape, np.nan)),
    "capacity_never_binds": lambda inst: Policy(site_capacity=np.full(inst.site_cost.shape,
                                                                      1e7)),
}


@pytest.mark.parametrize("seed", [1, 4, 8])
@pytest.mark.parametrize("switch", list(OFF_SWITCHES))
def test_switch_off_gives_the_plain_optimum(switch: str, seed: int) -> None:
    inst = random_instance(seed)
    plain = run(_plain(inst))
    assert plain.status == "optimal"
    assert plain.objective == pytest.approx(brute_force(_plain(inst)).optimum, rel=1e-9)
    policy = OFF_SWITCHES[switch](inst)
    switched = run(replace(inst, policy=policy))
    assert switched.status == "optimal", switched.report.message
    assert switched.objective == pytest.approx(plain.objective, rel=1e-9, abs=1e-9)
    assert not switched.report.warnings


# ------------------------------------------------------------------- infeasibility


def _line_instance(**policy: object) -> SitingInstance:
    """Two groups of park users: 'near' (n0: 40, n1: 60 people) and 'far' (f0: 30, f1: 70).

    Park sites (radius 300 m): s0 covers n0 (cost 3), s1 covers n1 (cost 4), s2 covers f0
    at exactly 300 m (cost 2, or 1 as a canteen); f1 is beyond every site.
    """
    return SitingInstance(
        types=(FacilityType("park", radius_m=300.0), FacilityType("canteen", 300.0)),
        demand_ids=np.array(["n0", "n1", "f0", "f1"], dtype=object),
        demand_xy=np.array([[0.0, 0.0], [1000.0, 0.0], [4000.0, 0.0], [4000.0, 900.0]]),
        population=np.array([[40.0, 1.0], [60.0, 1.0], [30.0, 1.0], [70.0, 1.0]]),
        site_ids=np.array(["s0", "s1", "s2"], dtype=object),
        site_xy=np.array([[0.0, 0.0], [1000.0, 0.0], [4180.0, 240.0]]),
        site_cost=np.array([[3.0, np.nan], [4.0, np.nan], [2.0, 1.0]]),
        budget=4.0,
        policy=Policy(unit_group=np.array([0, 0, 1, 1]), group_names=("near", "far"),
                      **policy),  # type: ignore[arg-type]
    )


def test_floor_beyond_reach_is_explained() -> None:
    inst = _line_instance(floor_share=(0.5, None))
    assert not brute_force(replace(inst, budget=np.inf)).any_feasible
    plan = run(inst)
    assert plan.status == "infeasible"
    assert plan.objective is None
    assert plan.explanation == (
        "the floor for 'park' in far (50 %) cannot be met: at most 30.0 % live within 300 m "
        "of a candidate or existing facility",
    )
    assert plan.summary()["explanation"] == list(plan.explanation)


def test_target_beyond_reach_is_explained() -> None:
    inst = replace(_line_instance(), policy=Policy(target_share=(0.7, None)))
    assert not brute_force(replace(inst, budget=np.inf)).any_feasible
    plan = run(inst)
    assert plan.status == "infeasible"
    assert plan.explanation == (
        "the city-wide target for 'park' (70 %) cannot be met: at most 65.0 % live within "
        "300 m of a candidate or existing facility",
    )


def test_floor_needing_more_budget_is_explained() -> None:
    # far needs s2 (f0 at exactly 300 m: 30 of 100 people, the floor exactly); near needs s0.
    inst = _line_instance(floor_share=(0.3, None))
    assert not brute_force(inst).any_feasible
    assert brute_force(replace(inst, budget=np.inf)).min_cost == 5.0
    plan = run(inst)
    assert plan.status == "infeasible"
    assert plan.explanation == (
        "meeting the floors and targets costs at least 5 (cheapest plan found: 5) but the "
        "budget is 4",
    )
    plan = run(replace(inst, budget=5.0))
    check_optimal(replace(inst, budget=5.0), plan, brute_force(replace(inst, budget=5.0)))
    assert plan.site_index.tolist() == [0, 2]


def test_floor_within_reach_and_budget_but_over_a_type_budget_share() -> None:
    """The binding limit is the park's budget share, not the budget: the explanation must not
    claim the budget is too small for a plan that costs less than the budget."""
    inst = _line_instance(floor_share=(0.3, None))
    inst = replace(inst, budget=20.0, types=(
        FacilityType("park", radius_m=300.0, max_budget_share=0.2), inst.types[1]))
    plan = run(inst)
    assert plan.status == "infeasible"
    assert plan.explanation
    for line in plan.explanation:
        if "costs at least" in line:
            cost = float(line.split("costs at least ")[1].split(" ")[0].replace(",", ""))
            assert cost > inst.budget, line


def reach_reasons(inst: SitingInstance) -> list[str]:
    """Expected "cannot be met" lines: requests beyond every candidate and existing
    facility of the type (computed from dense distances)."""
    d_site, d_existing = dense_distances(inst)
    lines = []
    for t, kind in enumerate(inst.types):
        eligible = np.isfinite(inst.site_cost[:, t])
        reachable = (d_site[:, eligible] <= kind.radius_m).any(axis=1) | (
            d_existing[:, inst.existing_type == t] <= kind.radius_m).any(axis=1)
        for name, units, share in group_requests(inst, t):
            pop = inst.population[units, t]
            best = pop[reachable[units]].sum()
            if pop.sum() > 0 and best < share * pop.sum() * (1 - 1e-9):
                what = (f"the city-wide target for '{kind.name}'" if name.startswith("target")
                        else f"the floor for '{kind.name}' in "
                        f"{name[len('floor['):].split(',')[0]}")
                lines.append(f"{what} ({100 * share:.0f} %) cannot be met: at most "
                             f"{100 * best / pop.sum():.1f} % live within {kind.radius_m:g} m "
                             f"of a candidate or existing facility")
    return lines


@pytest.mark.parametrize("seed", SEEDS)
def test_random_hard_floor_infeasibility_is_explained(seed: int) -> None:
    inst = floors_instance(seed, mode="hard")
    high = replace(inst.policy, floor_share=tuple(
        None if s is None else min(1.0, s + 0.45) for s in inst.policy.floor_share))
    inst = replace(inst, policy=high)
    exact = brute_force(inst)
    plan = run(inst)
    if exact.any_feasible:
        check_optimal(inst, plan, exact)
        return
    assert plan.status == "infeasible"
    assert plan.objective is None
    unlimited = brute_force(replace(inst, budget=np.inf))
    if reach_reasons(inst):
        assert list(plan.explanation) == reach_reasons(inst)
    elif unlimited.any_feasible:
        cost = unlimited.min_cost
        assert plan.explanation == (
            f"meeting the floors and targets costs at least {cost:,.0f} (cheapest plan found: "
            f"{cost:,.0f}) but the budget is {inst.budget:,.0f}",
        )
    else:
        # Each floor is within reach but together they need more sites than exist (one
        # use per site): the explanation falls back to the solver's verdict.
        assert plan.explanation == ("the solver proved the constraints infeasible",)


# ----------------------------------------------------------------------- backends


def _backend_cases() -> dict[str, SitingInstance]:
    floors = floors_instance(6, mode="soft")
    circle = circle_instance(6).policy
    both = replace(floors, policy=replace(floors.policy, circle_types=circle.circle_types,
                                          circle_weight=circle.circle_weight,
                                          circle_population=circle.circle_population))
    return {"floors+circle": both, "capacity": capacity_instance(6)}


BACKEND_CASES = _backend_cases()
@pytest.mark.parametrize("case", list(BACKEND_CASES))
@pytest.mark.parametrize("backend", available_backends())
def test_every_backend_gives_the_same_policy_optimum(backend: str, case: str) -> None:
    inst = BACKEND_CASES[case]
    if backend == "ortools-sat":
        # CP-SAT has no continuous variables: soft-floor shortfalls and fractional
        # assignments would be rounded, so such models are refused with a clear message.
        with pytest.raises(InputError, match="'ortools-sat' \\(CP-SAT\\) cannot represent"):
            solve(inst, solver=backend, time_limit_s=20, heuristic=False)
        return
    exact = brute_force(inst)
    plan = solve(inst, solver=backend, time_limit_s=20, heuristic=False)
    assert plan.report.model_size, "the backend was not called"
    check_optimal(inst, plan, exact)
    if case == "capacity":
        check_served(inst, plan)


# -------------------------------------------------------------- generator guard


def test_generators_make_the_policies_bind() -> None:
    """The random policies must change the optimum on several seeds, and most instances
    with hard shares must stay feasible (guards against a generator change that silently
    stops testing a feature)."""
    makers = {"area": area_instance, "floors": floors_instance, "targets": targets_instance,
              "soft floors": lambda seed: floors_instance(seed, mode="soft"),
              "circle": circle_instance, "decay": decay_instance,
              "capacity": capacity_instance}
    binding: dict[str, int] = {}
    feasible: dict[str, int] = {}
    for name, make in makers.items():
        binding[name] = feasible[name] = 0
        for seed in SEEDS:
            inst = make(seed)
            exact = brute_force(inst)
            feasible[name] += exact.any_feasible
            binding[name] += exact.any_feasible and abs(
                exact.optimum - brute_force(_plain(inst)).optimum) > 1e-6
    feasible["least cost"] = sum(brute_force(least_cost_instance(s)).any_feasible
                                 for s in SEEDS)
    assert all(count >= 4 for count in binding.values()), binding
    assert all(count >= 5 for count in feasible.values()), feasible
