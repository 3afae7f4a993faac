"""Reading tables with precise, collected error reports (file, row, column).

Rows are numbered from 1 after the header, as a spreadsheet user counts data rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.errors import ProblemCollector

TEXT_ENCODINGS = ("utf-8-sig", "gb18030")
"""Encodings tried in turn for CSV files (UTF-8 first, then the Chinese national set)."""


def read_table(path: Path, *, label: str, problems: ProblemCollector) -> pd.DataFrame | None:
    """Read a CSV or Excel table as strings; record a problem and return None on failure."""
    if not path.exists():
        problems.add(f"file not found: {path}", file=label)
        return None
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xls"):
            frame = pd.read_excel(path, dtype=str)
        else:
            frame = None
            for encoding in TEXT_ENCODINGS:
                try:
                    frame = pd.read_csv(
                        path, dtype=str, keep_default_na=False, encoding=encoding,
                        skipinitialspace=True,
                    )
                    break
                except UnicodeDecodeError:
                    continue
            if frame is None:
                problems.add(
                    f"cannot decode the file as {' or '.join(TEXT_ENCODINGS)}; save it as UTF-8",
                    file=label,
                )
                return None
    except pd.errors.EmptyDataError:
        problems.add("the file is empty", file=label)
        return None
    except (pd.errors.ParserError, ValueError, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        problems.add(f"cannot read the file: {first_line}", file=label)
        return None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        problems.add("the file has a header but no rows", file=label)
        return None
    return frame


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
