"""Every (origin, target) pair within a walking distance: chunked multi-source Dijkstra."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse.csgraph import dijkstra

from optimizer.data.network.graph import NetworkPairs, Snap, WalkingNetwork
from optimizer.data.network.snap import _as_xy, snap_points

MAX_CHUNK_FLOATS = 50_000_000
"""Upper bound on the size of one Dijkstra result block (sources x nodes) in floats."""


MAX_EXPAND_PAIRS = 4_000_000
"""Upper bound on the point pairs expanded from node pairs at once (before the cutoff)."""


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


def _checked_cutoff(cutoff_m: float, max_snap_m: float | None, chunk_size: int | None) -> float:
    """The cutoff as a float, after checking the options of :func:`network_pairs`."""
    cutoff = float(cutoff_m)
    if np.isnan(cutoff) or cutoff < 0:
        raise ValueError(f"cutoff_m must be >= 0, got {cutoff_m!r}")
    if max_snap_m is not None and (np.isnan(float(max_snap_m)) or float(max_snap_m) < 0):
        raise ValueError(f"max_snap_m must be >= 0 or None, got {max_snap_m!r}")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
    return cutoff


def _far(snap: Snap, max_snap_m: float | None) -> np.ndarray:
    """Which points are farther than ``max_snap_m`` from their node (none when None)."""
    if max_snap_m is None:
        return np.zeros(len(snap.node), dtype=bool)
    return snap.distance_m > float(max_snap_m)


def _pairs_in_reach(
    network: WalkingNetwork,
    o_snap: Snap,
    t_snap: Snap,
    o_ok: np.ndarray,
    t_ok: np.ndarray,
    *,
    cutoff: float,
    chunk_size: int | None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Point pairs (origin, target, distance) within the cutoff, in unsorted pieces.

    Dijkstra runs from the distinct nodes of the side with fewer of them ("src"; the other
    side is "dst"), in chunks of sources; each chunk's node pairs are expanded to point
    pairs by :func:`_expand_chunk`.
    """
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
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
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
        groups = (src_group, dst_group)
        points = (o_ok, t_ok, o_snaps, t_snaps)
        pieces += _expand_chunk(src_node, dst_node, path, groups, points, cutoff=cutoff,
                                from_targets=from_targets)
    return pieces


def _expand_chunk(
    src_node: np.ndarray,
    dst_node: np.ndarray,
    path: np.ndarray,
    groups: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...],
    points: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    *,
    cutoff: float,
    from_targets: bool,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Node pairs of one chunk expanded to point pairs within the cutoff.

    In batches of at most :data:`MAX_EXPAND_PAIRS` point pairs (at least one node pair).
    ``points`` holds the kept origins, kept targets and their snap distances.
    """
    src_group, dst_group = groups
    o_ok, t_ok, o_snaps, t_snaps = points
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
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
    return pieces


def _sorted_pairs(
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]], *, n_targets: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pieces joined and sorted by origin, then target."""
    if not pieces:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0)
    oi = np.concatenate([p[0] for p in pieces])
    ti = np.concatenate([p[1] for p in pieces])
    dd = np.concatenate([p[2] for p in pieces])
    # Each (origin, target) occurs once, so one integer key sorts them deterministically
    # (and several times faster than lexsort).
    order = np.argsort(oi * max(n_targets, 1) + ti)
    return oi[order], ti[order], dd[order]


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
    cutoff = _checked_cutoff(cutoff_m, max_snap_m, chunk_size)
    origins = _as_xy(origins_xy, "origins_xy")
    targets = _as_xy(targets_xy, "targets_xy")
    o_snap = snap_points(network, origins)
    t_snap = snap_points(network, targets)
    o_far, t_far = _far(o_snap, max_snap_m), _far(t_snap, max_snap_m)
    o_ok = np.flatnonzero(~o_far & (o_snap.distance_m <= cutoff))
    t_ok = np.flatnonzero(~t_far & (t_snap.distance_m <= cutoff))
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    if len(o_ok) and len(t_ok):
        pieces = _pairs_in_reach(network, o_snap, t_snap, o_ok, t_ok, cutoff=cutoff,
                                 chunk_size=chunk_size)
    oi, ti, dd = _sorted_pairs(pieces, n_targets=len(targets))
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
