r"""The budgeted multi-type maximal covering MILP, assembled from sparse constraint blocks.

Variables: :math:`x_k \in \{0,1\}` for each column :math:`k = (j, t)` (site :math:`j`
becomes type :math:`t`), and :math:`y_g \in [0,1]` for each coverage group :math:`g`
(integral at an optimum because :math:`x` is).

.. math::

    \max\; & c_0 + \sum_g w_g\, y_g \\
    \text{s.t.}\; & y_g - \sum_{k \in K(g)} x_k \le 0 && \forall g \quad\text{(coverage)}\\
    & \sum_{k \in K(j)} x_k \le 1 \;(= 1 \text{ if } j \text{ is forced open}) && \forall j
      \quad\text{(one use per site)}\\
    & \sum_k c_k x_k \le B && \text{(budget)}\\
    & \sum_{k: t_k = t} x_k \le N_t,\quad \sum_{k: t_k = t} c_k x_k \le s_t B
      && \text{(optional type caps)}\\
    & x_k = 1 && k \text{ forced}

Each variable family and constraint family is added to one assembly (``_Assembly``) as
arrays; the policy switches of :mod:`optimizer.policy` add their own families instead of
forking the model. Variables start with ``x``; :class:`ModelLayout` says where each family
sits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from optimizer.model.components import ComponentPlans, small_components
from optimizer.model.reduce import ReducedProblem


@dataclass(frozen=True, eq=False)
class ServedRow:
    """A row ``sum(coef * v) + slack >= rhs`` over covered-population terms (floors,
    targets); ``slack`` is -1 for a hard row."""

    name: str
    variables: np.ndarray
    coefficients: np.ndarray
    rhs: float
    slack: int


@dataclass(frozen=True, eq=False)
class ModelLayout:
    """Where each family of variables sits, to complete warm starts and read results."""

    x: np.ndarray
    y: np.ndarray
    y_group: np.ndarray
    components: tuple[ComponentPlans, ...]
    component_choice: tuple[np.ndarray, ...]
    assignment: np.ndarray
    assignment_group: np.ndarray
    assignment_column: np.ndarray
    served_rows: tuple[ServedRow, ...]
    circle: np.ndarray
    circle_members: sparse.csr_matrix | None
    circle_constant: float
    minimise_cost: bool
    worst_share: int = -1
    """The max-min share variable z (-1: none)."""


@dataclass(frozen=True, eq=False)
class MilpArrays:
    """A MILP in bulk arrays, ready for any backend (maximisation).

    ``objective @ v + offset`` is maximised subject to
    ``row_lower <= matrix @ v <= row_upper`` and ``col_lower <= v <= col_upper``, with
    ``integrality[k]`` marking integer variables.
    """

    objective: np.ndarray
    offset: float
    matrix: sparse.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray
    block_names: tuple[str, ...]
    block_starts: np.ndarray
    n_x: int
    layout: ModelLayout | None = None

    @property
    def n_cols(self) -> int:
        return len(self.objective)

    @property
    def n_rows(self) -> int:
        return self.matrix.shape[0]

    def block_of_row(self, row: int) -> str:
        return self.block_names[int(np.searchsorted(self.block_starts, row, side="right") - 1)]


class _Assembly:
    """Collects variable families and constraint blocks, then builds one CSR matrix."""

    def __init__(self) -> None:
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.objective: list[np.ndarray] = []
        self.integer: list[np.ndarray] = []
        self.n = 0
        self.blocks: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                np.ndarray]] = []

    def add_variables(self, n: int, *, lower: float | np.ndarray = 0.0,
                      upper: float | np.ndarray = 1.0, integer: bool = False,
                      objective: float | np.ndarray = 0.0) -> np.ndarray:
        index = np.arange(self.n, self.n + n, dtype=np.int64)
        self.lower.append(np.broadcast_to(np.asarray(lower, float), (n,)).copy())
        self.upper.append(np.broadcast_to(np.asarray(upper, float), (n,)).copy())
        self.objective.append(np.broadcast_to(np.asarray(objective, float), (n,)).copy())
        self.integer.append(np.full(n, integer))
        self.n += n
        return index

    def add_rows(self, name: str, row: np.ndarray, col: np.ndarray, value: np.ndarray,
                 lower: np.ndarray, upper: np.ndarray) -> None:
        """Rows ``lower <= A v <= upper`` given as COO triplets with local row numbers."""
        if len(lower) == 0:
            return
        self.blocks.append((name, np.asarray(row, np.int64), np.asarray(col, np.int64),
                            np.asarray(value, float), np.asarray(lower, float),
                            np.asarray(upper, float)))

    def build(self, *, offset: float, n_x: int, layout: ModelLayout) -> MilpArrays:
        matrices = [
            sparse.csr_matrix((value, (row, col)), shape=(len(lower), self.n))
            for _, row, col, value, lower, _ in self.blocks
        ]
        sizes = [m.shape[0] for m in matrices]
        return MilpArrays(
            objective=np.concatenate(self.objective),
            offset=offset,
            matrix=sparse.vstack(matrices, format="csr") if matrices
            else sparse.csr_matrix((0, self.n)),
            row_lower=np.concatenate([b[4] for b in self.blocks]) if self.blocks
            else np.empty(0),
            row_upper=np.concatenate([b[5] for b in self.blocks]) if self.blocks
            else np.empty(0),
            col_lower=np.concatenate(self.lower),
            col_upper=np.concatenate(self.upper),
            integrality=np.concatenate(self.integer),
            block_names=tuple(b[0] for b in self.blocks),
            block_starts=np.asarray(np.cumsum([0, *sizes[:-1]]), dtype=np.int64),
            n_x=n_x,
            layout=layout,
        )


def _row_sum(name: str, columns: np.ndarray, coefficients: np.ndarray,
             upper: float) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                     np.ndarray]:
    """One row ``sum(coefficients * v) <= upper``. Left unscaled on purpose: HiGHS's
    feasibility tolerance is absolute, so a budget row scaled to 1 would let a plan overspend
    by a millionth of the budget, which the independent plan check rejects."""
    return (name, np.zeros(len(columns), dtype=np.int64), columns, coefficients,
            np.array([-np.inf]), np.array([upper]))

def _site_use_rows(asm: _Assembly, problem: ReducedProblem, x: np.ndarray) -> None:
    """At most one new use per site; exactly one for sites forced open as any type."""
    sites, inverse, counts = np.unique(
        problem.column_site, return_inverse=True, return_counts=True
    )
    forced_any = np.isin(sites, problem.forced_any_sites)
    rows_needed = (counts > 1) | forced_any
    row_of_site = np.cumsum(rows_needed) - 1
    keep = rows_needed[inverse]
    columns = np.nonzero(keep)[0]
    lower = np.where(forced_any[rows_needed], 1.0, -np.inf)
    asm.add_rows("one use per site", row_of_site[inverse[keep]], x[columns],
                 np.ones(len(columns)), lower, np.ones(len(lower)))


def _budget_rows(asm: _Assembly, problem: ReducedProblem, x: np.ndarray) -> None:
    """Total budget, optional per-type caps and optional budgets by area."""
    instance = problem.instance
    cost = problem.column_cost
    if np.isfinite(instance.budget):
        asm.add_rows(*_row_sum("budget", x, cost, instance.budget))
    for t, ftype in enumerate(instance.types):
        cols = np.nonzero(problem.column_type == t)[0]
        if ftype.max_sites is not None:
            asm.add_rows(*_row_sum(f"max_sites[{ftype.name}]", x[cols], np.ones(len(cols)),
                                   float(ftype.max_sites)))
        if ftype.max_budget_share is not None:
            asm.add_rows(*_row_sum(f"max_budget_share[{ftype.name}]", x[cols], cost[cols],
                                   ftype.max_budget_share * instance.budget))
    if problem.column_area is not None and problem.area_budget is not None:
        for a, name in enumerate(problem.area_names):
            cols = np.nonzero(problem.column_area == a)[0]
            asm.add_rows(*_row_sum(f"budget[{name}]", x[cols], cost[cols],
                                   float(problem.area_budget[a])))


def _served_terms(problem: ReducedProblem, groups: np.ndarray, y_var: np.ndarray,
                  assign_var: np.ndarray, assign_group: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Variables and coefficients whose sum is the covered population of ``groups``."""
    pop = problem.group_population
    plain = groups[y_var[groups] >= 0]
    variables = [y_var[plain]]
    coefficients = [pop[plain]]
    if len(assign_group):
        member = np.isin(assign_group, groups[y_var[groups] < 0])
        variables.append(assign_var[member])
        coefficients.append(np.ones(int(member.sum())))
    return np.concatenate(variables), np.concatenate(coefficients)


