"""One (instance, method) run in its own process, for isolation, a hard timeout and peak RSS.

``python -m benchmarks.worker CASE METHOD TIME_LIMIT OUT_JSON``
writes a JSON object with the :class:`~benchmarks.methods.RunResult` fields plus
``base_rss_mb`` (after the instance is built) and ``peak_rss_mb`` (this process's peak
plus the peak of its largest child, e.g. CBC).
"""

from __future__ import annotations

import json
import resource
import sys
import traceback
from dataclasses import asdict
from pathlib import Path


def _rss_now_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main(argv: list[str]) -> int:
    case_name, method, time_limit, out = argv[0], argv[1], float(argv[2]), Path(argv[3])
    from benchmarks.instances import build_case, case_by_name
    from benchmarks.methods import RunResult, run_method

    payload: dict[str, object]
    try:
        case = case_by_name(case_name)
        built = build_case(case_name)
        base = _rss_now_mb()
        result = run_method(method, case, built, time_limit)
        payload = asdict(result)
        payload["base_rss_mb"] = base
    except Exception as exc:
        tail = traceback.format_exc().strip().splitlines()[-3:]
        payload = asdict(RunResult("error", notes=[f"{type(exc).__name__}: {exc}", *tail]))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    payload["peak_rss_mb"] = own + children
    out.write_text(json.dumps(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
