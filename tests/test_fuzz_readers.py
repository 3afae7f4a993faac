"""Fuzzing every reader (hypothesis): bad input never escapes as anything but InputError.

Each reader gets random and malformed input: CSV (random bytes; random text with commas,
quotes, newlines, BOMs, in UTF-8 or GB18030; random headers and values), XLSX (openpyxl
workbooks with random cells, and corrupted bytes), GeoJSON (random JSON and random
features), GeoPackage (geopandas-written with random columns and geometry types, and
corrupted bytes), zipped Shapefiles through :func:`scenarios.uploads.save_upload` then the
loader, GraphML (random XML and random graphs; entity expansion is refused), and scenario
TOML (random text, and random but well-formed TOML) through
:func:`scenarios.spec.load_scenario` and :func:`scenarios.loader.build_instance`.

The property, for every reader: the call returns, or raises :class:`InputError` whose
problems are each one line naming the file; never another exception, never a hang (each
example has a deadline). A scenario that loads has finite coordinates, non-negative
populations and costs. Sizes: ``tests/hypothesis_profiles.py``.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import shutil
import tempfile
import time
import tomllib
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import geopandas
import networkx  # noqa: F401 - imported before the first example's deadline starts
import numpy as np
import openpyxl
import pytest
import tomli_w
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis_profiles import sized
from scenario_edits import messages

from optimizer.errors import InputError
from optimizer.instance import SitingInstance
from optimizer.network import load_network
from scenarios.loader import build_instance
from scenarios.spec import load_scenario
from scenarios.uploads import save_upload

pytestmark = pytest.mark.filterwarnings(
    # hypothesis's failure report imports libcst, which imports a deprecated module
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
TINY = Path(__file__).parent / "data" / "tiny"
CRS = "EPSG:32648"
DEADLINE_MS = 5_000
"""A reader taking longer than this on a small file is treated as hanging."""
ROLES = ("demand", "sites", "existing")
COLUMNS = ("id", "x", "y", "lon", "lat", "pop_total", "pop_60plus", "pop_0_3", "cost_park",
           "cost_canteen", "cost_childcare", "type", "kind", "area_m2")


# ------------------------------------------------------------------------------ harness


@contextmanager
def scenario_dir() -> Iterator[Path]:
    """A fresh writable copy of the tiny scenario (hypothesis runs many examples per test,
    so pytest's function-scoped ``tmp_path`` would be shared between them)."""
    with tempfile.TemporaryDirectory(prefix="lifecircle-fuzz-") as tmp:
        folder = Path(tmp) / "tiny"
        shutil.copytree(TINY, folder)
        yield folder


def point_to(folder: Path, role: str, name: str, extra: str = "") -> Path:
    """Point the scenario's ``role`` table at ``name`` (and append ``extra`` lines)."""
    path = folder / "scenario.toml"
    text = path.read_text(encoding="utf-8")
    quoted = json.dumps(name, ensure_ascii=False)  # a TOML basic string
    text = text.replace(f'{role} = "{role}.csv"', f"{role} = {quoted}")
    path.write_text(text.replace("\n[types.park]", f"{extra}\n[types.park]", 1),
                    encoding="utf-8")
    return path


def check_problems(error: InputError) -> None:
    """Each problem is one line and names the file it is in."""
    assert error.problems, "InputError without problems"
    for problem in error.problems:
        text = str(problem)
        assert text.strip(), "empty problem"
        assert len(text.splitlines()) == 1, f"problem spans several lines: {text!r}"
        assert problem.file, f"problem names no file: {text!r}"


OWN_CODE = tuple(str(Path(__file__).resolve().parents[1] / name) for name in ("optimizer",
                                                                              "scenarios"))


def only_input_errors(call: Callable[[], Any]) -> Any:
    """Run ``call``: return its result, or None after an InputError with good problems.
    Any other exception propagates and fails the test.

    Warnings are recorded, not raised: GDAL reports oddities it copes with (an unclosed
    ring, a one-dimensional point) as warnings, which pytest's "error" filter would turn
    into exceptions inside GDAL's callbacks. A warning raised by lifecircle's own code (a
    numpy overflow in the loader, say) fails the test.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return call()
        except InputError as error:
            check_problems(error)
            return None
        finally:
            own = [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})"
                   for w in caught if str(w.filename).startswith(OWN_CODE)]
            assert not own, own


def load(path: Path) -> SitingInstance | None:
    """The scenario through spec and loader; a loaded instance must be sane."""
    instance = only_input_errors(lambda: build_instance(load_scenario(path)))
    event("loaded" if instance is not None else "refused with InputError")
    if instance is not None:
        check_instance(instance)
    return instance


def check_instance(instance: SitingInstance) -> None:
    """What the loader lets through is usable: finite coordinates, populations and costs
    that are numbers >= 0 (or blank costs), a budget >= 0."""
    assert np.isfinite(instance.demand_xy).all() and np.isfinite(instance.site_xy).all()
    assert np.isfinite(instance.existing_xy).all()
    assert np.isfinite(instance.population).all() and (instance.population >= 0).all()
    cost = instance.site_cost
    assert (np.isnan(cost) | (np.isfinite(cost) & (cost >= 0))).all()
    assert instance.budget >= 0
    assert len(set(instance.site_ids)) == instance.n_sites
    assert len(set(instance.demand_ids)) == instance.n_demand


# ---------------------------------------------------------------------------- strategies

NUMBERS = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "nan", "NaN", "NA", "null", "None", "inf", "-inf", "1e400",
                     "-0", "0x10", "1,5", "1_000", "١٢", "１２", "12 m", "--1", "+5", ".5",
                     "5.", "1e-400", "9" * 400, "TRUE"]),
)
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]),
               max_size=12)
PRINTABLE = st.text(alphabet=st.characters(codec="utf-8",
                                           exclude_categories=["Cs", "Cc", "Zl", "Zp"]),
                    min_size=1, max_size=12)
TRICKY = st.sampled_from(['"', '""', ",", "\n", "\r\n", "\r", "\ufeff", "\x00", "\t",
                          "'", "\\", "中文", "𠀀", "é", " , ", '","'])
CELLS = st.one_of(NUMBERS, TEXT, TRICKY, st.sampled_from(["D000", "S01", "park",
                                                          "canteen", "E1"]))
HEADERS = st.one_of(st.sampled_from(COLUMNS), TEXT, TRICKY,
                    st.sampled_from(["ID", " id", "id ", "X", "经度", "纬度", "名称"]))


def quote(cell: str, always: bool) -> str:
    return '"' + cell.replace('"', '""') + '"' if always else cell


@st.composite
def csv_texts(draw: st.DrawFn) -> bytes:
    """Comma-separated text with random headers, cells, quoting, BOM and encoding."""
    width = draw(st.integers(1, 8))
    header = draw(st.lists(HEADERS, min_size=width, max_size=width))
    if draw(st.booleans()):  # mostly the right columns, so validation gets exercised
        header = list(draw(st.permutations(COLUMNS)))[:width] + header[len(COLUMNS):]
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=width + 2), max_size=6))
    quoting = draw(st.sampled_from(["never", "always", "random"]))

    def line(cells: list[str]) -> str:
        return ",".join(quote(c, quoting == "always" or (quoting == "random"
                                                         and draw(st.booleans())))
                        for c in cells)

    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join([line(header)] + [line(r) for r in rows])
    if draw(st.booleans()):
        text += newline
    if draw(st.booleans()):
        text = "\ufeff" + text
    encoding = draw(st.sampled_from(["utf-8", "gb18030", "utf-16", "latin-1", "utf-8-sig"]))
    return text.encode(encoding, errors="replace")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)
COORD = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.integers(-200, 200),
                  st.just(1e308), st.sampled_from([500.0, 1000.0, 106.5, 29.5]))


@st.composite
def geometries(draw: st.DrawFn) -> Any:
    """A GeoJSON geometry object, valid or not."""
    kind = draw(st.sampled_from(["Point", "LineString", "Polygon", "MultiPoint",
                                 "MultiPolygon", "GeometryCollection", "Nonsense"]))
    point = st.lists(COORD, min_size=0, max_size=4)
    if kind == "Point":
        return {"type": kind, "coordinates": draw(point)}
    if kind in ("LineString", "MultiPoint"):
        return {"type": kind, "coordinates": draw(st.lists(point, max_size=4))}
    if kind == "Polygon":
        return {"type": kind, "coordinates": draw(st.lists(st.lists(point, max_size=5),
                                                           max_size=2))}
    if kind == "MultiPolygon":
        return {"type": kind, "coordinates": [draw(st.lists(st.lists(point, max_size=5),
                                                            max_size=2))]}
    if kind == "GeometryCollection":
        return {"type": kind, "geometries": draw(st.lists(st.builds(
            lambda c: {"type": "Point", "coordinates": c}, point), max_size=2))}
    return draw(JSON)


@st.composite
def geojson_texts(draw: st.DrawFn) -> bytes:
    """Random JSON, or a FeatureCollection of random geometries and properties."""
    if draw(st.integers(0, 3)) == 0:
        return json.dumps(draw(JSON)).encode()
    if draw(st.booleans()):
        frame = draw(tiny_geodataframes(draw(st.sampled_from(ROLES))))
        with quiet():
            return frame.to_json(na="null").encode()
    features = []
    for _ in range(draw(st.integers(0, 4))):
        properties = draw(st.dictionaries(HEADERS, CELLS | JSON, max_size=5))
        if draw(st.booleans()):
            properties.update({"id": draw(CELLS), "pop_total": draw(NUMBERS),
                               "cost_park": draw(NUMBERS)})
        features.append({"type": "Feature",
                         "geometry": draw(st.none() | geometries()),
                         "properties": properties})
    collection: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if draw(st.booleans()):
        collection["crs"] = {"type": "name", "properties": {"name": draw(st.sampled_from(
            ["EPSG:32648", "urn:ogc:def:crs:EPSG::4326", "EPSG:0", "nonsense"]))}}
    return json.dumps(collection).encode()


@contextmanager
def quiet() -> Iterator[None]:
    """No warnings while writing test files (GDAL renames odd field names, say)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _position(draw: st.DrawFn, length: int) -> int:
    """A byte position in ``[0, length)`` drawn as a fraction of the length, so that the
    draw does not depend on the length: files whose size varies between replays (an XLSX
    holds its save time) replay the same choices."""
    return draw(st.integers(0, _STEPS - 1)) * length // _STEPS


_STEPS = 1 << 20


def corrupt(data: bytes, draw: st.DrawFn) -> bytes:
    """``data`` truncated, or with some bytes overwritten."""
    if not data:
        return data
    how = draw(st.sampled_from(["truncate", "flip", "zero"]))
    if how == "truncate":
        return data[: _position(draw, len(data))]
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        at = _position(draw, len(out))
        out[at] = draw(st.integers(0, 255)) if how == "flip" else 0
    return bytes(out)


# ------------------------------------------------------------------------------- tables


@sized(ci=100, long=5000, deadline_ms=DEADLINE_MS)
@given(role=st.sampled_from(ROLES), content=st.binary(max_size=600))
def test_csv_random_bytes(role: str, content: bytes) -> None:
    with scenario_dir() as folder:
        (folder / f"{role}.csv").write_bytes(content)
        load(folder / "scenario.toml")


@sized(ci=200, long=8000, deadline_ms=DEADLINE_MS)
@given(role=st.sampled_from(ROLES), content=csv_texts())
def test_csv_random_text(role: str, content: bytes) -> None:
    with scenario_dir() as folder:
        (folder / f"{role}.csv").write_bytes(content)
        load(folder / "scenario.toml")


@sized(ci=100, long=4000, deadline_ms=DEADLINE_MS)
@given(role=st.sampled_from(ROLES), rows=st.integers(0, 20), column=st.sampled_from(COLUMNS),
       cells=st.lists(CELLS, min_size=1, max_size=20), encoding=st.sampled_from(
           ["utf-8", "utf-8-sig", "gb18030"]))
def test_csv_tiny_tables_with_random_values(role: str, rows: int, column: str,
                                            cells: list[str], encoding: str) -> None:
    """The real tables with one column's values replaced: exercises validation."""
    import pandas as pd

    with scenario_dir() as folder:
        path = folder / f"{role}.csv"
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        values = (cells * len(frame))[: len(frame)]
        frame[column] = values
        frame.head(rows if rows else len(frame)).to_csv(path, index=False, encoding=encoding)
        load(folder / "scenario.toml")


XLSX_CELLS = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                       st.floats(allow_nan=False, allow_infinity=False), PRINTABLE,
                       st.sampled_from(COLUMNS),
                       st.datetimes(min_value=datetime.datetime(1900, 1, 1)))


