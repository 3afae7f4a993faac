"""Solved scenarios on disk: run folders, reloading them, and a store keyed by content.

A *run folder* is what :func:`scenarios.runner.write_outputs` writes (``summary.json``, the
CSV tables, ``scenario.toml`` with absolute data paths and ``progress.csv``).
:func:`load_run` rebuilds the full :class:`~scenarios.runner.ScenarioResult` from one, so a
result can be shown, compared, exported or briefed later without solving again.

:class:`ResultStore` keeps run folders under a root, named by :func:`content_key`: a hash of
everything that determines the answer (the scenario's settings, the bytes of every data file
it reads, the solver settings and lifecircle's version). Reopening a scenario, refreshing a
page or restarting the app finds its result instantly. Folders are written to a temporary
name and renamed into place, so a reader never sees half a result.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import replace
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.coverage import compute_reach
from optimizer.errors import InputError, Problem
from optimizer.results import SolverReport, restore_plan
from optimizer.solvers.base import ProgressEvent, SolveStatus
from scenarios.loader import build_instance
from scenarios.runner import ScenarioResult, write_outputs
from scenarios.spec import ScenarioSpec, load_scenario, spec_to_data

STORE_ENV = "LIFECIRCLE_STORE_DIR"
"""Environment variable naming the store's root (default ``~/.cache/lifecircle/results``)."""


def _lifecircle_version() -> str:
    try:
        return version("lifecircle")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "source"