def _existing_and_total(problem: ReducedProblem, t: int,
                        units: np.ndarray) -> tuple[float, float]:
    pop = problem.instance.population[units, t]
    existing = problem.unit_group[units, t] == -2
    return float(pop[existing].sum()), float(pop.sum())


def build_milp(problem: ReducedProblem) -> MilpArrays:
    """Assemble the model of :mod:`optimizer.model` and :mod:`optimizer.policy` in bulk."""
    policy = problem.instance.policy
    maxmin = policy.objective == "maxmin"
    has_worst = maxmin or policy.worst_share_floor is not None
    asm = _Assembly()
    x, worst = _column_variables(asm, problem)
    # max-min: no coverage terms in the objective, only the worst share z
    minimise = policy.objective == "min_cost" or maxmin
    capacitated = np.isin(problem.group_type, policy.capacitated_types())
    components, choices, in_component = _component_rows(asm, problem, x)
    y_groups, y_var = _coverage_rows(asm, problem, x, ~capacitated & ~in_component,
                                     minimise)
    assign_var, assign_group, assign_column = _capacity_rows(asm, problem, x,
                                                             capacitated, minimise)
    _site_use_rows(asm, problem, x)
    _budget_rows(asm, problem, x)
    served_rows = _floor_and_target_rows(asm, problem, y_var, assign_var, assign_group,
                                         minimise)
    circle, members, circle_constant = _circle_rows(asm, problem, y_var, assign_var,
                                                    assign_group, minimise)
    if has_worst:
        _worst_share_rows(asm, problem, y_var, assign_var, assign_group, worst)
    layout = ModelLayout(
        x=x, y=y_var[y_groups], y_group=y_groups, components=tuple(components),
        component_choice=tuple(choices), assignment=assign_var,
        assignment_group=assign_group, assignment_column=assign_column,
        served_rows=served_rows, circle=circle, circle_members=members,
        circle_constant=circle_constant, minimise_cost=minimise and not maxmin,
        worst_share=worst if has_worst else -1,
    )
    offset = 0.0 if minimise else problem.constant + circle_constant
    return asm.build(offset=offset, n_x=problem.n_columns, layout=layout)


