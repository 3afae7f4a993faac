"""Published maximal covering optima: Swain's 55 nodes, SJC324/SJC402, spopt's San Francisco
case, and Máximo et al.'s Manhattan instance.

Every benchmark has one facility type, unit costs and budget p; coverage is ``d <= S``.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optimizer import DistancePairs, FacilityType, Plan, SitingInstance, solve
from optimizer.mclp_formats import (
    maximo_pairs,
    read_maximo,
    read_maximo_nodes,
    read_sjc,
    read_swain,
)

MCLP = Path(__file__).resolve().parents[1] / "data" / "mclp"
SF = Path(__file__).resolve().parents[1] / "data" / "sf"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


SWAIN = [(int(r["S"]), int(r["p"]), int(r["optimum_le"]))
         for r in _rows(MCLP / "swain55" / "optima.csv")]
SJC = [(r["instance"], int(r["S"]), int(r["p"]), int(r["optimum"]))
       for r in _rows(MCLP / "sjc" / "optima.csv") if r["instance"] in ("SJC324", "SJC402")]


def _check_optimal(plan: Plan, optimum: float, p: int) -> None:
    assert plan.status == "optimal", plan.report.message
    assert plan.objective == pytest.approx(optimum, abs=1e-6)
    assert plan.bound >= plan.objective - 1e-6
    assert len(plan.site_index) <= p
    assert plan.total_cost <= p


def test_optima_tables_are_complete() -> None:
    assert len(SWAIN) == 70
    assert len(SJC) == 21


@pytest.mark.parametrize(("S", "p", "optimum"), SWAIN, ids=[f"S{s}-p{p}" for s, p, _ in SWAIN])
def test_swain55(S: int, p: int, optimum: int) -> None:
    inst = read_swain(MCLP / "swain55" / "swain55.txt", radius=S, p=p)
    plan = solve(inst, time_limit_s=30)
    _check_optimal(plan, optimum, p)


@pytest.mark.parametrize(
    ("name", "S", "p", "optimum"), SJC, ids=[f"{n}-S{s}-p{p}" for n, s, p, _ in SJC]
)
def test_sjc(name: str, S: int, p: int, optimum: int) -> None:
    inst = read_sjc(MCLP / "sjc" / f"{name}.txt", radius=S, p=p)
    plan = solve(inst, time_limit_s=30)
    _check_optimal(plan, optimum, p)


def _san_francisco(radius_m: float = 5000.0, p: int = 4) -> SitingInstance:
    """spopt's test case built straight from its three CSV files."""
    demand = pd.read_csv(SF / "SF_demand_205_centroid_uniform_weight.csv", dtype={"NAME": str})
    stores = pd.read_csv(SF / "SF_store_site_16_longlat.csv", dtype={"NAME": str})
    network = pd.read_csv(
        SF / "SF_network_distance_candidateStore_16_censusTract_205_new.csv",
        dtype={"name": str, "DestinationName": str},
    )
    demand_pos = {name: i for i, name in enumerate(demand["NAME"])}
    store_pos = {name: j for j, name in enumerate(stores["NAME"])}
    assert set(network["DestinationName"]) == set(demand_pos)
    assert set(network["name"]) == set(store_pos)

    def metres(frame: pd.DataFrame) -> np.ndarray:
        # Local equirectangular metres (maps only: distances come from the network file).
        lat0 = np.radians(37.76)
        return np.column_stack([
            np.radians(frame["long"].to_numpy()) * 6378137.0 * np.cos(lat0),
            np.radians(frame["lat"].to_numpy()) * 6378137.0,
        ])

    pairs = DistancePairs(
        demand_index=network["DestinationName"].map(demand_pos).to_numpy(np.int64),
        target_index=network["name"].map(store_pos).to_numpy(np.int64),
        distance_m=network["distance"].to_numpy(float),
    )
    return SitingInstance(
        types=(FacilityType("store", radius_m=radius_m, population="POP2000"),),
        demand_ids=demand["NAME"].to_numpy(object),
        demand_xy=metres(demand),
        population=demand[["POP2000"]].to_numpy(float),
        site_ids=stores["NAME"].to_numpy(object),
        site_xy=metres(stores),
        site_cost=np.ones((len(stores), 1)),
        budget=float(p),
        distances=pairs,
    )


def test_spopt_san_francisco() -> None:
    inst = _san_francisco()
    assert inst.n_demand == 205 and inst.n_sites == 16
    assert inst.population.sum() == 955_113
    plan = solve(inst, time_limit_s=30)
    _check_optimal(plan, 875_247, 4)
    assert len(plan.site_index) == 4
    table = plan.coverage_by_type()
    assert table.loc[0, "covered"] == 875_247
    assert table.loc[0, "coverage_pct"] == pytest.approx(91.64, abs=0.01)


MAXIMO = _rows(MCLP / "maximo" / "best_known.csv")


@cache
def _maximo_city(city: str, radius_m: float) -> tuple[np.ndarray, DistancePairs]:
    latlon, demand = read_maximo_nodes(MCLP / "maximo" / f"{city}.txt")
    return demand, maximo_pairs(latlon, radius_m)


@pytest.mark.parametrize("row", MAXIMO, ids=[f"{r['instance']}-p{r['p']}" for r in MAXIMO])
def test_maximo_published_solutions_reproduce_best_known(row: dict[str, str]) -> None:
    """The authors' solutions (0-based node ids) score their best-known values under the
    reader's distance convention; a float32 law of cosines would score far more."""
    city, p, radius = row["instance"], int(row["p"]), float(row["radius_m"])
    text = (MCLP / "maximo" / "solutions" / f"{city}_{p}_{int(radius)}.txt").read_text()
    value_line, sites_line = text.strip().split("\n")[:2]
    published = float(value_line.split(":")[1])
    sites = np.array(sites_line.split(":")[1].split(), dtype=np.int64)
    assert published == float(row["best_known"])
    assert len(np.unique(sites)) == p
    demand, pairs = _maximo_city(city, radius)
    assert pairs.distance_m.max() <= radius and pairs.distance_m.max() > 0.9 * radius
    covered = np.unique(pairs.demand_index[np.isin(pairs.target_index, sites)])
    assert demand[covered].sum() == published


@pytest.mark.slow
def test_maximo_new_york_p50() -> None:
    """Proven optimum 1,153,640 (Máximo et al.); about 20 s with HiGHS on 2 cores."""
    row = next(r for r in MAXIMO if r["instance"] == "NewYork" and r["p"] == "50")
    assert row["proven_optimal"] == "true"
    best = float(row["best_known"])
    inst = read_maximo(MCLP / "maximo" / "NewYork.txt", radius=float(row["radius_m"]), p=50)
    plan = solve(inst, time_limit_s=120)
    assert plan.status in ("optimal", "feasible")
    assert plan.objective <= best  # the optimum is proven: nothing can beat it
    assert plan.bound >= best * (1 - 1e-9)  # and no bound may cut it off
    if plan.status == "optimal":
        assert plan.objective >= best * (1 - 1e-9)
        assert plan.objective == best
