"""Model layer: the policy, the reductions and the MILP built from them.

Modules: :mod:`~optimizer.model.policy` (switches), :mod:`~optimizer.model.reduce`
(reductions that keep the optimum), :mod:`~optimizer.model.components` (small components
solved apart), :mod:`~optimizer.model.phasing` (years), :mod:`~optimizer.model.milp` (the
MILP's blocks).

``optimizer.model`` was the MILP module before the layers; its names (``build_milp``,
``MilpArrays``, ...) are still served from here, looked up in :mod:`~optimizer.model.milp`
when first asked for (not imported eagerly, since the data layer imports the policy).
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    from optimizer.model import milp

    try:
        return getattr(milp, name)
    except AttributeError:
        raise AttributeError(f"module 'optimizer.model' has no attribute {name!r}") from None
