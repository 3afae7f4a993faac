"""Turn a :class:`~scenarios.spec.ScenarioSpec` into a validated
:class:`~optimizer.instance.SitingInstance`: read the tables, check every value, project
coordinates to one metric CRS, map ids to indices. All problems are collected and raised
together as one ``InputError``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.errors import ProblemCollector
from optimizer.instance import ANY_TYPE, DistancePairs, FacilityType, SitingInstance
from optimizer.io import (
    GEOMETRY_X,
    GEOMETRY_Y,
    Table,
    id_column,
    numeric_column,
    read_table,
    require_columns,
    single_line_problems,
)
from optimizer.policy import Policy
from optimizer.projection import (
    WGS84,
    cgcs2000_gk_crs_for,
    is_geographic,
    looks_like_degrees,
    project,
    to_wgs84,
    utm_crs_for,
)
from scenarios.spec import ANY, ScenarioSpec, TableSource


@dataclass
class _Points:
    ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    crs: str | None
    frame: pd.DataFrame
    coordinate_columns: tuple[str, ...]


def _points(
    source: TableSource, declared_crs: str | None, problems: ProblemCollector,
    notes: list[str],
) -> _Points | None:
    """Read a table of points (demand, sites or existing facilities) and its coordinates.

    Parameters
    ----------
    source
        The table and its column names.
    declared_crs
        The scenario's ``crs`` key, if any.
    problems, notes
        Collect problems and loader notes.

    Returns
    -------
    _Points or None
        None when the table or its coordinates cannot be used (problems added).
    """
    table = read_table(source.path, label=source.label, problems=problems,
                       encoding=source.encoding, layer=source.layer)
    if table is None:
        return None
    frame = table.frame
    if not require_columns(frame, [source.column("id")], label=source.label, problems=problems):
        return None
    ids = id_column(frame, source.column("id"), label=source.label, problems=problems)
    if table.has_geometry:
        return _geometry_points(source, table, ids, declared_crs, problems, notes)
    lon, lat = source.column("lon"), source.column("lat")
    x, y = source.column("x"), source.column("y")
    uses_lonlat = lon in frame.columns and lat in frame.columns
    uses_xy = x in frame.columns and y in frame.columns
    if not (uses_lonlat or uses_xy):
        problems.add(
            f"needs coordinate columns '{x}' and '{y}' (metric, with 'crs') or '{lon}' and "
            f"'{lat}' (WGS84)",
            file=source.label,
        )
        return None
    if uses_lonlat:
        return _lonlat_points(source, frame, ids, problems, notes)
    return _xy_points(source, frame, ids, declared_crs, problems)


def _geometry_points(
    source: TableSource, table: Table, ids: np.ndarray, declared_crs: str | None,
    problems: ProblemCollector, notes: list[str],
) -> _Points | None:
    """Points of a geodata file: its geometry, in the file's CRS (else the declared one).

    Returns
    -------
    _Points or None
        None when no CRS is known or degrees are declared for non-degree values.
    """
    frame = table.frame
    xs = numeric_column(frame, GEOMETRY_X, label=source.label, problems=problems,
                        allow_negative=True, allow_blank=True)
    ys = numeric_column(frame, GEOMETRY_Y, label=source.label, problems=problems,
                        allow_negative=True, allow_blank=True)
    crs = table.crs or declared_crs
    if crs is None:
        problems.add("the file declares no CRS; set 'crs' in the scenario",
                     file=source.label)
        return None
    if is_geographic(crs) and not looks_like_degrees(xs, ys) and (
            np.isfinite(xs) & np.isfinite(ys)).any():
        problems.add(f"the file's CRS {crs} is in degrees but its coordinates are not "
                     f"longitude/latitude", file=source.label)
        return None
    if is_geographic(crs) and source.coordinates != "wgs84":
        xs, ys = to_wgs84(xs, ys, source.coordinates)
        notes.append(f"{source.label}: {source.coordinates} converted to WGS84")
    return _Points(ids, xs, ys, crs, frame, (GEOMETRY_X, GEOMETRY_Y))


def _lonlat_points(
    source: TableSource, frame: pd.DataFrame, ids: np.ndarray, problems: ProblemCollector,
    notes: list[str],
) -> _Points:
    """Points from longitude/latitude columns (WGS84 after any web-map conversion).

    Out-of-range values are reported, as swapped columns when every row is valid the
    other way round.
    """
    lon, lat = source.column("lon"), source.column("lat")
    xs = numeric_column(frame, lon, label=source.label, problems=problems,
                        allow_negative=True)
    ys = numeric_column(frame, lat, label=source.label, problems=problems,
                        allow_negative=True)
    bad = (np.abs(xs) > 180) | (np.abs(ys) > 90)
    if bad.any() and looks_like_degrees(ys, xs):  # every row valid the other way round
        first = int(np.nonzero(bad)[0][0])
        problems.add(f"'{lon}' and '{lat}' look swapped: {int(bad.sum())} rows have a "
                     f"latitude beyond 90 degrees, e.g. ({xs[first]:g}, {ys[first]:g})",
                     file=source.label, row=first + 1, column=lat)
    else:
        problems.add_rows(np.nonzero(bad)[0], lambda row: (
            f"({xs[row]}, {ys[row]}) is not a longitude/latitude"), file=source.label,
            column=lon, more="rows that are not a longitude/latitude")
    if source.coordinates != "wgs84":
        xs, ys = to_wgs84(xs, ys, source.coordinates)
        notes.append(f"{source.label}: {source.coordinates} lon/lat converted to WGS84")
    return _Points(ids, xs, ys, WGS84, frame, (lon, lat))


def _xy_points(
    source: TableSource, frame: pd.DataFrame, ids: np.ndarray, declared_crs: str | None,
    problems: ProblemCollector,
) -> _Points | None:
    """Points from x/y columns in the declared CRS (WGS84 if undeclared and in degrees).

    Returns
    -------
    _Points or None
        None when the values do not match the declared CRS's units, or no CRS is
        declared for metric values.
    """
    x, y = source.column("x"), source.column("y")
    xs = numeric_column(frame, x, label=source.label, problems=problems, allow_negative=True)
    ys = numeric_column(frame, y, label=source.label, problems=problems, allow_negative=True)
    if declared_crs is None:
        if looks_like_degrees(xs, ys):
            return _Points(ids, xs, ys, WGS84, frame, (x, y))
        problems.add(
            "x/y coordinates need a 'crs' in the scenario (for example crs = \"EPSG:32648\")",
            file=source.label,
        )
        return None
    if not is_geographic(declared_crs) and looks_like_degrees(xs, ys):
        problems.add(
            f"x/y values look like longitude/latitude degrees, but crs {declared_crs} is "
            f"metric: use lon/lat columns or crs = \"EPSG:4326\"",
            file=source.label,
            column=x,
        )
        return None
    if is_geographic(declared_crs) and not looks_like_degrees(xs, ys):
        problems.add(
            f"crs {declared_crs} is in degrees but the x/y values are not valid "
            f"longitude/latitude (metres?): declare the projected CRS",
            file=source.label,
            column=x,
        )
        return None
    if is_geographic(declared_crs) and source.coordinates != "wgs84":
        xs, ys = to_wgs84(xs, ys, source.coordinates)
    return _Points(ids, xs, ys, declared_crs, frame, (x, y))


def _lonlat(points: list[_Points]) -> tuple[np.ndarray, np.ndarray]:
    lons, lats = [], []
    for p in points:
        finite = np.isfinite(p.x) & np.isfinite(p.y)
        if p.crs is None or not finite.any():
            continue
        if is_geographic(p.crs):
            lons.append(p.x[finite])
            lats.append(p.y[finite])
        else:
            xy = project(p.x[finite], p.y[finite], p.crs, WGS84)
            lons.append(xy[:, 0])
            lats.append(xy[:, 1])
    return np.concatenate(lons), np.concatenate(lats)


def _metric_crs(points: list[_Points], declared: str | None, choice: str) -> str:
    """The metric CRS distances are measured in (see ``metric_crs`` in the README)."""
    if choice not in ("auto", "utm", "cgcs2000"):
        return choice
    if choice == "auto":
        crss = {p.crs for p in points if p.crs is not None}
        projected = [c for c in crss if not is_geographic(c)]
        if declared is not None and not is_geographic(declared):
            return declared
        if len(projected) == 1 and len(crss) == 1:
            return projected[0]
    lon, lat = _lonlat(points)
    if choice == "cgcs2000":
        return cgcs2000_gk_crs_for(lon)
    return utm_crs_for(lon, lat)


def _xy(points: _Points, target: str) -> np.ndarray:
    finite = np.isfinite(points.x) & np.isfinite(points.y)
    xy = np.full((len(points.x), 2), np.nan)
    if finite.any():
        xy[finite] = project(points.x[finite], points.y[finite], points.crs or target, target)
    return xy


def _attributes(points: _Points, used: set[str]) -> pd.DataFrame:
    drop = used | set(points.coordinate_columns)
    return points.frame[[c for c in points.frame.columns if c not in drop]].reset_index(
        drop=True
    )


def _distance_pairs(
    source: TableSource,
    demand_index: dict[str, int],
    target_index: dict[str, int],
    problems: ProblemCollector,
) -> DistancePairs | None:
    table = read_table(source.path, label=source.label, problems=problems,
                       encoding=source.encoding)
    if table is None:
        return None
    frame = table.frame
    roles = ["demand_id", "site_id", "distance_m"]
    if not require_columns(frame, [source.column(r) for r in roles], label=source.label,
                           problems=problems):
        return None
    demand_ids = frame[source.column("demand_id")].astype(str).str.strip()
    target_ids = frame[source.column("site_id")].astype(str).str.strip()
    distance = numeric_column(frame, source.column("distance_m"), label=source.label,
                              problems=problems)
    demand = demand_ids.map(demand_index)
    target = target_ids.map(target_index)
    for column, mapped, ids, what in (
        (source.column("demand_id"), demand, demand_ids, "demand unit"),
        (source.column("site_id"), target, target_ids, "site or existing facility"),
    ):
        rows = np.nonzero(mapped.isna().to_numpy())[0]
        for row in rows[:5]:
            problems.add(f"unknown {what} '{ids.iloc[row]}'", file=source.label,
                         row=int(row) + 1, column=column)
        if len(rows) > 5:
            problems.add(f"... and {len(rows) - 5} more rows with an unknown {what}",
                         file=source.label, column=column)
    pair_key = demand_ids + "\x00" + target_ids
    for row in np.nonzero(pair_key.duplicated().to_numpy())[0][:5]:
        problems.add(
            f"duplicate pair ({demand_ids.iloc[row]}, {target_ids.iloc[row]})",
            file=source.label, row=int(row) + 1, column=source.column("site_id"),
        )
    if problems:
        return None
    return DistancePairs(
        demand.to_numpy(dtype=np.int64), target.to_numpy(dtype=np.int64), distance
    )


@dataclass
class _Forced:
    """Sites named in ``force_open``: site id -> position, and each forced site's type."""

    site_position: dict[str, int]
    sites: list[int]
    types: list[int]