def _column_variables(asm: _Assembly, problem: ReducedProblem) -> tuple[np.ndarray, int]:
    """Add the binary column variables x (forced columns fixed at 1) and, for max-min, the
    worst share z.

    Parameters
    ----------
    asm
        The assembly (empty: x are the first variables).
    problem
        The reduced problem.

    Returns
    -------
    x : numpy.ndarray
        Indices of the column variables.
    worst : int
        Index of z: maximised in max-min's first stage, fixed at
        ``policy.worst_share_floor`` in its second; -1 without max-min.
    """
    policy = problem.instance.policy
    minimise_cost = policy.objective == "min_cost"
    x = asm.add_variables(problem.n_columns, integer=True,
                          objective=-problem.column_cost if minimise_cost else 0.0)
    worst = -1
    if policy.objective == "maxmin":
        worst = int(asm.add_variables(1, objective=1.0)[0])
    elif policy.worst_share_floor is not None:  # max-min's second stage: z fixed at z*
        worst = int(asm.add_variables(1, lower=policy.worst_share_floor,
                                      upper=policy.worst_share_floor)[0])
    asm.lower[0][problem.forced_columns] = 1.0
    return x, worst


def _component_rows(asm: _Assembly, problem: ReducedProblem, x: np.ndarray
                    ) -> tuple[list[ComponentPlans], list[np.ndarray], np.ndarray]:
    """Small components of the coverage graph: a choice among their best plans (see
    :mod:`optimizer.model.components`) instead of coverage rows.

    Parameters
    ----------
    asm
        The assembly.
    problem
        The reduced problem.
    x
        Indices of the column variables.

    Returns
    -------
    components : list of ComponentPlans
        The small components.
    choices : list of numpy.ndarray
        Per component, the indices of its plan-choice variables.
    in_component : numpy.ndarray
        Boolean mask of the groups inside some component.
    """
    components = small_components(problem)
    in_component = np.zeros(problem.n_groups, dtype=bool)
    choices = []
    for component in components:
        in_component[component.groups] = True
        z = asm.add_variables(len(component.value), integer=True,
                              objective=component.value)
        choices.append(z)
        asm.add_rows("component plan", np.zeros(len(z), dtype=np.int64), z,
                     np.ones(len(z)), np.array([-np.inf]), np.array([1.0]))
        link = component.members.T.nonzero()
        m = len(component.columns)
        asm.add_rows("component columns",
                     np.concatenate([np.arange(m), link[0]]),
                     np.concatenate([x[component.columns], z[link[1]]]),
                     np.concatenate([np.ones(m), -np.ones(len(link[0]))]),
                     np.zeros(m), np.zeros(m))
    return components, choices, in_component


