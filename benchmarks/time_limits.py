"""Are time limits honoured? Every benchmark instance solved by lifecircle with one short
limit, the wall time of each ``solve`` call (pairs, reductions, search, MIP, evaluation)
set against the allowance ``max(2 s, 5 % of the limit)``.

``python -m benchmarks.time_limits [--time-limit 5] [--only NAME ...] [--skip-heavy]``

Runs :mod:`benchmarks.run` (one process per instance, lifecircle only) into
``benchmarks/results/time-limits-<T>s/``, then writes ``time_limits.csv`` there and prints
a Markdown table: instance, status, wall time, overrun and whether it is within the
allowance. Exit code 1 when any run overran.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd

ALLOWANCE_S = 2.0
ALLOWANCE_SHARE = 0.05


def allowance(limit_s: float) -> float:
    """How far past ``limit_s`` a solve may return: ``max(2 s, 5 %)``."""
    return max(ALLOWANCE_S, ALLOWANCE_SHARE * limit_s)


def judge(results: pd.DataFrame, limit_s: float) -> pd.DataFrame:
    """One row per run: wall time, overrun past the limit and whether it is allowed."""
    runs = results[results["method"] == "lifecircle"].copy()
    runs["limit_s"] = limit_s
    runs["overrun_s"] = (runs["wall_s"] - limit_s).clip(lower=0.0)
    runs["within"] = runs["wall_s"].notna() & (runs["overrun_s"] <= allowance(limit_s))
    return runs[["instance", "status", "wall_s", "limit_s", "overrun_s", "within"]]


def markdown(table: pd.DataFrame) -> str:
    """The table as Markdown (numbers to two decimals)."""
    def cell(value: object) -> str:
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(table.columns) + " |",
             "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in table.itertuples(index=False)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.time_limits",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=5.0)
    parser.add_argument("--only", nargs="+", default=None)
    parser.add_argument("--skip-heavy", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or Path("benchmarks/results") / f"time-limits-{args.time_limit:g}s"
    command = [sys.executable, "-m", "benchmarks.run", "--methods", "lifecircle",
               "--time-limit", str(args.time_limit), "--out", str(out)]
    if args.only:
        command += ["--only", *args.only]
    if args.skip_heavy:
        command.append("--skip-heavy")
    subprocess.run(command, check=True)
    table = judge(pd.read_csv(out / "results.csv"), args.time_limit)
    table.to_csv(out / "time_limits.csv", index=False)
    late = table[~table["within"]]
    print(f"\n{len(table)} instances, limit {args.time_limit:g} s, allowance "
          f"{allowance(args.time_limit):g} s: {len(table) - len(late)} within, "
          f"largest overrun {table['overrun_s'].max():.2f} s, "
          f"largest wall time {table['wall_s'].max():.2f} s\n")
    print(markdown(table))
    return 1 if len(late) else 0


if __name__ == "__main__":
    sys.exit(main())
