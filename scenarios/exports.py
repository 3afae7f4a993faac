"""Exports of a solved scenario: CSV for Excel, an XLSX workbook, a GeoPackage for GIS.

One library module shared by the CLI (``lifecircle solve --export``), the web app (download
buttons: every function returns ``bytes``) and briefs. Everything is built from the plan's
own tables (:meth:`~optimizer.results.Plan.chosen_sites`,
:meth:`~optimizer.results.Plan.coverage_by_type`, ...), so the exports always agree with
``summary.json`` and the CSV files of :func:`scenarios.runner.write_outputs`.

``geopandas``/``pyogrio`` (GeoPackage) and ``openpyxl`` (XLSX) are optional dependencies
(``pip install "lifecircle[geo]"``); they are imported only when those formats are asked for.
"""

from __future__ import annotations

import importlib
import io
import math
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scenarios.atomic import write_bytes_atomic
from scenarios.runner import ScenarioResult

if TYPE_CHECKING:
    import geopandas as gpd

EXPORT_FORMATS = ("csv", "xlsx", "gpkg")
"""Formats :func:`write_exports` writes."""

TABLES = ("summary", "sites", "by_type", "communities", "by_year", "coverage")
"""Names of the tables of :func:`plan_tables`, in order (``communities`` and ``by_year``
only where they apply)."""

UNIT_COVERAGE_COLUMNS = (
    "demand_id", "type", "population", "covered", "covered_existing", "serving_id",
    "serving_kind", "distance_m", "served", "credit",
)
"""Columns of the ``coverage`` table (also when the plan has no solution)."""

GROUP_COVERAGE_COLUMNS = ("population", "covered", "served", "unserved", "coverage_pct",
                          "served_pct")

_EXCEL_MAX_SHEET_NAME = 31
_EXCEL_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_EXCEL_ILLEGAL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True)
class Headline:
    """One headline number of a result (a row of the ``summary`` table and of a comparison).

    Attributes
    ----------
    key
        Stable machine key: ``status``, ``objective``, ``covered.park``...
    unit
        ``people``, ``%``, ``CNY``, ``sites``, ``weighted people``, ``ratio`` or ``""``.
    value
        The number (a string for ``scenario`` and ``status``); ``None`` where unknown: the
        plan has no solution, or there is no budget limit.
    outcome
        Whether the value comes from the plan (``False`` for inputs: budget, population).
    """

    key: str
    unit: str
    value: str | float | int | None
    outcome: bool = True


