"""Which street edges are walkable, and the network built from the kept edges."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from scipy import sparse

from optimizer.data.network.graph import ACCESS_BLOCKED, FOOT_ALLOWED, WalkingNetwork
from optimizer.errors import InputError, Problem


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


def _reasons(dropped: Mapping[str, int]) -> str:
    parts = [f"{k}: {v}" for k, v in dropped.items() if v]
    return ", ".join(parts) if parts else "none"
