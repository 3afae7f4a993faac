"""Plotly maps drawn from :mod:`scenarios.mapdata` layers, in metres, with no tiles.

The base layer is the data itself (walkable streets, residential cells), so maps work on an
offline intranet; Plotly ships inside Streamlit's own front end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from scenarios.mapdata import STATUS_EXISTING, STATUS_NEW, STATUS_UNCOVERED, MapLayers
from webapp.i18n import money, people, tr, type_name

TYPE_COLOURS = ["#2e8b57", "#d9730d", "#7b4fbf", "#1f77b4", "#c0392b", "#8c564b"]
TYPE_SYMBOLS = ["circle", "square", "triangle-up", "diamond", "star", "pentagon"]
STATUS_COLOURS = {STATUS_NEW: "#17a589", STATUS_EXISTING: "#9ecae1",
                  STATUS_UNCOVERED: "#f1948a"}


def type_colour(index: int) -> str:
    return TYPE_COLOURS[index % len(TYPE_COLOURS)]


def _segments(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    n = len(frame)
    xs = np.full(3 * n, np.nan)
    ys = np.full(3 * n, np.nan)
    xs[0::3], xs[1::3] = frame["x0"].to_numpy(), frame["x1"].to_numpy()
    ys[0::3], ys[1::3] = frame["y0"].to_numpy(), frame["y1"].to_numpy()
    return xs, ys


def _circles(x: np.ndarray, y: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    angle = np.append(np.linspace(0, 2 * np.pi, 33), np.nan)
    xs = (x[:, None] + radius * np.cos(angle)[None, :]).ravel()
    ys = (y[:, None] + radius * np.sin(angle)[None, :]).ravel()
    return xs, ys


def _sizes(population: np.ndarray, largest: float = 13.0) -> np.ndarray:
    top = float(np.nanmax(population)) if len(population) and np.nanmax(population) > 0 else 1
    return 3.0 + (largest - 3.0) * np.sqrt(np.clip(population, 0, None) / top)


def _base(fig: go.Figure, layers: MapLayers, lang: str) -> None:
    if len(layers.streets):
        xs, ys = _segments(layers.streets)
        fig.add_trace(go.Scattergl(x=xs, y=ys, mode="lines", hoverinfo="skip",
                                   line={"color": "#c8c8c8", "width": 1},
                                   name=tr("legend_streets", lang)))


def _labels(fig: go.Figure, layers: MapLayers) -> None:
    if len(layers.communities):
        # Room for the names of communities at the edge: invisible points a tenth of the
        # map's width beyond the outermost labels, which the axes' autorange takes in.
        x = layers.communities["x"].to_numpy(dtype=float)
        every = np.concatenate([x, layers.cells["x"].to_numpy(dtype=float)]) \
            if len(layers.cells) else x
        pad = 0.1 * float(np.ptp(every)) if len(every) else 0.0
        middle = float(layers.communities["y"].median())
        fig.add_trace(go.Scatter(
            x=[float(x.min()) - pad, float(x.max()) + pad], y=[middle, middle],
            mode="markers", marker={"opacity": 0}, hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(
            x=layers.communities["x"], y=layers.communities["y"], mode="text",
            text=layers.communities["label"],
            textfont={"size": 11, "color": "#222", "shadow": "0 0 3px #fff, 0 0 3px #fff"},
            hoverinfo="skip", showlegend=False))


def _existing(fig: go.Figure, layers: MapLayers, type_names: list[str],
              labels: dict[str, str], lang: str) -> None:
    for t, name in enumerate(type_names):
        rows = layers.existing[layers.existing["type"] == name]
        if not len(rows):
            continue
        fig.add_trace(go.Scatter(
            x=rows["x"], y=rows["y"], mode="markers",
            marker={"symbol": TYPE_SYMBOLS[t % 6] + "-open", "size": 11,
                    "color": type_colour(t), "line": {"width": 2}},
            name=f"{tr('legend_existing_fac', lang)} · {labels[name]}",
            text=rows["facility_id"], hovertemplate="%{text}<extra></extra>"))


def _layout(fig: go.Figure, height: int, dragmode: str = "pan") -> go.Figure:
    fig.update_layout(
        height=height, margin={"l": 0, "r": 0, "t": 30, "b": 0}, plot_bgcolor="white",
        paper_bgcolor="white", dragmode=dragmode, hovermode="closest",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0, "font":
                {"size": 11}},
        xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x",
                                         "scaleratio": 1},
        uirevision="keep",
    )
    return fig


def data_map(layers: MapLayers, *, type_names: list[str], labels: dict[str, str],
             lang: str, height: int = 560) -> go.Figure:
    """Residents of one group, candidate sites (selectable) and existing facilities."""
    fig = go.Figure()
    _base(fig, layers, lang)
    cells = layers.cells
    fig.add_trace(go.Scattergl(
        x=cells["x"], y=cells["y"], mode="markers", name=tr("legend_population", lang),
        marker={"size": _sizes(cells["population"].to_numpy()), "color": "#7fb3d5",
                "opacity": 0.55, "symbol": "square"},
        text=[people(v, lang) for v in cells["population"]],
        hovertemplate="%{text}<extra></extra>"))
    sites = layers.sites
    fig.add_trace(go.Scatter(
        x=sites["x"], y=sites["y"], mode="markers", name=tr("legend_candidates", lang),
        marker={"size": 6, "color": np.where(sites["excluded"], "#bbbbbb", "#34495e"),
                "symbol": "x-thin-open", "line": {"width": 1.5}},
        customdata=sites["site_id"], text=sites["site_id"] + " · " + sites["types"],
        hovertemplate="%{text}<extra></extra>"))
    _existing(fig, layers, type_names, labels, lang)
    _labels(fig, layers)
    return _layout(fig, height, dragmode="select")


def plan_map(layers: MapLayers, *, shown_type: str, type_names: list[str],
             labels: dict[str, str], radii: dict[str, float], lang: str,
             height: int = 620, legend: bool = True) -> go.Figure:
    """The plan for ``shown_type``: its target group newly covered / already covered /
    uncovered, every chosen site by type with the shown type's service radius, existing
    facilities and community names."""
    fig = go.Figure()
    _base(fig, layers, lang)
    cells = layers.cells
    for status, key in ((STATUS_UNCOVERED, "legend_uncovered"),
                        (STATUS_EXISTING, "legend_existing"), (STATUS_NEW, "legend_new")):
        rows = cells[cells["status"] == status]
        fig.add_trace(go.Scattergl(
            x=rows["x"], y=rows["y"], mode="markers", name=tr(key, lang),
            marker={"size": _sizes(rows[status].to_numpy(), 12), "symbol": "square",
                    "color": STATUS_COLOURS[status], "opacity": 0.8},
            text=[f"{tr('legend_new', lang)} {people(a, lang)}<br>"
                  f"{tr('legend_existing', lang)} {people(b, lang)}<br>"
                  f"{tr('legend_uncovered', lang)} {people(c, lang)}"
                  for a, b, c in zip(rows[STATUS_NEW], rows[STATUS_EXISTING],
                                     rows[STATUS_UNCOVERED], strict=True)],
            hovertemplate="%{text}<extra></extra>"))
    sites = layers.sites
    shown = sites[sites["type"] == shown_type] if len(sites) else sites
    if len(shown):
        xs, ys = _circles(shown["x"].to_numpy(), shown["y"].to_numpy(), radii[shown_type])
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines", hoverinfo="skip",
            line={"color": type_colour(type_names.index(shown_type)), "width": 1},
            opacity=0.45, name=tr("service_area", lang, r=f"{radii[shown_type]:.0f}")))
    _existing(fig, layers, type_names, labels, lang)
    for t, name in enumerate(type_names):
        rows = sites[sites["type"] == name] if len(sites) else sites
        if not len(rows):
            continue
        fig.add_trace(go.Scatter(
            x=rows["x"], y=rows["y"], mode="markers", name=labels[name],
            marker={"symbol": TYPE_SYMBOLS[t % 6], "size": 10 if name == shown_type else 7,
                    "color": type_colour(t), "line": {"width": 1, "color": "white"}},
            customdata=rows["site_id"],
            text=[f"{s} · {labels[name]}<br>{money(c, lang)}<br>"
                  f"{tr('col_newly', lang)} {people(n, lang)}"
                  for s, c, n in zip(rows["site_id"], rows["cost"], rows["newly_covered"],
                                     strict=True)],
            hovertemplate="%{text}<extra></extra>"))
    _labels(fig, layers)
    fig.update_layout(showlegend=legend)
    return _layout(fig, height)


def type_labels(type_names: list[str], lang: str, spec_labels: dict[str, str | None]
                ) -> dict[str, str]:
    """Display names of the scenario's types in ``lang``."""
    return {name: type_name(name, lang, spec_labels.get(name)) for name in type_names}