def _optional(module: str) -> Any:
    """Import an optional dependency, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"this export needs {module}: pip install \"lifecircle[geo]\""
                          ) from error


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def headline(result: ScenarioResult) -> list[Headline]:
    """The headline numbers of a result, in reading order.

    ``scenario``, ``status``, ``objective``, ``bound``, ``gap`` (a ratio, as in
    ``summary.json``), ``total_cost``, ``budget``, then per type ``new_sites.<type>``,
    ``population.<type>``, ``covered.<type>`` (existing coverage included),
    ``newly_covered.<type>`` and ``coverage_pct.<type>``. Where the plan has no solution,
    every outcome is ``None`` (only the status, budget and population are known).

    Parameters
    ----------
    result
        A solved (or unsolved) scenario.

    Returns
    -------
    list[Headline]
        One entry per number.
    """
    plan = result.plan
    solved = plan.has_solution
    objective_unit = "CNY" if result.spec.policy.objective == "min_cost" else "weighted people"

    def outcome(value: Any) -> float | None:
        return _number(value) if solved else None

    rows = [
        Headline("scenario", "", result.spec.name, outcome=False),
        Headline("status", "", str(plan.status)),
        Headline("objective", objective_unit, outcome(plan.objective)),
        Headline("bound", objective_unit, outcome(plan.bound)),
        Headline("gap", "ratio", outcome(plan.gap)),
        Headline("total_cost", "CNY", outcome(plan.total_cost)),
        Headline("budget", "CNY", _number(plan.instance.budget), outcome=False),
    ]
    for row in plan.coverage_by_type().itertuples(index=False):
        name = row.type
        rows += [
            Headline(f"new_sites.{name}", "sites", int(row.new_sites) if solved else None),
            Headline(f"population.{name}", "people", _number(row.population), outcome=False),
            Headline(f"covered.{name}", "people", outcome(row.covered)),
            Headline(f"newly_covered.{name}", "people", outcome(row.newly_covered)),
            Headline(f"coverage_pct.{name}", "%", outcome(row.coverage_pct)),
        ]
    return rows


def group_column(result: ScenarioResult) -> str | None:
    """The demand column coverage is grouped by: ``policy.group_by``, else ``community_id``,
    if the demand has it; ``None`` otherwise."""
    attributes = result.instance.demand_attributes
    if attributes is None:
        return None
    column = result.spec.policy.group_by or "community_id"
    return column if column in attributes.columns else None


def plan_tables(result: ScenarioResult) -> dict[str, pd.DataFrame]:
    """The plan as tables, the content of every export.

    Parameters
    ----------
    result
        A solved (or unsolved) scenario.

    Returns
    -------
    dict[str, pandas.DataFrame]
        ``summary``: two columns ``key, value`` with the headline numbers (see
        :func:`headline`; ``value`` empty where unknown). ``sites``: the chosen sites
        (:meth:`~optimizer.results.Plan.chosen_sites`). ``by_type``: coverage per type
        (:meth:`~optimizer.results.Plan.coverage_by_type`). ``communities``: coverage per
        group and type (:meth:`~optimizer.results.Plan.coverage_by_group`), only where the
        demand has ``policy.group_by`` or ``community_id``. ``by_year``: the year-by-year
        build list, only for multi-year phasing. ``coverage``: one row per demand unit and
        type (:meth:`~optimizer.results.Plan.unit_coverage`). Keys are in :data:`TABLES`
        order.
    """
    plan = result.plan
    numbers = headline(result)
    tables = {
        "summary": pd.DataFrame({"key": [h.key for h in numbers],
                                 "value": pd.Series([h.value for h in numbers], dtype=object)}),
        "sites": plan.chosen_sites(),
        "by_type": plan.coverage_by_type(),
    }
    column = group_column(result)
    if column is not None:
        groups = plan.coverage_by_group(column)
        if groups.columns.empty:  # no solution: same columns, no rows
            groups = pd.DataFrame(columns=["type", column, *GROUP_COVERAGE_COLUMNS])
        tables["communities"] = groups
    if plan.yearly_coverage:
        tables["by_year"] = plan.coverage_by_year()
    coverage = plan.unit_coverage()
    if coverage.empty:  # no solution: Plan leaves out `served` and `credit`
        coverage = coverage.reindex(columns=list(UNIT_COVERAGE_COLUMNS))
    tables["coverage"] = coverage
    return tables


def to_csv_bytes(result: ScenarioResult, table: str = "sites") -> bytes:
    """One table of :func:`plan_tables` as CSV bytes, for download or attachment.

    The bytes are UTF-8 **with a byte-order mark** (``utf-8-sig``): Excel opens such a file
    with Chinese (and any other non-ASCII) text intact, where plain UTF-8 shows mojibake on
    a Chinese-locale Windows. pandas, Python's ``csv`` (with ``encoding="utf-8-sig"``), QGIS
    and LibreOffice read it as well.

    Parameters
    ----------
    result
        A solved scenario.
    table
        A key of :func:`plan_tables`: ``summary``, ``sites``, ``by_type``, ``communities``,
        ``by_year`` or ``coverage``.

    Raises
    ------
    KeyError
        The result has no such table (``communities`` without a grouping column...).
    """
    tables = plan_tables(result)
    if table not in tables:
        raise KeyError(f"no table {table!r}: this result has {', '.join(tables)}")
    return tables[table].to_csv(index=False).encode("utf-8-sig")


def _cell(value: Any) -> Any:
    """A value openpyxl writes as data: numpy scalars unwrapped, NaN/inf/NA blank."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    text = value if isinstance(value, str) else str(value)
    return _EXCEL_ILLEGAL_CHARS.sub("", text) or None


def _sheet_name(name: str, used: set[str]) -> str:
    """A valid, unique Excel sheet name: no ``[]:*?/\\``, at most 31 characters, not blank,
    no leading or trailing apostrophe, unique ignoring case."""
    base = _EXCEL_BAD_SHEET_CHARS.sub("_", str(name)).strip().strip("'") or "sheet"
    base = base[:_EXCEL_MAX_SHEET_NAME]
    candidate, k = base, 1
    while candidate.casefold() in used:
        k += 1
        suffix = f" ({k})"
        candidate = base[: _EXCEL_MAX_SHEET_NAME - len(suffix)] + suffix
    used.add(candidate.casefold())
    return candidate


