"""solve() against an exhaustive enumeration on tiny random multi-type instances.

The enumerator below is written from the model's definition only (it shares no code with
``optimizer``): every assignment of {closed, type 0, type 1, type 2} to each site is
listed, infeasible assignments are discarded, and coverage is evaluated from dense
numpy distances (``d <= r`` inclusive).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest

from optimizer import ANY_TYPE, DistancePairs, FacilityType, Plan, SitingInstance, solve

N_TYPES = 3
CLOSED = -1
SEEDS = range(40)
TOL = 1e-9


# --------------------------------------------------------------------------- instances


def random_instance(seed: int, *, all_features: bool = False) -> SitingInstance:
    """A tiny random instance: 3 types, 4-7 sites, 10-25 units in a 1 km square.

    Costs are multiples of 0.5, budgets integers and budget shares quarters, so every
    budget comparison is exact in floating point (a plan either fits or misses by >= 0.25).
    With ``all_features`` every optional feature (existing facilities, forced and excluded
    sites, caps, supplied distances) is switched on.
    """
    rng = np.random.default_rng(seed)
    n_sites = int(rng.integers(4, 8))
    n_demand = int(rng.integers(10, 26))

    def on(p: float) -> bool:
        return all_features or rng.random() < p

    radii = rng.uniform(150.0, 500.0, N_TYPES)
    weights = rng.choice([0.0, 0.5, 1.0, 1.7, 2.25, 3.1], N_TYPES)
    max_sites = [int(rng.integers(1, 3)) if on(0.25) else None for _ in range(N_TYPES)]
    shares = [float(rng.choice([0.25, 0.5, 0.75])) if on(0.25) else None for _ in range(N_TYPES)]
    types = tuple(
        FacilityType(
            f"type{t}",
            radius_m=float(radii[t]),
            weight=float(weights[t]),
            population=f"pop{t}",
            max_sites=max_sites[t],
            max_budget_share=shares[t],
        )
        for t in range(N_TYPES)
    )

    demand_xy = rng.uniform(0.0, 1000.0, (n_demand, 2))
    site_xy = rng.uniform(0.0, 1000.0, (n_sites, 2))
    population = rng.integers(0, 200, (n_demand, N_TYPES)).astype(float)
    site_cost = rng.integers(1, 13, (n_sites, N_TYPES)) * 0.5
    site_cost[rng.random((n_sites, N_TYPES)) < 0.25] = np.nan
    for j in np.nonzero(~np.isfinite(site_cost).any(axis=1))[0][::2]:
        # Keep most sites usable (every other all-blank site stays blank).
        site_cost[j, rng.integers(N_TYPES)] = float(rng.integers(1, 13)) * 0.5
    cheapest = np.nanmin(np.where(np.isfinite(site_cost), site_cost, np.inf), axis=1)
    usable = np.isfinite(cheapest)
    budget = float(np.floor(rng.uniform(0.25, 0.7) * cheapest[usable].sum())) + 1.0

    n_existing = int(rng.integers(1, 4)) if all_features else int(rng.integers(0, 4))
    existing_xy = rng.uniform(0.0, 1000.0, (n_existing, 2))
    existing_type = rng.integers(0, N_TYPES, n_existing).astype(np.int64)

    forced_sites = np.empty(0, dtype=np.int64)
    forced_type = np.empty(0, dtype=np.int64)
    if on(0.4):
        site = int(rng.choice(np.nonzero(usable)[0]))
        finite_types = np.nonzero(np.isfinite(site_cost[site]))[0]
        kind = ANY_TYPE if rng.random() < 0.5 else int(rng.choice(finite_types))
        forced_sites = np.array([site], dtype=np.int64)
        forced_type = np.array([kind], dtype=np.int64)
    excluded = np.zeros(n_sites, dtype=bool)
    if on(0.3):
        free = np.setdiff1d(np.arange(n_sites), forced_sites)
        excluded[int(rng.choice(free))] = True

    distances = None
    if on(0.3):
        distances = random_pairs(rng, demand_xy, np.vstack([site_xy, existing_xy]), radii)

    return SitingInstance(
        types=types,
        demand_ids=np.array([f"u{i}" for i in range(n_demand)], dtype=object),
        demand_xy=demand_xy,
        population=population,
        site_ids=np.array([f"s{j}" for j in range(n_sites)], dtype=object),
        site_xy=site_xy,
        site_cost=site_cost,
        budget=budget,
        existing_ids=np.array([f"e{k}" for k in range(n_existing)], dtype=object),
        existing_xy=existing_xy,
        existing_type=existing_type,
        forced_sites=forced_sites,
        forced_type=forced_type,
        excluded=excluded,
        distances=distances,
    )


def random_pairs(
    rng: np.random.Generator, demand_xy: np.ndarray, target_xy: np.ndarray, radii: np.ndarray
) -> DistancePairs:
    """Walking-like distances: Euclidean times a detour factor, some pairs missing, and
    some set exactly to a type's radius (the inclusive boundary)."""
    euclid = np.sqrt(((demand_xy[:, None, :] - target_xy[None, :, :]) ** 2).sum(axis=2))
    walk = euclid * rng.uniform(1.0, 1.6, euclid.shape)
    exact = rng.random(walk.shape) < 0.1
    walk[exact] = rng.choice(radii, int(exact.sum()))
    listed = rng.random(walk.shape) < 0.85
    i, j = np.nonzero(listed)
    order = rng.permutation(len(i))  # supplied pairs need not be sorted
    return DistancePairs(i[order], j[order], walk[i, j][order])