@lru_cache(maxsize=256)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (memoised by path, size and modification time)."""
    stat = Path(path).stat()
    return _file_digest(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


def content_key(spec: ScenarioSpec) -> str:
    """A hash of everything that determines a scenario's result.

    The scenario's settings (as :func:`~scenarios.spec.spec_to_data` writes them, with each
    data file replaced by the SHA-256 of its bytes, so moving or renaming files does not
    change the key but editing one does), the solver settings and lifecircle's version.
    The scenario's name and description are part of it, since the summary reports them.
    """
    data = spec_to_data(spec)
    for role in ("demand", "sites", "existing", "distances"):
        table = getattr(spec, role)
        if table is None:
            continue
        entry = data[role] if isinstance(data[role], dict) else {"path": data[role]}
        data[role] = {**entry, "path": file_digest(table.path)}
    if spec.network is not None:
        data["network"] = {**data["network"], "path": file_digest(spec.network.path)}
    data["lifecircle"] = _lifecircle_version()
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _report(solver: dict) -> SolverReport:
    return SolverReport(
        backend=str(solver.get("backend", "")),
        message=str(solver.get("message", "")),
        source=str(solver.get("source", "")),
        build_s=float(solver.get("build_s") or 0.0),
        heuristic_s=float(solver.get("heuristic_s") or 0.0),
        solver_s=float(solver.get("solver_s") or 0.0),
        heuristic_objective=solver.get("heuristic_objective"),
        model_size=dict(solver.get("model") or {}),
        reductions=dict(solver.get("reductions") or {}),
    )


def _progress(path: Path) -> tuple[ProgressEvent, ...]:
    if not path.exists():
        return ()
    frame = pd.read_csv(path)

    def value(v: float) -> float | None:
        return None if pd.isna(v) else float(v)

    return tuple(ProgressEvent(str(r.source), float(r.elapsed_s), value(r.incumbent),
                               value(r.bound)) for r in frame.itertuples())


def load_run(run_dir: str | Path) -> ScenarioResult:
    """Rebuild a solved scenario from its run folder, without solving.

    The folder must hold ``summary.json``, ``sites.csv`` and ``scenario.toml`` (written by
    :func:`~scenarios.runner.write_outputs`); the data files the scenario names must still
    exist with the same content. Coverage is recomputed from the plan; the status, objective,
    bound, gap and solver report are the recorded ones.

    Raises
    ------
    InputError
        A file is missing or does not match the scenario's data.
    """
    folder = Path(run_dir)
    problems = [Problem(f"missing {name} (not a lifecircle run folder?)", file=str(folder))
                for name in ("summary.json", "sites.csv", "scenario.toml")
                if not (folder / name).exists()]
    if problems:
        raise InputError(problems)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    spec = load_scenario(folder / "scenario.toml")
    spec = replace(spec, path=Path(summary["scenario_file"]) if summary.get("scenario_file")
                   else spec.path)
    instance = build_instance(spec)
    sites = pd.read_csv(folder / "sites.csv", dtype={"site_id": str, "type": str,
                                                     "year": str})
    served = site_served = None
    if instance.policy.site_capacity is not None and (folder / "coverage.csv").exists():
        coverage = pd.read_csv(folder / "coverage.csv", dtype={"demand_id": str})
        table = coverage.pivot(index="demand_id", columns="type", values="served")
        table = table.reindex(index=instance.demand_ids.astype(str),
                              columns=list(instance.type_names))
        served = table.to_numpy(dtype=float, copy=True)
        capacitated = list(instance.policy.capacitated_types())
        mask = np.ones(instance.n_types, dtype=bool)
        mask[capacitated] = False
        served[:, mask] = np.nan
        if "served" in sites.columns:
            site_served = np.zeros(instance.n_sites)
            positions = {s: k for k, s in enumerate(instance.site_ids.astype(str))}
            for site, value in zip(sites["site_id"], sites["served"], strict=True):
                if pd.notna(value):
                    site_served[positions[site]] = float(value)
    solver = summary.get("solver", {})
    report = replace(_report(solver), progress=_progress(folder / "progress.csv"),
                     warnings=tuple(summary.get("warnings", [])),
                     objective_parts=dict(summary.get("objective_parts") or {}),
                     search=dict(solver.get("search") or {}))
    try:
        plan = restore_plan(
            instance, compute_reach(instance),
            site_ids=sites["site_id"].to_numpy(), type_names=sites["type"].to_numpy(),
            status=SolveStatus(summary["status"]), objective=summary.get("objective"),
            bound=summary.get("bound"), gap=summary.get("gap"),
            runtime_s=float(summary.get("runtime_s") or 0.0), report=report,
            years=sites["year"].to_numpy() if "year" in sites.columns else None,
            year_names=tuple(instance.policy.years) if "year" in sites.columns else (),
            served=served, site_served=site_served,
            explanation=tuple(summary.get("explanation", [])),
        )
    except KeyError as error:
        raise InputError([Problem(f"sites.csv names {error} which the scenario's data does "
                                  f"not have (was the data changed?)",
                                  file=str(folder))]) from None
    return ScenarioResult(spec, instance, plan)


def default_store_dir() -> Path:
    """``$LIFECIRCLE_STORE_DIR``, else ``~/.cache/lifecircle/results``."""
    configured = os.environ.get(STORE_ENV)
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "lifecircle" / "results"


class ResultStore:
    """Run folders under ``root``, one per :func:`content_key`.

    Parameters
    ----------
    root
        The store's folder (created on first write); default :func:`default_store_dir`.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_store_dir()

    def run_dir(self, key: str) -> Path:
        """The folder of the result with this key (it may not exist)."""
        return self.root / key

    def has(self, key: str) -> bool:
        return (self.run_dir(key) / "summary.json").exists()

    def get(self, spec: ScenarioSpec) -> ScenarioResult | None:
        """The stored result of ``spec``, or None if it was never solved (or is unreadable)."""
        key = content_key(spec)
        if not self.has(key):
            return None
        try:
            return load_run(self.run_dir(key))
        except (InputError, ValueError, KeyError, OSError):
            return None

    def put(self, result: ScenarioResult) -> Path:
        """Store a result (atomically: a temporary folder renamed into place)."""
        key = content_key(result.spec)
        final = self.run_dir(key)
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.root))
        try:
            write_outputs(result, staging)
            (staging / "key.txt").write_text(key + "\n", encoding="utf-8")
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            os.replace(staging, final)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not self.has(key):
                raise
        return final
