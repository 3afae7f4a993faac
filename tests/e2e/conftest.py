"""Real-browser end-to-end fixtures for the Streamlit app (``app_streamlit.py``).

The tests here start the real server (``python -m streamlit run app_streamlit.py``) in a
subprocess and drive it with headless Debian Chromium (``/usr/bin/chromium``) through
Playwright's sync API. Nothing leaves the machine: every browser request that is not for a
local app server is aborted and recorded, and a test that caused one fails at teardown.

Fixtures
--------
``app_server`` (module scope) -> :class:`AppServer`
    A server on a free port of 127.0.0.1, with ``LIFECIRCLE_STORE_DIR`` set to a fresh
    temporary folder (``LIFECIRCLE_CACHE_DIR`` is inherited). Attributes: ``url``
    (``http://127.0.0.1:PORT``), ``port``, ``store_dir`` (:class:`~pathlib.Path`),
    ``process``; methods ``log()`` (its stdout + stderr so far), ``get(path)`` (status and
    body of a plain HTTP GET), ``stop()``. Stopped (with its children) after the module.
``start_app_server`` (function scope) -> ``start_app_server(store_dir=None, env=None)``
    A factory for more, independent servers (each on its own port), e.g. on the same
    ``store_dir`` as ``app_server`` to show that a restarted server finds a stored result
    without solving. ``stop()`` one to simulate the shutdown; all are stopped at teardown.
``browser`` (session scope) -> :class:`playwright.sync_api.Browser`
    Headless ``/usr/bin/chromium`` (Playwright's own browser download is not used).
``page`` (function scope) -> :class:`playwright.sync_api.Page`
    A fresh context (viewport 1440x1000, ``accept_downloads=True``, locale ``en-US``; other
    locale: ``@pytest.mark.parametrize("page", ["zh-CN"], indirect=True)``), not yet
    navigated: ``page.goto(app_server.url); wait_for_app(page)``.
``new_page`` (function scope) -> ``new_page(locale="en-US")``
    A factory for more pages, each in its own context (= its own Streamlit session), guarded
    and checked like ``page``; for two users at once.
``blocked_requests`` (function scope) -> ``list[str]``
    URLs the pages of this test tried to reach outside the app (aborted). Asserted empty at
    teardown ("the app tried to reach: ..."); a test may also assert on it directly.
``console_errors`` (function scope) -> ``list[str]``
    Browser console errors and uncaught page errors (``"pageerror: ..."``) of the pages of
    this test. Collected only, never failed on automatically.

On a failing test, each of its pages is saved to ``tests/artifacts/<test name>.png``.

Helpers (plain functions; ``from conftest import wait_for_app, wait_idle, screenshot``)
---------------------------------------------------------------------------------------
``wait_for_app(page, timeout=60)``
    After ``page.goto``: waits for ``[data-testid="stApp"]``, the websocket connection and
    the end of the first script run.
``wait_idle(page, timeout=30, quiet=0.5)``
    Waits until no script run has been seen for ``quiet`` seconds. Timeouts are in SECONDS
    (not Playwright's milliseconds). After an action that surely reruns, prefer
    ``wait_rerun``: a click reaches the server in ~0.1 s, but on a busy machine the run was
    seen to start over 1 s after the click, longer than any sensible ``quiet``.
``wait_rerun(page, action, timeout=30)``
    ``action()`` (e.g. ``lambda: page.get_by_role("radio", name="English").click()``),
    then waits for the script run it starts (failing if none starts within 5 s) to end.
``screenshot(page, name)``
    Full-page PNG at ``tests/artifacts/<name>.png`` (the page is grown to its content's
    height for the shot, since Streamlit scrolls inside ``stMain``, not the document).
``app_exceptions(page)``
    Texts of the Python exceptions (``stException``) shown on the page.

Writing flows (learned on this app)
-----------------------------------
* Switching ``st.tabs`` happens in the browser only (no rerun): click
  ``page.get_by_role("tab", name=...)``, then assert. ``st.segmented_control`` options are
  ``role="radio"`` buttons, ``st.button`` is ``role="button"``.
* A running solve keeps the page rerunning (progress polling) with idle gaps in between, so
  :func:`wait_idle` may return mid-solve; wait for the outcome instead, e.g.
  ``expect(page.get_by_text("Optimal plan").first).to_be_visible(timeout=120_000)``.
* The app picks its language itself (Chinese by default), not from the browser locale.
* Console errors include Chromium's ``Failed to load resource: net::ERR_BLOCKED_BY_CLIENT``
  for every blocked request.

How Streamlit 1.67 shows its state (read from its bundled front end): the root element
``[data-testid="stApp"]`` carries ``data-test-script-state`` (``initial`` before the first
run, then ``running`` / ``rerunRequested`` / ``stopRequested`` / ``notRunning`` /
``compilationError``) and ``data-test-connection-state`` (``CONNECTED`` when the websocket
is up). The top-right ``[data-testid="stStatusWidget"]`` shows
``[data-testid="stStatusWidgetRunningIcon"]`` and a Stop button only after a run has lasted
500 ms, so its absence alone does not mean idle; the helpers use the attributes. Elements
left over from the previous run carry ``data-stale="true"`` while a rerun is under way.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Route,
    WebSocketRoute,
    sync_playwright,
)

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
VIEWPORT = {"width": 1440, "height": 1000}
START_TIMEOUT_S = 60.0
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
# Websockets to anything but a loopback host: intercepted, closed and recorded.
NON_LOCAL_WS = re.compile(r"^wss?://(?!(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?(?:/|$))")

# Ports of the app servers started in this session (stopped ones too, so a page left open on
# a stopped server may keep retrying): the only places pages may reach.
_APP_PORTS: set[int] = set()
# Per-test reports (setup / call / teardown), for the screenshot on failure.
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


# --------------------------------------------------------------------------- server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """Status and body of a GET, never through a proxy; (0, reason) when unreachable."""
    try:
        with _NO_PROXY.open(url, timeout=timeout) as response:
            return int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code), error.read().decode("utf-8", "replace")
    except (OSError, urllib.error.URLError) as error:
        return 0, str(error)


@dataclass(eq=False)
class AppServer:
    """One ``streamlit run app_streamlit.py`` subprocess on 127.0.0.1."""

    port: int
    store_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    stopped: bool = field(default=False)

    @property
    def url(self) -> str:
        """Base URL of the app, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """Everything the server printed so far (stdout and stderr, interleaved)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        """``(status, body)`` of ``GET path`` on this server (status 0: unreachable)."""
        return _http_get(self.url + "/" + path.lstrip("/"), timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the server and its children (SIGTERM, then SIGKILL); idempotent."""
        if self.stopped:
            return
        self.stopped = True
        try:
            pgid = os.getpgid(self.process.pid)
        except ProcessLookupError:
            pgid = None
        if pgid is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
        if pgid is not None:  # children that outlived their parent
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        self.process.wait(timeout)


