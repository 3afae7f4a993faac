"""Files uploaded through the app, saved safely into a per-session folder.

Accepted: the CLI's table formats (CSV, XLSX, GeoPackage, GeoJSON, GeoParquet, FlatGeobuf),
street networks (GraphML, GeoPackage, GeoJSON) and a zipped Shapefile, unpacked here with
its members checked (no absolute or ``..`` paths, bounded count and unpacked size).
"""

from __future__ import annotations

import re
import zipfile
import zlib
from io import BytesIO
from pathlib import Path, PurePosixPath

from optimizer.errors import InputError, Problem
from optimizer.io import single_line_problems

TABLE_SUFFIXES = {".csv", ".txt", ".xlsx", ".gpkg", ".geojson", ".json", ".parquet",
                  ".geoparquet", ".fgb", ".zip"}
NETWORK_SUFFIXES = {".graphml", ".gpkg", ".geojson", ".json", ".zip"}
MAX_UPLOAD_BYTES = 50 * 2**20
MAX_UNPACKED_BYTES = 200 * 2**20
MAX_MEMBERS = 200
_UNREADABLE_MEMBER = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError,
                      RuntimeError, ValueError, OSError)
"""What reading a member of a zip with a sound directory can raise: bad CRC-32 or
stream (BadZipFile, zlib.error, EOFError), an unsupported version or compression method
(NotImplementedError), encryption (RuntimeError), an impossible header (ValueError,
OSError)."""


def _safe_name(name: str) -> str:
    stem = re.sub(r"[^\w.\-]+", "_", Path(name).name, flags=re.UNICODE).strip("._")
    return stem or "upload"


@single_line_problems
def save_upload(name: str, content: bytes, folder: str | Path, *, role: str,
                allowed: set[str] = TABLE_SUFFIXES,
                max_bytes: int = MAX_UPLOAD_BYTES) -> Path:
    """Write an uploaded file into ``folder/<role>/<name>`` (so messages name the file as
    the user knows it) and return the path to read (for a zip: the one ``.shp`` or geodata
    file inside it).

    Raises
    ------
    InputError
        Unsupported type, too large, or a zip that is unsafe, damaged or holds no readable
        layer; names echoed from the upload are shown on one line.
    """
    label = name
    suffix = Path(name).suffix.lower()
    if suffix not in allowed:
        raise InputError([Problem(f"unsupported file type '{suffix or name}' (accepted: "
                                  f"{', '.join(sorted(allowed))})", file=label)])
    if len(content) > max_bytes:
        raise InputError([Problem(f"file is {len(content) / 2**20:.1f} MB, over the "
                                  f"{max_bytes / 2**20:.0f} MB limit", file=label)])
    target = Path(folder) / _safe_name(role)
    target.mkdir(parents=True, exist_ok=True)
    if suffix != ".zip":
        path = target / _safe_name(name)
        path.write_bytes(content)
        return path
    return _unzip(content, target / _safe_name(Path(name).stem), label)


def _unzip(content: bytes, folder: Path, label: str) -> Path:
    try:
        archive = zipfile.ZipFile(BytesIO(content))
        members = archive.infolist()
    except zipfile.BadZipFile:
        raise InputError([Problem("not a valid zip file", file=label)]) from None
    except _UNREADABLE_MEMBER as error:
        raise InputError([Problem(f"cannot unpack the zip ({_reason(error)}): zip it again "
                                  f"with standard settings", file=label)]) from None
    if len(members) > MAX_MEMBERS:
        raise InputError([Problem(f"zip holds {len(members)} files (at most {MAX_MEMBERS})",
                                  file=label)])
    if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
        raise InputError([Problem(f"zip unpacks to more than "
                                  f"{MAX_UNPACKED_BYTES / 2**20:.0f} MB", file=label)])
    folder.mkdir(parents=True, exist_ok=True)
    layers = []
    for member in members:
        path = PurePosixPath(member.filename)
        if path.is_absolute() or ".." in path.parts or "\\" in member.filename:
            raise InputError([Problem(f"zip member '{member.filename}' points outside the "
                                      f"archive", file=label)])
        if member.is_dir():
            continue
        out = folder / _safe_name(path.name)
        try:
            with archive.open(member) as source:
                data = source.read(MAX_UNPACKED_BYTES + 1)
        except _UNREADABLE_MEMBER as error:
            raise InputError([Problem(
                f"zip member '{member.filename}' cannot be unpacked ({_reason(error)}); the "
                f"zip is damaged or uses a feature not supported here: zip it again with "
                f"standard settings", file=label)]) from None
        if len(data) > MAX_UNPACKED_BYTES:
            raise InputError([Problem("zip member too large", file=label)])
        out.write_bytes(data)
        if out.suffix.lower() in {".shp", ".gpkg", ".geojson", ".graphml", ".csv"}:
            layers.append(out)
    if len(layers) != 1:
        found = ", ".join(p.name for p in layers) or "none"
        raise InputError([Problem(f"zip must hold exactly one .shp (or one geodata file); "
                                  f"found {found}", file=label)])
    return layers[0]


def _reason(error: BaseException) -> str:
    """The library's reason, without a trailing period (e.g. "Bad CRC-32 for file ...")."""
    text = str(error).strip().rstrip(".")
    return text or type(error).__name__
