"""Policy briefs (:func:`briefs.make_brief`) as downloads from the app.

The HTML brief is made in the page's worker thread; the PDF is printed by headless Chromium
through Playwright's synchronous API, which must not share a thread with an event loop, so
it runs in a fresh process.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

PDF_TIMEOUT_S = 180.0


def brief_bytes(run_dirs: Sequence[Path], *, fmt: str, lang: str,
                names: Sequence[str] | None = None) -> bytes:
    """The brief of these run folders as ``html`` or ``pdf`` bytes."""
    from briefs import make_brief

    with tempfile.TemporaryDirectory(prefix="lifecircle-brief-") as folder:
        out = Path(folder) / f"brief.{fmt}"
        if fmt == "html":
            make_brief(list(run_dirs), out, lang=lang, names=names)  # type: ignore[arg-type]
        else:
            with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
                pool.submit(make_brief, list(run_dirs), out, lang=lang,
                            names=names).result(timeout=PDF_TIMEOUT_S)
        return out.read_bytes()
