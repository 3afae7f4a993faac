"""The Results tab: status in plain words, live progress, KPIs, why a type is idle, the
map, the site list, the per-community table and the downloads."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from optimizer.solvers.base import SolveStatus
from scenarios.explain import apply_edits, explain_idle_types
from scenarios.mapdata import community_names, plan_layers, site_reach
from scenarios.runner import ScenarioResult
from scenarios.store import content_key
from webapp import session
from webapp.i18n import group_name, money, number, pct, people, tr
from webapp.maps import plan_map, tile_map, type_labels
from webapp.views.data import _streets, show_problems


def status_text(result: ScenarioResult, lang: str) -> tuple[str, str, str]:
    """(kind, headline, detail): the solver's status in plain words."""
    plan = result.plan
    gap = pct(100 * plan.gap, lang, 2) if plan.gap is not None else "–"
    stopped = any("stopped on request" in w for w in plan.report.warnings)
    if plan.status == SolveStatus.OPTIMAL:
        return ("success", tr("status_optimal", lang),
                tr("status_optimal_detail", lang, tol=pct(100 * result.spec.solver.gap, lang,
                                                          2)))
    if plan.status == SolveStatus.FEASIBLE:
        if stopped:
            return "warning", tr("status_stopped", lang, gap=gap), ""
        return ("info", tr("status_feasible", lang, gap=gap),
                tr("status_feasible_detail", lang, gap=gap))
    if plan.status == SolveStatus.INFEASIBLE:
        return "error", tr("status_infeasible", lang), "; ".join(plan.explanation)
    if plan.status == SolveStatus.NO_SOLUTION:
        return "error", tr("status_no_solution", lang), plan.report.message
    return "error", tr("status_error", lang), plan.report.message


def _banner(result: ScenarioResult, lang: str) -> None:
    kind, headline, detail = status_text(result, lang)
    runtime = number(result.plan.runtime_s, lang, 1)
    text = f"**{headline}** · {runtime} s" + (f"  \n{detail}" if detail else "")
    getattr(st, kind)(text)


def progress_frame(events, lang: str, until: float | None = None) -> pd.DataFrame:
    """Long table ``time, value, series`` of the best plan and the bound over time (held
    at their last values up to ``until`` seconds, for a solve still running)."""
    rows = [(e.elapsed_s, e.incumbent, e.bound) for e in events]
    if rows and until is not None and until > rows[-1][0]:
        rows.append((until, rows[-1][1], rows[-1][2]))
    frame = pd.DataFrame(rows, columns=["t", "incumbent", "bound"])
    frame = frame.rename(columns={"incumbent": tr("incumbent", lang),
                                  "bound": tr("bound", lang)})
    return frame.melt(id_vars="t", var_name="series", value_name="value").dropna()


def _progress_chart(events, lang: str, until: float | None = None) -> None:
    """Best plan and bound over time (the bound falls, the plan rises; they meet at the
    optimum), on an axis fitted to the values rather than starting at zero."""
    import altair as alt

    frame = progress_frame(events, lang, until)
    if not len(frame):
        return
    st.caption(tr("progress_chart", lang))
    chart = alt.Chart(frame).mark_line(interpolate="step-after", point=True).encode(
        x=alt.X("t:Q", title=tr("elapsed", lang)),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
        color=alt.Color("series:N", title=None,
                        scale=alt.Scale(range=["#1f6f5c", "#9aa5b1"])),
        tooltip=[alt.Tooltip("t:Q", format=".2f"), alt.Tooltip("value:Q", format=",.0f"),
                 "series:N"],
    ).properties(height=200)
    st.altair_chart(chart, width="stretch")


QUEUED_POLL_S = 3.0
"""How often a queued solve's page asks whether its turn came (a fragment run each time)."""
RUNNING_POLL_S = 0.5
"""How often the page of the running solve redraws its progress."""


def _live(key: str, lang: str) -> None:
    """A queued or running solve: only the running one's page polls often, so ten waiting
    sessions do not keep the server busy with script runs."""
    job = session.jobs().job(key)
    if job is not None and job.state == "queued":
        _queued(key, lang)
    else:
        _running(key, lang)


