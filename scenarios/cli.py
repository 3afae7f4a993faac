"""The ``lifecircle`` command line: a thin layer over :mod:`scenarios.runner`.

Exit codes: 0 solved (optimal or feasible at a limit), 2 bad input (one line per problem),
3 infeasible, 4 no solution found within the limits or solver error.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from optimizer.errors import InputError
from optimizer.solvers import BACKENDS, ProgressEvent, SolveStatus
from scenarios.library import DEFAULT_SCENARIO, shipped_scenarios

EXIT_OK, EXIT_BAD_INPUT, EXIT_INFEASIBLE, EXIT_NO_SOLUTION = 0, 2, 3, 4


def _print_progress(event: ProgressEvent) -> None:
    gap = f"{100 * event.gap:.2f}%" if event.gap is not None else "-"
    incumbent = f"{event.incumbent:,.0f}" if event.incumbent is not None else "-"
    bound = f"{event.bound:,.0f}" if event.bound is not None else "-"
    print(f"[{event.elapsed_s:7.2f}s] {event.source:<12} objective {incumbent:>14}  "
          f"bound {bound:>14}  gap {gap}", file=sys.stderr)


def _export_formats(text: str) -> tuple[str, ...]:
    """``--export xlsx,gpkg`` -> ``("xlsx", "gpkg")``; an unknown format is a usage error."""
    from scenarios.exports import check_formats

    try:
        return check_formats(name for name in text.split(",") if name.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lifecircle",
        description="Site pocket parks, canteens and childcare rooms for 15-minute life circles.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    solve = commands.add_parser("solve", help="solve a scenario and write the results")
    solve.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO,
                       help=f"scenario TOML file or shipped scenario name "
                            f"(default: {DEFAULT_SCENARIO})")
    solve.add_argument("--out", required=True, help="output folder")
    solve.add_argument("--solver", choices=sorted(BACKENDS), help="MILP backend")
    solve.add_argument("--time-limit", type=float, help="time limit in seconds")
    solve.add_argument("--gap", type=float, help="relative optimality gap to stop at")
    solve.add_argument("--threads", type=int, help="solver threads")
    solve.add_argument("--seed", type=int, help="random seed")
    solve.add_argument("--quiet", action="store_true", help="no progress lines")
    solve.add_argument("--verbose", action="store_true", help="print the solver log")
    solve.add_argument("--export", type=_export_formats, default=(), metavar="FORMATS",
                       help="also write exports, a comma list of xlsx (plan.xlsx), gpkg "
                            "(plan.gpkg), csv (plan_<table>.csv for Excel)")
    validate = commands.add_parser("validate", help="check a scenario's inputs without solving")
    validate.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO)
    commands.add_parser("scenarios", help="list the shipped scenarios")
    commands.add_parser("warmup", help="compile and cache the search kernels now, so the "
                                       "first solve after installing is not slow")
    app = commands.add_parser("app", help="start the planners' web app (Streamlit)")
    app.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    app.add_argument("--address", default="localhost",
                     help="address to listen on (default localhost; 0.0.0.0 for an intranet)")
    sweep = commands.add_parser("sweep", help="solve a scenario at a ladder of budgets and "
                                              "write the budget-coverage curve")
    sweep.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO,
                       help=f"scenario TOML file or shipped scenario name "
                            f"(default: {DEFAULT_SCENARIO})")
    sweep.add_argument("--budgets", required=True,
                       help="budgets in CNY: start:stop:count (inclusive, e.g. 5e6:100e6:20) "
                            "or a comma list (e.g. 5e6,10e6,30e6)")
    sweep.add_argument("--out", required=True,
                       help="output folder (curve.csv, curve.png, points/ with each solved "
                            "budget; rerunning into it skips budgets already solved)")
    sweep.add_argument("--time-limit", type=float, help="time limit per budget in seconds")
    sweep.add_argument("--solver", choices=sorted(BACKENDS), help="MILP backend")
    sweep.add_argument("--workers", type=int,
                       help="solve on a local Dask cluster of this many worker processes "
                            "(default: in this process)")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="solve on a running Dask scheduler (tcp://host:port)")
    sweep.add_argument("--lang", choices=["en", "zh"], default="en",
                       help="language of the plot's labels (default: en)")
    brief = commands.add_parser("brief", help="write a policy brief (HTML or PDF) of solved "
                                              "run folders; several runs are compared")
    brief.add_argument("runs", nargs="+", metavar="RUN_DIR",
                       help="run folders written by lifecircle solve (the first is the "
                            "baseline of a comparison)")
    brief.add_argument("--out", required=True, help="brief.html or brief.pdf")
    brief.add_argument("--lang", choices=["zh", "en"], default="zh",
                       help="language of the brief (default: zh)")
    brief.add_argument("--curve", metavar="CURVE_CSV",
                       help="curve.csv of lifecircle sweep for the first run (default: a "
                            "curve.csv in the run folder)")
    batch = commands.add_parser("batch", help="run the variants of a batch file (or every "
                                              "scenario in a folder) on Dask, resumably")
    batch.add_argument("batch", metavar="BATCH",
                       help="batch TOML file (base scenario, [grid], [[variant]]) or a folder "
                            "of scenario TOML files")
    batch.add_argument("--out", required=True,
                       help="output folder (runs/<name>/, runs.csv, runs.parquet); "
                            "rerunning into it skips finished runs")
    batch.add_argument("--workers", type=int,
                       help="worker processes of the local Dask cluster (default 1)")
    batch.add_argument("--scheduler", metavar="ADDRESS",
                       help="use a running Dask scheduler (tcp://host:port) instead")
    batch.add_argument("--time-limit", type=float, help="time limit per run in seconds")
    batch.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def _solve(args: argparse.Namespace) -> int:
    from scenarios.runner import run_scenario, write_outputs

    result = run_scenario(
        args.scenario,
        progress=None if args.quiet else _print_progress,
        verbose=args.verbose,
        solver=args.solver,
        time_limit_s=args.time_limit,
        gap=args.gap,
        threads=args.threads,
        seed=args.seed,
    )
    plan = result.plan
    from scenarios.exports import remove_exports, write_exports

    # summary.json goes first and comes back last (write_outputs), so while it exists every
    # file in the folder is of one run; exports an earlier run left and this one did not
    # write are removed. Every file is replaced atomically.
    (Path(args.out) / "summary.json").unlink(missing_ok=True)
    exports = write_exports(result, args.out, formats=args.export)
    remove_exports(args.out, keep=exports.values())
    paths = write_outputs(result, args.out)
    if plan.status == SolveStatus.INFEASIBLE:
        reasons = "; ".join(plan.explanation) or "the constraints cannot all hold"
        print(f"infeasible: {reasons}", file=sys.stderr)
        return EXIT_INFEASIBLE
    if not plan.has_solution:
        print(f"no solution: {plan.status} ({plan.report.message})", file=sys.stderr)
        return EXIT_NO_SOLUTION
    table = plan.coverage_by_type()
    gap = f"{100 * plan.gap:.3f}%" if plan.gap is not None else "n/a"
    what = "objective"
    if result.spec.policy.objective == "min_cost":
        what = "cost + floor penalty" if plan.instance.policy.has_soft_floors else "cost"
    budget = f"{plan.instance.budget:,.0f}" if math.isfinite(plan.instance.budget) \
        else "no budget limit"
    print(f"{result.spec.name}: {plan.status}, {what} {plan.objective:,.1f}, "
          f"bound {plan.bound:,.1f}, gap {gap}, cost {plan.total_cost:,.0f} of "
          f"{budget}, {plan.runtime_s:.2f} s")
    for row in table.itertuples():
        served = (f", served {row.served:,.0f} ({row.served_pct:.1f}%)"
                  if abs(row.served - row.covered) > 0.5 else "")
        print(f"  {row.type:<12} {row.new_sites:>4} new sites  covered {row.covered:>12,.0f} "
              f"of {row.population:,.0f} ({row.coverage_pct:.1f}%), newly "
              f"{row.newly_covered:,.0f}{served}")
    parts = plan.report.objective_parts
    if "worst_group_share" in parts:
        print(f"  worst-covered group share (max-min stage): "
              f"{100 * parts['worst_group_share']:.1f}%")
    if "complete_circle_population" in parts:
        print(f"  complete life circle: {parts['complete_circle_population']:,.0f} residents")
    shortfalls = sorted(parts.get("floor_shortfall", {}).items(), key=lambda kv: -kv[1])
    for name, short in shortfalls[:5]:
        print(f"  short of {name}: {short:,.0f} people")
    if len(shortfalls) > 5:
        print(f"  ... {len(shortfalls) - 5} more floors not met (summary.json)")
    print(f"results in {paths['summary'].parent}")
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from scenarios.library import resolve_scenario
    from scenarios.loader import build_instance
    from scenarios.spec import load_scenario

    instance = build_instance(load_scenario(resolve_scenario(args.scenario)))
    print(f"ok: {instance.n_demand} demand units, {instance.n_sites} sites, "
          f"{len(instance.existing_ids)} existing facilities, types "
          f"{', '.join(instance.type_names)}, CRS {instance.crs}")
    return EXIT_OK


def _sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scenarios.curve import budget_curve, parse_budgets

    budgets = parse_budgets(args.budgets)
    out = Path(args.out)
    resumed = []

    def report(point) -> None:
        resumed.append(point.resumed)
        print(point.describe(), flush=True)

    curve = budget_curve(args.scenario, budgets, time_limit_s=args.time_limit,
                         solver=args.solver, progress=report, workers=args.workers,
                         scheduler=args.scheduler, checkpoint=out / "points")
    if any(resumed):
        print(f"{sum(resumed)} of {len(curve.points)} budgets done already (read from "
              f"{out / 'points'}), the rest solved", file=sys.stderr)
    csv_path = curve.to_csv(out / "curve.csv")
    try:
        curve.plot(out / "curve.png", lang=args.lang)
    except ImportError as error:
        print(f"warning: curve.png not written: {error}", file=sys.stderr)
    statuses = set(curve.points["status"])
    if curve.points["objective"].notna().any():
        print(f"{curve.scenario}: {len(curve.points)} budgets, results in {csv_path.parent}")
        return EXIT_OK
    if statuses == {str(SolveStatus.INFEASIBLE)}:
        print("infeasible at every budget", file=sys.stderr)
        return EXIT_INFEASIBLE
    print(f"no solution at any budget ({', '.join(sorted(statuses))})", file=sys.stderr)
    return EXIT_NO_SOLUTION


def _batch(args: argparse.Namespace) -> int:
    from scenarios.batch import load_batch, run_batch

    batch = load_batch(args.batch, time_limit_s=args.time_limit)
    try:
        table = run_batch(batch, args.out, workers=args.workers, scheduler=args.scheduler,
                          progress=not args.quiet)
    except ImportError as error:  # Dask not installed
        print(f"error: {error}", file=sys.stderr)
        return 1
    counts = table["status"].value_counts()
    print(f"{batch.name}: {len(table)} runs ("
          + ", ".join(f"{count} {status}" for status, count in counts.items())
          + f"); table in {Path(args.out) / 'runs.csv'}")
    failed = table[table["status"] == "error"]
    for name, error in zip(failed["name"], failed["error"], strict=True):
        print(f"error: run {name}: {error}", file=sys.stderr)
    return 1 if len(failed) else EXIT_OK


def _warmup(args: argparse.Namespace) -> int:
    from scenarios.warmup import kernel_cache_dir, warm_up

    seconds = warm_up()
    print(f"search kernels ready in {seconds:.1f} s (cached in {kernel_cache_dir()})")
    return EXIT_OK


def _brief(args: argparse.Namespace) -> int:
    from briefs import make_brief

    try:
        out = make_brief(args.runs, args.out, lang=args.lang, curve=args.curve)
    except RuntimeError as error:  # no Chromium / Playwright for a PDF
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"brief written to {out}")
    return EXIT_OK


def app_command(port: int, address: str) -> list[str]:
    """The ``streamlit run`` command line of ``lifecircle app``: offline settings (no usage
    statistics, no external IP lookup), a 50 MB upload limit, no full garbage collection
    after every script run (see ``.streamlit/config.toml``)."""
    from importlib import resources

    entry = Path(str(resources.files("webapp"))) / "entry.py"
    return [sys.executable, "-m", "streamlit", "run", str(entry),
            "--server.port", str(port), "--server.address", address,
            "--server.headless", "true", "--server.maxUploadSize", "50",
            "--server.fileWatcherType", "none", "--runner.postScriptGC", "false",
            "--browser.gatherUsageStats", "false", "--browser.serverAddress", address,
            "--client.toolbarMode", "minimal", "--theme.primaryColor", "#1f6f5c",
            "--theme.base", "light"]


def _app(args: argparse.Namespace) -> int:
    import subprocess

    try:
        return subprocess.call(app_command(args.port, args.address))
    except KeyboardInterrupt:
        return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "solve":
            return _solve(args)
        if args.command == "validate":
            return _validate(args)
        if args.command == "app":
            return _app(args)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "brief":
            return _brief(args)
        if args.command == "warmup":
            return _warmup(args)
        if args.command == "batch":
            return _batch(args)
        for name, path in shipped_scenarios().items():
            print(f"{name:<24} {path}")
        return EXIT_OK
    except InputError as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # Output piped into `head` or similar: stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as error:  # last resort: one line, not a traceback
        if os.environ.get("LIFECIRCLE_DEBUG"):
            raise
        print(f"error: internal error ({type(error).__name__}: {error}); rerun with "
              f"LIFECIRCLE_DEBUG=1 for details and report it", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