def _write_sheet(workbook: Any, title: str, frame: pd.DataFrame) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    sheet = workbook.create_sheet(title)
    sheet.append([str(c) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        sheet.append([_cell(v) for v in row])
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if cell.data_type == "f":  # text starting with "=" is data, never a formula
                cell.data_type = "s"
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for k, column in enumerate(frame.columns, start=1):
        sample = [str(column), *(str(v) for v in frame[column].head(200))]
        width = min(50, max(8, *(len(s) for s in sample)) + 2)
        sheet.column_dimensions[get_column_letter(k)].width = width


def to_xlsx_bytes(result: ScenarioResult) -> bytes:
    """An Excel workbook of the plan.

    Sheets: ``summary``, ``sites``, ``by_type``, ``communities`` (where the demand has a
    grouping column), ``by_year`` (multi-year phasing), then one sheet per facility type
    with that type's rows of the ``coverage`` table. Sheet names are made valid for Excel
    (a type named ``a/b`` becomes sheet ``a_b``; names are cut to 31 characters and made
    unique). Blank cells are missing values; text is never read as a formula.

    Parameters
    ----------
    result
        A solved scenario.

    Returns
    -------
    bytes
        The ``.xlsx`` file.
    """
    Workbook = _optional("openpyxl").Workbook
    tables = plan_tables(result)
    coverage = tables.pop("coverage")
    workbook = Workbook()
    workbook.remove(workbook.active)
    used: set[str] = set()
    for name, frame in tables.items():
        _write_sheet(workbook, _sheet_name(name, used), frame)
    for name in result.instance.type_names:
        rows = coverage[coverage["type"] == name].reset_index(drop=True)
        _write_sheet(workbook, _sheet_name(name, used), rows)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def plan_layers(result: ScenarioResult, *, wgs84: bool = False) -> dict[str, gpd.GeoDataFrame]:
    """The plan as point layers, the content of the GeoPackage.

    Parameters
    ----------
    result
        A solved scenario.
    wgs84
        Reproject to EPSG:4326 (longitude/latitude) instead of the instance's metric CRS.

    Returns
    -------
    dict[str, geopandas.GeoDataFrame]
        ``sites``: the chosen sites with every column of
        :meth:`~optimizer.results.Plan.chosen_sites` (``x``, ``y`` stay metric).
        ``coverage``: one point per demand unit: ``demand_id``, then per type ``<type>_``
        ``population``, ``covered``, ``covered_existing``, ``newly_covered`` (covered by
        the plan's new sites only), ``served`` (people), ``distance_m`` and ``serving_id``
        (the nearest facility in reach), then the demand's other columns (community...).
        Where the plan has no solution the coverage columns are blank.

    Raises
    ------
    ValueError
        ``wgs84`` with an instance that has no CRS.
    """
    gpd = _optional("geopandas")
    plan, inst = result.plan, result.instance
    if wgs84 and inst.crs is None:
        raise ValueError("the instance has no CRS, so it cannot be reprojected to WGS84")
    sites = plan.chosen_sites()
    layers = {
        "sites": gpd.GeoDataFrame(
            sites, geometry=gpd.points_from_xy(sites["x"], sites["y"]), crs=inst.crs),
    }
    columns: dict[str, Any] = {"demand_id": inst.demand_ids.astype(str)}
    coverage = plan.unit_coverage()
    for t, name in enumerate(inst.type_names):
        columns[f"{name}_population"] = inst.population[:, t]
        if plan.coverage is None:
            for field in ("covered", "covered_existing", "newly_covered", "served",
                          "distance_m"):
                columns[f"{name}_{field}"] = np.full(inst.n_demand, np.nan)
            columns[f"{name}_serving_id"] = np.full(inst.n_demand, None, dtype=object)
            continue
        rows = coverage[coverage["type"] == name]
        covered = rows["covered"].to_numpy(dtype=bool)
        existing = rows["covered_existing"].to_numpy(dtype=bool)
        columns[f"{name}_covered"] = covered
        columns[f"{name}_covered_existing"] = existing
        columns[f"{name}_newly_covered"] = covered & ~existing
        columns[f"{name}_served"] = rows["served"].to_numpy(dtype=float)
        columns[f"{name}_distance_m"] = rows["distance_m"].to_numpy(dtype=float)
        columns[f"{name}_serving_id"] = rows["serving_id"].replace("", None).to_numpy(
            dtype=object)
    units = pd.DataFrame(columns)
    attributes = inst.demand_attributes
    if attributes is not None and len(attributes.columns):
        extra = attributes.reset_index(drop=True)
        extra = extra.drop(columns=[c for c in extra.columns
                                    if c in units.columns or str(c).lower() == "geometry"])
        units = pd.concat([units, extra], axis=1)
    layers["coverage"] = gpd.GeoDataFrame(
        units, geometry=gpd.points_from_xy(inst.demand_xy[:, 0], inst.demand_xy[:, 1]),
        crs=inst.crs)
    if wgs84:
        layers = {name: layer.to_crs("EPSG:4326") for name, layer in layers.items()}
    return layers


def to_geopackage_bytes(result: ScenarioResult, *, wgs84: bool = False) -> bytes:
    """A GeoPackage of the plan with layers ``sites`` and ``coverage`` (see
    :func:`plan_layers`), for QGIS, ArcGIS or any OGR reader.

    Written by pyogrio to a temporary file (GeoPackage is SQLite and needs a real file),
    then read back as bytes.

    Parameters
    ----------
    result
        A solved scenario.
    wgs84
        Write longitude/latitude (EPSG:4326) instead of the instance's metric CRS.

    Returns
    -------
    bytes
        The ``.gpkg`` file.
    """
    pyogrio = _optional("pyogrio")
    layers = plan_layers(result, wgs84=wgs84)
    with tempfile.TemporaryDirectory(prefix="lifecircle-gpkg-") as folder:
        path = Path(folder) / "plan.gpkg"
        for name, layer in layers.items():
            pyogrio.write_dataframe(layer, path, layer=name, driver="GPKG",
                                    geometry_type="Point")
        return path.read_bytes()


def export_files(out_dir: str | Path) -> list[Path]:
    """The export files :func:`write_exports` may write in ``out_dir`` (``plan.xlsx``,
    ``plan.gpkg``, ``plan_<table>.csv``), whether they exist or not."""
    out = Path(out_dir)
    return [out / "plan.xlsx", out / "plan.gpkg", *(out / f"plan_{t}.csv" for t in TABLES)]


def remove_exports(out_dir: str | Path, keep: Iterable[str | Path] = ()) -> list[Path]:
    """Remove the export files of an earlier run from ``out_dir``, except those in ``keep``
    (e.g. the paths :func:`write_exports` just wrote), so that a folder holds only the
    exports of the run written last. Other files are never touched. Returns those removed."""
    kept = {Path(path) for path in keep}
    removed = []
    for path in export_files(out_dir):
        if path not in kept and path.exists():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def check_formats(formats: Iterable[str]) -> tuple[str, ...]:
    """The export formats, lower-cased and without repeats, in the order given.

    Raises
    ------
    ValueError
        An unknown format (the message lists the known ones).
    """
    chosen: list[str] = []
    for name in formats:
        name = name.strip().lower()
        if name not in EXPORT_FORMATS:
            raise ValueError(f"unknown export format {name!r} (known: "
                             f"{', '.join(EXPORT_FORMATS)})")
        if name not in chosen:
            chosen.append(name)
    return tuple(chosen)


def write_exports(
    result: ScenarioResult,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = EXPORT_FORMATS,
    wgs84: bool = False,
) -> dict[str, Path]:
    """Write the exports next to :func:`~scenarios.runner.write_outputs`'s files.

    ``xlsx`` writes ``plan.xlsx``, ``gpkg`` writes ``plan.gpkg``, ``csv`` writes every table
    of :func:`plan_tables` as ``plan_<table>.csv`` (UTF-8 with BOM, for Excel; a
    ``plan_<table>.csv`` of an earlier run that this result has no such table for is
    removed). Each file is written atomically (:func:`scenarios.atomic.write_bytes_atomic`:
    a temporary file in ``out_dir``, fsynced, renamed over the target).

    Parameters
    ----------
    result
        A solved scenario.
    out_dir
        Output folder (created if missing).
    formats
        Any of ``csv``, ``xlsx``, ``gpkg``.
    wgs84
        GeoPackage in longitude/latitude (EPSG:4326) instead of the metric CRS.

    Returns
    -------
    dict[str, Path]
        ``xlsx``, ``gpkg`` and ``csv_<table>`` to the files written.

    Raises
    ------
    ValueError
        An unknown format.
    """
    chosen = check_formats(formats)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for fmt in chosen:
        if fmt == "csv":
            tables = plan_tables(result)
            for table, frame in tables.items():
                paths[f"csv_{table}"] = out / f"plan_{table}.csv"
                write_bytes_atomic(paths[f"csv_{table}"],
                                   frame.to_csv(index=False).encode("utf-8-sig"))
            for table in set(TABLES) - set(tables):  # an earlier run's, not this result's
                (out / f"plan_{table}.csv").unlink(missing_ok=True)
        elif fmt == "xlsx":
            paths["xlsx"] = out / "plan.xlsx"
            write_bytes_atomic(paths["xlsx"], to_xlsx_bytes(result))
        else:
            paths["gpkg"] = out / "plan.gpkg"
            write_bytes_atomic(paths["gpkg"], to_geopackage_bytes(result, wgs84=wgs84))
    return paths
