"""Snapping points to their nearest network node."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from optimizer.data.network.graph import Snap, WalkingNetwork


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
