"""Page logic of the web app with Streamlit's AppTest: load, edit, solve, compare, language,
bad uploads, and a reopened session showing a stored result without solving.

The solves are real (sample city, short time limits); the browser tests are in tests/e2e.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).parents[1] / "app_streamlit.py")


@pytest.fixture(scope="module", autouse=True)
def _store(tmp_path_factory):
    """One result store for the module; Streamlit's process-wide caches start empty."""
    import os

    import streamlit as st

    folder = tmp_path_factory.mktemp("store")
    previous = os.environ.get("LIFECIRCLE_STORE_DIR")
    os.environ["LIFECIRCLE_STORE_DIR"] = str(folder)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield folder
    st.cache_resource.clear()
    if previous is None:
        os.environ.pop("LIFECIRCLE_STORE_DIR", None)
    else:
        os.environ["LIFECIRCLE_STORE_DIR"] = previous


def _app(lang: str = "en") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if lang == "en":
        at.sidebar.segmented_control(key="lang_choice").set_value("en").run()
    return at


def _wait(at: AppTest, timeout: float = 90.0) -> AppTest:
    """Rerun until the solve (run in a worker thread) is done and the page shows it."""
    from webapp import session

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            key = at.session_state["current_key"]
        except KeyError:
            key = None
        job = session.jobs().job(key) if key else None
        if job is None or job.state == "done":
            at.run()
            break
        time.sleep(0.3)
    assert not at.exception, [e.value for e in at.exception]
    return at


def _set_time_limit(at: AppTest, seconds: float) -> None:
    next(w for w in at.sidebar.number_input if w.key.startswith("time_limit")).set_value(
        seconds).run()


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label))


def test_opens_on_the_sample_city_in_chinese():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    assert at.title[0].value == "15分钟生活圈 · 设施选址"
    assert at.sidebar.selectbox(key="scenario_choice_zh").value == "yuzhong-baseline"
    assert _metric(at, "居住单元") == "1,836"
    assert _metric(at, "常住人口") == "59万人"
    assert _metric(at, "候选闲置点位") == "565"


def test_solve_edit_budget_and_compare():
    at = _app("en")
    _set_time_limit(at, 10)
    at.sidebar.button(key="solve_button").click().run()
    _wait(at)
    assert "Optimal plan" in at.success[0].value or "within" in at.info[0].value
    parks = _metric(at, "Newly covered · pocket park")
    cost = _metric(at, "Total cost")
    assert parks.endswith(" people") and cost.endswith(" M CNY")
    # the default scenario builds no childcare room: say why, and offer variants
    assert any("Why no new childcare room?" in m.value for m in at.markdown)
    assert any(b.label.startswith("Raise the childcare room weight") for b in at.button)
    # change the budget: the KPIs change
    next(w for w in at.sidebar.number_input if w.key.startswith("budget_en")).set_value(
        15.0).run()
    at.sidebar.button(key="solve_button").click().run()
    _wait(at)
    assert _metric(at, "Newly covered · pocket park") != parks
    assert float(_metric(at, "Total cost").split()[0]) <= 15.0
    # compare the two plans: a KPI table with deltas
    compare = at.multiselect(key="compare_pick_en")
    assert len(compare.value) == 2
    frames = [d.value for d in at.dataframe]
    kpis = next(f for f in frames if "Total cost (CNY)" in f.index)
    delta = next(c for c in kpis.columns if str(c).startswith("Δ "))
    assert kpis.loc["Total cost (CNY)", delta].startswith("-")
    assert kpis.loc["Status"].iloc[0] == "optimal"


def test_a_variant_builds_childcare():
    at = _app("en")
    _set_time_limit(at, 10)
    at.sidebar.button(key="solve_button").click().run()
    _wait(at)
    weight = next(b for b in at.button if b.label.startswith("Raise the childcare room"))
    weight.click().run()
    _wait(at)
    childcare = _metric(at, "Newly covered · childcare room")
    assert childcare != "0 people"
    assert not any("Why no new childcare room?" in m.value for m in at.markdown)