def _coverage_rows(asm: _Assembly, problem: ReducedProblem, x: np.ndarray,
                   plain: np.ndarray, minimise: bool) -> tuple[np.ndarray, np.ndarray]:
    """Coverage variables y_g and rows ``y_g <= sum of covering x`` for the ``plain``
    groups (neither capacitated nor in a small component).

    Parameters
    ----------
    asm
        The assembly.
    problem
        The reduced problem.
    x
        Indices of the column variables.
    plain
        Boolean mask of the groups that get a y variable.
    minimise
        True when coverage is not in the objective (least cost, max-min).

    Returns
    -------
    y_groups : numpy.ndarray
        The groups with a y variable.
    y_var : numpy.ndarray
        Per group, the index of its y variable (-1: none).
    """
    y_groups = np.nonzero(plain)[0]
    y_var = np.full(problem.n_groups, -1, dtype=np.int64)
    y_var[y_groups] = asm.add_variables(
        len(y_groups), objective=0.0 if minimise else problem.group_weight[y_groups]
    )
    cover = problem.cover[y_groups].tocoo()
    asm.add_rows(
        "coverage",
        np.concatenate([cover.row, np.arange(len(y_groups))]),
        np.concatenate([x[cover.col], y_var[y_groups]]),
        np.concatenate([-np.ones(cover.nnz), np.ones(len(y_groups))]),
        np.full(len(y_groups), -np.inf), np.zeros(len(y_groups)),
    )
    return y_groups, y_var


