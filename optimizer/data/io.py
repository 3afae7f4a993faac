"""Reading tables with precise, collected error reports (file, row, column).

Rows are numbered from 1 after the header, as a spreadsheet user counts data rows.
"""

from __future__ import annotations

import functools
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ParamSpec, TypeVar

import numpy as np
import pandas as pd

from optimizer.errors import InputError, Problem, ProblemCollector

TEXT_ENCODINGS = ("utf-8-sig", "gb18030")
"""Encodings tried in turn for CSV files (UTF-8 first, then the Chinese national set)."""


GEO_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".parquet", ".geoparquet", ".fgb")
"""Files read with geopandas (pyogrio); their geometry gives the coordinates."""

GEOMETRY_X, GEOMETRY_Y = "__geometry_x", "__geometry_y"
"""Columns added to a geodata table: the point (or polygon representative point) coords."""


_P = ParamSpec("_P")
_R = TypeVar("_R")


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters shown escaped (``\\n``,
    ``\\x1e``), as ``repr`` shows them: a value echoed from a file stays on one line."""
    return "".join(repr(c)[1:-1] if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
                   for c in text)


def one_line_problems(problems: Iterable[Problem]) -> list[Problem]:
    """The problems with message, file and column each on one line (see :func:`one_line`)."""
    return [replace(p, message=one_line(p.message),
                    file=None if p.file is None else one_line(p.file),
                    column=None if p.column is None else one_line(p.column))
            for p in problems]


def single_line_problems(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorator: an :class:`InputError` leaves ``function`` with every problem on one line
    (names and values echoed from the input may hold line breaks)."""

    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return function(*args, **kwargs)
        except InputError as error:
            cleaned = one_line_problems(error.problems)
            if cleaned == list(error.problems):
                raise
            raise InputError(cleaned) from error

    return wrapper


@dataclass(frozen=True, eq=False)
class Table:
    """A table read as text columns, with the CRS its geometry declared (geodata only)."""

    frame: pd.DataFrame
    crs: str | None = None
    has_geometry: bool = False


def _read_geodata(path: Path, *, label: str, problems: ProblemCollector,
                  encoding: str | None, layer: str | None) -> Table | None:
    try:
        import geopandas as gpd
    except ImportError:
        problems.add("reading geodata needs geopandas: pip install 'lifecircle[geo]'",
                     file=label)
        return None
    options: dict[str, object] = {}
    if encoding:
        options["encoding"] = encoding
    if layer:
        options["layer"] = layer
    try:
        if path.suffix.lower() in (".parquet", ".geoparquet"):
            data = gpd.read_parquet(path)
        else:
            data = gpd.read_file(path, **options)
    except Exception as error:  # drivers raise many types: report one line
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        problems.add(f"cannot read the file: {text}", file=label)
        return None
    if len(data) == 0:
        problems.add("the file has no features", file=label)
        return None
    frame = pd.DataFrame(
        {c: data[c].astype(str).where(data[c].notna(), "") for c in data.columns
         if c != data.geometry.name}
    )
    geometry = data.geometry
    empty = geometry.isna() | geometry.is_empty
    for row in np.nonzero(empty.to_numpy())[0][:5]:
        problems.add("feature has no geometry", file=label, row=int(row) + 1,
                     column=str(data.geometry.name))
    # Points stay; polygons and lines become a representative point, which (unlike the
    # centroid) always lies on the feature: a U-shaped block's point stays inside it.
    # Empty geometries of any type stay blank; huge coordinates give inf (reported below).
    xs, ys = np.full(len(data), np.nan), np.full(len(data), np.nan)
    with np.errstate(all="ignore"):
        points = geometry[~empty].representative_point()
        xs[~empty.to_numpy()] = points.x.to_numpy(dtype=float)
        ys[~empty.to_numpy()] = points.y.to_numpy(dtype=float)
    frame[GEOMETRY_X] = xs.astype(str)
    frame[GEOMETRY_Y] = ys.astype(str)
    crs = data.crs.to_string() if data.crs is not None else None
    return Table(frame, crs, has_geometry=True)