@st.fragment(run_every=QUEUED_POLL_S)
def _queued(key: str, lang: str) -> None:
    """The "queued" notice, checked every few seconds; a full rerun once it starts."""
    job = session.jobs().job(key)
    if job is None or job.state != "queued":
        st.rerun(scope="app")
        return
    st.info(tr("queued", lang))


@st.fragment(run_every=RUNNING_POLL_S)
def _running(key: str, lang: str) -> None:
    """Progress of a running solve, refreshed twice a second; a full rerun when done."""
    job = session.jobs().job(key)
    if job is None or job.state != "running":
        st.rerun(scope="app")
        return
    seconds = time.monotonic() - job.started
    limit = number(job.spec.solver.time_limit_s, lang)
    last = job.events[-1] if job.events else None
    gap = pct(100 * last.gap, lang, 2) if last is not None and last.gap is not None else "–"
    st.info(f"**{tr('solving', lang)}** {number(seconds, lang, 1)} / {limit} s · "
            f"{tr('kpi_gap', lang)} {gap}")
    _progress_chart(list(job.events), lang, until=seconds)


def _kpis(result: ScenarioResult, labels: dict[str, str], lang: str) -> None:
    plan = result.plan
    table = plan.coverage_by_type()
    cols = st.columns(len(table))
    for col, row in zip(cols, table.itertuples(), strict=True):
        col.metric(
            tr("kpi_new", lang, type=labels[row.type]), people(row.newly_covered, lang),
            delta=tr("kpi_cov", lang, before=pct(row.coverage_existing_pct, lang),
                     after=pct(row.coverage_pct, lang)),
            delta_color="off", delta_arrow="off", help=group_name(row.population_group, lang))
    newly = float(table["newly_covered"].sum())
    cols = st.columns(4)
    budget = plan.instance.budget
    cols[0].metric(tr("kpi_cost", lang), money(plan.total_cost, lang),
                   delta=tr("kpi_cost_delta", lang, budget=money(budget, lang))
                   if math.isfinite(budget) else None, delta_color="off", delta_arrow="off")
    cols[1].metric(tr("kpi_per_person", lang),
                   money(plan.total_cost / newly, lang) if newly > 0 else "–")
    cols[2].metric(tr("kpi_sites", lang), number(len(plan.site_index), lang))
    cols[3].metric(tr("kpi_gap", lang), pct(100 * plan.gap, lang, 2)
                   if plan.gap is not None else "–")


def _idle(result: ScenarioResult, labels: dict[str, str], lang: str) -> None:
    from webapp.main import solve_current

    for idle in explain_idle_types(result):
        kind = next(t for t in result.spec.types if t.name == idle.type_name)
        name = labels[idle.type_name]
        with st.container(border=True):
            st.markdown(f"**{tr('why_idle', lang, type=name)}**")
            if idle.reason == "no_candidates":
                st.write(tr("idle_no_candidates", lang, type=name))
                continue
            if idle.reason == "nothing_to_cover":
                st.write(tr("idle_nothing", lang, group=group_name(kind.population, lang)))
                continue
            st.write(tr("idle_low_ratio", lang, type=name, site=idle.best_site,
                        people=people(idle.best_people, lang),
                        group=group_name(kind.population, lang),
                        cost=money(idle.best_cost, lang), weight=number(idle.weight, lang, 1),
                        ratio=number(idle.best_ratio, lang, 1),
                        threshold=number(idle.threshold_ratio, lang, 1)))
            cols = st.columns(len(idle.variants))
            for col, variant in zip(cols, idle.variants, strict=True):
                value = (number(variant.value, lang, 1) if variant.kind == "weight"
                         else pct(100 * variant.value, lang, 0))
                label = tr(f"variant_{variant.kind}", lang, type=name, value=value)
                if col.button(label, key=f"variant_{idle.type_name}_{variant.kind}"):
                    data = apply_edits(session.draft(), variant.edits)
                    data["name"] = f"{result.spec.name}-{variant.kind}-{idle.type_name}"
                    session.set_draft(data, Path(st.session_state.base),
                                      source=st.session_state.get("source"), clamp=False)
                    solve_current(lang)
                    st.rerun()


