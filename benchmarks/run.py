"""Run the benchmark suite: ``python -m benchmarks.run [--quick] [--only NAME...]``.

Each (instance, method) pair runs in its own subprocess (unless ``--in-process``), one at a
time, with a hard timeout. Results are printed as a Markdown table and written to
``--out`` as ``results.csv``, ``results.md`` and ``machine.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from fnmatch import fnmatch
from importlib import metadata
from pathlib import Path

from benchmarks.instances import REPO, BenchCase, all_cases, build_case
from benchmarks.methods import ALL_METHODS, DEFAULT_METHODS, DENSE_LIMIT, RunResult, skip_reason

DEFAULT_OUT = REPO / "benchmarks" / "results"
COLUMNS = [
    "instance", "family", "n_demand", "n_sites", "n_types", "method", "status", "objective",
    "bound", "gap", "target", "target_kind", "obj_vs_target", "wall_s", "time_vs_lifecircle",
    "peak_rss_mb", "base_rss_mb", "notes",
]


# --------------------------------------------------------------------------- machine


def machine_description() -> dict[str, object]:
    """CPU, cores, RAM, Python and solver versions, git commit."""
    info: dict[str, object] = {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cores_logical": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        models = [ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines()
                  if ln.startswith("model name")]
        info["cpu"] = models[0] if models else platform.processor()
    except OSError:
        info["cpu"] = platform.processor()
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["ram_gb"] = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    for package in ("numpy", "scipy", "highspy", "pulp", "spopt"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = None
    try:
        import pulp

        banner = subprocess.run(
            [pulp.PULP_CBC_CMD().path, "-quit"], capture_output=True, text=True, timeout=20
        ).stdout
        info["cbc"] = next(
            (ln.split(":", 1)[1].strip() for ln in banner.splitlines()
             if ln.startswith("Version:")),
            None,
        )
    except Exception:
        info["cbc"] = None
    import optimizer

    info["lifecircle_path"] = str(Path(optimizer.__file__).resolve().parent.parent)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO, capture_output=True, text=True, timeout=10).stdout
        info["git"] = commit + ("+dirty" if dirty.strip() else "") if commit else None
    except (OSError, subprocess.SubprocessError):
        info["git"] = None
    # `git archive` fills this file in (export-subst in .gitattributes): a snapshot copy
    # without .git still reports the commit it was made from.
    snapshot = REPO / "benchmarks" / "SNAPSHOT_COMMIT"
    stamp = snapshot.read_text().strip() if snapshot.exists() else ""
    if info["git"] is None and stamp and not stamp.startswith("$Format"):
        info["git"] = stamp + " (snapshot)"
    return info


def machine_line(info: dict[str, object]) -> str:
    return (
        f"{info.get('cpu')}, {info.get('cores_usable')} usable cores, "
        f"{info.get('ram_gb')} GB RAM; Python {info.get('python')}, HiGHS (highspy) "
        f"{info.get('highspy')}, spopt {info.get('spopt')}, PuLP {info.get('pulp')}, "
        f"CBC {info.get('cbc')}; lifecircle {info.get('git')}"
    )


# --------------------------------------------------------------------------- running


def select_cases(
    only: list[str] | None, *, quick: bool, skip_heavy: bool
) -> list[BenchCase]:
    """Cases matching ``only`` (globs on name or family); quick: the smoke subset."""
    cases = list(all_cases())
    if quick:
        cases = [c for c in cases if c.quick]
    if skip_heavy:
        cases = [c for c in cases if not c.heavy]
    if only:
        cases = [c for c in cases if any(fnmatch(c.name, p) or fnmatch(c.family, p)
                                         for p in only)]
    return cases


def _run_isolated(
    case: BenchCase, method: str, time_limit_s: float, hard_timeout_s: float
) -> tuple[RunResult, dict[str, float | None]]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp) / "result.json"
        err_path = Path(tmp) / "stderr.txt"
        cmd = [sys.executable, "-m", "benchmarks.worker", case.name, method,
               str(time_limit_s), str(out)]
        started = time.perf_counter()
        with open(err_path, "w") as err:
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True)
            try:
                proc.wait(timeout=hard_timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                elapsed = time.perf_counter() - started
                return RunResult("killed", wall_s=None, notes=[
                    f"killed after {elapsed:.0f}s (hard timeout)"]), {}
        if not out.exists():
            tail = err_path.read_text(errors="replace").strip().splitlines()[-2:]
            return RunResult("error", notes=[f"worker exit {proc.returncode}", *tail]), {}
        payload = json.loads(out.read_text())
    memory = {k: payload.pop(k, None) for k in ("peak_rss_mb", "base_rss_mb")}
    return RunResult(**payload), memory


def _run_in_process(case: BenchCase, method: str, time_limit_s: float) -> RunResult:
    from benchmarks.methods import run_method

    try:
        return run_method(method, case, build_case(case.name), time_limit_s)
    except Exception as exc:
        return RunResult("error", notes=[f"{type(exc).__name__}: {exc}"])


def _row(case: BenchCase, method: str, result: RunResult, memory: dict) -> dict[str, object]:
    return {
        "instance": case.name,
        "family": case.family,
        "n_demand": case.n_demand,
        "n_sites": case.n_sites,
        "n_types": case.n_types,
        "method": method,
        "status": result.status,
        "objective": result.objective,
        "bound": result.bound,
        "gap": result.gap,
        "target": case.target,
        "target_kind": case.target_kind,
        "obj_vs_target": None,
        "wall_s": result.wall_s,
        "time_vs_lifecircle": None,
        "peak_rss_mb": memory.get("peak_rss_mb"),
        "base_rss_mb": memory.get("base_rss_mb"),
        "notes": "; ".join(result.notes),
    }


def _finish_instance(rows: list[dict[str, object]]) -> None:
    """Fill target (best in run where none is known), ratios to target and to lifecircle."""
    objectives = [r["objective"] for r in rows if r["objective"] is not None]
    for row in rows:
        if row["target"] is None and objectives:
            row["target"] = max(objectives)
    base = next((r for r in rows if r["method"] == "lifecircle"), None)
    base_wall = base["wall_s"] if base else None
    for row in rows:
        if row["objective"] is not None and row["target"]:
            row["obj_vs_target"] = row["objective"] / row["target"]
        if row["wall_s"] is not None and base_wall:
            row["time_vs_lifecircle"] = row["wall_s"] / base_wall


def run_suite(
    cases: list[BenchCase],
    methods: list[str],
    time_limit_s: float,
    *,
    isolate: bool = True,
    hard_timeout_s: float | None = None,
    dense_limit: int = DENSE_LIMIT,
    on_instance=None,
    log=sys.stderr,
) -> list[dict[str, object]]:
    """Run every method on every case, one at a time; returns one row per run."""
    hard = hard_timeout_s or (2 * time_limit_s + 120)
    rows: list[dict[str, object]] = []
    for case in cases:
        instance_rows = []
        for method in methods:
            reason = skip_reason(method, case, dense_limit)
            memory: dict[str, float | None] = {}
            if reason is not None:
                result = RunResult("skipped", notes=[reason])
            elif isolate:
                result, memory = _run_isolated(case, method, time_limit_s, hard)
            else:
                result = _run_in_process(case, method, time_limit_s)
            row = _row(case, method, result, memory)
            instance_rows.append(row)
            if log is not None:
                print(
                    f"{case.name:26s} {method:16s} {result.status:11s} "
                    f"obj={_fmt(result.objective)} bound={_fmt(result.bound)} "
                    f"wall={_fmt(result.wall_s, '.1f')}s  {row['notes'][:100]}",
                    file=log, flush=True,
                )
        _finish_instance(instance_rows)
        rows.extend(instance_rows)
        if on_instance is not None:
            on_instance(rows)
    return rows


# --------------------------------------------------------------------------- output


def _fmt(value, spec: str | None = None) -> str:
    """Objectives and bounds as whole numbers with separators, others per ``spec``."""
    if value is None or value == "":
        return "-"
    value = float(value)
    if spec is None:
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"
    return format(value, spec)


def markdown_table(rows: list[dict[str, object]]) -> str:
    header = ["instance", "method", "status", "objective", "bound", "gap", "obj/target",
              "wall s", "x lifecircle", "peak MB", "notes"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        target_mark = {"optimum": "", "best_known": " (bk)", "best_in_run": " (run)"}
        ratio = "-" if r["obj_vs_target"] is None else (
            f"{r['obj_vs_target']:.4f}{target_mark.get(str(r['target_kind']), '')}")
        notes = str(r["notes"]).replace("|", "/")
        if len(notes) > 120:
            notes = notes[:117] + "..."
        lines.append("| " + " | ".join([
            str(r["instance"]), str(r["method"]), str(r["status"]),
            _fmt(r["objective"]), _fmt(r["bound"]),
            "-" if r["gap"] is None else f"{100 * r['gap']:.2f}%",
            ratio, _fmt(r["wall_s"], ".1f"), _fmt(r["time_vs_lifecircle"], ".2f"),
            _fmt(r["peak_rss_mb"], ".0f"), notes,
        ]) + " |")
    return "\n".join(lines)


def read_results(path: Path) -> list[dict[str, object]]:
    """Rows of a ``results.csv`` with numbers parsed (to re-render a table)."""
    numeric = {"objective", "bound", "gap", "target", "obj_vs_target", "wall_s",
               "time_vs_lifecircle", "peak_rss_mb", "base_rss_mb"}
    with open(path, newline="") as fh:
        rows: list[dict[str, object]] = list(csv.DictReader(fh))
    for row in rows:
        for key in numeric:
            row[key] = float(row[key]) if row.get(key) not in (None, "") else None
    return rows


def write_results(
    rows: list[dict[str, object]], out: Path, machine: dict[str, object], header: str
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (out / "machine.json").write_text(json.dumps(machine, indent=2) + "\n")
    (out / "results.md").write_text(
        f"{header}\n\nMachine: {machine_line(machine)}\n\n{markdown_table(rows)}\n"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="lifecircle speed/quality benchmarks against plain HiGHS and spopt+CBC.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="smoke subset (Swain, SJC324, 1k random), under a minute")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="instance names or families (glob patterns), e.g. "
                             "'maximo-NewYork-*' sjc random-uniform-10k")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="time limit per run in seconds (default 60, quick 10)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output directory (default benchmarks/results)")
    parser.add_argument("--methods", nargs="+", choices=ALL_METHODS, default=None,
                        help=f"methods to run (default {' '.join(DEFAULT_METHODS)})")
    parser.add_argument("--skip-heavy", action="store_true",
                        help="skip heavy instances (the 200k-unit city)")
    parser.add_argument("--in-process", action="store_true",
                        help="run in this process (no peak memory, no hard timeout)")
    parser.add_argument("--hard-timeout", type=float, default=None,
                        help="kill a run after this many seconds (default 2T + 120)")
    parser.add_argument("--dense-limit", type=int, default=DENSE_LIMIT,
                        help="largest demand x site matrix given to spopt (default 25e6)")
    parser.add_argument("--list", action="store_true", help="list the selected cases and exit")
    parser.add_argument("--render", type=Path, metavar="CSV",
                        help="print the Markdown table of an earlier results.csv and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        print(markdown_table(read_results(args.render)))
        return 0
    cases = select_cases(args.only, quick=args.quick, skip_heavy=args.skip_heavy)
    methods = list(args.methods or DEFAULT_METHODS)
    time_limit = args.time_limit if args.time_limit is not None else (
        10.0 if args.quick else 60.0)
    if args.list:
        for c in cases:
            flags = " heavy" if c.heavy else ""
            print(f"{c.name:26s} {c.family:7s} {c.n_demand:>8,} x {c.n_sites:>6,} "
                  f"x {c.n_types}  target={c.target} ({c.target_kind}){flags}")
        return 0
    if not cases:
        print("no benchmark case matches", file=sys.stderr)
        return 2
    machine = machine_description()
    started = time.perf_counter()
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])

    def header(rows_done: int) -> str:
        return (
            f"# lifecircle benchmark results\n\n`{command}`\n\n"
            f"{rows_done} runs, time limit {time_limit:g} s per run, "
            f"total {time.perf_counter() - started:.0f} s."
        )

    print(f"Machine: {machine_line(machine)}", file=sys.stderr)
    rows = run_suite(
        cases, methods, time_limit,
        isolate=not args.in_process,
        hard_timeout_s=args.hard_timeout,
        dense_limit=args.dense_limit,
        on_instance=lambda done: write_results(done, args.out, machine, header(len(done))),
    )
    write_results(rows, args.out, machine, header(len(rows)))
    print(markdown_table(rows))
    print(f"\nTotal {time.perf_counter() - started:.0f} s; results in {args.out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

