"""Helpers shared by the input-validation tests: edit a copied scenario, collect messages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from optimizer.errors import InputError
from scenarios.loader import build_instance
from scenarios.spec import load_scenario


def messages(scenario: Path) -> list[str]:
    """The one-line problems that loading ``scenario`` reports (it must fail)."""
    with pytest.raises(InputError) as caught:
        build_instance(load_scenario(scenario))
    return [str(p) for p in caught.value.problems]


def edit_csv(path: Path, edit: Callable[[pd.DataFrame], pd.DataFrame | None]) -> None:
    """Rewrite a CSV through ``edit`` (in place, or returning a new frame)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    changed = edit(frame)
    (frame if changed is None else changed).to_csv(path, index=False)


def edit_toml(folder: Path, old: str, new: str) -> Path:
    """Replace ``old`` (which must occur) by ``new`` in ``folder/scenario.toml``."""
    path = folder / "scenario.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return path
