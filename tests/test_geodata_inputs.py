"""Geodata readers, web-map coordinate systems, metric CRS choice, eligibility rules."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, Polygon

from optimizer.errors import InputError
from optimizer.projection import (
    bd09_to_gcj02,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    to_wgs84,
    wgs84_to_gcj02,
)
from scenarios.loader import build_instance
from scenarios.runner import run_scenario
from scenarios.spec import load_scenario

CRS = "EPSG:32648"


def _write_scenario(folder: Path, demand: str, sites: str, extra: str = "",
                    types: str | None = None) -> Path:
    types = types or (
        '[types.park]\npopulation = "pop_total"\nradius_m = 300\ncost = "cost_park"\n'
    )
    path = folder / "scenario.toml"
    path.write_text(f"budget = 3000000\ndemand = {demand}\nsites = {sites}\n{extra}\n{types}")
    return path


def test_geopackage_polygons_become_representative_points(tiny_dir: Path) -> None:
    demand = pd.read_csv(tiny_dir / "demand.csv")
    # U-shaped blocks: the centroid falls outside, the representative point inside.
    polygons = [
        Polygon([(x - 40, y - 40), (x + 40, y - 40), (x + 40, y + 40), (x + 20, y + 40),
                 (x + 20, y - 20), (x - 20, y - 20), (x - 20, y + 40), (x - 40, y + 40)])
        for x, y in zip(demand.x, demand.y, strict=True)
    ]
    blocks = gpd.GeoDataFrame(demand.drop(columns=["x", "y"]), geometry=polygons, crs=CRS)
    blocks.to_file(tiny_dir / "blocks.gpkg", layer="blocks")
    sites = pd.read_csv(tiny_dir / "sites.csv")
    gpd.GeoDataFrame(
        sites.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(sites.x, sites.y), crs=CRS
    ).to_file(tiny_dir / "sites.geojson")
    path = _write_scenario(tiny_dir, '{ path = "blocks.gpkg", layer = "blocks" }',
                           '"sites.geojson"')
    instance = build_instance(load_scenario(path))
    assert instance.crs == CRS
    for polygon, xy in zip(polygons, instance.demand_xy, strict=True):
        assert polygon.contains(Point(xy))
        assert not polygon.contains(polygon.centroid)
    assert instance.site_xy == pytest.approx(sites[["x", "y"]].to_numpy(), abs=1e-6)
    assert list(instance.site_attributes["kind"]) == list(sites.kind)


def test_shapefile_with_gbk_encoding_and_geoparquet(tiny_dir: Path) -> None:
    sites = pd.read_csv(tiny_dir / "sites.csv")
    sites["kind"] = np.where(sites.kind == "corner_plot", "边角地", "闲置用房")
    frame = gpd.GeoDataFrame(
        sites.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(sites.x, sites.y), crs=CRS
    )
    frame = frame.drop(columns=["cost_canteen", "cost_childcare"])
    frame.to_file(tiny_dir / "sites.shp", encoding="gbk")
    (tiny_dir / "sites.cpg").unlink(missing_ok=True)
    demand = pd.read_csv(tiny_dir / "demand.csv")
    gpd.GeoDataFrame(
        demand.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(demand.x, demand.y),
        crs=CRS,
    ).to_parquet(tiny_dir / "demand.parquet")
    path = _write_scenario(tiny_dir, '"demand.parquet"',
                           '{ path = "sites.shp", encoding = "gbk" }')
    instance = build_instance(load_scenario(path))
    assert set(instance.site_attributes["kind"]) == {"边角地", "闲置用房"}
    assert instance.n_demand == len(demand)


def test_geodata_without_crs_needs_one(tiny_dir: Path) -> None:
    sites = pd.read_csv(tiny_dir / "sites.csv")
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        gpd.GeoDataFrame(
            sites.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(sites.x, sites.y)
        ).to_file(tiny_dir / "sites.gpkg")
    path = _write_scenario(tiny_dir, '"demand.csv"', '"sites.gpkg"')
    with pytest.raises(InputError) as caught:
        build_instance(load_scenario(path))
    assert "sites.gpkg: the file declares no CRS; set 'crs' in the scenario" in str(caught.value)


def test_gcj02_and_bd09_round_trips_and_offsets() -> None:
    from pyproj import Geod

    lon, lat = np.array([106.5776, 114.2700]), np.array([29.5630, 30.5900])
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    offset = Geod(ellps="WGS84").inv(lon, lat, g_lon, g_lat)[2]
    assert ((offset > 400) & (offset < 700)).all()
    back = gcj02_to_wgs84(g_lon, g_lat)
    assert back[0] == pytest.approx(lon, abs=1e-9) and back[1] == pytest.approx(lat, abs=1e-9)
    b_lon, b_lat = gcj02_to_bd09(g_lon, g_lat)
    assert bd09_to_gcj02(b_lon, b_lat)[0] == pytest.approx(g_lon, abs=1e-6)
    wgs = to_wgs84(b_lon, b_lat, "bd09")
    assert wgs[0] == pytest.approx(lon, abs=1e-6) and wgs[1] == pytest.approx(lat, abs=1e-6)
    # Outside China nothing moves.
    assert wgs84_to_gcj02(np.array([-122.4]), np.array([37.7]))[0][0] == -122.4


def _as_lonlat(tiny_dir: Path, name: str, system: str) -> None:
    from pyproj import Transformer

    frame = pd.read_csv(tiny_dir / name)
    to_lonlat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(frame.x + 650_000, frame.y + 3_270_000)
    if system == "gcj02":
        lon, lat = wgs84_to_gcj02(np.asarray(lon), np.asarray(lat))
    frame.drop(columns=["x", "y"]).assign(lon=lon, lat=lat).to_csv(tiny_dir / name, index=False)


def test_gcj02_sites_are_shifted_back_onto_wgs84_demand(tiny_dir: Path) -> None:
    _as_lonlat(tiny_dir, "demand.csv", "wgs84")
    _as_lonlat(tiny_dir, "sites.csv", "gcj02")
    right = _write_scenario(tiny_dir, '"demand.csv"',
                            '{ path = "sites.csv", coordinates = "gcj02" }')
    instance = build_instance(load_scenario(right))
    original = pd.read_csv(Path(__file__).parent / "data" / "tiny" / "sites.csv")
    assert instance.site_xy[:, 0] - 650_000 == pytest.approx(original.x.to_numpy(), abs=0.05)
    assert any("gcj02" in note for note in instance.notes)
    wrong = build_instance(load_scenario(
        _write_scenario(tiny_dir, '"demand.csv"', '"sites.csv"')))
    shift = np.hypot(*(wrong.site_xy - instance.site_xy).T)
    assert (shift > 400).all()


@pytest.mark.parametrize(("choice", "expected"), [
    ("utm", "EPSG:32648"), ("cgcs2000", "EPSG:4545"), ("EPSG:4545", "EPSG:4545"),
])
def test_metric_crs_choice(tiny_dir: Path, choice: str, expected: str) -> None:
    for name in ("demand.csv", "sites.csv"):
        _as_lonlat(tiny_dir, name, "wgs84")
    path = _write_scenario(tiny_dir, '"demand.csv"', '"sites.csv"',
                           extra=f'metric_crs = "{choice}"')
    instance = build_instance(load_scenario(path))
    assert instance.crs == expected
    assert f"distances measured in {expected}" in instance.notes
    # Chongqing's test points lie east of 106.5E: CGCS2000 zone CM 108E (EPSG:4545).
    # Distances agree across metric CRSs to well under a metre over 1.5 km.
    ref = pd.read_csv(Path(__file__).parent / "data" / "tiny" / "demand.csv")
    d_ref = np.hypot(ref.x[0] - ref.x[1], ref.y[0] - ref.y[1])
    d = np.hypot(*(instance.demand_xy[0] - instance.demand_xy[1]))
    assert d == pytest.approx(d_ref, abs=1.0)


def test_min_area_rule_and_radius_in_minutes(tiny_dir: Path) -> None:
    sites = pd.read_csv(tiny_dir / "sites.csv")
    sites["area_m2"] = np.where(np.arange(len(sites)) % 2 == 0, 300.0, 800.0)
    sites.to_csv(tiny_dir / "sites.csv", index=False)
    types = (
        '[types.park]\npopulation = "pop_total"\nradius_min = 5\ncost = "cost_park"\n'
        "min_area_m2 = 400\n"
        '[types.canteen]\npopulation = "pop_60plus"\nradius_min = 10\nspeed_m_per_min = 45\n'
        'cost = "cost_canteen"\n'
    )
    path = _write_scenario(tiny_dir, '"demand.csv"', '"sites.csv"',
                           extra='crs = "EPSG:32648"', types=types)
    spec = load_scenario(path)
    assert [t.radius_m for t in spec.types] == [300.0, 450.0]
    result = run_scenario(spec)
    instance = result.instance
    small = sites.area_m2.to_numpy() < 400
    assert not np.isfinite(instance.site_cost[small, 0]).any()
    chosen = result.plan.chosen_sites()
    assert (chosen.loc[chosen.type == "park", "area_m2"].astype(float) >= 400).all()
    assert any("below 400 m²" in note for note in instance.notes)


def test_type_needs_exactly_one_radius(tiny_dir: Path) -> None:
    types = ('[types.park]\npopulation = "pop_total"\nradius_min = 5\nradius_m = 300\n'
             'cost = "cost_park"\n')
    path = _write_scenario(tiny_dir, '"demand.csv"', '"sites.csv"', types=types)
    with pytest.raises(InputError, match="needs exactly one of 'radius_m' or 'radius_min'"):
        load_scenario(path)