@st.composite
def xlsx_files(draw: st.DrawFn) -> bytes:
    """An openpyxl workbook with random cells (the header mostly the right columns), or
    its bytes corrupted."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    width = draw(st.integers(1, 8))
    header = list(draw(st.permutations(COLUMNS)))[:width] if draw(st.booleans()) else \
        draw(st.lists(XLSX_CELLS, min_size=width, max_size=width))
    sheet.append(header)
    for row in draw(st.lists(st.lists(XLSX_CELLS, max_size=width + 1), max_size=5)):
        sheet.append(row)
    if draw(st.booleans()):
        workbook.create_sheet("second").append(["id"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    data = buffer.getvalue()
    return corrupt(data, draw) if draw(st.integers(0, 2)) == 0 else data


@sized(ci=80, long=3000, deadline_ms=DEADLINE_MS)
@given(role=st.sampled_from(ROLES), content=xlsx_files())
def test_xlsx_random_cells_and_corrupted(role: str, content: bytes) -> None:
    with scenario_dir() as folder:
        (folder / f"{role}.xlsx").write_bytes(content)
        load(point_to(folder, role, f"{role}.xlsx"))


@sized(ci=120, long=5000, deadline_ms=DEADLINE_MS)
@given(role=st.sampled_from(ROLES), content=geojson_texts())
def test_geojson_random(role: str, content: bytes) -> None:
    with scenario_dir() as folder:
        (folder / f"{role}.geojson").write_bytes(content)
        load(point_to(folder, role, f"{role}.geojson"))


SHAPES = st.sampled_from(["point", "line", "polygon", "multipoint", "empty", "none",
                          "collection", "invalid"])


def shape(kind: str, x: float, y: float) -> Any:
    from shapely import geometry as g

    return {
        "point": lambda: g.Point(x, y),
        "line": lambda: g.LineString([(x, y), (x + 10, y + 5)]),
        "polygon": lambda: g.Polygon([(x, y), (x + 20, y), (x + 20, y + 20)]),
        "multipoint": lambda: g.MultiPoint([(x, y), (x + 1, y + 1)]),
        "empty": lambda: g.Polygon(),
        "none": lambda: None,
        "collection": lambda: g.GeometryCollection([g.Point(x, y)]),
        "invalid": lambda: g.Polygon([(x, y), (x + 10, y + 10), (x + 10, y), (x, y + 10)]),
    }[kind]()


@st.composite
def tiny_geodataframes(draw: st.DrawFn, role: str) -> Any:
    """The tiny scenario's ``role`` table as points, then mutated: some geometries of other
    types (or empty, or none), some values random, a column dropped, another CRS declared.
    Close enough to valid that the loader's checks past reading get exercised."""
    import pandas as pd

    table = pd.read_csv(TINY / f"{role}.csv", dtype=str, keep_default_na=False)
    n = draw(st.integers(1, len(table)))
    table = table.head(n)
    xy = table[["x", "y"]].astype(float).to_numpy()
    kinds = [draw(SHAPES) if draw(st.integers(0, 4)) == 0 else "point" for _ in range(n)]
    columns = table.drop(columns=["x", "y"])
    for _ in range(draw(st.integers(0, 3))):
        column = draw(st.sampled_from(list(columns.columns)))
        row = draw(st.integers(0, n - 1))
        columns.loc[row, column] = draw(CELLS.filter(lambda c: "\x00" not in c))
    if draw(st.integers(0, 5)) == 0:
        columns = columns.drop(columns=[draw(st.sampled_from(list(columns.columns)))])
    crs = draw(st.sampled_from([CRS, CRS, CRS, None, "EPSG:4326", "EPSG:32650"]))
    geometry = [shape(k, float(x), float(y)) for k, (x, y) in zip(kinds, xy, strict=True)]
    return geopandas.GeoDataFrame(columns, geometry=geometry, crs=crs)


