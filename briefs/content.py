"""What a brief says: the numbers and sentences of each page, ready for the template.

Everything here is read from the result API (:meth:`~optimizer.results.Plan.coverage_by_type`,
:func:`scenarios.mapdata.site_reach`, :func:`scenarios.compare.compare_results`,
:func:`scenarios.explain.explain_idle_types`...) or ``summary.json``; nothing is solved or
re-evaluated. Numbers are formatted by :mod:`webapp.i18n` and every headline number keeps
its raw value (``data-kpi`` / ``data-value`` in the HTML) so tests can check it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from babel.dates import format_date

from briefs.charts import MapText, curve_chart, plan_map, read_curve
from briefs.sources import DataNotes, data_notes
from briefs.text import capitalised, group_label, t, type_label, type_plural
from optimizer.solvers.base import SolveStatus
from scenarios.compare import ADDED, CHANGED_TYPE, DROPPED, UNSOLVED, compare_results
from scenarios.explain import explain_idle_types
from scenarios.mapdata import community_names, plan_layers, site_reach, street_segments
from scenarios.runner import ScenarioResult
from scenarios.store import file_digest
from scenarios.titles import TITLES
from scenarios.titles import description as describe_shipped
from scenarios.titles import title as shipped_title
from webapp.i18n import LOCALES, money, number, pct, people

WORST_COUNT = 5
"""Communities highlighted as worst-served per type."""
PRIORITY_COUNT = 3
"""Worst-served communities per type named on the summary page."""


@dataclass(frozen=True)
class Cell:
    """One table cell: its text and, for headline numbers, a stable key and raw value."""

    text: str
    kpi: str | None = None
    value: float | int | str | None = None
    cls: str = ""
    scenario: str | None = None


@dataclass(frozen=True)
class Run:
    """A run folder loaded for a brief."""

    folder: Path
    name: str
    result: ScenarioResult
    summary: dict[str, Any]
    curve: Path | None = None


@dataclass(frozen=True)
class Table:
    """Column headings and rows of cells."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    numeric: tuple[bool, ...] = ()


@dataclass(frozen=True)
class RunBrief:
    """The pages of one plan."""

    name: str
    heading: str
    description: str
    description_label: str
    has_plan: bool
    quality: str
    quality_detail: str
    quality_cls: str
    lead: str
    bullets: tuple[str, ...]
    kpis: Table
    totals: tuple[tuple[str, Cell, str], ...]
    idle: tuple[tuple[str, str], ...]
    maps: tuple[tuple[str, str], ...]
    map_note: str
    curve: dict[str, Any] | None
    communities: dict[str, Any] | None
    sites: dict[str, Any] | None


@dataclass(frozen=True)
class MethodRun:
    """The method page's facts about one run."""

    name: str
    types: Table
    distance: str
    solver: tuple[tuple[str, str], ...]
    notes: DataNotes
    notes_path: str


@dataclass(frozen=True)
class Brief:
    """Everything the template shows."""

    lang: str
    title: str
    names: tuple[str, ...]
    display_names: tuple[str, ...]
    today: str
    synthetic: bool
    synthetic_text: str
    model: str
    kicker: str
    comparison: dict[str, Any] | None
    runs: tuple[RunBrief, ...]
    method: tuple[MethodRun, ...]
    data_notes: tuple[tuple[str, DataNotes], ...] = field(default=())
    versions: tuple[tuple[str, str], ...] = ()


# --------------------------------------------------------------------------- helpers


