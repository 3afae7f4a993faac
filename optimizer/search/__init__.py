"""Search layer: plans and bounds found without (or beside) the MIP.

Modules: :mod:`~optimizer.search.heuristics` (greedy and descent),
:mod:`~optimizer.search.local_search` (the compiled kernels),
:mod:`~optimizer.search.bounds` (Lagrangian and LP bounds),
:mod:`~optimizer.search.subproblem` and :mod:`~optimizer.search.lns` (exact re-optimisation
of regions), :mod:`~optimizer.search.portfolio` (search and MIP side by side).
"""