def _capacity_rows(asm: _Assembly, problem: ReducedProblem, x: np.ndarray,
                   capacitated: np.ndarray, minimise: bool
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Capacities: fractional assignment a_gk of a capacitated group g to an open column k
    in reach, within the group's population and the column's capacity.

    Parameters
    ----------
    asm
        The assembly.
    problem
        The reduced problem.
    x
        Indices of the column variables.
    capacitated
        Boolean mask of the groups of capacitated types.
    minimise
        True when coverage is not in the objective (least cost, max-min).

    Returns
    -------
    assign_var : numpy.ndarray
        Indices of the assignment variables, one per (group, column) pair in reach.
    assign_group, assign_column : numpy.ndarray
        The group and the column of each pair.
    """
    policy = problem.instance.policy
    weight_per_person = np.divide(problem.group_weight, problem.group_population,
                                  out=np.zeros(problem.n_groups),
                                  where=problem.group_population > 0)
    cap_groups = np.nonzero(capacitated)[0]
    pairs = problem.cover[cap_groups].tocoo()
    assign_group = cap_groups[pairs.row]
    assign_column = pairs.col
    assign_var = asm.add_variables(
        len(assign_group), upper=problem.group_population[assign_group],
        objective=0.0 if minimise else weight_per_person[assign_group],
    )
    if len(assign_group):
        local = np.searchsorted(cap_groups, assign_group)
        asm.add_rows("served within group population", local, assign_var,
                     np.ones(len(assign_var)), np.full(len(cap_groups), -np.inf),
                     problem.group_population[cap_groups])
        capacity = policy.site_capacity[problem.column_site, problem.column_type]
        limited = np.nonzero(np.isfinite(capacity) & np.isin(
            problem.column_type, policy.capacitated_types()))[0]
        row_of = np.full(problem.n_columns, -1, dtype=np.int64)
        row_of[limited] = np.arange(len(limited))
        inside = row_of[assign_column] >= 0
        asm.add_rows("capacity",
                     np.concatenate([row_of[assign_column[inside]], np.arange(len(limited))]),
                     np.concatenate([assign_var[inside], x[limited]]),
                     np.concatenate([np.ones(int(inside.sum())), -capacity[limited]]),
                     np.full(len(limited), -np.inf), np.zeros(len(limited)))
        n_pairs = len(assign_var)
        asm.add_rows("assign only to open",
                     np.concatenate([np.arange(n_pairs), np.arange(n_pairs)]),
                     np.concatenate([assign_var, x[assign_column]]),
                     np.concatenate([np.ones(n_pairs),
                                     -problem.group_population[assign_group]]),
                     np.full(n_pairs, -np.inf), np.zeros(n_pairs))
    return assign_var, assign_group, assign_column


def _floor_and_target_rows(asm: _Assembly, problem: ReducedProblem, y_var: np.ndarray,
                           assign_var: np.ndarray, assign_group: np.ndarray,
                           minimise: bool) -> tuple[ServedRow, ...]:
    """Equity floors per (group, type) and city-wide targets per type, on the final
    year's coverage (see :meth:`~optimizer.reduce.ReducedProblem.final_year_groups`)."""
    instance = problem.instance
    policy = instance.policy
    rows: list[ServedRow] = []
    band0 = (problem.group_band == 0) & problem.final_year_groups()
    for t, ftype in enumerate(instance.types):
        requests = []
        if policy.target(t) is not None:
            units = np.arange(instance.n_demand)
            groups = np.nonzero(band0 & (problem.group_type == t))[0]
            requests.append((f"target[{ftype.name}]", units, groups, policy.target(t), False))
        if policy.has_floors and policy.floor(t) is not None:
            for c, name in enumerate(policy.group_names):
                units = np.nonzero(policy.unit_group == c)[0]
                groups = np.nonzero(band0 & (problem.group_type == t)
                                    & (problem.group_code == c))[0]
                requests.append((f"floor[{name}, {ftype.name}]", units, groups,
                                 policy.floor(t), policy.floor_mode == "soft"))
        for name, units, groups, share, soft in requests:
            existing, total = _existing_and_total(problem, t, units)
            rhs = share * total - existing
            if rhs <= 1e-9:
                continue
            variables, coefficients = _served_terms(problem, groups, y_var, assign_var,
                                                    assign_group)
            slack = -1
            if soft:
                penalty = policy.floor_penalty
                slack = int(asm.add_variables(1, upper=rhs, objective=-penalty)[0])
                variables = np.append(variables, slack)
                coefficients = np.append(coefficients, 1.0)
            asm.add_rows(name, np.zeros(len(variables), dtype=np.int64), variables,
                         coefficients, np.array([rhs]), np.array([np.inf]))
            rows.append(ServedRow(name, variables, coefficients, rhs, slack))
    return tuple(rows)


def _worst_share_rows(asm: _Assembly, problem: ReducedProblem, y_var: np.ndarray,
                      assign_var: np.ndarray, assign_group: np.ndarray, worst: int) -> None:
    """Max-min: covered share of every group and listed type is at least z (the variable
    maximised in the first stage, fixed at :math:`z^*` in the second)."""
    instance = problem.instance
    policy = instance.policy
    band0 = (problem.group_band == 0) & problem.final_year_groups()
    for t in policy.maxmin_types:
        for c, name in enumerate(policy.group_names):
            units = np.nonzero(policy.unit_group == c)[0]
            existing, total = _existing_and_total(problem, t, units)
            if total <= 0:
                continue
            groups = np.nonzero(band0 & (problem.group_type == t)
                                & (problem.group_code == c))[0]
            variables, coefficients = _served_terms(problem, groups, y_var, assign_var,
                                                    assign_group)
            asm.add_rows(f"worst share[{name}, {instance.types[t].name}]",
                         np.zeros(len(variables) + 1, dtype=np.int64),
                         np.append(variables, worst), np.append(coefficients, -total),
                         np.array([-existing]), np.array([np.inf]))


def _circle_rows(asm: _Assembly, problem: ReducedProblem, y_var: np.ndarray,
                 assign_var: np.ndarray, assign_group: np.ndarray, minimise: bool
                 ) -> tuple[np.ndarray, sparse.csr_matrix | None, float]:
    """Complete life circle: u_q <= covered share of each listed type's group."""
    policy = problem.instance.policy
    if not policy.has_circle or minimise:
        return np.empty(0, dtype=np.int64), None, 0.0
    types = list(policy.circle_types)
    q = policy.circle_population * policy.circle_weight
    keys = problem.unit_group[:, types]
    possible = (q > 0) & (keys != -1).all(axis=1)
    satisfied = possible & (keys == -2).all(axis=1)
    constant = float(q[satisfied].sum())
    open_units = np.nonzero(possible & ~satisfied)[0]
    if len(open_units) == 0:
        return np.empty(0, dtype=np.int64), None, constant
    unique, inverse = np.unique(keys[open_units], axis=0, return_inverse=True)
    inverse = inverse.ravel()
    u = asm.add_variables(len(unique), objective=np.bincount(inverse, weights=q[open_units],
                                                            minlength=len(unique)))
    rows, cols, values = [], [], []
    member_rows, member_groups = [], []
    n_rows = 0
    for position in range(len(types)):
        group = unique[:, position]
        needed = np.nonzero(group >= 0)[0]
        member_rows.append(needed)
        member_groups.append(group[needed])
        plain = needed[y_var[group[needed]] >= 0]
        row = n_rows + np.arange(len(plain))
        rows += [row, row]
        cols += [u[plain], y_var[group[plain]]]
        values += [np.ones(len(plain)), -np.ones(len(plain))]
        n_rows += len(plain)
        for q_row in needed[y_var[group[needed]] < 0]:
            # Capacitated type: u <= served share of the group.
            g = group[q_row]
            share = assign_var[assign_group == g]
            rows.append(np.full(len(share) + 1, n_rows))
            cols.append(np.append(u[q_row], share))
            values.append(np.append(1.0, -np.ones(len(share))
                                    / max(problem.group_population[g], 1e-12)))
            n_rows += 1
    asm.add_rows("complete life circle", np.concatenate(rows), np.concatenate(cols),
                 np.concatenate(values), np.full(n_rows, -np.inf), np.zeros(n_rows))
    members = sparse.csr_matrix(
        (np.ones(sum(len(r) for r in member_rows)),
         (np.concatenate(member_rows), np.concatenate(member_groups))),
        shape=(len(unique), problem.n_groups),
    )
    return u, members, constant


def full_solution(problem: ReducedProblem, chosen_columns: np.ndarray,
                  milp: MilpArrays | None = None) -> np.ndarray | None:
    """The variable vector for a set of open columns (a warm start), or None when it
    cannot be completed simply (capacities need an assignment)."""
    x = np.zeros(problem.n_columns)
    x[chosen_columns] = 1.0
    covered = np.minimum(problem.cover @ x, 1.0)
    if milp is None or milp.layout is None:
        return np.concatenate([x, covered])
    layout = milp.layout
    if len(layout.assignment):
        return None
    for component in layout.components:
        # Take the listed plan for this part (a dominating one if the part is not listed).
        chosen = x[component.columns] > 0.5
        value = float(problem.group_weight[component.groups][
            covered[component.groups] > 0.5].sum())
        plan = component.plan_for(chosen, value)
        x[component.columns] = component.members[plan] if plan >= 0 else 0.0
    values = np.zeros(milp.n_cols)
    values[layout.x] = x
    values[layout.y] = covered[layout.y_group]
    for component, z in zip(layout.components, layout.component_choice, strict=True):
        opened = x[component.columns] > 0.5
        if opened.any():
            values[z[(component.members == opened).all(axis=1)][0]] = 1.0
    if len(layout.circle) and layout.circle_members is not None:
        members = layout.circle_members.tocsr()
        for q, u in enumerate(layout.circle):
            groups = members.indices[members.indptr[q]:members.indptr[q + 1]]
            values[u] = covered[groups].min() if len(groups) else 1.0
    if layout.worst_share >= 0:
        values[layout.worst_share] = milp.col_lower[layout.worst_share]
    for row in layout.served_rows:
        if row.slack >= 0:
            terms = row.variables != row.slack
            served = float(values[row.variables[terms]] @ row.coefficients[terms])
            values[row.slack] = min(max(0.0, row.rhs - served), row.rhs)
    return values
