"""Comparison of solved scenarios: headline numbers side by side, site changes, per type.

One library function, :func:`compare_results`, for the CLI, the web app and briefs. The
numbers are those of :func:`scenarios.exports.headline` (the ``summary`` export table), so a
comparison and the single-scenario exports never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from optimizer.errors import InputError, Problem
from scenarios.exports import headline
from scenarios.runner import ScenarioResult

ADDED, DROPPED, CHANGED_TYPE, SAME = "added", "dropped", "changed_type", "same"
"""Site changes relative to the baseline: chosen only in the other scenario, only in the
baseline, chosen in both as different types, chosen in both as the same type (or in
neither)."""

MIXED, UNSOLVED = "mixed", "unsolved"
"""``change`` with three or more scenarios whose changes differ; a change against a
scenario without a solution (nothing can be said)."""

PER_TYPE_COLUMNS = ("population", "covered", "newly_covered", "coverage_pct", "new_sites",
                    "cost")
_RESERVED = frozenset({"kpi", "unit", "site_id", "change", "scenario", "type", "status"})


@dataclass(frozen=True, eq=False)
class Comparison:
    """Scenarios compared with a baseline.

    Attributes
    ----------
    names
        Column name of each scenario, in the order given.
    baseline
        Name of the baseline scenario.
    kpis
        One row per headline number: ``kpi`` (stable key: ``status``, ``objective``,
        ``bound``, ``gap``, ``total_cost``, ``budget``, ``new_sites.<type>``,
        ``population.<type>``, ``covered.<type>``, ``newly_covered.<type>``,
        ``coverage_pct.<type>``), ``unit`` (``people``, ``%``, ``CNY``, ``sites``,
        ``weighted people``, ``ratio``; ``mixed`` where scenarios differ, e.g. a least-cost
        objective against a coverage one), one column per scenario, then
        ``delta_<name>`` = value minus the baseline's for each other scenario (``NaN`` for the
        status, for mixed units and where either value is unknown). A scenario without a
        solution has ``NaN`` outcomes (its ``status`` says why); its budget and population,
        which are inputs, stay.
    site_changes
        One row per site chosen in any scenario, by ``site_id``: its type in each scenario
        (empty where not chosen), ``change_<name>`` for each other scenario (``added``,
        ``dropped``, ``changed_type``, ``same``, or ``unsolved`` where either plan has no
        solution) and ``change``: the change when there are two scenarios; with more, the
        common change if all agree, else ``mixed``.
    per_type
        Long table, one row per type and scenario: ``type``, ``scenario``, ``status``,
        ``population``, ``covered`` (existing included), ``newly_covered``,
        ``coverage_pct``, ``new_sites``, ``cost`` (``NaN`` outcomes without a solution).
    """

    names: tuple[str, ...]
    baseline: str
    kpis: pd.DataFrame
    site_changes: pd.DataFrame
    per_type: pd.DataFrame


def _names(results: Sequence[ScenarioResult], names: Sequence[str] | None) -> tuple[str, ...]:
    if names is not None:
        chosen = [str(n) for n in names]
        if len(chosen) != len(results):
            raise InputError([Problem(f"{len(chosen)} names given for {len(results)} "
                                      "scenarios")])
        clashes = sorted({n for n in chosen if chosen.count(n) > 1 or n in _RESERVED})
        if clashes:
            raise InputError([Problem(f"scenario names must be unique and not one of "
                                      f"{', '.join(sorted(_RESERVED))}: {', '.join(clashes)}")])
        return tuple(chosen)
    used = set(_RESERVED)
    unique = []
    for result in results:
        base = str(result.spec.name)
        name, k = base, 1
        while name in used:
            k += 1
            name = f"{base} ({k})"
        used.add(name)
        unique.append(name)
    return tuple(unique)


def _check_types(results: Sequence[ScenarioResult], names: Sequence[str],
                 base: int) -> tuple[str, ...]:
    types = [result.instance.type_names for result in results]
    reference = set(types[base])
    differ = [k for k, t in enumerate(types) if set(t) != reference]
    if differ:
        listing = "; ".join(f"'{names[k]}' has {', '.join(types[k])}"
                            for k in [base, *differ])
        raise InputError([Problem(f"cannot compare scenarios with different facility types: "
                                  f"{listing}")])
    return types[base]


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _kpi_table(results: Sequence[ScenarioResult], names: Sequence[str],
               base: int) -> pd.DataFrame:
    numbers = [{h.key: h for h in headline(result) if h.key != "scenario"}
               for result in results]
    order = list(numbers[base])
    units = {key: {n[key].unit for n in numbers} for key in order}
    columns = {name: {key: n[key].value if key == "status" else _float(n[key].value)
                      for key in order}
               for name, n in zip(names, numbers, strict=True)}
    table = pd.DataFrame({
        "kpi": order,
        "unit": [next(iter(units[k])) if len(units[k]) == 1 else "mixed" for k in order],
    })
    for name in names:
        table[name] = pd.Series([columns[name][k] for k in order], dtype=object)
    numeric = (table["kpi"] != "status") & (table["unit"] != "mixed")
    reference = np.array([_float(v) if ok else math.nan
                          for v, ok in zip(table[names[base]], numeric, strict=True)])
    for k, name in enumerate(names):
        if k == base:
            continue
        values = np.array([_float(v) if ok else math.nan
                           for v, ok in zip(table[name], numeric, strict=True)])
        table[f"delta_{name}"] = values - reference
    return table


def _change(before: str, after: str) -> str:
    if before == after:
        return SAME
    if not before:
        return ADDED
    if not after:
        return DROPPED
    return CHANGED_TYPE


def _site_changes(results: Sequence[ScenarioResult], names: Sequence[str],
                  base: int) -> pd.DataFrame:
    chosen: list[dict[str, str]] = []
    for result in results:
        sites = result.plan.chosen_sites()
        chosen.append(dict(zip(sites["site_id"].astype(str), sites["type"].astype(str),
                               strict=True)))
    ids = sorted(set().union(*chosen))
    table = pd.DataFrame({"site_id": pd.Series(ids, dtype=object)})
    for name, types in zip(names, chosen, strict=True):
        table[name] = pd.Series([types.get(i, "") for i in ids], dtype=object)
    change_columns = []
    for k, (name, result) in enumerate(zip(names, results, strict=True)):
        if k == base:
            continue
        column = f"change_{name}"
        if results[base].plan.has_solution and result.plan.has_solution:
            table[column] = pd.Series(
                [_change(b, a) for b, a in zip(table[names[base]], table[name], strict=True)],
                dtype=object)
        else:
            table[column] = pd.Series([UNSOLVED] * len(ids), dtype=object)
        change_columns.append(column)
    if change_columns:
        table["change"] = pd.Series(
            [row[0] if len(set(row)) == 1 else MIXED
             for row in zip(*(table[c] for c in change_columns), strict=True)], dtype=object)
    else:
        table["change"] = pd.Series([SAME] * len(ids), dtype=object)
    return table


def _per_type(results: Sequence[ScenarioResult], names: Sequence[str],
              types: Sequence[str]) -> pd.DataFrame:
    frames = []
    for name, result in zip(names, results, strict=True):
        frame = result.plan.coverage_by_type().set_index("type").loc[list(types)]
        frame = frame[list(PER_TYPE_COLUMNS)].astype(float)
        if not result.plan.has_solution:
            frame.loc[:, [c for c in PER_TYPE_COLUMNS if c != "population"]] = math.nan
        frame.insert(0, "status", str(result.plan.status))
        frame.insert(0, "scenario", name)
        frames.append(frame.reset_index())
    table = pd.concat(frames, ignore_index=True)
    position = {t: k for k, t in enumerate(types)}
    table["_order"] = table["type"].map(position)
    table = table.sort_values("_order", kind="stable").drop(columns="_order")
    return table.reset_index(drop=True)


def compare_results(
    results: Sequence[ScenarioResult],
    *,
    names: Sequence[str] | None = None,
    baseline: int = 0,
) -> Comparison:
    """Compare solved scenarios with one of them.

    Results of different instances (another budget, city district, data year...) can be
    compared as long as they have the same facility type names.

    Parameters
    ----------
    results
        Two or more results (one is allowed: a table of its numbers).
    names
        Column name of each scenario (default: the scenarios' names, made unique with
        `` (2)``, `` (3)``...).
    baseline
        Index in ``results`` of the scenario the others are compared with.

    Returns
    -------
    Comparison
        KPIs side by side with deltas, site changes and per-type coverage.

    Raises
    ------
    InputError
        No results, a baseline index out of range, names that do not fit, or scenarios with
        different facility types (one line saying which).
    """
    results = list(results)
    if not results:
        raise InputError([Problem("no scenarios to compare")])
    if not 0 <= baseline < len(results):
        raise InputError([Problem(f"baseline {baseline} is not a scenario index "
                                  f"(0..{len(results) - 1})")])
    labels = _names(results, names)
    types = _check_types(results, labels, baseline)
    return Comparison(
        names=labels,
        baseline=labels[baseline],
        kpis=_kpi_table(results, labels, baseline),
        site_changes=_site_changes(results, labels, baseline),
        per_type=_per_type(results, labels, types),
    )
