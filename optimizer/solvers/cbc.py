"""COIN-OR CBC backend: the model is exported to MPS in bulk (through HiGHS's writer)
and solved by the CBC binary that PuLP ships; no per-variable PuLP objects are built.

CBC minimises, so the exported objective is negated; its "Lower bound" becomes our upper
bound. The status comes from CBC's own result line ("Optimal solution found" versus
"Stopped on time limit"), not from PuLP's status, which calls a stopped run optimal.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from functools import cache
from pathlib import Path

import numpy as np

from optimizer.model.milp import MilpArrays
from optimizer.solvers.base import BackendResult, SolveOptions, SolveStatus
from optimizer.solvers.highs import new_highs, pass_model


@cache
def cbc_path() -> str | None:
    """Path of the CBC executable shipped with PuLP, or None."""
    try:
        import pulp
    except ImportError:
        return None
    command = pulp.PULP_CBC_CMD(msg=False)
    return command.path if command.available() else None


def _float_after(label: str, text: str) -> float | None:
    match = re.search(rf"^{label}:\s*(\S+)", text, flags=re.MULTILINE)
    if not match:
        return None
    try:
        return float(match.group(1))
    except ValueError:
        return None


class CbcBackend:
    """CBC branch-and-cut."""

    name = "cbc"

    @staticmethod
    def is_available() -> bool:
        return cbc_path() is not None

    def solve(
        self,
        milp: MilpArrays,
        *,
        options: SolveOptions,
        warm_start: np.ndarray | None = None,
    ) -> BackendResult:
        started = time.perf_counter()
        executable = cbc_path()
        if executable is None:
            return BackendResult(SolveStatus.ERROR, None, None, None, 0.0, "CBC not found")
        with tempfile.TemporaryDirectory(prefix="lifecircle-cbc-") as tmp:
            folder = Path(tmp)
            model_file, solution_file = folder / "model.mps", folder / "solution.txt"
            h = new_highs()
            pass_model(h, milp, minimize=True)
            for index in range(milp.n_cols):
                h.passColName(index, f"v{index}")
            h.writeModel(str(model_file))
            command = [
                executable,
                str(model_file),
                "-sec",
                f"{max(options.time_limit_s, 0.01):.3f}",
                "-ratioGap",
                str(options.mip_gap),
                "-randomCbcSeed",
                str(options.seed + 1),
            ]
            if options.threads:
                command += ["-threads", str(options.threads)]
            if warm_start is not None:
                start_file = folder / "start.txt"
                lines = ["Stopped on iterations - objective value 0.00000000"]
                lines += [f"{i} v{i} {v:.12g} 0" for i, v in enumerate(warm_start)]
                start_file.write_text("\n".join(lines) + "\n")
                command += ["-mips", str(start_file)]
            command += ["-solve", "-solution", str(solution_file)]
            completed = subprocess.run(command, capture_output=True, text=True, check=False)
            log = completed.stdout
            if options.verbose:
                print(log)
            if not solution_file.exists():
                return BackendResult(
                    SolveStatus.ERROR,
                    None,
                    None,
                    None,
                    time.perf_counter() - started,
                    (completed.stderr or log)[-300:],
                )
            text = solution_file.read_text().splitlines()
        runtime = time.perf_counter() - started
        header = text[0].lower() if text else ""
        values = np.zeros(milp.n_cols)
        for line in text[1:]:
            parts = line.replace("**", " ").split()
            if len(parts) >= 3:
                values[int(parts[0])] = float(parts[2])
        has_solution = not header.startswith(("infeasible", "integer infeasible")) and (
            "objective value" in header
        ) and "no feasible" not in log.lower()
        result_line = re.search(r"^Result - (.*)$", log, flags=re.MULTILINE)
        result = result_line.group(1).lower() if result_line else header
        lower = _float_after("Lower bound", log)
        bound = -lower + milp.offset if lower is not None else None
        objective = float(milp.objective @ values + milp.offset) if has_solution else None
        if "optimal solution found" in result or header.startswith("optimal"):
            status = SolveStatus.OPTIMAL
            bound = objective if bound is None else bound
        elif "infeasible" in result or header.startswith("infeasible"):
            status, values, objective = SolveStatus.INFEASIBLE, None, None
        elif has_solution:
            status = SolveStatus.FEASIBLE
        else:
            status, values = SolveStatus.NO_SOLUTION, None
        return BackendResult(status, values, objective, bound, runtime, result.strip())
