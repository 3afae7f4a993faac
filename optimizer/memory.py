r"""Will the model fit? An estimate of a solve's memory, made before anything large is built.

A solve's memory grows with the number of unit-site pairs within reach, :math:`P`: the
pairs themselves (indices and distances, sorted), the reduced coverage model built from
them as sparse arrays, and the MILP backend's copies of that model (HiGHS keeps the matrix
by rows and by columns, plus presolve and search structures). The estimate is

.. math::

    M \approx M_0 + \beta P + \gamma\,(n_{units} + n_{sites}\, n_{types}),
    \qquad M_0 = 256\ \text{MiB},\ \beta = 150\ \text{bytes},\ \gamma = 2\ \text{KiB},

on the high side of what was measured here (peak resident memory above the process's
size, random cities solved by HiGHS for 15-20 s): 421 MiB for 100,000 units, 5,000 sites
and 1.4 million pairs (estimate 658 MiB); 1.18 GiB for 200,000 units, 10,000 sites and
9.7 million pairs (estimate 2.0 GiB). :math:`P` is counted exactly from a distance table, and
estimated without building the pairs for straight-line distances: the neighbours of a
sample of at most :data:`SAMPLE_SITES` sites within the largest radius, scaled to all sites.

:func:`check_memory` compares the estimate with the memory available (``MemAvailable``
and the cgroup limit on Linux, or ``LIFECIRCLE_MEMORY_LIMIT`` such as ``"4GiB"``) and
refuses with :class:`~optimizer.errors.TooLargeError` naming both sizes when the model
would need more than :data:`USABLE_SHARE` of it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from optimizer.data.instance import SitingInstance
from optimizer.errors import Problem, TooLargeError

BASE_BYTES = 256 * 2**20
"""Fixed cost of a solve (compiled search, solver libraries, work arrays)."""
BYTES_PER_PAIR = 150
"""Peak bytes per unit-site pair within reach (pairs, reduced model, HiGHS)."""
BYTES_PER_ROW = 2048
"""Peak bytes per unit and per site-type column, whatever their pairs."""
SAMPLE_SITES = 2000
"""Sites whose neighbours are counted to estimate the pairs of straight-line distances."""
USABLE_SHARE = 0.8
"""Share of the available memory a solve may plan to use (the rest: Python, the OS)."""
LIMIT_ENV = "LIFECIRCLE_MEMORY_LIMIT"
"""Environment variable capping the memory a solve may use (``4GiB``, ``500MB``, bytes)."""

_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 2**10, "m": 1e6, "mb": 1e6,
          "mib": 2**20, "g": 1e9, "gb": 1e9, "gib": 2**30, "t": 1e12, "tb": 1e12,
          "tib": 2**40}


@dataclass(frozen=True)
class MemoryEstimate:
    """The estimated peak memory of a solve and what it comes from."""

    pairs: int
    """Unit-site pairs within the largest radius (exact from a table, else estimated)."""
    exact_pairs: bool
    bytes: int
    """Estimated peak bytes above the process's size before the solve."""


def parse_size(text: str) -> int:
    """``"4GiB"``, ``"500 MB"``, ``"1.5g"`` or plain bytes as a number of bytes.

    Raises
    ------
    ValueError
        Not a size.
    """
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    if match is None or match.group(2).lower() not in _UNITS:
        raise ValueError(f"not a memory size: {text!r} (e.g. 4GiB, 500MB)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _meminfo_available() -> int | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    match = re.search(r"^MemAvailable:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def _cgroup_room() -> int | None:
    """Memory left under this process's cgroup (v2) limit, if it has one."""
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((base / "memory.current").read_text().strip()))
    except (OSError, ValueError):
        return None


def available_memory() -> int | None:
    """Bytes a solve may use: ``LIFECIRCLE_MEMORY_LIMIT`` if set, else the smaller of the
    system's available memory and the room under the cgroup limit (None if unknown)."""
    configured = os.environ.get(LIMIT_ENV, "").strip()
    if configured:
        try:
            return parse_size(configured)
        except ValueError as error:
            raise TooLargeError([Problem(f"{LIMIT_ENV}: {error}")]) from None
    known = [size for size in (_meminfo_available(), _cgroup_room()) if size is not None]
    return min(known) if known else None


def count_pairs(instance: SitingInstance) -> tuple[int, bool]:
    """Unit-site pairs within the largest radius, and whether the count is exact.

    Exact from a distance table; for straight-line distances the neighbours of up to
    :data:`SAMPLE_SITES` evenly spaced sites (and existing facilities) are counted in a
    KD-tree of the units and scaled up, so no pair array is built.
    """
    radius = float(instance.reach_radii.max()) if instance.n_types else 0.0
    if instance.distances is not None:
        return int(np.count_nonzero(instance.distances.distance_m <= radius)), True
    facilities = np.vstack([instance.site_xy, instance.existing_xy])
    if len(facilities) == 0 or instance.n_demand == 0:
        return 0, True
    step = max(1, len(facilities) // SAMPLE_SITES)
    sample = facilities[::step]
    counts = cKDTree(instance.demand_xy).query_ball_point(
        sample, radius * (1 + 1e-9) + 1e-9, return_length=True)
    exact = step == 1
    total = float(np.sum(counts)) * (len(facilities) / len(sample))
    return round(total), exact


def estimate_memory(instance: SitingInstance) -> MemoryEstimate:
    r"""The estimated peak memory of solving ``instance``:
    :math:`M_0 + \beta P + \gamma (n_{units} + n_{sites} n_{types})`."""
    pairs, exact = count_pairs(instance)
    rows = instance.n_demand + instance.n_sites * max(1, instance.n_types)
    return MemoryEstimate(pairs, exact,
                          BASE_BYTES + BYTES_PER_PAIR * pairs + BYTES_PER_ROW * rows)


def human_size(size: float) -> str:
    """``1.3 GiB``, ``420 MiB``."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}"
    return f"{int(size)} bytes"


def check_memory(instance: SitingInstance, *, available: int | None = None
                 ) -> MemoryEstimate:
    """Refuse a model that would not fit, before it is built.

    Parameters
    ----------
    instance
        The instance about to be solved.
    available
        Bytes the solve may use; :func:`available_memory` when None.

    Returns
    -------
    MemoryEstimate
        The estimate, when it fits (or the memory available is unknown).

    Raises
    ------
    TooLargeError
        The estimate exceeds :data:`USABLE_SHARE` of the memory available; the message
        names both sizes and the pairs behind the estimate.
    """
    estimate = estimate_memory(instance)
    room = available_memory() if available is None else available
    if room is None or estimate.bytes <= USABLE_SHARE * room:
        return estimate
    radius = float(instance.reach_radii.max())
    about = "" if estimate.exact_pairs else "about "
    raise TooLargeError([Problem(
        f"the model is too large for this machine: it needs about "
        f"{human_size(estimate.bytes)} of memory ({about}{estimate.pairs:,} unit-site pairs "
        f"within {radius:,.0f} m for {instance.n_demand:,} units and {instance.n_sites:,} "
        f"sites), but only {human_size(room)} is available; use smaller radii, fewer or "
        f"larger demand units, or solve the districts apart (lifecircle batch)")])
