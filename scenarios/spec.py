"""Scenario files (TOML): parsing and validation into a frozen :class:`ScenarioSpec`.

Paths in a scenario are relative to the scenario file. A table may be given as a path, or
as an inline table naming its columns::

    demand = { path = "tracts.csv", id = "NAME", lon = "long", lat = "lat" }

See the README's "Scenario reference" for every key.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optimizer.errors import ProblemCollector

TABLE_ROLES: dict[str, dict[str, str]] = {
    "demand": {"id": "id", "x": "x", "y": "y", "lon": "lon", "lat": "lat"},
    "sites": {"id": "id", "x": "x", "y": "y", "lon": "lon", "lat": "lat"},
    "existing": {"id": "id", "x": "x", "y": "y", "lon": "lon", "lat": "lat", "type": "type"},
    "distances": {"demand_id": "demand_id", "site_id": "site_id", "distance_m": "distance_m"},
}
"""Column roles of each table and their default column names."""

TOP_LEVEL_KEYS = {
    "name", "description", "budget", "crs", "types", "solver", "force_open", "exclude",
    *TABLE_ROLES,
}
TYPE_KEYS = {"population", "radius_m", "cost", "weight", "max_sites", "max_budget_share",
             "label"}
SOLVER_KEYS = {"name", "time_limit_s", "gap", "threads", "seed"}
ANY = "any"


@dataclass(frozen=True)
class TableSource:
    """A table file and the column name used for each role."""

    path: Path
    columns: dict[str, str]
    label: str

    def column(self, role: str) -> str:
        return self.columns[role]


@dataclass(frozen=True)
class TypeSpec:
    """One ``[types.NAME]`` section."""

    name: str
    population: str
    radius_m: float
    cost: str
    weight: float = 1.0
    max_sites: int | None = None
    max_budget_share: float | None = None
    label: str | None = None


@dataclass(frozen=True)
class SolverSpec:
    """The ``[solver]`` section (every key optional)."""

    name: str = "highs"
    time_limit_s: float = 60.0
    gap: float = 1e-4
    threads: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class ScenarioSpec:
    """A parsed, validated scenario file."""

    name: str
    path: Path | None
    budget: float
    demand: TableSource
    sites: TableSource
    types: tuple[TypeSpec, ...]
    crs: str | None = None
    existing: TableSource | None = None
    distances: TableSource | None = None
    force_open: dict[str, str] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    solver: SolverSpec = field(default_factory=SolverSpec)
    description: str = ""


def _number(
    value: Any, key: str, problems: ProblemCollector, label: str, *, minimum: float | None = 0.0,
    integer: bool = False,
) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.add(f"'{key}' must be a number, got {value!r}", file=label)
        return None
    if not math.isfinite(value):
        problems.add(f"'{key}' must be finite, got {value!r}", file=label)
        return None
    if integer and int(value) != value:
        problems.add(f"'{key}' must be a whole number, got {value!r}", file=label)
        return None
    if minimum is not None and value < minimum:
        problems.add(f"'{key}' must be >= {minimum:g}, got {value!r}", file=label)
        return None
    return float(value)


def _table(
    raw: Any, role: str, base: Path, label: str, problems: ProblemCollector
) -> TableSource | None:
    defaults = TABLE_ROLES[role]
    if isinstance(raw, str):
        path, columns = raw, dict(defaults)
    elif isinstance(raw, dict):
        path = raw.get("path")
        unknown = set(raw) - {"path", *defaults}
        if unknown:
            problems.add(
                f"unknown keys in '{role}': {', '.join(sorted(unknown))} "
                f"(allowed: path, {', '.join(defaults)})",
                file=label,
            )
        columns = {r: str(raw.get(r, d)) for r, d in defaults.items()}
        if not isinstance(path, str):
            problems.add(f"'{role}.path' must be a file path", file=label)
            return None
    else:
        problems.add(f"'{role}' must be a file path or a table with 'path'", file=label)
        return None
    full = (base / path).resolve()
    if not full.exists():
        problems.add(f"'{role}' file not found: {full}", file=label)
        return None
    return TableSource(full, columns, full.name)


def _types(raw: Any, label: str, problems: ProblemCollector) -> tuple[TypeSpec, ...]:
    if not isinstance(raw, dict) or not raw:
        problems.add("at least one [types.NAME] section is required", file=label)
        return ()
    specs = []
    for name, body in raw.items():
        where = f"types.{name}"
        if not isinstance(body, dict):
            problems.add(f"'[{where}]' must be a table", file=label)
            continue
        unknown = set(body) - TYPE_KEYS
        if unknown:
            problems.add(f"unknown keys in [{where}]: {', '.join(sorted(unknown))}", file=label)
        for required in ("population", "radius_m", "cost"):
            if required not in body:
                problems.add(f"[{where}] needs '{required}'", file=label)
        if any(k not in body for k in ("population", "radius_m", "cost")):
            continue
        radius = _number(body["radius_m"], f"{where}.radius_m", problems, label)
        weight = _number(body.get("weight", 1.0), f"{where}.weight", problems, label)
        max_sites = body.get("max_sites")
        if max_sites is not None:
            max_sites = _number(max_sites, f"{where}.max_sites", problems, label, integer=True)
        share = body.get("max_budget_share")
        if share is not None:
            share = _number(share, f"{where}.max_budget_share", problems, label)
            if share is not None and share > 1:
                problems.add(f"'{where}.max_budget_share' must be <= 1, got {share}", file=label)
        for key in ("population", "cost"):
            if not isinstance(body[key], str):
                problems.add(f"'{where}.{key}' must be a column name", file=label)
        if radius is None or weight is None:
            continue
        if radius == 0:
            problems.add(f"'{where}.radius_m' must be > 0", file=label)
        specs.append(
            TypeSpec(
                name=str(name),
                population=str(body["population"]),
                radius_m=radius,
                cost=str(body["cost"]),
                weight=weight,
                max_sites=None if max_sites is None else int(max_sites),
                max_budget_share=share,
                label=body.get("label"),
            )
        )
    return tuple(specs)


def _solver(raw: Any, label: str, problems: ProblemCollector) -> SolverSpec:
    if raw is None:
        return SolverSpec()
    if not isinstance(raw, dict):
        problems.add("[solver] must be a table", file=label)
        return SolverSpec()
    unknown = set(raw) - SOLVER_KEYS
    if unknown:
        problems.add(f"unknown keys in [solver]: {', '.join(sorted(unknown))}", file=label)
    defaults = SolverSpec()
    time_limit = _number(raw.get("time_limit_s", defaults.time_limit_s), "solver.time_limit_s",
                         problems, label)
    gap = _number(raw.get("gap", defaults.gap), "solver.gap", problems, label)
    threads = raw.get("threads")
    if threads is not None:
        threads = _number(threads, "solver.threads", problems, label, minimum=1, integer=True)
    seed = _number(raw.get("seed", 0), "solver.seed", problems, label, integer=True)
    return SolverSpec(
        name=str(raw.get("name", defaults.name)),
        time_limit_s=defaults.time_limit_s if time_limit is None else time_limit,
        gap=defaults.gap if gap is None else gap,
        threads=None if threads is None else int(threads),
        seed=0 if seed is None else int(seed),
    )


def parse_scenario(data: dict[str, Any], *, base: Path, label: str,
                   name: str = "scenario") -> ScenarioSpec:
    """Validate a scenario dictionary (as read from TOML); raise one ``InputError``."""
    problems = ProblemCollector()
    unknown = set(data) - TOP_LEVEL_KEYS
    if unknown:
        problems.add(
            f"unknown keys: {', '.join(sorted(unknown))} "
            f"(allowed: {', '.join(sorted(TOP_LEVEL_KEYS))})",
            file=label,
        )
    for required in ("budget", "demand", "sites", "types"):
        if required not in data:
            problems.add(f"missing required key '{required}'", file=label)
    budget = _number(data.get("budget", 0), "budget", problems, label)
    tables = {
        role: _table(data[role], role, base, label, problems)
        for role in TABLE_ROLES
        if role in data
    }
    types = _types(data.get("types"), label, problems)
    crs = data.get("crs")
    if crs is not None:
        from pyproj.exceptions import CRSError

        from optimizer.projection import parse_crs

        try:
            parse_crs(str(crs))
        except CRSError:
            problems.add(f"'crs' is not a known CRS: {crs!r}", file=label)
    force_open = data.get("force_open", {})
    if not isinstance(force_open, dict) or not all(
        isinstance(v, str) for v in force_open.values()
    ):
        problems.add("'force_open' must map site ids to a type name or \"any\"", file=label)
        force_open = {}
    type_names = {t.name for t in types}
    for site, type_name in force_open.items():
        if type_name != ANY and types and type_name not in type_names:
            problems.add(f"force_open: site {site} forced to unknown type '{type_name}'",
                         file=label)
    exclude = data.get("exclude", [])
    if not isinstance(exclude, list):
        problems.add("'exclude' must be a list of site ids", file=label)
        exclude = []
    both = set(map(str, exclude)) & set(map(str, force_open))
    for site in sorted(both):
        problems.add(f"site {site} is both in force_open and exclude", file=label)
    solver = _solver(data.get("solver"), label, problems)
    problems.raise_if_any()
    return ScenarioSpec(
        name=str(data.get("name", name)),
        path=None,
        budget=float(budget or 0.0),
        demand=tables["demand"],  # type: ignore[arg-type]
        sites=tables["sites"],  # type: ignore[arg-type]
        types=types,
        crs=None if crs is None else str(crs),
        existing=tables.get("existing"),
        distances=tables.get("distances"),
        force_open={str(k): v for k, v in force_open.items()},
        exclude=tuple(str(s) for s in exclude),
        solver=solver,
        description=str(data.get("description", "")),
    )


def load_scenario(path: str | Path) -> ScenarioSpec:
    """Read and validate a TOML scenario file; raise one ``InputError`` listing all problems."""
    from dataclasses import replace

    path = Path(path)
    problems = ProblemCollector()
    if not path.exists():
        problems.add("scenario file not found", file=str(path))
        problems.raise_if_any()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        problems.add(f"not valid TOML: {error}", file=path.name)
        problems.raise_if_any()
    spec = parse_scenario(data, base=path.resolve().parent, label=path.name, name=path.stem)
    return replace(spec, path=path.resolve())