def _population(spec: ScenarioSpec, demand: _Points | None,
                problems: ProblemCollector) -> np.ndarray:
    """Each type's target-group population per demand unit, ``(n, T)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(0, T)`` when the demand table or a population column is missing.
    """
    population = np.zeros((0, len(spec.types)))
    if demand is not None and require_columns(
        demand.frame, sorted({t.population for t in spec.types}), label=spec.demand.label,
        problems=problems,
    ):
        population = np.column_stack([
            numeric_column(demand.frame, t.population, label=spec.demand.label,
                           problems=problems)
            for t in spec.types
        ])
    return population


def _site_costs(spec: ScenarioSpec, sites: _Points | None, problems: ProblemCollector,
                notes: list[str]) -> np.ndarray:
    """Conversion cost per site and type, ``(m, T)``, NaN where the site cannot take it
    (a blank cost, or an area below the type's ``min_area_m2``).

    Returns
    -------
    numpy.ndarray
        Shape ``(0, T)`` when the sites table or a cost column is missing.
    """
    costs = np.zeros((0, len(spec.types)))
    if sites is not None and require_columns(
        sites.frame, sorted({t.cost for t in spec.types}), label=spec.sites.label,
        problems=problems,
    ):
        costs = np.column_stack([
            numeric_column(sites.frame, t.cost, label=spec.sites.label, problems=problems,
                           allow_blank=True)
            for t in spec.types
        ])
    if sites is not None and len(costs) and any(t.min_area_m2 is not None for t in spec.types):
        _drop_small_sites(spec, sites, costs, problems, notes)
    return costs


