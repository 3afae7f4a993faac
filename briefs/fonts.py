"""Chinese fonts for charts and printed pages: one lookup shared by briefs and plots.

matplotlib has no Chinese glyphs in its default font (DejaVu Sans), so every chart with
Chinese text asks :func:`cjk_family` for the first installed CJK font and sets it on its
text. Debian's ``fonts-noto-cjk`` (installed by ``.ci/run``) provides the first choice,
"Noto Sans CJK SC". HTML pages use :data:`CSS_FONT_STACK`: local fonts only, nothing is
fetched.
"""

from __future__ import annotations

CJK_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "WenQuanYi Micro Hei",
             "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC")
"""Fonts tried, in order, for Chinese text in plots; none found: the default font."""

CSS_FONT_STACK = '"Noto Sans CJK SC", "Noto Sans SC", sans-serif'
"""CSS ``font-family`` of printed pages (installed fonts only, no web font)."""


def _installed() -> frozenset[str]:
    from matplotlib import font_manager

    return frozenset(entry.name for entry in font_manager.fontManager.ttflist)


def cjk_family() -> str | None:
    """The first installed font of :data:`CJK_FONTS` known to matplotlib, or None."""
    installed = _installed()
    return next((name for name in CJK_FONTS if name in installed), None)


def use_cjk_font(figure: object, *, latin_first: bool = False) -> str | None:
    """Set every text of a matplotlib figure in :func:`cjk_family`, with DejaVu Sans (the
    default font) for the glyphs it lacks; ``latin_first`` puts DejaVu Sans first (English
    text, Chinese names still drawn). Returns the family, or None when no CJK font is
    installed (the figure is left unchanged)."""
    family = cjk_family()
    if family is None:
        return None
    from matplotlib.text import Text

    families = ["DejaVu Sans", family] if latin_first else [family, "DejaVu Sans"]
    for item in figure.findobj(Text):  # type: ignore[attr-defined]
        item.set_fontfamily(families)
    return family
