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
from itertools import pairwise
from pathlib import Path
from typing import Any

from optimizer.errors import ProblemCollector
from optimizer.io import single_line_problems

TABLE_ROLES: dict[str, dict[str, str]] = {
    "demand": {"id": "id", "x": "x", "y": "y", "lon": "lon", "lat": "lat"},
    "sites": {"id": "id", "x": "x", "y": "y", "lon": "lon", "lat": "lat", "area": "area_m2"},
    "existing": {"id": "id", "x": "x", "y": "y", "lon": "lon", "lat": "lat", "type": "type"},
    "distances": {"demand_id": "demand_id", "site_id": "site_id", "distance_m": "distance_m"},
}
"""Column roles of each table and their default column names."""

TABLE_OPTIONS = {"path", "encoding", "layer", "coordinates"}
"""Keys of an inline table besides its column roles."""

TOP_LEVEL_KEYS = {
    "name", "description", "budget", "crs", "types", "solver", "force_open", "exclude",
    "metric_crs", "walking_speed_m_per_min", "network", "policy", *TABLE_ROLES,
}
TYPE_KEYS = {"population", "radius_m", "radius_min", "speed_m_per_min", "cost", "weight",
             "max_sites", "max_budget_share", "min_area_m2", "label", "capacity",
             "capacity_factor", "bands"}
POLICY_KEYS = {"objective", "group_by", "floors", "floor_mode", "floor_penalty", "targets",
               "complete_circle", "area_budgets", "maxmin", "phasing"}
NETWORK_KEYS = {"path", "max_snap_m", "exclude_highways", "layer", "encoding", "cache"}
MAX_RADIUS_M = 50_000.0
"""Longer service radii (and decay bands) are refused: surely a unit mistake (mm, cm)."""
DEFAULT_WALKING_SPEED = 60.0
"""Metres per minute: 15 minutes = 900 m, as commonly used with GB 50180-2018."""
SOLVER_KEYS = {"name", "time_limit_s", "gap", "threads", "seed"}
ANY = "any"


@dataclass(frozen=True)
class TableSource:
    """A table file and the column name used for each role."""

    path: Path
    columns: dict[str, str]
    label: str
    encoding: str | None = None
    layer: str | None = None
    coordinates: str = "wgs84"

    def column(self, role: str) -> str:
        return self.columns[role]


@dataclass(frozen=True)
class NetworkSpec:
    """The ``network`` key: a street network for walking distances."""

    path: Path
    label: str
    max_snap_m: float = 300.0
    exclude_highways: tuple[str, ...] | None = None
    layer: str | None = None
    encoding: str | None = None
    cache: bool = True


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
    min_area_m2: float | None = None
    radius_min: float | None = None
    capacity: str | None = None
    capacity_factor: float = 1.0
    bands: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class PolicySpec:
    """The ``[policy]`` section (see :mod:`optimizer.policy`)."""

    objective: str = "coverage"
    group_by: str | None = None
    floors: dict[str, float] = field(default_factory=dict)
    floor_mode: str = "hard"
    floor_penalty: float = 1.0
    targets: dict[str, float] = field(default_factory=dict)
    circle_types: tuple[str, ...] = ()
    circle_weight: float = 0.0
    circle_population: str | None = None
    area_column: str | None = None
    area_budgets: dict[str, float] = field(default_factory=dict)
    maxmin: tuple[str, ...] = ()
    years: tuple[str, ...] = ()
    year_budgets: tuple[float, ...] = ()
    phasing_objective: str = "accumulated"


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
    metric_crs: str = "auto"
    network: NetworkSpec | None = None
    policy: PolicySpec = field(default_factory=PolicySpec)


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
    from optimizer.projection import WEB_MAP_SYSTEMS

    defaults = TABLE_ROLES[role]
    options: dict[str, Any] = {}
    if isinstance(raw, str):
        path, columns = raw, dict(defaults)
    elif isinstance(raw, dict):
        path = raw.get("path")
        unknown = set(raw) - TABLE_OPTIONS - set(defaults)
        if unknown:
            problems.add(
                f"unknown keys in '{role}': {', '.join(sorted(unknown))} "
                f"(allowed: {', '.join(sorted(TABLE_OPTIONS))}, {', '.join(defaults)})",
                file=label,
            )
        columns = {r: str(raw.get(r, d)) for r, d in defaults.items()}
        options = {k: raw[k] for k in ("encoding", "layer", "coordinates") if k in raw}
        if not isinstance(path, str):
            problems.add(f"'{role}.path' must be a file path", file=label)
            return None
        system = str(options.get("coordinates", "wgs84")).lower().replace("-", "")
        if system not in WEB_MAP_SYSTEMS:
            problems.add(
                f"'{role}.coordinates' must be one of {', '.join(WEB_MAP_SYSTEMS)}, got "
                f"{options['coordinates']!r}",
                file=label,
            )
        options["coordinates"] = system
    else:
        problems.add(f"'{role}' must be a file path or a table with 'path'", file=label)
        return None
    full = (base / path).resolve()
    if not full.exists():
        problems.add(f"'{role}' file not found: {full}", file=label)
        return None
    return TableSource(
        full, columns, full.name,
        encoding=options.get("encoding"), layer=options.get("layer"),
        coordinates=options.get("coordinates", "wgs84"),
    )


