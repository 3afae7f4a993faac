"""The code base stays ruff-clean (ruff is a test dependency)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_ruff_clean() -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff not installed")
    done = subprocess.run([ruff, "check", "--quiet", str(REPO)], capture_output=True,
                          text=True, check=False, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:]
