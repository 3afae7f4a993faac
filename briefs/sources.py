"""Where a scenario's data come from: the notes (``README.md``) kept next to the data.

Data folders in lifecircle carry a ``README.md`` stating what the data are, their sources
and licence (``data/yuzhong/README.md``, ``data/README.md``). :func:`data_notes` finds the
notes for a scenario's demand file and extracts what a brief's method page needs: the
title, whether the data are synthetic, the source list and the licence lines. Nothing is
invented: without notes the brief says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from scenarios.spec import ScenarioSpec

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^\s*[-*]\s+(.*)$")
_LICENCE = re.compile(r"licen[cs]e", re.IGNORECASE)
_SYNTHETIC = re.compile(r"\bSYNTHETIC\b")


@dataclass(frozen=True)
class DataNotes:
    """What the data notes say about one scenario's data.

    Attributes
    ----------
    path
        The notes file (None when there is none).
    title
        Its title or the heading of the section about the data folder.
    synthetic
        True when the notes or the scenario description call the data SYNTHETIC (upper
        case, as the project's generated data are labelled).
    sources
        The items of the "Sources" list (markdown removed), or the section's items when the
        notes have no such list.
    licences
        Sentences that state a licence.
    """

    path: Path | None
    title: str
    synthetic: bool
    sources: tuple[str, ...]
    licences: tuple[str, ...]


def plain(text: str) -> str:
    """Markdown emphasis, code marks and links removed; whitespace collapsed."""
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 (\2)", text)
    text = text.replace("**", "").replace("`", "")
    return re.sub(r"\s+", " ", text).strip()


def _sections(lines: list[str]) -> list[tuple[int, str, list[str]]]:
    """(level, heading, body lines) for the text before the first heading and each section."""
    out: list[tuple[int, str, list[str]]] = [(0, "", [])]
    for line in lines:
        match = _HEADING.match(line)
        if match:
            out.append((len(match.group(1)), match.group(2).strip(), []))
        else:
            out[-1][2].append(line)
    return out


def _items(body: list[str]) -> list[str]:
    """Bullet items with their continuation lines, as plain text."""
    items: list[list[str]] = []
    for line in body:
        match = _BULLET.match(line)
        if match:
            items.append([match.group(1)])
        elif items and line.startswith("  ") and line.strip():
            items[-1].append(line.strip())
        elif not line.strip():
            continue
        elif items:
            items.append([])  # a paragraph ends the list item
    return [plain(" ".join(parts)) for parts in items if parts]


def _sentences_with_licence(text: str) -> list[str]:
    parts = re.split(r"(?<=[.;])\s+(?=[A-Z*])", plain(text))
    return [p for p in parts if _LICENCE.search(p)]


def _block(sections: list[tuple[int, str, list[str]]], start: int) -> list[tuple[int, str,
                                                                                 list[str]]]:
    """Section ``start`` and its subsections."""
    level = sections[start][0]
    end = next((k for k in range(start + 1, len(sections)) if sections[k][0] <= level),
               len(sections))
    return sections[start:end]


def _paragraphs(sections: list[tuple[int, str, list[str]]]) -> list[str]:
    """Headings, bullet items and paragraphs, each as one plain line."""
    out: list[str] = []
    for _, heading, body in sections:
        if heading:
            out.append(plain(heading))
        current: list[str] = []
        for line in [*body, ""]:
            if not line.strip() or _BULLET.match(line):
                if current:
                    out.append(plain(" ".join(current)))
                current = []
            if line.strip():
                current.append(_BULLET.sub(r"\1", line))
    return out


def _notes_from(path: Path, folder: Path | None, description: str) -> DataNotes:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    sections = _sections(lines)
    title = next((plain(s[1]) for s in sections if s[0] == 1), path.parent.name)
    sources: list[str] = []
    if folder is not None:  # a shared README: the section or item about this folder
        markers = [f"`{folder.name}/`", f"`{folder.parent.name}/`"]
        start = next((k for k, s in enumerate(sections) if markers[0] in s[1]), None)
        item = next((p for p in _paragraphs(sections) if plain(markers[0]) in p
                     and p.startswith(plain(markers[0]))), None)
        if start is None and item is None:
            start = next((k for k, s in enumerate(sections) if markers[1] in s[1]), None)
        if start is not None:
            sections = _block(sections, start)
            title = plain(sections[0][1])
        elif item is not None:
            sections, sources = [], [item]
        else:
            sections = []
    paragraphs = _paragraphs(sections) if sections else sources
    source_sections = [s for s in sections if re.search(r"\bsources?\b", s[1], re.IGNORECASE)]
    if source_sections:
        sources = [item for s in source_sections for item in _items(s[2])]
    elif folder is not None and sections:
        sources = [item for s in sections for item in _items(s[2])]
    licences: list[str] = []
    for paragraph in paragraphs:
        for sentence in _sentences_with_licence(paragraph):
            if sentence not in licences:
                licences.append(sentence)
    text = "\n".join(paragraphs)
    synthetic = bool(_SYNTHETIC.search(text) or _SYNTHETIC.search(description))
    title = re.sub(r"^[\w.-]+/:\s*", "", title)  # "yuzhong/: a ..." -> "a ..."
    title = title[:1].upper() + title[1:]
    licences = [re.sub(r"^licen[cs]e:\s*", "", item, flags=re.IGNORECASE) for item in licences]
    return DataNotes(path, title, synthetic, tuple(sources), tuple(licences))


def data_notes(spec: ScenarioSpec) -> DataNotes:
    """The data notes of a scenario: ``README.md`` beside its demand file, else the
    section about that folder in a ``README.md`` one or two folders up."""
    folder = spec.demand.path.parent
    description = spec.description or ""
    own = folder / "README.md"
    if own.exists():
        return _notes_from(own, None, description)
    for parent in list(folder.parents)[:2]:
        shared = parent / "README.md"
        if shared.exists() and any(
                f"`{name}/`" in shared.read_text(encoding="utf-8", errors="replace")
                for name in (folder.name, folder.parent.name)):
            return _notes_from(shared, folder, description)
    return DataNotes(None, "", bool(_SYNTHETIC.search(description)), (), ())
