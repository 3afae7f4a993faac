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

Modules, by concern: :mod:`~optimizer.data.network.graph` (the data classes),
:mod:`~optimizer.data.network.read` (GraphML and vector files, CRS),
:mod:`~optimizer.data.network.clean` (walkable edges, building the graph),
:mod:`~optimizer.data.network.snap` (points to nodes), :mod:`~optimizer.data.network.paths`
(pairs in reach) and :mod:`~optimizer.data.network.cache` (the disk cache). Their public
names are all served from here.

Setting a name on this package (``optimizer.data.network.MAX_EXPAND_PAIRS = ...``, or a
test's monkeypatch of ``network_pairs``) sets it in the module(s) that use it as well, as
it did when all this was one module.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from optimizer.data.network import cache, clean, graph, paths, read, snap
from optimizer.data.network.cache import (
    CACHE_FORMAT,
    cache_key,
    cached_network_pairs,
    default_cache_dir,
)
from optimizer.data.network.graph import (
    ACCESS_BLOCKED,
    DEFAULT_EXCLUDED,
    DEFAULT_WALK_SPEED_M_PER_MIN,
    FOOT_ALLOWED,
    NetworkPairs,
    Snap,
    WalkingNetwork,
    radius_from_minutes,
)
from optimizer.data.network.paths import MAX_CHUNK_FLOATS, MAX_EXPAND_PAIRS, network_pairs
from optimizer.data.network.read import GRAPHML_SUFFIXES, NODE_DECIMALS, load_network
from optimizer.data.network.snap import snap_points

_PARTS = (graph, clean, read, snap, paths, cache)


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        for part in _PARTS:
            if name in vars(part):
                setattr(part, name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__all__ = [
    "ACCESS_BLOCKED",
    "CACHE_FORMAT",
    "DEFAULT_EXCLUDED",
    "DEFAULT_WALK_SPEED_M_PER_MIN",
    "FOOT_ALLOWED",
    "GRAPHML_SUFFIXES",
    "MAX_CHUNK_FLOATS",
    "MAX_EXPAND_PAIRS",
    "NODE_DECIMALS",
    "NetworkPairs",
    "Snap",
    "WalkingNetwork",
    "cache_key",
    "cached_network_pairs",
    "default_cache_dir",
    "load_network",
    "network_pairs",
    "radius_from_minutes",
    "snap_points",
]
