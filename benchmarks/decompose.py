"""Decomposed versus monolithic solve of a synthetic multi-neighbourhood city.

``python -m benchmarks.decompose [--clusters 30] [--seed 0]``: clusters 5 km apart, each
with 20-60 units and 4-10 candidate sites, two types, whole-number costs; prints both
objectives, statuses and times, and their ratio.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from optimizer import solve
from optimizer.instance import FacilityType, SitingInstance
from scenarios.decompose import solve_decomposed


def city(clusters: int, seed: int) -> SitingInstance:
    rng = np.random.default_rng(seed)
    demand, sites = [], []
    for i in range(clusters):
        centre = np.array([5000.0 * (i % 10), 5000.0 * (i // 10)])
        demand.append(centre + rng.uniform(-500, 500, (int(rng.integers(20, 61)), 2)))
        sites.append(centre + rng.uniform(-450, 450, (int(rng.integers(4, 11)), 2)))
    demand_xy, site_xy = np.vstack(demand), np.vstack(sites)
    return SitingInstance(
        types=(FacilityType("park", radius_m=300.0),
               FacilityType("canteen", radius_m=250.0, weight=2.0)),
        demand_ids=np.arange(len(demand_xy)).astype(str).astype(object),
        demand_xy=demand_xy,
        population=rng.integers(1, 80, (len(demand_xy), 2)).astype(float),
        site_ids=np.arange(len(site_xy)).astype(str).astype(object),
        site_xy=site_xy,
        site_cost=rng.choice([1e6, 1.5e6, 2.5e6, 3e6], (len(site_xy), 2)),
        budget=2e6 * clusters,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=120.0)
    args = parser.parse_args(argv)
    instance = city(args.clusters, args.seed)
    print(f"{args.clusters} clusters, {instance.n_demand} units, {instance.n_sites} sites; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()}", flush=True)
    started = time.perf_counter()
    merged = solve_decomposed(instance, time_limit_s=args.time_limit)
    decomposed_s = time.perf_counter() - started
    started = time.perf_counter()
    alone = solve(instance, time_limit_s=args.time_limit, mip_gap=0.0)
    monolithic_s = time.perf_counter() - started
    print(f"decomposed  {merged.status:<8} objective {merged.objective:,.1f}  "
          f"{decomposed_s:6.1f} s  ({merged.parts} parts, {merged.part_solves} part solves)")
    print(f"monolithic  {alone.status:<8} objective {alone.objective:,.1f}  "
          f"{monolithic_s:6.1f} s  gap {alone.gap}")
    print(f"time ratio decomposed / monolithic: {decomposed_s / monolithic_s:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