# ------------------------------------------------------------------------ brute force


@dataclass
class BruteForce:
    """Every feasible assignment (``plans[k, j]``: type of site j or -1) and its value."""

    plans: np.ndarray
    values: np.ndarray

    @property
    def feasible(self) -> bool:
        return len(self.values) > 0

    @property
    def optimum(self) -> float:
        return float(self.values.max())


def dense_distances(inst: SitingInstance) -> tuple[np.ndarray, np.ndarray]:
    """Demand x site and demand x existing distances (inf where a supplied pair is missing)."""
    n, m = len(inst.demand_ids), len(inst.site_ids)
    targets = np.vstack([inst.site_xy, inst.existing_xy]).reshape(-1, 2)
    if inst.distances is None:
        diff = inst.demand_xy[:, None, :] - targets[None, :, :]
        full = np.sqrt((diff**2).sum(axis=2))
    else:
        full = np.full((n, len(targets)), np.inf)
        pairs = inst.distances
        full[pairs.demand_index, pairs.target_index] = pairs.distance_m
    return full[:, :m], full[:, m:]


def plan_value(inst: SitingInstance, assignment: np.ndarray) -> float:
    """Weighted covered population of one assignment (``assignment[j]``: type or -1)."""
    return float(evaluate(inst, assignment[None, :])[0])


def evaluate(inst: SitingInstance, plans: np.ndarray) -> np.ndarray:
    """Objective of each row of ``plans`` from dense distances."""
    to_site, to_existing = dense_distances(inst)
    total = np.zeros(len(plans))
    for t, ftype in enumerate(inst.types):
        radius = ftype.radius_m
        reach = (to_site <= radius).astype(np.int64)  # (n, m)
        by_existing = (to_existing[:, inst.existing_type == t] <= radius).any(axis=1)
        opened = (plans == t).astype(np.int64)  # (P, m)
        covered = (opened @ reach.T > 0) | by_existing[None, :]  # (P, n)
        total += ftype.weight * (covered.astype(float) @ inst.population[:, t])
    return total


def feasible_mask(inst: SitingInstance, plans: np.ndarray) -> np.ndarray:
    """Which rows of ``plans`` satisfy every constraint of the model."""
    m = len(inst.site_ids)
    cost = np.zeros(plans.shape)
    ok = np.ones(len(plans), dtype=bool)
    for t in range(len(inst.types)):
        is_t = plans == t
        cost_t = np.where(np.isfinite(inst.site_cost[:, t]), inst.site_cost[:, t], np.inf)
        ok &= ~(is_t & ~np.isfinite(cost_t)[None, :]).any(axis=1)
        cost += np.where(is_t, np.where(np.isfinite(cost_t), cost_t, 0.0)[None, :], 0.0)
    ok &= cost.sum(axis=1) <= inst.budget + TOL
    ok &= ~(inst.excluded[None, :] & (plans != CLOSED)).any(axis=1)
    for site, kind in zip(inst.forced_sites, inst.forced_type, strict=True):
        ok &= plans[:, site] != CLOSED if kind == ANY_TYPE else plans[:, site] == kind
    for t, ftype in enumerate(inst.types):
        is_t = plans == t
        if ftype.max_sites is not None:
            ok &= is_t.sum(axis=1) <= ftype.max_sites
        if ftype.max_budget_share is not None:
            share_cap = ftype.max_budget_share * inst.budget + TOL
            ok &= np.where(is_t, cost, 0.0).sum(axis=1) <= share_cap
    assert plans.shape[1] == m
    return ok


