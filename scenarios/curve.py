r"""The budget-coverage curve: one scenario solved at a ladder of budgets.

For budgets :math:`B_1 < B_2 < \dots < B_K` the scenario's model is solved at each
:math:`B_k` (see :func:`optimizer.solve.solve`),

.. math::

    z(B) = \max_x \sum_t w_t \sum_i p_{it}\, \mathrm{covered}_{it}(x)
    \quad \text{s.t.} \quad \sum_{j,t} c_{jt} x_{jt} \le B, \ \dots

The instance (tables, projection, walking-network distances) is built once and only its
``budget`` changes between points, so every point is the same model as
``run_scenario(replace(spec, budget=B_k))``.

:math:`z` is non-decreasing in :math:`B`: a plan within :math:`B_{k-1}` also fits
:math:`B_k` (the budget row only loosens; ``max_budget_share`` caps grow with the budget;
area budgets, type counts, forced and excluded sites, floors and targets do not depend on
it). Each point is warm-started with the previous point's plan (:mod:`scenarios.sweep`),
and the curve enforces monotonicity afterwards too (points solved in parallel chunks do not
see each other's plans): when a
point stopped at a limit with a plan scoring below the previous point's, the previous plan
is kept for it (``plan_from_budget`` names the budget it was found at) and its status is
``feasible`` unless that plan meets the point's own bound. Proven optima never need this.
Max-min scenarios are exempt: the first stage's floor rises with the budget, so an earlier
plan need not satisfy a later point's floor and coverage need not increase.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from optimizer.coverage import compute_reach
from optimizer.errors import InputError, Problem
from optimizer.instance import SitingInstance
from optimizer.results import Plan, evaluate_plan, plan_objective
from optimizer.solvers.base import SolveStatus, relative_gap
from scenarios.atomic import atomic_path, write_text_atomic
from scenarios.library import resolve_scenario
from scenarios.loader import build_instance
from scenarios.runner import with_solver_overrides
from scenarios.spec import ScenarioSpec, load_scenario
from scenarios.store import content_key
from scenarios.sweep import PointSettings, solve_ladder

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["BudgetCurve", "CurvePoint", "budget_curve", "curve_columns", "parse_budgets"]

_TOLERANCE = 1e-6
"""Relative tolerance under which two objectives are taken as equal (as in the solver)."""

_TEXT = {
    "en": {
        "budget": "budget (million CNY)",
        "coverage": "coverage (%)",
        "marginal": "marginal cost\n(CNY per resident)",
        "title": "{name}: coverage by budget",
        "marginal_title": "marginal cost vs the previous budget",
    },
    "zh": {
        "budget": "预算（百万元）",
        "coverage": "覆盖率（%）",
        "marginal": "边际成本\n（元/人）",
        "title": "{name}：不同预算下的覆盖率",
        "marginal_title": "相对上一预算档的边际成本",
    },
}

_ZH_NAMES = {"park": "口袋公园", "canteen": "老年食堂", "childcare": "托育点"}
"""Chinese legend names of the usual types when the scenario gives no Chinese label."""


def curve_columns(types: Sequence[str]) -> list[str]:
    """The columns of :attr:`BudgetCurve.points` (and ``curve.csv``) for these types."""
    per_type = [f"{what}_{t}" for what in ("covered", "newly_covered", "coverage_pct",
                                             "new_sites") for t in types]
    return ["budget", "status", "objective", "bound", "gap", "total_cost", *per_type,
            "newly_covered_total", "weighted_gain", "marginal_cost_per_resident", "runtime_s",
            "plan_from_budget"]


@dataclass(frozen=True, eq=False)
class CurvePoint:
    """One solved budget, as passed to the ``progress`` callback of :func:`budget_curve`.

    Attributes
    ----------
    index
        0-based position of the point in the (ascending) budget ladder.
    count
        Number of budgets in the ladder.
    types
        Facility type names, in the scenario's order.
    row
        The point's row of :attr:`BudgetCurve.points` (column name -> value).
    plan
        The plan behind the row (the earlier point's plan when ``plan_from_budget`` differs
        from ``budget``), or None when no plan was found or the point was read back.
    resumed
        True when the point was read back from the ``checkpoint`` folder of an earlier
        call instead of solved.
    """

    index: int
    count: int
    types: tuple[str, ...]
    row: dict[str, Any]
    plan: Plan | None = field(default=None, repr=False)
    resumed: bool = False

    @property
    def budget(self) -> float:
        return float(self.row["budget"])

    @property
    def status(self) -> str:
        return str(self.row["status"])

    @property
    def carried(self) -> bool:
        """True when the point keeps an earlier (smaller-budget) point's plan."""
        return bool(self.row["plan_from_budget"] != self.row["budget"])

    def describe(self) -> str:
        """One line: budget, status, objective, coverage % per type, gain, marginal cost."""
        row, types = self.row, self.types
        text = f"{row['budget'] / 1e6:10.2f} M CNY  {row['status']:<11}"
        if _finite(row["objective"]):
            text += f" objective {row['objective']:>14,.0f}"
            gap = row["gap"]
            text += f"  gap {100 * gap:6.3f}%" if _finite(gap) else "  gap    n/a"
            text += f"  cost {row['total_cost'] / 1e6:8.2f} M"
            text += "".join(f"  {t} {row[f'coverage_pct_{t}']:5.1f}%" for t in types)
            text += f"  newly {row['newly_covered_total']:>10,.0f}"
            marginal = row["marginal_cost_per_resident"]
            if _finite(marginal):
                text += f"  marginal {marginal:>10,.0f} CNY/resident"
        text += f"  {row['runtime_s']:6.2f} s"
        if self.carried:
            text += f"  (plan of the {row['plan_from_budget'] / 1e6:.2f} M point kept)"
        if self.resumed:
            text += "  (from an earlier run)"
        return text


