"""Per-browser-session state (the scenario being edited) and process-wide caches.

Each session edits its own copy of the scenario (a TOML-ready dictionary in
``st.session_state``), so two browser sessions never see each other's unsaved edits. What
is shared across sessions is only what is determined by content: built instances, stored
results and running jobs, all keyed by :func:`~scenarios.store.content_key`.
"""

from __future__ import annotations

import copy
import json
import threading
import tomllib
from pathlib import Path
from typing import Any

import streamlit as st

from optimizer.errors import InputError
from optimizer.instance import SitingInstance
from scenarios.library import DEFAULT_SCENARIO, shipped_scenarios
from scenarios.loader import build_instance
from scenarios.runner import ScenarioResult
from scenarios.spec import ScenarioSpec, parse_scenario
from scenarios.store import ResultStore, content_key, load_run
from webapp.jobs import SolveJobs

APP_TIME_LIMIT_S = 20.0
"""Default time limit in the app: planners wait seconds, not the CLI's minute."""


@st.cache_resource
def store() -> ResultStore:
    return ResultStore()


@st.cache_resource
def jobs() -> SolveJobs:
    return SolveJobs(store(), workers=1)


WARMUP_ENV = "LIFECIRCLE_WARMUP"
"""Set to ``0`` to skip compiling the search kernels in the background at server start."""


def _warm() -> None:
    import sys

    from scenarios.warmup import warm_up

    try:
        seconds = warm_up()
    except Exception as error:  # never fatal: the first solve then compiles instead
        print(f"lifecircle: warm-up failed ({type(error).__name__}: {error})", file=sys.stderr)
        return
    print(f"lifecircle: search kernels ready in {seconds:.1f} s", file=sys.stderr, flush=True)


@st.cache_resource(show_spinner=False)
def _server_started() -> threading.Thread | None:
    """Once per server process (the first page load): remove upload folders that killed
    servers left behind, and compile (or load) the search kernels in a background thread,
    so the first planner's solve does not wait 10-20 s for numba (see
    :mod:`scenarios.warmup`)."""
    import os

    from webapp.upload_folders import remove_stale_folders

    remove_stale_folders()
    if os.environ.get(WARMUP_ENV, "1").strip() == "0":
        return None
    thread = threading.Thread(target=_warm, name="lifecircle-warmup", daemon=True)
    thread.start()
    return thread


def start_server_tasks() -> None:
    """Run :func:`_server_started` (a no-op after the first call in a process)."""
    _server_started()


@st.cache_resource(max_entries=16, show_spinner=False)
def _instance(key: str, _spec: ScenarioSpec) -> SitingInstance | list[str]:
    try:
        return build_instance(_spec)
    except InputError as error:
        return [str(p) for p in error.problems]


def instance_or_problems(spec: ScenarioSpec) -> SitingInstance | list[str]:
    """The built instance (cached by content), or the input problems, one line each."""
    return _instance(content_key(spec), spec)


@st.cache_resource(max_entries=32, show_spinner=False)
def _stored(key: str) -> ScenarioResult | None:
    folder = store().run_dir(key)
    if not (folder / "summary.json").exists():
        return None
    try:
        return load_run(folder)
    except (InputError, OSError, ValueError, KeyError):
        return None


def result_for(key: str) -> ScenarioResult | None:
    """A finished result by key: from a job of this process, else from the store."""
    job = jobs().job(key)
    if job is not None and job.result is not None:
        return job.result
    return _stored(key)


SCENARIOS_ENV = "LIFECIRCLE_SCENARIOS"
"""Extra folders of scenario files offered in the picker (separated by ``os.pathsep``), e.g.
a planning bureau's own scenarios on the server."""


def shipped() -> dict[str, Path]:
    """Scenarios offered in the picker: the shipped ones, then those in
    ``$LIFECIRCLE_SCENARIOS`` folders (searched recursively for ``*.toml``)."""
    import os

    found = dict(shipped_scenarios())
    for folder in filter(None, os.environ.get(SCENARIOS_ENV, "").split(os.pathsep)):
        for path in sorted(Path(folder).rglob("*.toml")):
            found.setdefault(path.stem, path)
    return found


def start_from_file(path: Path, *, name: str | None = None, clamp: bool = True) -> None:
    """Make a scenario file the session's draft (see :func:`set_draft` for ``clamp``)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    set_draft(data, path.parent, source=name or path.stem, clamp=clamp)


def set_draft(data: dict[str, Any], base: Path, *, source: str | None,
              clamp: bool = True) -> None:
    """Make ``data`` the session's draft; with ``clamp`` its time limit is at most
    :data:`APP_TIME_LIMIT_S` (a scenario file's 60 s is meant for batch runs)."""
    state = st.session_state
    state.draft = copy.deepcopy(data)
    state.draft.setdefault("solver", {})
    state.draft["solver"].setdefault("time_limit_s", APP_TIME_LIMIT_S)
    if clamp:
        state.draft["solver"]["time_limit_s"] = min(
            float(state.draft["solver"]["time_limit_s"]), APP_TIME_LIMIT_S)
    state.base = str(base)
    state.source = source
    state.revision = state.get("revision", 0) + 1


def ensure_draft() -> None:
    if "draft" not in st.session_state:
        start_from_file(shipped()[DEFAULT_SCENARIO], name=DEFAULT_SCENARIO)


def draft() -> dict[str, Any]:
    return st.session_state.draft


def edit(dotted: str, value: Any) -> None:
    """Set (or with None remove) a dotted key of the draft."""
    from scenarios.explain import apply_edits

    st.session_state.draft = apply_edits(st.session_state.draft, {dotted: value})


def spec_or_problems() -> ScenarioSpec | list[str]:
    """The draft validated as a scenario, or every problem, one line each."""
    data = draft()
    text = json.dumps(data, sort_keys=True, default=str)
    cached = st.session_state.get("_spec_cache")
    if cached is not None and cached[0] == text and cached[1] == st.session_state.base:
        return cached[2]
    try:
        spec: ScenarioSpec | list[str] = parse_scenario(
            copy.deepcopy(data), base=Path(st.session_state.base),
            label=f"{data.get('name', 'scenario')}.toml", name=str(data.get("name", "scenario")))
    except InputError as error:
        spec = [str(p) for p in error.problems]
    st.session_state._spec_cache = (text, st.session_state.base, spec)
    return spec


def remember(key: str, labels: dict[str, str]) -> None:
    """Add a solved scenario to this session's list of plans (for comparison), named in
    each language (``labels``: language code -> name; made unique with " (2)", ...)."""
    plans: dict[str, dict[str, str]] = st.session_state.setdefault("plans", {})
    if key not in plans:
        named = {}
        for code, label in labels.items():
            names = {other[code] for other in plans.values()}
            unique, k = label, 2
            while unique in names:
                unique, k = f"{label} ({k})", k + 1
            named[code] = unique
        plans[key] = named


def plan_names(lang: str) -> dict[str, str]:
    """This session's plans, key -> name in ``lang``, in the order they were solved."""
    return {key: labels[lang] for key, labels in st.session_state.get("plans", {}).items()}


def lang() -> str:
    return st.session_state.get("lang", "zh")
