"""Make a brief: run folders in, a self-contained HTML page or an A4 PDF out.

The HTML is rendered from ``briefs/templates/brief.html.j2`` (Jinja2) with its CSS inline
and every chart embedded as a base64 PNG, so the file opens anywhere with no network. The
PDF is that HTML printed by headless Chromium (Debian's ``/usr/bin/chromium`` driven by
Playwright), with every request that is not a ``data:`` or ``file:`` URL refused.
"""

from __future__ import annotations

import html
import json
import tempfile
import threading
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal

from briefs.content import Brief, Run, build
from briefs.fonts import CSS_FONT_STACK
from briefs.text import LANGS, t
from optimizer.errors import InputError, Problem
from scenarios.atomic import atomic_path, write_text_atomic

CHROMIUM = "/usr/bin/chromium"
"""The browser that prints PDFs (Debian's package; Playwright's own download is not used)."""
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking")
PAGE_MARGIN = {"top": "13mm", "bottom": "16mm", "left": "14mm", "right": "14mm"}
"""A4 margins of the PDF (the footer sits in the bottom margin)."""
TEMPLATES = Path(__file__).parent / "templates"
FORMATS = (".html", ".pdf")


def _one_line(folder: Path, error: InputError) -> InputError:
    first = str(error.problems[0]) if error.problems else "unreadable"
    more = f" (and {len(error.problems) - 1} more problems)" if len(error.problems) > 1 else ""
    return InputError([Problem(f"run folder {folder}: {first}{more}")])


def load_runs(run_dirs: Sequence[str | Path], *, curve: str | Path | None = None,
              names: Sequence[str] | None = None) -> list[Run]:
    """Load run folders (what ``lifecircle solve`` writes) for a brief.

    Parameters
    ----------
    run_dirs
        One or more run folders; the first is the baseline of a comparison.
    curve
        A ``curve.csv`` of ``lifecircle sweep`` for the first run (default: the
        ``curve.csv`` in each run folder, if any).
    names
        Display names (default: the scenarios' names, made unique).

    Raises
    ------
    InputError
        One problem per bad folder, each on one line: missing, not a run folder, or data
        that no longer match the run.
    """
    from scenarios.store import load_run

    folders = [Path(d) for d in run_dirs]
    if not folders:
        raise InputError([Problem("no run folder given")])
    runs: list[Run] = []
    used: set[str] = set()
    for k, folder in enumerate(folders):
        if not folder.is_dir():
            raise InputError([Problem(f"run folder {folder} does not exist")])
        if not (folder / "summary.json").exists():
            raise InputError([Problem(f"{folder} is not a lifecircle run folder (no "
                                      "summary.json; write one with lifecircle solve --out)")])
        try:
            summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
            result = load_run(folder)
        except InputError as error:
            raise _one_line(folder, error) from None
        except (ValueError, KeyError, OSError) as error:
            raise InputError([Problem(f"run folder {folder}: cannot read it ({error})")]
                             ) from None
        name = names[k] if names is not None else str(result.spec.name)
        base, n = name, 1
        while name in used:
            n += 1
            name = f"{base} ({n})"
        used.add(name)
        own = folder / "curve.csv"
        chosen = Path(curve) if curve is not None and k == 0 else (own if own.exists()
                                                                      else None)
        if chosen is not None and not chosen.exists():
            raise InputError([Problem(f"curve file {chosen} does not exist")])
        runs.append(Run(folder, name, result, summary, chosen))
    return runs


def render_html(brief: Brief) -> str:
    """The brief as one self-contained HTML document."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    environment = Environment(loader=FileSystemLoader(TEMPLATES),
                              autoescape=select_autoescape(["html", "j2"]),
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    template = environment.get_template("brief.html.j2")
    css = (TEMPLATES / "brief.css").read_text(encoding="utf-8")
    return template.render(brief=brief, t=lambda key, **v: t(key, brief.lang, **v),
                           colon="：" if brief.lang == "zh" else ": ",
                           css=css.replace("FONT_STACK", CSS_FONT_STACK))


def footer_template(brief: Brief) -> str:
    """Chromium's PDF footer: scenario names, the date, synthetic-data note, page x of y."""
    names = " / ".join(brief.names)
    left = f"{names} · {brief.today}"
    if brief.synthetic:
        left += f" · {t('footer_synthetic', brief.lang)}"
    page = t("page", brief.lang, n='<span class="pageNumber"></span>',
             total='<span class="totalPages"></span>')
    font = html.escape(CSS_FONT_STACK, quote=True)
    return (f'<div style="font-family: {font}; font-size: 7.5px; color: #566573; '
            f'width: 100%; margin: 0 14mm; display: flex; justify-content: space-between;">'
            f"<span>{html.escape(left)}</span><span>{page}</span></div>")


