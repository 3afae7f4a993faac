"""The planner's five-minute path in a real browser (Debian Chromium, headless), offline:
open the sample city, change the budget, solve, read the KPIs and the map, compare with the
first plan, download the plan, switch language; cancel a long solve; a refreshed page and a
restarted server show a finished result without solving again.

Timings (first render, solve to map) are printed and saved to
``tests/artifacts/timings.json``; the README quotes them.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import (
    AppServer,
    app_exceptions,
    screenshot,
    wait_for_app,
    wait_idle,
    wait_rerun,
)
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
TIMINGS: dict[str, float] = {}


def _record(name: str, seconds: float) -> None:
    TIMINGS[name] = round(seconds, 2)
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "timings.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**old, **TIMINGS}, indent=2))
    print(f"{name}: {seconds:.2f} s")


def _sidebar(page: Page):
    return page.locator('[data-testid="stSidebar"]')


def _set_number(page: Page, label: str, value: float) -> None:
    field = _sidebar(page).get_by_label(label, exact=True)
    field.fill(str(value))
    wait_rerun(page, lambda: field.press("Enter"))


def _metric(page: Page, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _solve(page: Page, timeout: float = 120.0) -> float:
    """Press Solve and wait until the plan's map is drawn; returns the seconds it took."""
    started = time.monotonic()
    _sidebar(page).get_by_role("button", name=re.compile("^(Solve|求解)$")).click()
    main = page.locator('[data-testid="stMain"]')
    expect(main.locator('[data-testid="stAlertContentSuccess"], '
                        '[data-testid="stAlertContentInfo"], '
                        '[data-testid="stAlertContentWarning"]').filter(
        has_text=re.compile("Optimal plan|within|已求得最优方案|距最优|Stopped")).first
    ).to_be_visible(timeout=timeout * 1000)
    expect(main.locator('[data-testid="stPlotlyChart"]').first).to_be_visible(
        timeout=30_000)
    wait_idle(page, timeout=60)
    return time.monotonic() - started


def _run_key(page: Page) -> str:
    return parse_qs(urlparse(page.url).query)["run"][0]


def test_five_minute_path(app_server: AppServer, page: Page,
                          blocked_requests: list[str]) -> None:
    started = time.monotonic()
    page.goto(app_server.url)
    wait_for_app(page)
    expect(page.locator('[data-testid="stMain"] h1').first).to_have_text("15分钟生活圈 · 设施选址")
    _record("first_render_s", time.monotonic() - started)
    page.get_by_text("English", exact=True).click()
    wait_idle(page)
    expect(page.locator('[data-testid="stMain"] h1').first).to_have_text(
        "15-minute life circles · facility siting")
    expect(page.get_by_text("Not solved yet", exact=False)).to_be_visible()

    _set_number(page, "Time limit (s)", 15)
    _set_number(page, "Budget (million CNY)", 20)
    _record("solve_to_map_s", _solve(page))
    parks_20 = _metric(page, "Newly covered · pocket park")
    cost_20 = _metric(page, "Total cost")
    assert parks_20.endswith("people") and cost_20.endswith("M CNY")
    assert float(cost_20.split()[0]) <= 20.0
    expect(page.get_by_text("Why no new childcare room?")).to_be_visible()
    screenshot(page, "results-en")

    _set_number(page, "Budget (million CNY)", 40)
    _solve(page)
    parks_40 = _metric(page, "Newly covered · pocket park")
    assert parks_40 != parks_20
    assert 20.0 < float(_metric(page, "Total cost").split()[0]) <= 40.0

    # download the plan's site list and check its content
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Site list CSV").click()
    content = Path(download_info.value.path()).read_bytes().decode("utf-8-sig")
    header, *rows = content.strip().splitlines()
    assert "site_id" in header and "type" in header
    assert len(rows) > 50 and all(r.startswith("S") for r in rows)

    # compare the two plans
    page.get_by_role("tab", name="Compare").click()
    wait_idle(page)
    compare = page.locator('[data-testid="stTabPanel"]').filter(has_text="Key figures")
    expect(compare.get_by_text("Key figures and differences")).to_be_visible()
    expect(compare.locator('[data-testid="stDataFrame"]').first).to_be_visible()
    expect(compare.locator('[data-testid="stPlotlyChart"]')).to_have_count(2)
    screenshot(page, "compare-en")

    # switch to Chinese: labels and numbers follow
    page.get_by_text("中文", exact=True).click()
    wait_idle(page)
    page.get_by_role("tab", name="结果").click()
    wait_idle(page)
    assert _metric(page, "新增覆盖 · 口袋公园").endswith("万人")
    expect(_sidebar(page).get_by_role("button", name="求解", exact=True)).to_be_visible()
    # the scenario picker follows the language too (it kept English labels before)
    expect(_sidebar(page).locator('[data-testid="stSelectbox"] input').first).to_have_value(
        re.compile("^示例城市"))
    screenshot(page, "results-zh")
    # the policy brief of this plan, as a PDF with real Chinese text
    with page.expect_download(timeout=180_000) as download_info:
        page.get_by_role("button", name="政策简报（PDF）").click()
    pdf = Path(download_info.value.path())
    assert pdf.read_bytes()[:5] == b"%PDF-"
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "口袋公园" in text and "老年食堂" in text and "托育" in text
    # the plans solved on the English page are named in Chinese money in the comparison
    page.get_by_role("tab", name="方案比较").click()
    wait_idle(page)
    titles = page.locator('[data-testid="stTabPanel"] [data-testid="stMarkdownContainer"]')
    expect(titles.get_by_text("yuzhong-baseline · 2,000.0万元", exact=True)).to_be_visible()
    expect(page.get_by_text("M CNY")).to_have_count(0)
    screenshot(page, "compare-zh")
    assert app_exceptions(page) == []
    assert blocked_requests == []


