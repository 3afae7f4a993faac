"""Shipped scenarios, runnable by name (``lifecircle solve sf-stores``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from optimizer.errors import InputError, Problem

DEFAULT_SCENARIO = "yuzhong-baseline"


def data_dir() -> Path:
    """The folder of the embedded data sets (the repository's ``data/``)."""
    return Path(str(resources.files("lifecircle_data")))


def shipped_scenarios() -> dict[str, Path]:
    """Name -> TOML path of every scenario shipped in ``data/``."""
    return {path.stem: path for path in sorted(data_dir().rglob("*.toml"))}


def resolve_scenario(scenario: str | Path) -> Path:
    """A path to a TOML file, or the name of a shipped scenario, as a path."""
    path = Path(scenario)
    if path.exists() or path.suffix == ".toml":
        return path
    shipped = shipped_scenarios()
    if str(scenario) in shipped:
        return shipped[str(scenario)]
    names = ", ".join(shipped) or "none"
    raise InputError([Problem(f"no scenario file or shipped scenario called '{scenario}' "
                              f"(shipped: {names})")])