@st.composite
def geodataframes(draw: st.DrawFn, n_max: int = 4, role: str | None = None) -> Any:
    """A GeoDataFrame of random geometry types, columns and CRS (with ``role``: half the
    time the tiny scenario's table, mutated)."""
    if role is not None and draw(st.booleans()):
        return draw(tiny_geodataframes(role))
    n = draw(st.integers(1, n_max))
    columns: dict[str, list[Any]] = {}
    for name in draw(st.lists(HEADERS.filter(lambda h: h.strip() and "\x00" not in h),
                              max_size=5, unique_by=str.lower)):
        columns[name] = [draw(CELLS.filter(lambda c: "\x00" not in c)) for _ in range(n)]
    if draw(st.booleans()):
        columns["id"] = [f"U{k}" if draw(st.integers(0, 5)) else "U0" for k in range(n)]
        for name in ("pop_total", "pop_60plus", "pop_0_3", "cost_park", "cost_canteen",
                     "cost_childcare", "type"):
            columns[name] = [draw(NUMBERS.filter(lambda c: "\x00" not in c))
                             for _ in range(n)]
    kinds = draw(st.lists(SHAPES, min_size=n, max_size=n))
    xy = draw(st.lists(st.tuples(COORD, COORD), min_size=n, max_size=n))
    crs = draw(st.sampled_from([None, CRS, "EPSG:4326", "EPSG:3857"]))
    return geopandas.GeoDataFrame(columns, geometry=[shape(k, *p) for k, p in
                                                     zip(kinds, xy, strict=True)], crs=crs)


