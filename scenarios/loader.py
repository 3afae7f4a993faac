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
from optimizer.io import id_column, numeric_column, read_table, require_columns
from optimizer.projection import WGS84, is_geographic, looks_like_degrees, project, utm_crs_for
from scenarios.spec import ANY, ScenarioSpec, TableSource


@dataclass
class _Points:
    ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    crs: str | None
    frame: pd.DataFrame


def _points(
    source: TableSource, declared_crs: str | None, problems: ProblemCollector
) -> _Points | None:
    frame = read_table(source.path, label=source.label, problems=problems)
    if frame is None:
        return None
    lon, lat = source.column("lon"), source.column("lat")
    x, y = source.column("x"), source.column("y")
    uses_lonlat = lon in frame.columns and lat in frame.columns
    uses_xy = x in frame.columns and y in frame.columns
    if not require_columns(frame, [source.column("id")], label=source.label, problems=problems):
        return None
    if not (uses_lonlat or uses_xy):
        problems.add(
            f"needs coordinate columns '{x}' and '{y}' (metric, with 'crs') or '{lon}' and "
            f"'{lat}' (WGS84)",
            file=source.label,
        )
        return None
    ids = id_column(frame, source.column("id"), label=source.label, problems=problems)
    if uses_lonlat:
        xs = numeric_column(frame, lon, label=source.label, problems=problems,
                            allow_negative=True)
        ys = numeric_column(frame, lat, label=source.label, problems=problems,
                            allow_negative=True)
        bad = (np.abs(xs) > 180) | (np.abs(ys) > 90)
        for row in np.nonzero(bad)[0][:5]:
            problems.add(f"({xs[row]}, {ys[row]}) is not a longitude/latitude",
                         file=source.label, row=int(row) + 1, column=lon)
        return _Points(ids, xs, ys, WGS84, frame)
    xs = numeric_column(frame, x, label=source.label, problems=problems, allow_negative=True)
    ys = numeric_column(frame, y, label=source.label, problems=problems, allow_negative=True)
    if declared_crs is None:
        if looks_like_degrees(xs, ys):
            return _Points(ids, xs, ys, WGS84, frame)
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
    return _Points(ids, xs, ys, declared_crs, frame)


def _metric_crs(points: list[_Points], declared: str | None) -> str:
    if declared is not None and not is_geographic(declared):
        return declared
    lonlat = [p for p in points if p.crs is not None and is_geographic(p.crs)]
    if lonlat:
        lon = np.concatenate([p.x for p in lonlat])
        lat = np.concatenate([p.y for p in lonlat])
        return utm_crs_for(lon, lat)
    return declared or "EPSG:3857"


def _xy(points: _Points, target: str) -> np.ndarray:
    finite = np.isfinite(points.x) & np.isfinite(points.y)
    xy = np.full((len(points.x), 2), np.nan)
    if finite.any():
        xy[finite] = project(points.x[finite], points.y[finite], points.crs or target, target)
    return xy


def _distance_pairs(
    source: TableSource,
    demand_index: dict[str, int],
    target_index: dict[str, int],
    problems: ProblemCollector,
) -> DistancePairs | None:
    frame = read_table(source.path, label=source.label, problems=problems)
    if frame is None:
        return None
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


def build_instance(spec: ScenarioSpec) -> SitingInstance:
    """Read, validate and project every input of a scenario.

    Raises
    ------
    InputError
        With one line per problem (file, row, column, message).
    """
    problems = ProblemCollector()
    demand = _points(spec.demand, spec.crs, problems)
    sites = _points(spec.sites, spec.crs, problems)
    existing = _points(spec.existing, spec.crs, problems) if spec.existing else None
    type_names = [t.name for t in spec.types]

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
    existing_type = np.empty(0, dtype=np.int64)
    if existing is not None and spec.existing is not None:
        type_column = spec.existing.column("type")
        if require_columns(existing.frame, [type_column], label=spec.existing.label,
                           problems=problems):
            raw = existing.frame[type_column].astype(str).str.strip()
            existing_type = raw.map({n: i for i, n in enumerate(type_names)})
            for row in np.nonzero(existing_type.isna().to_numpy())[0][:5]:
                problems.add(
                    f"unknown type '{raw.iloc[row]}' (scenario types: {', '.join(type_names)})",
                    file=spec.existing.label, row=int(row) + 1, column=type_column,
                )
            existing_type = existing_type.fillna(-1).to_numpy(dtype=np.int64)

    site_position: dict[str, int] = {}
    if sites is not None:
        site_position = {s: j for j, s in enumerate(sites.ids)}
        forced_sites, forced_types = [], []
        for site, type_name in spec.force_open.items():
            if site not in site_position:
                problems.add(f"force_open: unknown site id '{site}'", file=spec.sites.label)
                continue
            j = site_position[site]
            if type_name == ANY:
                forced_sites.append(j)
                forced_types.append(ANY_TYPE)
            elif type_name in type_names:
                t = type_names.index(type_name)
                if len(costs) and not np.isfinite(costs[j, t]):
                    problems.add(
                        f"force_open: site '{site}' is forced to '{type_name}' but its cost "
                        f"for that type is blank",
                        file=spec.sites.label, row=j + 1, column=spec.types[t].cost,
                    )
                forced_sites.append(j)
                forced_types.append(t)
        for site in spec.exclude:
            if site not in site_position:
                problems.add(f"exclude: unknown site id '{site}'", file=spec.sites.label)
    if spec.budget < 0:
        problems.add("budget must not be negative")

    pairs = None
    if spec.distances is not None and demand is not None and sites is not None and not problems:
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
        pairs = _distance_pairs(
            spec.distances, {d: i for i, d in enumerate(demand.ids)}, targets, problems
        )
    problems.raise_if_any()
    assert demand is not None and sites is not None

    metric = _metric_crs([p for p in (demand, sites, existing) if p is not None], spec.crs)
    excluded = np.zeros(len(sites.ids), dtype=bool)
    excluded[[site_position[s] for s in spec.exclude]] = True
    types = tuple(
        FacilityType(
            name=t.name, radius_m=t.radius_m, weight=t.weight, population=t.population,
            max_sites=t.max_sites, max_budget_share=t.max_budget_share,
        )
        for t in spec.types
    )
    return SitingInstance(
        types=types,
        demand_ids=demand.ids,
        demand_xy=_xy(demand, metric),
        population=population,
        site_ids=sites.ids,
        site_xy=_xy(sites, metric),
        site_cost=costs,
        budget=spec.budget,
        existing_ids=existing.ids if existing is not None else np.empty(0, dtype=object),
        existing_xy=_xy(existing, metric) if existing is not None else np.empty((0, 2)),
        existing_type=existing_type,
        forced_sites=np.asarray(forced_sites, dtype=np.int64),
        forced_type=np.asarray(forced_types, dtype=np.int64),
        excluded=excluded,
        distances=pairs,
        crs=metric,
    )
