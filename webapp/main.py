"""The app's frame: sidebar (language, scenario, budget, solve) and the tabs."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from scenarios.store import content_key
from scenarios.titles import description as scenario_description
from scenarios.titles import title
from webapp import session
from webapp.i18n import LANGS, budget_label, budget_unit, tr
from webapp.views import compare, curve, data, editor, results


def _language() -> str:
    choice = st.sidebar.segmented_control(
        "Language / 语言", options=list(LANGS), default=session.lang(), key="lang_choice",
        format_func=lambda code: "中文" if code == "zh" else "English")
    st.session_state.lang = choice or session.lang()
    return st.session_state.lang


def _scenario_picker(lang: str) -> None:
    names = list(session.shipped())
    options = [*names, "__upload__"] if st.session_state.get("upload_base") else names
    current = st.session_state.get("source")
    index = options.index(current) if current in options else 0
    # One widget per language: with one key for both, the browser kept showing the
    # labels of the language the picker was first drawn in after a language switch.
    key = f"scenario_choice_{lang}"
    pending = st.session_state.pop("pending_choice", None)
    if pending in options:  # set by an action further down the page in the previous run
        st.session_state[key] = pending

    def changed() -> None:
        choice = st.session_state[key]
        if choice not in options:
            # Streamlit keeps a selectbox's value as its label: a rerun requested while the
            # page still showed the other language's labels (a busy server) sends a label
            # from there. Map it back to its scenario; the same scenario is no change.
            labels = {tr("uploaded_data", code) if n == "__upload__" else title(n, code): n
                      for n in options for code in LANGS}
            choice = labels.get(choice, current)
            st.session_state[key] = choice
            if choice == current or choice not in options:
                return
        if choice == "__upload__":
            session.start_from_file(Path(st.session_state.upload_base) / "scenario.toml",
                                    name="__upload__")
        else:
            session.start_from_file(session.shipped()[choice], name=choice)
        st.query_params.clear()
        st.session_state.current_key = None
        _show_stored_result()

    st.sidebar.selectbox(
        tr("scenario", lang), options, index=index, key=key, on_change=changed,
        help=tr("scenario_help", lang), placeholder=tr("choose", lang),
        format_func=lambda n: tr("uploaded_data", lang) if n == "__upload__" else title(n, lang))
    source = st.session_state.get("source")
    description = (scenario_description(source, lang) if isinstance(source, str) else None) \
        or session.draft().get("description")
    if description:
        st.sidebar.caption(description)


def _budget(lang: str) -> None:
    draft = session.draft()
    if "budget" not in draft:
        return
    unit = budget_unit(lang, float(draft["budget"]))
    key = f"budget_{lang}_{unit:g}_{st.session_state.revision}"

    def changed() -> None:
        session.edit("budget", float(st.session_state[key]) * unit)

    st.sidebar.number_input(budget_label(lang, unit), min_value=0.0,
                            value=float(draft["budget"]) / unit,
                            step=1.0 if unit == 1.0 else 500.0 if lang == "zh" else 5.0,
                            key=key, on_change=changed,
                            format="%.1f" if unit == 1e6 else "%.0f")


def _time_limit(lang: str) -> None:
    draft = session.draft()
    key = f"time_limit_{st.session_state.revision}"

    def changed() -> None:
        session.edit("solver.time_limit_s", float(st.session_state[key]))

    st.sidebar.number_input(tr("time_limit", lang), min_value=1.0, max_value=3600.0,
                            value=float(draft.get("solver", {}).get("time_limit_s", 20)),
                            step=5.0, key=key, on_change=changed, format="%.0f")


def plan_labels(spec) -> dict[str, str]:
    """A plan's name in lists, in each language: the scenario's name and its budget."""
    import math

    from webapp.i18n import money

    if not math.isfinite(spec.budget):
        return dict.fromkeys(LANGS, spec.name)
    return {code: f"{spec.name} · {money(spec.budget, code)}" for code in LANGS}


def solve_current(lang: str) -> None:
    """Submit the draft (or show its problems); the result appears when it is done."""
    spec = session.spec_or_problems()
    if isinstance(spec, list):
        st.session_state.solve_problems = spec
        return
    st.session_state.solve_problems = []
    key = content_key(spec)
    st.session_state.current_key = key
    st.query_params["run"] = key
    session.remember(key, plan_labels(spec))
    if session.result_for(key) is None:
        session.jobs().submit(spec)


def _solve_buttons(lang: str) -> None:
    key = st.session_state.get("current_key")
    job = session.jobs().job(key) if key else None
    running = job is not None and job.state != "done"
    left, right = st.sidebar.columns(2)
    if left.button(tr("solve", lang), type="primary", width="stretch",
                   disabled=running, key="solve_button"):
        solve_current(lang)
        st.rerun()
    if right.button(tr("cancel", lang), width="stretch", disabled=not running,
                    key="cancel_button"):
        session.jobs().cancel(key)


def _map_settings(lang: str) -> None:
    """Optional base tiles (off by default: maps are drawn from the data, offline)."""
    import os

    st.session_state.setdefault("tile_url", os.environ.get("LIFECIRCLE_TILE_URL", ""))
    with st.sidebar.expander(tr("map_settings", lang)):
        st.text_input(tr("tile_url", lang), key="tile_url",
                      placeholder="https://t0.tianditu.gov.cn/...{z}/{x}/{y}...&tk=KEY",
                      help=tr("tile_help", lang))


def _restore_from_url() -> None:
    """A refreshed page (``?run=KEY``) reopens that result and its scenario, unsolved."""
    if st.session_state.get("current_key"):
        return
    key = st.query_params.get("run")
    if key and (session.store().run_dir(key) / "scenario.toml").exists():
        session.start_from_file(session.store().run_dir(key) / "scenario.toml", clamp=False)
        st.session_state.source = st.session_state.draft.get("name")
        st.session_state.current_key = key
        spec = session.spec_or_problems()
        session.remember(key, dict.fromkeys(LANGS, key) if isinstance(spec, list)
                         else plan_labels(spec))
        return
    session.ensure_draft()
    _show_stored_result()


def _show_stored_result() -> None:
    """Show the draft's result when it was solved before (by anyone: results are shared by
    content); otherwise the page says it is not solved yet."""
    spec = session.spec_or_problems()
    if isinstance(spec, list):
        return
    key = content_key(spec)
    job = session.jobs().job(key)
    if session.result_for(key) is not None or (job is not None and job.state != "done"):
        st.session_state.current_key = key
        st.query_params["run"] = key
        session.remember(key, plan_labels(spec))


def main() -> None:
    st.set_page_config(page_title="lifecircle", page_icon="🏘️", layout="wide",
                       initial_sidebar_state="expanded")
    session.start_server_tasks()
    _restore_from_url()
    session.ensure_draft()
    lang = _language()
    st.sidebar.title("lifecircle")
    _scenario_picker(lang)
    _budget(lang)
    _time_limit(lang)
    _solve_buttons(lang)
    _map_settings(lang)
    st.title(tr("app_title", lang))
    st.caption(tr("app_caption", lang))
    tabs = st.tabs([tr("tab_results", lang), tr("tab_data", lang), tr("tab_edit", lang),
                    tr("tab_compare", lang), tr("tab_curve", lang)])
    with tabs[0]:
        results.render(lang)
    with tabs[1]:
        data.render(lang)
    with tabs[2]:
        editor.render(lang)
    with tabs[3]:
        compare.render(lang)
    with tabs[4]:
        curve.render(lang)