@sized(ci=60, long=2500, deadline_ms=DEADLINE_MS)
@given(role=st.sampled_from(ROLES), data=st.data())
def test_geopackage_random_columns_geometries_and_corruption(role: str,
                                                             data: st.DataObject) -> None:
    frame = data.draw(geodataframes(role=role))
    with scenario_dir() as folder:
        path = folder / f"{role}.gpkg"
        try:
            with quiet():
                frame.to_file(path, driver="GPKG", layer=role)
        except Exception:  # a frame GDAL cannot write is not a reader test
            return
        if data.draw(st.booleans()):
            path.write_bytes(corrupt(path.read_bytes(), data.draw))
        load(point_to(folder, role, f"{role}.gpkg"))


# ----------------------------------------------------------------------- zipped shapefile


def flipped_data_byte(data: bytes) -> bytes:
    """The first member's data changed after its header: the CRC-32 no longer matches."""
    if not data.startswith(b"PK\x03\x04"):
        return data
    name_length, extra_length = int.from_bytes(data[26:28], "little"), \
        int.from_bytes(data[28:30], "little")
    at = 30 + name_length + extra_length
    if at >= len(data) or data.find(b"PK\x01\x02") <= at:
        return data  # no data in the first member
    return data[:at] + bytes([data[at] ^ 0x5A]) + data[at + 1:]


def needs_version_64(data: bytes) -> bytes:
    """The first member's "version needed to extract" raised to 6.4 (unsupported)."""
    central = data.find(b"PK\x01\x02")
    if not data.startswith(b"PK\x03\x04") or central < 0:
        return data
    out = bytearray(data)
    out[4] = 64  # local header
    out[central + 6] = 64
    return bytes(out)


ZIP_NAMES = st.sampled_from(["../evil.shp", "/abs/x.csv", "a\\b.shp", "dir/", "more.shp",
                             "deep/dir/layer.dbf", "x.gpkg", "..", "readme.txt", "layer.cpg",
                             "名称.shp", "../../etc/passwd", "\n\\b.shp",
                             "a\r\nb.csv", "x\x1e.shp"]) | PRINTABLE | TEXT.filter(bool)
"""Member names, with line breaks and other control characters among them."""


