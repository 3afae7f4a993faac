"""The Budget curve tab: coverage and marginal cost as the budget grows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from webapp import session
from webapp.i18n import budget_unit, tr
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
    budgets = [float(b) for b in np.linspace(low * unit, high * unit, int(count))]
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
    budget_axis = tr("budget", lang)
    coverage = pd.DataFrame({budget_axis: points["budget"] / unit})
    for name, label in labels.items():
        coverage[label] = points[f"coverage_pct_{name}"]
    st.subheader(tr("curve_cov", lang))
    st.line_chart(coverage.set_index(budget_axis), height=260, y_label="%")
    st.subheader(tr("curve_marginal", lang))
    marginal = pd.DataFrame({budget_axis: points["budget"] / unit,
                             tr("curve_marginal", lang): points["marginal_cost_per_resident"]})
    st.bar_chart(marginal.set_index(budget_axis), height=220)
    st.caption(tr("curve_note", lang))
    st.dataframe(points, hide_index=True, width="stretch")
