"""Atomic writes: an interrupted run must never leave a half-written output behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd


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


def write_csv(path: str | os.PathLike, table: pd.DataFrame) -> None:
    # A fixed float format keeps metric tables byte-identical across runs and machines.
    with atomic_path(path) as temp:
        table.to_csv(temp, index=False, float_format="%.10g", lineterminator="\n")


def write_torch(path: str | os.PathLike, payload: object) -> None:
    """torch.save atomically. Saving through a file handle keeps the temporary file's random name
    out of the archive, so the same payload always gives the same bytes."""
    import torch

    with atomic_path(path) as temp, open(temp, "wb") as handle:
        torch.save(payload, handle)
