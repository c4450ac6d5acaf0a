"""What every gaze loader returns, and the one place it is checked and written.

A loader reads a dataset in its original layout and returns a :class:`GazeData`: fixations in
the contract's columns, the stimulus index (each image's original file, width and height), raw
samples for sources that have them, and extra per-trial tables. :func:`write_gaze_data`
validates all of it before it writes anything, so a bad file leaves no partial output.
"""

from __future__ import annotations

import logging
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from neurogaze.data.contracts import (
    FIXATION_COLUMNS,
    SAMPLE_COLUMNS,
    validate_fixations,
    validate_samples,
    validate_stimulus_index,
    write_fixations,
    write_samples,
)
from neurogaze.errors import DataValidationError
from neurogaze.io import atomic_directory, write_parquet

logger = logging.getLogger(__name__)


@dataclass
class GazeData:
    """One dataset in contract form (``stimuli`` has the stimulus-index columns)."""

    name: str
    fixations: pd.DataFrame
    stimuli: pd.DataFrame
    samples: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    # stim_id -> (width, height) of the screen area the fixations live in, when it is not the
    # image in the stimulus index (object arrays are composed on screen from several images).
    display_sizes: dict[str, tuple[int, int]] | None = None
    # the file (or folder) the loader read: what a validation error names
    source: str | os.PathLike | None = None

    def image_sizes(self) -> dict[str, tuple[int, int]]:
        if self.display_sizes is not None:
            return self.display_sizes
        return {row.stim_id: (int(row.width), int(row.height)) for row in self.stimuli.itertuples(index=False)}

    def validate(self, source: str | os.PathLike | None) -> GazeData:
        validate_stimulus_index(self.stimuli, source)
        self.fixations = validate_fixations(self.fixations, source, self.image_sizes())
        check_fixation_order(self.fixations, source)
        if self.samples is not None:
            self.samples = validate_samples(self.samples, source)
        return self


def write_gaze_data(
    data: GazeData,
    gaze_dir: str | os.PathLike,
    stimuli_dir: str | os.PathLike,
    relative_within: str | os.PathLike | None = None,
) -> None:
    """Validate everything, then write fixations(, samples, tables) and the stimulus index.

    The stimulus index points at the dataset's own image files instead of copying them: OSIE or
    COCO-Search18 images are read where they lie (the contract's reader resolves an absolute
    ``path`` as it is). Images inside ``relative_within`` (the results tree, where synthetic
    sets are generated) are indexed relative to the stimulus folder, so that tree can move as a
    whole; a real dataset's files keep their absolute paths.
    """
    gaze_dir = Path(gaze_dir)
    stimuli_dir = Path(stimuli_dir)
    data.validate(data.source if data.source is not None else gaze_dir)
    index = data.stimuli.copy()
    if relative_within is not None:
        index["path"] = (
            index["path"].map(lambda p: _maybe_relative(p, stimuli_dir, Path(relative_within))).astype("string")
        )
    with atomic_directory(stimuli_dir) as temp:
        index.to_parquet(temp / "index.parquet", index=False)
    for name, table in data.tables.items():
        write_parquet(gaze_dir / f"{name}.parquet", table)
    if data.samples is not None:
        write_samples(gaze_dir / "samples.parquet", data.samples)
    # fixations last: it is the file the rules declare, so it only exists when all others do
    write_fixations(gaze_dir / "fixations.parquet", data.fixations, data.image_sizes())


def _maybe_relative(path: str, stimuli_dir: Path, tree: Path) -> str:
    image = Path(path)
    if image.resolve().is_relative_to(tree.resolve()):
        return os.path.relpath(image.resolve(), stimuli_dir.resolve())
    return path


# ---------------------------------------------------------------------------------------------
# Helpers shared by the loaders
# ---------------------------------------------------------------------------------------------


def check_fixation_order(table: pd.DataFrame, source) -> None:
    """Within a scanpath, fixation onsets must not go back in time."""
    ordered = table.sort_values(["subject", "stim_id", "trial", "fix_index"], kind="stable")
    same = (ordered[["subject", "stim_id", "trial"]].shift() == ordered[["subject", "stim_id", "trial"]]).all(axis=1)
    back = same & (ordered["t_start_ms"].diff() < 0)
    if back.any():
        bad = ordered.loc[back].iloc[0]
        raise DataValidationError(
            source,
            "t_start_ms",
            "fixation onsets increasing within each scanpath",
            f"onset {bad.t_start_ms} goes back in time (subject {bad.subject}, stimulus {bad.stim_id})",
        )


