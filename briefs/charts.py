"""Maps and charts of a brief, drawn with matplotlib and embedded as base64 PNG.

Maps draw the layers of :func:`scenarios.mapdata.plan_layers` (residential cells by
coverage state, walkable streets, new and existing facilities, community names) in the
instance's metric CRS, with a scale bar and no tiles, so a brief needs no network. The
budget-coverage chart is :meth:`scenarios.curve.BudgetCurve.plot` itself.
"""

from __future__ import annotations

import base64
import io
import math
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from briefs.fonts import use_cjk_font
from briefs.text import t
from scenarios.curve import BudgetCurve
from scenarios.mapdata import STATUS_EXISTING, STATUS_NEW, STATUS_UNCOVERED, MapLayers

TYPE_COLOURS = ("#2e8b57", "#d9730d", "#7b4fbf", "#1f77b4", "#c0392b", "#8c564b")
"""Facility type colours, in the scenario's type order (as in the web app's maps)."""
TYPE_MARKERS = ("o", "s", "^", "D", "*", "p")
STATUS_COLOURS = {STATUS_NEW: "#17a589", STATUS_EXISTING: "#a9cce3",
                  STATUS_UNCOVERED: "#f1948a"}
"""Cell colours by coverage state (the web app's, the blue a little darker for print)."""

_INK, _STREET = "#1b2631", "#5d6d7e"
MAP_WIDTH_IN = 7.1
"""Width of a map figure (180 mm, the text width of an A4 page)."""
_LEGEND_IN = 2.0


@dataclass(frozen=True)
class MapText:
    """The words on one map (already in the brief's language)."""

    new_sites: str
    existing_sites: str
    stats: str
    lang: str


def png_data_uri(data: bytes, *, colours: int | None = None) -> str:
    """A ``data:image/png;base64,...`` URI; with ``colours``, the image is first reduced to
    that many colours (maps: a quarter of the size, no visible change)."""
    if colours is not None:
        from PIL import Image

        image = Image.open(io.BytesIO(data)).convert("RGB").quantize(
            colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
        data = buffer.getvalue()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _figure_png(figure: Any, *, dpi: int, lang: str) -> bytes:
    use_cjk_font(figure, latin_first=lang != "zh")
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def _nice_length(span: float) -> float:
    """A round scale-bar length near a fifth of the map's width."""
    target = span / 5
    if target <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(target))
    return max(step * power for step in (1, 2, 5) if step * power <= target)


def _cell_size(cells: pd.DataFrame) -> tuple[float, float]:
    """Width and height to draw residential cells: the spacing of horizontal and of vertical
    neighbours (a lon/lat grid is not square in metres), ``cell_m`` for scattered points."""
    size = float(cells["cell_m"].iloc[0])
    if len(cells) < 3:
        return size, size
    from scipy.spatial import cKDTree

    xy = cells[["x", "y"]].to_numpy(dtype=float)
    sample = xy[np.linspace(0, len(xy) - 1, min(len(xy), 2000)).astype(int)]
    _, index = cKDTree(xy).query(sample, k=min(5, len(xy)))
    step = np.abs(xy[index[:, 1:]] - sample[:, None, :]).reshape(-1, 2)
    across = step[step[:, 0] > 3 * step[:, 1], 0]
    along = step[step[:, 1] > 3 * step[:, 0], 1]
    if len(across) < len(sample) / 2 or len(along) < len(sample) / 2:  # not a grid
        return size, size
    width, height = float(np.median(across)), float(np.median(along))
    return (float(np.clip(width, size / 2, 2 * size)),
            float(np.clip(height, size / 2, 2 * size)))


def _extent(layers: MapLayers) -> tuple[float, float, float, float]:
    cells = layers.cells
    half = float(cells["cell_m"].iloc[0]) / 2 if len(cells) else 50.0
    xs = [cells["x"].to_numpy() - half, cells["x"].to_numpy() + half,
          layers.sites["x"].to_numpy(dtype=float) if len(layers.sites) else np.empty(0),
          layers.existing["x"].to_numpy(dtype=float)]
    ys = [cells["y"].to_numpy() - half, cells["y"].to_numpy() + half,
          layers.sites["y"].to_numpy(dtype=float) if len(layers.sites) else np.empty(0),
          layers.existing["y"].to_numpy(dtype=float)]
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    if not len(x):
        return 0.0, 1.0, 0.0, 1.0
    pad = 0.02 * max(float(x.max() - x.min()), float(y.max() - y.min()), 1.0)
    return (float(x.min()) - pad, float(x.max()) + pad, float(y.min()) - pad,
            float(y.max()) + pad)


