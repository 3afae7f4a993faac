"""Hypothesis settings shared by the property and fuzz tests.

CI-sized by default; ``LIFECIRCLE_HYPOTHESIS_PROFILE=long`` selects the long profile (many
more examples per test) for a recorded long run, e.g.::

    LIFECIRCLE_HYPOTHESIS_PROFILE=long nice -n 19 python -m pytest -q \\
        tests/test_fuzz_readers.py --hypothesis-show-statistics

No example database is written and hypothesis's own cache goes to the temporary folder
(``HYPOTHESIS_STORAGE_DIRECTORY`` overrides it), so the working tree stays clean; a failure
prints the ``@reproduce_failure`` blob and the shrunk example instead.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis.configuration import set_hypothesis_home_dir

PROFILES = ("ci", "long")
PROFILE = os.environ.get("LIFECIRCLE_HYPOTHESIS_PROFILE", "ci").strip().lower() or "ci"
if PROFILE not in PROFILES:
    raise ValueError(f"LIFECIRCLE_HYPOTHESIS_PROFILE must be one of {', '.join(PROFILES)}, "
                     f"got {PROFILE!r}")
LONG = PROFILE == "long"
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "lifecircle-hypothesis")


def sized(ci: int, long: int, *, deadline_ms: float | None = None) -> settings:
    """Settings running ``ci`` examples (``long`` in the long profile).

    ``deadline_ms`` bounds each example's run time (a hang fails the test); None turns the
    deadline off (solves whose time varies with the machine's load).
    """
    return settings(
        max_examples=long if LONG else ci,
        deadline=deadline_ms,
        database=None,
        print_blob=True,
        # No "explain" phase: it traces every line (slow) and adds nothing to a report here.
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.function_scoped_fixture],
    )