def read_table(
    path: Path,
    *,
    label: str,
    problems: ProblemCollector,
    encoding: str | None = None,
    layer: str | None = None,
) -> Table | None:
    """Read CSV, Excel or geodata as text columns; record a problem and return None on failure.

    CSV is tried as UTF-8 then GB18030 unless ``encoding`` is given. Geodata (GeoPackage,
    GeoJSON, Shapefile, GeoParquet, FlatGeobuf) is read with geopandas; ``encoding`` is passed
    on (GBK shapefiles without a ``.cpg`` are common), ``layer`` picks a GeoPackage layer.
    """
    if not path.exists():
        problems.add(f"file not found: {path}", file=label)
        return None
    suffix = path.suffix.lower()
    if suffix in GEO_SUFFIXES:
        return _read_geodata(path, label=label, problems=problems, encoding=encoding,
                             layer=layer)
    if suffix in (".xlsx", ".xls"):
        try:
            frame = pd.read_excel(path, dtype=str).fillna("")
        except Exception as error:  # zipfile, openpyxl and missing engines raise many types
            if isinstance(error, ImportError):
                why = "this kind of workbook needs a reader that is not installed"
            elif isinstance(error, zipfile.BadZipFile | KeyError):
                why = "damaged, or not an .xlsx workbook"
            else:
                why = str(error).strip().splitlines()[0] if str(error).strip() else \
                    type(error).__name__
            problems.add(f"cannot read the file as an Excel workbook ({why}); save it as "
                         f".xlsx or CSV", file=label)
            return None
        return _checked(frame, label, problems)
    frame = None
    try:
        for attempt in ((encoding,) if encoding else TEXT_ENCODINGS):
            try:
                frame = pd.read_csv(
                    path, dtype=str, keep_default_na=False, encoding=attempt,
                    skipinitialspace=True,
                )
                break
            except UnicodeDecodeError:
                continue
        if frame is None:
            tried = encoding or " or ".join(TEXT_ENCODINGS)
            problems.add(
                f"cannot decode the file as {tried}; save it as UTF-8 or set encoding",
                file=label,
            )
            return None
    except pd.errors.EmptyDataError:
        problems.add("the file is empty", file=label)
        return None
    except LookupError:
        problems.add(f"unknown encoding '{encoding}'", file=label)
        return None
    except (pd.errors.ParserError, ValueError, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        problems.add(f"cannot read the file: {first_line}", file=label)
        return None
    return _checked(frame, label, problems)


def _checked(frame: pd.DataFrame, label: str, problems: ProblemCollector) -> Table | None:
    """Column names stripped; a table without rows or with a repeated column is refused."""
    frame.columns = [str(c).strip() for c in frame.columns]
    repeated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    for column in repeated:
        problems.add("the column appears more than once in the header", file=label,
                     column=column)
    if repeated:
        return None
    if frame.empty:
        problems.add("the file has a header but no rows", file=label)
        return None
    return Table(frame)


def require_columns(
    frame: pd.DataFrame, columns: list[str], *, label: str, problems: ProblemCollector
) -> bool:
    """Record a problem for each missing column; True if all are present."""
    missing = [c for c in columns if c not in frame.columns]
    for column in missing:
        available = ", ".join(map(str, frame.columns[:12]))
        problems.add(f"missing column (the file has: {available})", file=label, column=column)
    return not missing


def numeric_column(
    frame: pd.DataFrame,
    column: str,
    *,
    label: str,
    problems: ProblemCollector,
    allow_blank: bool = False,
    allow_negative: bool = False,
    max_reports: int = 5,
) -> np.ndarray:
    """Parse a column as float; record blanks, text and negatives with their row numbers."""
    raw = frame[column].astype(str).str.strip()
    values = np.array(pd.to_numeric(raw.where(raw != ""), errors="coerce"), dtype=float)
    blank = (raw == "").to_numpy() | raw.str.lower().isin(["nan", "na", "null", "none"]).to_numpy()
    text = np.isnan(values) & ~blank
    checks: list[tuple[np.ndarray, str]] = [(text, "is not a number")]
    checks.append((np.isinf(values), "is infinite"))
    if not allow_blank:
        checks.append((blank, "is blank or NaN"))
    if not allow_negative:
        checks.append((values < 0, "is negative"))
    for mask, what in checks:
        rows = np.nonzero(mask)[0]
        for row in rows[:max_reports]:
            problems.add(f"value '{raw.iloc[row]}' {what}", file=label, row=int(row) + 1,
                         column=column)
        if len(rows) > max_reports:
            problems.add(f"... and {len(rows) - max_reports} more rows where the value {what}",
                         file=label, column=column)
    values[blank] = np.nan
    return values


def id_column(
    frame: pd.DataFrame, column: str, *, label: str, problems: ProblemCollector
) -> np.ndarray:
    """Ids as stripped strings; record blank and duplicate ids with their rows."""
    ids = frame[column].astype(str).str.strip()
    for row in np.nonzero((ids == "").to_numpy())[0][:5]:
        problems.add("blank id", file=label, row=int(row) + 1, column=column)
    duplicated = ids.duplicated(keep="first") & (ids != "")
    for row in np.nonzero(duplicated.to_numpy())[0][:5]:
        first = int(np.nonzero((ids == ids.iloc[row]).to_numpy())[0][0]) + 1
        problems.add(f"duplicate id '{ids.iloc[row]}' (first seen in row {first})",
                     file=label, row=int(row) + 1, column=column)
    return ids.to_numpy(dtype=object)