def _network(raw: Any, base: Path, label: str, problems: ProblemCollector) -> NetworkSpec | None:
    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
        problems.add("'network' must be a file path or a table with 'path'", file=label)
        return None
    unknown = set(raw) - NETWORK_KEYS
    if unknown:
        problems.add(f"unknown keys in 'network': {', '.join(sorted(unknown))} "
                     f"(allowed: {', '.join(sorted(NETWORK_KEYS))})", file=label)
    full = (base / raw["path"]).resolve()
    if not full.exists():
        problems.add(f"'network' file not found: {full}", file=label)
        return None
    snap = _number(raw.get("max_snap_m", 300.0), "network.max_snap_m", problems, label)
    excluded = raw.get("exclude_highways")
    if excluded is not None and not (
        isinstance(excluded, list) and all(isinstance(e, str) for e in excluded)
    ):
        problems.add("'network.exclude_highways' must be a list of highway values", file=label)
        excluded = None
    return NetworkSpec(
        path=full, label=full.name, max_snap_m=300.0 if snap is None else snap,
        exclude_highways=None if excluded is None else tuple(excluded),
        layer=raw.get("layer"), encoding=raw.get("encoding"), cache=bool(raw.get("cache", True)),
    )


def _types(raw: Any, label: str, problems: ProblemCollector,
           walking_speed: float = DEFAULT_WALKING_SPEED) -> tuple[TypeSpec, ...]:
    """The ``[types.NAME]`` sections, each checked (see :func:`_type`).

    Returns
    -------
    tuple of TypeSpec
        The usable sections, in file order (empty when there are none).
    """
    if not isinstance(raw, dict) or not raw:
        problems.add("at least one [types.NAME] section is required", file=label)
        return ()
    specs = []
    for name, body in raw.items():
        kind = _type(name, body, label, problems, walking_speed)
        if kind is not None:
            specs.append(kind)
    return tuple(specs)


def _type(name: Any, body: Any, label: str, problems: ProblemCollector,
          walking_speed: float) -> TypeSpec | None:
    """One ``[types.NAME]`` section.

    Returns
    -------
    TypeSpec or None
        None when the section is unusable (no table, required keys missing, no valid
        radius or weight); the problems are collected.
    """
    where = f"types.{name}"
    if not _type_shape(body, where, label, problems):
        return None
    radius, radius_min = _type_radius(body, where, label, problems, walking_speed)
    min_area = body.get("min_area_m2")
    if min_area is not None:
        min_area = _number(min_area, f"{where}.min_area_m2", problems, label)
    capacity, factor = _type_capacity(body, where, label, problems)
    bands = _bands(body.get("bands", []), where, radius, problems, label)
    if bands and capacity is not None:
        problems.add(f"[{where}] cannot combine 'bands' with 'capacity' yet", file=label)
    weight = _number(body.get("weight", 1.0), f"{where}.weight", problems, label)
    max_sites, share = _type_limits(body, where, label, problems)
    for key in ("population", "cost"):
        if not isinstance(body[key], str):
            problems.add(f"'{where}.{key}' must be a column name", file=label)
    if radius is None or weight is None:
        return None
    _check_radius(radius, radius_min, bands, where, label, problems)
    return TypeSpec(
        name=str(name),
        population=str(body["population"]),
        radius_m=radius,
        cost=str(body["cost"]),
        weight=weight,
        max_sites=None if max_sites is None else int(max_sites),
        max_budget_share=share,
        label=body.get("label"),
        min_area_m2=min_area,
        radius_min=radius_min,
        capacity=capacity,
        capacity_factor=factor,
        bands=bands,
    )