def brute_force(inst: SitingInstance) -> BruteForce:
    m = len(inst.site_ids)
    choices = range(CLOSED, len(inst.types))
    plans = np.array(list(itertools.product(choices, repeat=m)), dtype=np.int64)
    plans = plans[feasible_mask(inst, plans)]
    return BruteForce(plans, evaluate(inst, plans))


def assignment_of(plan: Plan) -> np.ndarray:
    """The plan as one type (or -1) per site; fails on a site used twice."""
    assignment = np.full(plan.instance.n_sites, CLOSED, dtype=np.int64)
    assert len(np.unique(plan.site_index)) == len(plan.site_index), "a site has two uses"
    assignment[plan.site_index] = plan.type_index
    return assignment


def check_plan(inst: SitingInstance, plan: Plan) -> np.ndarray:
    """Assert the plan is feasible and its objective is its true value; return it."""
    assignment = assignment_of(plan)
    assert feasible_mask(inst, assignment[None, :])[0], f"infeasible plan {assignment}"
    assert plan.objective == pytest.approx(plan_value(inst, assignment), rel=1e-9, abs=1e-9)
    summary = plan.summary()
    assert summary["total_cost"] <= inst.budget + TOL
    assert plan.bound is not None and plan.bound >= plan.objective - 1e-6
    assert not inst.excluded[plan.site_index].any()
    for site, kind in zip(inst.forced_sites, inst.forced_type, strict=True):
        if kind == ANY_TYPE:
            assert assignment[site] != CLOSED
        else:
            assert assignment[site] == kind
    return assignment


