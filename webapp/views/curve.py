"""The Budget curve tab: coverage and marginal cost as the budget grows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from webapp import session
from webapp.i18n import budget_label, budget_unit, number, tr
from webapp.maps import type_labels
from webapp.views.data import show_problems
from webapp.views.results import finished


@st.fragment(run_every=1.0)
def _live(key: str, lang: str) -> None:
    job = session.jobs().job(key)
    if job is None or job.state == "done":
        st.rerun(scope="app")
        return
    st.info(f"{tr('solving', lang)} {len(job.points)}")
    if job.points:
        st.dataframe(pd.DataFrame(job.points)[["budget", "status", "objective"]],
                     hide_index=True)


def render(lang: str) -> None:
    spec = session.spec_or_problems()
    if isinstance(spec, list):
        show_problems(spec, lang)
        return
    budget = spec.budget if np.isfinite(spec.budget) else 3e7
    unit = budget_unit(lang, budget)
    cols = st.columns(3)
    low = cols[0].number_input(tr("curve_budgets", lang) + " ≥", 0.0, value=budget / 6 / unit,
                               key=f"curve_low_{lang}", format="%.0f")
    high = cols[1].number_input(tr("curve_budgets", lang) + " ≤", 0.0, value=budget * 2 / unit,
                                key=f"curve_high_{lang}", format="%.0f")
    count = cols[2].number_input(tr("curve_points", lang), 2, 30, 8, key="curve_points")
    digits = 1 if unit == 1e6 else 0
    budgets = [float(b) * unit for b in np.unique(np.round(
        np.linspace(low, high, int(count)), digits))]
    key = session.jobs().curve_key(spec, budgets)
    job = session.jobs().job(key)
    if st.button(tr("curve_run", lang), key="curve_run", disabled=high <= low or (
            job is not None and job.state != "done")):
        session.jobs().submit_curve(spec, budgets)
        st.rerun()
    if not finished(session.jobs().job(key), lang, _live):
        return
    points = session.jobs().curve_points(key)
    if points is None:
        return
    labels = type_labels([t.name for t in spec.types], lang,
                         {t.name: t.label for t in spec.types})
    _charts(points, labels, unit, lang)
    st.caption(tr("curve_note", lang))
    st.dataframe(curve_table(points, labels, unit, lang), hide_index=True, width="stretch")


def _charts(points: pd.DataFrame, labels: dict[str, str], unit: float, lang: str) -> None:
    """Coverage per type and marginal cost against budget, in the map's type colours."""
    import altair as alt

    from webapp.maps import type_colour

    axis = budget_label(lang, unit)
    long = pd.DataFrame([
        {"budget": b / unit, "type": label, "coverage": c}
        for name, label in labels.items()
        for b, c in zip(points["budget"], points[f"coverage_pct_{name}"], strict=True)])
    domain = alt.Scale(domain=[float(points["budget"].min() / unit),
                               float(points["budget"].max() / unit)], nice=False)
    colours = alt.Scale(domain=list(labels.values()),
                        range=[type_colour(t) for t in range(len(labels))])
    st.subheader(tr("curve_cov", lang))
    coverage = alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("budget:Q", title=axis, scale=domain),
        y=alt.Y("coverage:Q", title="%", scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("type:N", title=None, scale=colours),
        tooltip=[alt.Tooltip("budget:Q", title=axis, format=",.1f"), "type:N",
                 alt.Tooltip("coverage:Q", title="%", format=".1f")],
    ).properties(height=280)
    st.altair_chart(coverage, width="stretch")
    st.subheader(tr("curve_marginal", lang))
    marginal = pd.DataFrame({"budget": points["budget"] / unit,
                             "cost": points["marginal_cost_per_resident"]}).dropna()
    bars = alt.Chart(marginal).mark_bar(color="#1f6f5c", size=18).encode(
        x=alt.X("budget:Q", title=axis, scale=domain),
        y=alt.Y("cost:Q", title=tr("yuan_per_person", lang)),
        tooltip=[alt.Tooltip("budget:Q", title=axis, format=",.1f"),
                 alt.Tooltip("cost:Q", title=tr("yuan_per_person", lang), format=",.0f")],
    ).properties(height=220)
    st.altair_chart(bars, width="stretch")


def curve_table(points: pd.DataFrame, labels: dict[str, str], unit: float,
                lang: str) -> pd.DataFrame:
    """The curve's points as a table in the page's language and units."""
    from webapp.i18n import money, pct
    from webapp.views.compare import STATUS

    table = pd.DataFrame({
        budget_label(lang, unit): [number(b / unit, lang, 1 if unit == 1e6 else 0)
                                   for b in points["budget"]],
        tr("kpi_cost", lang): [money(c, lang) for c in points["total_cost"]],
        tr("status_col", lang): [STATUS.get(s, (s, s))[0 if lang == "zh" else 1]
                                 for s in points["status"]],
    })
    for name, label in labels.items():
        table[f"{label} %"] = [pct(v, lang) for v in points[f"coverage_pct_{name}"]]
    table[tr("yuan_per_person", lang)] = [money(v, lang)
                                          for v in points["marginal_cost_per_resident"]]
    return table
