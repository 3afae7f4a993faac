"""The Compare tab: several solved plans side by side (KPI deltas, maps, site changes)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from optimizer.errors import InputError
from scenarios.compare import compare_results
from webapp import session
from webapp.i18n import LANGS, money, number, pct, people, tr
from webapp.maps import type_labels

KPI_LABELS = {
    "status": ("求解状态", "Status"), "objective": ("加权覆盖人数（目标值）", "Weighted coverage (objective)"),
    "bound": ("最优上界", "Bound"), "gap": ("与最优差距", "Gap"),
    "total_cost": ("总投资（元）", "Total cost (CNY)"), "budget": ("预算（元）", "Budget (CNY)"),
    "new_sites": ("新建点位 · {t}", "New sites · {t}"),
    "population": ("服务人群 · {t}", "Target group · {t}"),
    "covered": ("覆盖人数 · {t}", "Covered · {t}"),
    "newly_covered": ("新增覆盖 · {t}", "Newly covered · {t}"),
    "coverage_pct": ("覆盖率 % · {t}", "Coverage % · {t}"),
}


def kpi_label(key: str, labels: dict[str, str], lang: str) -> str:
    base, _, kind = key.partition(".")
    zh, en = KPI_LABELS.get(base, (key, key))
    text = zh if lang == "zh" else en
    return text.format(t=labels.get(kind, kind)) if kind else text


STATUS = {"optimal": ("最优", "optimal"), "feasible": ("可行（未证明最优）", "feasible"),
          "infeasible": ("无可行方案", "infeasible"), "no_solution": ("未找到方案", "no plan")}


def _format(value: object, unit: str, lang: str, *, signed: bool = False) -> str:
    """A KPI value in the page's language and unit ("–" when unknown)."""
    if isinstance(value, str):
        zh, en = STATUS.get(value, (value, value))
        return zh if lang == "zh" else en
    if value is None or not isinstance(value, int | float) or value != value:
        return "–"
    sign = "+" if signed and value > 0 else ""
    if unit == "CNY":
        return sign + money(float(value), lang)
    if unit == "people":
        return sign + people(float(value), lang)
    if unit == "%":
        return sign + pct(float(value), lang)
    if unit == "ratio":
        return sign + pct(100 * float(value), lang, 2)
    if unit == "sites":
        return sign + number(float(value), lang)
    return sign + number(float(value), lang, 1)


def kpi_display(comparison, labels: dict[str, str], lang: str) -> pd.DataFrame:
    """The KPI table as text: one row per KPI, a column per plan and per difference."""
    table = comparison.kpis
    rows = {}
    for _, row in table.iterrows():
        label = kpi_label(row["kpi"], labels, lang)
        shown = {name: _format(row[name], row["unit"], lang) for name in comparison.names}
        for name in comparison.names:
            if f"delta_{name}" in table.columns:
                head = ("差值 · " if lang == "zh" else "Δ ") + name
                shown[head] = _format(row[f"delta_{name}"], row["unit"], lang, signed=True)
        rows[label] = shown
    return pd.DataFrame.from_dict(rows, orient="index")


def render(lang: str) -> None:
    plans = session.plan_names(lang)
    solved = {key: label for key, label in plans.items() if session.result_for(key) is not None}
    if len(solved) < 2:
        st.info(tr("compare_need", lang))
        return
    keys = list(solved)
    # One widget per language, as for the scenario picker (webapp.main): under one key the
    # browser kept the chips' first labels. The choice carries over a language switch.
    key = f"compare_pick_{lang}"
    before = next((st.session_state[f"compare_pick_{code}"] for code in LANGS
                   if code != lang and f"compare_pick_{code}" in st.session_state), None)
    default = [k for k in before if k in solved] if before else keys[-2:]
    chosen = st.multiselect(tr("compare_pick", lang), keys, default=default,
                            format_func=solved.get, key=key, max_selections=4)
    if len(chosen) < 2:
        st.info(tr("compare_need", lang))
        return
    results = [session.result_for(k) for k in chosen]
    names = [solved[k] for k in chosen]
    try:
        comparison = compare_results(results, names=names)
    except InputError as error:
        st.error("\n".join(str(p) for p in error.problems))
        return
    first = results[0]
    labels = type_labels(list(first.instance.type_names), lang,
                         {t.name: t.label for t in first.spec.types})
    st.subheader(tr("kpi_table", lang))
    st.dataframe(kpi_display(comparison, labels, lang), width="stretch", height=420)
    from webapp.views.results import _map

    st.caption(tr("map_key", lang))
    columns = st.columns(len(results))
    for k, (column, result, name) in enumerate(zip(columns, results, names, strict=True)):
        with column:
            st.markdown(f"**{name}**")
            _map(result, labels, lang, f"compare_{k}", height=440, legend=False)
    st.subheader(tr("site_changes", lang))
    changes = comparison.site_changes
    changed = changes[changes["change"] != "same"].copy()
    for column in [c for c in changed.columns if c.startswith("change")]:
        changed[column] = changed[column].map(lambda v: tr(v, lang) if v in (
            "added", "dropped", "changed_type", "same") else v)
    for name in names:
        if name in changed.columns:
            changed[name] = changed[name].map(lambda v: labels.get(v, v) if isinstance(v, str)
                                              else v)
    st.dataframe(_change_display(changed, lang), width="stretch", hide_index=True,
                 height=300)
    from webapp.views.results import brief_buttons

    brief_buttons([session.store().run_dir(k) for k in chosen], names, "comparison", lang,
                  "compare")


def _change_display(changed: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The site-change table with headers for reading: "Site"; with two plans the one
    change column (the per-plan and the overall column say the same); with more, each
    plan's change as "Δ <plan>" and the overall one as "Overall change"."""
    per_plan = [c for c in changed.columns if c.startswith("change_")]
    table = changed.drop(columns=["change"]) if len(per_plan) == 1 else changed
    names = {"site_id": tr("col_site", lang), "change": tr("col_change_overall", lang)}
    if len(per_plan) == 1:
        names[per_plan[0]] = tr("col_change", lang)
    else:
        names.update({c: f"Δ {c.removeprefix('change_')}" for c in per_plan})
    return pd.DataFrame(table).rename(columns=names)