def test_switching_language_translates_numbers_and_labels():
    at = _app("en")
    _set_time_limit(at, 10)
    at.sidebar.button(key="solve_button").click().run()
    _wait(at)
    english = _metric(at, "Newly covered · pocket park")
    at.sidebar.segmented_control(key="lang_choice").set_value("zh").run()
    chinese = _metric(at, "新增覆盖 · 口袋公园")
    assert chinese.endswith("万人") and english.endswith("people")
    assert at.sidebar.button(key="solve_button").label == "求解"


def test_a_reopened_session_shows_the_stored_result_without_solving():
    from webapp import session

    at = _app("en")
    _set_time_limit(at, 10)
    at.sidebar.button(key="solve_button").click().run()
    _wait(at)
    key = at.session_state["current_key"]
    before = _metric(at, "Newly covered · pocket park")
    # a new session (page refresh) with ?run=KEY; this process forgets its finished jobs,
    # as after a server restart, so the result can only come from the store
    session.jobs()._jobs.clear()
    import streamlit as st

    st.cache_resource.clear()
    fresh = AppTest.from_file(APP, default_timeout=120)
    fresh.query_params["run"] = key
    fresh.run()
    fresh.sidebar.segmented_control(key="lang_choice").set_value("en").run()
    assert not fresh.exception
    assert session.jobs().job(key) is None
    assert _metric(fresh, "Newly covered · pocket park") == before


def test_bad_upload_lists_every_problem_one_per_line():
    at = _app("en")
    bad_demand = (b"id,x,y,pop_total,pop_60plus,pop_0_3\n"
                  b"D1,650000,3270000,-5,1,1\nD1,650100,3270000,abc,1,1\n")
    sites = (Path(__file__).parent / "data" / "tiny" / "sites.csv").read_bytes()
    at.file_uploader(key="up_demand").set_value(("demand.csv", bad_demand, "text/csv"))
    at.file_uploader(key="up_sites").set_value(("sites.csv", sites, "text/csv"))
    at.text_input(key="up_crs").set_value("EPSG:32648")
    at.run()
    at.button(key="up_use").click().run()
    assert not at.exception
    errors = "\n".join(e.value for e in at.error)
    lines = [line for line in errors.splitlines() if line.startswith("- error:")]
    assert len(lines) >= 2, errors
    assert any("demand" in line and "row" in line for line in lines)


def test_an_unsupported_upload_is_refused():
    at = _app("en")
    at.file_uploader(key="up_demand").set_value(("demand.exe", b"MZ\x00", "application/x"))
    at.file_uploader(key="up_sites").set_value(("sites.csv", b"id,x,y\n", "text/csv"))
    at.run()
    at.button(key="up_use").click().run()
    errors = "\n".join(e.value for e in at.error)
    assert "unsupported file type '.exe'" in errors


def test_maps_need_no_tiles_unless_a_tile_url_is_set():
    at = _app("en")
    _set_time_limit(at, 10)
    at.sidebar.button(key="solve_button").click().run()
    _wait(at)
    specs = [chart.proto.spec for chart in at.get("plotly_chart")]
    assert specs and not any("tile" in spec or "mapbox" in spec for spec in specs)
    url = "https://tiles.example/{z}/{x}/{y}.png"
    at.sidebar.text_input(key="tile_url").set_value(url).run()
    specs = [chart.proto.spec.replace("\\u002f", "/") for chart in at.get("plotly_chart")]
    assert any(url in spec and "scattermap" in spec for spec in specs)


