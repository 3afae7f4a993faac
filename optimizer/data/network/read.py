"""Reading street networks (OSMnx-style GraphML, vector files of edges) into a metric CRS."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from optimizer.data.io import single_line_problems
from optimizer.data.network.clean import _build_network, _drop_reason, _reasons
from optimizer.data.network.graph import DEFAULT_EXCLUDED, WalkingNetwork
from optimizer.errors import InputError, Problem

NODE_DECIMALS = 2
"""Endpoints of vector-file edges are rounded to this many decimals of a metre (1 cm)
before being matched into nodes."""


GRAPHML_SUFFIXES = frozenset({".graphml", ".xml"})


_MAX_LISTED = 10  # rows listed individually in an error before "and N more"


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


def _graphml_nodes(graph: Any, file: str) -> tuple[np.ndarray, dict, np.ndarray, np.ndarray]:
    """The GraphML nodes' ids, index by node, and x and y as read (one problem if any lack them)."""
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
    return node_ids, index, x, y


def _graphml_edges(
    graph: Any, index: dict, transformer: Any, excluded: frozenset[str], file: str
) -> tuple[list[int], list[int], list[float], dict[str, int]]:
    """The walkable GraphML edges (node indices, lengths) and the counts dropped by reason.

    An edge's length is its ``length`` attribute, else the length of its WKT ``geometry``
    in the metric CRS; edges with neither, or with a bad length, are reported together.
    """
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
    return us, vs, lengths, dropped


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

    node_ids, index, x, y = _graphml_nodes(graph, file)

    declared = graph.graph.get("crs")
    src = _source_crs(str(declared) if declared else None, x, y, file, source_crs)
    transformer = _transformer(src, crs)
    px, py = transformer.transform(x, y)
    node_xy = np.column_stack([px, py])
    if not np.isfinite(node_xy).all():
        raise InputError([Problem(
            f"node coordinates cannot be projected from {src} to {crs}", file=file,
        )])

    us, vs, lengths, dropped = _graphml_edges(graph, index, transformer, excluded, file)
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


def _column(frame: Any, name: str) -> str | None:
    """The frame's column called ``name``, case-insensitively."""
    for col in frame.columns:
        if str(col).lower() == name:
            return str(col)
    return None


def _edge_lengths_given(frame: Any, geoms: np.ndarray, file: str) -> np.ndarray:
    """The edges' ``length`` column as numbers (NaN where not given), after checking every
    row's length and geometry (all problems at once)."""
    import pandas as pd
    import shapely

    n_read = len(frame)
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
    return raw_length


def _walkable(
    frame: Any, excluded: frozenset[str], file: str
) -> tuple[np.ndarray, dict[str, int]]:
    """Which edge rows are walkable, and the counts dropped by reason (error if none is)."""
    n_read = len(frame)
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
    return keep, dropped


def _edge_parts(
    kept_geoms: np.ndarray, kept_length: np.ndarray, crs: str, file: str
) -> tuple[np.ndarray, np.ndarray]:
    """Projected edges as single lines with their lengths: MultiLineStrings merged where
    their parts join, split into parts otherwise (a given length shared pro rata)."""
    import shapely

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
    return parts, lengths


def _load_vector(
    path: Path,
    *,
    crs: str,
    excluded: frozenset[str],
    encoding: str | None,
    layer: str | None,
    source_crs: str | None,
) -> WalkingNetwork:
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
    raw_length = _edge_lengths_given(frame, geoms, file)

    keep, dropped = _walkable(frame, excluded, file)

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

    parts, lengths = _edge_parts(kept_geoms, kept_length, crs, file)

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


_SHAPEFILE_SIDECARS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


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
