"""Checks on the original instance: inputs that cannot hold together, and what a plan breaks.

Both are independent of the model (:mod:`optimizer.model`): a plan from any stage is
checked here before it is kept (see :mod:`optimizer.assess`).
"""

from __future__ import annotations

import numpy as np

from optimizer.data.instance import ANY_TYPE, SitingInstance
from optimizer.errors import InputError, Problem
from optimizer.model.policy import Policy
from optimizer.results import UnitCoverage, floor_shortfalls, worst_group_share


def explain_infeasibility(instance: SitingInstance) -> list[str]:
    """Reasons why forced sites, caps and budget cannot hold together (empty if none found)."""
    reasons = []
    policy = instance.policy
    forced_cost = 0.0
    per_type_count = np.zeros(instance.n_types, dtype=np.int64)
    per_type_cost = np.zeros(instance.n_types)
    forced_as: dict[int, int] = {}
    for site, t in zip(instance.forced_sites, instance.forced_type, strict=True):
        site_id = instance.site_ids[site]
        if instance.excluded[site]:
            reasons.append(f"site {site_id} is both forced open and excluded")
            continue
        if int(site) in forced_as and forced_as[int(site)] != int(t):
            reasons.append(f"site {site_id} is forced open more than once, as different types")
            continue
        forced_as[int(site)] = int(t)
        if t != ANY_TYPE and not np.isfinite(instance.site_cost[site, t]):
            reasons.append(
                f"site {site_id} is forced to '{instance.types[t].name}' but has no cost for it"
            )
            continue
        if t == ANY_TYPE:
            costs = instance.site_cost[site]
            if not np.isfinite(costs).any():
                reasons.append(f"site {site_id} is forced open but has no cost for any type")
                continue
            cost = float(np.nanmin(costs))
        else:
            cost = float(instance.site_cost[site, t])
            per_type_count[t] += 1
            per_type_cost[t] += cost
        forced_cost += cost
        if policy.has_phasing and cost > float(np.max(policy.year_budget)) * (1 + 1e-12):
            reasons.append(f"site {site_id} is forced open and costs at least {cost:,.0f}, "
                           f"more than any year's budget (at most "
                           f"{float(np.max(policy.year_budget)):,.0f})")
    if forced_cost > instance.budget * (1 + 1e-12):
        reasons.append(
            f"forced sites cost at least {forced_cost:,.0f} but the budget is "
            f"{instance.budget:,.0f}"
        )
    if policy.has_phasing and forced_cost > float(np.sum(policy.year_budget)) * (1 + 1e-12):
        reasons.append(f"forced sites cost at least {forced_cost:,.0f} but the year budgets "
                       f"add up to {float(np.sum(policy.year_budget)):,.0f}")
    for t, ftype in enumerate(instance.types):
        if ftype.max_sites is not None and per_type_count[t] > ftype.max_sites:
            reasons.append(
                f"{per_type_count[t]} sites are forced to '{ftype.name}' but max_sites is "
                f"{ftype.max_sites}"
            )
        if ftype.max_budget_share is not None:
            cap = ftype.max_budget_share * instance.budget
            if per_type_cost[t] > cap * (1 + 1e-12):
                reasons.append(
                    f"sites forced to '{ftype.name}' cost {per_type_cost[t]:,.0f}, over its "
                    f"budget share cap {cap:,.0f}"
                )
    return reasons


def plan_violations(
    instance: SitingInstance,
    site_index: np.ndarray,
    type_index: np.ndarray,
    *,
    coverage: UnitCoverage | None = None,
) -> list[str]:
    """Constraints a plan breaks (empty list: feasible), checked on the original instance.

    With ``coverage``, hard equity floors, city-wide targets, max-min's worst share (second
    stage) and capacities are checked too.
    """
    found = []
    policy = instance.policy
    tolerance = 1e-9 * max(1.0, abs(instance.budget))
    costs = instance.site_cost[site_index, type_index]
    if not np.isfinite(costs).all():
        found.append("a site was given a type it cannot take")
    if costs.sum() > instance.budget + tolerance:
        found.append(f"cost {costs.sum():,.2f} exceeds the budget {instance.budget:,.2f}")
    if len(np.unique(site_index)) != len(site_index):
        found.append("a site was given two uses")
    if instance.excluded[site_index].any():
        found.append("an excluded site was opened")
    open_type = dict(zip(site_index.tolist(), type_index.tolist(), strict=True))
    for site, t in zip(instance.forced_sites, instance.forced_type, strict=True):
        if site not in open_type or (t != ANY_TYPE and open_type[site] != t):
            found.append(f"forced site {instance.site_ids[site]} is not open as required")
    for t, ftype in enumerate(instance.types):
        chosen = type_index == t
        if ftype.max_sites is not None and chosen.sum() > ftype.max_sites:
            found.append(f"more than {ftype.max_sites} '{ftype.name}' sites")
        if ftype.max_budget_share is not None and costs[chosen].sum() > (
            ftype.max_budget_share * instance.budget + tolerance
        ):
            found.append(f"'{ftype.name}' exceeds its budget share")
    if policy.has_area_budgets:
        spent = np.bincount(policy.site_area[site_index][policy.site_area[site_index] >= 0],
                            weights=costs[policy.site_area[site_index] >= 0],
                            minlength=len(policy.area_names))
        for a in np.nonzero(spent > policy.area_budget * (1 + 1e-9) + 1e-9)[0]:
            found.append(f"area '{policy.area_names[a]}' spends {spent[a]:,.0f} over its "
                         f"budget {policy.area_budget[a]:,.0f}")
    if coverage is not None:
        for name, short in floor_shortfalls(instance, coverage).items():
            if name.startswith("target") or policy.floor_mode == "hard":
                found.append(f"{name} is {short:,.1f} people short")
        if policy.worst_share_floor is not None:
            worst = worst_group_share(instance, coverage)
            if worst < policy.worst_share_floor - 1e-6:
                found.append(f"the worst group's share {worst:.6g} is below the max-min "
                             f"floor {policy.worst_share_floor:.6g}")
        if coverage.utilisation is not None and policy.site_capacity is not None:
            capacity = policy.site_capacity[site_index, type_index]
            use = coverage.utilisation[site_index]
            over = np.isfinite(capacity) & (use > capacity * (1 + 1e-6) + 1e-6)
            for j in np.nonzero(over)[0][:3]:
                found.append(f"site {instance.site_ids[site_index[j]]} serves {use[j]:,.1f} "
                             f"over its capacity {capacity[j]:,.1f}")
    return found


def check_backend_fits(name: str, policy: Policy) -> None:
    """CP-SAT has no continuous variables: refuse models whose optimum needs them."""
    if name != "ortools-sat":
        return
    needs = []
    if policy.capacitated_types():
        needs.append("capacities (fractional assignment)")
    if policy.has_floors and policy.floor_mode == "soft":
        needs.append("soft floors (fractional shortfalls)")
    if policy.maxmin_types or policy.objective == "maxmin":
        needs.append("max-min (a fractional share)")
    if needs:
        raise InputError([Problem(
            f"solver 'ortools-sat' (CP-SAT) cannot represent {' and '.join(needs)}: use "
            f"highs, cbc or ortools")])

