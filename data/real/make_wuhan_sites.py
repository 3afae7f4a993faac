"""Candidate canteen sites for the real Wuhan age grid: the centre of every third 100 m cell
in both directions (a 300 m lattice, 224 sites), each at unit cost, so that the scenario's
budget is the number of canteens. The sites are illustrative (no real vacancy data is
public); the demand is the real WorldPop grid. Deterministic:
``python data/real/make_wuhan_sites.py``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def main() -> None:
    grid = pd.read_csv(HERE / "wuhan_jianghan_worldpop_agegrid_100m.csv")
    lattice = grid[(grid["row"] % 3 == 1) & (grid["col"] % 3 == 1)]
    sites = pd.DataFrame({
        "id": "site_" + lattice["cell_id"],
        "x_epsg4547": lattice["x_epsg4547"],
        "y_epsg4547": lattice["y_epsg4547"],
        "cost": 1,
    })
    sites.to_csv(HERE / "wuhan_candidate_sites.csv", index=False)


if __name__ == "__main__":
    main()
