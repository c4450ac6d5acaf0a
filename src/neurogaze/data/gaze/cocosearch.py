"""COCO-Search18 target-directed search fixations (Chen et al. 2021), as released in JSON.

Each fixation file (``coco_search18_fixations_<TP|TA>_<split>.json``) is a list of trials with
``name`` (image file), ``subject``, ``task`` (target category), ``condition`` (present/absent),
``bbox`` ([x, y, w, h] of the target), ``X``, ``Y`` (image pixels, first entry the initial
central fixation), ``T`` (durations, ms), ``length``, ``correct``, ``split`` (train/valid) and,
in later releases, ``RT`` and ``fixOnTarget``. Images (1680 x 1050) lie under
``images/<task>/<name>``. Onsets are summed durations (saccade time is not in the release).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from neurogaze.data.gaze.base import GazeData, fixation_table, image_size, stimulus_index
from neurogaze.errors import DataValidationError

REQUIRED_FIELDS = ("name", "subject", "task", "condition", "bbox", "X", "Y", "T", "length", "correct", "split")
SPLITS = {"train": "train", "valid": "test", "validation": "test", "test": "test"}


def stim_id_for(task: str, name: str) -> str:
    # target-absent images are reused across categories, so the category is part of the id
    return f"{task.replace(' ', '-')}_{Path(name).stem}"


def read_trials(path: Path) -> list[dict]:
    try:
        trials = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise DataValidationError(path, "file", "an existing COCO-Search18 JSON file", "no such file") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataValidationError(path, "file", "valid JSON (a list of trials)", exc) from exc
    if not isinstance(trials, list):
        raise DataValidationError(path, "<root>", "a JSON list of trial objects", type(trials).__name__)
    for number, trial in enumerate(trials):
        missing = [name for name in REQUIRED_FIELDS if name not in trial]
        if missing:
            raise DataValidationError(
                path, f"[{number}].{missing[0]}", f"trial fields {list(REQUIRED_FIELDS)}", "missing"
            )
        for name in ("X", "Y", "T"):
            if not isinstance(trial[name], list):
                raise DataValidationError(path, f"[{number}].{name}", "a list of numbers", type(trial[name]).__name__)
        lengths = {len(trial["X"]), len(trial["Y"]), len(trial["T"])}
        if lengths != {int(trial["length"])}:
            raise DataValidationError(
                path, f"[{number}].X/Y/T", f"{trial['length']} entries each (field 'length')", sorted(lengths)
            )
        if min(trial["T"], default=0) < 0:
            raise DataValidationError(path, f"[{number}].T", "non-negative fixation durations (ms)", min(trial["T"]))
        if trial["split"] not in SPLITS:
            raise DataValidationError(path, f"[{number}].split", f"one of {sorted(SPLITS)}", trial["split"])
    return trials


def _check_on_image(trial: dict, size: tuple[int, int], path: Path, index: int) -> None:
    width, height = size
    for number, (x, y) in enumerate(zip(trial["X"], trial["Y"])):
        if not (0 <= x < width and 0 <= y < height):
            raise DataValidationError(path, f"[{index}].X/Y", f"fixations inside the {width} x {height} image "
                                      f"{trial['name']}", f"({x}, {y}) at fixation {number + 1} of subject "
                                      f"{trial['subject']}")


def load_cocosearch18(
    root: str | os.PathLike,
    fixation_files: tuple[str, ...] = ("coco_search18_fixations_*.json",),
    image_template: str = "images/{task}/{name}",
    dataset: str = "cocosearch18",
) -> GazeData:
    root = Path(root)
    paths = sorted({path for pattern in fixation_files for path in root.glob(pattern)})
    if not paths:
        raise DataValidationError(root, " or ".join(fixation_files), "COCO-Search18 fixation files", "none")
    rows, trial_rows, images, splits = [], [], {}, {}
    seen_trials: dict[tuple[str, str], int] = {}
    sizes_of: dict[str, tuple[int, int]] = {}
    for path in paths:
        for index, trial in enumerate(read_trials(path)):
            stim_id = stim_id_for(trial["task"], trial["name"])
            images[stim_id] = root / image_template.format(
                task=trial["task"], name=trial["name"], condition=trial["condition"]
            )
            if stim_id not in sizes_of:
                sizes_of[stim_id] = image_size(images[stim_id])
            _check_on_image(trial, sizes_of[stim_id], path, index)
            splits.setdefault(stim_id, SPLITS[trial["split"]])
            subject = f"s{int(trial['subject']):02d}"
            number = seen_trials.get((subject, stim_id), -1) + 1
            seen_trials[(subject, stim_id)] = number
            durations = np.asarray(trial["T"], dtype=float)
            onsets = np.concatenate([[0.0], np.cumsum(durations)[:-1]])
            for i, (x, y) in enumerate(zip(trial["X"], trial["Y"])):
                rows.append(
                    {
                        "stim_id": stim_id,
                        "subject": subject,
                        "trial": number,
                        "fix_index": i,
                        "x": float(x),
                        "y": float(y),
                        "t_start_ms": onsets[i],
                        "duration_ms": durations[i],
                        "task": "visual search",
                        "target": trial["task"],
                    }
                )
            bbox = list(trial["bbox"]) if trial["bbox"] is not None else [np.nan] * 4
            trial_rows.append(
                {
                    "stim_id": stim_id,
                    "subject": subject,
                    "trial": number,
                    "target": trial["task"],
                    "target_present": trial["condition"] == "present",
                    "bbox_x": bbox[0],
                    "bbox_y": bbox[1],
                    "bbox_w": bbox[2],
                    "bbox_h": bbox[3],
                    "correct": bool(trial["correct"]),
                    "fix_on_target": bool(trial.get("fixOnTarget", False)),
                    "rt_ms": float(trial.get("RT", np.nan)),
                    "source_file": path.name,
                }
            )
    stim_ids = sorted(images)
    sizes = [sizes_of[s] for s in stim_ids]
    stimuli = stimulus_index(stim_ids, [images[s] for s in stim_ids], sizes, [splits[s] for s in stim_ids])
    trials = pd.DataFrame(trial_rows).sort_values(["stim_id", "subject", "trial"], kind="stable").reset_index(drop=True)
    return GazeData(dataset, fixation_table(rows, dataset), stimuli, tables={"trials": trials})