def plan_map(layers: MapLayers, *, type_name: str, type_index: int, text: MapText,
             max_height_in: float = 2.75, dpi: int = 220) -> str:
    """One type's map as a PNG data URI: its target group by coverage state (newly
    covered, already covered, uncovered), streets, the type's new and existing facilities,
    community names, a legend with ``text.stats`` and a scale bar; the map is at most
    ``max_height_in`` inches high (three maps share an A4 page at the default)."""
    x0, x1, y0, y1 = _extent(layers)
    span_x, span_y = x1 - x0, y1 - y0
    scale = min((MAP_WIDTH_IN - _LEGEND_IN) / span_x, max_height_in / span_y)
    map_w, map_h = span_x * scale, span_y * scale
    figure, ax = _map_figure((x0, x1, y0, y1), map_w, map_h)
    _draw_cells(ax, layers.cells)
    _draw_streets(ax, layers.streets)
    colour = TYPE_COLOURS[type_index % len(TYPE_COLOURS)]
    marker = TYPE_MARKERS[type_index % len(TYPE_MARKERS)]
    existing = _draw_facilities(ax, layers, type_name, colour, marker)
    _draw_community_names(ax, layers.communities)
    left = (map_w + 0.15) / MAP_WIDTH_IN
    _map_legend(figure, left, text, colour=colour, marker=marker,
                existing=bool(len(existing)), streets=bool(len(layers.streets)))
    _scale_bar(figure, left, span_x, scale, text.lang)
    return png_data_uri(_figure_png(figure, dpi=dpi, lang=text.lang), colours=128)


def _map_figure(extent: tuple[float, float, float, float], map_w: float,
                map_h: float) -> tuple[Any, Any]:
    """A figure :data:`MAP_WIDTH_IN` wide with the map's axes (``map_w`` by ``map_h``
    inches, equal aspect, no axis) at its left, vertically centred.

    Returns
    -------
    figure, ax
        The matplotlib figure and the map's axes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x0, x1, y0, y1 = extent
    fig_h = max(map_h, 1.9)
    figure = Figure(figsize=(MAP_WIDTH_IN, fig_h))
    FigureCanvasAgg(figure)
    ax = figure.add_axes((0, (fig_h - map_h) / 2 / fig_h, map_w / MAP_WIDTH_IN, map_h / fig_h))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return figure, ax


def _draw_cells(ax: Any, cells: pd.DataFrame) -> None:
    """Residential cells as squares coloured by coverage state."""
    from matplotlib.collections import PolyCollection

    if not len(cells):
        return
    cx, cy = cells["x"].to_numpy(), cells["y"].to_numpy()
    half_x, half_y = (v / 2 for v in _cell_size(cells))
    corners = [(cx - half_x, cy - half_y), (cx + half_x, cy - half_y),
               (cx + half_x, cy + half_y), (cx - half_x, cy + half_y)]
    squares = np.stack([np.stack(corner, axis=1) for corner in corners], axis=1)
    colours = [STATUS_COLOURS[s] for s in cells["status"]]
    ax.add_collection(PolyCollection(squares, facecolors=colours, edgecolors="none",
                                     zorder=1))


def _draw_streets(ax: Any, streets: pd.DataFrame) -> None:
    """Walkable street links as thin grey lines."""
    from matplotlib.collections import LineCollection

    if not len(streets):
        return
    segments = np.stack([streets[["x0", "y0"]].to_numpy(dtype=float),
                         streets[["x1", "y1"]].to_numpy(dtype=float)], axis=1)
    ax.add_collection(LineCollection(segments, colors=_STREET, linewidths=0.22,
                                     alpha=0.55, zorder=2))


def _draw_facilities(ax: Any, layers: MapLayers, type_name: str, colour: str,
                     marker: str) -> pd.DataFrame:
    """The type's existing facilities (white) and new sites (in the type's colour).

    Returns
    -------
    pandas.DataFrame
        The existing facilities drawn.
    """
    existing = layers.existing[layers.existing["type"] == type_name]
    if len(existing):
        ax.scatter(existing["x"], existing["y"], s=26, marker=marker, facecolors="white",
                   edgecolors=_INK, linewidths=1.1, zorder=4)
    sites = layers.sites[layers.sites["type"] == type_name] if len(layers.sites) \
        else layers.sites
    if len(sites):
        ax.scatter(sites["x"], sites["y"], s=22, marker=marker, color=colour,
                   edgecolors=_INK, linewidths=0.6, zorder=5)
    return existing


def _draw_community_names(ax: Any, communities: pd.DataFrame) -> None:
    """Community names at their centres, with a white halo."""
    from matplotlib.patheffects import withStroke

    halo = [withStroke(linewidth=1.6, foreground="white", alpha=0.85)]
    for row in communities.itertuples():
        ax.text(row.x, row.y, str(row.label), fontsize=4.6, color=_INK, ha="center",
                va="center", zorder=6, path_effects=halo)


def _map_legend(figure: Any, left: float, text: MapText, *, colour: str, marker: str,
                existing: bool, streets: bool) -> None:
    """The legend (coverage states, new sites, existing facilities and streets when
    drawn) and the map's numbers, in the column right of the map at ``left``."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(color=STATUS_COLOURS[STATUS_NEW], label=t("legend_new", text.lang)),
        Patch(color=STATUS_COLOURS[STATUS_EXISTING], label=t("legend_existing", text.lang)),
        Patch(color=STATUS_COLOURS[STATUS_UNCOVERED], label=t("legend_uncovered", text.lang)),
        Line2D([], [], linestyle="none", marker=marker, markersize=5.5, color=colour,
               markeredgecolor=_INK, markeredgewidth=0.6, label=text.new_sites),
    ]
    if existing:
        handles.append(Line2D([], [], linestyle="none", marker=marker, markersize=5.5,
                              markerfacecolor="white", markeredgecolor=_INK,
                              label=text.existing_sites))
    if streets:
        handles.append(Line2D([], [], color=_STREET, linewidth=0.6,
                              label=t("legend_streets", text.lang)))
    figure.legend(handles=handles, loc="upper left", bbox_to_anchor=(left, 0.98),
                  frameon=False, fontsize=6.8, handlelength=1.4, borderaxespad=0)
    figure.text(left + 0.004, 0.36, text.stats, fontsize=7, va="top", ha="left", color=_INK,
                linespacing=1.5)


