"""Exports (scenarios.exports): CSV with BOM, XLSX, GeoPackage, write_exports and the CLI flag.

Every export is read back with the ordinary readers (pandas, geopandas) and compared with the
plan's own tables.
"""

from __future__ import annotations

import dataclasses
import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optimizer.solvers import SolveStatus
from scenarios import ScenarioResult, load_scenario, run_scenario
from scenarios.cli import main
from scenarios.exports import (
    _sheet_name,
    plan_layers,
    plan_tables,
    to_csv_bytes,
    to_geopackage_bytes,
    to_xlsx_bytes,
    write_exports,
)

gpd = pytest.importorskip("geopandas")
pytest.importorskip("openpyxl")
pyogrio = pytest.importorskip("pyogrio")

TINY = Path(__file__).parent / "data" / "tiny"
BOM = b"\xef\xbb\xbf"


@pytest.fixture(scope="module")
def tiny() -> ScenarioResult:
    return run_scenario(TINY / "scenario.toml", time_limit_s=10)


@pytest.fixture(scope="module")
def tiny_zh(tmp_path_factory: pytest.TempPathFactory) -> ScenarioResult:
    """The tiny scenario with a community column and Chinese text on demand and sites."""
    folder = tmp_path_factory.mktemp("tiny_zh") / "tiny"
    shutil.copytree(TINY, folder)
    demand = pd.read_csv(folder / "demand.csv")
    demand["community_id"] = [f"C{k % 4}" for k in range(len(demand))]
    demand["community_zh"] = [["解放碑", "七星岗", "大溪沟", "朝天门"][k % 4]
                              for k in range(len(demand))]
    demand.to_csv(folder / "demand.csv", index=False)
    sites = pd.read_csv(folder / "sites.csv")
    sites["name_zh"] = [f"闲置空间{k}号" for k in range(len(sites))]
    sites.to_csv(folder / "sites.csv", index=False)
    return run_scenario(folder / "scenario.toml", time_limit_s=10)


@pytest.fixture(scope="module")
def infeasible() -> ScenarioResult:
    """Forced sites costing more than the budget: a result without a plan."""
    spec = dataclasses.replace(load_scenario(TINY / "scenario.toml"), budget=100_000.0,
                               force_open={"S04": "childcare"})
    result = run_scenario(spec, time_limit_s=10)
    assert result.plan.status == SolveStatus.INFEASIBLE
    return result


def _blank(frame: pd.DataFrame) -> pd.DataFrame:
    """Empty strings and missing values alike, numbers as floats (for read-back checks)."""
    frame = frame.reset_index(drop=True).copy()
    for column in frame.columns:
        values = frame[column]
        if values.isna().all() or (values.astype(object) == "").all():
            frame[column] = pd.Series([""] * len(frame), dtype=object)
        elif pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            frame[column] = values.astype(float)
        else:
            frame[column] = values.astype(object).where(values.notna(), "").astype(str)
    return frame


def _summary(result: ScenarioResult) -> dict[str, object]:
    table = plan_tables(result)["summary"]
    return dict(zip(table["key"], table["value"], strict=True))


def test_plan_tables_match_the_plan(tiny: ScenarioResult, tiny_zh: ScenarioResult) -> None:
    plan = tiny.plan
    tables = plan_tables(tiny)
    assert list(tables) == ["summary", "sites", "by_type", "coverage"]  # no community column
    assert list(tables["summary"].columns) == ["key", "value"]
    pd.testing.assert_frame_equal(tables["sites"], plan.chosen_sites())
    pd.testing.assert_frame_equal(tables["by_type"], plan.coverage_by_type())
    pd.testing.assert_frame_equal(tables["coverage"], plan.unit_coverage())
    summary = _summary(tiny)
    assert summary["scenario"] == "tiny"
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(9070.0)
    assert summary["total_cost"] == pytest.approx(plan.total_cost)
    assert summary["budget"] == pytest.approx(3_000_000)
    by_type = plan.coverage_by_type().set_index("type")
    for name in plan.instance.type_names:
        assert summary[f"new_sites.{name}"] == by_type.loc[name, "new_sites"]
        assert summary[f"covered.{name}"] == pytest.approx(by_type.loc[name, "covered"])
        assert summary[f"newly_covered.{name}"] == pytest.approx(
            by_type.loc[name, "newly_covered"])
        assert summary[f"coverage_pct.{name}"] == pytest.approx(
            by_type.loc[name, "coverage_pct"])

    grouped = plan_tables(tiny_zh)
    assert list(grouped) == ["summary", "sites", "by_type", "communities", "coverage"]
    pd.testing.assert_frame_equal(grouped["communities"],
                                  tiny_zh.plan.coverage_by_group("community_id"))


