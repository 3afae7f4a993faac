"""Each bad input produces its own one-line message naming file, row and column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from scenario_edits import edit_csv, edit_toml, messages

from optimizer.errors import InputError
from scenarios.loader import build_instance
from scenarios.spec import load_scenario


def test_missing_population_column(tiny_dir: Path) -> None:
    edit_csv(tiny_dir / "demand.csv", lambda f: f.rename(columns={"pop_60plus": "age60"}))
    (message,) = messages(tiny_dir / "scenario.toml")
    assert message.startswith("demand.csv, column 'pop_60plus': missing column")
    assert "age60" in message


def test_nan_and_text_population(tiny_dir: Path) -> None:
    def edit(f: pd.DataFrame) -> None:
        f.loc[2, "pop_total"] = "NaN"
        f.loc[9, "pop_0_3"] = "lots"

    edit_csv(tiny_dir / "demand.csv", edit)
    found = messages(tiny_dir / "scenario.toml")
    assert "demand.csv, row 3, column 'pop_total': value 'NaN' is blank or NaN" in found
    assert "demand.csv, row 10, column 'pop_0_3': value 'lots' is not a number" in found


def test_negative_cost(tiny_dir: Path) -> None:
    edit_csv(tiny_dir / "sites.csv", lambda f: f.__setitem__(
        "cost_canteen", f["cost_canteen"].where(f.index != 1, "-300000")))
    assert messages(tiny_dir / "scenario.toml") == [
        "sites.csv, row 2, column 'cost_canteen': value '-300000' is negative"
    ]


def test_duplicate_site_id(tiny_dir: Path) -> None:
    edit_csv(tiny_dir / "sites.csv", lambda f: f.__setitem__(
        "id", f["id"].where(f.index != 5, "S01")))
    assert messages(tiny_dir / "scenario.toml") == [
        "sites.csv, row 6, column 'id': duplicate id 'S01' (first seen in row 2)"
    ]


def test_lonlat_values_under_metric_crs(tiny_dir: Path) -> None:
    def edit(f: pd.DataFrame) -> None:
        f["x"] = "106.57"
        f["y"] = "29.55"

    edit_csv(tiny_dir / "sites.csv", edit)
    (message,) = messages(tiny_dir / "scenario.toml")
    assert message.startswith("sites.csv, column 'x': x/y values look like longitude/latitude")


def test_metres_declared_as_degrees(tiny_dir: Path) -> None:
    path = edit_toml(tiny_dir, 'crs = "EPSG:32648"', 'crs = "EPSG:4326"')
    found = messages(path)
    assert any(m.startswith("demand.csv, column 'x': crs EPSG:4326 is in degrees") for m in
               found)


def test_missing_crs_for_metric_xy(tiny_dir: Path) -> None:
    path = edit_toml(tiny_dir, 'crs = "EPSG:32648"\n', "")
    found = messages(path)
    assert "demand.csv: x/y coordinates need a 'crs' in the scenario (for example crs = " \
           "\"EPSG:32648\")" in found


def test_unknown_crs(tiny_dir: Path) -> None:
    path = edit_toml(tiny_dir, 'crs = "EPSG:32648"', 'crs = "EPSG:99999999"')
    with pytest.raises(InputError, match=r"scenario.toml: 'crs' is not a known CRS"):
        load_scenario(path)


def test_negative_budget_and_unknown_key(tiny_dir: Path) -> None:
    path = edit_toml(tiny_dir, "budget = 3000000", "budget = -1\nbudjet = 5")
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    found = [str(p) for p in caught.value.problems]
    assert "scenario.toml: 'budget' must be >= 0, got -1" in found
    assert any(m.startswith("scenario.toml: unknown keys: budjet") for m in found)


def test_unknown_existing_type(tiny_dir: Path) -> None:
    edit_csv(tiny_dir / "existing.csv", lambda f: f.__setitem__(
        "type", f["type"].where(f.index != 1, "library")))
    assert messages(tiny_dir / "scenario.toml") == [
        "existing.csv, row 2, column 'type': unknown type 'library' "
        "(scenario types: park, canteen, childcare)"
    ]


def test_forced_site_problems(tiny_dir: Path) -> None:
    path = edit_toml(tiny_dir, "budget = 3000000",
                 'budget = 3000000\nforce_open = { S01 = "park", S99 = "any" }')
    found = messages(path)
    assert "sites.csv: force_open: unknown site id 'S99'" in found
    assert ("sites.csv, row 2, column 'cost_park': force_open: site 'S01' is forced to 'park' "
            "but its cost for that type is blank") in found


def test_forced_and_excluded(tiny_dir: Path) -> None:
    path = edit_toml(tiny_dir, "budget = 3000000",
                 'budget = 3000000\nforce_open = { S02 = "park" }\nexclude = ["S02"]')
    with pytest.raises(InputError, match="site S02 is both in force_open and exclude"):
        load_scenario(path)


def test_distance_table_unknown_ids_and_duplicates(tiny_dir: Path) -> None:
    pd.DataFrame({
        "demand_id": ["D000", "D001", "D001", "D404"],
        "site_id": ["S01", "S02", "S02", "S03"],
        "distance_m": [100, 200, 200, -3],
    }).to_csv(tiny_dir / "pairs.csv", index=False)
    path = edit_toml(tiny_dir, "budget = 3000000", 'budget = 3000000\ndistances = "pairs.csv"')
    found = messages(path)
    assert "pairs.csv, row 4, column 'distance_m': value '-3' is negative" in found
    assert "pairs.csv, row 4, column 'demand_id': unknown demand unit 'D404'" in found
    assert "pairs.csv, row 3, column 'site_id': duplicate pair (D001, S02)" in found


def test_empty_and_missing_files(tiny_dir: Path) -> None:
    (tiny_dir / "existing.csv").write_text("")
    found = messages(tiny_dir / "scenario.toml")
    assert found == ["existing.csv: the file is empty"]
    (tiny_dir / "sites.csv").unlink()
    with pytest.raises(InputError, match=r"'sites' file not found"):
        load_scenario(tiny_dir / "scenario.toml")


def test_all_problems_reported_together(tiny_dir: Path) -> None:
    edit_csv(tiny_dir / "demand.csv", lambda f: f.__setitem__(
        "id", f["id"].where(f.index != 3, "D000")))
    edit_csv(tiny_dir / "sites.csv", lambda f: f.__setitem__(
        "cost_park", f["cost_park"].where(f.index != 2, "-1")))
    found = messages(tiny_dir / "scenario.toml")
    assert len(found) == 2


def test_gbk_encoded_csv_is_read(tiny_dir: Path) -> None:
    frame = pd.read_csv(tiny_dir / "sites.csv")
    frame["kind"] = "闲置用房"
    frame.to_csv(tiny_dir / "sites.csv", index=False, encoding="gbk")
    instance = build_instance(load_scenario(tiny_dir / "scenario.toml"))
    assert instance.n_sites == 14


def test_lonlat_projected_to_utm(tiny_dir: Path) -> None:
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs("EPSG:32648", "EPSG:4326", always_xy=True)
    for name in ("demand.csv", "sites.csv", "existing.csv"):
        frame = pd.read_csv(tiny_dir / name)
        lon, lat = to_lonlat.transform(frame.x + 650_000, frame.y + 3_270_000)
        frame = frame.drop(columns=["x", "y"]).assign(lon=lon, lat=lat)
        frame.to_csv(tiny_dir / name, index=False)
    path = edit_toml(tiny_dir, 'crs = "EPSG:32648"\n', "")
    instance = build_instance(load_scenario(path))
    assert instance.crs == "EPSG:32648"
    original = pd.read_csv(Path(__file__).parent / "data" / "tiny" / "demand.csv")
    assert instance.demand_xy[:, 0] - 650_000 == pytest.approx(original.x.to_numpy(), abs=0.01)


def test_site_far_outside_the_demand_area(tiny_dir: Path) -> None:
    edit_csv(tiny_dir / "sites.csv", lambda f: f.__setitem__(
        "x", f["x"].where(f.index != 3, "90000")))
    assert messages(tiny_dir / "scenario.toml") == [
        "sites.csv, row 4: site is 88.5 km from the nearest demand unit: wrong coordinates "
        "or CRS?"
    ]


def test_unknown_and_wrong_encoding(tiny_dir: Path) -> None:
    path = edit_toml(tiny_dir, 'sites = "sites.csv"',
                 'sites = { path = "sites.csv", encoding = "no-such-codec" }')
    assert messages(path) == ["sites.csv: unknown encoding 'no-such-codec'"]
    (tiny_dir / "demand.csv").write_bytes(b"id,x,y\n\xff\xfe\x00\x81\x82,1,2\n")
    path = edit_toml(tiny_dir, 'demand = "demand.csv"',
                 'demand = { path = "demand.csv", encoding = "utf-8" }')
    found = messages(path)
    assert "demand.csv: cannot decode the file as utf-8; save it as UTF-8 or set encoding" \
        in found