@st.composite
def zip_uploads(draw: st.DrawFn, role: str) -> bytes:
    """A zipped Shapefile (geopandas-written), with random extra members (``../`` and
    absolute paths, backslashes, several layers), sometimes with the zip's own bytes
    corrupted (its directory, headers or member data)."""
    frame = draw(geodataframes(n_max=3, role=role))
    members: list[tuple[str, bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        with quiet(), contextlib.suppress(Exception):  # e.g. mixed geometries: none
            frame.to_file(Path(tmp) / "layer.shp")
        members += [(p.name, p.read_bytes()) for p in sorted(Path(tmp).iterdir())]
        if members and draw(st.integers(0, 3)) == 0:  # a corrupted layer inside a good zip
            at = draw(st.integers(0, len(members) - 1))
            members[at] = (members[at][0], corrupt(members[at][1], draw))
    for _ in range(draw(st.integers(0, 3))):
        members.append((draw(ZIP_NAMES), draw(st.binary(max_size=64))))
    members = draw(st.permutations(members))
    buffer = io.BytesIO()
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    with quiet(), zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, content in members:
            try:
                archive.writestr(name, content)
            except (ValueError, UnicodeEncodeError, IndexError):
                continue  # names zipfile cannot write (IndexError: one cut to '' at a NUL)
    content = buffer.getvalue()
    if draw(st.integers(0, 3)) == 0:
        content = draw(st.sampled_from([corrupt(content, draw), flipped_data_byte(content),
                                        needs_version_64(content)]))
    return content


@sized(ci=60, long=2500, deadline_ms=DEADLINE_MS)
@given(role=st.sampled_from(ROLES), data=st.data())
def test_zipped_shapefile_upload_then_load(role: str, data: st.DataObject) -> None:
    content = data.draw(zip_uploads(role))
    with scenario_dir() as folder:
        saved = only_input_errors(lambda: save_upload(f"{role}.zip", content,
                                                      folder / "uploads", role=role))
        if saved is None:
            return
        assert saved.resolve().is_relative_to((folder / "uploads").resolve())
        for written in (folder / "uploads").rglob("*"):  # nothing escaped the folder
            assert written.resolve().is_relative_to((folder / "uploads").resolve())
        load(point_to(folder, role, str(saved)))


def good_zip() -> bytes:
    """A zip of one small stored member (a CSV layer)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("demand.csv", (TINY / "demand.csv").read_bytes())
    return buffer.getvalue()




def with_member(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, b"x")
    return buffer.getvalue()


@pytest.mark.parametrize(("content", "message"), [
    (flipped_data_byte(good_zip()), "demand.zip: zip member 'demand.csv' cannot be unpacked "
     "(Bad CRC-32 for file 'demand.csv'); the zip is damaged or uses a feature not "
     "supported here: zip it again with standard settings"),
    (needs_version_64(good_zip()), "demand.zip: cannot unpack the zip (zip file version 6.4):"
     " zip it again with standard settings"),
], ids=["bad_crc", "zip_version_6.4"])
def test_corrupted_zip_upload_is_refused_cleanly(tmp_path: Path, content: bytes,
                                                 message: str) -> None:
    """Shrunk from test_zipped_shapefile_upload_then_load: the zip's directory is fine, its
    member is not (once a BadZipFile / NotImplementedError traceback in the app)."""
    assert content != good_zip()
    with pytest.raises(InputError) as caught:
        save_upload("demand.zip", content, tmp_path, role="demand")
    check_problems(caught.value)
    assert str(caught.value) == message


def test_good_zip_upload_is_read(tmp_path: Path) -> None:
    """The unchanged zip of the two tests above is accepted and read."""
    path = save_upload("demand.zip", good_zip(), tmp_path, role="demand")
    assert path.name == "demand.csv" and path.read_bytes() == (TINY / "demand.csv").read_bytes()


def test_zip_member_name_with_a_line_break_gives_one_line(tmp_path: Path) -> None:
    """Shrunk from test_zipped_shapefile_upload_then_load: a member called '\\n\\\\b.shp'."""
    with pytest.raises(InputError) as caught:
        save_upload("demand.zip", with_member("\n\\b.shp"), tmp_path, role="demand")
    check_problems(caught.value)
    assert str(caught.value) == "demand.zip: zip member '\\n\\b.shp' points outside the archive"


# -------------------------------------------------------------------------------- GraphML

XML_NAMES = st.sampled_from(["graphml", "graph", "node", "edge", "key", "data", "x"])


@st.composite
def xml_texts(draw: st.DrawFn) -> str:
    """Random XML-ish text: tags, attributes and data in random order and nesting."""
    parts = []
    for _ in range(draw(st.integers(0, 12))):
        name = draw(XML_NAMES)
        attrs = " ".join(f'{k}="{draw(CELLS)}"' for k in draw(st.lists(st.sampled_from(
            ["id", "source", "target", "key", "for", "attr.name", "attr.type",
             "edgedefault"]), max_size=3, unique=True)))
        parts.append(draw(st.sampled_from([f"<{name} {attrs}>", f"</{name}>",
                                           f"<{name} {attrs}/>", draw(TEXT),
                                           "<!-- c -->", "<![CDATA[x]]>", "&amp;", "&x;"])))
    head = draw(st.sampled_from(["", "<?xml version='1.0' encoding='utf-8'?>",
                                 "<?xml version='1.0' encoding='gb2312'?>"]))
    return head + "".join(parts)


EDGE_VALUES = st.sampled_from(["residential", "motorway", "no", "yes", "LINESTRING (0 0, 1 1)",
                               "LINESTRING EMPTY", "POINT (1 1)", "['a', 'b']", "&lt;"]) | NUMBERS


@st.composite
def graphml_texts(draw: st.DrawFn) -> str:
    """A GraphML graph with random nodes, coordinates, edges and attributes."""
    keys = ["x", "y", "length", "highway", "foot", "access", "geometry"]
    types = {k: draw(st.sampled_from(["string", "double", "int", "boolean", "long"]))
             for k in keys}
    lines = ["<?xml version='1.0' encoding='utf-8'?>",
             '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">',
             '<key id="crs" for="graph" attr.name="crs" attr.type="string"/>']
    for k in keys:
        where = "node" if k in ("x", "y") else "edge"
        lines.append(f'<key id="{k}" for="{where}" attr.name="{k}" '
                     f'attr.type="{types[k]}"/>')
    directed = draw(st.sampled_from(["directed", "undirected", "sideways"]))
    lines.append(f'<graph edgedefault="{directed}">')
    if draw(st.booleans()):
        lines.append(f'<data key="crs">{draw(st.sampled_from([CRS, "EPSG:4326", "x"]))}'
                     f'</data>')
    names = [f"n{k}" for k in range(draw(st.integers(0, 6)))]
    for name in names:
        values = "".join(f'<data key="{k}">{draw(NUMBERS)}</data>' for k in ("x", "y")
                         if draw(st.integers(0, 5)))
        lines.append(f'<node id="{name}">{values}</node>')
    for _ in range(draw(st.integers(0, 8))):
        u = draw(st.sampled_from(names or ["n0"]))
        v = draw(st.sampled_from(names or ["n0"]) | st.just("ghost"))
        data = "".join(f'<data key="{k}">{draw(EDGE_VALUES)}</data>'
                       for k in draw(st.lists(st.sampled_from(keys[2:]), unique=True,
                                              max_size=5)))
        lines.append(f'<edge source="{u}" target="{v}">{data}</edge>')
    lines += ["</graph>", "</graphml>"]
    return "\n".join(lines)


@st.composite
def street_grids(draw: st.DrawFn) -> str:
    """A walkable street grid over the tiny scenario's area (EPSG:32648), then mutated: some
    lengths, highway/foot/access tags or coordinates random, some edges to unknown nodes."""
    step = draw(st.sampled_from([150, 250, 400]))
    ticks = range(-step, 1600 + step, step)
    nodes = {f"{i}_{j}": (float(x), float(y)) for i, x in enumerate(ticks)
             for j, y in enumerate(ticks)}
    edges = []
    for name in nodes:
        i, j = map(int, name.split("_"))
        for other in (f"{i + 1}_{j}", f"{i}_{j + 1}"):
            if other in nodes:
                edges.append([name, other, {"length": str(float(step)),
                                            "highway": "residential"}])
    for _ in range(draw(st.integers(0, 3))):
        edge = draw(st.sampled_from(edges))
        key = draw(st.sampled_from(["length", "highway", "foot", "access", "geometry"]))
        edge[2][key] = draw(EDGE_VALUES)
        if draw(st.integers(0, 20)) == 0:
            edge[1] = "ghost"
    lines = ["<?xml version='1.0' encoding='utf-8'?>",
             '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">',
             '<key id="crs" for="graph" attr.name="crs" attr.type="string"/>',
             '<key id="x" for="node" attr.name="x" attr.type="string"/>',
             '<key id="y" for="node" attr.name="y" attr.type="string"/>']
    lines += [f'<key id="{k}" for="edge" attr.name="{k}" attr.type="string"/>'
              for k in ("length", "highway", "foot", "access", "geometry")]
    lines.append('<graph edgedefault="directed">')
    lines.append(f'<data key="crs">{draw(st.sampled_from([CRS] * 5 + ["EPSG:4326"]))}</data>')
    for name, (x, y) in nodes.items():
        shown = draw(NUMBERS) if draw(st.integers(0, 100)) == 0 else repr(x)
        lines.append(f'<node id="{name}"><data key="x">{shown}</data>'
                     f'<data key="y">{y!r}</data></node>')
    for u, v, attrs in edges:
        data = "".join(f'<data key="{k}">{escape(str(val))}</data>'
                       for k, val in attrs.items())
        lines.append(f'<edge source="{u}" target="{v}">{data}</edge>')
    lines += ["</graph>", "</graphml>"]
    return "\n".join(lines)


@sized(ci=120, long=5000, deadline_ms=DEADLINE_MS)
@given(content=st.one_of(xml_texts(), graphml_texts(), street_grids()))
def test_graphml_random(content: str) -> None:
    with scenario_dir() as folder:
        path = folder / "streets.graphml"
        path.write_text(content, encoding="utf-8", errors="replace")
        only_input_errors(lambda: load_network(path, crs=CRS))
        load(point_to(folder, "demand", "demand.csv",
                      extra='network = { path = "streets.graphml", cache = false }'))


def billion_laughs(levels: int = 10) -> str:
    """The XML entity-expansion bomb: ~10**levels copies of "lol" from a ~1 kB file."""
    lines = ['<?xml version="1.0"?>', "<!DOCTYPE lolz [", '<!ENTITY lol0 "lol">']
    for k in range(1, levels):
        lines.append(f'<!ENTITY lol{k} "' + f"&lol{k - 1};" * 10 + '">')
    lines += ["]>", '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">',
              '<key id="x" for="node" attr.name="x" attr.type="string"/>',
              '<graph edgedefault="undirected">',
              f'<node id="a"><data key="x">&lol{levels - 1};</data></node>',
              "</graph></graphml>"]
    return "\n".join(lines)


@pytest.mark.parametrize("document", [
    billion_laughs(),
    billion_laughs(4),  # small enough for any parser to expand: refused all the same
    # quadratic blow-up: one 50 kB entity used 5,000 times
    '<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "' + "A" * 50_000 + '">]>'
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="undirected">'
    '<node id="a"/>' + "&a;" * 5_000 + "</graph></graphml>",
    # external entity (a local file's content would end up in a node attribute)
    '<?xml version="1.0"?><!DOCTYPE g [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">'
    '<key id="x" for="node" attr.name="x" attr.type="string"/>'
    '<graph edgedefault="undirected"><node id="a"><data key="x">&e;</data></node>'
    "</graph></graphml>",
], ids=["billion_laughs", "small_entity_expansion", "quadratic_blowup", "external_entity"])
def test_graphml_entity_declarations_are_refused_fast(tmp_path: Path, document: str) -> None:
    path = tmp_path / "bomb.graphml"
    path.write_text(document, encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(InputError) as caught:
        load_network(path, crs=CRS)
    assert time.perf_counter() - started < 2.0
    (problem,) = caught.value.problems
    assert str(problem) == (f"{path}: cannot read GraphML: DOCTYPE and ENTITY declarations "
                            f"are not allowed (GraphML needs none)")


def test_graphml_entity_bomb_in_another_encoding_is_refused(tmp_path: Path) -> None:
    """The check works on the parsed document, not on the raw bytes (UTF-16 here)."""
    path = tmp_path / "bomb.graphml"
    path.write_text(billion_laughs().replace('<?xml version="1.0"?>',
                                             '<?xml version="1.0" encoding="utf-16"?>'),
                    encoding="utf-16")
    with pytest.raises(InputError, match="DOCTYPE and ENTITY declarations are not allowed"):
        load_network(path, crs=CRS)


# ----------------------------------------------------------------------------------- TOML

TOML_SCALARS = st.one_of(
    st.integers(-10**20, 10**20), st.floats(), st.booleans(), TEXT,
    st.sampled_from(["demand.csv", "sites.csv", "existing.csv", "park", "canteen", "any",
                     "pop_total", "cost_park", "EPSG:32648", "EPSG:4326", "utm", "highs",
                     "min_cost", "soft", "community", "../demand.csv", "/dev/null", ""]),
)
TOML_VALUES = st.recursive(
    TOML_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def scenario_data(draw: st.DrawFn) -> dict[str, Any]:
    """The tiny scenario with random keys replaced, added or dropped (well-formed TOML)."""
    import tomllib

    data: dict[str, Any] = tomllib.loads((TINY / "scenario.toml").read_text())
    top = ["name", "budget", "demand", "sites", "existing", "crs", "metric_crs",
           "walking_speed_m_per_min", "force_open", "exclude", "distances", "network",
           "types", "policy", "solver", "description"]
    for key in draw(st.lists(st.sampled_from(top) | TEXT, max_size=4)):
        if draw(st.integers(0, 3)) == 0:
            data.pop(key, None)
        else:
            data[key] = draw(TOML_VALUES)
    types = data.get("types")
    if isinstance(types, dict) and isinstance(types.get("park"), dict):
        body = types["park"]
        for key in draw(st.lists(st.sampled_from(
                ["population", "radius_m", "radius_min", "speed_m_per_min", "cost",
                 "weight", "max_sites", "max_budget_share", "min_area_m2", "capacity",
                 "capacity_factor", "bands", "label"]), max_size=3)):
            body[key] = draw(TOML_VALUES)
    if draw(st.booleans()):
        policy = data.setdefault("policy", {}) if isinstance(data.get("policy", {}),
                                                            dict) else {}
        for key in draw(st.lists(st.sampled_from(
                ["objective", "group_by", "floors", "floor_mode", "floor_penalty",
                 "targets", "complete_circle", "area_budgets", "maxmin", "phasing"]),
                max_size=3)):
            policy[key] = draw(TOML_VALUES)
    return data


@sized(ci=150, long=6000, deadline_ms=DEADLINE_MS)
@given(data=scenario_data())
def test_toml_random_but_well_formed(data: dict[str, Any]) -> None:
    with scenario_dir() as folder:
        try:
            text = tomli_w.dumps(data)
        except (TypeError, ValueError):  # e.g. NaN keys tomli-w will not write
            return
        path = folder / "scenario.toml"
        path.write_text(text, encoding="utf-8")
        load(path)


TOML_LINES = st.one_of(
    TEXT,
    st.sampled_from(["[types.park]", "[types.]", "[[types]]", "[policy]", "budget = ",
                     'budget = "3e6"', "budget = 3e6", "budget = 1_000", "budget = inf",
                     "budget = nan", 'demand = "demand.csv"', "demand = { path = 1 }",
                     '[types."公园"]', "x = 1\nx = 2", '"\\u0000" = 1', "a.b.c = [1, [2]]",
                     "radius_m = 300", 'population = "pop_total"', 'cost = "cost_park"',
                     "= 5", "[solver]\ntime_limit_s = -1", "\ufeff", "'''", '"""']),
)


@sized(ci=150, long=6000, deadline_ms=DEADLINE_MS)
@given(lines=st.lists(TOML_LINES, max_size=12), raw=st.binary(max_size=40),
       as_bytes=st.booleans())
def test_toml_random_and_malformed_text(lines: list[str], raw: bytes, as_bytes: bool) -> None:
    with scenario_dir() as folder:
        path = folder / "scenario.toml"
        if as_bytes:
            path.write_bytes(raw)
        else:
            base = (TINY / "scenario.toml").read_text().splitlines()
            path.write_text("\n".join(base[:5] + lines + base[5:]), encoding="utf-8",
                            errors="replace")
        load(path)


# ---------------------------------------------------------- regressions found by the fuzzer


def _messages_for(tiny_dir: Path, role: str, name: str, content: bytes) -> list[str]:
    (tiny_dir / name).write_bytes(content)
    return messages(point_to(tiny_dir, role, name))


def _workbook() -> bytes:
    buffer = io.BytesIO()
    openpyxl.Workbook().save(buffer)
    return buffer.getvalue()


def test_header_repeating_a_column_after_stripping(tiny_dir: Path) -> None:
    """Was AttributeError ('DataFrame' object has no attribute 'str'): 'id' and 'id ' are
    one column once names are stripped."""
    assert _messages_for(tiny_dir, "demand", "d.csv", b"id,id \n0") == [
        "d.csv, column 'id': the column appears more than once in the header"]


@pytest.mark.parametrize("content, why", [
    (_workbook()[:2000], "damaged, or not an .xlsx workbook"),  # was zipfile.BadZipFile
    (with_member("a.txt"), "damaged, or not an .xlsx workbook"),  # was "unknown encoding"
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600),  # old .xls: was ImportError
     "this kind of workbook needs a reader that is not installed"),
], ids=["truncated", "zip_not_workbook", "old_xls_format"])
def test_unreadable_workbook(tiny_dir: Path, content: bytes, why: str) -> None:
    assert _messages_for(tiny_dir, "sites", "s.xlsx", content) == [
        f"s.xlsx: cannot read the file as an Excel workbook ({why}); save it as .xlsx or CSV"]