def _finite(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _signed(text: str, value: float) -> str:
    """``+`` before a positive formatted number (negative ones carry their own sign)."""
    if not _finite(value):
        return "–"
    return "+" + text if value > 0 else text.replace("-", "−")


def _labels(result: ScenarioResult, lang: str) -> dict[str, str]:
    return {kind.name: type_label(kind.name, lang, kind.label) for kind in result.spec.types}


def _plurals(result: ScenarioResult, lang: str) -> dict[str, str]:
    return {kind.name: type_plural(kind.name, lang, kind.label) for kind in result.spec.types}


def _count_label(name: str, count: int, labels: dict[str, str], plurals: dict[str, str]) -> str:
    return labels[name] if count == 1 else plurals[name]


def _distance_kind(result: ScenarioResult) -> str:
    if result.spec.network is not None:
        return "walk"
    if result.spec.distances is not None:
        return "table"
    return "straight"


def _reach_words(kind: str, lang: str) -> str:
    return t({"walk": "distance_walk", "straight": "distance_straight",
              "table": "distance_table"}[kind], lang)


def _gap_text(gap: float | None, lang: str) -> str:
    if not _finite(gap):
        return "–"
    value = 100 * float(gap)  # type: ignore[arg-type]
    return pct(value, lang, 2 if value < 0.1 else 1)


def quality(result: ScenarioResult, lang: str) -> tuple[str, str, str]:
    """(headline, detail, css class) of the solution's status in plain words."""
    plan = result.plan
    cost = "_cost" if result.spec.policy.objective == "min_cost" else ""
    if plan.status == SolveStatus.OPTIMAL:
        tol = _gap_text(result.spec.solver.gap, lang)
        return (t("quality_optimal", lang), t(f"quality_optimal_detail{cost}", lang, tol=tol),
                "good")
    if plan.status == SolveStatus.FEASIBLE:
        gap = _gap_text(plan.gap, lang)
        return (t("quality_feasible", lang, gap=gap),
                t(f"quality_feasible_detail{cost}", lang, gap=gap), "fair")
    if plan.status == SolveStatus.INFEASIBLE:
        return (t("quality_infeasible", lang), "; ".join(plan.explanation), "bad")
    if plan.status == SolveStatus.NO_SOLUTION:
        return t("quality_no_solution", lang), plan.report.message, "bad"
    return t("quality_error", lang), plan.report.message, "bad"


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- one run


def _kpi_table(result: ScenarioResult, lang: str) -> Table:
    labels, kind = _labels(result, lang), _distance_kind(result)
    table = result.plan.coverage_by_type()
    rows = []
    for row in table.itertuples(index=False):
        name = row.type
        per_person = row.cost / row.newly_covered if row.newly_covered > 0 else math.nan
        rows.append((
            Cell(capitalised(labels[name]), cls="name"),
            Cell(group_label(row.population_group, lang)),
            Cell(t("metres", lang, r=number(row.radius_m, lang)) +
                 ("" if kind == "walk" else f"（{_reach_words(kind, lang)}）" if lang == "zh"
                  else f" ({_reach_words(kind, lang)})"),
                 f"radius_m.{name}", float(row.radius_m)),
            Cell(t("sites_count", lang, n=number(row.new_sites, lang)), f"new_sites.{name}",
                 int(row.new_sites)),
            Cell(money(row.cost, lang), f"cost.{name}", float(row.cost)),
            Cell(people(row.newly_covered, lang), f"newly_covered.{name}",
                 float(row.newly_covered), cls="strong"),
            Cell(pct(row.coverage_existing_pct, lang), f"coverage_existing_pct.{name}",
                 float(row.coverage_existing_pct)),
            Cell(pct(row.coverage_pct, lang), f"coverage_pct.{name}", float(row.coverage_pct),
                 cls="strong"),
            Cell(money(per_person, lang), f"cost_per_newly.{name}",
                 None if not _finite(per_person) else float(per_person)),
        ))
    columns = (t("col_type", lang), t("col_group", lang),
               t("col_radius", lang) if kind == "walk" else t("col_radius_other", lang),
               t("col_new_sites", lang), t("col_cost", lang), t("col_newly", lang),
               t("col_before", lang), t("col_after", lang), t("col_per_person", lang))
    return Table(columns, tuple(rows), (False, False, *([True] * 7)))


def _lead(result: ScenarioResult, lang: str) -> tuple[str, tuple[str, ...]]:
    plan = result.plan
    labels, plurals = _labels(result, lang), _plurals(result, lang)
    table = plan.coverage_by_type()
    count = int(table["new_sites"].sum())
    budget = plan.instance.budget
    spent = {"cost": money(plan.total_cost, lang),
             "cost_exact": number(plan.total_cost, lang) + " CNY"}
    if _finite(budget):
        lead = t("lead_sites", lang, budget=money(budget, lang), count=number(count, lang),
                 **spent)
    else:
        lead = t("lead_sites_unbounded", lang, count=number(count, lang), **spent)
    kind = _distance_kind(result)
    bullets = []
    for row in table.itertuples(index=False):
        name = row.type
        if row.new_sites > 0:
            reach = (t("reach_walk", lang, r=number(row.radius_m, lang)) if kind == "walk"
                     else t("reach_other", lang, r=number(row.radius_m, lang),
                            how=_reach_words(kind, lang)))
            bullets.append(t(
                "lead_type", lang, type=labels[name],
                types=_count_label(name, int(row.new_sites), labels, plurals),
                sites=number(row.new_sites, lang), people=people(row.newly_covered, lang),
                count=number(row.newly_covered, lang),
                group=group_label(row.population_group, lang), reach=reach,
                before=pct(row.coverage_existing_pct, lang), after=pct(row.coverage_pct, lang)))
        else:
            bullets.append(t("lead_type_none", lang, type=labels[name],
                             after=pct(row.coverage_pct, lang)))
    end = "。" if lang == "zh" else "."
    bullets = [b.rstrip("；;。.") + ("；" if lang == "zh" else ";") for b in bullets]
    if bullets:
        bullets[-1] = bullets[-1][:-1] + end
    return lead, tuple(capitalised(b) if lang == "en" else b for b in bullets)


def _totals(result: ScenarioResult, lang: str) -> tuple[tuple[str, Cell, str], ...]:
    plan = result.plan
    table = plan.coverage_by_type()
    budget = plan.instance.budget
    newly = float(table["newly_covered"].sum())
    sites = int(table["new_sites"].sum())
    per = plan.total_cost / newly if newly > 0 else math.nan
    if _finite(budget) and budget > 0:
        budget_note = t("budget_note", lang, budget=money(budget, lang),
                        share=pct(100 * plan.total_cost / budget, lang))
    else:
        budget_note = t("no_budget", lang)
    head, _, cls = quality(result, lang)
    labels, plurals = _labels(result, lang), _plurals(result, lang)
    separator = "、" if lang == "zh" else ", "
    breakdown = separator.join(
        t("sites_by_type", lang, type=labels[row.type], n=number(row.new_sites, lang),
          types=_count_label(row.type, int(row.new_sites), labels, plurals))
        for row in table.itertuples(index=False) if row.new_sites > 0)
    return (
        (t("total_cost", lang), Cell(money(plan.total_cost, lang), "total_cost",
                                     float(plan.total_cost)), budget_note),
        (t("new_sites_total", lang), Cell(t("sites_count", lang, n=number(sites, lang)),
                                          "new_sites_total", sites), breakdown),
        (t("per_person_total" if len(table) > 1 else "per_person_single", lang),
         Cell(money(per, lang), "cost_per_newly_total", float(per) if _finite(per) else None),
         t("per_person_note", lang) if len(table) > 1 else ""),
        (t("quality", lang), Cell(head, "gap", plan.gap if _finite(plan.gap) else None,
                                  cls=cls), ""),
    )


def _idle(result: ScenarioResult, lang: str) -> tuple[tuple[str, str], ...]:
    labels, plurals = _labels(result, lang), _plurals(result, lang)
    kinds = {kind.name: kind for kind in result.spec.types}
    out = []
    for idle in explain_idle_types(result):
        name = idle.type_name
        group = group_label(kinds[name].population, lang)
        heading = t("idle_heading", lang, type=labels[name])
        if idle.reason == "no_candidates":
            out.append((heading, t("idle_no_candidates", lang, type=labels[name])))
            continue
        if idle.reason == "nothing_to_cover":
            out.append((heading, t("idle_nothing", lang, type=labels[name], group=group)))
            continue
        values = {"type": labels[name], "types": plurals[name], "site": idle.best_site,
                  "cost": money(idle.best_cost, lang), "people": people(idle.best_people, lang),
                  "group": group, "ratio": number(idle.best_ratio, lang, 1),
                  "threshold": number(idle.threshold_ratio, lang, 1)}
        text = t("idle_low_ratio" if _finite(idle.threshold_ratio)
                 else "idle_low_ratio_no_threshold", lang, **values)
        variants = {v.kind: v for v in idle.variants}
        if "target" in variants:
            target = pct(100 * variants["target"].value, lang, 0)
            if "weight" in variants:
                weight = variants["weight"].value
                text += " " * (lang == "en") + t(
                    "idle_variants", lang, type=labels[name], types=plurals[name],
                    weight=number(weight, lang, 0 if float(weight).is_integer() else 1),
                    target=target)
            else:
                text += " " * (lang == "en") + t("idle_variant_target", lang, type=labels[name],
                                                 types=plurals[name], target=target)
        out.append((heading, text))
    return tuple(out)


def _maps(result: ScenarioResult, lang: str, streets: pd.DataFrame | None
          ) -> tuple[tuple[tuple[str, str], ...], str]:
    labels, plurals = _labels(result, lang), _plurals(result, lang)
    names = community_names(result.spec, lang=lang)
    if names is not None and lang == "en":
        names = names.str.replace(r"\s+Community$", "", regex=True)
    table = result.plan.coverage_by_type().set_index("type")
    how = _reach_words(_distance_kind(result), lang)
    instance_types = result.instance.n_types
    out, note = [], ""
    for index, kind in enumerate(result.instance.types):
        name = kind.name
        layers = plan_layers(result, name, labels=names, streets=streets)
        if layers.aggregated:
            note = t("map_aggregated", lang, cell=number(layers.cells["cell_m"].iloc[0], lang))
        row = table.loc[name]
        new = int(row["new_sites"])
        existing = int((layers.existing["type"] == name).sum())
        text = MapText(
            new_sites=t("legend_new_site", lang, type=labels[name],
                        types=_count_label(name, new, labels, plurals), n=number(new, lang)),
            existing_sites=t("legend_existing_site", lang, type=labels[name],
                             types=_count_label(name, existing, labels, plurals),
                             n=number(existing, lang)),
            stats=t("map_stats", lang, newly=people(row["newly_covered"], lang),
                    before=pct(row["coverage_existing_pct"], lang),
                    after=pct(row["coverage_pct"], lang)),
            lang=lang)
        title = t("map_title", lang, type=capitalised(labels[name]),
                  types=capitalised(plurals[name]),
                  group=group_label(row["population_group"], lang),
                  radius=number(row["radius_m"], lang), distance=how)
        height = {1: 6.0, 2: 4.0}.get(instance_types, 2.75)  # maps share one page
        out.append((title, plan_map(layers, type_name=name, type_index=index, text=text,
                                    max_height_in=height)))
    return tuple(out), note


def _curve(run: Run, lang: str) -> dict[str, Any] | None:
    if run.curve is None:
        return None
    result = run.result
    labels = _labels(result, lang)
    types = list(result.instance.type_names)
    curve = read_curve(run.curve, scenario=result.spec.name, types=types,
                       labels=[kind.label or kind.name for kind in result.spec.types])
    points = curve.points
    rows = []
    for row in points.to_dict("records"):
        solved = _finite(row["objective"])
        cells = [Cell(money(row["budget"], lang), "curve.budget", float(row["budget"]))]
        cells += [Cell(pct(row[f"coverage_pct_{n}"], lang) if solved else "–",
                       f"curve.coverage_pct.{n}",
                       float(row[f"coverage_pct_{n}"]) if solved else None) for n in types]
        cells.append(Cell(money(row["total_cost"], lang) if solved else "–"))
        marginal = row["marginal_cost_per_resident"]
        cells.append(Cell(number(marginal, lang) if _finite(marginal) else "–"))
        rows.append(tuple(cells))
    columns = (t("curve_budget", lang),
               *(t("col_type_pct", lang, type=labels[n], types=capitalised(labels[n]))
                 for n in types),
               t("curve_cost", lang), t("curve_marginal", lang))
    return {"image": curve_chart(curve, lang=lang),
            "intro": t("curve_intro", lang, budget=money(result.plan.instance.budget, lang)),
            "table": Table(columns, tuple(rows), (True,) * len(columns)),
            "source": t("curve_source", lang, path=run.curve.name)}


def _communities(result: ScenarioResult, lang: str) -> dict[str, Any] | None:
    attributes = result.instance.demand_attributes
    group = result.spec.policy.group_by
    if group is None and attributes is not None and "community_id" in attributes.columns:
        group = "community_id"
    if group is None:
        return None
    table = result.plan.coverage_by_group(group)
    if table.empty:
        return None
    labels = _labels(result, lang)
    types = list(result.instance.type_names)
    wide = table.pivot(index=group, columns="type", values="coverage_pct")[types]
    first = table[table["type"] == types[0]].set_index(group)
    order = wide.mean(axis=1).sort_values(kind="stable").index
    worst = {}
    for name in types:  # the WORST_COUNT lowest shares, ties at the threshold included
        column = wide[name].dropna()
        if column.nunique() <= 1:
            worst[name] = set()
            continue
        threshold = column.nsmallest(WORST_COUNT).max()
        worst[name] = set(column[column <= threshold].index)
    names = community_names(result.spec, lang=lang) if group == "community_id" else None
    rows = []
    for key in order:
        label = str(names.get(str(key), key)) if names is not None else str(key)
        cells = [Cell(label, cls="name"),
                 Cell(number(first.loc[key, "population"], lang))]
        for name in types:
            value = wide.loc[key, name]
            cells.append(Cell(pct(value, lang), f"group.coverage_pct.{name}",
                              float(value) if _finite(value) else None,
                              cls="worst" if key in worst[name] else ""))
        rows.append(tuple(cells))
    column = (t("col_community", lang) if group == "community_id"
              else t("col_group_name", lang))
    kind = result.spec.types[0]
    columns = (column, t("col_population", lang, group=group_label(kind.population, lang)),
               *(t("col_type_pct", lang, type=labels[n], types=capitalised(labels[n]))
                 for n in types))
    heading = (t("communities_heading", lang) if group == "community_id"
               else t("groups_heading", lang, column=group))
    plurals = _plurals(result, lang)
    priority = []
    for name in types:  # the three lowest shares of each type, for the summary page
        column = wide[name].dropna()
        if column.nunique() <= 1:
            continue
        lowest = column.sort_values(kind="stable").head(PRIORITY_COUNT)
        tied = int((column == column.min()).sum())

        def label(key: Any) -> str:
            return str(names.get(str(key), key)) if names is not None else str(key)

        join = "、" if lang == "zh" else ", "
        if tied > PRIORITY_COUNT:
            priority.append(t("priority_ties", lang, type=labels[name],
                              types=capitalised(plurals[name]), n=number(tied, lang),
                              pct=pct(column.min(), lang),
                              items=join.join(label(key) for key in lowest.index)))
            continue
        items = [t("priority_item", lang, name=label(key), pct=pct(value, lang))
                 for key, value in lowest.items()]
        priority.append(t("priority_line", lang, type=labels[name],
                          types=capitalised(plurals[name]), items=join.join(items)))
    return {"heading": heading, "intro": t("communities_intro", lang, n=WORST_COUNT),
            "table": Table(columns, tuple(rows), (False, *([True] * (len(columns) - 1)))),
            "priority": tuple(priority)}


def _sites(result: ScenarioResult, lang: str) -> dict[str, Any] | None:
    sites = result.plan.chosen_sites()
    if not len(sites):
        return None
    reach = site_reach(result)
    order_of = {name: k for k, name in enumerate(result.instance.type_names)}
    keys = pd.DataFrame({"type": sites["type"].map(order_of)})
    if "year" in sites.columns:
        keys.insert(0, "year", sites["year"])
    order = keys.sort_values(list(keys.columns), kind="stable").index
    sites = sites.loc[order].reset_index(drop=True)
    reach = reach.loc[order].reset_index(drop=True)
    labels = _labels(result, lang)
    names = community_names(result.spec, lang=lang)
    kind_column = "kind_zh" if lang == "zh" and "kind_zh" in sites.columns else (
        "kind" if "kind" in sites.columns else None)
    columns = [t("col_no", lang), t("col_site", lang), t("col_becomes", lang)]
    numeric = [True, False, False]
    if "year" in sites.columns:
        columns.append(t("col_year", lang))
        numeric.append(False)
    if kind_column:
        columns.append(t("col_kind", lang))
        numeric.append(False)
    if "area_m2" in sites.columns:
        columns.append(t("col_area", lang))
        numeric.append(True)
    if "community_id" in sites.columns:
        columns.append(t("col_in_community", lang))
        numeric.append(False)
    columns += [t("col_site_cost", lang), t("col_reached", lang), t("col_site_newly", lang)]
    numeric += [True, True, True]
    rows = []
    for k, (site, extra) in enumerate(zip(sites.to_dict("records"),
                                          reach.to_dict("records"), strict=True)):
        cells = [Cell(str(k + 1)), Cell(str(site["site_id"]), cls="mono"),
                 Cell(labels.get(site["type"], site["type"]))]
        if "year" in sites.columns:
            cells.append(Cell(str(site["year"])))
        if kind_column:
            value = site[kind_column]
            cells.append(Cell("" if pd.isna(value) else str(value).replace("_", " ")))
        if "area_m2" in sites.columns:
            area = site["area_m2"]
            cells.append(Cell(number(float(area), lang) if _finite(area) else ""))
        if "community_id" in sites.columns:
            community = str(site["community_id"])
            cells.append(Cell(str(names.get(community, community)) if names is not None
                              else community))
        cells += [Cell(number(site["cost"], lang), f"site.cost.{site['site_id']}",
                       float(site["cost"])),
                  Cell(number(extra["reached"], lang)),
                  Cell(number(extra["newly_covered"], lang))]
        rows.append(tuple(cells))
    columns[-3] = columns[-3] + ("（元）" if lang == "zh" else " (CNY)")
    return {"intro": t("sites_intro", lang, n=number(len(sites), lang)),
            "table": Table(tuple(columns), tuple(rows), tuple(numeric))}


def scenario_description(result: ScenarioResult, lang: str) -> tuple[str, str]:
    """The scenario's description and its label: a shipped scenario's own text in ``lang``
    (:mod:`scenarios.titles`), otherwise the scenario file's ``description`` as written."""
    shipped = describe_shipped(result.spec.name, lang)
    if shipped is not None:
        return shipped, t("description", lang)
    return result.spec.description or "", t("description_original", lang)


def run_brief(run: Run, lang: str, *, heading: str, streets: pd.DataFrame | None
              ) -> RunBrief:
    """The pages of one plan."""
    result = run.result
    head, detail, cls = quality(result, lang)
    plan = result.plan
    empty = Table((), ())
    if not plan.has_solution:
        body = t("no_plan_body", lang, status=head, why=detail or "–")
        return RunBrief(run.name, heading, *scenario_description(result, lang), False, head,
                        detail, cls, body, (), empty, (), (), (), "", None, None, None)
    lead, bullets = _lead(result, lang)
    maps, note = _maps(result, lang, streets)
    return RunBrief(
        name=run.name, heading=heading,
        **dict(zip(("description", "description_label"),
                   scenario_description(result, lang), strict=True)),
        has_plan=True, quality=head, quality_detail=detail, quality_cls=cls, lead=lead,
        bullets=bullets, kpis=_kpi_table(result, lang), totals=_totals(result, lang),
        idle=_idle(result, lang), maps=maps, map_note=note, curve=_curve(run, lang),
        communities=_communities(result, lang), sites=_sites(result, lang))


# --------------------------------------------------------------------------- comparison


def _kpi_text(key: str, value: Any, lang: str) -> str:
    base = key.partition(".")[0]
    if not _finite(value):
        return "–"
    if base in ("total_cost", "budget"):
        return money(value, lang)
    if base == "new_sites":
        return t("sites_count", lang, n=number(value, lang))
    if base == "coverage_pct":
        return pct(value, lang)
    return number(value, lang) + t("people_unit", lang)  # exact counts, comparable rows


def _delta_text(key: str, value: Any, lang: str) -> str:
    if not _finite(value):
        return "–"
    base = key.partition(".")[0]
    if base == "coverage_pct":
        return t("pct_points", lang, value=_signed(number(value, lang, 1), value))
    return _signed(_kpi_text(key, value, lang), value)


_COMPARED = ("budget", "total_cost")
_COMPARED_PER_TYPE = ("new_sites", "covered", "newly_covered", "coverage_pct")
_KPI_WORDS = {"budget": "kpi_budget", "total_cost": "kpi_total_cost",
              "new_sites": "kpi_new_sites", "covered": "kpi_covered",
              "newly_covered": "kpi_newly", "coverage_pct": "kpi_coverage_pct"}


def comparison(runs: Sequence[Run], lang: str) -> dict[str, Any]:
    """The comparison page: KPI table with deltas, a lead per plan, site changes."""
    results = [run.result for run in runs]
    names = [run.name for run in runs]
    compared = compare_results(results, names=names)
    base = compared.baseline
    others = [n for n in names if n != base]
    labels, plurals = _labels(results[0], lang), _plurals(results[0], lang)
    kpis = compared.kpis.set_index("kpi")
    columns = (t("col_indicator", lang), *(n + (t("baseline_mark", lang) if n == base else "")
                                           for n in names),
               *(t("col_delta", lang) + (f" · {n}" if len(others) > 1 else "")
                 for n in others))
    rows: list[tuple[Cell, ...]] = []
    status_row = [Cell(t("kpi_status", lang), cls="name")]
    for run in runs:
        head, _, cls = quality(run.result, lang)
        status_row.append(Cell(head, "status", str(run.result.plan.status), cls=cls,
                               scenario=run.name))
    status_row += [Cell("") for _ in others]
    rows.append(tuple(status_row))
    keys = [*_COMPARED, *(f"{what}.{name}" for name in results[0].instance.type_names
                          for what in _COMPARED_PER_TYPE)]
    groups = []
    for key in keys:
        if key not in kpis.index:
            continue
        what, _, kind = key.partition(".")
        label = t(_KPI_WORDS[what], lang)
        if kind:
            label = f"{capitalised(labels[kind])} · {label}"
        cells = [Cell(label, cls="name")]
        for name in names:
            value = kpis.loc[key, name]
            cells.append(Cell(_kpi_text(key, value, lang), key,
                              float(value) if _finite(value) else None, scenario=name))
        for name in others:
            delta = kpis.loc[key, f"delta_{name}"]
            cls = "up" if _finite(delta) and delta > 0 else (
                "down" if _finite(delta) and delta < 0 else "")
            cells.append(Cell(_delta_text(key, delta, lang), f"delta.{key}",
                              float(delta) if _finite(delta) else None, cls=cls,
                              scenario=name))
        groups.append(kind)
        rows.append(tuple(cells))
    leads = []
    for name in others:
        budget_delta = kpis.loc["budget", f"delta_{name}"]
        cost_delta = kpis.loc["total_cost", f"delta_{name}"]
        lead = t("compare_lead", lang, name=name,
                 budget_delta=_change_words(budget_delta, money, lang),
                 cost_delta=_change_words(cost_delta, money, lang))
        bullets = []
        for kind in results[0].instance.type_names:
            sites = kpis.loc[f"new_sites.{kind}", name]
            if not _finite(sites):
                continue
            bullets.append(t(
                "compare_lead_type", lang, type=capitalised(labels[kind]),
                types=capitalised(plurals[kind]), sites=number(sites, lang),
                sites_delta=_delta_text(f"new_sites.{kind}",
                                        kpis.loc[f"new_sites.{kind}", f"delta_{name}"], lang),
                after=pct(kpis.loc[f"coverage_pct.{kind}", name], lang),
                newly=people(kpis.loc[f"newly_covered.{kind}", name], lang),
                pct_delta=_delta_text(f"coverage_pct.{kind}",
                                      kpis.loc[f"coverage_pct.{kind}", f"delta_{name}"], lang),
                newly_delta=_delta_text(f"newly_covered.{kind}",
                                        kpis.loc[f"newly_covered.{kind}", f"delta_{name}"],
                                        lang)))
        if bullets:
            end = "。" if lang == "zh" else "."
            bullets[-1] = bullets[-1].rstrip("；;") + end
        leads.append((lead, tuple(bullets)))
    return {
        "heading": t("compare_heading", lang),
        "intro": t("compare_intro", lang, base=base),
        "leads": tuple(leads),
        "kpis": Table(columns, tuple(rows), (False, *([True] * (len(columns) - 1)))),
        "changes": _changes(compared.site_changes, base, others, labels, lang),
    }


def _change_words(value: float, formatter: Any, lang: str) -> str:
    if not _finite(value):
        return t("change_unknown", lang)
    if value == 0:
        return t("change_same", lang)
    key = "change_more" if value > 0 else "change_less"
    return t(key, lang, value=formatter(abs(value), lang))


def _changes(changes: pd.DataFrame, base: str, others: Sequence[str],
             labels: dict[str, str], lang: str) -> tuple[dict[str, Any], ...]:
    order = {name: k for k, name in enumerate(labels)}  # the scenario's type order
    out = []
    for name in others:
        column = f"change_{name}"
        rows = []
        for change in (ADDED, DROPPED, CHANGED_TYPE, UNSOLVED):
            chosen = changes[changes[column] == change]
            if not len(chosen):
                continue
            if change == CHANGED_TYPE:
                keys = chosen[base] + "\u2192" + chosen[name]
            elif change == DROPPED:
                keys = chosen[base]
            else:
                keys = chosen[name]
            groups = dict(list(chosen.groupby(keys.to_numpy(), sort=False)))
            for key in sorted(groups, key=lambda k: [order.get(part, len(order))
                                                    for part in str(k).split("\u2192")]):
                part = groups[key]
                if change == CHANGED_TYPE:
                    before, after = str(key).split("\u2192")
                    what = t("changed_to", lang, before=labels.get(before, before),
                             after=labels.get(after, after))
                else:
                    what = labels.get(str(key), str(key))
                ids = sorted(part["site_id"].astype(str))
                rows.append((Cell(t(change, lang), f"change.{change}", cls=change),
                             Cell(capitalised(what)),
                             Cell(number(len(ids), lang), f"changes.{change}.{key}", len(ids),
                                  scenario=name),
                             Cell(", ".join(ids) if lang == "en" else "、".join(ids),
                                  cls="ids")))
        out.append({"intro": t("changes_intro", lang, name=name),
                    "table": Table((t("col_change", lang), t("col_type", lang),
                                    t("col_count", lang), t("col_sites_list", lang)),
                                   tuple(rows), (False, False, True, False)),
                    "empty": t("no_changes", lang) if not rows else ""})
    return tuple(out)


# --------------------------------------------------------------------------- method page


def method_run(run: Run, lang: str) -> MethodRun:
    """Types, distances, solver and data notes of one run."""
    result, summary = run.result, run.summary
    instance = result.instance
    labels = _labels(result, lang)
    table = result.plan.coverage_by_type()
    excluded = instance.excluded if instance.excluded is not None else np.zeros(
        instance.n_sites, dtype=bool)
    rows = []
    for t_index, row in enumerate(table.itertuples(index=False)):
        candidates = int((np.isfinite(instance.site_cost[:, t_index]) & ~excluded).sum())
        existing = int((np.asarray(instance.existing_type) == t_index).sum())
        rows.append((Cell(capitalised(labels[row.type]), cls="name"),
                     Cell(group_label(row.population_group, lang)),
                     Cell(people(row.population, lang)),
                     Cell(t("metres", lang, r=number(row.radius_m, lang))),
                     Cell(number(row.weight, lang, 1)),
                     Cell(number(candidates, lang)), Cell(number(existing, lang))))
    types = Table((t("col_type", lang), t("col_group", lang), t("col_group_total", lang),
                   t("col_radius", lang), t("col_weight", lang), t("col_candidates", lang),
                   t("col_existing", lang)), tuple(rows),
                  (False, False, True, True, True, True, True))
    kind = _distance_kind(result)
    if kind == "walk":
        distance = t("method_distance_walk", lang, network=result.spec.network.path.name)
    elif kind == "table":
        distance = t("method_distance_table", lang, table=result.spec.distances.path.name)
    else:
        distance = t("method_distance_straight", lang)
    solver = summary.get("solver", {})
    backend = str(solver.get("backend") or "")
    package = {"highs": "highspy", "cbc": "pulp", "ortools": "ortools",
               "ortools-sat": "ortools", "ortools-scip": "ortools"}.get(backend)
    package_version = _version(package) if package else None
    backend_text = backend + (f" ({package} {package_version})" if package_version else "")
    head, _, _ = quality(result, lang)
    solved = date.fromtimestamp((run.folder / "summary.json").stat().st_mtime)
    limit = solver.get("time_limit_s")
    facts = [
        (t("solver_backend", lang), backend_text),
        (t("solver_status", lang), f"{head} · {summary.get('status')}"),
        (t("solver_runtime", lang), t("seconds", lang, s=number(summary.get("runtime_s"),
                                                                lang, 1))
         + (" · " + t("solver_limit", lang, s=number(limit, lang),
                      gap=_gap_text(solver.get("gap_limit"), lang)) if _finite(limit) else "")),
        (t("solved_on", lang), format_date(solved, format="long", locale=LOCALES[lang])),
        (t("scenario_hash", lang), file_digest(run.folder / "scenario.toml")),
    ]
    notes = data_notes(result.spec)
    notes_path = ""
    if notes.path is not None:
        try:
            notes_path = str(notes.path.relative_to(notes.path.parents[2]))
        except (ValueError, IndexError):
            notes_path = str(notes.path)
    return MethodRun(run.name, types, distance, tuple(facts), notes, notes_path)


# --------------------------------------------------------------------------- document


def display_name(run: Run, lang: str) -> str:
    """``示例城市 · 基准方案（yuzhong-baseline）`` for a shipped scenario under its own name,
    the run's name otherwise."""
    name = run.result.spec.name
    if run.name != name or name not in TITLES:
        return run.name
    return (f"{shipped_title(name, lang)}（{name}）" if lang == "zh"
            else f"{shipped_title(name, lang)} ({name})")


def build(runs: Sequence[Run], lang: str, *, today: date | None = None) -> Brief:
    """The whole brief: comparison (several runs), each plan's pages, the method page."""
    today = today or date.today()
    several = len(runs) > 1
    streets_cache: dict[str, pd.DataFrame | None] = {}
    briefs = []
    for k, run in enumerate(runs):
        spec = run.result.spec
        key = str(spec.network.path) if spec.network is not None else ""
        if key not in streets_cache:
            streets_cache[key] = (street_segments(spec, run.result.instance.crs)
                                  if spec.network is not None else None)
        heading = (t("plan_section", lang, name=run.name + (t("baseline_mark", lang)
                                                             if k == 0 else ""))
                   if several else t("summary_heading", lang))
        briefs.append(run_brief(run, lang, heading=heading, streets=streets_cache[key]))
    method = tuple(method_run(run, lang) for run in runs)
    notes: dict[str, DataNotes] = {}
    for item in method:
        notes.setdefault(item.notes_path, item.notes)
    synthetic = [m for m in method if m.notes.synthetic]
    synthetic_text = (t("synthetic_body", lang, path=synthetic[0].notes_path or
                        synthetic[0].name) if synthetic else "")
    model = t("method_model", lang, distance=t(
        f"model_distance_{_distance_kind(runs[0].result)}", lang))
    usable = [run for run in runs if run.result.plan.has_solution]
    versions = (("lifecircle", _version("lifecircle") or "source"),)
    return Brief(
        lang=lang,
        title=t("doc_title_compare" if several else "doc_title", lang),
        names=tuple(run.name for run in runs),
        display_names=tuple(display_name(run, lang) for run in runs),
        today=format_date(today, format="long", locale=LOCALES[lang]),
        synthetic=bool(synthetic), synthetic_text=synthetic_text, model=model,
        kicker=" · ".join(capitalised(name) if k == 0 else name for k, name in enumerate(
            _plurals(runs[0].result, lang).values())),
        comparison=comparison(runs, lang) if several and len(usable) >= 1 else None,
        runs=tuple(briefs), method=method, data_notes=tuple(notes.items()),
        versions=versions)