def _drop_small_sites(spec: ScenarioSpec, sites: _Points, costs: np.ndarray,
                      problems: ProblemCollector, notes: list[str]) -> None:
    """Blank (in place) the costs of sites smaller than their type's ``min_area_m2``."""
    area_column = spec.sites.column("area")
    if not require_columns(sites.frame, [area_column], label=spec.sites.label,
                           problems=problems):
        return
    area = numeric_column(sites.frame, area_column, label=spec.sites.label,
                          problems=problems, allow_blank=True)
    for t, type_spec in enumerate(spec.types):
        if type_spec.min_area_m2 is None:
            continue
        too_small = np.isfinite(costs[:, t]) & ~(area >= type_spec.min_area_m2)
        costs[too_small, t] = np.nan
        if too_small.any():
            notes.append(
                f"{int(too_small.sum())} sites below {type_spec.min_area_m2:g} m² "
                f"cannot become '{type_spec.name}'"
            )


def _existing_types(spec: ScenarioSpec, existing: _Points | None,
                    problems: ProblemCollector) -> np.ndarray:
    """The type index of each existing facility (-1 for an unknown type, reported).

    Returns
    -------
    numpy.ndarray
        Empty when there are no existing facilities or their type column is missing.
    """
    existing_type = np.empty(0, dtype=np.int64)
    if existing is None or spec.existing is None:
        return existing_type
    type_names = [t.name for t in spec.types]
    type_column = spec.existing.column("type")
    if require_columns(existing.frame, [type_column], label=spec.existing.label,
                       problems=problems):
        raw = existing.frame[type_column].astype(str).str.strip()
        mapped = raw.map({n: i for i, n in enumerate(type_names)})
        for row in np.nonzero(mapped.isna().to_numpy())[0][:5]:
            problems.add(
                f"unknown type '{raw.iloc[row]}' (scenario types: {', '.join(type_names)})",
                file=spec.existing.label, row=int(row) + 1, column=type_column,
            )
        existing_type = mapped.fillna(-1).to_numpy(dtype=np.int64)
    return existing_type


