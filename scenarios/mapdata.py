"""What a map of a scenario shows, as plain tables: one function for the app and briefs.

Front ends draw these frames (the app with Plotly, briefs with matplotlib); they compute
nothing themselves. Coordinates are metres in the instance's metric CRS, so the base layer
is the data itself (streets, residential cells), with no tile server.

Large cities are aggregated for drawing: beyond ``max_cells`` demand units, units are summed
into square grid cells (population-weighted position), so a 200,000-unit city sends a few
thousand points to the browser, never one per unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.instance import SitingInstance
from scenarios.runner import ScenarioResult
from scenarios.spec import ScenarioSpec

STATUS_NEW, STATUS_EXISTING, STATUS_UNCOVERED = "new", "existing", "uncovered"
"""Residents newly covered by the plan, already covered before it, and still uncovered."""


@dataclass(frozen=True, eq=False)
class MapLayers:
    """Layers of one map (all coordinates in ``crs`` metres).

    Attributes
    ----------
    cells
        ``x, y, population, cell_m`` and, for a plan, ``new, existing, uncovered`` (people
        of the map's target group in each state) and ``status`` (the largest of the three);
        ``units`` counts the demand units in each drawn cell (1 when not aggregated).
    sites
        Candidate sites (before solving) or chosen sites (with ``type``, ``cost`` and
        ``newly_covered``: people of the type's group for whom it is the nearest new
        facility in reach).
    existing
        Existing facilities: ``facility_id, x, y, type``.
    communities
        ``community_id, label, x, y`` (population-weighted centre) where the demand has a
        ``community_id`` column.
    streets
        ``x0, y0, x1, y1`` per walkable street link, or empty.
    """

    crs: str
    cells: pd.DataFrame
    sites: pd.DataFrame
    existing: pd.DataFrame
    communities: pd.DataFrame
    streets: pd.DataFrame
    aggregated: bool


def _grid(xy: np.ndarray, values: dict[str, np.ndarray], max_cells: int,
          base_cell_m: float) -> tuple[pd.DataFrame, bool]:
    """Sum values into square cells; grow the cell until at most ``max_cells`` remain."""
    frame = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], **values, "units": 1})
    if len(frame) <= max_cells:
        return frame.assign(cell_m=base_cell_m), False
    cell = base_cell_m
    while True:
        keys = np.floor(xy / cell).astype(np.int64)
        codes = keys[:, 0] * 10_000_019 + keys[:, 1]
        if len(np.unique(codes)) <= max_cells:
            break
        cell *= 1.5
    weight = np.maximum(values["population"], 1e-9)
    frame = frame.assign(code=codes, wx=frame["x"] * weight, wy=frame["y"] * weight, w=weight)
    summed = frame.groupby("code", sort=True).sum(numeric_only=True)
    summed["x"] = summed.pop("wx") / summed["w"]
    summed["y"] = summed.pop("wy") / summed["w"]
    summed = summed.drop(columns=["w"]).reset_index(drop=True)
    return summed.assign(cell_m=cell), True


def _typical_spacing(xy: np.ndarray) -> float:
    """Median nearest-neighbour distance of the demand units (their drawing size)."""
    if len(xy) < 2:
        return 100.0
    from scipy.spatial import cKDTree

    sample = xy[np.linspace(0, len(xy) - 1, min(len(xy), 2000)).astype(int)]
    distance, _ = cKDTree(xy).query(sample, k=2)
    spacing = float(np.median(distance[:, 1]))
    return spacing if spacing > 0 else 100.0


def _communities(instance: SitingInstance, labels: pd.Series | None) -> pd.DataFrame:
    attributes = instance.demand_attributes
    if attributes is None or "community_id" not in attributes.columns:
        return pd.DataFrame(columns=["community_id", "label", "x", "y"])
    weight = np.maximum(instance.population[:, 0], 1e-9)
    frame = pd.DataFrame({"community_id": attributes["community_id"].astype(str).to_numpy(),
                          "wx": instance.demand_xy[:, 0] * weight,
                          "wy": instance.demand_xy[:, 1] * weight, "w": weight})
    centre = frame.groupby("community_id", sort=True).sum()
    out = pd.DataFrame({"community_id": centre.index, "x": (centre.wx / centre.w).to_numpy(),
                        "y": (centre.wy / centre.w).to_numpy()})
    ids = out["community_id"].astype(str)
    out["label"] = ids.map(labels).fillna(ids) if labels is not None else ids
    return out[["community_id", "label", "x", "y"]]


def street_segments(spec: ScenarioSpec, crs: str, *, max_segments: int = 60_000) -> pd.DataFrame:
    """The scenario's walkable streets as segments in ``crs`` (empty without a network).

    Beyond ``max_segments`` links only the longest are kept (a base layer, not analysis).
    """
    if spec.network is None:
        return pd.DataFrame(columns=["x0", "y0", "x1", "y1"])
    from scipy import sparse

    from optimizer import network as walking

    options: dict[str, object] = {"encoding": spec.network.encoding,
                                  "layer": spec.network.layer}
    if spec.network.exclude_highways is not None:
        options["exclude_highways"] = frozenset(spec.network.exclude_highways)
    graph = walking.load_network(spec.network.path, crs=crs, **options)  # type: ignore[arg-type]
    upper = sparse.triu(graph.adjacency, k=1).tocoo()
    order = np.argsort(-upper.data, kind="stable")[:max_segments]
    a, b = upper.row[order], upper.col[order]
    xy = graph.node_xy
    return pd.DataFrame({"x0": xy[a, 0], "y0": xy[a, 1], "x1": xy[b, 0], "y1": xy[b, 1]})


def community_names(spec: ScenarioSpec, *, lang: str = "en") -> pd.Series | None:
    """Community display names from a ``communities.csv`` beside the demand file, if any
    (columns ``community_id`` and ``name_zh`` / ``name_en``)."""
    path = spec.demand.path.parent / "communities.csv"
    if not path.exists():
        return None
    table = pd.read_csv(path, dtype=str)
    column = f"name_{lang}" if f"name_{lang}" in table.columns else None
    if "community_id" not in table.columns or column is None:
        return None
    return table.set_index("community_id")[column]


def data_layers(instance: SitingInstance, *, type_index: int = 0, max_cells: int = 4000,
                labels: pd.Series | None = None,
                streets: pd.DataFrame | None = None) -> MapLayers:
    """Layers of the loaded data before solving: demand (the type's target group), every
    candidate site with the types it can take, existing facilities."""
    population = instance.population[:, type_index]
    cells, aggregated = _grid(instance.demand_xy, {"population": population}, max_cells,
                              _typical_spacing(instance.demand_xy))
    costs = np.isfinite(instance.site_cost)
    names = np.asarray(instance.type_names, dtype=object)
    sites = pd.DataFrame({
        "site_id": instance.site_ids.astype(str),
        "x": instance.site_xy[:, 0], "y": instance.site_xy[:, 1],
        "types": [", ".join(names[row]) for row in costs],
        "excluded": instance.excluded,
    })
    return MapLayers(instance.crs, cells, sites, _existing(instance),
                     _communities(instance, labels),
                     streets if streets is not None else pd.DataFrame(
                         columns=["x0", "y0", "x1", "y1"]), aggregated)


def _existing(instance: SitingInstance) -> pd.DataFrame:
    names = np.asarray(instance.type_names, dtype=object)
    return pd.DataFrame({
        "facility_id": instance.existing_ids.astype(str),
        "x": instance.existing_xy[:, 0], "y": instance.existing_xy[:, 1],
        "type": names[instance.existing_type] if len(instance.existing_type) else [],
    })


def plan_layers(result: ScenarioResult, type_name: str, *, max_cells: int = 4000,
                labels: pd.Series | None = None,
                streets: pd.DataFrame | None = None) -> MapLayers:
    """Layers of a solved plan for one type: its target group newly covered, already
    covered and still uncovered; the chosen sites of every type; existing facilities."""
    instance, plan = result.instance, result.plan
    t = list(instance.type_names).index(type_name)
    population = instance.population[:, t]
    values = {"population": population}
    if plan.coverage is not None:
        covered = plan.coverage.covered[:, t]
        before = plan.coverage.covered_existing[:, t]
        values |= {"new": population * (covered & ~before),
                   "existing": population * before,
                   "uncovered": population * ~covered}
    else:
        values |= {"new": 0 * population, "existing": 0 * population,
                   "uncovered": population}
    cells, aggregated = _grid(instance.demand_xy, values, max_cells,
                              _typical_spacing(instance.demand_xy))
    states = cells[[STATUS_NEW, STATUS_EXISTING, STATUS_UNCOVERED]].to_numpy()
    cells["status"] = np.array([STATUS_NEW, STATUS_EXISTING, STATUS_UNCOVERED])[
        states.argmax(axis=1)]
    sites = plan.chosen_sites()
    sites["newly_covered"] = site_reach(result)["newly_covered"].to_numpy() if len(sites) \
        else []
    return MapLayers(instance.crs, cells, sites, _existing(instance),
                     _communities(instance, labels),
                     streets if streets is not None else pd.DataFrame(
                         columns=["x0", "y0", "x1", "y1"]), aggregated)


def site_reach(result: ScenarioResult) -> pd.DataFrame:
    """Per chosen site (in :meth:`Plan.chosen_sites` order): people of its type's target
    group it serves as the nearest facility in reach (``reached``), and of those, people
    who had no such facility before (``newly_covered``)."""
    instance, plan = result.instance, result.plan
    sites = plan.chosen_sites()
    if plan.coverage is None or not len(sites):
        return pd.DataFrame({"site_id": sites["site_id"], "reached": 0.0, "newly_covered": 0.0})
    position = {s: k for k, s in enumerate(instance.site_ids.astype(str))}
    type_position = {name: t for t, name in enumerate(instance.type_names)}
    cov = plan.coverage
    reached, newly = [], []
    for site, kind in zip(sites["site_id"], sites["type"], strict=True):
        t = type_position[kind]
        mine = (cov.serving[:, t] == position[site]) & cov.covered[:, t]
        pop = instance.population[:, t]
        reached.append(float(pop[mine].sum()))
        newly.append(float(pop[mine & ~cov.covered_existing[:, t]].sum()))
    return pd.DataFrame({"site_id": sites["site_id"].to_numpy(), "reached": reached,
                         "newly_covered": newly})
