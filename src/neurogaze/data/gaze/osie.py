"""OSIE free-viewing fixations (Xu et al. 2014), in the original repository's layout.

``data/eye/fixations.mat`` holds a cell array ``fixations``; each cell is a struct with ``img``
(the file name under ``data/stimuli/``) and ``subjects``, one struct per observer with
``fix_x``, ``fix_y`` (image pixels) and ``fix_duration`` (ms). The file has no onsets, so a
fixation's ``t_start_ms`` is the summed duration of the fixations before it (saccade time is
not recorded).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neurogaze.data.gaze.base import (
    GazeData,
    as_vector,
    assign_split,
    fixation_table,
    image_size,
    load_mat,
    stimulus_index,
    struct_field,
)
from neurogaze.errors import DataValidationError

FIXATIONS_FILE = Path("data") / "eye" / "fixations.mat"
STIMULI_DIR = Path("data") / "stimuli"


def load_osie(root: str | os.PathLike, test_fraction: float = 0.2, dataset: str = "osie") -> GazeData:
    root = Path(root)
    path = root / FIXATIONS_FILE
    cells = np.atleast_1d(load_mat(path, required=("fixations",))["fixations"])
    rows, stim_ids, image_paths, sizes = [], [], [], []
    for cell_number, cell in enumerate(cells):
        where = f"fixations{{{cell_number + 1}}}."
        image_name = str(struct_field(cell, "img", path, where))
        stim_id = Path(image_name).stem
        image_path = root / STIMULI_DIR / image_name
        stim_ids.append(stim_id)
        image_paths.append(image_path)
        sizes.append(image_size(image_path))
        subjects = np.atleast_1d(struct_field(cell, "subjects", path, where))
        for subject_number, subject in enumerate(subjects, start=1):
            subject_where = f"{where}subjects{{{subject_number}}}."
            subject_rows = _subject_rows(subject, stim_id, f"s{subject_number:02d}", path, subject_where)
            _check_on_image(subject_rows, sizes[-1], path, subject_where)
            rows.extend(subject_rows)
    splits = [assign_split(stim_id, test_fraction) for stim_id in stim_ids]
    if len(set(stim_ids)) != len(stim_ids):
        raise DataValidationError(path, "img", "each image once in the cell array", "a repeated image name")
    return GazeData(dataset, fixation_table(rows, dataset), stimulus_index(stim_ids, image_paths, sizes, splits),
                    source=path)


def _check_on_image(rows: list[dict], size: tuple[int, int], path: Path, where: str) -> None:
    """Every fixation a finite point on its image, reported with its cell and subject."""
    width, height = size
    for row in rows:
        x, y = row["x"], row["y"]
        if not (np.isfinite(x) and np.isfinite(y)):
            raise DataValidationError(path, f"{where}fix_x/fix_y", "finite fixation coordinates",
                                      f"({x}, {y}) at fixation {row['fix_index'] + 1} of subject {row['subject']}")
        if not (0 <= x < width and 0 <= y < height):
            raise DataValidationError(path, f"{where}fix_x/fix_y", f"fixations inside the {width} x {height} image "
                                      f"{row['stim_id']}", f"({x}, {y}) at fixation {row['fix_index'] + 1} of subject "
                                      f"{row['subject']}")


def _subject_rows(subject, stim_id: str, subject_id: str, path: Path, where: str) -> list[dict]:
    x = as_vector(struct_field(subject, "fix_x", path, where), path, f"{where}fix_x")
    y = as_vector(struct_field(subject, "fix_y", path, where), path, f"{where}fix_y")
    duration = as_vector(struct_field(subject, "fix_duration", path, where), path, f"{where}fix_duration")
    if not (len(x) == len(y) == len(duration)):
        raise DataValidationError(
            path, f"{where}fix_x/fix_y/fix_duration", "vectors of equal length", (len(x), len(y), len(duration))
        )
    if (duration < 0).any():
        raise DataValidationError(path, f"{where}fix_duration", "non-negative durations in ms", duration.min())
    onsets = np.concatenate([[0.0], np.cumsum(duration)[:-1]])
    return [
        {
            "stim_id": stim_id,
            "subject": subject_id,
            "trial": 0,
            "fix_index": i,
            "x": x[i],
            "y": y[i],
            "t_start_ms": onsets[i],
            "duration_ms": duration[i],
        }
        for i in range(len(x))
    ]