def _site_rules(spec: ScenarioSpec, sites: _Points | None, costs: np.ndarray,
                problems: ProblemCollector) -> _Forced:
    """Check ``force_open`` and ``exclude`` against the sites table.

    Returns
    -------
    _Forced
        The site positions and the forced sites with their type index (``ANY_TYPE``
        for "any"); empty when the sites table could not be read.
    """
    forced = _Forced({}, [], [])
    if sites is None:
        return forced
    type_names = [t.name for t in spec.types]
    forced.site_position = {s: j for j, s in enumerate(sites.ids)}
    for site, type_name in spec.force_open.items():
        if site not in forced.site_position:
            problems.add(f"force_open: unknown site id '{site}'", file=spec.sites.label)
            continue
        j = forced.site_position[site]
        if type_name == ANY:
            forced.sites.append(j)
            forced.types.append(ANY_TYPE)
        elif type_name in type_names:
            t = type_names.index(type_name)
            if len(costs) and not np.isfinite(costs[j, t]):
                problems.add(
                    f"force_open: site '{site}' is forced to '{type_name}' but its cost "
                    f"for that type is blank",
                    file=spec.sites.label, row=j + 1, column=spec.types[t].cost,
                )
            forced.sites.append(j)
            forced.types.append(t)
    for site in spec.exclude:
        if site not in forced.site_position:
            problems.add(f"exclude: unknown site id '{site}'", file=spec.sites.label)
    return forced


def _supplied_pairs(
    spec: ScenarioSpec, demand: _Points | None, sites: _Points | None,
    existing: _Points | None, site_position: dict[str, int], problems: ProblemCollector,
) -> DistancePairs | None:
    """The scenario's ``distances`` table, read only when everything else is valid.

    Returns
    -------
    DistancePairs or None
        None without a distances table, after earlier problems, or when it has problems.
    """
    if spec.distances is None or demand is None or sites is None or problems:
        return None
    ids_existing = existing.ids if existing is not None else np.empty(0, dtype=object)
    clash = set(ids_existing) & set(site_position)
    for clashing in sorted(clash)[:5]:
        problems.add(
            f"id '{clashing}' is both a site and an existing facility; the distance table "
            f"cannot tell them apart",
            file=spec.existing.label if spec.existing else None,
        )
    targets = dict(site_position)
    targets.update({e: len(site_position) + k for k, e in enumerate(ids_existing)})
    return _distance_pairs(
        spec.distances, {d: i for i, d in enumerate(demand.ids)}, targets, problems
    )


