r"""Who can reach what: sparse demand-facility pairs within the service radii.

Coverage is inclusive: unit :math:`i` is covered by facility :math:`j` of type :math:`t`
when :math:`d_{ij} \le r_t`. Pairs are found with a KD-tree (Euclidean, metric CRS) or
taken from a supplied :class:`~optimizer.instance.DistancePairs` table; nothing dense of
size demand x site is ever built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from optimizer.data.instance import SitingInstance


@dataclass(frozen=True, eq=False)
class Reach:
    """All demand-facility pairs within the largest radius, sorted by demand then facility.

    ``facility`` numbers candidate sites ``0..n_sites-1`` and existing facilities after them.
    """

    demand: np.ndarray
    facility: np.ndarray
    distance: np.ndarray
    n_demand: int
    n_sites: int
    n_existing: int

    def site_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keep = self.facility < self.n_sites
        return self.demand[keep], self.facility[keep], self.distance[keep]

    def existing_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keep = self.facility >= self.n_sites
        return self.demand[keep], self.facility[keep] - self.n_sites, self.distance[keep]


def _euclidean_pairs(
    a: np.ndarray, b: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if len(a) == 0 or len(b) == 0 or radius < 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0)
    # Query slightly wider, then filter exactly, so that d == r is kept whatever the
    # tree's internal rounding.
    pairs = cKDTree(a).sparse_distance_matrix(
        cKDTree(b), radius * (1 + 1e-9) + 1e-9, output_type="ndarray"
    )
    i = pairs["i"].astype(np.int64)
    j = pairs["j"].astype(np.int64)
    d = np.hypot(a[i, 0] - b[j, 0], a[i, 1] - b[j, 1])
    keep = d <= radius
    return i[keep], j[keep], d[keep]


def compute_reach(instance: SitingInstance) -> Reach:
    """Find every (demand unit, facility) pair within the largest service radius.

    Parameters
    ----------
    instance
        The siting instance. With ``instance.distances`` the supplied pairs are used
        (pairs not listed are out of reach); otherwise Euclidean distance.

    Returns
    -------
    Reach
        Sparse pairs, sorted by demand unit then facility.
    """
    max_radius = float(instance.reach_radii.max()) if instance.n_types else 0.0
    n_sites = instance.n_sites
    if instance.distances is not None:
        pairs = instance.distances
        keep = pairs.distance_m <= max_radius
        demand = pairs.demand_index[keep].astype(np.int64)
        facility = pairs.target_index[keep].astype(np.int64)
        distance = pairs.distance_m[keep].astype(float)
    else:
        facilities = np.vstack([instance.site_xy, instance.existing_xy])
        demand, facility, distance = _euclidean_pairs(
            instance.demand_xy, facilities, max_radius
        )
    order = np.lexsort((facility, demand))
    return Reach(
        demand=demand[order],
        facility=facility[order],
        distance=distance[order],
        n_demand=instance.n_demand,
        n_sites=n_sites,
        n_existing=len(instance.existing_ids),
    )


def site_coverage(
    reach: Reach, instance: SitingInstance, type_index: int, radius_m: float | None = None
) -> sparse.csr_matrix:
    """Boolean CSR ``(n_demand, n_sites)``: site j of type t would cover unit i within
    ``radius_m`` (default: the type's radius)."""
    demand, site, distance = reach.site_pairs()
    radius = instance.types[type_index].radius_m if radius_m is None else radius_m
    keep = distance <= radius
    data = np.ones(int(keep.sum()), dtype=bool)
    return sparse.csr_matrix(
        (data, (demand[keep], site[keep])), shape=(instance.n_demand, instance.n_sites)
    )


def existing_coverage(
    reach: Reach, instance: SitingInstance, band: int = 0
) -> np.ndarray:
    """Boolean ``(n_demand, n_types)``: unit within an existing facility's radius (of the
    given decay band; band 0 is the service radius; types without that band: False)."""
    covered = np.zeros((instance.n_demand, instance.n_types), dtype=bool)
    demand, existing, distance = reach.existing_pairs()
    if len(demand):
        radii = np.array([
            t.band_radii()[band] if band < len(t.band_radii()) else -1.0
            for t in instance.types
        ])
        etype = instance.existing_type[existing]
        within = distance <= radii[etype]
        covered[demand[within], etype[within]] = True
    return covered
