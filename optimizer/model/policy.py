r"""Policy switches on top of the plain covering model (all optional, all off by default).

Each switch adds variables and constraint blocks to the same model (see
:mod:`optimizer.model`); with every switch off the model is exactly the plain one.

* **Budgets by area** (``site_area``, ``area_budget``): :math:`\sum_{k \in a} c_k x_k \le B_a`
  for each district or street :math:`a`, besides the total budget.
* **Equity floors** (``unit_group``, ``floor_share``): for every group :math:`c` (community,
  street...) and type :math:`t` with a floor :math:`f_t`, the covered share of the group's
  target population is at least :math:`f_t`:
  :math:`E_{ct} + \sum_{g \in c,t} S_g \ge f_t P_{ct}`, hard, or soft with a slack
  :math:`s_{ct} \ge 0` penalised by ``floor_penalty`` per person short.
* **City-wide targets** (``target_share``): :math:`E_t + \sum_{g \in t} S_g \ge f_t P_t`.
* **Least cost** (``objective = "min_cost"``): minimise :math:`\sum_k c_k x_k` subject to the
  floors and targets (the set-covering problem when every target is 100 % of the reachable
  population). With soft floors the objective is cost plus penalties,
  :math:`\sum_k c_k x_k + \pi \sum_{c,t} s_{ct}` (``floor_penalty`` :math:`\pi` is then a
  cost per person short), and that sum is what is reported as the objective and bound
  (its parts: ``cost`` and ``floor_penalty``), so it never rises with the budget.
* **Complete life circle** (``circle_types``, ``circle_weight``, ``circle_population``):
  :math:`u_i \le y_{g(i,t)}` for every listed type; the objective gains
  :math:`\omega \sum_i q_i u_i` for residents with every listed service within reach.
* **Max-min** (``maxmin_types``, with ``unit_group``): first raise the worst-covered group
  as far as possible, :math:`\max z` s.t. :math:`E_{ct} + \sum_{g \in c,t} S_g \ge z P_{ct}`
  for every group and listed type; then maximise coverage with that share :math:`z^*` as
  a hard floor for every group (lexicographic, two solves; the second stage's policy holds
  :math:`z^*` as ``worst_share_floor``). Soft floors play no part in the first stage (they
  are penalties, not limits, and would be traded against :math:`z`) and stay soft in the
  second.
* **Multi-year phasing** (``years``, ``year_budget``, ``phasing``): see
  :mod:`optimizer.phasing`.
* **Capacities** (``site_capacity``): demand is assigned fractionally to open facilities in
  reach, :math:`\sum_k a_{gk} \le p_g`, :math:`\sum_g a_{gk} \le \kappa_k x_k`,
  :math:`a_{gk} \le p_g x_k`; the objective counts people actually served.

:math:`S_g` is the covered population of group :math:`g` (:math:`p_g y_g`, or
:math:`\sum_k a_{gk}` with capacities); :math:`E` is population already covered by existing
facilities and :math:`P` the target population.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OBJECTIVES = ("coverage", "min_cost", "maxmin")
"""``maxmin`` is the internal first stage of the max-min option (see :func:`optimizer.solve`)."""
FLOOR_MODES = ("hard", "soft")


@dataclass(frozen=True, eq=False)
class Policy:
    """Optional policy constraints and objective terms (see the module docstring).

    ``worst_share_floor`` is internal: max-min's second stage (see
    :func:`optimizer.solve.solve`), the worst share :math:`z^*` every group must keep.
    """

    unit_group: np.ndarray | None = None
    group_names: tuple[str, ...] = ()
    floor_share: tuple[float | None, ...] = ()
    floor_mode: str = "hard"
    floor_penalty: float = 1.0
    target_share: tuple[float | None, ...] = ()
    objective: str = "coverage"
    circle_types: tuple[int, ...] = ()
    circle_weight: float = 0.0
    circle_population: np.ndarray | None = None
    site_area: np.ndarray | None = None
    area_names: tuple[str, ...] = ()
    area_budget: np.ndarray | None = None
    site_capacity: np.ndarray | None = None
    maxmin_types: tuple[int, ...] = ()
    years: tuple[str, ...] = ()
    year_budget: np.ndarray | None = None
    phasing: str = "accumulated"
    worst_share_floor: float | None = None

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}")
        if self.floor_mode not in FLOOR_MODES:
            raise ValueError(f"floor_mode must be one of {FLOOR_MODES}")
        if self.has_phasing and (self.has_circle or self.capacitated_types()
                                 or self.has_area_budgets or self.maxmin_types
                                 or (self.has_floors and self.phasing == "accumulated")):
            raise ValueError("multi-year phasing combines with targets, least cost and "
                             "(final-year) floors only")
        if self.worst_share_floor is not None and not (
                self.maxmin_types and 0.0 <= self.worst_share_floor <= 1.0):
            raise ValueError("worst_share_floor (max-min's second stage) needs maxmin_types "
                             "and a share between 0 and 1")

    def floor(self, type_index: int) -> float | None:
        if type_index < len(self.floor_share):
            return self.floor_share[type_index]
        return None

    def target(self, type_index: int) -> float | None:
        if type_index < len(self.target_share):
            return self.target_share[type_index]
        return None

    @property
    def has_floors(self) -> bool:
        return self.unit_group is not None and any(f is not None for f in self.floor_share)

    @property
    def has_soft_floors(self) -> bool:
        return self.has_floors and self.floor_mode == "soft"

    @property
    def has_targets(self) -> bool:
        return any(f is not None for f in self.target_share)

    @property
    def has_area_budgets(self) -> bool:
        return self.site_area is not None and self.area_budget is not None

    @property
    def has_phasing(self) -> bool:
        return bool(self.years) and self.year_budget is not None

    @property
    def has_circle(self) -> bool:
        return bool(self.circle_types) and self.circle_population is not None

    def capacitated_types(self) -> tuple[int, ...]:
        if self.site_capacity is None:
            return ()
        finite = np.isfinite(self.site_capacity).any(axis=0)
        return tuple(int(t) for t in np.nonzero(finite)[0])

    @property
    def is_plain(self) -> bool:
        """True when no switch is on: the plain maximal covering model."""
        return not (
            self.has_floors or self.has_targets or self.has_area_budgets or self.has_circle
            or self.capacitated_types() or self.objective != "coverage" or self.maxmin_types
            or self.has_phasing
        )
