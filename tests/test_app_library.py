"""Library functions behind the app and briefs: map layers, idle-type explanations and
variants, safe uploads."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from optimizer.errors import InputError
from optimizer.instance import FacilityType, SitingInstance
from scenarios import load_scenario, run_scenario
from scenarios.explain import apply_edits, explain_idle_types
from scenarios.mapdata import (
    STATUS_EXISTING,
    STATUS_NEW,
    STATUS_UNCOVERED,
    data_layers,
    plan_layers,
    site_reach,
    street_segments,
)
from scenarios.spec import parse_scenario, spec_to_data
from scenarios.uploads import save_upload

TINY = Path(__file__).parent / "data" / "tiny" / "scenario.toml"


@pytest.fixture(scope="module")
def baseline():
    return run_scenario("yuzhong-baseline", time_limit_s=20)


def test_plan_layers_split_every_resident_into_new_existing_uncovered(baseline):
    table = baseline.plan.coverage_by_type().set_index("type")
    for name in baseline.instance.type_names:
        layers = plan_layers(baseline, name)
        cells = layers.cells
        assert not layers.aggregated
        assert cells["population"].sum() == pytest.approx(table.loc[name, "population"])
        assert cells[STATUS_NEW].sum() == pytest.approx(table.loc[name, "newly_covered"])
        assert cells[STATUS_EXISTING].sum() == pytest.approx(
            table.loc[name, "covered_existing"])
        assert cells[STATUS_UNCOVERED].sum() == pytest.approx(
            table.loc[name, "population"] - table.loc[name, "covered"])
    assert len(layers.communities) == 40
    assert len(layers.existing) == 44


def test_site_reach_sums_to_newly_covered_per_type(baseline):
    reach = site_reach(baseline)
    sites = baseline.plan.chosen_sites()
    table = baseline.plan.coverage_by_type().set_index("type")
    for name in baseline.instance.type_names:
        mine = (sites["type"] == name).to_numpy()
        assert reach["newly_covered"].to_numpy()[mine].sum() == pytest.approx(
            table.loc[name, "newly_covered"])
    assert (reach["reached"] >= reach["newly_covered"]).all()


def test_streets_come_from_the_scenario_network(baseline):
    streets = street_segments(baseline.spec, baseline.instance.crs)
    assert len(streets) > 1000
    assert streets[["x0", "x1"]].to_numpy().min() > 640_000


def test_a_city_of_200k_units_is_drawn_as_a_few_thousand_cells():
    rng = np.random.default_rng(1)
    n = 200_000
    xy = rng.uniform(0, 30_000, size=(n, 2))
    population = rng.integers(1, 50, size=(n, 1)).astype(float)
    instance = SitingInstance(
        demand_ids=np.arange(n).astype(str), demand_xy=xy, population=population,
        site_ids=np.array(["s0"]), site_xy=np.array([[1.0, 1.0]]),
        site_cost=np.array([[1.0]]), budget=1.0, types=(FacilityType("park", 300.0),),
        crs="EPSG:32648")
    layers = data_layers(instance, max_cells=4000)
    assert layers.aggregated
    assert len(layers.cells) <= 4000
    assert layers.cells["population"].sum() == pytest.approx(population.sum())
    assert layers.cells["units"].sum() == n


def test_idle_childcare_is_explained_and_each_variant_builds_some(baseline):
    idle = {i.type_name: i for i in explain_idle_types(baseline)}
    assert set(idle) == {"childcare"}
    reason = idle["childcare"]
    assert reason.reason == "low_ratio"
    assert reason.best_ratio < reason.threshold_ratio
    assert {v.kind for v in reason.variants} == {"weight", "target", "share"}
    base = baseline.spec.path.parent
    for variant in reason.variants:
        data = apply_edits(spec_to_data(baseline.spec), variant.edits)
        solved = run_scenario(parse_scenario(data, base=base, label="variant"),
                              time_limit_s=20)
        assert int((solved.plan.type_index == 2).sum()) > 0, variant


def test_apply_edits_sets_and_removes_dotted_keys():
    data = {"types": {"park": {"weight": 1.0}}, "exclude": ["S1"]}
    out = apply_edits(data, {"types.park.weight": 2.0, "policy.targets.park": 0.5,
                             "exclude": None})
    assert out == {"types": {"park": {"weight": 2.0}}, "policy": {"targets": {"park": 0.5}}}
    assert data["types"]["park"]["weight"] == 1.0


def test_no_idle_type_when_every_type_is_built():
    spec = load_scenario(TINY)
    result = run_scenario(replace(spec, budget=spec.budget * 100))
    assert all(i.type_name != "park" for i in explain_idle_types(result))


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_uploads_are_saved_with_safe_names(tmp_path):
    path = save_upload("../../etc/demand data.csv", b"id,x,y\n", tmp_path, role="demand")
    assert path.parent == tmp_path / "demand" and path.name == "demand_data.csv"


@pytest.mark.parametrize(("name", "content", "message"), [
    ("demand.exe", b"MZ", "unsupported file type '.exe'"),
    ("demand.csv", b"x" * (2 * 2**20), "over the 1 MB limit"),
    ("sites.zip", b"not a zip", "not a valid zip file"),
    ("sites.zip", _zip({"../evil.shp": b"x"}), "points outside the archive"),
    ("sites.zip", _zip({"a.shp": b"x", "b.shp": b"y"}), "exactly one .shp"),
])
def test_bad_uploads_are_refused_with_one_line(tmp_path, name, content, message):
    with pytest.raises(InputError) as error:
        save_upload(name, content, tmp_path, role="sites", max_bytes=2**20)
    assert message in str(error.value.problems[0])
    assert not (tmp_path.parent / "evil.shp").exists()


def test_a_zipped_shapefile_is_unpacked_and_readable(tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point

    folder = tmp_path / "shp"
    folder.mkdir()
    frame = gpd.GeoDataFrame({"id": ["S1", "S2"], "cost_park": [1.0, 2.0]},
                             geometry=[Point(650000, 3270000), Point(650100, 3270000)],
                             crs="EPSG:32648")
    frame.to_file(folder / "sites.shp")
    archive = _zip({p.name: p.read_bytes() for p in folder.iterdir()})
    path = save_upload("sites.zip", archive, tmp_path / "session", role="sites")
    assert path.suffix == ".shp"
    assert len(gpd.read_file(path)) == 2
