"""Scenarios with a street network: walking distances flow into the model and results."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from optimizer.errors import InputError
from scenarios.runner import run_scenario
from scenarios.spec import load_scenario


def _grid_graphml(path: Path, *, spacing: float = 100.0, size: int = 17) -> None:
    """A square street grid over the tiny scenario's 1.6 km square, plus one motorway."""
    graph = nx.MultiDiGraph(crs="EPSG:32648")
    for i in range(size):
        for j in range(size):
            graph.add_node(f"{i}_{j}", x=i * spacing, y=j * spacing)
    for i in range(size):
        for j in range(size):
            for di, dj in ((1, 0), (0, 1)):
                if i + di < size and j + dj < size:
                    for a, b in ((f"{i}_{j}", f"{i + di}_{j + dj}"),
                                 (f"{i + di}_{j + dj}", f"{i}_{j}")):
                        graph.add_edge(a, b, length=spacing, highway="residential")
    graph.add_edge("0_0", f"{size - 1}_{size - 1}", length=1.0, highway="motorway")
    nx.write_graphml(graph, path)


def _network_scenario(tiny_dir: Path) -> Path:
    _grid_graphml(tiny_dir / "streets.graphml")
    path = tiny_dir / "scenario.toml"
    text = path.read_text().replace(
        'crs = "EPSG:32648"', 'crs = "EPSG:32648"\nnetwork = { path = "streets.graphml" }'
    )
    path.write_text(text)
    return path


def test_walking_distances_are_manhattan_on_a_grid(tiny_dir: Path) -> None:
    result = run_scenario(_network_scenario(tiny_dir))
    plan = result.plan
    assert plan.status == "optimal"
    units = plan.unit_coverage()
    served = units[units.covered]
    demand = pd.read_csv(tiny_dir / "demand.csv").set_index("id")
    facilities = pd.concat([
        pd.read_csv(tiny_dir / "sites.csv").set_index("id")[["x", "y"]],
        pd.read_csv(tiny_dir / "existing.csv").set_index("id")[["x", "y"]],
    ])
    # On a 100 m grid: snap to the nearest crossing, walk the blocks, snap off again.
    for row in served.itertuples():
        d, f = demand.loc[row.demand_id], facilities.loc[row.serving_id]
        nd = np.round(np.array([d.x, d.y]) / 100) * 100
        nf = np.round(np.array([f.x, f.y]) / 100) * 100
        walk = (np.hypot(*(np.array([d.x, d.y]) - nd)) + np.abs(nd - nf).sum()
                + np.hypot(*(np.array([f.x, f.y]) - nf)))
        assert row.distance_m == pytest.approx(walk, abs=1e-6)
        assert row.distance_m >= np.hypot(d.x - f.x, d.y - f.y) - 1e-6
    assert any("walking distances on streets.graphml" in n for n in result.instance.notes)
    # Walking never covers more than the straight line does.
    euclidean = run_scenario(replace(load_scenario(tiny_dir / "scenario.toml"), network=None))
    assert plan.objective <= euclidean.plan.objective + 1e-9


def test_points_far_from_any_street_are_reported(tiny_dir: Path) -> None:
    demand = pd.read_csv(tiny_dir / "demand.csv")
    demand.loc[7, ["x", "y"]] = [2400.0, 2400.0]
    demand.to_csv(tiny_dir / "demand.csv", index=False)
    path = _network_scenario(tiny_dir)
    with pytest.raises(InputError) as caught:
        run_scenario(path)
    (problem,) = caught.value.problems
    assert str(problem) == (
        "demand.csv, row 8: demand unit is 1,131 m from the nearest street (more than "
        "network.max_snap_m = 300)"
    )
    assert np.isclose(np.hypot(800, 800), 1131.37, atol=0.01)