@single_line_problems
def build_instance(spec: ScenarioSpec) -> SitingInstance:
    """Read, validate and project every input of a scenario.

    Raises
    ------
    InputError
        With one line per problem (file, row, column, message).
    """
    problems = ProblemCollector()
    notes: list[str] = []
    demand = _points(spec.demand, spec.crs, problems, notes)
    sites = _points(spec.sites, spec.crs, problems, notes)
    existing = _points(spec.existing, spec.crs, problems, notes) if spec.existing else None
    population = _population(spec, demand, problems)
    costs = _site_costs(spec, sites, problems, notes)
    existing_type = _existing_types(spec, existing, problems)
    forced = _site_rules(spec, sites, costs, problems)
    if spec.budget < 0:
        problems.add("budget must not be negative")
    elif len(costs) and not spec.force_open:
        _check_budget_buys_something(spec, sites, costs, problems)
    pairs = _supplied_pairs(spec, demand, sites, existing, forced.site_position, problems)
    policy = _policy(spec, demand, sites, costs, problems, notes)
    problems.raise_if_any()
    assert demand is not None and sites is not None
    return _instance(spec, demand, sites, existing, population=population, costs=costs,
                     existing_type=existing_type, forced=forced, pairs=pairs, policy=policy,
                     notes=notes)


def _instance(
    spec: ScenarioSpec, demand: _Points, sites: _Points, existing: _Points | None, *,
    population: np.ndarray, costs: np.ndarray, existing_type: np.ndarray, forced: _Forced,
    pairs: DistancePairs | None, policy: Policy, notes: list[str],
) -> SitingInstance:
    """Project the validated tables to the metric CRS and assemble the instance.

    Raises
    ------
    InputError
        Points far from every demand unit, or (with a network) far from any street.
    """
    metric = _metric_crs([p for p in (demand, sites, existing) if p is not None], spec.crs,
                         spec.metric_crs)
    notes.append(f"distances measured in {metric}")
    demand_xy, site_xy = _xy(demand, metric), _xy(sites, metric)
    existing_xy = _xy(existing, metric) if existing is not None else np.empty((0, 2))
    _check_far_outside(spec, demand_xy, site_xy, existing_xy)
    if spec.network is not None:
        pairs = _network_pairs(spec, demand_xy, site_xy, existing_xy, metric, notes)
    excluded = np.zeros(len(sites.ids), dtype=bool)
    excluded[[forced.site_position[s] for s in spec.exclude]] = True
    return SitingInstance(
        types=_facility_types(spec),
        demand_ids=demand.ids,
        demand_xy=demand_xy,
        population=population,
        site_ids=sites.ids,
        site_xy=site_xy,
        site_cost=costs,
        budget=(float(sum(spec.policy.year_budgets))
                if spec.policy.years and not np.isfinite(spec.budget) else spec.budget),
        existing_ids=existing.ids if existing is not None else np.empty(0, dtype=object),
        existing_xy=existing_xy,
        existing_type=existing_type,
        forced_sites=np.asarray(forced.sites, dtype=np.int64),
        forced_type=np.asarray(forced.types, dtype=np.int64),
        excluded=excluded,
        distances=pairs,
        crs=metric,
        demand_attributes=_attributes(
            demand, {spec.demand.column("id")} | {t.population for t in spec.types}
        ),
        site_attributes=_attributes(
            sites, {spec.sites.column("id")} | {t.cost for t in spec.types}
        ),
        notes=tuple(notes),
        policy=policy,
    )


def _facility_types(spec: ScenarioSpec) -> tuple[FacilityType, ...]:
    """The scenario's ``[types.NAME]`` sections as the model's facility types."""
    return tuple(
        FacilityType(
            name=t.name, radius_m=t.radius_m, weight=t.weight, population=t.population,
            max_sites=t.max_sites, max_budget_share=t.max_budget_share, bands=t.bands,
        )
        for t in spec.types
    )


