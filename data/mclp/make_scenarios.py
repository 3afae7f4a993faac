"""Write CSV + TOML scenarios for two published MCLP instances, so that
``lifecircle solve swain55-s10-p5`` and ``lifecircle solve sjc324-s800-p10`` reproduce the
published optima from the command line. Deterministic; run from anywhere:
``python data/mclp/make_scenarios.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent

CASES = {
    # name: (folder, rows loader, radius, p, expected optimum)
    "swain55-s10-p5": ("swain55", "swain55.txt", 10.0, 5),
    "sjc324-s800-p4": ("sjc", "SJC324.txt", 800.0, 4),
}


def _rows(folder: str, file: str) -> np.ndarray:
    path = HERE / folder / file
    if folder == "swain55":
        return np.loadtxt(path, skiprows=1)[:, 1:4]
    return np.loadtxt(path, skiprows=1, usecols=(0, 1, 2))


def main() -> None:
    for name, (folder, file, radius, p) in CASES.items():
        xyd = _rows(folder, file)
        ids = [f"n{i:03d}" for i in range(len(xyd))]
        demand = pd.DataFrame({"id": ids, "x": xyd[:, 0], "y": xyd[:, 1], "demand": xyd[:, 2]})
        sites = demand[["id", "x", "y"]].assign(cost=1)
        demand.to_csv(HERE / folder / f"{folder}_demand.csv", index=False)
        sites.to_csv(HERE / folder / f"{folder}_sites.csv", index=False)
        (HERE / folder / f"{name}.toml").write_text(
            f'# {file}: every node is demand and a candidate; p = {p} as unit costs and a\n'
            f'# budget of {p}; radius {radius:g} inclusive (d <= S). Planar coordinates.\n'
            f'name = "{name}"\n'
            f'budget = {p}\n'
            f'demand = "{folder}_demand.csv"\n'
            f'sites = "{folder}_sites.csv"\n'
            f'crs = "EPSG:3857"  # a placeholder metric CRS: coordinates are planar\n\n'
            f'[types.facility]\npopulation = "demand"\nradius_m = {radius:g}\n'
            f'cost = "cost"\n'
        )


if __name__ == "__main__":
    main()