@dataclass(frozen=True, eq=False)
class BudgetCurve:
    """Coverage against budget for one scenario: one row per budget, ascending.

    Attributes
    ----------
    scenario
        The scenario's name.
    types
        Facility type names, in the scenario's order.
    points
        One row per budget (see :func:`budget_curve` for the columns).
    labels
        Display label per type (the scenario's ``label``, else the name).
    plans
        The plan behind each row (None where no plan was found).
    stopped_early
        True when ``should_stop`` ended the sweep before every budget was solved.
    """

    scenario: str
    types: tuple[str, ...]
    points: pd.DataFrame
    labels: tuple[str, ...] = ()
    plans: tuple[Plan | None, ...] = field(default=(), repr=False)
    stopped_early: bool = False

    def to_csv(self, path: str | Path) -> Path:
        """Write :attr:`points` as CSV (UTF-8, no index), atomically
        (:func:`scenarios.atomic.atomic_path`); returns the path."""
        target = Path(path)
        with atomic_path(target) as temporary:
            self.points.to_csv(temporary, index=False)
        return target

    def plot(self, path: str | Path, *, lang: Literal["en", "zh"] = "en",
             dpi: int = 150) -> Path:
        r"""Write a PNG: coverage % per type against budget, and the marginal cost below.

        The top panel has one line per type (covered share of the type's target group,
        existing facilities included) against the budget in million CNY; the bottom panel
        has :math:`\Delta\text{cost} / \Delta\text{newly covered}` at each budget against
        the previous one. With ``lang="zh"`` the labels are Chinese, set in the first CJK
        font found (Noto Sans CJK SC first; the default font if none is installed).

        Raises
        ------
        ImportError
            matplotlib is not installed.
        """
        if lang not in _TEXT:
            raise InputError([Problem(f"lang must be 'en' or 'zh', got {lang!r}")])
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as error:  # pragma: no cover - matplotlib is installed in CI
            raise ImportError("the budget-curve plot needs matplotlib: pip install "
                              "matplotlib") from error
        text = _TEXT[lang]
        points = self.points
        budget = points["budget"].to_numpy(dtype=float) / 1e6
        figure = Figure(figsize=(8.0, 6.5), layout="constrained")
        FigureCanvasAgg(figure)
        top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        labels = self.labels or self.types
        for name, label in zip(self.types, labels, strict=True):
            top.plot(budget, points[f"coverage_pct_{name}"].to_numpy(dtype=float),
                     marker="o", label=_type_label(name, label, lang))
        top.set_ylabel(text["coverage"])
        top.set_title(text["title"].format(name=self.scenario))
        top.grid(alpha=0.3)
        top.legend(loc="best")
        marginal = points["marginal_cost_per_resident"].to_numpy(dtype=float)
        shown = np.isfinite(marginal)
        bottom.plot(budget[shown], marginal[shown], marker="s", color="tab:gray")
        bottom.set_ylabel(text["marginal"])
        bottom.set_xlabel(text["budget"])
        bottom.set_title(text["marginal_title"], fontsize="medium")
        bottom.grid(alpha=0.3)
        bottom.yaxis.set_major_formatter("{x:,.0f}")
        family = None
        if lang == "zh":
            from briefs.fonts import use_cjk_font

            family = use_cjk_font(figure)
        target = Path(path)
        with warnings.catch_warnings(), atomic_path(target) as temporary:
            if lang == "zh" and family is None:  # no CJK font: the default one, quietly
                warnings.filterwarnings("ignore", message="Glyph .* missing from font")
            figure.savefig(temporary, dpi=dpi)
        return target


