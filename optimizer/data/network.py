r"""Walking-network distances: load a street network, snap points to it, find pairs in reach.

A street network comes from an OSMnx-style GraphML file or from a vector file of street
edges (GeoPackage, GeoJSON, Shapefile). Only walkable edges are kept (no motorways or
trunk roads by default, no ``foot=no``, no ``access=no|private`` unless ``foot`` allows
it), the graph is treated as undirected (the shortest of parallel and antiparallel edges
wins) and node coordinates are projected to a metric CRS.

The walking distance between a point :math:`p` and a point :math:`q` is

.. math:: d(p, q) = s(p) + D(n_p, n_q) + s(q)

where :math:`n_p` is the network node nearest to :math:`p`, :math:`s(p)` the straight-line
snap distance to it and :math:`D` the shortest-path length on the walkable network. Snapping
is to nodes, not to the nearest point of an edge, so a point in the middle of a long block
is charged the walk to the block's end. Pairs within a cutoff are found with
multi-source Dijkstra from the side with fewer distinct nodes, in chunks of bounded
memory; nothing dense of size origins x targets is built.

Results can be cached on disk (:func:`cached_network_pairs`), keyed by the *content* of the
network file and every input that changes the answer.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from optimizer.data.instance import DistancePairs
from optimizer.data.io import single_line_problems
from optimizer.errors import InputError, Problem

DEFAULT_EXCLUDED: frozenset[str] = frozenset({"motorway", "motorway_link", "trunk", "trunk_link"})
"""``highway`` values dropped by default: roads pedestrians may not or should not use."""

FOOT_ALLOWED: frozenset[str] = frozenset({"yes", "designated", "permissive"})
"""``foot`` values that allow walking on an edge whose ``access`` is ``no`` or ``private``."""

ACCESS_BLOCKED: frozenset[str] = frozenset({"no", "private"})
"""``access`` values that close an edge to pedestrians (unless ``foot`` allows it)."""

DEFAULT_WALK_SPEED_M_PER_MIN = 60.0
"""Walking speed used to turn minutes into metres (3.6 km/h, an unhurried walk)."""

MAX_CHUNK_FLOATS = 50_000_000
"""Upper bound on the size of one Dijkstra result block (sources x nodes) in floats."""

NODE_DECIMALS = 2
"""Endpoints of vector-file edges are rounded to this many decimals of a metre (1 cm)
before being matched into nodes."""

MAX_EXPAND_PAIRS = 4_000_000
"""Upper bound on the point pairs expanded from node pairs at once (before the cutoff)."""

GRAPHML_SUFFIXES = frozenset({".graphml", ".xml"})

CACHE_FORMAT = 1
"""Bump when the cached computation changes, so that old cache entries are not reused."""

_MAX_LISTED = 10  # rows listed individually in an error before "and N more"


# ---------------------------------------------------------------------------------------
# Data classes
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class WalkingNetwork:
    """An undirected walkable street network in a metric CRS.

    Parameters
    ----------
    node_ids
        Node identifiers ``(n,)``: the GraphML node ids (strings), or ``0..n-1`` for
        vector files. Only nodes touched by at least one walkable edge are kept.
    node_xy
        Node coordinates ``(n, 2)`` in metres in ``crs``.
    adjacency
        Symmetric ``(n, n)`` CSR matrix of edge lengths in metres (the shortest of any
        parallel or antiparallel edges). Zero-length edges are stored as explicit zeros.
    crs
        The metric CRS of ``node_xy``.
    n_edges_read
        Edge records in the file (directed edges for GraphML, rows for vector files).
    n_edges_kept
        Edge records kept as walkable (before merging parallel edges; self-loops included).
    n_edges_dropped
        Edge records dropped as not walkable.
    dropped_by_reason
        ``{"highway": k, "foot": k, "access": k}``; each dropped record counts once, under
        the first reason in that order.
    source
        The file the network was read from.
    source_sha256
        SHA-256 of the file's content when it was read (with a Shapefile's sidecar files).
    exclude_highways, encoding, layer, source_crs
        The :func:`load_network` options it was read with (they and ``source_sha256``
        key the disk cache of :func:`cached_network_pairs`).
    """

    node_ids: np.ndarray
    node_xy: np.ndarray
    adjacency: sparse.csr_matrix
    crs: str
    n_edges_read: int
    n_edges_kept: int
    n_edges_dropped: int
    dropped_by_reason: Mapping[str, int] = field(default_factory=dict)
    source: str | None = None
    source_sha256: str | None = None
    exclude_highways: frozenset[str] = DEFAULT_EXCLUDED
    encoding: str | None = None
    layer: str | None = None
    source_crs: str | None = None

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_ids)

    @property
    def n_links(self) -> int:
        """Number of undirected links (node pairs joined by at least one walkable edge)."""
        return int(self.adjacency.nnz // 2)

    @property
    def total_length_m(self) -> float:
        """Total length of the undirected links in metres."""
        return float(self.adjacency.sum() / 2.0)

    def components(self) -> np.ndarray:
        """Connected-component label ``(n,)`` of every node (0 = the largest component)."""
        _, labels = connected_components(self.adjacency, directed=False)
        counts = np.bincount(labels)
        rank = np.empty_like(counts)
        rank[np.argsort(-counts, kind="stable")] = np.arange(len(counts))
        return rank[labels]


@dataclass(frozen=True, eq=False)
class Snap:
    """Nearest network node of each point.

    Parameters
    ----------
    node
        Index ``(n,)`` into :attr:`WalkingNetwork.node_ids` of the nearest node.
    distance_m
        Straight-line distance ``(n,)`` from the point to that node, in metres.
    """

    node: np.ndarray
    distance_m: np.ndarray


@dataclass(frozen=True, eq=False)
class NetworkPairs:
    """All (origin, target) pairs within a walking cutoff, sorted by origin then target.

    Parameters
    ----------
    origin_index, target_index, distance_m
        The pairs: indices into the origin and target point arrays and the walking
        distance ``snap(origin) + path + snap(target)`` in metres (``<= cutoff_m``).
    origin_node, origin_snap_m
        Nearest node and snap distance of every origin ``(n_origins,)``.
    target_node, target_snap_m
        Nearest node and snap distance of every target ``(n_targets,)``.
    far_origins, far_targets
        Indices of points whose snap distance exceeds ``max_snap_m``; they get no pairs.
    cutoff_m, max_snap_m
        The options the pairs were computed with.
    from_cache
        True when the pairs were read from the disk cache instead of computed.
    """

    origin_index: np.ndarray
    target_index: np.ndarray
    distance_m: np.ndarray
    origin_node: np.ndarray
    origin_snap_m: np.ndarray
    target_node: np.ndarray
    target_snap_m: np.ndarray
    far_origins: np.ndarray
    far_targets: np.ndarray
    cutoff_m: float
    max_snap_m: float | None = None
    from_cache: bool = False

    @property
    def n_pairs(self) -> int:
        """Number of pairs."""
        return len(self.origin_index)

    def to_distance_pairs(self) -> DistancePairs:
        """The pairs as :class:`~optimizer.instance.DistancePairs` (origins = demand units).

        Targets must be numbered as ``DistancePairs`` expects: candidate sites first, then
        existing facilities.
        """
        return DistancePairs(
            demand_index=self.origin_index, target_index=self.target_index,
            distance_m=self.distance_m,
        )


# ---------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------


def radius_from_minutes(
    minutes: float, *, speed_m_per_min: float = DEFAULT_WALK_SPEED_M_PER_MIN
) -> float:
    """Walking distance in metres covered in ``minutes``.

    Parameters
    ----------
    minutes
        Walking time in minutes (``>= 0``).
    speed_m_per_min
        Walking speed in metres per minute (``> 0``); the default 60 m/min (3.6 km/h)
        gives 300 m for 5 minutes and 900 m for 15 minutes, in line with the 300 / 500 /
        800-1000 m radii of the 5-, 10- and 15-minute life circles of GB 50180-2018.

    Returns
    -------
    float
        ``minutes * speed_m_per_min``.

    Raises
    ------
    ValueError
        If ``minutes`` is negative or not finite, or the speed is not positive.
    """
    minutes = float(minutes)
    speed = float(speed_m_per_min)
    if not np.isfinite(minutes) or minutes < 0:
        raise ValueError(f"minutes must be a finite number >= 0, got {minutes!r}")
    if not np.isfinite(speed) or speed <= 0:
        raise ValueError(f"speed_m_per_min must be a finite number > 0, got {speed!r}")
    return minutes * speed


def _tag_values(value: Any) -> tuple[str, ...]:
    """Parse an OSM tag as stored by OSMnx: ``"footway"``, ``"['steps', 'footway']"``,
    ``"footway;steps"``, a list, or missing."""
    if value is None:
        return ()
    if isinstance(value, float) and np.isnan(value):
        return ()
    if isinstance(value, list | tuple | set | np.ndarray):
        items: Iterable[Any] = value
    else:
        text = str(value).strip()
        if not text:
            return ()
        items = [text]
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                parsed = text[1:-1].split(",")
            items = parsed if isinstance(parsed, list | tuple) else [parsed]
    out: list[str] = []
    for item in items:
        for part in str(item).split(";"):
            part = part.strip().strip("'\"").strip().lower()
            if part:
                out.append(part)
    return tuple(out)


def _drop_reason(
    highway: Any, foot: Any, access: Any, excluded: frozenset[str]
) -> str | None:
    """Why an edge is not walkable (``"highway"``, ``"foot"``, ``"access"``) or None.

    An OSMnx edge merged from several ways carries a list of values; the edge is dropped
    when any of its ``highway`` values is excluded (a walk along it would use that road),
    when any ``foot`` value is ``no``, or when any ``access`` value is ``no``/``private``
    and no ``foot`` value allows walking.
    """
    if excluded and any(h in excluded for h in _tag_values(highway)):
        return "highway"
    foot_values = _tag_values(foot)
    if "no" in foot_values:
        return "foot"
    if any(a in ACCESS_BLOCKED for a in _tag_values(access)) and not any(
        f in FOOT_ALLOWED for f in foot_values
    ):
        return "access"
    return None


def _check_metric_crs(crs: str, file: str) -> str:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        parsed = CRS.from_user_input(crs)
    except CRSError as exc:
        raise InputError([Problem(f"unknown CRS {crs!r}: {exc}", file=file)]) from exc
    if parsed.is_geographic:
        raise InputError([Problem(
            f"target CRS {crs!r} is geographic (degrees); network distances need a metric "
            "CRS such as a UTM zone (e.g. EPSG:32650)", file=file,
        )])
    return crs


def _source_crs(
    declared: str | None, x: np.ndarray, y: np.ndarray, file: str, fallback: str | None
) -> str:
    """CRS of the file's coordinates: declared, else ``fallback``, else WGS84 if degrees."""
    from optimizer.data.projection import WGS84, looks_like_degrees

    if declared:
        return declared
    if fallback:
        return fallback
    if looks_like_degrees(np.asarray(x, float), np.asarray(y, float)):
        return WGS84
    raise InputError([Problem(
        "the file declares no CRS and its coordinates are not longitude/latitude; "
        "pass source_crs=...", file=file,
    )])