def _type_shape(body: Any, where: str, label: str, problems: ProblemCollector) -> bool:
    """Check a type section's keys: a table, no unknown keys, its required keys, exactly
    one radius. Returns False when the section cannot be read further."""
    if not isinstance(body, dict):
        problems.add(f"'[{where}]' must be a table", file=label)
        return False
    unknown = set(body) - TYPE_KEYS
    if unknown:
        problems.add(f"unknown keys in [{where}]: {', '.join(sorted(unknown))}", file=label)
    for required in ("population", "cost"):
        if required not in body:
            problems.add(f"[{where}] needs '{required}'", file=label)
    if ("radius_m" in body) == ("radius_min" in body):
        problems.add(f"[{where}] needs exactly one of 'radius_m' or 'radius_min' "
                     f"(walking minutes)", file=label)
        return False
    return all(k in body for k in ("population", "cost"))


def _type_radius(body: dict[str, Any], where: str, label: str, problems: ProblemCollector,
                 walking_speed: float) -> tuple[float | None, float | None]:
    """The service radius in metres, from ``radius_m`` or walking minutes.

    Returns
    -------
    radius, radius_min
        The radius (None if invalid) and the walking minutes (None unless given).
    """
    radius_min = None
    if "radius_min" in body:
        radius_min = _number(body["radius_min"], f"{where}.radius_min", problems, label)
        speed = _number(body.get("speed_m_per_min", walking_speed),
                        f"{where}.speed_m_per_min", problems, label)
        radius = None if radius_min is None or speed is None else radius_min * speed
    else:
        radius = _number(body["radius_m"], f"{where}.radius_m", problems, label)
    return radius, radius_min


def _type_capacity(body: dict[str, Any], where: str, label: str,
                   problems: ProblemCollector) -> tuple[str | None, float]:
    """The type's capacity column (None if absent or invalid) and capacity factor."""
    capacity = body.get("capacity")
    if capacity is not None and not isinstance(capacity, str):
        problems.add(f"'{where}.capacity' must be a sites column name", file=label)
        capacity = None
    factor = _number(body.get("capacity_factor", 1.0), f"{where}.capacity_factor",
                     problems, label) or 1.0
    return capacity, factor


def _type_limits(body: dict[str, Any], where: str, label: str,
                 problems: ProblemCollector) -> tuple[float | None, float | None]:
    """The type's ``max_sites`` and ``max_budget_share`` (None when absent or invalid)."""
    max_sites = body.get("max_sites")
    if max_sites is not None:
        max_sites = _number(max_sites, f"{where}.max_sites", problems, label, integer=True)
    share = body.get("max_budget_share")
    if share is not None:
        share = _number(share, f"{where}.max_budget_share", problems, label)
        if share is not None and share > 1:
            problems.add(f"'{where}.max_budget_share' must be <= 1, got {share}", file=label)
    return max_sites, share


def _check_radius(radius: float, radius_min: float | None,
                  bands: tuple[tuple[float, float], ...], where: str, label: str,
                  problems: ProblemCollector) -> None:
    """Refuse a zero radius, and radii (plain or decay bands) beyond ``MAX_RADIUS_M``."""
    if radius == 0:
        problems.add(f"'{where}.radius_m' must be > 0", file=label)
    elif radius > MAX_RADIUS_M:
        key = "radius_min" if radius_min is not None else "radius_m"
        problems.add(f"'{where}.{key}' gives a radius of {radius:,.0f} m, over the "
                     f"{MAX_RADIUS_M / 1000:g} km limit: is it in metres?", file=label)
    if any(r > MAX_RADIUS_M for r, _ in bands):
        problems.add(f"'{where}.bands' radii must be at most {MAX_RADIUS_M:,.0f} m",
                     file=label)


