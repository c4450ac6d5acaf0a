"""Object-array visual search (Miconi, Groomes & Kreiman 2016): object-level scanpaths.

Layout: ``subjectsdata/ResultsSaccades_<subject>_blk<N>.mat`` with ``results`` (one struct per
trial: ``probes`` (6 object ids, clockwise from 30 deg), ``target``, ``targetpos`` (1-6, or -10
when the target is absent), ``fixatedobjects`` (positions 1-6), ``fixationstarts``,
``fixationends`` (s), ``timetofind`` (s, -1 when never found), ``oldnumber``) and ``params``
(``ECCENTRICITY`` and ``CSIZE`` in px, ``window_rect``); ``subjectsdata/LISTCORRECTFILES.txt``
names the files that are complete and correct; object images are ``objectimages/<id>.normal.png``.

A fixation is on an object, so x, y are the centre of that object on the screen and
``object_id`` is the object's id. The eye tracker recorded entries (starts) and exits (ends)
of object boxes; an exit is paired with an entry when it falls between that entry and the
next one, and a fixation with no recorded exit has duration 0 (the trial ended on it, or the
exit was not logged). Per-trial facts (target present, time to find) go to ``trials``.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

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

logger = logging.getLogger(__name__)

DATA_DIR = Path("subjectsdata")
VALID_LIST = DATA_DIR / "LISTCORRECTFILES.txt"
OBJECTS_DIR = Path("objectimages")
# a "2" after the name marks the same subject's second session (DATAFORMAT.txt)
FILE_PATTERN = re.compile(r"^ResultsSaccades_(?P<subject>.+?)(?P<repeat>2?)_blk(?P<block>\d+)\.mat$")
ABSENT = -10
N_POSITIONS = 6


def object_positions(params, path: Path) -> np.ndarray:
    """Screen (x, y) of ring positions 1-6: 30 deg + 60 deg steps, clockwise from 12 o'clock."""
    eccentricity = float(struct_field(params, "ECCENTRICITY", path, "params."))
    left, top, right, bottom = np.ravel(struct_field(params, "window_rect", path, "params.")).astype(float)
    centre = ((left + right) / 2, (top + bottom) / 2)
    angles = np.deg2rad(30 + 60 * np.arange(N_POSITIONS))
    return np.column_stack([centre[0] + eccentricity * np.sin(angles), centre[1] - eccentricity * np.cos(angles)])


def valid_files(root: Path) -> list[Path]:
    listing = root / VALID_LIST
    if not listing.is_file():
        raise DataValidationError(listing, "file", "the list of complete and correct files", "no such file")
    names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    return [root / DATA_DIR / name for name in names]


