r"""Why a facility type gets no new site, in plain numbers, and variants that change it.

With a budget, the model spends where each yuan covers most weighted people. A type whose
best candidate reaches few of its target group per yuan (childcare rooms reach children
aged 0-3, a small group) can get nothing at all: correct, but a planner reads it as a bug
unless told. For each such type :func:`explain_idle_types` compares

.. math::

    \rho^{best}_t = \max_j \frac{w_t \sum_{i \in N_t(j)} p_{it} (1 - \text{covered}_{it})}{c_{jt}}

(the weighted people per 10,000 CNY the best unused candidate would newly cover) with the
lowest such ratio among the plan's chosen sites (what the last yuan actually buys, each
site counted for the people only it covers), and proposes scenario edits that would make
the type worth building: a higher weight, a city-wide coverage target, or a cap on the
other types' share of the budget. Edits are dictionaries of dotted scenario keys, applied
by :func:`apply_edits` to a scenario dictionary (as :func:`~scenarios.spec.spec_to_data`
writes it), so the app, the CLI and batch runs share them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.coverage import compute_reach, site_coverage
from scenarios.runner import ScenarioResult

PER = 10_000.0
"""Ratios are people per 10,000 CNY (1 万元)."""


@dataclass(frozen=True)
class Variant:
    """A one-click scenario change: ``kind`` is ``weight``, ``target`` or ``share``."""

    kind: str
    type_name: str
    value: float
    edits: dict[str, Any]


@dataclass(frozen=True)
class IdleType:
    """A type the plan builds nothing of, and why.

    ``best_ratio`` is the weighted people per 10,000 CNY its best candidate would newly
    cover, ``best_people`` and ``best_cost`` that candidate's people and cost;
    ``threshold_ratio`` the lowest ratio among the chosen sites (NaN if none was chosen);
    ``reason`` is ``no_candidates`` (no site can take the type), ``nothing_to_cover``
    (everyone of the group is already covered or out of reach) or ``low_ratio``.
    """

    type_name: str
    reason: str
    best_site: str | None
    best_people: float
    best_cost: float
    best_ratio: float
    threshold_ratio: float
    weight: float
    variants: tuple[Variant, ...]


def _chosen_ratios(result: ScenarioResult, covers: list) -> np.ndarray:
    """Weighted people per 10,000 CNY that each chosen site alone covers."""
    instance, plan = result.instance, result.plan
    ratios = []
    for site, t in zip(plan.site_index, plan.type_index, strict=True):
        cover = covers[t]
        units = cover[:, site].nonzero()[0]
        others = plan.site_index[(plan.type_index == t) & (plan.site_index != site)]
        alone = units
        if len(others):
            covered_by_others = np.asarray(cover[units][:, others].sum(axis=1)).ravel() > 0
            alone = units[~covered_by_others]
        alone = alone[~plan.coverage.covered_existing[alone, t]]
        people = float(instance.population[alone, t].sum()) * instance.types[t].weight
        cost = float(instance.site_cost[site, t])
        ratios.append(people / cost * PER if cost > 0 else math.inf)
    return np.asarray(ratios)


def _nice(value: float) -> float:
    """Round up to 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x a power of ten."""
    if value <= 0 or not math.isfinite(value):
        return value
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * power >= value - 1e-12:
            return step * power
    return 10 * power


def explain_idle_types(result: ScenarioResult) -> list[IdleType]:
    """Every type with candidates in the scenario but no new site in the plan, with the
    reason in numbers and up to three variants that would build some (see module doc)."""
    instance, plan = result.instance, result.plan
    if plan.coverage is None:
        return []
    idle = [t for t in range(instance.n_types) if not np.any(plan.type_index == t)]
    if not idle:
        return []
    reach = compute_reach(instance)
    covers = [site_coverage(reach, instance, t).tocsc() for t in range(instance.n_types)]
    chosen = _chosen_ratios(result, covers)
    threshold = float(chosen[np.isfinite(chosen)].min()) if np.isfinite(chosen).any() \
        else math.nan
    out = []
    for t in idle:
        kind = instance.types[t]
        cost = instance.site_cost[:, t]
        usable = np.isfinite(cost) & ~instance.excluded
        if not usable.any():
            out.append(IdleType(kind.name, "no_candidates", None, 0.0, math.nan, 0.0,
                                threshold, kind.weight, ()))
            continue
        gain = instance.population[:, t] * ~plan.coverage.covered[:, t]
        people = covers[t].T @ gain
        ratio = np.where(usable & (cost > 0), kind.weight * people / np.where(
            cost > 0, cost, 1.0) * PER, -1.0)
        best = int(np.argmax(ratio))
        if people[best] <= 0 or ratio[best] <= 0:
            out.append(IdleType(kind.name, "nothing_to_cover", None, 0.0, math.nan, 0.0,
                                threshold, kind.weight, ()))
            continue
        variants = []
        if math.isfinite(threshold) and ratio[best] > 0:
            weight = _nice(kind.weight * threshold / ratio[best] * 1.25)
            variants.append(Variant("weight", kind.name, weight,
                                    {f"types.{kind.name}.weight": weight}))
        before = plan.coverage_by_type().set_index("type").loc[kind.name]
        target = min(1.0, math.floor(before["coverage_pct"] + 10.0) / 100.0)
        variants.append(Variant("target", kind.name, target,
                                {f"policy.targets.{kind.name}": target}))
        others = [other for other in instance.types if other.name != kind.name]
        if others:
            variants.append(Variant("share", kind.name, 0.8, {
                f"types.{other.name}.max_budget_share": 0.8 for other in others}))
        out.append(IdleType(kind.name, "low_ratio", str(instance.site_ids[best]),
                            float(people[best]), float(cost[best]), float(ratio[best]),
                            threshold, kind.weight, tuple(variants)))
    return out


def apply_edits(data: dict[str, Any], edits: dict[str, Any]) -> dict[str, Any]:
    """A copy of a scenario dictionary with dotted keys set (``types.park.weight = 2``);
    ``None`` removes a key. Intermediate tables are created as needed."""
    import copy

    out = copy.deepcopy(data)
    for dotted, value in edits.items():
        *path, last = dotted.split(".")
        table = out
        for key in path:
            table = table.setdefault(key, {})
        if value is None:
            table.pop(last, None)
        else:
            table[last] = value
    return out