def drop_off_image(table: pd.DataFrame, sizes: dict[str, tuple[int, int]], dataset: str) -> pd.DataFrame:
    """Remove fixations outside their image (for datasets whose own tools do the same)."""
    width = table["stim_id"].map(lambda s: sizes[s][0]).to_numpy(float)
    height = table["stim_id"].map(lambda s: sizes[s][1]).to_numpy(float)
    inside = (table["x"] >= 0) & (table["y"] >= 0) & (table["x"] < width) & (table["y"] < height)
    if (~inside).any():
        logger.info("%s: dropped %d of %d fixations outside the image", dataset, int((~inside).sum()), len(table))
    return renumber(table.loc[inside])


def renumber(table: pd.DataFrame) -> pd.DataFrame:
    """fix_index 0..n-1 within each scanpath, in onset order."""
    table = table.sort_values(["subject", "stim_id", "trial", "t_start_ms"], kind="stable").reset_index(drop=True)
    table["fix_index"] = table.groupby(["subject", "stim_id", "trial"]).cumcount().astype("int64")
    return table


def assign_split(stim_id: str, test_fraction: float) -> str:
    """A split that depends on the stimulus name only (stable when images are added or dropped)."""
    return "test" if zlib.crc32(stim_id.encode()) % 10_000 < test_fraction * 10_000 else "train"


def stimulus_index(
    stim_ids: list[str], paths: list[Path], sizes: list[tuple[int, int]], splits: list[str]
) -> pd.DataFrame:
    index = pd.DataFrame(
        {
            "stim_id": pd.Series([str(s) for s in stim_ids], dtype="string"),
            "path": pd.Series([str(Path(p).resolve()) for p in paths], dtype="string"),
            "h5_row": pd.Series([None] * len(stim_ids), dtype="Int64"),
            "width": np.asarray([s[0] for s in sizes], dtype=np.int64),
            "height": np.asarray([s[1] for s in sizes], dtype=np.int64),
            "split": list(splits),
        }
    )
    return index.sort_values("stim_id", kind="stable").reset_index(drop=True)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image header, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise DataValidationError(path, "image", "an existing stimulus image file", "no such file")
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError) as exc:
        raise DataValidationError(path, "image", "a readable image file", exc) from exc


def fixation_table(rows: list[dict] | pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Rows with the contract's columns (object_id/target default to null, task to free-viewing)."""
    table = pd.DataFrame(rows)
    if table.empty:
        table = pd.DataFrame(columns=list(FIXATION_COLUMNS))
    table["dataset"] = dataset
    for name, default in (("object_id", None), ("target", None), ("task", "free-viewing")):
        if name not in table:
            table[name] = default
    return table[list(FIXATION_COLUMNS)].astype(FIXATION_COLUMNS)


def sample_table(rows: pd.DataFrame) -> pd.DataFrame:
    if "label" not in rows:
        rows = rows.assign(label=None)
    return rows[list(SAMPLE_COLUMNS)].astype(SAMPLE_COLUMNS)


def load_mat(path: Path, required: tuple[str, ...] = ()) -> dict:
    """scipy.io.loadmat with MATLAB structs as attribute objects; a corrupt file is named."""
    import scipy.io

    if not path.is_file():
        raise DataValidationError(path, "file", "an existing .mat file", "no such file")
    try:
        content = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    except NotImplementedError as exc:  # MATLAB v7.3 files are HDF5
        raise DataValidationError(path, "file", "a MATLAB v5 .mat file (v7.3/HDF5 is not supported)", exc) from exc
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError on truncated files
        raise DataValidationError(path, "file", "a readable MATLAB .mat file", f"{type(exc).__name__}: {exc}") from exc
    for name in required:
        if name not in content:
            raise DataValidationError(path, name, "a variable of this dataset's .mat layout", "missing")
    return content


def struct_field(struct, name: str, path: Path, where: str = ""):
    if not hasattr(struct, name):
        raise DataValidationError(path, f"{where}{name}", "a field of this dataset's .mat layout", "missing")
    return getattr(struct, name)


def as_vector(value, path: Path, name: str) -> np.ndarray:
    """A MATLAB scalar-or-vector (squeeze_me turns 1-element arrays into scalars) as float 1-D."""
    try:
        vector = np.atleast_1d(np.asarray(value, dtype=float)).ravel()
    except (TypeError, ValueError) as exc:
        raise DataValidationError(path, name, "a numeric vector", type(value).__name__) from exc
    return vector