def _scale_bar(figure: Any, left: float, span_x: float, scale: float, lang: str) -> None:
    """Scale bar and north arrow in the legend column, below the numbers (``scale``:
    inches per metre)."""
    length = _nice_length(span_x)
    label = (t("scale_km", lang, n=f"{length / 1000:g}") if length >= 1000
             else t("scale_m", lang, n=f"{length:g}"))
    bar_w = length * scale / MAP_WIDTH_IN
    bar = figure.add_axes((left + 0.004, 0.04, bar_w, 0.1))
    bar.set_axis_off()
    bar.set_xlim(0, 1)
    bar.set_ylim(0, 1)
    bar.plot([0, 1], [0.2, 0.2], color=_INK, linewidth=2.2, solid_capstyle="butt")
    bar.text(0.5, 0.45, label, ha="center", va="bottom", fontsize=6.5, color=_INK)
    figure.text(left + 0.004 + bar_w + 0.05, 0.04, t("north", lang), ha="center",
                va="bottom", fontsize=7, color=_INK)
    figure.text(left + 0.004 + bar_w + 0.05, 0.11, "\u2191", ha="center", va="bottom",
                fontsize=11, color=_INK)


def read_curve(path: Path, *, scenario: str, types: Sequence[str],
               labels: Sequence[str]) -> BudgetCurve:
    """A :class:`~scenarios.curve.BudgetCurve` from a ``curve.csv`` of ``lifecircle sweep``.

    Raises
    ------
    ValueError
        The file lacks a column of the scenario's types (a curve of another scenario).
    """
    from scenarios.curve import curve_columns

    points = pd.read_csv(path)
    missing = [c for c in curve_columns(types) if c not in points.columns]
    if missing:
        raise ValueError(f"{path} is not a budget curve of this scenario's types "
                         f"({', '.join(types)}): no column {missing[0]}")
    points = points.sort_values("budget", kind="stable").reset_index(drop=True)
    return BudgetCurve(scenario=scenario, types=tuple(types), points=points,
                       labels=tuple(labels))


def curve_chart(curve: BudgetCurve, *, lang: str, dpi: int = 150) -> str:
    """The budget-coverage plot of :meth:`BudgetCurve.plot` as a PNG data URI."""
    with tempfile.TemporaryDirectory(prefix="lifecircle-brief-") as folder:
        path = curve.plot(Path(folder) / "curve.png", lang=lang, dpi=dpi)  # type: ignore[arg-type]
        return png_data_uri(path.read_bytes())