def _policy(spec: ScenarioSpec, demand: _Points | None, sites: _Points | None,
            costs: np.ndarray, problems: ProblemCollector, notes: list[str]) -> Policy:
    """The ``[policy]`` section and per-type capacities, checked against the tables."""
    ps = spec.policy
    names = [t.name for t in spec.types]
    kwargs: dict[str, object] = {"objective": ps.objective, "floor_mode": ps.floor_mode,
                                 "floor_penalty": ps.floor_penalty}
    kwargs["floor_share"] = tuple(ps.floors.get(n) for n in names)
    kwargs["target_share"] = tuple(ps.targets.get(n) for n in names)
    kwargs["maxmin_types"] = tuple(names.index(t) for t in ps.maxmin)
    if ps.years:
        kwargs["years"] = ps.years
        kwargs["year_budget"] = np.asarray(ps.year_budgets, dtype=float)
        kwargs["phasing"] = ps.phasing_objective
    if demand is not None and ps.group_by is not None and require_columns(
            demand.frame, [ps.group_by], label=spec.demand.label, problems=problems):
        raw = demand.frame[ps.group_by].astype(str).str.strip()
        for row in np.nonzero((raw == "").to_numpy())[0][:5]:
            problems.add("blank group", file=spec.demand.label, row=int(row) + 1,
                         column=ps.group_by)
        codes, uniques = pd.factorize(raw, sort=True)
        kwargs["unit_group"] = codes.astype(np.int64)
        kwargs["group_names"] = tuple(str(u) for u in uniques)
    if ps.circle_types and demand is not None and ps.circle_population is not None and (
            require_columns(demand.frame, [ps.circle_population], label=spec.demand.label,
                            problems=problems)):
        kwargs["circle_types"] = tuple(names.index(t) for t in ps.circle_types if t in names)
        kwargs["circle_weight"] = ps.circle_weight
        kwargs["circle_population"] = numeric_column(
            demand.frame, ps.circle_population, label=spec.demand.label, problems=problems)
    if ps.area_column is not None and sites is not None and require_columns(
            sites.frame, [ps.area_column], label=spec.sites.label, problems=problems):
        raw = sites.frame[ps.area_column].astype(str).str.strip()
        areas = list(ps.area_budgets)
        present = set(raw)
        for area in areas:
            if area not in present:
                problems.add(f"policy.area_budgets: no site has {ps.area_column} = '{area}'",
                             file=spec.sites.label, column=ps.area_column)
        code = raw.map({a: i for i, a in enumerate(areas)}).fillna(-1).to_numpy(np.int64)
        if (code < 0).any():
            notes.append(f"{int((code < 0).sum())} sites lie in areas without an area budget "
                         f"(only the total budget applies to them)")
        kwargs["site_area"] = code
        kwargs["area_names"] = tuple(areas)
        kwargs["area_budget"] = np.array([ps.area_budgets[a] for a in areas], dtype=float)
    capacitated = [t for t in spec.types if t.capacity is not None]
    if capacitated and sites is not None and len(costs) and require_columns(
            sites.frame, [t.capacity for t in capacitated], label=spec.sites.label,
            problems=problems):
        capacity = np.full(costs.shape, np.nan)
        for t, kind in enumerate(spec.types):
            if kind.capacity is None:
                continue
            values = numeric_column(sites.frame, kind.capacity, label=spec.sites.label,
                                    problems=problems, allow_blank=True)
            missing = np.isfinite(costs[:, t]) & ~np.isfinite(values)
            for row in np.nonzero(missing)[0][:5]:
                problems.add(f"site can become '{kind.name}' but its capacity is blank",
                             file=spec.sites.label, row=int(row) + 1, column=kind.capacity)
            capacity[:, t] = values * kind.capacity_factor
        kwargs["site_capacity"] = capacity
    try:
        return Policy(**kwargs)  # type: ignore[arg-type]
    except ValueError as error:
        problems.add(f"[policy]: {error}")
        return Policy()