# -------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("seed", SEEDS)
def test_matches_brute_force(seed: int) -> None:
    inst = random_instance(seed)
    exact = brute_force(inst)
    plan = solve(inst, time_limit_s=20)
    if not exact.feasible:
        assert plan.status == "infeasible"
        assert plan.objective is None
        return
    assert plan.status == "optimal", plan.report.message
    check_plan(inst, plan)
    assert plan.objective == pytest.approx(exact.optimum, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(
    ("seed", "options"),
    [(seed, {"reductions": False}) for seed in SEEDS[::2]]
    + [(seed, {"heuristic": False}) for seed in SEEDS[1::2]],
    ids=lambda v: "-".join(f"{k}={w}" for k, w in v.items()) if isinstance(v, dict) else v,
)
def test_without_reductions_or_warm_start_same_optimum(seed: int, options: dict) -> None:
    inst = random_instance(seed)
    exact = brute_force(inst)
    plan = solve(inst, time_limit_s=20, **options)
    if not exact.feasible:
        assert plan.status == "infeasible"
        return
    assert plan.status == "optimal", plan.report.message
    check_plan(inst, plan)
    assert plan.objective == pytest.approx(exact.optimum, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_heuristic_only_is_feasible_and_honest(seed: int) -> None:
    inst = random_instance(seed)
    exact = brute_force(inst)
    plan = solve(inst, time_limit_s=5, use_mip=False)
    if not exact.feasible:
        assert plan.status != "optimal" and plan.objective is None
        return
    if plan.objective is None:  # the greedy may fail to place a forced any-type site
        assert plan.status != "optimal"
        return
    check_plan(inst, plan)
    assert plan.objective <= exact.optimum * (1 + 1e-9) + 1e-9
    assert plan.bound >= exact.optimum * (1 - 1e-9) - 1e-9
    if plan.status == "optimal":
        assert plan.objective == pytest.approx(plan.bound, rel=1e-6, abs=1e-9)
        assert plan.objective == pytest.approx(exact.optimum, rel=1e-9, abs=1e-9)
    else:
        assert plan.status == "feasible"
        assert plan.objective < plan.bound


@pytest.mark.parametrize("seed", [3, 17, 29])
def test_all_features_match_brute_force(seed: int) -> None:
    inst = random_instance(seed, all_features=True)
    exact = brute_force(inst)
    plan = solve(inst, time_limit_s=20)
    if not exact.feasible:
        assert plan.status == "infeasible"
        return
    assert plan.status == "optimal"
    check_plan(inst, plan)
    assert plan.objective == pytest.approx(exact.optimum, rel=1e-9, abs=1e-9)


def test_random_instances_exercise_every_feature() -> None:
    """Guard against a generator change that silently stops covering a feature."""
    seen: dict[str, int] = dict.fromkeys(
        ["existing", "forced_type", "forced_any", "excluded", "max_sites", "share", "pairs",
         "blank_cost"], 0
    )
    for seed in SEEDS:
        inst = random_instance(seed)
        seen["existing"] += len(inst.existing_ids) > 0
        seen["forced_type"] += bool((inst.forced_type >= 0).any())
        seen["forced_any"] += bool((inst.forced_type == ANY_TYPE).any())
        seen["excluded"] += bool(inst.excluded.any())
        seen["max_sites"] += any(t.max_sites is not None for t in inst.types)
        seen["share"] += any(t.max_budget_share is not None for t in inst.types)
        seen["pairs"] += inst.distances is not None
        seen["blank_cost"] += bool(np.isnan(inst.site_cost).any())
    assert all(count >= 2 for count in seen.values()), seen


def _two_site_instance(**overrides: object) -> SitingInstance:
    fields = {
        "types": (FacilityType("park", radius_m=300.0), FacilityType("canteen", 200.0, 2.0)),
        "demand_ids": np.array(["a", "b", "c"], dtype=object),
        "demand_xy": np.array([[0.0, 0.0], [500.0, 0.0], [1000.0, 0.0]]),
        "population": np.array([[10.0, 1.0], [20.0, 2.0], [30.0, 3.0]]),
        "site_ids": np.array(["s0", "s1"], dtype=object),
        "site_xy": np.array([[0.0, 0.0], [1000.0, 0.0]]),
        "site_cost": np.array([[4.0, 5.0], [6.0, np.nan]]),
        "budget": 8.0,
    }
    fields.update(overrides)
    return SitingInstance(**fields)


def test_forced_sites_over_budget_are_infeasible() -> None:
    inst = _two_site_instance(
        forced_sites=np.array([0, 1]), forced_type=np.array([0, ANY_TYPE]), budget=9.0
    )
    assert not brute_force(inst).feasible
    plan = solve(inst)
    assert plan.status == "infeasible"
    assert plan.objective is None
    assert any("budget" in line for line in plan.explanation), plan.explanation
    assert plan.summary()["explanation"] == list(plan.explanation)


def test_forced_sites_within_budget_are_opened() -> None:
    inst = _two_site_instance(
        forced_sites=np.array([0, 1]), forced_type=np.array([ANY_TYPE, 0]), budget=10.0
    )
    plan = solve(inst)
    assert plan.status == "optimal"
    assert check_plan(inst, plan).tolist() == [0, 0]
    assert plan.objective == pytest.approx(brute_force(inst).optimum)


@pytest.mark.parametrize("seed", [1, 5, 12])
def test_coverage_never_falls_when_budget_grows(seed: int) -> None:
    base = random_instance(seed)
    fields = {name: getattr(base, name) for name in base.__dataclass_fields__}
    fields.update(forced_sites=np.empty(0, dtype=np.int64), forced_type=np.empty(0, np.int64))
    # Budget shares scale with the budget; drop them so the feasible sets are nested.
    fields["types"] = tuple(
        FacilityType(t.name, t.radius_m, t.weight, t.population, t.max_sites) for t in base.types
    )
    previous = -np.inf
    for budget in [0.0, 1.0, 2.5, 4.0, 7.0, 11.0, 40.0]:
        inst = SitingInstance(**{**fields, "budget": budget})
        plan = solve(inst)
        assert plan.status == "optimal"
        assert plan.objective == pytest.approx(brute_force(inst).optimum, rel=1e-9, abs=1e-9)
        assert plan.objective >= previous - 1e-9 * max(1.0, abs(previous))
        assert plan.total_cost <= budget
        previous = plan.objective


def test_unit_at_exactly_the_radius_is_covered() -> None:
    # 3-4-5 triangles: the Euclidean distance is exactly 500 m in floating point.
    types = (FacilityType("park", radius_m=500.0), FacilityType("canteen", radius_m=500.0))
    inst = SitingInstance(
        types=types,
        demand_ids=np.array(["on", "outside", "existing_edge"], dtype=object),
        demand_xy=np.array([[300.0, 400.0], [300.0, 400.001], [5000.0, -500.0]]),
        population=np.array([[7.0, 0.0], [11.0, 0.0], [0.0, 13.0]]),
        site_ids=np.array(["s"], dtype=object),
        site_xy=np.array([[0.0, 0.0]]),
        site_cost=np.array([[1.0, np.nan]]),
        budget=1.0,
        existing_ids=np.array(["e"], dtype=object),
        existing_xy=np.array([[4700.0, -100.0]]),
        existing_type=np.array([1]),
    )
    plan = solve(inst)
    assert plan.status == "optimal"
    assert plan.objective == pytest.approx(7.0 + 13.0)
    units = plan.unit_coverage().set_index(["demand_id", "type"])
    assert bool(units.loc[("on", "park"), "covered"])
    assert units.loc[("on", "park"), "distance_m"] == 500.0
    assert not bool(units.loc[("outside", "park"), "covered"])
    assert bool(units.loc[("existing_edge", "canteen"), "covered_existing"])
    assert plan.objective == pytest.approx(brute_force(inst).optimum)


def test_supplied_distance_equal_to_radius_is_covered() -> None:
    radius = 0.1 + 0.2  # not a "round" float
    inst = SitingInstance(
        types=(FacilityType("park", radius_m=radius),),
        demand_ids=np.array(["a", "b"], dtype=object),
        demand_xy=np.zeros((2, 2)),
        population=np.array([[5.0], [9.0]]),
        site_ids=np.array(["s"], dtype=object),
        site_xy=np.zeros((1, 2)),
        site_cost=np.array([[1.0]]),
        budget=1.0,
        distances=DistancePairs(
            np.array([0, 1]), np.array([0, 0]), np.array([radius, np.nextafter(radius, 1.0)])
        ),
    )
    plan = solve(inst)
    assert plan.status == "optimal"
    assert plan.objective == pytest.approx(5.0)
    assert plan.objective == pytest.approx(brute_force(inst).optimum)


@pytest.mark.parametrize("heuristic", [True, False])
def test_everything_already_covered(heuristic: bool) -> None:
    """Existing facilities cover every unit: the model is empty and opening nothing is optimal."""
    inst = _two_site_instance(
        existing_ids=np.array(["e0", "e1"], dtype=object),
        existing_xy=np.array([[500.0, 0.0], [500.0, 0.0]]),
        existing_type=np.array([0, 1]),
        types=(FacilityType("park", radius_m=600.0), FacilityType("canteen", 600.0, 2.0)),
    )
    plan = solve(inst, heuristic=heuristic)
    assert plan.status == "optimal", plan.report.message
    assert plan.objective == pytest.approx(60.0 + 2.0 * 6.0)
    assert plan.objective == pytest.approx(brute_force(inst).optimum)
    assert plan.gap == pytest.approx(0.0)


CONFLICTING_FORCED = {
    "forced_to_blank_cost_type": {"forced_sites": np.array([1]), "forced_type": np.array([1])},
    "forced_and_excluded": {
        "forced_sites": np.array([0]),
        "forced_type": np.array([0]),
        "excluded": np.array([True, False]),
    },
    "forced_any_and_excluded": {
        "forced_sites": np.array([0]),
        "forced_type": np.array([ANY_TYPE]),
        "excluded": np.array([True, False]),
    },
    "forced_to_two_types": {
        "forced_sites": np.array([0, 0]),
        "forced_type": np.array([0, 1]),
        "budget": 20.0,
    },
}


@pytest.mark.parametrize("case", list(CONFLICTING_FORCED))
def test_conflicting_forced_site_is_infeasible(case: str) -> None:
    inst = _two_site_instance(**CONFLICTING_FORCED[case])
    assert not brute_force(inst).feasible
    plan = solve(inst)
    assert plan.status == "infeasible", (plan.status, plan.objective)
    assert plan.explanation
