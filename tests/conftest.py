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


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Network-distance caches go to a temporary folder, not the user's home."""
    import os

    os.environ.setdefault("LIFECIRCLE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