def launch_app_server(store_dir: Path, env: Mapping[str, str] | None = None,
                      timeout: float = START_TIMEOUT_S, attempts: int = 3,
                      log_dir: Path | None = None) -> AppServer:
    """Start ``app_streamlit.py`` on a free port with ``store_dir`` and wait until healthy.

    ``env`` adds or overrides environment variables of the server. Fails the test (with the
    server's output) when ``/_stcore/health`` does not answer ``ok`` within ``timeout``
    seconds. Its output goes to ``log_dir`` (default: a new temporary folder). The caller
    must :meth:`AppServer.stop` it.
    """
    store_dir = Path(store_dir)
    store_dir.mkdir(parents=True, exist_ok=True)
    child_env = {**os.environ, "LIFECIRCLE_STORE_DIR": str(store_dir), **(env or {})}
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="lifecircle-app-log-"))
    for attempt in range(attempts):
        port = _free_port()
        log_path = log_dir / f"server-{port}.log"
        command = [sys.executable, "-m", "streamlit", "run", "app_streamlit.py",
                   "--server.headless", "true", "--server.port", str(port),
                   "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(command, cwd=REPO, env=child_env, stdout=log_file,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        server = AppServer(port=port, store_dir=store_dir, process=process, log_path=log_path)
        _APP_PORTS.add(port)
        deadline = time.monotonic() + timeout
        last = (0, "")
        while time.monotonic() < deadline and process.poll() is None:
            last = server.get("/_stcore/health", timeout=2.0)
            if last == (200, "ok"):
                return server
            time.sleep(0.2)
        exited = process.poll()
        output = server.log()
        server.stop()
        if exited is not None and "already in use" in output and attempt + 1 < attempts:
            continue  # lost the race for the free port: try another one
        reason = (f"exited with code {exited}" if exited is not None
                  else f"not healthy after {timeout:.0f} s (last answer: {last})")
        pytest.fail(f"the Streamlit server on port {port} {reason}; its output:\n{output}",
                    pytrace=False)
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The app on a free port, with an empty result store of its own (module scope)."""
    server = launch_app_server(tmp_path_factory.mktemp("store"),
                               log_dir=tmp_path_factory.mktemp("server-log"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_app_server(tmp_path_factory: pytest.TempPathFactory
                     ) -> Iterator[Callable[..., AppServer]]:
    """Factory ``start_app_server(store_dir=None, env=None) -> AppServer`` for more servers.

    ``store_dir=None`` gives a fresh empty store; pass ``app_server.store_dir`` to start a
    second server on the same stored results. Every server it started is stopped at the
    end of the test.
    """
    started: list[AppServer] = []

    def start(store_dir: Path | None = None, env: Mapping[str, str] | None = None
              ) -> AppServer:
        server = launch_app_server(store_dir or tmp_path_factory.mktemp("store"), env,
                                   log_dir=tmp_path_factory.mktemp("server-log"))
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


# -------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium, shared by the whole session."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package chromium "
                    "(.ci/run does)", pytrace=False)
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


def _is_app_url(url: str) -> bool:
    """True for ``data:``/``blob:`` URLs and for the loopback ports of our app servers."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        return False
    return (parts.scheme in ("http", "https", "ws", "wss") and host in LOCAL_HOSTS
            and port in _APP_PORTS)


@pytest.fixture
def blocked_requests() -> list[str]:
    """URLs the pages of this test tried to reach outside the app servers (aborted)."""
    return []


@pytest.fixture
def console_errors() -> list[str]:
    """Console errors and uncaught exceptions of this test's pages (not failed on)."""
    return []


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "page"


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest, blocked_requests: list[str],
             console_errors: list[str]) -> Iterator[Callable[..., Page]]:
    """Factory ``new_page(locale="en-US") -> Page``: a guarded page in a fresh context."""
    contexts: list[BrowserContext] = []

    def guard(route: Route) -> None:
        url = route.request.url
        if _is_app_url(url):
            route.continue_()
        else:
            blocked_requests.append(url)
            route.abort("blockedbyclient")

    def guard_websocket(ws: WebSocketRoute) -> None:
        blocked_requests.append(ws.url)
        ws.close(code=1008, reason="blocked by the e2e tests: not the app")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            location = message.location
            where = f" ({location.get('url', '')}:{location.get('lineNumber', '')})"
            console_errors.append(message.text + (where if location.get("url") else ""))

    def make(locale: str = "en-US") -> Page:
        context = browser.new_context(viewport=VIEWPORT, locale=locale, accept_downloads=True,
                                      service_workers="block")
        contexts.append(context)
        context.route("**/*", guard)
        context.route_web_socket(NON_LOCAL_WS, guard_websocket)
        page = context.new_page()
        page.on("console", on_console)
        page.on("pageerror", lambda error: console_errors.append(f"pageerror: {error}"))
        return page

    try:
        yield make
    finally:
        reports = request.node.stash.get(_REPORTS, {})
        failed = any(report.failed for report in reports.values())
        for index, context in enumerate(contexts):
            for number, page in enumerate(context.pages):
                if failed and not page.is_closed():
                    suffix = "" if index == number == 0 else f"-{index + 1}-{number + 1}"
                    with contextlib.suppress(Exception):
                        screenshot(page, _safe_name(request.node.name) + suffix)
            context.close()
    assert not blocked_requests, (
        "the app tried to reach: " + ", ".join(dict.fromkeys(blocked_requests)))