def _bands(raw: Any, where: str, radius: float | None, problems: ProblemCollector,
           label: str) -> tuple[tuple[float, float], ...]:
    """``bands = [[500, 0.5], [800, 0.25]]``: radii increasing, credits decreasing in (0,1)."""
    if raw in ([], None):
        return ()
    shaped = isinstance(raw, list) and all(
        isinstance(b, list) and len(b) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in b)
        for b in raw
    )
    if not shaped:
        problems.add(f"'{where}.bands' must be a list of [radius_m, credit] pairs", file=label)
        return ()
    bands = tuple((float(r), float(c)) for r, c in raw)
    radii = [radius or 0.0] + [r for r, _ in bands]
    credits = [1.0] + [c for _, c in bands]
    if any(b <= a for a, b in pairwise(radii)):
        problems.add(f"'{where}.bands' radii must increase beyond the radius", file=label)
    if any(not 0 < c < 1 for c in credits[1:]) or any(
            b >= a for a, b in pairwise(credits)):
        problems.add(f"'{where}.bands' credits must decrease, between 0 and 1", file=label)
    return bands


def _section(raw: Any, name: str, keys: set[str], label: str,
             problems: ProblemCollector) -> dict[str, Any] | None:
    """A ``[name]`` table with its unknown keys reported, or None if absent or not a table."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.add(f"[{name}] must be a table", file=label)
        return None
    unknown = set(raw) - keys
    if unknown:
        problems.add(f"unknown keys in [{name}]: {', '.join(sorted(unknown))} "
                     f"(allowed: {', '.join(sorted(keys))})", file=label)
    return raw


def _policy(raw: Any, type_names: set[str], label: str,
            problems: ProblemCollector) -> PolicySpec:
    """The ``[policy]`` section (see :class:`PolicySpec`); defaults when absent.

    Returns
    -------
    PolicySpec
        With invalid entries left at their defaults (the problems are collected).
    """
    raw = _section(raw, "policy", POLICY_KEYS, label, problems)
    if raw is None:
        return PolicySpec()
    objective = str(raw.get("objective", "coverage"))
    if objective not in ("coverage", "min_cost"):
        problems.add(f"'policy.objective' must be coverage or min_cost, got {objective!r}",
                     file=label)
    shares = {key: _shares(raw.get(key, {}), key, type_names, label, problems)
              for key in ("floors", "targets")}
    group_by = raw.get("group_by")
    if shares["floors"] and not isinstance(group_by, str):
        problems.add("policy.floors needs 'group_by' (a demand column such as "
                     "community_id)", file=label)
    maxmin = _maxmin(raw.get("maxmin", []), type_names, group_by, objective, label, problems)
    mode = str(raw.get("floor_mode", "hard"))
    if mode not in ("hard", "soft"):
        problems.add(f"'policy.floor_mode' must be hard or soft, got {mode!r}", file=label)
    penalty = _number(raw.get("floor_penalty", 1.0), "policy.floor_penalty", problems, label)
    circle_types, circle_weight, circle_population = _complete_circle(
        raw.get("complete_circle", {}), type_names, label, problems)
    years, year_budgets, phasing_objective = _phasing(raw.get("phasing", {}), label, problems)
    area_column, area_budgets = _area_budgets(raw.get("area_budgets", {}), label, problems)
    return PolicySpec(
        objective=objective, group_by=group_by if isinstance(group_by, str) else None,
        floors=shares["floors"], floor_mode=mode,
        floor_penalty=1.0 if penalty is None else penalty, targets=shares["targets"],
        circle_types=circle_types, circle_weight=circle_weight,
        circle_population=circle_population,
        area_column=area_column, area_budgets=area_budgets,
        maxmin=tuple(t for t in maxmin if t in type_names),
        years=years, year_budgets=year_budgets, phasing_objective=phasing_objective,
    )


def _shares(table: Any, key: str, type_names: set[str], label: str,
            problems: ProblemCollector) -> dict[str, float]:
    """``policy.floors`` or ``policy.targets``: type name -> share in [0, 1].

    Returns
    -------
    dict
        The valid entries only (unknown types and bad shares are reported).
    """
    shares: dict[str, float] = {}
    if not isinstance(table, dict):
        problems.add(f"'policy.{key}' must map type names to shares", file=label)
        return shares
    for type_name, share in table.items():
        if type_name not in type_names:
            problems.add(f"policy.{key}: unknown type '{type_name}'", file=label)
            continue
        value = _number(share, f"policy.{key}.{type_name}", problems, label)
        if value is not None and value > 1:
            problems.add(f"'policy.{key}.{type_name}' is a share: at most 1, got {value}",
                         file=label)
        elif value is not None:
            shares[type_name] = value
    return shares


def _maxmin(maxmin: Any, type_names: set[str], group_by: Any, objective: str, label: str,
            problems: ProblemCollector) -> list[str]:
    """``policy.maxmin``: the type names whose worst group share is maximised.

    Returns
    -------
    list of str
        As given (unknown names included, reported), or empty when not a list of names.
    """
    if not isinstance(maxmin, list) or not all(isinstance(t, str) for t in maxmin):
        problems.add("'policy.maxmin' must be a list of type names", file=label)
        maxmin = []
    for type_name in maxmin:
        if type_name not in type_names:
            problems.add(f"policy.maxmin: unknown type '{type_name}'", file=label)
    if maxmin and not isinstance(group_by, str):
        problems.add("policy.maxmin needs 'group_by' (a demand column such as community_id)",
                     file=label)
    if maxmin and objective != "coverage":
        problems.add("policy.maxmin works with objective = \"coverage\" only", file=label)
    return maxmin


def _complete_circle(circle: Any, type_names: set[str], label: str,
                     problems: ProblemCollector) -> tuple[tuple[str, ...], float, str | None]:
    """``policy.complete_circle``: its types, weight and population column.

    Returns
    -------
    types, weight, population
        ``((), 0.0, None)`` when absent or invalid; the population is None unless a
        column name.
    """
    circle_types: tuple[str, ...] = ()
    circle_weight, circle_population = 0.0, None
    if not circle:
        return circle_types, circle_weight, circle_population
    if not isinstance(circle, dict) or not isinstance(circle.get("types"), list):
        problems.add("'policy.complete_circle' needs types = [...], weight and "
                     "population", file=label)
        return circle_types, circle_weight, circle_population
    circle_types = tuple(str(t) for t in circle["types"])
    for type_name in circle_types:
        if type_name not in type_names:
            problems.add(f"policy.complete_circle: unknown type '{type_name}'",
                         file=label)
    circle_weight = _number(circle.get("weight", 1.0), "policy.complete_circle.weight",
                            problems, label) or 0.0
    circle_population = circle.get("population")
    if not isinstance(circle_population, str):
        problems.add("'policy.complete_circle.population' must be a demand column",
                     file=label)
        circle_population = None
    return circle_types, circle_weight, circle_population


def _phasing(phasing: Any, label: str, problems: ProblemCollector
             ) -> tuple[tuple[str, ...], tuple[float, ...], str]:
    """``policy.phasing``: years, the budget of each year, and the phasing objective.

    Returns
    -------
    years, budgets, objective
        ``((), (), "accumulated")`` when absent or malformed; an invalid budget counts 0.
    """
    years: tuple[str, ...] = ()
    year_budgets: list[float] = []
    phasing_objective = "accumulated"
    if not phasing:
        return years, tuple(year_budgets), phasing_objective
    if not isinstance(phasing, dict) or not isinstance(phasing.get("years"), list) or \
            not isinstance(phasing.get("budgets"), list) or \
            len(phasing["years"]) != len(phasing["budgets"]) or not phasing["years"]:
        problems.add("'policy.phasing' needs years = [...] and budgets = [...] of the same "
                     "length", file=label)
        return years, tuple(year_budgets), phasing_objective
    unknown_phasing = set(phasing) - {"years", "budgets", "objective"}
    if unknown_phasing:
        problems.add(f"unknown keys in policy.phasing: "
                     f"{', '.join(sorted(unknown_phasing))}", file=label)
    years = tuple(str(y) for y in phasing["years"])
    for year, amount in zip(years, phasing["budgets"], strict=True):
        value = _number(amount, f"policy.phasing.budgets[{year}]", problems, label)
        year_budgets.append(0.0 if value is None else value)
    phasing_objective = str(phasing.get("objective", "accumulated"))
    if phasing_objective not in ("accumulated", "final"):
        problems.add(f"'policy.phasing.objective' must be accumulated or final, got "
                     f"{phasing_objective!r}", file=label)
    if len(set(years)) != len(years):
        problems.add("policy.phasing: years must be distinct", file=label)
    return years, tuple(year_budgets), phasing_objective


def _area_budgets(areas: Any, label: str, problems: ProblemCollector
                  ) -> tuple[str | None, dict[str, float]]:
    """``policy.area_budgets``: the sites column naming each site's area, and the budget
    of each area (invalid amounts left out).

    Returns
    -------
    column, budgets
        ``(None, {})`` when absent or malformed.
    """
    area_column, area_budgets = None, {}
    if not areas:
        return area_column, area_budgets
    if not isinstance(areas, dict) or not isinstance(areas.get("column"), str) or not (
            isinstance(areas.get("budgets"), dict)):
        problems.add("'policy.area_budgets' needs column = \"...\" and budgets = {...}",
                     file=label)
        return area_column, area_budgets
    area_column = areas["column"]
    for area, amount in areas["budgets"].items():
        value = _number(amount, f"policy.area_budgets.budgets.{area}", problems, label)
        if value is not None:
            area_budgets[str(area)] = value
    return area_column, area_budgets


def _solver(raw: Any, label: str, problems: ProblemCollector) -> SolverSpec:
    raw = _section(raw, "solver", SOLVER_KEYS, label, problems)
    if raw is None:
        return SolverSpec()
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


def _budget_optional(data: dict[str, Any]) -> bool:
    """True for a least-cost or multi-year phasing scenario, where 'budget' may be left out."""
    raw_policy = data.get("policy") if isinstance(data.get("policy"), dict) else {}
    least_cost = raw_policy.get("objective") == "min_cost"
    phased = isinstance(raw_policy.get("phasing"), dict)
    return least_cost or phased


def _check_top_level_keys(data: dict[str, Any], label: str,
                          problems: ProblemCollector) -> None:
    """Report unknown top-level keys, then missing required ones."""
    unknown = set(data) - TOP_LEVEL_KEYS
    if unknown:
        problems.add(
            f"unknown keys: {', '.join(sorted(unknown))} "
            f"(allowed: {', '.join(sorted(TOP_LEVEL_KEYS))})",
            file=label,
        )
    optional_budget = _budget_optional(data)
    for required in ("budget", "demand", "sites", "types"):
        if required not in data and not (required == "budget" and optional_budget):
            problems.add(f"missing required key '{required}'", file=label)


def _metric_crs_key(data: dict[str, Any], label: str, problems: ProblemCollector) -> str:
    """The ``metric_crs`` key: auto, utm or cgcs2000 (lower case), else a projected CRS.

    Returns
    -------
    str
        The value as the spec keeps it (the three keywords lower-cased).
    """
    metric_crs = str(data.get("metric_crs", "auto"))
    if metric_crs.lower() in ("auto", "utm", "cgcs2000"):
        return metric_crs.lower()
    from pyproj.exceptions import CRSError

    from optimizer.projection import is_geographic, parse_crs

    try:
        parse_crs(metric_crs)
        if is_geographic(metric_crs):
            problems.add(f"'metric_crs' must be a projected CRS in metres, got {metric_crs}",
                         file=label)
    except CRSError:
        problems.add(f"'metric_crs' must be auto, utm, cgcs2000 or a CRS, got "
                     f"{metric_crs!r}", file=label)
    return metric_crs


def _crs_key(data: dict[str, Any], label: str, problems: ProblemCollector) -> str | None:
    """The ``crs`` key as text (None if absent), reported when not a known CRS."""
    crs = data.get("crs")
    if crs is None:
        return None
    from pyproj.exceptions import CRSError

    from optimizer.projection import parse_crs

    try:
        parse_crs(str(crs))
    except CRSError:
        problems.add(f"'crs' is not a known CRS: {crs!r}", file=label)
    return str(crs)


def _site_lists(data: dict[str, Any], types: tuple[TypeSpec, ...], label: str,
                problems: ProblemCollector) -> tuple[dict[str, str], tuple[str, ...]]:
    """The ``force_open`` and ``exclude`` keys, checked against the types and each other.

    Returns
    -------
    force_open, exclude
        Site id -> type name (or "any"), and the excluded site ids; empty when malformed.
    """
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
    return {str(k): v for k, v in force_open.items()}, tuple(str(s) for s in exclude)


@single_line_problems
def parse_scenario(data: dict[str, Any], *, base: Path, label: str,
                   name: str = "scenario") -> ScenarioSpec:
    """Validate a scenario dictionary (as read from TOML); raise one ``InputError``."""
    problems = ProblemCollector()
    _check_top_level_keys(data, label, problems)
    budget = (math.inf if _budget_optional(data) and "budget" not in data
              else _number(data.get("budget", 0), "budget", problems, label))
    tables = {
        role: _table(data[role], role, base, label, problems)
        for role in TABLE_ROLES
        if role in data
    }
    speed = _number(data.get("walking_speed_m_per_min", DEFAULT_WALKING_SPEED),
                    "walking_speed_m_per_min", problems, label)
    if speed == 0:
        problems.add("'walking_speed_m_per_min' must be > 0", file=label)
    types = _types(data.get("types"), label, problems, speed or DEFAULT_WALKING_SPEED)
    network = _network(data["network"], base, label, problems) if "network" in data else None
    if network is not None and "distances" in data:
        problems.add("give either 'network' or 'distances', not both", file=label)
    metric_crs = _metric_crs_key(data, label, problems)
    crs = _crs_key(data, label, problems)
    force_open, exclude = _site_lists(data, types, label, problems)
    solver = _solver(data.get("solver"), label, problems)
    policy = _policy(data.get("policy"), {t.name for t in types}, label, problems)
    problems.raise_if_any()
    return ScenarioSpec(
        name=str(data.get("name", name)),
        path=None,
        budget=float(budget or 0.0),
        demand=tables["demand"],  # type: ignore[arg-type]
        sites=tables["sites"],  # type: ignore[arg-type]
        types=types,
        crs=crs,
        existing=tables.get("existing"),
        distances=tables.get("distances"),
        force_open=force_open,
        exclude=exclude,
        solver=solver,
        description=str(data.get("description", "")),
        metric_crs=metric_crs,
        network=network,
        policy=policy,
    )


@single_line_problems
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


def _table_data(table: TableSource, role: str, relative_to: Path | None) -> str | dict[str, Any]:
    path = table.path
    if relative_to is not None:
        try:
            path = Path(path).resolve().relative_to(relative_to.resolve())
        except ValueError:
            path = Path(path).resolve()
    defaults = TABLE_ROLES[role]
    columns = {k: v for k, v in table.columns.items() if defaults.get(k) != v}
    options: dict[str, Any] = {k: v for k, v in (("encoding", table.encoding),
                                                 ("layer", table.layer)) if v is not None}
    if table.coordinates != "wgs84":
        options["coordinates"] = table.coordinates
    if not columns and not options:
        return path.as_posix()
    return {"path": path.as_posix(), **columns, **options}


def _relative(path: Path, relative_to: Path | None) -> str:
    if relative_to is not None:
        try:
            return Path(path).resolve().relative_to(relative_to.resolve()).as_posix()
        except ValueError:
            pass
    return Path(path).resolve().as_posix()


def _type_data(kind: TypeSpec) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if kind.label is not None:
        body["label"] = kind.label
    body["population"] = kind.population
    if kind.radius_min is not None:
        body["radius_min"] = kind.radius_min
        body["speed_m_per_min"] = kind.radius_m / kind.radius_min if kind.radius_min else \
            DEFAULT_WALKING_SPEED
    else:
        body["radius_m"] = kind.radius_m
    body["cost"] = kind.cost
    body["weight"] = kind.weight
    optional = {
        "max_sites": kind.max_sites, "max_budget_share": kind.max_budget_share,
        "min_area_m2": kind.min_area_m2, "capacity": kind.capacity,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if kind.capacity_factor != 1.0:
        body["capacity_factor"] = kind.capacity_factor
    if kind.bands:
        body["bands"] = [list(band) for band in kind.bands]
    return body


def _policy_data(policy: PolicySpec) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if policy.objective != "coverage":
        data["objective"] = policy.objective
    if policy.group_by is not None:
        data["group_by"] = policy.group_by
    if policy.floors:
        data["floors"] = dict(policy.floors)
        data["floor_mode"] = policy.floor_mode
        data["floor_penalty"] = policy.floor_penalty
    if policy.targets:
        data["targets"] = dict(policy.targets)
    if policy.maxmin:
        data["maxmin"] = list(policy.maxmin)
    if policy.circle_types:
        data["complete_circle"] = {"types": list(policy.circle_types),
                                   "weight": policy.circle_weight,
                                   "population": policy.circle_population}
    if policy.area_column is not None:
        data["area_budgets"] = {"column": policy.area_column,
                                "budgets": dict(policy.area_budgets)}
    if policy.years:
        data["phasing"] = {"years": list(policy.years), "budgets": list(policy.year_budgets),
                           "objective": policy.phasing_objective}
    return data


def spec_to_data(spec: ScenarioSpec, *, relative_to: Path | None = None) -> dict[str, Any]:
    """The scenario as a TOML-ready dictionary: ``parse_scenario`` of it gives ``spec`` back.

    Parameters
    ----------
    spec
        A validated scenario.
    relative_to
        Write file paths relative to this folder where they lie inside it (as a scenario
        file next to its data does); absolute paths otherwise.

    Used to save a scenario edited in the app as the same TOML file the CLI reads, and to
    record the exact scenario beside its results (``scenario.toml`` in a run folder).
    """
    data: dict[str, Any] = {"name": spec.name}
    if spec.description:
        data["description"] = spec.description
    if math.isfinite(spec.budget):
        data["budget"] = spec.budget
    for role in TABLE_ROLES:
        table = getattr(spec, role)
        if table is not None:
            data[role] = _table_data(table, role, relative_to)
    if spec.crs is not None:
        data["crs"] = spec.crs
    if spec.metric_crs != "auto":
        data["metric_crs"] = spec.metric_crs
    if spec.network is not None:
        net = spec.network
        network: dict[str, Any] = {"path": _relative(net.path, relative_to),
                                   "max_snap_m": net.max_snap_m}
        if net.exclude_highways is not None:
            network["exclude_highways"] = list(net.exclude_highways)
        network.update({k: v for k, v in (("layer", net.layer), ("encoding", net.encoding))
                        if v is not None})
        if not net.cache:
            network["cache"] = False
        data["network"] = network
    if spec.force_open:
        data["force_open"] = dict(spec.force_open)
    if spec.exclude:
        data["exclude"] = list(spec.exclude)
    data["types"] = {kind.name: _type_data(kind) for kind in spec.types}
    policy = _policy_data(spec.policy)
    if policy:
        data["policy"] = policy
    solver: dict[str, Any] = {"name": spec.solver.name, "time_limit_s": spec.solver.time_limit_s,
                              "gap": spec.solver.gap, "seed": spec.solver.seed}
    if spec.solver.threads is not None:
        solver["threads"] = spec.solver.threads
    data["solver"] = solver
    return data


def scenario_toml(spec: ScenarioSpec, *, relative_to: Path | None = None) -> str:
    """The scenario as TOML text (see :func:`spec_to_data`)."""
    import tomli_w

    return tomli_w.dumps(spec_to_data(spec, relative_to=relative_to))
