"""Compile the search kernels ahead of the first real solve (``lifecircle warmup``).

The local search (:mod:`optimizer.search.local_search`) is compiled by numba on first use
and the machine code cached on disk (``optimizer/search/__pycache__/*.nbi, *.nbc`` next to
the installed package, or under ``$NUMBA_CACHE_DIR`` when set; numba falls back to a
per-user cache folder when the package's folder is read-only). Compiling takes 10-20 s, so
the very first solve after installing (or after the package is updated) is slow.
:func:`warm_up` pays that once, up front, by solving a small built-in instance that runs
every kernel a real solve runs; later processes load the cached code in a fraction of a
second. The web app runs it in a background thread when the server starts
(:func:`webapp.session.start_warmup`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from optimizer.data.instance import FacilityType, SitingInstance


def warmup_instance(seed: int = 7) -> SitingInstance:
    """A small synthetic three-type instance (400 units, 60 sites, 2 existing facilities on
    a 2 km square): big enough that the greedy, the swap descent, the iterated search and the
    solution merging all run, small enough to solve in about a second once compiled."""
    rng = np.random.default_rng(seed)
    n, m = 400, 60
    demand_xy = rng.uniform(0.0, 2000.0, size=(n, 2))
    total = rng.integers(20, 400, size=n).astype(float)
    population = np.column_stack([total, np.round(0.2 * total), np.round(0.03 * total)])
    site_xy = rng.uniform(0.0, 2000.0, size=(m, 2))
    cost = rng.uniform(2e5, 1.2e6, size=(m, 3))
    cost[rng.random((m, 3)) < 0.3] = np.nan  # not every site can take every type
    cost[np.isnan(cost).all(axis=1), 0] = 5e5
    types = (FacilityType("park", 300.0, 1.0, "pop_total"),
             FacilityType("canteen", 500.0, 2.0, "pop_60plus"),
             FacilityType("childcare", 300.0, 3.0, "pop_0_3"))
    return SitingInstance(
        types=types,
        demand_ids=np.array([f"D{i:03d}" for i in range(n)], dtype=object),
        demand_xy=demand_xy, population=population,
        site_ids=np.array([f"S{j:02d}" for j in range(m)], dtype=object),
        site_xy=site_xy, site_cost=cost, budget=6e6,
        existing_ids=np.array(["E1", "E2"], dtype=object),
        existing_xy=np.array([[500.0, 500.0], [1500.0, 1500.0]]),
        existing_type=np.array([0, 1], dtype=np.int64),
        crs="EPSG:32648",
    )


def kernel_cache_dir() -> Path:
    """Where numba caches the compiled search kernels (see the module's notes)."""
    from numba.core.registry import CPUDispatcher

    from optimizer.search import local_search

    kernel = next(v for v in vars(local_search).values() if isinstance(v, CPUDispatcher))
    return Path(kernel._cache._cache_path)


def warm_up(*, time_limit_s: float = 30.0) -> float:
    """Solve :func:`warmup_instance` so that every search kernel is compiled and cached.

    Parameters
    ----------
    time_limit_s
        Limit of the solve (compiling is not counted against it by the search, which starts
        its clock after the kernels are loaded; the instance solves to optimality in about a
        second).

    Returns
    -------
    float
        Wall-clock seconds it took (10-20 s when compiling, about 1 s when cached).
    """
    from optimizer.solve import solve

    started = time.perf_counter()
    solve(warmup_instance(), time_limit_s=time_limit_s, mip_gap=1e-4, seed=0)
    return time.perf_counter() - started
