"""Atomic writes: an interrupted run must never leave a half-written output behind."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io

from neurogaze.errors import DataValidationError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _temp_sibling(path: Path, is_dir: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.tmp-"
    if is_dir:
        directory = tempfile.mkdtemp(prefix=prefix, dir=path.parent)
        os.chmod(directory, 0o777 & ~_UMASK)
        return Path(directory)
    handle, name = tempfile.mkstemp(prefix=prefix, suffix=path.suffix, dir=path.parent)
    os.close(handle)
    # mkstemp creates 0600; outputs on a shared cluster must get the user's usual permissions.
    os.chmod(name, 0o666 & ~_UMASK)
    return Path(name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file next to ``path``; move it into place only if the block succeeds."""
    target = Path(path)
    temp = _temp_sibling(target, is_dir=False)
    try:
        yield temp
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory; it replaces ``path`` as a whole only if the block succeeds."""
    target = Path(path)
    temp = _temp_sibling(target, is_dir=True)
    try:
        yield temp
        if target.exists():
            shutil.rmtree(target)
        os.replace(temp, target)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def as_text(value) -> str:
    """A string read from HDF5 or MATLAB files, which may come back as bytes."""
    return value.decode() if isinstance(value, bytes) else str(value)


def write_json(path: str | os.PathLike, payload: object) -> None:
    with atomic_path(path) as temp:
        temp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_parquet(path: str | os.PathLike, table: pd.DataFrame) -> None:
    with atomic_path(path) as temp:
        table.to_parquet(temp, index=False)


# A MAT-file v5 starts with 116 bytes of free text; scipy writes the time of writing there.
MAT_HEADER = b"MATLAB 5.0 MAT-file, written by neurogaze".ljust(116, b" ")


def write_mat(path: str | os.PathLike, arrays: dict, **options) -> None:
    """``scipy.io.savemat`` (v5) with a fixed header text instead of the time of writing, so the
    same arrays always give the same bytes; written atomically."""
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, arrays, format="5", **options)
    data = buffer.getvalue()
    with atomic_path(path) as temp:
        Path(temp).write_bytes(MAT_HEADER + data[len(MAT_HEADER):])


def write_csv(path: str | os.PathLike, table: pd.DataFrame) -> None:
    # A fixed float format keeps metric tables byte-identical across runs and machines.
    with atomic_path(path) as temp:
        table.to_csv(temp, index=False, float_format="%.10g", lineterminator="\n")


def link_or_copy(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """A gather's file: hard-linked so that a cohort is not written twice, copied where the file
    system has no hard links (or the source sits on another one)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def gather_files(folder: str | os.PathLike, found: dict[str, Path], names: list[str],
                 extra: dict[str, str | os.PathLike] | None = None, *, table: str | os.PathLike,
                 expected: str) -> None:
    """A per-subject fan-out's gather: the folder ``folder`` holding each of ``names`` (found by name
    in ``found``) and each ``extra`` file (name -> source), linked (:func:`link_or_copy`). A name
    missing from ``found`` is named with ``table``, the file that lists the subjects, before
    anything is written."""
    missing = [name for name in names if name not in found]
    if missing:
        raise DataValidationError(table, "subject", expected, f"missing {missing[:5]}")
    with atomic_directory(folder) as temp:
        for name in names:
            link_or_copy(found[name], temp / name)
        for name, source in (extra or {}).items():
            link_or_copy(source, temp / name)


def write_torch(path: str | os.PathLike, payload: object) -> None:
    """torch.save atomically. Saving through a file handle keeps the temporary file's random name
    out of the archive, so the same payload always gives the same bytes."""
    import torch

    with atomic_path(path) as temp, open(temp, "wb") as handle:
        torch.save(payload, handle)


# Files up to this size are hashed by content; larger ones (NSD betas, stimulus bricks) by size and
# modification time, which changes whenever a loader rewrites them.
CONTENT_HASH_LIMIT = 64 * 2**20


def fingerprint(*paths: str | os.PathLike | None, settings: object = None) -> str:
    """A digest of the inputs a resumable stage started from: each file (a folder: each file in
    it, by relative path) and the JSON form of ``settings``. A resume checkpoint stores it and is
    used only when the digest of the current inputs is the same."""
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        if path is None:
            digest.update(b"<none>")
            continue
        path = Path(path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(path) if path.is_dir() else path.name).encode())
            _update_with_file(digest, file)
    digest.update(json.dumps(settings, sort_keys=True, default=_json_default).encode())
    return digest.hexdigest()


def _update_with_file(digest, file: Path) -> None:
    stat = file.stat()
    if stat.st_size > CONTENT_HASH_LIMIT:
        digest.update(f"size={stat.st_size};mtime_ns={stat.st_mtime_ns}".encode())
        return
    with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)


def safe_file_name(identifier: str, max_length: int = 100) -> str:
    """A file name for an arbitrary id (a stimulus id can be a long path): readable ids pass
    unchanged, others keep a readable prefix and gain a digest of the whole id."""
    import hashlib
    import re

    if len(identifier) <= max_length and re.fullmatch(r"[A-Za-z0-9._-]+", identifier) and identifier not in (".", ".."):
        return identifier
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", identifier)[: max_length - 17]
    return f"{readable}-{hashlib.sha256(identifier.encode()).hexdigest()[:16]}"


def resume_folder(folder: str | os.PathLike, key: dict, what: str) -> Path:
    """A folder of partial results that an interrupted run left, kept only if it was made from the
    same ``key`` (fingerprints of the inputs, the settings); otherwise it is discarded, with a log
    line, and started afresh. The key is written as ``key.json`` inside."""
    import logging

    folder = Path(folder)
    key_file = folder / "key.json"
    text = json.dumps(key, indent=2, sort_keys=True, default=_json_default) + "\n"
    if folder.exists() and (not key_file.is_file() or key_file.read_text() != text):
        logging.getLogger(__name__).info("%s: discarding the partial results in %s (made from other inputs or "
                                         "settings)", what, folder)
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not key_file.is_file():
        with atomic_path(key_file) as temp:
            temp.write_text(text)
    return folder