def test_csv_bytes_have_a_bom_and_round_trip(tiny_zh: ScenarioResult) -> None:
    tables = plan_tables(tiny_zh)
    for name, table in tables.items():
        data = to_csv_bytes(tiny_zh, name)
        assert data.startswith(BOM)
        text = data.decode("utf-8-sig")
        assert not text.startswith("\ufeff")
        back = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])
        assert list(back.columns) == list(table.columns)
        if name == "summary":  # mixed text and numbers: compare as text
            assert back["key"].tolist() == table["key"].tolist()
            assert [str(v) for v in back["value"]] == [str(v) for v in table["value"]]
            continue
        pd.testing.assert_frame_equal(_blank(back), _blank(table), check_exact=False,
                                      rtol=1e-12)
    sites = pd.read_csv(io.BytesIO(to_csv_bytes(tiny_zh)), encoding="utf-8-sig")
    assert sites["name_zh"].str.startswith("闲置空间").all()
    with pytest.raises(KeyError, match="communities"):
        to_csv_bytes(tiny_zh, "nonexistent")


def test_xlsx_reads_back_as_the_plan_tables(tiny_zh: ScenarioResult) -> None:
    book = pd.read_excel(io.BytesIO(to_xlsx_bytes(tiny_zh)), sheet_name=None)
    types = list(tiny_zh.instance.type_names)
    assert list(book) == ["summary", "sites", "by_type", "communities", *types]
    tables = plan_tables(tiny_zh)
    summary = book["summary"]
    assert summary["key"].tolist() == tables["summary"]["key"].tolist()
    for read, value in zip(summary["value"], tables["summary"]["value"], strict=True):
        if isinstance(value, str):
            assert read == value
        else:
            assert float(read) == pytest.approx(float(value))
    for name in ("sites", "by_type", "communities"):
        pd.testing.assert_frame_equal(_blank(book[name]), _blank(tables[name]),
                                      check_exact=False, rtol=1e-12)
    assert book["communities"]["community_id"].nunique() == 4
    coverage = tables["coverage"]
    for name in types:
        rows = coverage[coverage["type"] == name]
        assert len(book[name]) == tiny_zh.instance.n_demand
        pd.testing.assert_frame_equal(_blank(book[name]), _blank(rows), check_exact=False,
                                      rtol=1e-12)
    assert book["sites"]["name_zh"].str.startswith("闲置空间").all()


def test_sheet_names_are_valid_and_unique() -> None:
    used: set[str] = set()
    names = [_sheet_name(n, used) for n in
             ["summary", "Summary", "a/b:c*?[x]", "'quoted'", "", "x" * 40, "x" * 40]]
    assert names[0] == "summary"
    assert names[1] == "Summary (2)"
    assert names[2] == "a_b_c___x_"
    assert names[3] == "quoted"
    assert names[4] == "sheet"
    assert names[5] == "x" * 31
    assert names[6] == "x" * 27 + " (2)"
    assert all(len(n) <= 31 for n in names)
    assert len({n.casefold() for n in names}) == len(names)


def _layers(data: bytes, folder: Path) -> dict[str, gpd.GeoDataFrame]:
    path = folder / "read.gpkg"
    path.write_bytes(data)
    names = [name for name, _ in pyogrio.list_layers(path)]
    return {name: gpd.read_file(path, layer=name) for name in names}


