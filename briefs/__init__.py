"""Policy briefs: the printable story of a solved plan, in Chinese or English.

:func:`make_brief` turns one or more run folders (what ``lifecircle solve`` writes) into a
self-contained HTML page or an A4 PDF: a one-page summary per plan, maps, the per-community
table, the site list, a comparison when several runs are given, and a method page. The
command line is ``lifecircle brief RUN_DIR [RUN_DIR ...] --out brief.html|brief.pdf``.

Importing :mod:`briefs` is cheap: the renderer (Jinja2, Babel, matplotlib, Playwright) is
loaded on first use of :func:`make_brief`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from briefs.brief import make_brief

__all__ = ["make_brief"]


def __getattr__(name: str) -> Any:
    if name == "make_brief":
        from briefs.brief import make_brief

        return make_brief
    raise AttributeError(f"module 'briefs' has no attribute {name!r}")