def _transformer(source: str, target: str) -> Any:
    from pyproj import CRS, Transformer

    return Transformer.from_crs(
        CRS.from_user_input(source), CRS.from_user_input(target), always_xy=True
    )


def _list_problem_rows(
    rows: np.ndarray, message: str, file: str, column: str | None = None
) -> list[Problem]:
    problems = [Problem(message, file=file, row=int(r), column=column)
                for r in rows[:_MAX_LISTED]]
    if len(rows) > _MAX_LISTED:
        problems.append(Problem(f"... and {len(rows) - _MAX_LISTED} more rows: {message}",
                                file=file, column=column))
    return problems


def _build_network(
    u: np.ndarray,
    v: np.ndarray,
    length: np.ndarray,
    node_ids: np.ndarray,
    node_xy: np.ndarray,
    *,
    crs: str,
    n_read: int,
    dropped: Mapping[str, int],
    source: str,
) -> WalkingNetwork:
    """Undirected network from kept edge records ``u - v`` (node indices), lengths in m."""
    not_loop = u != v
    a = np.minimum(u, v)[not_loop]
    b = np.maximum(u, v)[not_loop]
    w = length[not_loop]
    n_kept = int(n_read) - int(sum(dropped.values()))
    if len(a) == 0:
        raise InputError([Problem(
            "no walkable edges between distinct nodes remain after filtering", file=source,
        )])
    # Shortest of parallel / antiparallel edges: sort by (a, b, w), keep the first of a run.
    order = np.lexsort((w, b, a))
    a, b, w = a[order], b[order], w[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    a, b, w = a[first], b[first], w[first]
    # Keep only nodes touched by a link; renumber.
    used = np.unique(np.concatenate([a, b]))
    remap = np.full(len(node_ids), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    a, b = remap[a], remap[b]
    n = len(used)
    rows = np.concatenate([a, b])
    cols = np.concatenate([b, a])
    data = np.concatenate([w, w]).astype(float)
    order = np.lexsort((cols, rows))
    rows, cols, data = rows[order], cols[order], data[order]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    # Built from (data, indices, indptr) so that explicit zeros (zero-length edges) stay.
    adjacency = sparse.csr_matrix((data, cols, indptr), shape=(n, n))
    return WalkingNetwork(
        node_ids=node_ids[used],
        node_xy=np.ascontiguousarray(node_xy[used], dtype=float),
        adjacency=adjacency,
        crs=crs,
        n_edges_read=int(n_read),
        n_edges_kept=int(n_kept),
        n_edges_dropped=int(sum(dropped.values())),
        dropped_by_reason=dict(dropped),
        source=source,
    )


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


@single_line_problems
def load_network(
    path: str | os.PathLike[str],
    *,
    crs: str,
    exclude_highways: Iterable[str] = DEFAULT_EXCLUDED,
    encoding: str | None = None,
    layer: str | None = None,
    source_crs: str | None = None,
) -> WalkingNetwork:
    """Read a street network and keep its walkable, undirected part in a metric CRS.

    Parameters
    ----------
    path
        An OSMnx-style GraphML file (``.graphml``; node attributes ``x``, ``y``; edge
        attributes ``length`` in metres, ``highway``, ``foot``, ``access``, optionally
        ``geometry`` as WKT), or a vector file of street edges readable by pyogrio
        (GeoPackage, GeoJSON, Shapefile, ...) with LineString / MultiLineString geometry
        and optional ``length``, ``highway``, ``foot``, ``access`` columns. For a vector
        file the nodes are the edge endpoints, rounded to 1 cm in the metric CRS; a
        GeoPackage with several layers is read from ``layer``, else from its ``edges``
        layer (as written by OSMnx), else from its first layer.
    crs
        Target metric CRS of the node coordinates (for example ``"EPSG:32650"``).
    exclude_highways
        ``highway`` values to drop (default: motorway, trunk and their links). An edge
        whose merged ``highway`` list contains one of them is dropped.
    encoding
        Attribute encoding of a vector file (for example ``"gb18030"`` for a Shapefile
        without ``.cpg``); GraphML declares its own encoding, so it is ignored there.
    layer
        Layer of a multi-layer vector file to read (ignored for GraphML).
    source_crs
        CRS of the file's coordinates when the file declares none. Without it, such
        coordinates must look like longitude/latitude (then WGS84 is assumed).

    Returns
    -------
    WalkingNetwork
        The walkable network.

    Raises
    ------
    InputError
        If the file is missing or unreadable, has no edges, has an edge without a usable
        length (no ``length`` and no geometry, or a negative / non-numeric one), has no
        usable coordinates, if every edge is dropped as not walkable, or if ``crs`` is not
        a metric CRS.

    Notes
    -----
    Rules for walkability: ``highway`` in ``exclude_highways`` drops the edge; ``foot=no``
    drops it; ``access=no`` or ``access=private`` drops it unless ``foot`` is ``yes``,
    ``designated`` or ``permissive``. The graph is undirected (walking ignores
    ``oneway``); of parallel or antiparallel edges the shortest is kept. Self-loops are
    ignored, and nodes left without any walkable edge are removed.
    """
    file = str(path)
    p = Path(path)
    if not p.exists():
        raise InputError([Problem("network file not found", file=file)])
    if not p.is_file():
        raise InputError([Problem("network path is not a file", file=file)])
    _check_metric_crs(crs, file)
    excluded = frozenset(str(h).strip().lower() for h in exclude_highways)
    if p.suffix.lower() in GRAPHML_SUFFIXES:
        network = _load_graphml(p, crs=crs, excluded=excluded, source_crs=source_crs)
    else:
        network = _load_vector(p, crs=crs, excluded=excluded, encoding=encoding, layer=layer,
                               source_crs=source_crs)
    return replace(
        network, source_sha256=_file_digest(p), exclude_highways=excluded,
        encoding=encoding, layer=layer, source_crs=source_crs,
    )


def _load_graphml(
    path: Path, *, crs: str, excluded: frozenset[str], source_crs: str | None
) -> WalkingNetwork:
    import xml.etree.ElementTree as ET

    import networkx as nx

    file = str(path)
    _refuse_doctype(path, file)
    try:
        graph = nx.read_graphml(path)
    except (ET.ParseError, nx.NetworkXError, UnicodeDecodeError, ValueError,
            KeyError, OSError) as exc:
        raise InputError([Problem(f"cannot read GraphML: {exc}", file=file)]) from exc

    n_read = graph.number_of_edges()
    if n_read == 0:
        raise InputError([Problem("the network has no edges", file=file)])

    node_ids = np.array([str(n) for n in graph.nodes], dtype=object)
    index = {n: i for i, n in enumerate(graph.nodes)}
    x = np.full(len(node_ids), np.nan)
    y = np.full(len(node_ids), np.nan)
    bad_nodes: list[str] = []
    for i, (_, data) in enumerate(graph.nodes(data=True)):
        try:
            x[i] = float(data["x"])
            y[i] = float(data["y"])
        except (KeyError, TypeError, ValueError):
            bad_nodes.append(str(node_ids[i]))
    if bad_nodes:
        more = f" (and {len(bad_nodes) - _MAX_LISTED} more)" if len(bad_nodes) > _MAX_LISTED \
            else ""
        raise InputError([Problem(
            f"{len(bad_nodes)} nodes lack numeric 'x'/'y' coordinates: "
            f"{', '.join(bad_nodes[:_MAX_LISTED])}{more}", file=file, column="x/y",
        )])

    declared = graph.graph.get("crs")
    src = _source_crs(str(declared) if declared else None, x, y, file, source_crs)
    transformer = _transformer(src, crs)
    px, py = transformer.transform(x, y)
    node_xy = np.column_stack([px, py])
    if not np.isfinite(node_xy).all():
        raise InputError([Problem(
            f"node coordinates cannot be projected from {src} to {crs}", file=file,
        )])

    dropped = {"highway": 0, "foot": 0, "access": 0}
    us: list[int] = []
    vs: list[int] = []
    lengths: list[float] = []
    no_length: list[str] = []
    bad_length: list[str] = []
    for u, v, data in graph.edges(data=True):
        reason = _drop_reason(data.get("highway"), data.get("foot"), data.get("access"),
                              excluded)
        if reason is not None:
            dropped[reason] += 1
            continue
        raw = data.get("length")
        length: float | None = None
        if raw is not None and str(raw).strip() != "":
            try:
                length = float(raw)
            except (TypeError, ValueError):
                bad_length.append(f"{u}-{v} ({raw!r})")
                continue
            if not np.isfinite(length) or length < 0:
                bad_length.append(f"{u}-{v} ({raw!r})")
                continue
        else:
            wkt = data.get("geometry")
            if wkt:
                length = _wkt_length(str(wkt), transformer)
            if length is None:
                no_length.append(f"{u}-{v}")
                continue
        us.append(index[u])
        vs.append(index[v])
        lengths.append(length)

    problems: list[Problem] = []
    if no_length:
        problems.append(Problem(
            f"{len(no_length)} edges have no length and no geometry, e.g. "
            f"{', '.join(no_length[:_MAX_LISTED])}", file=file, column="length",
        ))
    if bad_length:
        problems.append(Problem(
            f"{len(bad_length)} edges have a length that is not a number >= 0, e.g. "
            f"{', '.join(bad_length[:_MAX_LISTED])}", file=file, column="length",
        ))
    if problems:
        raise InputError(problems)
    if not us:
        raise InputError([Problem(
            f"all {n_read} edges were dropped as not walkable ({_reasons(dropped)})",
            file=file, column="highway",
        )])
    return _build_network(
        np.asarray(us, dtype=np.int64), np.asarray(vs, dtype=np.int64),
        np.asarray(lengths, dtype=float), node_ids, node_xy,
        crs=crs, n_read=n_read, dropped=dropped, source=file,
    )


class _PrologEndedError(Exception):
    """The prolog ended without a DOCTYPE."""


def _refuse_doctype(path: Path, file: str) -> None:
    """Refuse a DOCTYPE before the GraphML is parsed: GraphML needs no DTD, and a DTD's
    ENTITY declarations can expand a small file into gigabytes ("billion laughs") or pull
    in local files (external entities), whatever limits the XML parser has. Only the prolog
    (up to the root element) is read, in the document's own encoding."""
    from xml.parsers import expat

    def doctype(*_args: object) -> None:
        raise InputError([Problem("cannot read GraphML: DOCTYPE and ENTITY declarations are "
                                  "not allowed (GraphML needs none)", file=file)])

    def root(*_args: object) -> None:
        raise _PrologEndedError

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    parser.StartElementHandler = root
    try:
        with open(path, "rb") as handle:
            parser.ParseFile(handle)
    except InputError:
        raise
    except (_PrologEndedError, expat.ExpatError, OSError, ValueError):
        pass  # a root element, or a file the GraphML reader reports on below


def _wkt_length(wkt: str, transformer: Any) -> float | None:
    """Length in metres of a WKT line given in the source CRS, or None if unusable."""
    import shapely
    from shapely.errors import GEOSException

    try:
        geom = shapely.from_wkt(wkt)
    except (GEOSException, ValueError):
        return None
    if geom is None or geom.is_empty:
        return None
    projected = shapely.transform(
        geom, lambda c: np.column_stack(transformer.transform(c[:, 0], c[:, 1]))
    )
    length = float(projected.length)
    return length if np.isfinite(length) else None


def _reasons(dropped: Mapping[str, int]) -> str:
    parts = [f"{k}: {v}" for k, v in dropped.items() if v]
    return ", ".join(parts) if parts else "none"


def _column(frame: Any, name: str) -> str | None:
    """The frame's column called ``name``, case-insensitively."""
    for col in frame.columns:
        if str(col).lower() == name:
            return str(col)
    return None


def _load_vector(
    path: Path,
    *,
    crs: str,
    excluded: frozenset[str],
    encoding: str | None,
    layer: str | None,
    source_crs: str | None,
) -> WalkingNetwork:
    import pandas as pd
    import pyogrio
    import shapely

    file = str(path)
    try:
        if layer is None:
            layers = pyogrio.list_layers(path)
            if len(layers) > 1:
                names = [str(name) for name in layers[:, 0]]
                layer = "edges" if "edges" in names else names[0]
        frame = pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
    except Exception as exc:  # pyogrio / GDAL raise several unrelated error types
        raise InputError([Problem(f"cannot read street edges: {exc}", file=file)]) from exc
    if not hasattr(frame, "geometry"):
        raise InputError([Problem("the file has no geometry column", file=file)])

    n_read = len(frame)
    if n_read == 0:
        raise InputError([Problem("the network has no edges", file=file)])

    geoms = frame.geometry.to_numpy()
    missing_geom = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    type_ids = shapely.get_type_id(geoms)
    lines = np.isin(type_ids, [1, 2, 5])  # LineString, LinearRing, MultiLineString
    problems: list[Problem] = []
    length_col = _column(frame, "length")
    raw_length = np.full(n_read, np.nan)
    if length_col is not None:
        raw_length = pd.to_numeric(frame[length_col], errors="coerce").to_numpy(float)
        given = frame[length_col].notna().to_numpy()
        bad = given & (~np.isfinite(raw_length) | (raw_length < 0))
        problems += _list_problem_rows(np.flatnonzero(bad) + 1,
                                       "length is not a number >= 0", file, length_col)
    if missing_geom.any():
        message = ("edge has no length and no geometry" if length_col is None
                   else "edge has no geometry, so its endpoints are unknown")
        problems += _list_problem_rows(np.flatnonzero(missing_geom) + 1, message, file,
                                       "geometry")
    wrong_type = ~missing_geom & ~lines
    if wrong_type.any():
        problems += _list_problem_rows(np.flatnonzero(wrong_type) + 1,
                                       "geometry is not a LineString", file, "geometry")
    if problems:
        raise InputError(problems)

    # Walkability filter on the attribute columns.
    cols = {name: _column(frame, name) for name in ("highway", "foot", "access")}
    values = {name: (frame[col].to_numpy(object) if col else np.full(n_read, None, object))
              for name, col in cols.items()}
    dropped = {"highway": 0, "foot": 0, "access": 0}
    keep = np.ones(n_read, dtype=bool)
    for i in range(n_read):
        reason = _drop_reason(values["highway"][i], values["foot"][i], values["access"][i],
                              excluded)
        if reason is not None:
            dropped[reason] += 1
            keep[i] = False
    if not keep.any():
        raise InputError([Problem(
            f"all {n_read} edges were dropped as not walkable ({_reasons(dropped)})",
            file=file, column="highway",
        )])

    # Project to the metric CRS.
    declared = frame.crs.to_string() if frame.crs is not None else None
    bounds = shapely.bounds(geoms[keep])
    src = _source_crs(declared, bounds[:, [0, 2]].ravel(), bounds[:, [1, 3]].ravel(), file,
                      source_crs)
    transformer = _transformer(src, crs)
    kept_geoms = shapely.transform(
        geoms[keep], lambda c: np.column_stack(transformer.transform(c[:, 0], c[:, 1]))
    )
    kept_length = raw_length[keep]

    # Merge MultiLineStrings where their parts join; split the rest into parts.
    merged = np.array([shapely.line_merge(g) if shapely.get_type_id(g) == 5 else g
                       for g in kept_geoms], dtype=object)
    parts, owner = shapely.get_parts(merged, return_index=True)
    part_len = shapely.length(parts)
    total_len = np.bincount(owner, weights=part_len, minlength=len(merged))
    given = np.isfinite(kept_length)
    # A supplied length applies to the whole feature; split it over parts pro rata.
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(given & (total_len > 0), kept_length / total_len, 1.0)
    lengths = np.where(given[owner] & (total_len[owner] == 0), kept_length[owner],
                       part_len * scale[owner])
    if not np.isfinite(lengths).all():
        raise InputError([Problem("some edges have a geometry that cannot be projected to "
                                  f"{crs}", file=file, column="geometry")])

    start = np.round(shapely.get_coordinates(shapely.get_point(parts, 0)), NODE_DECIMALS)
    end = np.round(shapely.get_coordinates(shapely.get_point(parts, -1)), NODE_DECIMALS)
    ends = np.vstack([start, end])
    node_xy, inverse = np.unique(ends, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    u, v = inverse[: len(parts)], inverse[len(parts):]
    node_ids = np.arange(len(node_xy), dtype=np.int64)
    return _build_network(
        u.astype(np.int64), v.astype(np.int64), lengths, node_ids, node_xy,
        crs=crs, n_read=n_read, dropped=dropped, source=file,
    )


# ---------------------------------------------------------------------------------------
# Snapping and pairs
# ---------------------------------------------------------------------------------------


def _as_xy(xy: Any, name: str) -> np.ndarray:
    arr = np.asarray(xy, dtype=float)
    if arr.size == 0:
        return np.empty((0, 2))
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite coordinates")
    return arr


def snap_points(network: WalkingNetwork, xy: Any) -> Snap:
    """Snap points to their nearest network node.

    Parameters
    ----------
    network
        The walking network.
    xy
        Point coordinates ``(n, 2)`` in the network's metric CRS.

    Returns
    -------
    Snap
        Nearest node index and straight-line distance to it, in metres.
    """
    points = _as_xy(xy, "xy")
    if len(points) == 0:
        return Snap(node=np.empty(0, dtype=np.int64), distance_m=np.empty(0))
    distance, node = cKDTree(network.node_xy).query(points, k=1)
    return Snap(node=np.asarray(node, dtype=np.int64), distance_m=np.asarray(distance, float))


def _group(nodes: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points grouped by node: order (point indices sorted by node), start and count."""
    order = np.argsort(nodes, kind="stable")
    count = np.bincount(nodes, minlength=n_nodes)
    start = np.zeros(n_nodes, dtype=np.int64)
    np.cumsum(count[:-1], out=start[1:])
    return order, start, count


def _expand(
    src_node: np.ndarray,
    dst_node: np.ndarray,
    src_group: tuple[np.ndarray, np.ndarray, np.ndarray],
    dst_group: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (src point, dst point) combinations of node pairs; returns points and pair id."""
    s_order, s_start, s_count = src_group
    d_order, d_start, d_count = dst_group
    ns = s_count[src_node]
    nd = d_count[dst_node]
    size = ns * nd
    total = int(size.sum())
    pair = np.repeat(np.arange(len(src_node)), size)
    offset = np.zeros(len(size), dtype=np.int64)
    np.cumsum(size[:-1], out=offset[1:])
    q = np.arange(total, dtype=np.int64) - offset[pair]
    nd_rep = nd[pair]
    si = s_order[s_start[src_node[pair]] + q // nd_rep]
    di = d_order[d_start[dst_node[pair]] + q % nd_rep]
    return si, di, pair


def network_pairs(
    network: WalkingNetwork,
    origins_xy: Any,
    targets_xy: Any,
    *,
    cutoff_m: float,
    max_snap_m: float | None = None,
    chunk_size: int | None = None,
) -> NetworkPairs:
    """Every (origin, target) pair within a walking distance.

    Parameters
    ----------
    network
        The walking network.
    origins_xy, targets_xy
        Point coordinates ``(n, 2)`` in the network's metric CRS (for example demand
        units and facilities).
    cutoff_m
        Keep pairs with ``snap(origin) + path + snap(target) <= cutoff_m`` (inclusive);
        ``numpy.inf`` keeps every connected pair.
    max_snap_m
        Points farther than this from their nearest node are *far*: listed in
        ``far_origins`` / ``far_targets`` and given no pairs. None: no limit.
    chunk_size
        Dijkstra sources per block; by default as many as keep one block (sources x
        nodes) within :data:`MAX_CHUNK_FLOATS` floats.

    Returns
    -------
    NetworkPairs
        The pairs, sorted by origin then target, with per-point snaps.

    Raises
    ------
    ValueError
        If a coordinate array is not ``(n, 2)`` or not finite, ``cutoff_m`` or
        ``max_snap_m`` is negative or NaN, or ``chunk_size`` is below 1.

    Notes
    -----
    Dijkstra runs from the distinct nodes of the side (origins or targets) with fewer of
    them, limited to the cutoff; each result block is turned into sparse pairs at once,
    so memory stays bounded by one block plus the pairs. Points sharing a node all get
    their pairs.
    """
    cutoff = float(cutoff_m)
    if np.isnan(cutoff) or cutoff < 0:
        raise ValueError(f"cutoff_m must be >= 0, got {cutoff_m!r}")
    if max_snap_m is not None and (np.isnan(float(max_snap_m)) or float(max_snap_m) < 0):
        raise ValueError(f"max_snap_m must be >= 0 or None, got {max_snap_m!r}")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
    origins = _as_xy(origins_xy, "origins_xy")
    targets = _as_xy(targets_xy, "targets_xy")
    o_snap = snap_points(network, origins)
    t_snap = snap_points(network, targets)

    def far(snap: Snap) -> np.ndarray:
        if max_snap_m is None:
            return np.zeros(len(snap.node), dtype=bool)
        return snap.distance_m > float(max_snap_m)

    o_far, t_far = far(o_snap), far(t_snap)
    o_ok = np.flatnonzero(~o_far & (o_snap.distance_m <= cutoff))
    t_ok = np.flatnonzero(~t_far & (t_snap.distance_m <= cutoff))
    empty_i = np.empty(0, dtype=np.int64)
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    if len(o_ok) and len(t_ok):
        n = network.n_nodes
        o_nodes, t_nodes = o_snap.node[o_ok], t_snap.node[t_ok]
        o_snaps, t_snaps = o_snap.distance_m[o_ok], t_snap.distance_m[t_ok]
        uo, ut = np.unique(o_nodes), np.unique(t_nodes)
        from_targets = len(ut) <= len(uo)
        # "src" is the side Dijkstra starts from; "dst" the other one.
        if from_targets:
            src_nodes, dst_nodes, src_snaps, dst_snaps = t_nodes, o_nodes, t_snaps, o_snaps
            src_unique = ut
        else:
            src_nodes, dst_nodes, src_snaps, dst_snaps = o_nodes, t_nodes, o_snaps, t_snaps
            src_unique = uo
        src_group = _group(src_nodes, n)
        dst_group = _group(dst_nodes, n)
        src_min = np.full(n, np.inf)
        np.minimum.at(src_min, src_nodes, src_snaps)
        dst_min = np.full(n, np.inf)
        np.minimum.at(dst_min, dst_nodes, dst_snaps)
        is_dst = np.zeros(n, dtype=bool)
        is_dst[dst_nodes] = True
        # Bounds padded so that float rounding never cuts a pair at the cutoff; the exact
        # test (total <= cutoff) comes last.
        padded = cutoff * (1 + 1e-9) + 1e-9
        limit = padded - src_snaps.min() - dst_snaps.min()
        chunk = chunk_size or max(1, MAX_CHUNK_FLOATS // max(n, 1))
        for begin in range(0, len(src_unique), chunk):
            sources = src_unique[begin:begin + chunk]
            dist = dijkstra(network.adjacency, directed=False, indices=sources, limit=limit)
            reach = np.isfinite(dist)
            reach &= is_dst[np.newaxis, :]
            row, dst_node = np.nonzero(reach)
            del reach
            path = dist[row, dst_node]
            del dist
            src_node = sources[row]
            ok = src_min[src_node] + path + dst_min[dst_node] <= padded
            src_node, dst_node, path = src_node[ok], dst_node[ok], path[ok]
            # Expand node pairs to point pairs in batches of bounded size.
            size = src_group[2][src_node] * dst_group[2][dst_node]
            ends = np.cumsum(size)
            begin_pair = 0
            while begin_pair < len(size):
                done = ends[begin_pair - 1] if begin_pair else 0
                end_pair = int(np.searchsorted(ends, done + MAX_EXPAND_PAIRS, side="right"))
                end_pair = max(end_pair, begin_pair + 1)
                batch = slice(begin_pair, end_pair)
                si, di, pair = _expand(src_node[batch], dst_node[batch], src_group, dst_group)
                oi, ti = (di, si) if from_targets else (si, di)
                total = o_snaps[oi] + path[batch][pair] + t_snaps[ti]
                keep = total <= cutoff
                pieces.append((o_ok[oi[keep]], t_ok[ti[keep]], total[keep]))
                begin_pair = end_pair

    if pieces:
        oi = np.concatenate([p[0] for p in pieces])
        ti = np.concatenate([p[1] for p in pieces])
        dd = np.concatenate([p[2] for p in pieces])
        # Each (origin, target) occurs once, so one integer key sorts them deterministically
        # (and several times faster than lexsort).
        order = np.argsort(oi * max(len(targets), 1) + ti)
        oi, ti, dd = oi[order], ti[order], dd[order]
    else:
        oi, ti, dd = empty_i, empty_i.copy(), np.empty(0)
    return NetworkPairs(
        origin_index=oi.astype(np.int64),
        target_index=ti.astype(np.int64),
        distance_m=dd.astype(float),
        origin_node=o_snap.node,
        origin_snap_m=o_snap.distance_m,
        target_node=t_snap.node,
        target_snap_m=t_snap.distance_m,
        far_origins=np.flatnonzero(o_far).astype(np.int64),
        far_targets=np.flatnonzero(t_far).astype(np.int64),
        cutoff_m=cutoff,
        max_snap_m=None if max_snap_m is None else float(max_snap_m),
    )


# ---------------------------------------------------------------------------------------
# Disk cache
# ---------------------------------------------------------------------------------------

_PAIR_ARRAYS = ("origin_index", "target_index", "distance_m", "origin_node", "origin_snap_m",
                "target_node", "target_snap_m", "far_origins", "far_targets")

_SHAPEFILE_SIDECARS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def default_cache_dir() -> Path:
    """``$LIFECIRCLE_CACHE_DIR`` if set, else ``~/.cache/lifecircle``."""
    env = os.environ.get("LIFECIRCLE_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lifecircle"


def _file_digest(path: Path) -> str:
    """SHA-256 of the file's content (and of a Shapefile's sidecar files)."""
    files = [path]
    if path.suffix.lower() == ".shp":
        files = [s for s in (path.with_suffix(ext) for ext in _SHAPEFILE_SIDECARS)
                 if s.exists()]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.suffix.lower().encode())
        with f.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def cache_key(
    network_path: str | os.PathLike[str] | None,
    origins_xy: Any,
    targets_xy: Any,
    *,
    crs: str,
    cutoff_m: float,
    max_snap_m: float | None = None,
    exclude_highways: Iterable[str] = DEFAULT_EXCLUDED,
    encoding: str | None = None,
    layer: str | None = None,
    source_crs: str | None = None,
    file_sha256: str | None = None,
) -> str:
    """Hex SHA-256 identifying a :func:`cached_network_pairs` computation.

    It covers the network file's content (not its name, size or time), the coordinate
    arrays' bytes and shapes, and every option that changes the result. ``file_sha256``
    (the content hash recorded by :func:`load_network`) saves re-reading the file.
    """
    if file_sha256 is None:
        if network_path is None:
            raise ValueError("cache_key needs network_path or file_sha256")
        file_sha256 = _file_digest(Path(network_path))
    digest = hashlib.sha256()
    meta = {
        "format": CACHE_FORMAT,
        "file": file_sha256,
        "crs": crs,
        "cutoff_m": repr(float(cutoff_m)),
        "max_snap_m": None if max_snap_m is None else repr(float(max_snap_m)),
        "exclude_highways": sorted({str(h).strip().lower() for h in exclude_highways}),
        "encoding": encoding,
        "layer": layer,
        "source_crs": source_crs,
    }
    digest.update(json.dumps(meta, sort_keys=True).encode())
    for arr in (_as_xy(origins_xy, "origins_xy"), _as_xy(targets_xy, "targets_xy")):
        arr = np.ascontiguousarray(arr, dtype="<f8")
        digest.update(repr(arr.shape).encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def _read_entry(entry: Path) -> NetworkPairs | None:
    """A cached result, or None if the entry is missing or damaged."""
    if not entry.is_file():
        return None
    try:
        with np.load(entry, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in _PAIR_ARRAYS}
            max_snap = float(stored["max_snap_m"])
            cutoff = float(stored["cutoff_m"])
    except (OSError, KeyError, ValueError, EOFError):
        return None
    return NetworkPairs(**arrays, cutoff_m=cutoff,
                        max_snap_m=None if np.isnan(max_snap) else max_snap, from_cache=True)


def _write_entry(entry: Path, pairs: NetworkPairs) -> None:
    """Write atomically (temporary file + rename), so readers never see half an entry."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".network-pairs-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(
                out, **{name: getattr(pairs, name) for name in _PAIR_ARRAYS},
                cutoff_m=np.float64(pairs.cutoff_m),
                max_snap_m=np.float64(np.nan if pairs.max_snap_m is None
                                      else pairs.max_snap_m),
            )
        os.replace(tmp, entry)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cached_network_pairs(
    network_path: str | os.PathLike[str],
    network: WalkingNetwork | None,
    origins_xy: Any,
    targets_xy: Any,
    *,
    cutoff_m: float,
    max_snap_m: float | None = None,
    crs: str | None = None,
    exclude_highways: Iterable[str] = DEFAULT_EXCLUDED,
    encoding: str | None = None,
    layer: str | None = None,
    source_crs: str | None = None,
    cache_dir: str | os.PathLike[str] | Literal[False] | None = None,
) -> NetworkPairs:
    """:func:`network_pairs` on a network file, memoised on disk.

    Parameters
    ----------
    network_path
        The network file (see :func:`load_network`).
    network
        The network already loaded from ``network_path``, or None to load it only when
        the cache has no entry (then ``crs`` is required). When given, its CRS, load
        options and recorded content hash are used, and ``crs``, ``exclude_highways``,
        ``encoding``, ``layer`` and ``source_crs`` must be left at their defaults.
    origins_xy, targets_xy
        Point coordinates ``(n, 2)`` in the metric CRS.
    cutoff_m, max_snap_m
        As in :func:`network_pairs`.
    crs, exclude_highways, encoding, layer, source_crs
        As in :func:`load_network`, when ``network`` is None.
    cache_dir
        Where the ``.npz`` entries live; None: :func:`default_cache_dir`
        (``$LIFECIRCLE_CACHE_DIR`` or ``~/.cache/lifecircle``); False: no caching.

    Returns
    -------
    NetworkPairs
        With ``from_cache=True`` when read from the cache. A damaged entry is recomputed
        and overwritten.

    Notes
    -----
    The key (:func:`cache_key`) hashes the file's content, the coordinates' bytes, the
    cutoff, ``max_snap_m``, the excluded highways, the CRS and the other load options.
    """
    path = Path(network_path)
    if network is None:
        if crs is None:
            raise ValueError("cached_network_pairs needs crs=... when network is None")
        if not path.is_file():
            raise InputError([Problem("network file not found", file=str(network_path))])
        options: dict[str, Any] = {
            "crs": crs, "exclude_highways": frozenset(
                str(h).strip().lower() for h in exclude_highways),
            "encoding": encoding, "layer": layer, "source_crs": source_crs,
        }
        file_sha256 = None
    else:
        given = (crs, encoding, layer, source_crs)
        if any(v is not None for v in given) or exclude_highways is not DEFAULT_EXCLUDED:
            raise ValueError("pass load options either through network or as keywords, "
                             "not both")
        options = {"crs": network.crs, "exclude_highways": network.exclude_highways,
                   "encoding": network.encoding, "layer": network.layer,
                   "source_crs": network.source_crs}
        file_sha256 = network.source_sha256

    def compute(net: WalkingNetwork | None) -> NetworkPairs:
        if net is None:
            net = load_network(path, **options)
        return network_pairs(net, origins_xy, targets_xy, cutoff_m=cutoff_m,
                             max_snap_m=max_snap_m)

    if cache_dir is False:
        return compute(network)
    key = cache_key(path, origins_xy, targets_xy, cutoff_m=cutoff_m, max_snap_m=max_snap_m,
                    file_sha256=file_sha256, **options)
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entry = directory / f"network-pairs-{key}.npz"
    cached = _read_entry(entry)
    if cached is not None:
        return cached
    pairs = compute(network)
    try:
        _write_entry(entry, pairs)
    except OSError as exc:  # a cache that cannot be written must not stop the run
        warnings.warn(f"could not write the network cache {entry}: {exc}", RuntimeWarning,
                      stacklevel=2)
    return pairs
