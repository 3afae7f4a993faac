"""Write the benchmarks' 200,000-unit city as a scenario folder (CSV + TOML) that the
CLI and the web app open like any other: ``python -m benchmarks.city_scenario DIR``.

Used to check that the app stays interactive at city scale (README, "Web app").
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.instances import build_case


def write_city(folder: str | Path) -> Path:
    """Write ``demand.csv``, ``sites.csv`` and ``city-200k.toml``; returns the TOML path."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    instance = build_case("city-x10-200k").instance
    demand = pd.DataFrame({"id": instance.demand_ids, "x": instance.demand_xy[:, 0].round(1),
                           "y": instance.demand_xy[:, 1].round(1)})
    columns = ("pop_total", "pop_60plus", "pop_0_3")
    for t, column in enumerate(columns):
        demand[column] = instance.population[:, t].astype(np.int64)
    demand["community_id"] = [f"C{int(x // 2500):02d}{int(y // 2500):02d}"
                              for x, y in instance.demand_xy]
    sites = pd.DataFrame({"id": instance.site_ids, "x": instance.site_xy[:, 0].round(1),
                          "y": instance.site_xy[:, 1].round(1)})
    for t, kind in enumerate(instance.types):
        sites[f"cost_{kind.name}"] = instance.site_cost[:, t]
    demand.to_csv(out / "demand.csv", index=False)
    sites.to_csv(out / "sites.csv", index=False)
    lines = [
        'name = "city-200k"',
        'description = "SYNTHETIC benchmark city: 200,000 units, 5,000 sites, 3 types"',
        f"budget = {instance.budget:.0f}",
        'demand = "demand.csv"', 'sites = "sites.csv"', 'crs = "EPSG:32648"', "",
    ]
    for t, kind in enumerate(instance.types):
        lines += [f"[types.{kind.name}]", f'population = "{columns[t]}"',
                  f"radius_m = {kind.radius_m:g}", f'cost = "cost_{kind.name}"',
                  f"weight = {kind.weight:g}", ""]
    path = out / "city-200k.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_city(sys.argv[1] if len(sys.argv) > 1 else "results/city-200k"))