@pytest.mark.parametrize("geometry", [
    {"type": "LineString", "coordinates": []},
    {"type": "GeometryCollection", "geometries": []},
    {"type": "Polygon", "coordinates": []},
], ids=["empty_line", "empty_collection", "empty_polygon"])
def test_empty_non_point_geometry(tiny_dir: Path, geometry: dict[str, Any]) -> None:
    """Was ValueError ('x attribute access only provided for Point geometries')."""
    feature = {"type": "Feature", "geometry": geometry,
               "properties": {"id": "D0", "pop_total": 1, "pop_60plus": 1, "pop_0_3": 1}}
    content = json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()
    assert _messages_for(tiny_dir, "demand", "d.geojson", content) == [
        "d.geojson, row 1, column 'geometry': feature has no geometry"]


def test_values_and_names_with_line_breaks_stay_on_one_line(tiny_dir: Path) -> None:
    """A quoted CSV cell and a TOML key may hold line breaks; messages echo them escaped
    (found as an unknown TOML key '\\x1e', which str.splitlines() splits on)."""
    path = tiny_dir / "demand.csv"
    path.write_text(path.read_text().replace("D001,1345.8,957.0,54",
                                             'D001,1345.8,957.0,"5\n4"'))
    data = tomllib.loads((tiny_dir / "scenario.toml").read_text())
    data["types"]["park"]["cost"] = "cost\u2028park"
    (tiny_dir / "scenario.toml").write_text(tomli_w.dumps(data))
    assert messages(tiny_dir / "scenario.toml") == [
        "demand.csv, row 2, column 'pop_total': value '5\\n4' is not a number",
        "sites.csv, column 'cost\\u2028park': missing column (the file has: id, x, y, kind, "
        "cost_park, cost_canteen, cost_childcare)",
    ]
    data["\x1e"] = 1
    (tiny_dir / "scenario.toml").write_text(tomli_w.dumps(data))
    with pytest.raises(InputError) as caught:
        load_scenario(tiny_dir / "scenario.toml")
    assert str(caught.value.problems[0]).startswith("scenario.toml: unknown keys: \\x1e ")


def test_graphml_in_an_encoding_expat_cannot_read(tmp_path: Path) -> None:
    """Was ValueError from the DOCTYPE check ('multi-byte encodings are not supported')."""
    path = tmp_path / "streets.graphml"
    path.write_text("<?xml version='1.0' encoding='gb2312'?>", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_network(path, crs=CRS)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}: cannot read GraphML: multi-byte encodings are not supported"]