@pytest.fixture
def page(new_page: Callable[..., Page], request: pytest.FixtureRequest) -> Page:
    """A guarded page (viewport 1440x1000, locale ``en-US`` unless parametrized)."""
    return new_page(locale=getattr(request, "param", "en-US"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Iterator[None]:
    """Keep each phase's report on the item, for the screenshot of a failed test."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


# -------------------------------------------------------------------------- helpers

# True once the app has been idle (connected, not running) for `quiet` ms without a break.
_IDLE_JS = """
([token, quiet]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  const state = app ? app.getAttribute('data-test-script-state') : null;
  const busy = !app
    || app.getAttribute('data-test-connection-state') !== 'CONNECTED'
    || (state !== 'notRunning' && state !== 'compilationError')
    || document.querySelector('[data-testid="stStatusWidgetRunningIcon"]') !== null;
  const marks = (window.__e2eIdleSince ??= {});
  const now = performance.now();
  if (busy) { delete marks[token]; return false; }
  marks[token] ??= now;
  return now - marks[token] >= quiet;
}
"""


def _ms(seconds: float) -> float:
    if seconds > 3600:
        raise ValueError(f"timeout {seconds} is in seconds, not milliseconds")
    return seconds * 1000.0


def wait_idle(page: Page, timeout: float = 30.0, quiet: float = 0.5) -> None:
    """Wait until Streamlit finished the current (re)run: connected and not running.

    Idle must hold for ``quiet`` seconds, so that a rerun which a click has requested but
    the server not yet started is not missed. ``timeout`` is in seconds.
    """
    page.wait_for_function(_IDLE_JS, arg=[uuid.uuid4().hex, quiet * 1000.0],
                           timeout=_ms(timeout), polling=50)


_ARM_RERUN_JS = """
() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const runs = new Set(['running', 'rerunRequested']);
  window.__e2eRerunSeen = false;
  if (window.__e2eRerunObserver) window.__e2eRerunObserver.disconnect();
  window.__e2eRerunObserver = new MutationObserver(records => {
    for (const record of records) {
      if (runs.has(record.oldValue) || runs.has(app.getAttribute(record.attributeName))) {
        window.__e2eRerunSeen = true;
      }
    }
  });
  window.__e2eRerunObserver.observe(app, {attributes: true, attributeOldValue: true,
                                           attributeFilter: ['data-test-script-state']});
}
"""


def wait_rerun(page: Page, action: Callable[[], object], timeout: float = 30.0,
               start_timeout: float = 5.0) -> None:
    """Do ``action()`` (a click, a key press) and wait for the rerun it causes to finish.

    Stricter than :func:`wait_idle`: fails unless a script run starts within
    ``start_timeout`` seconds of the action. Timeouts are in seconds.
    """
    page.evaluate(_ARM_RERUN_JS)
    action()
    page.wait_for_function("() => window.__e2eRerunSeen === true", timeout=_ms(start_timeout),
                           polling=20)
    wait_idle(page, timeout)


def wait_for_app(page: Page, timeout: float = 60.0) -> None:
    """Wait until the app is on the page, connected, and its first script run is over."""
    started = time.monotonic()
    page.wait_for_selector('[data-testid="stApp"]', state="attached", timeout=_ms(timeout))
    wait_idle(page, timeout=max(1.0, timeout - (time.monotonic() - started)))


def app_exceptions(page: Page) -> list[str]:
    """Texts of the exceptions the app shows (``[data-testid="stException"]``)."""
    return page.locator('[data-testid="stException"]').all_inner_texts()


_CONTENT_HEIGHT_JS = """
() => Math.max(document.documentElement.scrollHeight,
  ...['stMain', 'stAppViewContainer', 'stSidebarContent', 'stAppScrollToBottomContainer']
      .map(id => document.querySelector(`[data-testid="${id}"]`))
      .filter(Boolean).map(el => el.scrollHeight))
"""


def screenshot(page: Page, name: str, max_height: int = 12000) -> Path:
    """Save a full-page PNG as ``tests/artifacts/<name>.png`` and return its path.

    Streamlit scrolls inside ``stMain``, so Playwright's ``full_page`` alone would cut at
    the viewport: the viewport is grown to the content's height (at most ``max_height``
    pixels) for the shot and restored afterwards.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name.removesuffix('.png')}.png"
    size = page.viewport_size or VIEWPORT
    height = min(int(page.evaluate(_CONTENT_HEIGHT_JS)), max_height)
    if height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": height})
        try:
            page.wait_for_timeout(300)  # let charts and virtualised tables lay out
            page.screenshot(path=path, full_page=True)
        finally:
            page.set_viewport_size(dict(size))
    else:
        page.screenshot(path=path, full_page=True)
    return path