def _check_budget_buys_something(spec: ScenarioSpec, sites: _Points | None,
                                 costs: np.ndarray, problems: ProblemCollector) -> None:
    """A budget above 0 but below every conversion opens nothing: usually a unit mistake
    (10,000 CNY meant as 万元). A budget of 0 stays allowed (coverage as it is)."""
    if sites is None or not 0 < spec.budget < np.inf:
        return
    usable = np.where(np.isfinite(costs), costs, np.inf)
    usable[[j for j, s in enumerate(sites.ids) if s in set(spec.exclude)]] = np.inf
    if not np.isfinite(usable).any() or usable.min() <= spec.budget:
        return
    j, t = np.unravel_index(int(np.argmin(usable)), usable.shape)
    problems.add(
        f"'budget' {spec.budget:,.0f} is below the cheapest conversion ({usable[j, t]:,.0f}, "
        f"site '{sites.ids[j]}' as '{spec.types[t].name}' in {spec.sites.label}), so no site "
        f"can open: is it in CNY?",
        file=spec.path.name if spec.path is not None else "scenario")


FAR_OUTSIDE_M = 5_000.0
"""A facility this much farther than the largest radius from every resident is a data error."""


def _check_far_outside(
    spec: ScenarioSpec, demand_xy: np.ndarray, site_xy: np.ndarray, existing_xy: np.ndarray
) -> None:
    """Sites or facilities far from every demand unit: usually swapped or wrong coordinates."""
    from scipy.spatial import cKDTree

    finite = np.isfinite(demand_xy).all(axis=1)
    if not finite.any():
        return
    tree = cKDTree(demand_xy[finite])
    limit = max(t.radius_m for t in spec.types) + FAR_OUTSIDE_M
    problems = ProblemCollector()
    tables = [(spec.sites.label, "site", site_xy)]
    if spec.existing is not None:
        tables.append((spec.existing.label, "existing facility", existing_xy))
    for label, what, xy in tables:
        if len(xy) == 0:
            continue
        distance, _ = tree.query(xy)
        problems.add_rows(
            np.nonzero(distance > limit)[0],
            lambda row, what=what, distance=distance: (
                f"{what} is {distance[row] / 1000:,.1f} km from the nearest demand unit: "
                f"wrong coordinates or CRS?"),
            file=label, more="far from every demand unit",
        )
    problems.raise_if_any()


def _network_pairs(
    spec: ScenarioSpec,
    demand_xy: np.ndarray,
    site_xy: np.ndarray,
    existing_xy: np.ndarray,
    metric: str,
    notes: list[str],
) -> DistancePairs:
    """Walking distances on the scenario's street network, within the largest radius."""
    from optimizer import network as walking

    assert spec.network is not None
    problems = ProblemCollector()
    options: dict[str, object] = {"encoding": spec.network.encoding,
                                  "layer": spec.network.layer}
    if spec.network.exclude_highways is not None:
        options["exclude_highways"] = frozenset(spec.network.exclude_highways)
    graph = walking.load_network(spec.network.path, crs=metric, **options)  # type: ignore[arg-type]
    facilities = np.vstack([site_xy, existing_xy])
    cutoff = max(t.radius_m for t in spec.types)
    pairs = walking.cached_network_pairs(
        spec.network.path, graph, demand_xy, facilities, cutoff_m=cutoff,
        max_snap_m=spec.network.max_snap_m,
        cache_dir=None if spec.network.cache else False,
    )
    n_sites = len(site_xy)
    far_facilities = np.asarray(pairs.far_targets, dtype=np.int64)
    for label, source, rows in (
        (spec.demand.label, "demand unit", np.asarray(pairs.far_origins, dtype=np.int64)),
        (spec.sites.label, "site", far_facilities[far_facilities < n_sites]),
        (spec.existing.label if spec.existing else "existing", "existing facility",
         far_facilities[far_facilities >= n_sites] - n_sites),
    ):
        snaps = pairs.origin_snap_m if source == "demand unit" else pairs.target_snap_m
        offset = n_sites if source == "existing facility" else 0
        problems.add_rows(
            rows,
            lambda row, snaps=snaps, offset=offset, source=source: (
                f"{source} is {snaps[row + offset]:,.0f} m from the nearest street (more than "
                f"network.max_snap_m = {spec.network.max_snap_m:g})"),
            file=label, more=f"{source}s far from any street",
        )
    problems.raise_if_any()
    notes.append(
        f"walking distances on {spec.network.label} ({len(graph.node_xy)} nodes), "
        f"cut off at {cutoff:g} m"
    )
    return DistancePairs(pairs.origin_index, pairs.target_index, pairs.distance_m)