def _paired_durations(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    durations = np.zeros(len(starts))
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else np.inf
        inside = ends[(ends >= start) & (ends <= stop)]
        if len(inside):
            durations[i] = (inside[0] - start) * 1000.0
    return durations


def read_session(path: Path, dataset: str = "kreiman") -> tuple[list[dict], list[dict], tuple[int, int]]:
    match = FILE_PATTERN.match(path.name)
    if match is None:
        raise DataValidationError(path, "file name", "ResultsSaccades_<subject>_blk<N>.mat")
    content = load_mat(path, required=("results", "params"))
    params = content["params"]
    positions = object_positions(params, path)
    rect = np.ravel(struct_field(params, "window_rect", path, "params.")).astype(int)
    screen = (int(rect[2] - rect[0]), int(rect[3] - rect[1]))
    session = path.stem.removeprefix("ResultsSaccades_")
    fixations, trials = [], []
    for trial, record in enumerate(np.atleast_1d(content["results"])):
        where = f"results{{{trial + 1}}}."
        probes = as_vector(struct_field(record, "probes", path, where), path, f"{where}probes").astype(int)
        target = int(struct_field(record, "target", path, where))
        target_pos = int(struct_field(record, "targetpos", path, where))
        fixated = as_vector(struct_field(record, "fixatedobjects", path, where), path, f"{where}fixatedobjects").astype(
            int
        )
        starts = as_vector(struct_field(record, "fixationstarts", path, where), path, f"{where}fixationstarts")
        ends = as_vector(struct_field(record, "fixationends", path, where), path, f"{where}fixationends")
        time_to_find = float(struct_field(record, "timetofind", path, where))
        if len(probes) != N_POSITIONS:
            raise DataValidationError(path, f"{where}probes", f"{N_POSITIONS} object ids", len(probes))
        if len(fixated) != len(starts):
            raise DataValidationError(
                path, f"{where}fixationstarts", f"one onset per fixated object ({len(fixated)})", len(starts)
            )
        if ((fixated < 1) | (fixated > N_POSITIONS)).any():
            raise DataValidationError(path, f"{where}fixatedobjects", "positions 1-6", fixated.tolist())
        if (np.diff(starts) < 0).any():
            raise DataValidationError(path, f"{where}fixationstarts", "increasing onsets (s)")
        present = target_pos != ABSENT
        if present and probes[target_pos - 1] != target:
            raise DataValidationError(
                path, f"{where}targetpos", f"the position of target {target} in probes", target_pos
            )
        stim_id = f"{session}_t{trial:03d}"
        durations = _paired_durations(starts, ends)
        for i, position in enumerate(fixated):
            fixations.append(
                {
                    "stim_id": stim_id,
                    "subject": match["subject"],
                    "trial": trial,
                    "fix_index": i,
                    "x": positions[position - 1, 0],
                    "y": positions[position - 1, 1],
                    "t_start_ms": starts[i] * 1000.0,
                    "duration_ms": durations[i],
                    "object_id": str(probes[position - 1]),
                    "task": "object-array search",
                    "target": str(target),
                }
            )
        trials.append(
            {
                "dataset": dataset,
                "stim_id": stim_id,
                "subject": match["subject"],
                "session": session,
                "repeat": bool(match["repeat"]),
                "block": int(match["block"]),
                "trial": trial,
                "trial_id": int(struct_field(record, "oldnumber", path, where)),
                "target": str(target),
                "target_present": present,
                "target_position": target_pos if present else pd.NA,
                "probes": " ".join(str(p) for p in probes),
                "found": time_to_find >= 0,
                "time_to_find_ms": time_to_find * 1000.0 if time_to_find >= 0 else np.nan,
                "n_fixations": len(fixated),
            }
        )
    return fixations, trials, screen


def load_kreiman(root: str | os.PathLike, test_fraction: float = 0.2, dataset: str = "kreiman") -> GazeData:
    """Every file of LISTCORRECTFILES.txt. The stimulus index lists the object images; the
    arrays themselves were composed on screen, so fixations are checked against the screen
    size stored in each file (``params.window_rect``)."""
    root = Path(root)
    fixation_rows, trial_rows, display = [], [], {}
    for path in valid_files(root):
        fixations, trials, screen = read_session(path, dataset)
        fixation_rows.extend(fixations)
        trial_rows.extend(trials)
        display.update({row["stim_id"]: screen for row in trials})
    object_paths = sorted((root / OBJECTS_DIR).glob("*.normal.png"), key=lambda p: int(p.name.split(".")[0]))
    if not object_paths:
        raise DataValidationError(root / OBJECTS_DIR, "*.normal.png", "the object images", "none")
    object_ids = [p.name.split(".")[0] for p in object_paths]
    stimuli = stimulus_index(
        object_ids,
        object_paths,
        [image_size(p) for p in object_paths],
        [assign_split(s, test_fraction) for s in object_ids],
    )
    trials = pd.DataFrame(trial_rows)
    trials["target_position"] = trials["target_position"].astype("Int64")
    return GazeData(
        dataset, fixation_table(fixation_rows, dataset), stimuli, tables={"trials": trials}, display_sizes=display
    )