def test_refresh_and_restart_show_the_result_without_solving(
        app_server: AppServer, start_app_server, page: Page) -> None:
    page.goto(app_server.url)
    wait_for_app(page)
    page.get_by_text("English", exact=True).click()
    wait_idle(page)
    _set_number(page, "Time limit (s)", 10)
    _set_number(page, "Budget (million CNY)", 25)
    _solve(page)
    key = _run_key(page)
    parks = _metric(page, "Newly covered · pocket park")
    page.reload()
    wait_for_app(page)
    page.get_by_text("English", exact=True).click()
    wait_idle(page)
    assert _metric(page, "Newly covered · pocket park") == parks
    # a second server on the same store: it never solved this, the store has it
    other = start_app_server(store_dir=app_server.store_dir)
    started = time.monotonic()
    page.goto(f"{other.url}/?run={key}")
    wait_for_app(page)
    page.get_by_text("English", exact=True).click()
    wait_idle(page)
    assert _metric(page, "Newly covered · pocket park") == parks
    _record("reopen_after_restart_s", time.monotonic() - started)
    assert "Solving" not in page.locator('[data-testid="stMain"]').inner_text()


def test_cancel_keeps_the_best_plan(app_server: AppServer, page: Page) -> None:
    page.goto(app_server.url)
    wait_for_app(page)
    page.get_by_text("English", exact=True).click()
    wait_idle(page)
    _sidebar(page).locator('[data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name="Wuhan Jianghan canteens").click()
    wait_idle(page)
    _set_number(page, "Time limit (s)", 120)
    _sidebar(page).get_by_role("button", name="Solve", exact=True).click()
    expect(page.get_by_text("Solving…")).to_be_visible(timeout=30_000)
    time.sleep(3)
    stop = _sidebar(page).get_by_role("button", name="Stop solving")
    expect(stop).to_be_enabled()
    pressed = time.monotonic()
    stop.click()
    expect(page.get_by_text("Stopped on request")).to_be_visible(timeout=15_000)
    _record("cancel_to_result_s", time.monotonic() - pressed)
    assert "within" in page.get_by_text("Stopped on request").inner_text()
    expect(page.locator('[data-testid="stMetric"]').first).to_be_visible()


def test_two_sessions_keep_their_own_edits(app_server: AppServer, new_page) -> None:
    first, second = new_page(), new_page()
    for page in (first, second):
        page.goto(app_server.url)
        wait_for_app(page)
        page.get_by_text("English", exact=True).click()
        wait_idle(page)
    _set_number(first, "Budget (million CNY)", 12)
    second.reload()
    wait_for_app(second)
    second.get_by_text("English", exact=True).click()
    wait_idle(second)
    budget = _sidebar(second).get_by_label("Budget (million CNY)", exact=True)
    assert float(budget.input_value()) == 30.0
    assert float(_sidebar(first).get_by_label("Budget (million CNY)",
                                              exact=True).input_value()) == 12.0


def test_lifecircle_app_command_serves_the_app(tmp_path) -> None:
    import os
    import signal
    import socket
    import sys
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "scenarios.cli", "app", "--port", str(port),
         "--address", "127.0.0.1"], env={**os.environ, "LIFECIRCLE_STORE_DIR": str(tmp_path)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        answer = ""
        while time.monotonic() < deadline and not answer:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                            timeout=2) as response:
                    answer = response.read().decode()
            except OSError:
                time.sleep(0.3)
        assert answer == "ok"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
    assert "External URL" not in output and "Did not auto detect" not in output
