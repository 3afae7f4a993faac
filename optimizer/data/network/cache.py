"""Network pairs memoised on disk, keyed by the content of the network file and every input."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from optimizer.data.network.graph import DEFAULT_EXCLUDED, NetworkPairs, WalkingNetwork
from optimizer.data.network.paths import network_pairs
from optimizer.data.network.read import _file_digest, load_network
from optimizer.data.network.snap import _as_xy
from optimizer.errors import InputError, Problem

CACHE_FORMAT = 1
"""Bump when the cached computation changes, so that old cache entries are not reused."""


_PAIR_ARRAYS = ("origin_index", "target_index", "distance_m", "origin_node", "origin_snap_m",
                "target_node", "target_snap_m", "far_origins", "far_targets")


def default_cache_dir() -> Path:
    """``$LIFECIRCLE_CACHE_DIR`` if set, else ``~/.cache/lifecircle``."""
    env = os.environ.get("LIFECIRCLE_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lifecircle"


def cache_key(
    network_path: str | os.PathLike[str] | None,
    origins_xy: Any,
    targets_xy: Any,
    *,
    crs: str,
    cutoff_m: float,
    max_snap_m: float | None = None,
    exclude_highways: Iterable[str] = DEFAULT_EXCLUDED,
    encoding: str | None = None,
    layer: str | None = None,
    source_crs: str | None = None,
    file_sha256: str | None = None,
) -> str:
    """Hex SHA-256 identifying a :func:`cached_network_pairs` computation.

    It covers the network file's content (not its name, size or time), the coordinate
    arrays' bytes and shapes, and every option that changes the result. ``file_sha256``
    (the content hash recorded by :func:`load_network`) saves re-reading the file.
    """
    if file_sha256 is None:
        if network_path is None:
            raise ValueError("cache_key needs network_path or file_sha256")
        file_sha256 = _file_digest(Path(network_path))
    digest = hashlib.sha256()
    meta = {
        "format": CACHE_FORMAT,
        "file": file_sha256,
        "crs": crs,
        "cutoff_m": repr(float(cutoff_m)),
        "max_snap_m": None if max_snap_m is None else repr(float(max_snap_m)),
        "exclude_highways": sorted({str(h).strip().lower() for h in exclude_highways}),
        "encoding": encoding,
        "layer": layer,
        "source_crs": source_crs,
    }
    digest.update(json.dumps(meta, sort_keys=True).encode())
    for arr in (_as_xy(origins_xy, "origins_xy"), _as_xy(targets_xy, "targets_xy")):
        arr = np.ascontiguousarray(arr, dtype="<f8")
        digest.update(repr(arr.shape).encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def _read_entry(entry: Path) -> NetworkPairs | None:
    """A cached result, or None if the entry is missing or damaged."""
    if not entry.is_file():
        return None
    try:
        with np.load(entry, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in _PAIR_ARRAYS}
            max_snap = float(stored["max_snap_m"])
            cutoff = float(stored["cutoff_m"])
    except (OSError, KeyError, ValueError, EOFError):
        return None
    return NetworkPairs(**arrays, cutoff_m=cutoff,
                        max_snap_m=None if np.isnan(max_snap) else max_snap, from_cache=True)


def _write_entry(entry: Path, pairs: NetworkPairs) -> None:
    """Write atomically (temporary file + rename), so readers never see half an entry."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".network-pairs-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(
                out, **{name: getattr(pairs, name) for name in _PAIR_ARRAYS},
                cutoff_m=np.float64(pairs.cutoff_m),
                max_snap_m=np.float64(np.nan if pairs.max_snap_m is None
                                      else pairs.max_snap_m),
            )
        os.replace(tmp, entry)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cached_network_pairs(
    network_path: str | os.PathLike[str],
    network: WalkingNetwork | None,
    origins_xy: Any,
    targets_xy: Any,
    *,
    cutoff_m: float,
    max_snap_m: float | None = None,
    crs: str | None = None,
    exclude_highways: Iterable[str] = DEFAULT_EXCLUDED,
    encoding: str | None = None,
    layer: str | None = None,
    source_crs: str | None = None,
    cache_dir: str | os.PathLike[str] | Literal[False] | None = None,
) -> NetworkPairs:
    """:func:`network_pairs` on a network file, memoised on disk.

    Parameters
    ----------
    network_path
        The network file (see :func:`load_network`).
    network
        The network already loaded from ``network_path``, or None to load it only when
        the cache has no entry (then ``crs`` is required). When given, its CRS, load
        options and recorded content hash are used, and ``crs``, ``exclude_highways``,
        ``encoding``, ``layer`` and ``source_crs`` must be left at their defaults.
    origins_xy, targets_xy
        Point coordinates ``(n, 2)`` in the metric CRS.
    cutoff_m, max_snap_m
        As in :func:`network_pairs`.
    crs, exclude_highways, encoding, layer, source_crs
        As in :func:`load_network`, when ``network`` is None.
    cache_dir
        Where the ``.npz`` entries live; None: :func:`default_cache_dir`
        (``$LIFECIRCLE_CACHE_DIR`` or ``~/.cache/lifecircle``); False: no caching.

    Returns
    -------
    NetworkPairs
        With ``from_cache=True`` when read from the cache. A damaged entry is recomputed
        and overwritten.

    Notes
    -----
    The key (:func:`cache_key`) hashes the file's content, the coordinates' bytes, the
    cutoff, ``max_snap_m``, the excluded highways, the CRS and the other load options.
    """
    path = Path(network_path)
    if network is None:
        if crs is None:
            raise ValueError("cached_network_pairs needs crs=... when network is None")
        if not path.is_file():
            raise InputError([Problem("network file not found", file=str(network_path))])
        options: dict[str, Any] = {
            "crs": crs, "exclude_highways": frozenset(
                str(h).strip().lower() for h in exclude_highways),
            "encoding": encoding, "layer": layer, "source_crs": source_crs,
        }
        file_sha256 = None
    else:
        given = (crs, encoding, layer, source_crs)
        if any(v is not None for v in given) or exclude_highways is not DEFAULT_EXCLUDED:
            raise ValueError("pass load options either through network or as keywords, "
                             "not both")
        options = {"crs": network.crs, "exclude_highways": network.exclude_highways,
                   "encoding": network.encoding, "layer": network.layer,
                   "source_crs": network.source_crs}
        file_sha256 = network.source_sha256

    def compute(net: WalkingNetwork | None) -> NetworkPairs:
        if net is None:
            net = load_network(path, **options)
        return network_pairs(net, origins_xy, targets_xy, cutoff_m=cutoff_m,
                             max_snap_m=max_snap_m)

    if cache_dir is False:
        return compute(network)
    key = cache_key(path, origins_xy, targets_xy, cutoff_m=cutoff_m, max_snap_m=max_snap_m,
                    file_sha256=file_sha256, **options)
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entry = directory / f"network-pairs-{key}.npz"
    cached = _read_entry(entry)
    if cached is not None:
        return cached
    pairs = compute(network)
    try:
        _write_entry(entry, pairs)
    except OSError as exc:  # a cache that cannot be written must not stop the run
        warnings.warn(f"could not write the network cache {entry}: {exc}", RuntimeWarning,
                      stacklevel=2)
    return pairs
