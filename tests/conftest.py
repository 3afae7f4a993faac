from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    """A writable copy of the tiny three-type scenario."""
    target = tmp_path / "tiny"
    shutil.copytree(DATA / "tiny", target)
    return target
