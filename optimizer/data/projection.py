"""Coordinate reference systems: parse, detect lon/lat, choose a local metric CRS, project.

Lon/lat (WGS84) inputs are projected to the UTM zone of their centre, so that distances in
metres are accurate to well under 0.1 % across a city.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from pyproj import CRS, Transformer

WGS84 = "EPSG:4326"


@cache
def parse_crs(text: str) -> CRS:
    """Parse a CRS string (``EPSG:32648``, WKT, PROJ); raises ``pyproj`` errors."""
    return CRS.from_user_input(text)


def is_geographic(crs_text: str) -> bool:
    return bool(parse_crs(crs_text).is_geographic)


def utm_crs_for(lon: np.ndarray, lat: np.ndarray) -> str:
    """EPSG code of the UTM zone (WGS84) containing the centre of the points."""
    centre_lon = float(np.nanmedian(lon))
    centre_lat = float(np.nanmedian(lat))
    zone = int(np.floor((centre_lon + 180.0) / 6.0)) % 60 + 1
    return f"EPSG:{32600 + zone if centre_lat >= 0 else 32700 + zone}"


def looks_like_degrees(x: np.ndarray, y: np.ndarray) -> bool:
    """True when every point would be a valid lon/lat (metric data almost never is)."""
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.any():
        return False
    return bool(
        (np.abs(x[finite]) <= 180).all()
        and (np.abs(y[finite]) <= 90).all()
        and (np.ptp(x[finite]) < 5 if finite.sum() > 1 else True)
    )


def project(x: np.ndarray, y: np.ndarray, source: str, target: str) -> np.ndarray:
    """Transform coordinates from ``source`` to ``target`` CRS; returns ``(n, 2)``."""
    if parse_crs(source) == parse_crs(target):
        return np.column_stack([x, y]).astype(float)
    transformer = Transformer.from_crs(parse_crs(source), parse_crs(target), always_xy=True)
    px, py = transformer.transform(np.asarray(x, float), np.asarray(y, float))
    return np.column_stack([px, py])


# --- Chinese web-map coordinates -------------------------------------------------------
# GCJ-02 ("Mars coordinates", used by Amap/Gaode, Tencent and DataV) shifts WGS84 by a
# published polynomial on the Krasovsky 1940 ellipsoid; BD-09 (Baidu) rotates and shifts
# GCJ-02 again. The offsets (about 480-600 m in Chongqing/Wuhan for GCJ-02, ~1.1 km for
# BD-09) exceed a 5-minute service radius, so they must be removed before mixing sources.

_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_BD_FACTOR = np.pi * 3000.0 / 180.0


def _outside_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 105.0, lat - 35.0
    d_lat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    d_lon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad_lat = np.radians(lat)
    magic = 1.0 - _KRASOVSKY_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / (
        (_KRASOVSKY_A * (1 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * np.pi
    )
    d_lon = (d_lon * 180.0) / (_KRASOVSKY_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    outside = _outside_china(lon, lat)
    return np.where(outside, 0.0, d_lon), np.where(outside, 0.0, d_lat)


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 -> GCJ-02 (the forward, published transform)."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    d_lon, d_lat = _gcj_offset(lon, lat)
    return lon + d_lon, lat + d_lat


def gcj02_to_wgs84(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 -> WGS84 by fixed-point iteration of the forward transform (error < 1 mm)."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    w_lon, w_lat = lon.copy(), lat.copy()
    for _ in range(30):
        g_lon, g_lat = wgs84_to_gcj02(w_lon, w_lat)
        e_lon, e_lat = g_lon - lon, g_lat - lat
        w_lon, w_lat = w_lon - e_lon, w_lat - e_lat
        if max(np.abs(e_lon).max(initial=0.0), np.abs(e_lat).max(initial=0.0)) < 1e-10:
            break
    return w_lon, w_lat


def bd09_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 (Baidu) -> GCJ-02."""
    x, y = np.asarray(lon, float) - 0.0065, np.asarray(lat, float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _BD_FACTOR)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_FACTOR)
    return z * np.cos(theta), z * np.sin(theta)


def gcj02_to_bd09(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 -> BD-09 (Baidu)."""
    x, y = np.asarray(lon, float), np.asarray(lat, float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _BD_FACTOR)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _BD_FACTOR)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


WEB_MAP_SYSTEMS = ("wgs84", "gcj02", "bd09")
"""Values of a table's ``coordinates`` option for lon/lat columns."""


def to_wgs84(lon: np.ndarray, lat: np.ndarray, system: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert lon/lat in ``system`` (``wgs84``, ``gcj02`` or ``bd09``) to WGS84."""
    if system == "wgs84":
        return np.asarray(lon, float), np.asarray(lat, float)
    if system == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if system == "bd09":
        return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
    raise ValueError(f"unknown coordinate system {system!r}")


def cgcs2000_gk_crs_for(lon: np.ndarray) -> str:
    """EPSG code of the CGCS2000 3-degree Gauss-Kruger zone (no zone prefix) for the points.

    EPSG:4534 is central meridian 75E; each 3 degrees east adds one (Chongqing's 106.5E
    lies on the boundary of EPSG:4544, CM 105E, and EPSG:4545, CM 108E).
    """
    central = 3 * int(np.floor(float(np.nanmedian(lon)) / 3.0 + 0.5))
    central = min(max(central, 75), 135)
    return f"EPSG:{4534 + (central - 75) // 3}"
