"""OR-Tools backends through ``model_builder``: SCIP (MIP) and CP-SAT.

The model is filled in bulk from CSR arrays (``fill_model_from_sparse_data``); only the
integrality flags and the warm-start hint are set per variable.
"""

from __future__ import annotations

import time
from functools import cache

import numpy as np

from optimizer.model.milp import MilpArrays
from optimizer.solvers.base import BackendResult, SolveOptions, SolveStatus


@cache
def _model_builder():
    from ortools.linear_solver.python import model_builder

    return model_builder


class OrToolsBackend:
    """An OR-Tools solver reached through ``model_builder`` (``scip`` or ``sat``)."""

    def __init__(self, solver: str) -> None:
        self.solver = solver
        self.name = f"ortools-{solver}"

    def is_available(self) -> bool:
        return _available(self.solver)

    def _parameters(self, options: SolveOptions) -> str:
        if self.solver == "sat":
            workers = options.threads or 2
            return (
                f"relative_gap_limit:{options.mip_gap},num_workers:{workers},"
                f"random_seed:{options.seed},log_search_progress:{str(options.verbose).lower()}"
            )
        return f"limits/gap = {options.mip_gap}\nrandomization/randomseedshift = {options.seed}"

    def solve(
        self,
        milp: MilpArrays,
        *,
        options: SolveOptions,
        warm_start: np.ndarray | None = None,
    ) -> BackendResult:
        mb = _model_builder()
        started = time.perf_counter()
        model = mb.ModelBuilder()
        helper = model.helper
        # CP-SAT needs every variable integral; y is integral at an optimum anyway.
        integral = np.ones(milp.n_cols, dtype=bool) if self.solver == "sat" else milp.integrality
        helper.fill_model_from_sparse_data(
            milp.col_lower,
            milp.col_upper,
            milp.objective,
            milp.row_lower,
            milp.row_upper,
            milp.matrix.astype(float),
        )
        for index in np.nonzero(integral)[0]:
            helper.set_var_integrality(int(index), True)
        helper.set_maximize(True)
        helper.set_objective_offset(float(milp.offset))
        if warm_start is not None:
            for index, value in enumerate(warm_start):
                helper.add_hint(index, float(value))

        solver = mb.Solver(self.solver)
        solver.set_time_limit_in_seconds(float(max(options.time_limit_s, 0.01)))
        solver.enable_output(bool(options.verbose))
        solver.set_solver_specific_parameters(self._parameters(options))
        status = solver.solve(model)
        runtime = time.perf_counter() - started
        st = mb.SolveStatus
        has_solution = status in (st.OPTIMAL, st.FEASIBLE)
        values = None
        objective = None
        if has_solution:
            solve_helper = getattr(solver, "_Solver__solve_helper", None)
            if solve_helper is not None and hasattr(solve_helper, "variable_values"):
                values = np.asarray(solve_helper.variable_values(), dtype=float)
            else:
                values = solver.values(model.get_variables()).to_numpy(dtype=float)
            objective = float(solver.objective_value)
        bound = float(solver.best_objective_bound) if has_solution else None
        if bound is not None and not np.isfinite(bound):
            bound = None
        if status == st.OPTIMAL:
            result = SolveStatus.OPTIMAL
        elif status == st.FEASIBLE:
            result = SolveStatus.FEASIBLE
        elif status == st.INFEASIBLE:
            result = SolveStatus.INFEASIBLE
        elif status == st.NOT_SOLVED:
            result = SolveStatus.NO_SOLUTION
        else:
            result = SolveStatus.ERROR
        return BackendResult(result, values, objective, bound, runtime, str(status.name))


@cache
def _available(solver: str) -> bool:
    try:
        return bool(_model_builder().Solver(solver).solver_is_supported())
    except ImportError:
        return False
