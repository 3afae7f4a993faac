"""Readers for published maximal covering benchmark formats (one type, unit costs, budget p).

Every node is both a demand point and a candidate site. Formats and distance conventions
follow ``data/mclp/README.md``:

* Swain's 55 nodes (``id x y demand``), SJC (``x y demand``): planar Euclidean metres.
* Máximo et al. (``NODE_COORD_SECTION`` lat lon, ``DEMAND_SECTION``): spherical law of
  cosines with radius 6,378,100 m computed in float64, which reproduces the value of every
  published solution in ``data/mclp/maximo/solutions``. (In float32 the cosine of any angle
  below ~3.5e-4 rad rounds to 1, so every pair closer than ~1.5-2 km would get distance 0.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from optimizer.data.instance import DistancePairs, FacilityType, SitingInstance


def _single_type_instance(
    xy: np.ndarray,
    demand: np.ndarray,
    *,
    radius_m: float,
    p: int,
    distances: DistancePairs | None = None,
) -> SitingInstance:
    n = len(demand)
    ids = np.array([str(i) for i in range(n)], dtype=object)
    return SitingInstance(
        types=(FacilityType("facility", radius_m=float(radius_m), population="demand"),),
        demand_ids=ids,
        demand_xy=np.asarray(xy, dtype=float),
        population=np.asarray(demand, dtype=float).reshape(n, 1),
        site_ids=ids.copy(),
        site_xy=np.asarray(xy, dtype=float),
        site_cost=np.ones((n, 1)),
        budget=float(p),
        distances=distances,
    )


def read_swain(path: str | Path, *, radius: float, p: int) -> SitingInstance:
    """Swain's 55-node data: first line ``n``, then ``id x y demand``."""
    rows = np.loadtxt(path, skiprows=1)
    return _single_type_instance(rows[:, 1:3], rows[:, 3], radius_m=radius, p=p)


def read_sjc(path: str | Path, *, radius: float, p: int) -> SitingInstance:
    """Lorena & Pereira's SJC instances: placeholder header, then ``x y demand``."""
    rows = np.loadtxt(path, skiprows=1, usecols=(0, 1, 2))
    return _single_type_instance(rows[:, :2], rows[:, 2], radius_m=radius, p=p)


def read_maximo_nodes(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Latitude/longitude ``(n, 2)`` and demand ``(n,)`` of a Máximo et al. instance."""
    lines = Path(path).read_text().split("\n")
    coords, demand, section = [], [], None
    for line in lines:
        token = line.strip()
        if not token:
            continue
        if token.startswith("NODE_COORD_SECTION"):
            section = "coords"
        elif token.startswith("DEMAND_SECTION"):
            section = "demand"
        elif token.startswith("EOF"):
            break
        elif section == "coords":
            parts = token.split()
            coords.append((float(parts[-2]), float(parts[-1])))
        elif section == "demand":
            demand.append(float(token.split()[-1]))
    return np.asarray(coords), np.asarray(demand)


def maximo_pairs(latlon: np.ndarray, radius_m: float, *, chunk: int = 1024) -> DistancePairs:
    """All pairs within ``radius_m`` under the authors' spherical convention (float64)."""
    rad = np.radians(np.asarray(latlon, dtype=float))
    lat, lon = rad[:, 0], rad[:, 1]
    sin_lat, cos_lat = np.sin(lat), np.cos(lat)
    demand, target, distance = [], [], []
    earth = 6378100.0
    for start in range(0, len(lat), chunk):
        stop = min(start + chunk, len(lat))
        cos_angle = cos_lat[start:stop, None] * cos_lat[None, :] * np.cos(
            lon[None, :] - lon[start:stop, None]
        ) + sin_lat[start:stop, None] * sin_lat[None, :]
        d = np.arccos(np.clip(cos_angle, -1.0, 1.0)) * earth
        i, j = np.nonzero(d <= radius_m)
        demand.append(i + start)
        target.append(j)
        distance.append(d[i, j])
    return DistancePairs(np.concatenate(demand), np.concatenate(target), np.concatenate(distance))


def read_maximo(path: str | Path, *, radius: float, p: int) -> SitingInstance:
    """A Máximo et al. instance with its distance convention applied."""
    latlon, demand = read_maximo_nodes(path)
    pairs = maximo_pairs(latlon, radius)
    # Local equirectangular metres, for maps only (distances come from the pairs).
    lat0 = np.radians(latlon[:, 0].mean())
    xy = np.column_stack(
        [np.radians(latlon[:, 1]) * 6378100.0 * np.cos(lat0), np.radians(latlon[:, 0]) * 6378100.0]
    )
    return _single_type_instance(xy, demand, radius_m=radius, p=p, distances=pairs)
