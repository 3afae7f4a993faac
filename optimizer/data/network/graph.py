"""The walking network and the pairs found on it: data classes, minutes to metres."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from optimizer.data.instance import DistancePairs

DEFAULT_EXCLUDED: frozenset[str] = frozenset({"motorway", "motorway_link", "trunk", "trunk_link"})
"""``highway`` values dropped by default: roads pedestrians may not or should not use."""


FOOT_ALLOWED: frozenset[str] = frozenset({"yes", "designated", "permissive"})
"""``foot`` values that allow walking on an edge whose ``access`` is ``no`` or ``private``."""


ACCESS_BLOCKED: frozenset[str] = frozenset({"no", "private"})
"""``access`` values that close an edge to pedestrians (unless ``foot`` allows it)."""


DEFAULT_WALK_SPEED_M_PER_MIN = 60.0
"""Walking speed used to turn minutes into metres (3.6 km/h, an unhurried walk)."""


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