def _map(result: ScenarioResult, labels: dict[str, str], lang: str, key: str, *,
         height: int = 620, legend: bool = True) -> None:
    names = list(result.instance.type_names)
    shown = st.segmented_control(tr("map_type", lang), names, default=names[0],
                                 format_func=labels.get, key=f"plan_map_type_{key}") or names[0]
    streets = _streets(content_key(result.spec), result.spec, result.instance.crs) \
        if result.spec.network else None
    layers = plan_layers(result, shown, labels=community_names(result.spec, lang=lang),
                         streets=streets)
    if layers.aggregated:
        st.caption(tr("aggregated_note", lang, cell=f"{layers.cells['cell_m'].iloc[0]:.0f}"))
    radii = {t.name: t.radius_m for t in result.instance.types}
    tile_url = st.session_state.get("tile_url", "").strip()
    if tile_url:
        st.plotly_chart(tile_map(layers, shown_type=shown, type_names=names, labels=labels,
                                 tile_url=tile_url, lang=lang, height=height, legend=legend),
                        width="stretch", key=f"plan_tiles_{key}",
                        config={"displaylogo": False, "scrollZoom": True})
        return
    st.plotly_chart(plan_map(layers, shown_type=shown, type_names=names, labels=labels,
                             radii=radii, lang=lang, height=height, legend=legend),
                    width="stretch",
                    key=f"plan_map_{key}", config={"displaylogo": False, "scrollZoom": True})


def sites_table(result: ScenarioResult, labels: dict[str, str], lang: str) -> pd.DataFrame:
    sites = result.plan.chosen_sites()
    reach = site_reach(result)
    table = pd.DataFrame({
        tr("col_site", lang): sites["site_id"],
        tr("col_type", lang): sites["type"].map(labels),
        tr("col_cost", lang): sites["cost"],
        tr("col_reached", lang): reach["reached"].to_numpy(),
        tr("col_newly", lang): reach["newly_covered"].to_numpy(),
    })
    if "year" in sites.columns:
        table.insert(0, tr("col_year", lang), sites["year"])
    kind_column = "kind_zh" if lang == "zh" and "kind_zh" in sites.columns else "kind"
    if kind_column in sites.columns:
        table[tr("col_kind", lang)] = sites[kind_column]
    if "area_m2" in sites.columns:
        table[tr("col_area", lang)] = sites["area_m2"]
    return table


def communities_table(result: ScenarioResult, labels: dict[str, str], lang: str
                      ) -> pd.DataFrame | None:
    """Coverage % per community and type, worst-served (lowest mean share) first."""
    group = result.spec.policy.group_by or "community_id"
    table = result.plan.coverage_by_group(group)
    if table.empty:
        return None
    wide = table.pivot(index=group, columns="type", values="coverage_pct")
    wide = wide[list(result.instance.type_names)]
    wide.columns = [f"{labels[c]} %" for c in wide.columns]
    order = wide.mean(axis=1).sort_values(kind="stable").index
    population = table[table["type"] == result.instance.type_names[0]].set_index(group)
    wide.insert(0, tr("col_population", lang), population["population"])
    names = community_names(result.spec, lang=lang)
    if names is not None and group == "community_id":
        wide.insert(0, tr("community", lang), wide.index.map(names))
    wide.index.name = tr("col_id", lang)
    return wide.loc[order]


def _highlight_worst(column: pd.Series, count: int = 5) -> list[str]:
    """Red cells: the ``count`` lowest coverage shares of a column (none if all equal)."""
    if not column.name.endswith(" %") or column.nunique() <= 1:
        return [""] * len(column)
    worst = set(column.nsmallest(count).index)
    return ["background-color: #fadbd8" if i in worst else "" for i in column.index]


