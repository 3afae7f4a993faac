"""Walking-network distances (optimizer.network): real OSM graph against networkx, tiny
hand-made GraphML and GeoJSON files with known answers, snapping, cache and errors."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from pyproj import Transformer

from optimizer import network as netmod
from optimizer.errors import InputError
from optimizer.network import (
    DEFAULT_EXCLUDED,
    cache_key,
    cached_network_pairs,
    load_network,
    network_pairs,
    radius_from_minutes,
    snap_points,
)

REPO = Path(__file__).resolve().parents[1]
SHENZHEN = REPO / "data" / "real" / "shenzhen_futian_osm.graphml"
UTM50 = "EPSG:32650"
X0, Y0 = 500_000.0, 2_500_000.0  # origin of the tiny test files, in UTM 50N metres


# --------------------------------------------------------------------------------------
# Independent reference: networkx on the same file, same walking rules, coded separately
# --------------------------------------------------------------------------------------


def _values(raw: str | None) -> list[str]:
    if raw is None:
        return []
    return list(ast.literal_eval(raw)) if raw.startswith("[") else [raw]


def _walkable(data: dict) -> bool:
    if set(_values(data.get("highway"))) & {"motorway", "motorway_link", "trunk", "trunk_link"}:
        return False
    foot = data.get("foot")
    if foot == "no":
        return False
    return not (data.get("access") in ("no", "private")
                and foot not in ("yes", "designated", "permissive"))


@pytest.fixture(scope="module")
def osm_multigraph() -> nx.MultiDiGraph:
    return nx.read_graphml(SHENZHEN)


@pytest.fixture(scope="module")
def reference(osm_multigraph: nx.MultiDiGraph) -> nx.Graph:
    graph = nx.Graph()
    for u, v, data in osm_multigraph.edges(data=True):
        if u == v or not _walkable(data):
            continue
        length = float(data["length"])
        if not graph.has_edge(u, v) or graph[u][v]["length"] > length:
            graph.add_edge(u, v, length=length)
    return graph


@pytest.fixture(scope="module")
def shenzhen() -> netmod.WalkingNetwork:
    return load_network(SHENZHEN, crs=UTM50)


def _project(graph: nx.MultiDiGraph, nodes: list[str]) -> np.ndarray:
    to_utm = Transformer.from_crs("EPSG:4326", UTM50, always_xy=True)
    lon = np.array([float(graph.nodes[n]["x"]) for n in nodes])
    lat = np.array([float(graph.nodes[n]["y"]) for n in nodes])
    return np.column_stack(to_utm.transform(lon, lat))


# --------------------------------------------------------------------------------------
# Shenzhen (real OSM data)
# --------------------------------------------------------------------------------------


def test_shenzhen_counts_and_dropped_roads(
    shenzhen: netmod.WalkingNetwork, osm_multigraph: nx.MultiDiGraph, reference: nx.Graph
) -> None:
    edges = list(osm_multigraph.edges(data=True))
    assert len(edges) == shenzhen.n_edges_read == 4009
    fast_roads = sum(1 for _, _, d in edges if set(_values(d.get("highway"))) & DEFAULT_EXCLUDED)
    assert fast_roads == 74  # 33 motorway_link, 24 trunk_link, 15 trunk, 2 ['primary', 'trunk']
    assert shenzhen.dropped_by_reason["highway"] == fast_roads
    assert shenzhen.n_edges_dropped == sum(1 for _, _, d in edges if not _walkable(d))
    assert shenzhen.n_edges_kept + shenzhen.n_edges_dropped == 4009
    # Same nodes, same links, same lengths as the independent graph.
    assert set(shenzhen.node_ids) == set(reference.nodes)
    assert shenzhen.n_links == reference.number_of_edges()
    index = {n: i for i, n in enumerate(shenzhen.node_ids)}
    adjacency = shenzhen.adjacency
    assert (adjacency != adjacency.T).nnz == 0
    for u, v, data in reference.edges(data=True):
        assert adjacency[index[u], index[v]] == pytest.approx(data["length"], abs=1e-9)
    # No link survives whose every file edge is a motorway or trunk road.
    fast_only = {frozenset((u, v)) for u, v, d in edges if not _walkable(d)}
    fast_only -= {frozenset((u, v)) for u, v, d in edges if _walkable(d)}
    for pair in fast_only:
        u, v = tuple(pair) if len(pair) == 2 else (next(iter(pair)),) * 2
        if u in index and v in index and u != v:
            assert adjacency[index[u], index[v]] == 0


def test_shenzhen_distances_match_networkx(
    shenzhen: netmod.WalkingNetwork, osm_multigraph: nx.MultiDiGraph, reference: nx.Graph
) -> None:
    rng = np.random.default_rng(20240515)
    nodes = sorted(reference.nodes)
    origins = list(rng.choice(nodes, size=200, replace=False))
    targets = list(rng.choice(nodes, size=25, replace=False))
    pairs = network_pairs(shenzhen, _project(osm_multigraph, origins),
                          _project(osm_multigraph, targets), cutoff_m=np.inf)
    assert np.all(pairs.origin_snap_m < 1e-6) and np.all(pairs.target_snap_m < 1e-6)
    got = {(int(i), int(j)): d for i, j, d in
           zip(pairs.origin_index, pairs.target_index, pairs.distance_m, strict=True)}
    expected = {}
    for j, t in enumerate(targets):
        lengths = nx.single_source_dijkstra_path_length(reference, t, weight="length")
        for i, o in enumerate(origins):
            if o in lengths:
                expected[(i, j)] = lengths[o]
    assert len(expected) > 4000  # the walkable graph is almost connected
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-6)

    # Cutoff respected: exactly the pairs with distance <= 800 m remain.
    near = network_pairs(shenzhen, _project(osm_multigraph, origins),
                         _project(osm_multigraph, targets), cutoff_m=800.0)
    near_keys = set(zip(near.origin_index.tolist(), near.target_index.tolist(), strict=True))
    assert near_keys == {k for k, d in expected.items() if d <= 800.0}
    assert 0 < len(near_keys) < len(expected)
    assert np.all(near.distance_m <= 800.0)


def test_shenzhen_snap_distance_added(
    shenzhen: netmod.WalkingNetwork, osm_multigraph: nx.MultiDiGraph, reference: nx.Graph
) -> None:
    xy = shenzhen.node_xy
    gap = np.array([np.sort(np.hypot(*(xy - p).T))[1] for p in xy])
    lonely = np.flatnonzero(gap > 30.0)  # nodes with no other node within 30 m
    rng = np.random.default_rng(7)
    o_idx, t_idx = rng.choice(lonely, size=(2, 40), replace=False)
    origins = xy[o_idx] + np.array([3.0, 4.0])  # 5 m from the node
    targets = xy[t_idx] + np.array([-6.0, 8.0])  # 10 m from the node
    pairs = network_pairs(shenzhen, origins, targets, cutoff_m=np.inf)
    np.testing.assert_array_equal(pairs.origin_node, o_idx)
    np.testing.assert_allclose(pairs.origin_snap_m, 5.0)
    np.testing.assert_allclose(pairs.target_snap_m, 10.0)
    ids = shenzhen.node_ids
    for i, j, d in zip(pairs.origin_index[:200], pairs.target_index[:200],
                       pairs.distance_m[:200], strict=True):
        path = nx.shortest_path_length(reference, ids[o_idx[i]], ids[t_idx[j]], weight="length")
        assert d == pytest.approx(5.0 + path + 10.0, abs=1e-6)


def test_shenzhen_chunking_and_direction_do_not_change_pairs(
    shenzhen: netmod.WalkingNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    lo, hi = shenzhen.node_xy.min(axis=0), shenzhen.node_xy.max(axis=0)
    a = rng.uniform(lo, hi, size=(300, 2))
    b = rng.uniform(lo, hi, size=(40, 2))
    base = network_pairs(shenzhen, a, b, cutoff_m=700.0, max_snap_m=300.0)
    assert base.n_pairs > 100
    for chunk in (1, 7):
        other = network_pairs(shenzhen, a, b, cutoff_m=700.0, max_snap_m=300.0,
                              chunk_size=chunk)
        np.testing.assert_array_equal(other.origin_index, base.origin_index)
        np.testing.assert_array_equal(other.target_index, base.target_index)
        np.testing.assert_array_equal(other.distance_m, base.distance_m)
    # Node pairs expanded to point pairs in small batches: same result.
    monkeypatch.setattr(netmod, "MAX_EXPAND_PAIRS", 50)
    other = network_pairs(shenzhen, a, b, cutoff_m=700.0, max_snap_m=300.0)
    np.testing.assert_array_equal(other.origin_index, base.origin_index)
    np.testing.assert_array_equal(other.target_index, base.target_index)
    np.testing.assert_array_equal(other.distance_m, base.distance_m)
    monkeypatch.undo()
    # Swapping the roles runs Dijkstra from the other side; same pairs.
    swapped = network_pairs(shenzhen, b, a, cutoff_m=700.0, max_snap_m=300.0)
    order = np.lexsort((swapped.origin_index, swapped.target_index))
    np.testing.assert_array_equal(swapped.target_index[order], base.origin_index)
    np.testing.assert_array_equal(swapped.origin_index[order], base.target_index)
    np.testing.assert_allclose(swapped.distance_m[order], base.distance_m, atol=1e-6)


# --------------------------------------------------------------------------------------
# Tiny hand-made GraphML
# --------------------------------------------------------------------------------------

TINY_NODES = {  # id: (x, y) in UTM 50N metres relative to (X0, Y0)
    "A": (0, 0), "B": (80, 0), "C": (80, 50), "D": (80, 300), "E": (0, 300), "F": (200, 0),
}
TINY_EDGES = [  # (u, v, attributes)
    ("A", "B", {"length": "100", "highway": "residential"}),
    ("A", "B", {"length": "80", "highway": "footway"}),  # parallel: shorter wins
    ("B", "A", {"length": "90", "highway": "residential"}),  # antiparallel
    ("B", "C", {"length": "50", "highway": "footway"}),
    ("A", "C", {"length": "30", "highway": "footway", "foot": "no"}),  # dropped
    ("C", "D", {"length": "250", "highway": "residential", "access": "private",
                "foot": "yes"}),  # kept: foot=yes overrides access=private
    ("A", "E", {"length": "300", "highway": "residential", "access": "no"}),  # dropped
    ("D", "E", {"length": "80", "highway": "living_street"}),
    ("B", "F", {"length": "120", "highway": "motorway"}),  # dropped, F left isolated
    ("E", "A", {"length": "10", "highway": "['footway', 'trunk']"}),  # dropped
    ("C", "E", {"length": "400", "highway": "service", "access": "permissive"}),
]
TINY_DIST = {("A", "B"): 80.0, ("A", "C"): 130.0, ("A", "D"): 380.0, ("A", "E"): 460.0,
             ("C", "E"): 330.0, ("B", "D"): 300.0}


def _graphml(
    nodes: dict, edges: list, *, crs: str | None = "EPSG:32650",
    origin: tuple[float, float] = (X0, Y0),
) -> str:
    keys = ["length", "highway", "foot", "access", "geometry"]
    lines = ["<?xml version='1.0' encoding='utf-8'?>",
             '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">',
             '<key id="gcrs" for="graph" attr.name="crs" attr.type="string"/>',
             '<key id="nx" for="node" attr.name="x" attr.type="string"/>',
             '<key id="ny" for="node" attr.name="y" attr.type="string"/>']
    lines += [f'<key id="e_{k}" for="edge" attr.name="{k}" attr.type="string"/>' for k in keys]
    lines.append('<graph edgedefault="directed">')
    if crs:
        lines.append(f'<data key="gcrs">{crs}</data>')
    for name, (x, y) in nodes.items():
        lines.append(f'<node id="{name}"><data key="nx">{origin[0] + x!r}</data>'
                     f'<data key="ny">{origin[1] + y!r}</data></node>')
    for u, v, attrs in edges:
        data = "".join(f'<data key="e_{k}">{val}</data>' for k, val in attrs.items())
        lines.append(f'<edge source="{u}" target="{v}">{data}</edge>')
    lines += ["</graph>", "</graphml>"]
    return "\n".join(lines)


@pytest.fixture
def tiny_graphml(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.graphml"
    path.write_text(_graphml(TINY_NODES, TINY_EDGES), encoding="utf-8")
    return path


def _node_xy(name: str, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """Coordinates ``(1, 2)`` of a tiny-graph node, optionally shifted by (dx, dy) metres."""
    x, y = TINY_NODES[name]
    return np.array([[X0 + x + dx, Y0 + y + dy]])


def test_tiny_graphml_known_answers(tiny_graphml: Path) -> None:
    net = load_network(tiny_graphml, crs=UTM50)
    assert sorted(net.node_ids) == ["A", "B", "C", "D", "E"]  # F only had a motorway
    assert net.n_edges_read == 11
    assert net.n_edges_kept == 7
    assert dict(net.dropped_by_reason) == {"highway": 2, "foot": 1, "access": 1}
    assert net.n_links == 5
    for (a, b), expected in TINY_DIST.items():
        pairs = network_pairs(net, _node_xy(a), _node_xy(b), cutoff_m=1000.0)
        assert pairs.distance_m.tolist() == [pytest.approx(expected, abs=1e-9)], (a, b)
    # Cutoff is inclusive.
    assert network_pairs(net, _node_xy("A"), _node_xy("C"), cutoff_m=130.0).n_pairs == 1
    assert network_pairs(net, _node_xy("A"), _node_xy("C"), cutoff_m=129.999).n_pairs == 0


def test_tiny_graphml_custom_exclusions_and_lonlat(tmp_path: Path) -> None:
    path = tmp_path / "tiny.graphml"
    path.write_text(_graphml(TINY_NODES, TINY_EDGES), encoding="utf-8")
    # Nothing excluded by highway: the motorway to F and the E-A shortcut come back.
    net = load_network(path, crs=UTM50, exclude_highways=())
    assert net.n_nodes == 6 and net.dropped_by_reason["highway"] == 0
    pairs = network_pairs(net, _node_xy("A"), _node_xy("E"), cutoff_m=1000.0)
    assert pairs.distance_m.tolist() == [pytest.approx(10.0)]
    # Lon/lat nodes without a crs attribute are taken as WGS84 and projected.
    to_ll = Transformer.from_crs(UTM50, "EPSG:4326", always_xy=True)
    ll_nodes = {k: to_ll.transform(X0 + x, Y0 + y) for k, (x, y) in TINY_NODES.items()}
    path.write_text(_graphml(ll_nodes, TINY_EDGES, crs=None, origin=(0.0, 0.0)),
                    encoding="utf-8")
    net = load_network(path, crs=UTM50)
    i = list(net.node_ids).index("C")
    np.testing.assert_allclose(net.node_xy[i], _node_xy("C")[0], atol=1e-3)


def test_points_sharing_a_node_all_get_pairs(tiny_graphml: Path) -> None:
    net = load_network(tiny_graphml, crs=UTM50)
    origins = np.vstack([_node_xy("A")] * 3 + [_node_xy("A", 0.0, 2.0)])
    targets = np.vstack([_node_xy("C"), _node_xy("C", 1.0, 0.0), _node_xy("B")])
    pairs = network_pairs(net, origins, targets, cutoff_m=132.0)
    got = sorted(zip(pairs.origin_index.tolist(), pairs.target_index.tolist(),
                     np.round(pairs.distance_m, 9).tolist(), strict=True))
    expected = []
    for i in range(4):
        snap_o = 2.0 if i == 3 else 0.0
        for j, (path, snap_t) in enumerate([(130.0, 0.0), (130.0, 1.0), (80.0, 0.0)]):
            if snap_o + path + snap_t <= 132.0:
                expected.append((i, j, snap_o + path + snap_t))
    assert got == expected
    assert len(got) == 11  # (3 on A) x 3 targets, plus the 2-m-off origin to C and B only


def test_far_points_are_flagged_and_get_no_pairs(tiny_graphml: Path) -> None:
    net = load_network(tiny_graphml, crs=UTM50)
    origins = np.vstack([_node_xy("A"), _node_xy("A", 0.0, -150.0), _node_xy("B")])
    targets = np.vstack([_node_xy("D"), _node_xy("B", 5000.0, 0.0)])
    pairs = network_pairs(net, origins, targets, cutoff_m=10_000.0, max_snap_m=100.0)
    assert pairs.far_origins.tolist() == [1]
    assert pairs.far_targets.tolist() == [1]
    np.testing.assert_allclose(pairs.origin_snap_m, [0.0, 150.0, 0.0])
    assert pairs.origin_index.tolist() == [0, 2] and pairs.target_index.tolist() == [0, 0]
    # Without max_snap_m nothing is far and the 150 m snap counts in the distance.
    pairs = network_pairs(net, origins, targets, cutoff_m=10_000.0)
    assert pairs.far_origins.size == 0 and pairs.n_pairs == 6
    d = {(i, j): x for i, j, x in zip(pairs.origin_index, pairs.target_index,
                                       pairs.distance_m, strict=True)}
    assert d[(1, 0)] == pytest.approx(150.0 + 380.0)
    dp = pairs.to_distance_pairs()
    np.testing.assert_array_equal(dp.demand_index, pairs.origin_index)


def test_snap_points(tiny_graphml: Path) -> None:
    net = load_network(tiny_graphml, crs=UTM50)
    snap = snap_points(net, np.vstack([_node_xy("D", 3.0, 4.0), _node_xy("B")]))
    assert [net.node_ids[k] for k in snap.node] == ["D", "B"]
    np.testing.assert_allclose(snap.distance_m, [5.0, 0.0])
    assert snap_points(net, np.empty((0, 2))).node.size == 0


# --------------------------------------------------------------------------------------
# Tiny GeoJSON edge file
# --------------------------------------------------------------------------------------


def _feature(coords: list, length: float | None = None, **tags: str) -> dict:
    multi = isinstance(coords[0][0], list | tuple)

    def shift(line: list) -> list:
        return [[X0 + x, Y0 + y] for x, y in line]

    geometry = ({"type": "MultiLineString", "coordinates": [shift(p) for p in coords]}
                if multi else {"type": "LineString", "coordinates": shift(coords)})
    props: dict = {"length": length, "highway": tags.get("highway"), "foot": tags.get("foot")}
    return {"type": "Feature", "properties": props, "geometry": geometry}


def _write_geojson(path: Path, features: list) -> Path:
    path.write_text(json.dumps({
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32650"}},
        "features": features,
    }), encoding="utf-8")
    return path


GEO_FEATURES = [
    _feature([(0, 0), (100, 0)], highway="footway"),  # P-Q, 100 by geometry
    _feature([(0, 0), (50, 60), (100, 0)]),  # parallel P-Q, 156.2: loses
    _feature([(100, 0), (100, 200)], length=150.0),  # Q-R: given length beats geometry
    _feature([(0, 0), (100, 200)], foot="no"),  # P-R shortcut, dropped
    _feature([[(100, 200), (100, 260)], [(100, 260), (100, 300)]]),  # R-S, merges: 100
    _feature([[(100, 300), (0, 300)], [(0, 400), (50, 400)]]),  # S-T 100 and U-V 50
    _feature([(0, 300), (100, 200)], highway="motorway"),  # T-R, dropped
]
GEO_POINTS = {"P": (0, 0), "Q": (100, 0), "R": (100, 200), "S": (100, 300), "T": (0, 300),
              "U": (0, 400), "V": (50, 400)}


def test_tiny_geojson_known_answers(tmp_path: Path) -> None:
    path = _write_geojson(tmp_path / "edges.geojson", GEO_FEATURES)
    net = load_network(path, crs=UTM50)
    assert net.n_edges_read == 7 and net.n_edges_kept == 5
    assert dict(net.dropped_by_reason) == {"highway": 1, "foot": 1, "access": 0}
    assert net.n_nodes == 7 and net.n_links == 5
    xy = np.array([[X0 + x, Y0 + y] for x, y in GEO_POINTS.values()])
    pairs = network_pairs(net, xy[:1], xy, cutoff_m=1000.0)  # from P
    names = list(GEO_POINTS)
    got = {names[j]: d for j, d in zip(pairs.target_index, pairs.distance_m, strict=True)}
    assert got == pytest.approx({"P": 0.0, "Q": 100.0, "R": 250.0, "S": 350.0, "T": 450.0})
    pairs = network_pairs(net, xy[5:6], xy[6:7], cutoff_m=1000.0)  # U-V, other component
    assert pairs.distance_m.tolist() == [pytest.approx(50.0)]
    assert np.bincount(net.components()).tolist() == [5, 2]


def test_geopackage_edges_layer_in_lonlat(tmp_path: Path) -> None:
    gpd = pytest.importorskip("geopandas")
    from shapely.geometry import LineString, Point

    lines = [LineString([(X0, Y0), (X0 + 100, Y0)]),
             LineString([(X0 + 100, Y0), (X0 + 100, Y0 + 100)]),
             LineString([(X0, Y0), (X0 + 100, Y0 + 100)])]
    edges = gpd.GeoDataFrame({"highway": ["footway", "residential", "trunk"]},
                             geometry=lines, crs=UTM50).to_crs("EPSG:4326")
    nodes = gpd.GeoDataFrame({"osmid": [1]}, geometry=[Point(X0, Y0)], crs=UTM50)
    path = tmp_path / "osmnx_like.gpkg"
    nodes.to_crs("EPSG:4326").to_file(path, layer="nodes", driver="GPKG")
    edges.to_file(path, layer="edges", driver="GPKG")  # read from here, not "nodes"
    net = load_network(path, crs=UTM50)
    assert (net.n_nodes, net.n_links, net.dropped_by_reason["highway"]) == (3, 2, 1)
    pairs = network_pairs(net, [[X0, Y0]], [[X0 + 100, Y0 + 100]], cutoff_m=1000.0)
    assert pairs.distance_m.tolist() == [pytest.approx(200.0, abs=1e-3)]  # not 141 (trunk)


# --------------------------------------------------------------------------------------
# Disk cache
# --------------------------------------------------------------------------------------


def test_cache_hit_on_second_call(
    tiny_graphml: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    origins = np.vstack([_node_xy("A"), _node_xy("E", 0.0, 30.0)])
    targets = np.vstack([_node_xy("C"), _node_xy("D")])
    kwargs = {"crs": UTM50, "cutoff_m": 500.0, "max_snap_m": 20.0, "cache_dir": cache}
    first = cached_network_pairs(tiny_graphml, None, origins, targets, **kwargs)
    assert not first.from_cache
    assert len(list(cache.glob("network-pairs-*.npz"))) == 1

    def boom(*args: object, **kw: object) -> None:
        raise AssertionError("recomputed despite a cache entry")

    monkeypatch.setattr(netmod, "network_pairs", boom)
    monkeypatch.setattr(netmod, "load_network", boom)
    second = cached_network_pairs(tiny_graphml, None, origins, targets, **kwargs)
    assert second.from_cache
    for name in ("origin_index", "target_index", "distance_m", "origin_node", "origin_snap_m",
                 "target_node", "target_snap_m", "far_origins", "far_targets"):
        np.testing.assert_array_equal(getattr(second, name), getattr(first, name))
    assert second.far_origins.tolist() == [1]
    assert (second.cutoff_m, second.max_snap_m) == (500.0, 20.0)
    monkeypatch.undo()


def test_cache_with_preloaded_network(tiny_graphml: Path, tmp_path: Path) -> None:
    # The scenario loader's call: the network is loaded first, then the pairs are cached.
    net = load_network(tiny_graphml, crs=UTM50)
    origins, targets = _node_xy("A"), np.vstack([_node_xy("C"), _node_xy("D")])
    cache = tmp_path / "cache"
    first = cached_network_pairs(tiny_graphml, net, origins, targets, cutoff_m=500.0,
                                 max_snap_m=20.0, cache_dir=cache)
    assert not first.from_cache and first.distance_m.tolist() == [130.0, 380.0]
    # Same entry whether the network is passed or loaded from the path on a miss.
    again = cached_network_pairs(tiny_graphml, None, origins, targets, crs=UTM50,
                                 cutoff_m=500.0, max_snap_m=20.0, cache_dir=cache)
    assert again.from_cache
    np.testing.assert_array_equal(again.distance_m, first.distance_m)
    other = load_network(tiny_graphml, crs=UTM50, exclude_highways={"motorway"})
    assert not cached_network_pairs(tiny_graphml, other, origins, targets, cutoff_m=500.0,
                                    max_snap_m=20.0, cache_dir=cache).from_cache
    assert len(list(cache.glob("*.npz"))) == 2
    # cache_dir=False: computed, nothing written.
    off = tmp_path / "off"
    pairs = cached_network_pairs(tiny_graphml, net, origins, targets, cutoff_m=500.0,
                                 cache_dir=False)
    assert not pairs.from_cache and not off.exists()
    with pytest.raises(ValueError, match="not both"):
        cached_network_pairs(tiny_graphml, net, origins, targets, cutoff_m=500.0, crs=UTM50,
                             cache_dir=cache)
    # A damaged entry is recomputed.
    for entry in cache.glob("*.npz"):
        entry.write_bytes(b"garbage")
    assert not cached_network_pairs(tiny_graphml, net, origins, targets, cutoff_m=500.0,
                                    max_snap_m=20.0, cache_dir=cache).from_cache


def test_cache_key_hashes_content_and_options(
    tiny_graphml: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    xy = _node_xy("A")
    key = cache_key(tiny_graphml, xy, xy, crs=UTM50, cutoff_m=500.0)
    assert key == cache_key(tiny_graphml, xy.copy(), xy, crs=UTM50, cutoff_m=500.0)
    assert key != cache_key(tiny_graphml, xy + 0.001, xy, crs=UTM50, cutoff_m=500.0)
    assert key != cache_key(tiny_graphml, xy, xy, crs=UTM50, cutoff_m=501.0)
    assert key != cache_key(tiny_graphml, xy, xy, crs=UTM50, cutoff_m=500.0, max_snap_m=50.0)
    assert key != cache_key(tiny_graphml, xy, xy, crs=UTM50, cutoff_m=500.0,
                            exclude_highways={"motorway"})
    # Same size and modification time, one digit changed: a different key.
    stat = tiny_graphml.stat()
    text = tiny_graphml.read_text(encoding="utf-8")
    tiny_graphml.write_text(text.replace('"e_length">250<', '"e_length">260<'),
                            encoding="utf-8")
    os.utime(tiny_graphml, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert tiny_graphml.stat().st_size == stat.st_size
    assert key != cache_key(tiny_graphml, xy, xy, crs=UTM50, cutoff_m=500.0)
    # Default directory from LIFECIRCLE_CACHE_DIR.
    monkeypatch.setenv("LIFECIRCLE_CACHE_DIR", str(tmp_path / "envcache"))
    assert netmod.default_cache_dir() == tmp_path / "envcache"
    cached_network_pairs(tiny_graphml, None, xy, xy, crs=UTM50, cutoff_m=500.0)
    assert len(list((tmp_path / "envcache").glob("*.npz"))) == 1


# --------------------------------------------------------------------------------------
# Errors and helpers
# --------------------------------------------------------------------------------------


def _messages(exc: pytest.ExceptionInfo[InputError]) -> list[str]:
    return [p.message for p in exc.value.problems]


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.graphml"
    with pytest.raises(InputError) as exc:
        load_network(missing, crs=UTM50)
    assert _messages(exc) == ["network file not found"]
    assert exc.value.problems[0].file == str(missing)
    with pytest.raises(InputError, match="network file not found"):
        cached_network_pairs(missing, None, np.zeros((1, 2)), np.zeros((1, 2)), crs=UTM50,
                             cutoff_m=1.0, cache_dir=tmp_path)
    garbage = tmp_path / "broken.graphml"
    garbage.write_text("this is not xml <<<", encoding="utf-8")
    with pytest.raises(InputError, match="cannot read GraphML"):
        load_network(garbage, crs=UTM50)
    junk = tmp_path / "broken.gpkg"
    junk.write_bytes(b"\x00\x01 not a geopackage")
    with pytest.raises(InputError, match="cannot read street edges"):
        load_network(junk, crs=UTM50)


def test_no_edges_and_unusable_edges(tmp_path: Path) -> None:
    path = tmp_path / "g.graphml"
    path.write_text(_graphml(TINY_NODES, []), encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_network(path, crs=UTM50)
    assert _messages(exc) == ["the network has no edges"]
    with pytest.raises(InputError, match="the network has no edges"):
        load_network(_write_geojson(tmp_path / "empty.geojson", []), crs=UTM50)

    path.write_text(_graphml(TINY_NODES, [("A", "B", {"highway": "footway"}),
                                          ("B", "C", {"length": "-3"})]), encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_network(path, crs=UTM50)
    assert _messages(exc) == ["1 edges have no length and no geometry, e.g. A-B",
                              "1 edges have a length that is not a number >= 0, e.g. B-C ('-3')"]
    assert exc.value.problems[0].column == "length"

    path.write_text(_graphml(TINY_NODES, [("A", "B", {"length": "5", "highway": "trunk"}),
                                          ("B", "C", {"length": "5", "foot": "no"})]),
                    encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_network(path, crs=UTM50)
    assert _messages(exc) == ["all 2 edges were dropped as not walkable (highway: 1, foot: 1)"]

    geo = _write_geojson(tmp_path / "e.geojson", [
        _feature([(0, 0), (10, 0)]),
        {"type": "Feature", "properties": {"length": None}, "geometry": None},
    ])
    with pytest.raises(InputError) as exc:
        load_network(geo, crs=UTM50)
    assert _messages(exc) == ["edge has no geometry, so its endpoints are unknown"]
    assert (exc.value.problems[0].row, exc.value.problems[0].column) == (2, "geometry")


def test_geographic_target_crs_rejected(tiny_graphml: Path) -> None:
    with pytest.raises(InputError, match="is geographic"):
        load_network(tiny_graphml, crs="EPSG:4326")


def test_radius_from_minutes() -> None:
    assert radius_from_minutes(5) == 300.0
    assert radius_from_minutes(15) == 900.0
    assert radius_from_minutes(10, speed_m_per_min=80.0) == 800.0
    with pytest.raises(ValueError, match="minutes"):
        radius_from_minutes(-1)
    with pytest.raises(ValueError, match="speed"):
        radius_from_minutes(5, speed_m_per_min=0)
