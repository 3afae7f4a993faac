"""Policy briefs (briefs.make_brief, lifecircle brief): numbers, PDF, comparison, offline."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

bs4 = pytest.importorskip("bs4")
pytest.importorskip("jinja2")
pytest.importorskip("matplotlib")

from briefs import make_brief  # noqa: E402
from briefs.brief import CHROMIUM, CHROMIUM_ARGS, run_in_own_thread  # noqa: E402
from scenarios import run_scenario, write_outputs  # noqa: E402
from scenarios.cli import main  # noqa: E402
from webapp.i18n import money, pct, people  # noqa: E402

TINY = Path(__file__).parent / "data" / "tiny" / "scenario.toml"
CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


def _have_browser() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists()


needs_browser = pytest.mark.skipif(not _have_browser(), reason="needs Playwright and "
                                   f"{CHROMIUM}")
needs_poppler = pytest.mark.skipif(shutil.which("pdftoppm") is None
                                   or shutil.which("pdftotext") is None,
                                   reason="needs poppler-utils (pdftoppm, pdftotext)")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run folders: the tiny scenario, the sample city's baseline and its 15 M variant."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for key, scenario in (("tiny", TINY), ("base", "yuzhong-baseline"),
                          ("half", "yuzhong-budget-15m")):
        result = run_scenario(scenario, time_limit_s=10)
        write_outputs(result, root / key)
        out[key] = root / key
    return out


@pytest.fixture(scope="module")
def base_html(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_brief([runs["base"]], tmp_path_factory.mktemp("brief") / "base.html",
                      lang="zh")


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def _soup(path: Path) -> bs4.BeautifulSoup:
    return bs4.BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _expected(key: str, summary: dict, by_type: pd.DataFrame) -> float | None:
    """What ``summary.json`` (or coverage_by_type.csv, for costs) says a KPI is."""
    what, _, kind = key.partition(".")
    if what in ("new_sites", "newly_covered", "population", "coverage_pct", "covered"):
        return summary[what][kind]
    if what == "coverage_existing_pct":
        return 100 * summary["covered_existing"][kind] / summary["population"][kind]
    if what == "cost":
        return float(by_type.loc[kind, "cost"])
    if what == "cost_per_newly":
        newly = summary["newly_covered"][kind]
        return float(by_type.loc[kind, "cost"]) / newly if newly > 0 else None
    if what == "radius_m":
        return float(by_type.loc[kind, "radius_m"])
    if key in ("total_cost", "budget", "gap"):
        return summary[key]
    if key == "new_sites_total":
        return sum(summary["new_sites"].values())
    if key == "cost_per_newly_total":
        return summary["total_cost"] / sum(summary["newly_covered"].values())
    raise AssertionError(f"unexpected KPI {key}")


def test_summary_numbers_equal_summary_json(runs: dict[str, Path], base_html: Path) -> None:
    summary = _summary(runs["base"])
    by_type = pd.read_csv(runs["base"] / "coverage_by_type.csv").set_index("type")
    page = _soup(base_html).find(id="summary")
    cells = page.find_all(attrs={"data-kpi": True})
    keys = {cell["data-kpi"] for cell in cells}
    for kind in summary["new_sites"]:
        for what in ("new_sites", "newly_covered", "coverage_pct", "coverage_existing_pct",
                     "cost", "cost_per_newly"):
            assert f"{what}.{kind}" in keys
    assert {"total_cost", "gap", "new_sites_total", "cost_per_newly_total"} <= keys
    for cell in cells:
        key = cell["data-kpi"]
        expected = _expected(key, summary, by_type)
        if expected is None:
            assert "data-value" not in cell.attrs and cell.get_text(strip=True) == "–"
            continue
        assert math.isclose(float(cell["data-value"]), expected, rel_tol=1e-9, abs_tol=1e-9), \
            key
        text = cell.get_text(strip=True)
        what = key.partition(".")[0]
        value = float(cell["data-value"])
        if what in ("newly_covered", "population"):
            assert text == people(value, "zh")
        elif what in ("cost", "total_cost", "cost_per_newly", "cost_per_newly_total"):
            assert text == money(value, "zh")
        elif what in ("coverage_pct", "coverage_existing_pct"):
            assert text == pct(value, "zh")
    status = page.find(attrs={"data-kpi": "gap"}).get_text(strip=True)
    assert status == ("最优方案（已证明）" if summary["status"] == "optimal"
                      else f"与理论最优相差不超过{pct(100 * summary['gap'], 'zh', 1)}")
    # the sample city is synthetic: said on the first page
    assert page.find(attrs={"data-synthetic": "true"}) is not None
    # the baseline builds no childcare room: the brief says why
    assert "为什么没有新建托育点" in page.get_text()


def test_html_is_self_contained(base_html: Path) -> None:
    text = base_html.read_text(encoding="utf-8")
    soup = bs4.BeautifulSoup(text, "html.parser")
    assert soup.find_all("link") == [] and soup.find_all("script") == []
    images = soup.find_all("img")
    assert len(images) >= 3  # one map per type at least
    assert all(img["src"].startswith("data:image/png;base64,") for img in images)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "@import" not in text and "url(" not in text


@needs_browser
def test_html_makes_no_request_in_chromium(base_html: Path) -> None:
    from playwright.sync_api import sync_playwright

    requests: list[str] = []

    def visit() -> None:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=list(CHROMIUM_ARGS))
            try:
                page = browser.new_page()

                def route(handle: Any) -> None:  # a playwright Route
                    requests.append(handle.request.url)
                    handle.abort()

                page.route("**/*", lambda handle: (
                    handle.continue_() if handle.request.url == base_html.resolve().as_uri()
                    else route(handle)))
                page.on("request", lambda request: requests.append(request.url))
                page.goto(base_html.resolve().as_uri(), wait_until="load")
                page.wait_for_timeout(300)
                assert page.locator("img").count() >= 3
            finally:
                browser.close()

    run_in_own_thread(visit)  # beside the e2e tests' own sync Playwright
    others = [url for url in requests if url != base_html.resolve().as_uri()
              and not url.startswith("data:")]
    assert others == []


@needs_browser
@needs_poppler
def test_pdf_renders_with_chinese_text(runs: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    out = make_brief([runs["base"]], tmp_path / "brief.pdf", lang="zh")
    assert out.read_bytes().startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-r", "50", "-f", "1", "-l", "1", "-png", str(out),
                    str(tmp_path / "page")], check=True)
    image = Image.open(next(tmp_path.glob("page*.png"))).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 16
    white = max(colours)[0] / (image.width * image.height)
    assert white < 0.97  # not blank
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], check=True,
                          capture_output=True, text=True).stdout
    for word in ("口袋公园", "老年食堂", "托育", "示例数据", "方法与数据说明"):
        assert word in text
    assert re.search(r"第\s*1\s*/\s*\d+\s*页", text)  # page numbers in the footer


def test_comparison_shows_the_deltas(runs: dict[str, Path], tmp_path: Path) -> None:
    out = make_brief([runs["base"], runs["half"]], tmp_path / "compare.html", lang="zh")
    base, half = _summary(runs["base"]), _summary(runs["half"])
    table = _soup(out).find(id="summary").find("table", class_="compare")
    checked = 0
    for cell in table.find_all(attrs={"data-kpi": True}):
        key = cell["data-kpi"]
        if key == "status":
            continue
        delta = key.startswith("delta.")
        what, _, kind = key.removeprefix("delta.").partition(".")

        def value(summary: dict, what: str = what, kind: str = kind) -> float:
            return summary[what][kind] if kind else summary[what]

        if delta:
            assert cell["data-scenario"] == "yuzhong-budget-15m"
            assert math.isclose(float(cell["data-value"]), value(half) - value(base),
                                abs_tol=1e-6), key
            sign = cell.get_text(strip=True)[0]
            if float(cell["data-value"]) < 0:
                assert sign == "−"
            elif float(cell["data-value"]) > 0:
                assert sign == "+"
        else:
            source = base if cell["data-scenario"] == "yuzhong-baseline" else half
            assert math.isclose(float(cell["data-value"]), value(source), abs_tol=1e-6), key
        checked += 1
    assert checked >= 2 * 3 + 3 * 12  # budget and cost, four numbers per type, deltas
    budget_delta = table.find(attrs={"data-kpi": "delta.budget"})
    assert budget_delta.get_text(strip=True) == "−1,500.0万元"
    # sites added and dropped, by type, as in sites.csv
    sites = {k: pd.read_csv(runs[k] / "sites.csv", dtype=str) for k in ("base", "half")}
    before = dict(zip(sites["base"]["site_id"], sites["base"]["type"], strict=True))
    after = dict(zip(sites["half"]["site_id"], sites["half"]["type"], strict=True))
    dropped = pd.Series([before[s] for s in before if s not in after]).value_counts()
    for kind, count in dropped.items():
        cell = _soup(out).find(attrs={"data-kpi": f"changes.dropped.{kind}"})
        assert cell is not None and int(cell["data-value"]) == count
    text = _soup(out).get_text()
    assert "方案比较" in text and "点位变化（相对基准）" in text


def test_english_brief_of_tiny_scenario_with_curve(runs: dict[str, Path],
                                                  tmp_path: Path) -> None:
    from scenarios.curve import budget_curve

    curve = budget_curve(TINY, [1e6, 2e6, 3e6], time_limit_s=5).to_csv(tmp_path / "curve.csv")
    out = make_brief([runs["tiny"]], tmp_path / "tiny.html", lang="en", curve=curve)
    soup = _soup(out)
    text = soup.get_text(" ")
    assert "15-minute life circle: facility siting brief" in text
    assert "Results by facility type" in text and "Method and data" in text
    assert "Budget and coverage" in text
    assert not CJK.findall(text), "untranslated Chinese text in an English brief"
    budgets = [float(c["data-value"]) for c in soup.find_all(attrs={"data-kpi": "curve.budget"})]
    assert budgets == [1e6, 2e6, 3e6]
    summary = _summary(runs["tiny"])
    cell = soup.find(attrs={"data-kpi": "total_cost"})
    assert float(cell["data-value"]) == summary["total_cost"]
    assert cell.get_text(strip=True) == money(summary["total_cost"], "en")
    # tiny data has no notes and is not labelled synthetic
    assert soup.find(attrs={"data-synthetic": "true"}) is None


def test_cli_brief(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "b.html"
    assert main(["brief", str(runs["tiny"]), "--out", str(out), "--lang", "en"]) == 0
    assert out.exists() and "brief written" in capsys.readouterr().out
    for args in (["brief", str(tmp_path / "missing"), "--out", str(out)],
                 ["brief", str(tmp_path), "--out", str(out)],
                 ["brief", str(runs["tiny"]), "--out", str(tmp_path / "b.docx")],
                 ["brief", str(runs["tiny"]), "--out", str(out), "--curve",
                  str(runs["tiny"] / "summary.json")]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