def _tables(result: ScenarioResult, labels: dict[str, str], lang: str) -> None:
    st.subheader(tr("sites_table", lang))
    table = sites_table(result, labels, lang)
    st.dataframe(table, width="stretch", height=300, hide_index=True,
                 column_config={c: st.column_config.NumberColumn(format="localized")
                                for c in table.columns
                                if pd.api.types.is_numeric_dtype(table[c])})
    communities = communities_table(result, labels, lang)
    if communities is None:
        return
    st.subheader(tr("communities_table", lang))
    styled = communities.style.apply(_highlight_worst, axis=0).format(
        {c: "{:.1f}" for c in communities.columns if c.endswith(" %")}
        | {tr("col_population", lang): "{:,.0f}"})
    st.dataframe(styled, width="stretch", height=320)


def _downloads(result: ScenarioResult, lang: str) -> None:
    """Export buttons; files are made only when clicked (a city's workbook takes a while)."""
    from scenarios import exports
    from scenarios.spec import scenario_toml

    st.subheader(tr("tab_export", lang))
    cols = st.columns(4)
    name = result.spec.name
    base = Path(st.session_state.base)
    files = [
        ("export_csv", lambda: exports.to_csv_bytes(result, "sites"), f"{name}-sites.csv",
         "text/csv"),
        ("export_xlsx", lambda: exports.to_xlsx_bytes(result), f"{name}.xlsx",
         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("export_gpkg", lambda: exports.to_geopackage_bytes(result), f"{name}.gpkg",
         "application/geopackage+sqlite3"),
        ("export_toml", lambda: scenario_toml(result.spec, relative_to=base).encode("utf-8"),
         f"{name}.toml", "application/toml"),
    ]
    for col, (label, make, file_name, mime) in zip(cols, files, strict=True):
        col.download_button(tr(label, lang), make, file_name=file_name, mime=mime,
                            key=f"dl_{label}", on_click="ignore")
    brief_buttons([session.store().run_dir(content_key(result.spec))], None, name, lang,
                  "results")


def brief_buttons(run_dirs: list[Path], names: list[str] | None, file_stem: str, lang: str,
                  key: str) -> None:
    """Download buttons for the policy brief (HTML and PDF) of stored run folders."""
    from webapp.briefing import brief_bytes

    cols = st.columns(4)
    for col, fmt, mime in ((cols[0], "html", "text/html"), (cols[1], "pdf", "application/pdf")):
        col.download_button(
            tr(f"brief_{fmt}", lang),
            lambda fmt=fmt: brief_bytes(run_dirs, fmt=fmt, lang=lang, names=names),
            file_name=f"{file_stem}-brief-{lang}.{fmt}", mime=mime, key=f"brief_{fmt}_{key}",
            on_click="ignore")


def finished(job, lang: str, live) -> bool:
    """True when there is nothing (more) to wait for; otherwise show the job's live
    progress (``live(key, lang)``), its input problems or its error, and return False."""
    if job is None:
        return True
    if job.state != "done":
        live(job.key, lang)
        return False
    if job.problems:
        show_problems(job.problems, lang)
        return False
    if job.error and job.error != "cancelled":
        st.error(f"{tr('status_error', lang)}: {job.error}")
        return False
    return True


def render(lang: str) -> None:
    problems = st.session_state.get("solve_problems")
    if problems:
        show_problems(problems, lang)
    key = st.session_state.get("current_key")
    if not key:
        st.info(tr("not_solved", lang))
        return
    if not finished(session.jobs().job(key), lang, _live):
        return
    result = session.result_for(key)
    if result is None:
        st.info(tr("not_solved", lang))
        return
    spec = session.spec_or_problems()
    if not isinstance(spec, list) and content_key(spec) != key:
        st.caption("⚠️ " + tr("stale", lang))
    labels = type_labels(list(result.instance.type_names), lang,
                         {t.name: t.label for t in result.spec.types})
    _banner(result, lang)
    if not result.plan.has_solution:
        return
    _kpis(result, labels, lang)
    _idle(result, labels, lang)
    _map(result, labels, lang, "main")
    with st.expander(tr("progress_chart", lang)):
        _progress_chart(result.plan.report.progress, lang)
    _tables(result, labels, lang)
    _downloads(result, lang)
