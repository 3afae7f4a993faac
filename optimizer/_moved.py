"""Old module paths from before the layers, kept importable as aliases of the moved modules.

``import optimizer.coverage`` (or ``from optimizer import coverage``, or
``from optimizer.coverage import compute_reach``) gives the very module object
:mod:`optimizer.data.coverage`, so attributes set on it (a test's monkeypatch, say) reach
the code that uses them. The finder is installed when ``optimizer/__init__.py`` imports
this module; it answers only for the names in :data:`MOVED` and imports the new module
when an old name is first asked for.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

#: old module name -> the module it moved to
MOVED: dict[str, str] = {
    "optimizer.instance": "optimizer.data.instance",
    "optimizer.io": "optimizer.data.io",
    "optimizer.mclp_formats": "optimizer.data.mclp_formats",
    "optimizer.projection": "optimizer.data.projection",
    "optimizer.coverage": "optimizer.data.coverage",
    "optimizer.network": "optimizer.data.network",
    "optimizer.policy": "optimizer.model.policy",
    "optimizer.reduce": "optimizer.model.reduce",
    "optimizer.components": "optimizer.model.components",
    "optimizer.phasing": "optimizer.model.phasing",
    "optimizer.heuristics": "optimizer.search.heuristics",
    "optimizer.local_search": "optimizer.search.local_search",
    "optimizer.bounds": "optimizer.search.bounds",
    "optimizer.subproblem": "optimizer.search.subproblem",
    "optimizer.lns": "optimizer.search.lns",
    "optimizer.portfolio": "optimizer.search.portfolio",
}
# ``optimizer.model`` (the MILP module) became a package; it serves the MILP's names itself.


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old name and loads it as the new module (put in ``sys.modules`` under both)."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # a throwaway module; exec_module replaces it

    def exec_module(self, module: types.ModuleType) -> None:
        # The import system returns whatever sys.modules holds under the name after this.
        sys.modules[module.__name__] = importlib.import_module(MOVED[module.__name__])


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())


install()
