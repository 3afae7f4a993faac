"""Time the budget sweep of a scenario: CLI solves, in-process curves, Dask curves.

``python -m benchmarks.sweep [--points 100] [--workers 1,2] [--cli-points 5]
[--cold-points 10] [--scenario yuzhong-baseline]`` prints one line per method:

* ``cli``: one ``lifecircle solve`` process per point (the scenario as shipped, at its own
  budget: ``solve`` has no budget flag), timed ``--cli-points`` times and scaled to
  ``--points`` (an estimate, marked so);
* ``cold``: ``budget_curve(..., warm_start=False)`` in this process (each point a fresh
  :func:`optimizer.solve.solve`), on ``--cold-points`` budgets, scaled;
* ``warm``: ``budget_curve`` in this process (shared model, warm starts), all points;
* ``dask-N``: the same on a LocalCluster of N worker processes (cluster start included).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np


def _ladder(count: int) -> list[float]:
    return [float(b) for b in np.linspace(5e6, 100e6, count)]


def _describe(name: str, seconds: float, points: int, total: int, curve=None) -> str:
    line = f"{name:<8} {seconds:8.1f} s for {points:3d} points"
    if points != total:
        line += f"  -> about {seconds * total / points:6.0f} s for {total} (estimate)"
    if curve is not None:
        statuses = curve.points["status"].value_counts().to_dict()
        gap = curve.points["gap"].max()
        line += f"  statuses {statuses}, largest gap {gap:.2e}"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="yuzhong-baseline")
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--workers", default="1,2", help="Dask worker counts, e.g. 1,2")
    parser.add_argument("--cli-points", type=int, default=5)
    parser.add_argument("--cold-points", type=int, default=10)
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args(argv)
    from scenarios.curve import budget_curve

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {os.getloadavg()}")
    total = args.points
    ladder = _ladder(total)
    if args.cli_points:
        sample = ladder[:: max(1, total // args.cli_points)][: args.cli_points]
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            for _ in sample:
                subprocess.run([sys.executable, "-m", "scenarios.cli", "solve", args.scenario,
                                "--out", out, "--quiet", "--time-limit",
                                str(args.time_limit)],
                               check=False, capture_output=True)
        print(_describe("cli", time.perf_counter() - started, len(sample), total), flush=True)
    if args.cold_points:
        sample = ladder[:: max(1, total // args.cold_points)][: args.cold_points]
        started = time.perf_counter()
        curve = budget_curve(args.scenario, sample, time_limit_s=args.time_limit,
                             warm_start=False)
        print(_describe("cold", time.perf_counter() - started, len(sample), total, curve),
              flush=True)
    started = time.perf_counter()
    curve = budget_curve(args.scenario, ladder, time_limit_s=args.time_limit)
    print(_describe("warm", time.perf_counter() - started, total, total, curve), flush=True)
    for workers in [int(w) for w in args.workers.split(",") if w.strip()]:
        started = time.perf_counter()
        curve = budget_curve(args.scenario, ladder, time_limit_s=args.time_limit,
                             workers=workers, client=None) if workers > 1 else None
        if curve is None:  # one worker: force Dask with a one-process local cluster
            from scenarios.batch import _dask_client

            with _dask_client(None, None, 1) as client:
                curve = budget_curve(args.scenario, ladder, time_limit_s=args.time_limit,
                                     client=client)
        print(_describe(f"dask-{workers}", time.perf_counter() - started, total, total,
                        curve), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
