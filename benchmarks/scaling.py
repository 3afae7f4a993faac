"""Scaling study: how model-building time, heuristic quality and memory grow with units,
sites, types and radius. Each point runs in a fresh subprocess (peak RSS is per point).

``python -m benchmarks.scaling [--out benchmarks/results]`` writes ``scaling.csv`` and
``docs/scaling.png`` (the figure shown in ``benchmarks/README.md``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BASE = {"units": 50_000, "sites": 2_000, "types": 1, "radius": 500.0}
LADDERS = {
    "units": [10_000, 50_000, 100_000, 200_000, 400_000],
    "sites": [500, 1_000, 2_000, 5_000, 10_000],
    "types": [1, 2, 3, 4],
    "radius": [300.0, 500.0, 800.0, 1_200.0],
}


def _instance(units: int, sites: int, types: int, radius: float, seed: int = 1):
    from optimizer import FacilityType, SitingInstance

    rng = np.random.default_rng(seed)
    side = 15_000.0
    centres = rng.uniform(0, side, (40, 2))
    xy = centres[rng.integers(0, 40, units)] + rng.normal(0, 900, (units, 2))
    kinds = tuple(FacilityType(f"type{t}", radius_m=radius * (1 + 0.25 * t), weight=1 + t)
                  for t in range(types))
    cost = rng.uniform(0.3e6, 1.5e6, (sites, types))
    cost[rng.random((sites, types)) < 0.3] = np.nan
    return SitingInstance(
        types=kinds, demand_ids=np.arange(units).astype(str).astype(object), demand_xy=xy,
        population=rng.integers(1, 200, (units, types)).astype(float),
        site_ids=np.arange(sites).astype(str).astype(object),
        site_xy=rng.uniform(0, side, (sites, 2)), site_cost=cost, budget=60e6,
    )


def _point(units: int, sites: int, types: int, radius: float) -> dict[str, float]:
    from optimizer.coverage import compute_reach
    from optimizer.heuristics import greedy_swap
    from optimizer.model import build_milp
    from optimizer.reduce import reduce_problem

    instance = _instance(units, sites, types, radius)
    started = time.perf_counter()
    reach = compute_reach(instance)
    pairs_s = time.perf_counter() - started
    problem = reduce_problem(instance, reach)
    milp = build_milp(problem)
    build_s = time.perf_counter() - started
    found = greedy_swap(problem, time_limit_s=2.0, iterate=False)
    return {
        "pairs": len(reach.demand), "pairs_s": pairs_s, "build_s": build_s,
        "groups": problem.n_groups, "columns": problem.n_columns,
        "nonzeros": milp.matrix.nnz, "greedy_swap_s": found.runtime_s,
        "greedy_swap_gap_to_trivial": (problem.upper_bound - found.objective)
        / max(found.objective, 1.0),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--point", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.point:
        print(json.dumps(_point(**json.loads(args.point))))
        return 0
    import pandas as pd

    rows = []
    for axis, values in LADDERS.items():
        for value in values:
            params = {**BASE, axis: value}
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.scaling", "--point", json.dumps(params)],
                capture_output=True, text=True, check=True, cwd=REPO,
            )
            row = {"axis": axis, **params, **json.loads(done.stdout.strip().splitlines()[-1])}
            rows.append(row)
            print(f"{axis}={value}: build {row['build_s']:.2f} s, {row['pairs']:,} pairs, "
                  f"peak {row['peak_mb']:.0f} MB", flush=True)
    table = pd.DataFrame(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "scaling.csv", index=False)
    _plot(table, REPO / "docs" / "scaling.png")
    return 0


def _plot(table, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(14, 6.5), sharey="row")
    for column, axis in enumerate(LADDERS):
        part = table[table.axis == axis]
        axes[0, column].plot(part[axis], part["build_s"], "o-", label="pairs + reductions + model")
        axes[0, column].plot(part[axis], part["pairs_s"], "s--", label="pairs only")
        axes[1, column].plot(part[axis], part["peak_mb"], "o-", color="tab:red")
        axes[1, column].set_xlabel(axis)
        axes[0, column].set_title(f"varying {axis}")
    axes[0, 0].set_ylabel("seconds")
    axes[1, 0].set_ylabel("peak memory, MB")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"lifecircle model build, base {BASE} (2 cores)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