@pytest.mark.parametrize("wgs84", [False, True])
def test_geopackage_layers_crs_and_coverage(tiny_zh: ScenarioResult, tmp_path: Path,
                                            wgs84: bool) -> None:
    layers = _layers(to_geopackage_bytes(tiny_zh, wgs84=wgs84), tmp_path)
    assert list(layers) == ["sites", "coverage"]
    epsg = 4326 if wgs84 else 32648
    for layer in layers.values():
        assert layer.crs.to_epsg() == epsg
        assert (layer.geometry.geom_type == "Point").all()
    plan, inst = tiny_zh.plan, tiny_zh.instance
    chosen = plan.chosen_sites()
    sites = layers["sites"]
    assert len(sites) == len(chosen) == len(plan.site_index)
    assert set(chosen.columns) <= set(sites.columns)
    assert sites["site_id"].tolist() == chosen["site_id"].tolist()
    metric = sites.to_crs(inst.crs)
    np.testing.assert_allclose(metric.geometry.x, chosen["x"], atol=1e-3)
    np.testing.assert_allclose(metric.geometry.y, chosen["y"], atol=1e-3)

    coverage = layers["coverage"]
    assert len(coverage) == inst.n_demand
    assert coverage["demand_id"].tolist() == inst.demand_ids.astype(str).tolist()
    assert set(coverage["community_zh"]) == {"解放碑", "七星岗", "大溪沟", "朝天门"}
    points = coverage.to_crs(inst.crs)
    np.testing.assert_allclose(np.c_[points.geometry.x, points.geometry.y], inst.demand_xy,
                               atol=1e-3)
    by_type = plan.coverage_by_type().set_index("type")
    for name in inst.type_names:
        pop = coverage[f"{name}_population"]
        for column in ("covered", "covered_existing", "newly_covered"):
            mask = coverage[f"{name}_{column}"].astype(bool)
            assert pop[mask].sum() == pytest.approx(by_type.loc[name, column])
        assert coverage[f"{name}_served"].sum() == pytest.approx(by_type.loc[name, "served"])
        covered = coverage[f"{name}_covered"].astype(bool)
        assert (coverage.loc[covered, f"{name}_distance_m"]
                <= by_type.loc[name, "radius_m"] + 1e-9).all()
        assert coverage.loc[covered, f"{name}_serving_id"].notna().all()


def test_plan_layers_keep_metric_columns(tiny: ScenarioResult) -> None:
    layers = plan_layers(tiny, wgs84=True)
    chosen = tiny.plan.chosen_sites()
    np.testing.assert_allclose(layers["sites"]["x"], chosen["x"])  # x/y stay metric
    assert layers["sites"].crs.to_epsg() == 4326


def test_write_exports_writes_every_format_atomically(tiny_zh: ScenarioResult,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "run"
    (out).mkdir()
    (out / "plan.xlsx").write_bytes(b"stale")  # replaced, not appended to
    paths = write_exports(tiny_zh, out)
    assert paths["xlsx"] == out / "plan.xlsx"
    assert paths["gpkg"] == out / "plan.gpkg"
    tables = plan_tables(tiny_zh)
    assert {k for k in paths if k.startswith("csv_")} == {f"csv_{t}" for t in tables}
    for path in paths.values():
        assert path.exists() and path.stat().st_size > 0
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths.values())
    assert paths["csv_sites"].read_bytes() == to_csv_bytes(tiny_zh, "sites")
    book = pd.read_excel(paths["xlsx"], sheet_name=None)
    assert "communities" in book
    assert [name for name, _ in pyogrio.list_layers(paths["gpkg"])] == ["sites", "coverage"]
    only = write_exports(tiny_zh, tmp_path / "only", formats=["XLSX", "xlsx"])
    assert list(only) == ["xlsx"]
    with pytest.raises(ValueError, match="unknown export format 'pdf'"):
        write_exports(tiny_zh, tmp_path / "bad", formats=("pdf",))


def test_exports_of_a_result_without_a_plan(infeasible: ScenarioResult,
                                            tmp_path: Path) -> None:
    summary = _summary(infeasible)
    assert summary["status"] == "infeasible"
    assert summary["budget"] == pytest.approx(100_000)
    assert summary["objective"] is None
    assert summary["covered.park"] is None
    assert summary["population.park"] == pytest.approx(14044.0)
    tables = plan_tables(infeasible)
    assert tables["sites"].empty
    assert tables["coverage"].empty
    assert "served" in tables["coverage"].columns
    book = pd.read_excel(io.BytesIO(to_xlsx_bytes(infeasible)), sheet_name=None)
    assert book["sites"].empty
    layers = _layers(to_geopackage_bytes(infeasible), tmp_path)
    assert len(layers["sites"]) == 0
    assert len(layers["coverage"]) == infeasible.instance.n_demand
    assert layers["coverage"]["park_covered"].isna().all()


def test_cli_export_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["solve", str(TINY / "scenario.toml"), "--out", str(out), "--export",
                 "xlsx,gpkg", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert (out / "summary.json").exists()
    assert (out / "plan.xlsx").exists() and (out / "plan.gpkg").exists()
    assert not list(out.glob("plan_*.csv"))
    book = pd.read_excel(out / "plan.xlsx", sheet_name="sites")
    assert len(book) == len(pd.read_csv(out / "sites.csv"))
    assert len(gpd.read_file(out / "plan.gpkg", layer="sites")) == len(book)
    with pytest.raises(SystemExit) as stop:
        main(["solve", str(TINY / "scenario.toml"), "--out", str(tmp_path / "x"), "--export",
              "xlsx,pdf"])
    assert stop.value.code == 2
    assert "unknown export format 'pdf'" in capsys.readouterr().err