def parse_budgets(text: str) -> list[float]:
    """Read a budget ladder: ``start:stop:count`` (inclusive, evenly spaced) or a comma list.

    Examples: ``"5e6:100e6:20"`` is 20 budgets from 5 M to 100 M; ``"5e6,10e6,30e6"``
    three budgets; ``"30000000"`` one.

    Raises
    ------
    InputError
        With one line saying what is wrong.
    """
    usage = "expected start:stop:count (e.g. 5e6:100e6:20) or a comma list (e.g. 5e6,10e6)"

    def bad(why: str) -> InputError:
        return InputError([Problem(f"budgets '{text}': {why}; {usage}")])

    raw = str(text).strip()
    if not raw:
        raise bad("empty")

    def number(item: str) -> float:
        item = item.strip()
        try:
            value = float(item)
        except ValueError:
            raise bad(f"'{item}' is not a number") from None
        if not math.isfinite(value):
            raise bad(f"'{item}' is not finite")
        if value < 0:
            raise bad(f"'{item}' is negative")
        return value

    if ":" in raw:
        parts = raw.split(":")
        if len(parts) != 3:
            raise bad(f"{len(parts)} parts separated by ':' instead of 3")
        start, stop = number(parts[0]), number(parts[1])
        count_text = parts[2].strip()
        if not re.fullmatch(r"\d+", count_text) or int(count_text) < 2:
            raise bad(f"count '{count_text}' is not a whole number >= 2")
        if stop <= start:
            raise bad(f"stop {stop:g} is not above start {start:g}")
        return [float(v) for v in np.linspace(start, stop, int(count_text))]
    return [number(item) for item in raw.split(",")]