def _lonlat(frame: pd.DataFrame, crs: str) -> tuple[np.ndarray, np.ndarray]:
    from pyproj import Transformer

    if not len(frame):
        return np.empty(0), np.empty(0)
    transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(frame["x"].to_numpy(), frame["y"].to_numpy())
    return np.asarray(lon), np.asarray(lat)


def tile_map(layers: MapLayers, *, shown_type: str, type_names: list[str],
             labels: dict[str, str], tile_url: str, lang: str, height: int = 620,
             legend: bool = True) -> go.Figure:
    """The plan on the user's own raster tiles (e.g. Tianditu with their key), in WGS84.

    Only drawn when a tile URL is configured: the default maps need no network at all.
    Coordinates are taken as WGS84; tiles of GCJ-02 services (Amap, Tencent) are offset by
    several hundred metres from them, which the legend cannot fix.
    """
    fig = go.Figure()
    cells = layers.cells
    for status, key in ((STATUS_UNCOVERED, "legend_uncovered"),
                        (STATUS_EXISTING, "legend_existing"), (STATUS_NEW, "legend_new")):
        rows = cells[cells["status"] == status]
        lon, lat = _lonlat(rows, layers.crs)
        fig.add_trace(go.Scattermap(
            lon=lon, lat=lat, mode="markers", name=tr(key, lang),
            marker={"size": _sizes(rows[status].to_numpy(), 10),
                    "color": STATUS_COLOURS[status], "opacity": 0.7},
            text=[people(v, lang) for v in rows[status]], hovertemplate="%{text}<extra></extra>"))
    sites = layers.sites
    for t, name in enumerate(type_names):
        rows = sites[sites["type"] == name] if len(sites) else sites
        if not len(rows):
            continue
        lon, lat = _lonlat(rows, layers.crs)
        fig.add_trace(go.Scattermap(
            lon=lon, lat=lat, mode="markers", name=labels[name],
            marker={"size": 11 if name == shown_type else 8, "color": type_colour(t)},
            text=rows["site_id"], hovertemplate="%{text}<extra></extra>"))
    lon, lat = _lonlat(cells, layers.crs)
    centre = {"lon": float(np.mean(lon)), "lat": float(np.mean(lat))} if len(lon) else None
    fig.update_layout(
        height=height, margin={"l": 0, "r": 0, "t": 30, "b": 0}, showlegend=legend,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        map={"style": "white-bg", "center": centre, "zoom": 12.5,
             "layers": [{"sourcetype": "raster", "source": [tile_url], "below": "traces"}]},
        uirevision="keep")
    return fig