def test_saved_toml_is_the_scenario_the_cli_reads(tmp_path):
    """Edits made in the page, saved as TOML next to the data, load in the CLI to the same
    scenario (the same content key, hence the same stored result)."""
    import shutil
    import tomllib

    import tomli_w

    from scenarios.library import shipped_scenarios
    from scenarios.spec import load_scenario, parse_scenario
    from scenarios.store import content_key

    at = _app("en")
    next(w for w in at.sidebar.number_input if w.key.startswith("budget_en")).set_value(
        22.5).run()
    next(t for t in at.toggle if t.key.startswith("circle_on")).set_value(True).run()
    assert not at.exception
    draft = at.session_state["draft"]
    text = tomli_w.dumps(draft)
    folder = tmp_path / "plans"
    shutil.copytree(shipped_scenarios()["yuzhong-baseline"].parent, folder)
    (folder / "edited.toml").write_text(text, encoding="utf-8")
    from_cli = load_scenario(folder / "edited.toml")
    assert from_cli.budget == 22_500_000
    assert from_cli.policy.circle_types == ("park", "canteen", "childcare")
    in_app = parse_scenario(tomllib.loads(text), base=Path(at.session_state["base"]),
                            label="edited.toml", name="edited")
    assert content_key(from_cli) == content_key(in_app)


def test_budget_curve_tab_draws_coverage_and_marginal_cost():
    from webapp import session

    at = _app("en")
    at.number_input(key="curve_low_en").set_value(10.0)
    at.number_input(key="curve_high_en").set_value(40.0)
    at.number_input(key="curve_points").set_value(3).run()
    at.button(key="curve_run").click().run()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        jobs = [j for k, j in session.jobs()._jobs.items() if k.startswith("curve-")]
        if jobs and all(j.state == "done" for j in jobs):
            break
        time.sleep(0.3)
    at.run()
    assert not at.exception
    table = next(d.value for d in at.dataframe
                 if "Marginal cost (CNY per person)" in d.value.columns)
    assert list(table["Budget (million CNY)"]) == ["10.0", "25.0", "40.0"]
    assert table["Marginal cost (CNY per person)"].iloc[0] == "–"
    points = session.jobs().curve_points(jobs[0].key)
    assert list(points["budget"]) == [10e6, 25e6, 40e6]
    assert points["objective"].is_monotonic_increasing
    assert any("Marginal cost" in s.value for s in at.subheader)


def test_uploaded_data_becomes_the_scenario_and_solves():
    tiny = Path(__file__).parent / "data" / "tiny"
    at = _app("en")
    for role in ("demand", "sites", "existing"):
        at.file_uploader(key=f"up_{role}").set_value(
            (f"{role}.csv", (tiny / f"{role}.csv").read_bytes(), "text/csv"))
    at.text_input(key="up_crs").set_value("EPSG:32648")
    at.run()
    at.button(key="up_use").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.sidebar.selectbox(key="scenario_choice_en").value == "__upload__"
    from scenarios.loader import build_instance
    from scenarios.spec import load_scenario

    expected = build_instance(load_scenario(tiny / "scenario.toml"))
    assert _metric(at, "Residential units") == f"{expected.n_demand:,}"
    at.sidebar.button(key="solve_button").click().run()
    _wait(at)
    assert "Optimal plan" in at.success[0].value


def test_forced_and_excluded_sites_are_obeyed():
    at = _app("en")
    _set_time_limit(at, 10)
    at.sidebar.button(key="solve_button").click().run()
    _wait(at)
    sites = next(d.value for d in at.dataframe if "Site" in d.value.columns)
    chosen = list(sites["Site"])
    excluded = chosen[0]
    forced = next(s for s in ("S0003", "S0004", "S0007", "S0009") if s not in chosen)
    next(m for m in at.multiselect if m.key.startswith("force_")).set_value([forced]).run()
    next(m for m in at.multiselect if m.key.startswith("exclude_")).set_value(
        [excluded]).run()
    at.sidebar.button(key="solve_button").click().run()
    _wait(at)
    assert not at.exception
    sites = next(d.value for d in at.dataframe if "Site" in d.value.columns)
    assert forced in set(sites["Site"]) and excluded not in set(sites["Site"])
    assert at.session_state["draft"]["force_open"] == {forced: "any"}