def run_in_own_thread(work: Callable[[], None]) -> None:
    """Run ``work`` in a new thread and wait for it, re-raising its error here.

    Playwright's sync API refuses a thread whose asyncio loop is running (a Jupyter
    notebook, or a caller already driving another sync Playwright); a fresh thread has none.
    """
    errors: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as error:  # handed to the caller below
            errors.append(error)

    thread = threading.Thread(target=target, name="lifecircle-print-pdf", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def print_pdf(html_path: Path, out: Path, *, footer: str) -> list[str]:
    """Print an HTML file to an A4 PDF with headless Chromium; returns the URLs refused
    (anything but ``data:`` and ``file:``; a brief should have none).

    Raises
    ------
    RuntimeError
        Playwright or Chromium is missing.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        raise RuntimeError("PDF briefs need Playwright: pip install playwright (its browser "
                           "download is not needed)") from error
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"PDF briefs need Chromium at {CHROMIUM} (apt-get install "
                           "chromium); write .html instead")
    refused: list[str] = []

    def route(handle: Any) -> None:  # a playwright Route
        url = handle.request.url
        if url.startswith(("data:", "file:")):
            handle.continue_()
        else:
            refused.append(url)
            handle.abort()

    def print_with_chromium() -> None:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=list(CHROMIUM_ARGS))
            try:
                page = browser.new_page()
                page.route("**/*", route)
                page.goto(html_path.resolve().as_uri(), wait_until="load")
                page.pdf(path=str(out), format="A4", print_background=True,
                         display_header_footer=True, header_template="<span></span>",
                         footer_template=footer, margin=PAGE_MARGIN)
            finally:
                browser.close()

    run_in_own_thread(print_with_chromium)
    return refused


def make_brief(run_dirs: Sequence[str | Path], out: str | Path, *,
               lang: Literal["zh", "en"] = "zh", curve: str | Path | None = None,
               names: Sequence[str] | None = None, today: date | None = None) -> Path:
    """Write a policy brief of one or more solved plans.

    Parameters
    ----------
    run_dirs
        Run folders written by ``lifecircle solve`` (or :func:`scenarios.write_outputs`).
        With several, the first is the baseline of the comparison page.
    out
        ``.html`` (self-contained: CSS inline, charts as base64 PNG, no external URL) or
        ``.pdf`` (A4, printed by headless Chromium, page numbers in the footer).
    lang
        ``zh`` (default) or ``en``.
    curve
        A ``curve.csv`` of ``lifecircle sweep`` for the first run; by default a
        ``curve.csv`` inside a run folder is used for that run.
    names
        Display names of the runs (default: the scenarios' names).
    today
        The date printed on the brief (default: today).

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    InputError
        A missing or invalid run folder, curve file, language or output suffix (one line).
    RuntimeError
        A PDF was asked for and Playwright or Chromium is missing.
    """
    target = Path(out)
    if lang not in LANGS:
        raise InputError([Problem(f"lang must be 'zh' or 'en', got {lang!r}")])
    if target.suffix.lower() not in FORMATS:
        raise InputError([Problem(f"--out {target}: a brief is written as .html or .pdf")])
    runs = load_runs(run_dirs, curve=curve, names=names)
    try:
        brief = build(runs, lang, today=today)
    except ValueError as error:  # a curve.csv of another scenario
        raise InputError([Problem(str(error))]) from None
    document = render_html(brief)
    if target.suffix.lower() == ".html":
        write_text_atomic(target, document)
        return target
    with tempfile.TemporaryDirectory(prefix="lifecircle-brief-") as folder, \
            atomic_path(target) as staging:
        page = Path(folder) / "brief.html"
        page.write_text(document, encoding="utf-8")
        print_pdf(page, staging, footer=footer_template(brief))
    return target
