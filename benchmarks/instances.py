"""Benchmark instance families.

Every case is identified by a name and rebuilt deterministically from it (the runner's
worker subprocesses rebuild their own copy). Families:

* ``swain``: Swain's 55 nodes, S = 10, p = 5 (optimum 609).
* ``sjc``: Lorena & Pereira's SJC324..SJC818 at a few (S, p) rows of ``sjc/optima.csv``.
* ``maximo``: the 24 Máximo et al. cases (Manhattan r=400, Bronx r=600, San Francisco
  r=600, Brooklyn/Kings r=800; p = 50..100), target = the published best-known value.
* ``random``: seeded random instances in a 10 x 10 km square, r = 800 m, unit costs and
  budget p, uniform candidate sites: uniform and clustered (30 Gaussian clusters, sigma
  300-1500 m) demand at 10,000 x 1,000 (p=60), plus a clustered size ladder 1k x 100
  (p=10), 5k x 500 (p=30), 50k x 2,000 (p=60).
* ``city``: a "sample-city x10"-like three-type instance, 200,000 units (40 clusters in
  15 x 15 km) x 5,000 sites: park (everyone, r=300, weight 1), canteen (aged 60+, r=500,
  weight 3), childcare (aged 0-3, r=300, weight 20); random costs with 10/30/50 % blanks,
  budget 75 M for ~150 sites (heavy).

Máximo distances
----------------
``optimizer.mclp_formats.maximo_pairs``: spherical law of cosines, earth radius
6,378,100 m, in float64. Every Máximo case also records what the authors' published
solution (``data/mclp/maximo/solutions``, 0-based node indices) covers under these pairs;
the runner flags any case where that differs from the published value (an earlier float32
version of ``maximo_pairs`` gave every pair closer than ~1.5-2 km distance 0, which made
Manhattan p=50 cover 1,585,873 instead of 1,153,640).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from optimizer.instance import DistancePairs, FacilityType, SitingInstance
from optimizer.mclp_formats import maximo_pairs, read_maximo_nodes, read_sjc, read_swain

REPO = Path(__file__).resolve().parents[1]
MCLP = REPO / "data" / "mclp"
EARTH_RADIUS_M = 6378100.0  # for the map coordinates only
MAXIMO_RADII = {"NewYork": 400, "Bronx": 600, "SanFrancisco": 600, "Kings": 800}
SJC_ROWS = {
    "SJC324": [(800, 3), (1200, 2)],
    "SJC402": [(800, 4), (1200, 2)],
    "SJC500": [(800, 6), (1200, 3)],
    "SJC708": [(800, 8), (1200, 4)],
    "SJC818": [(800, 10), (1200, 5)],
}
AREA_M = 10_000.0


@dataclass(frozen=True)
class Built:
    """A built instance and facts about it (for notes in the results)."""

    instance: SitingInstance
    info: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class BenchCase:
    """One benchmark instance.

    ``p`` is set when the instance is single-type with unit costs and budget ``p`` (the
    classic MCLP that spopt's ``MCLP`` can express).
    """

    name: str
    family: str
    n_demand: int
    n_sites: int
    n_types: int
    target: float | None
    target_kind: str
    p: int | None
    description: str
    builder: Callable[[], Built]
    heavy: bool = False
    quick: bool = False

    @property
    def dense_entries(self) -> int:
        return self.n_demand * self.n_sites * self.n_types


def _single_type(
    xy: np.ndarray,
    demand: np.ndarray,
    sites_xy: np.ndarray,
    *,
    radius_m: float,
    p: int,
    distances: DistancePairs | None = None,
) -> SitingInstance:
    n, m = len(demand), len(sites_xy)
    return SitingInstance(
        types=(FacilityType("facility", radius_m=float(radius_m), population="demand"),),
        demand_ids=np.array([f"d{i}" for i in range(n)], dtype=object),
        demand_xy=np.asarray(xy, dtype=float),
        population=np.asarray(demand, dtype=float).reshape(n, 1),
        site_ids=np.array([f"s{j}" for j in range(m)], dtype=object),
        site_xy=np.asarray(sites_xy, dtype=float),
        site_cost=np.ones((m, 1)),
        budget=float(p),
        distances=distances,
    )


# --------------------------------------------------------------------------- published


def _swain_builder(radius: float, p: int) -> Callable[[], Built]:
    def build() -> Built:
        return Built(read_swain(MCLP / "swain55" / "swain55.txt", radius=radius, p=p))

    return build


def _sjc_builder(name: str, radius: float, p: int) -> Callable[[], Built]:
    def build() -> Built:
        return Built(read_sjc(MCLP / "sjc" / f"{name}.txt", radius=radius, p=p))

    return build


def published_maximo_solution(city: str, p: int) -> tuple[float, np.ndarray]:
    """Objective line and 0-based facility indices of the authors' published solution."""
    radius = MAXIMO_RADII[city]
    lines = (MCLP / "maximo" / "solutions" / f"{city}_{p}_{radius}.txt").read_text().split("\n")
    value = float(lines[0].split(":")[1])
    sites = np.array([int(tok) for tok in lines[1].split(":")[1].split()], dtype=np.int64)
    return value, sites


def coverage_of(pairs: DistancePairs, weights: np.ndarray, open_sites: np.ndarray) -> float:
    """Weighted demand covered by ``open_sites`` (pairs already within the radius)."""
    is_open = np.zeros(int(pairs.target_index.max()) + 1, dtype=bool)
    is_open[open_sites] = True
    covered = np.zeros(len(weights), dtype=bool)
    covered[pairs.demand_index[is_open[pairs.target_index]]] = True
    return float(weights[covered].sum())


@cache
def _maximo_nodes(city: str) -> tuple[np.ndarray, np.ndarray]:
    return read_maximo_nodes(MCLP / "maximo" / f"{city}.txt")


@cache
def _maximo_pairs(city: str) -> DistancePairs:
    latlon, _ = _maximo_nodes(city)
    return maximo_pairs(latlon, MAXIMO_RADII[city])


def _maximo_builder(city: str, p: int) -> Callable[[], Built]:
    def build() -> Built:
        latlon, demand = _maximo_nodes(city)
        pairs = _maximo_pairs(city)
        lat0 = np.radians(latlon[:, 0].mean())
        xy = np.column_stack(
            [
                np.radians(latlon[:, 1]) * EARTH_RADIUS_M * np.cos(lat0),
                np.radians(latlon[:, 0]) * EARTH_RADIUS_M,
            ]
        )
        instance = _single_type(
            xy, demand, xy, radius_m=MAXIMO_RADII[city], p=p, distances=pairs
        )
        published, sites = published_maximo_solution(city, p)
        return Built(
            instance,
            {
                "published_value": published,
                "published_solution_covers": coverage_of(pairs, demand, sites),
            },
        )

    return build


# --------------------------------------------------------------------------- random


def _clustered_points(
    rng: np.random.Generator, n: int, *, clusters: int, area: float, spread=(300.0, 1500.0)
) -> np.ndarray:
    centres = rng.uniform(0.1 * area, 0.9 * area, size=(clusters, 2))
    sigma = rng.uniform(*spread, size=clusters)
    share = rng.dirichlet(np.full(clusters, 2.0))
    which = rng.choice(clusters, size=n, p=share)
    points = centres[which] + rng.normal(size=(n, 2)) * sigma[which, None]
    return np.clip(points, 0.0, area)


def _population(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.round(rng.lognormal(3.0, 0.8, size=n)) + 1.0


def _random_builder(kind: str, n: int, m: int, p: int, seed: int) -> Callable[[], Built]:
    def build() -> Built:
        rng = np.random.default_rng(seed)
        if kind == "uniform":
            demand_xy = rng.uniform(0.0, AREA_M, size=(n, 2))
        else:
            demand_xy = _clustered_points(rng, n, clusters=30, area=AREA_M)
        sites_xy = rng.uniform(0.0, AREA_M, size=(m, 2))
        return Built(_single_type(demand_xy, _population(rng, n), sites_xy, radius_m=800, p=p))

    return build


CITY_TYPES = (
    FacilityType("park", radius_m=300, weight=1.0, population="pop_total"),
    FacilityType("canteen", radius_m=500, weight=3.0, population="pop_60plus"),
    FacilityType("childcare", radius_m=300, weight=20.0, population="pop_0_3"),
)
CITY_BUDGET = 75_000_000.0  # ~150-160 sites at these costs (greedy opens 161)


def _city_builder(n: int, m: int, seed: int) -> Callable[[], Built]:
    def build() -> Built:
        rng = np.random.default_rng(seed)
        area = 15_000.0
        demand_xy = _clustered_points(rng, n, clusters=40, area=area, spread=(300.0, 1500.0))
        total = np.round(rng.lognormal(3.0, 0.7, size=n)) + 1.0
        elderly = rng.binomial(total.astype(np.int64), rng.beta(2.0, 8.0, size=n))
        infants = rng.binomial(total.astype(np.int64), 0.03)
        population = np.column_stack([total, elderly, infants]).astype(float)
        near = _clustered_points(rng, m // 2, clusters=40, area=area, spread=(300.0, 1500.0))
        sites_xy = np.vstack([near, rng.uniform(0.0, area, size=(m - m // 2, 2))])
        low = np.array([0.3, 0.8, 0.4]) * 1e6
        high = np.array([1.5, 2.5, 1.2]) * 1e6
        cost = np.round(rng.uniform(low, high, size=(m, 3)), -3)
        cost[rng.random((m, 3)) < np.array([0.1, 0.3, 0.5])] = np.nan
        budget = CITY_BUDGET
        instance = SitingInstance(
            types=CITY_TYPES,
            demand_ids=np.array([f"u{i}" for i in range(n)], dtype=object),
            demand_xy=demand_xy,
            population=population,
            site_ids=np.array([f"s{j}" for j in range(m)], dtype=object),
            site_xy=sites_xy,
            site_cost=cost,
            budget=budget,
            crs="EPSG:32648",
        )
        return Built(instance, {"budget": budget})

    return build


# --------------------------------------------------------------------------- registry


@cache
def all_cases() -> tuple[BenchCase, ...]:
    """Every benchmark case, in run order (small to large within each family)."""
    cases: list[BenchCase] = []
    with open(MCLP / "swain55" / "optima.csv") as fh:
        swain = {(int(r["S"]), int(r["p"])): float(r["optimum_le"]) for r in csv.DictReader(fh)}
    cases.append(
        BenchCase(
            "swain55-S10-p5", "swain", 55, 55, 1, swain[(10, 5)], "optimum", 5,
            "Swain 55 nodes, S=10, p=5", _swain_builder(10, 5), quick=True,
        )
    )
    with open(MCLP / "sjc" / "optima.csv") as fh:
        sjc = {
            (r["instance"], int(r["S"]), int(r["p"])): float(r["optimum"])
            for r in csv.DictReader(fh)
        }
    for name, rows in SJC_ROWS.items():
        size = int(name[3:])
        for radius, p in rows:
            cases.append(
                BenchCase(
                    f"{name.lower()}-S{radius}-p{p}", "sjc", size, size, 1,
                    sjc[(name, radius, p)], "optimum", p, f"{name}, S={radius}, p={p}",
                    _sjc_builder(name, radius, p),
                    quick=(name == "SJC324" and radius == 800),
                )
            )
    sizes = {"NewYork": 2713, "Bronx": 3839, "SanFrancisco": 5137, "Kings": 7730}
    with open(MCLP / "maximo" / "best_known.csv") as fh:
        for r in csv.DictReader(fh):
            city, p = r["instance"], int(r["p"])
            proven = r["proven_optimal"].strip().lower() == "true"
            cases.append(
                BenchCase(
                    f"maximo-{city}-p{p}", "maximo", sizes[city], sizes[city], 1,
                    float(r["best_known"]), "optimum" if proven else "best_known", p,
                    f"Máximo {city}, r={r['radius_m']}, p={p}", _maximo_builder(city, p),
                )
            )
    ladder = [
        ("random-clustered-1k", "clustered", 1_000, 100, 10, 101, True),
        ("random-clustered-5k", "clustered", 5_000, 500, 30, 105, False),
        ("random-clustered-10k", "clustered", 10_000, 1_000, 60, 110, False),
        ("random-uniform-10k", "uniform", 10_000, 1_000, 60, 210, False),
        ("random-clustered-50k", "clustered", 50_000, 2_000, 60, 150, False),
    ]
    for name, kind, n, m, p, seed, quick in ladder:
        cases.append(
            BenchCase(
                name, "random", n, m, 1, None, "best_in_run", p,
                f"{kind} demand {n:,} x {m:,} sites, r=800 m, p={p}, seed {seed}",
                _random_builder(kind, n, m, p, seed), quick=quick,
            )
        )
    cases.append(
        BenchCase(
            "city-x10-200k", "city", 200_000, 5_000, 3, None, "best_in_run", None,
            "sample-city x10: 200,000 units x 5,000 sites x 3 types (r 300/500/300), "
            "weights 1/3/20, blank costs, budget for ~150 sites",
            _city_builder(200_000, 5_000, 7), heavy=True,
        )
    )
    return tuple(cases)


def case_by_name(name: str) -> BenchCase:
    for case in all_cases():
        if case.name == name:
            return case
    raise KeyError(f"unknown benchmark case {name!r}")


@cache
def build_case(name: str) -> Built:
    """Build (and cache per process) the instance of a case."""
    return case_by_name(name).builder()