def budget_curve(
    scenario: ScenarioSpec | str | Path,
    budgets: Sequence[float],
    *,
    time_limit_s: float | None = None,
    solver: str | None = None,
    threads: int | None = None,
    progress: Callable[[CurvePoint], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    warm_start: bool = True,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Client | None = None,
    checkpoint: str | Path | None = None,
) -> BudgetCurve:
    r"""Solve a scenario at each budget, ascending, and tabulate coverage against budget.

    The instance is built once (tables, projection, network distances) and solved with
    only its budget replaced; each point is the model of
    ``run_scenario(replace(spec, budget=b))``. Objectives are made non-decreasing as
    described in :mod:`scenarios.curve`.

    Parameters
    ----------
    scenario
        A spec, a path to a TOML file, or the name of a shipped scenario.
    budgets
        Budgets in CNY (any order; sorted ascending, duplicates dropped). See
        :func:`parse_budgets` for text such as ``"5e6:100e6:20"``.
    time_limit_s, solver, threads
        Per-point overrides of the scenario's ``[solver]`` section (its gap and seed apply).
    progress
        Called with each :class:`CurvePoint` as soon as it is done.
    should_stop
        Checked before each point (on Dask: after each chunk); returning True ends the
        sweep, and the leading points done so far are returned (``stopped_early``).
    warm_start
        Solve each point with the shared pairs and reduction and the previous (smaller)
        budget's plan as a start plan, by the MIP alone (:mod:`scenarios.sweep`; default).
        False: each point is :func:`optimizer.solve.solve` called afresh.
    workers, scheduler, client
        Run on Dask when ``client`` (a ``distributed.Client`` you have, left open),
        ``scheduler`` (``tcp://host:port``) or ``workers`` > 1 (a local cluster) is given:
        the instance is scattered once and the ladder cut into contiguous chunks solved
        ascending with warm starts (see :func:`scenarios.sweep.solve_ladder`). Default:
        in this process, one point after another (fastest with one worker).
    checkpoint
        A folder where each point is saved as soon as it is solved (one small JSON file
        per budget, written atomically). Points already saved there by an earlier call with
        the same scenario, data files, solver settings and ``warm_start`` are read back
        instead of solved, so a sweep killed halfway and started again solves only the
        budgets it had not finished (their ``plans`` entries are None). ``lifecircle
        sweep`` uses ``OUT/points``.

    Returns
    -------
    BudgetCurve
        ``points`` has one row per budget with the columns

        * ``budget``, ``status`` (as in ``summary.json``), ``objective`` (weighted covered
          population, existing coverage included), ``bound``, ``gap``, ``total_cost``
          (budget actually spent);
        * per type :math:`t`: ``covered_<t>`` (target-group people in reach after the
          plan, existing included), ``newly_covered_<t>`` (of them, not in reach of an
          existing facility), ``coverage_pct_<t>``, ``new_sites_<t>``;
        * ``newly_covered_total`` :math:`= \sum_t \text{newly\_covered}_t`, the
          *resident-services newly in reach*: types count different target groups
          (everyone, residents 60+, children 0-3), so one resident newly near a park and a
          canteen counts twice, and it is not a head count;
        * ``weighted_gain`` :math:`= z(B) - z_0`, the objective minus the objective with no
          new site (the existing-coverage constant, soft-floor penalties included);
        * ``marginal_cost_per_resident``
          :math:`= (C_k - C_{k-1}) / (N_k - N_{k-1})`, with :math:`C` the total cost
          spent (not the budget) and :math:`N` ``newly_covered_total``: what the extra
          money actually spent bought, per extra resident-service, against the previous
          point. NaN at the first point, where either point has no plan, or when
          :math:`N_k \le N_{k-1}` (a heavier-weighted type can gain at the expense of
          fewer people of another type, so the people count need not rise);
        * ``runtime_s`` (this point's solve), ``plan_from_budget`` (the budget whose plan the
          row reports: its own, or an earlier one kept for monotonicity).

        Points without a plan (infeasible, no solution) have NaN in the plan columns.

    Raises
    ------
    InputError
        Bad input (scenario files, budgets), or a least-cost or multi-year phasing
        scenario, where the budget is not what the curve varies.
    """
    spec, ladder = _curve_scenario(scenario, budgets, solver=solver,
                                   time_limit_s=time_limit_s, threads=threads)
    instance = build_instance(replace(spec, budget=ladder[0]))
    types = instance.type_names
    labels = tuple(t.label or t.name for t in spec.types)
    baseline = _objective_without_new_sites(instance)
    points = _InOrder(ladder, types, monotone=not instance.policy.maxmin_types,
                      progress=progress)

    saved = _Checkpoint(Path(checkpoint), _checkpoint_key(spec, warm_start)) \
        if checkpoint is not None else None
    earlier = saved.load(ladder, curve_columns(types)) if saved is not None else {}
    todo = [at for at in range(len(ladder)) if at not in earlier]
    for at, row in earlier.items():
        points.take(at, row, None, True)

    def solved(position: int, plan: Plan) -> None:
        at = todo[position]
        row = _plan_row(plan, ladder[at], types, baseline)
        if saved is not None:
            saved.save(ladder[at], row)
        points.take(at, row, plan if plan.has_solution else None, False)

    settings = PointSettings(solver=spec.solver.name, time_limit_s=spec.solver.time_limit_s,
                             mip_gap=spec.solver.gap, threads=spec.solver.threads,
                             seed=spec.solver.seed, warm_start=warm_start)
    _solve_budgets(instance, [ladder[at] for at in todo], settings, solved,
                   should_stop=should_stop, workers=workers, scheduler=scheduler,
                   client=client)
    return points.curve(spec.name, labels)


def _curve_scenario(
    scenario: ScenarioSpec | str | Path, budgets: Sequence[float], *, solver: str | None,
    time_limit_s: float | None, threads: int | None,
) -> tuple[ScenarioSpec, list[float]]:
    """The scenario with the solver overrides applied, and the budget ladder.

    Raises
    ------
    InputError
        Bad scenario or budgets, or a scenario whose budget is not what a curve varies
        (least cost, multi-year phasing).
    """
    spec = scenario if isinstance(scenario, ScenarioSpec) else load_scenario(
        resolve_scenario(scenario)
    )
    ladder = _ladder(budgets)
    if spec.policy.objective != "coverage":
        raise InputError([Problem(
            f"scenario '{spec.name}' minimises cost (objective = \"{spec.policy.objective}\"):"
            f" a budget curve needs a coverage objective")])
    if spec.policy.years:
        raise InputError([Problem(
            f"scenario '{spec.name}' uses multi-year phasing: its year budgets, not the "
            f"total budget, limit spending, so a budget curve does not apply")])
    spec = with_solver_overrides(spec, solver=solver, time_limit_s=time_limit_s,
                                 threads=threads)
    return spec, ladder


def _solve_budgets(
    instance: SitingInstance, budgets: list[float], settings: PointSettings,
    on_plan: Callable[[int, Plan], None], *, should_stop: Callable[[], bool] | None,
    workers: int | None, scheduler: str | None, client: Client | None,
) -> None:
    """Solve ``budgets`` (ascending) in this process or on Dask, as :func:`budget_curve`
    describes; ``on_plan(position, plan)`` is called as each plan arrives."""
    if not budgets:  # every point was read back from a checkpoint
        return
    if client is not None or scheduler is not None or (workers or 1) > 1:
        from scenarios.batch import _dask_client

        with _dask_client(client, scheduler, workers) as dask_client:
            solve_ladder(instance, budgets, settings, client=dask_client, on_plan=on_plan,
                         should_stop=should_stop)
    else:
        solve_ladder(instance, budgets, settings, on_plan=on_plan, should_stop=should_stop)


class _InOrder:
    """The curve's rows, assembled in ladder order as points arrive (out of order on Dask
    or when read back from a checkpoint).

    Each row joins once every earlier one has: kept monotone (a point scoring below the
    best so far keeps that point's plan, see :func:`_carry`), given its marginal cost, and
    passed to ``progress``.

    Parameters
    ----------
    ladder
        The budgets, ascending.
    types
        Facility type names.
    monotone
        Whether to enforce non-decreasing objectives (not for max-min scenarios).
    progress
        Called with each :class:`CurvePoint` as it joins, or None.
    """

    def __init__(self, ladder: Sequence[float], types: tuple[str, ...], *, monotone: bool,
                 progress: Callable[[CurvePoint], None] | None) -> None:
        self.ladder = ladder
        self.types = types
        self.monotone = monotone
        self.progress = progress
        self.rows: list[dict[str, Any]] = []
        self.plans: list[Plan | None] = []
        self._best: tuple[dict[str, Any], Plan | None] | None = None  # row, plan
        self._waiting: dict[int, tuple[dict[str, Any], Plan | None, bool]] = {}

    def take(self, index: int, row: dict[str, Any], plan: Plan | None,
             resumed: bool) -> None:
        """Add the point at ladder position ``index``, and every waiting one it unblocks."""
        self._waiting[index] = (row, plan, resumed)
        while len(self.rows) in self._waiting:
            self._append(*self._waiting.pop(len(self.rows)))

    def _append(self, row: dict[str, Any], plan: Plan | None, resumed: bool) -> None:
        """Append the next point in ladder order."""
        at = len(self.rows)
        solved = _finite(row["objective"])
        if self.monotone and self._best is not None and _below(
                row["objective"], self._best[0]["objective"]):
            row, plan, solved = _carry(self._best[0], row, self.ladder[at]), self._best[1], True
        if self.monotone and solved:
            self._best = (row, plan)
        self.rows.append(row)
        self.plans.append(plan)
        _add_marginal(self.rows)
        if self.progress is not None:
            self.progress(CurvePoint(at, len(self.ladder), self.types, dict(self.rows[-1]),
                                     plan, resumed=resumed))

    def curve(self, name: str, labels: tuple[str, ...]) -> BudgetCurve:
        """The points so far as a :class:`BudgetCurve` (``stopped_early`` if not all)."""
        points = pd.DataFrame(self.rows, columns=curve_columns(self.types))
        for type_name in self.types:
            points[f"new_sites_{type_name}"] = points[f"new_sites_{type_name}"].astype("Int64")
        return BudgetCurve(name, self.types, points, labels, tuple(self.plans),
                           len(self.rows) < len(self.ladder))


def _checkpoint_key(spec: ScenarioSpec, warm_start: bool) -> str:
    """What a saved point must have been solved with to be reused: the scenario (its data
    files by content, the solver settings, lifecircle's version) without its budget."""
    return f"{content_key(replace(spec, budget=0.0))}-warm{int(bool(warm_start))}"


@dataclass(frozen=True)
class _Checkpoint:
    """The points of one sweep saved in ``folder``, one ``budget-<B>.json`` per budget."""

    folder: Path
    key: str

    def path(self, budget: float) -> Path:
        return self.folder / f"budget-{budget:.2f}.json"

    def save(self, budget: float, row: dict[str, Any]) -> None:
        write_text_atomic(self.path(budget), json.dumps(
            {"key": self.key, "budget": budget, "row": row}, ensure_ascii=False,
            default=_plain))

    def load(self, ladder: Sequence[float], columns: Sequence[str]
             ) -> dict[int, dict[str, Any]]:
        """Ladder index -> saved row, for the budgets saved with this key (files that are
        damaged, of another scenario or settings, or of another layout are ignored and
        solved again)."""
        found: dict[int, dict[str, Any]] = {}
        for at, budget in enumerate(ladder):
            try:
                data = json.loads(self.path(budget).read_text(encoding="utf-8"))
                row = data["row"]
                usable = data["key"] == self.key and float(data["budget"]) == budget \
                    and isinstance(row, dict) and set(row) == set(columns)
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if usable:
                found[at] = row
        return found


def _plain(value: Any) -> Any:
    """JSON for numpy scalars (the rows' counts and sums)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot save {type(value).__name__} in a sweep checkpoint")


def _ladder(budgets: Sequence[float]) -> list[float]:
    """Budgets sorted ascending without duplicates, each checked finite and non-negative."""
    values = []
    for value in budgets:
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise InputError([Problem(f"budget {value!r} is not a number")])
        if not math.isfinite(float(value)) or float(value) < 0:
            raise InputError([Problem(f"budget {value!r} must be finite and >= 0")])
        values.append(float(value))
    if not values:
        raise InputError([Problem("no budgets given")])
    return sorted(set(values))


def _objective_without_new_sites(instance: SitingInstance) -> float:
    """The objective of building nothing: coverage by existing facilities (the constant)."""
    empty = np.empty(0, dtype=np.int64)
    coverage = evaluate_plan(instance, compute_reach(instance), empty, empty)
    return plan_objective(instance, coverage)[0]


def _plan_row(plan: Plan, budget: float, types: Sequence[str],
              baseline: float) -> dict[str, Any]:
    nan = float("nan")
    row: dict[str, Any] = {
        "budget": budget,
        "status": str(plan.status),
        "objective": _float(plan.objective),
        "bound": _float(plan.bound),
        "gap": _float(plan.gap),
        "total_cost": plan.total_cost if plan.has_solution else nan,
        "runtime_s": plan.runtime_s,
        "plan_from_budget": budget,
    }
    if plan.has_solution:
        table = plan.coverage_by_type().set_index("type")
        for name in types:
            row[f"covered_{name}"] = float(table.loc[name, "covered"])
            row[f"newly_covered_{name}"] = float(table.loc[name, "newly_covered"])
            row[f"coverage_pct_{name}"] = float(table.loc[name, "coverage_pct"])
            row[f"new_sites_{name}"] = int(table.loc[name, "new_sites"])
        row["newly_covered_total"] = float(sum(row[f"newly_covered_{n}"] for n in types))
        row["weighted_gain"] = row["objective"] - baseline
    else:
        for name in types:
            for what in ("covered", "newly_covered", "coverage_pct", "new_sites"):
                row[f"{what}_{name}"] = nan
        row["newly_covered_total"] = row["weighted_gain"] = nan
    row["marginal_cost_per_resident"] = nan
    return row


def _carry(earlier: dict[str, Any], point: dict[str, Any], budget: float) -> dict[str, Any]:
    """The earlier point's plan as this point's answer, with this point's bound and
    runtime (``point`` is the row of this point's own solve)."""
    row = dict(earlier)
    row["budget"] = budget
    row["runtime_s"] = point["runtime_s"]
    bound = _float(point["bound"])
    if math.isfinite(bound):
        bound = max(bound, row["objective"])  # a valid bound is never below a plan
    row["bound"] = bound
    row["gap"] = _float(relative_gap(row["objective"], bound))
    closed = math.isfinite(bound) and row["objective"] >= bound - _TOLERANCE * max(
        1.0, abs(bound))
    row["status"] = str(SolveStatus.OPTIMAL if closed else SolveStatus.FEASIBLE)
    row["marginal_cost_per_resident"] = float("nan")
    return row


def _add_marginal(rows: list[dict[str, Any]]) -> None:
    """Marginal cost per extra newly covered resident of the last row against the one before."""
    if len(rows) < 2:
        return
    previous, current = rows[-2], rows[-1]
    gain = current["newly_covered_total"] - previous["newly_covered_total"]
    spent = current["total_cost"] - previous["total_cost"]
    if _finite(gain) and _finite(spent) and gain > 0:
        current["marginal_cost_per_resident"] = spent / gain


def _below(value: float, previous: float) -> bool:
    """True when ``value`` is missing or below ``previous`` beyond the tolerance."""
    if not math.isfinite(previous):
        return False
    if not math.isfinite(value):
        return True
    return value < previous - _TOLERANCE * max(1.0, abs(previous))


def _float(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _type_label(name: str, label: str, lang: str) -> str:
    """Legend text: the type name in English; in Chinese the label's leading CJK words."""
    if lang == "zh":
        head = re.match(r"[\u3000-\u9fff\uff00-\uffef]+", label)
        if head:
            return head.group(0)
        return _ZH_NAMES.get(name, name)
    return name


def _cjk_family() -> str | None:
    """The first installed CJK font (:func:`briefs.fonts.cjk_family`), or None."""
    from briefs.fonts import cjk_family

    return cjk_family()

