"""Object-level visual search sets: every trial as a layout of object patches, a target and the
sequence of fixated objects (the input of OAT, Fang et al. 2024).

Two on-disk layouts are read: the Kreiman object arrays (``subjectsdata/`` + ``objectimages/``, 6
objects on a ring) and the DFKI STI / Amazon book-cover shelves (``amazon_data/``, see
:mod:`neurogaze.data.gaze.sti`). Patches are stored once per distinct image (``patches``) and
trials point at them, so a model computes each appearance feature once per batch.

Each object gets a (row, column) on its layout, for OAT's positional code (whose similarity decays
with the distance between codes' indices). When the centres form a full lattice (a shelf grid)
these are the rank of the centre's y and x among the layout's distinct rows and columns (centres
closer than half a box count as one): shelf and slot. Otherwise the objects stand on a ring (the
Kreiman arrays: 6 positions at 30 + 60k degrees), and both coordinates are the object's clockwise
order from 12 o'clock; OAT then fits its positional table with the circular distance between
those indices (``ring_size``), so that the code's similarity falls with the distance on the ring
(neighbours > two apart > opposite; tests/gaze/oat). A row/column reading of the ring cannot do
that: two objects on the same row differ in one coordinate only, so the opposite pair on the
middle row would look nearer than a pair two steps apart.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from neurogaze.data.gaze import kreiman
from neurogaze.data.gaze.base import load_mat, struct_field
from neurogaze.errors import DataValidationError

logger = logging.getLogger(__name__)

PAPER_PATCH_SIZE = (150, 93)  # (height, width) of OAT's object patches


@dataclass
class SearchTrial:
    """One search: ``objects`` (patch index per layout position), ``boxes`` (x0, y0, x1, y1 px),
    ``grid`` (row, column per position), the target's patch and position, and ``sequence`` (the
    fixated positions in order)."""

    subject: str
    key: str
    layout: str
    objects: np.ndarray
    boxes: np.ndarray
    grid: np.ndarray
    target_patch: int
    target_index: int
    sequence: np.ndarray
    screen: tuple[int, int]


@dataclass
class ObjectSearchSet:
    name: str
    patches: np.ndarray  # (P, H, W, 3) uint8
    trials: list[SearchTrial] = field(default_factory=list)
    patch_names: list[str] = field(default_factory=list)

    @property
    def n_objects(self) -> int:
        return len(self.trials[0].objects)

    def subjects(self) -> list[str]:
        return sorted({trial.subject for trial in self.trials})

    def select(self, subjects) -> ObjectSearchSet:
        wanted = set(subjects)
        return ObjectSearchSet(self.name, self.patches, [t for t in self.trials if t.subject in wanted],
                               self.patch_names)


def resize_patch(image: np.ndarray, patch_size: tuple[int, int]) -> np.ndarray:
    height, width = patch_size
    rgb = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    return np.asarray(rgb.resize((width, height), Image.BILINEAR), dtype=np.uint8)


def _ranks(values: np.ndarray, tolerance: float) -> np.ndarray:
    order = np.sort(values)
    levels = [order[0]]
    for value in order[1:]:
        if value - levels[-1] > tolerance:
            levels.append(value)
    return np.array([np.searchsorted(np.array(levels) + tolerance, v) for v in values])


def grid_positions(boxes: np.ndarray) -> np.ndarray:
    """(row, column) of each box from its centre (see the module note)."""
    boxes = np.asarray(boxes, dtype=float)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    half_w = np.median(boxes[:, 2] - boxes[:, 0]) / 2
    half_h = np.median(boxes[:, 3] - boxes[:, 1]) / 2
    rows, cols = _ranks(centres[:, 1], half_h), _ranks(centres[:, 0], half_w)
    if (rows.max() + 1) * (cols.max() + 1) == len(boxes):  # a full lattice: shelf and slot
        return np.column_stack([rows, cols])
    # otherwise a ring: the clockwise order from 12 o'clock, as both coordinates
    offset = centres - centres.mean(axis=0)
    order = np.argsort(np.argsort(np.mod(np.arctan2(offset[:, 0], -offset[:, 1]), 2 * np.pi)))
    return np.column_stack([order, order])


def ring_size(boxes: np.ndarray) -> int:
    """0 for a lattice layout, else the number of objects on the ring (see the module note)."""
    grid = grid_positions(boxes)
    return 0 if (grid[:, 0] != grid[:, 1]).any() or len(boxes) == 1 else len(boxes)


def validate_trial(trial: SearchTrial, source) -> None:
    """Named errors for an object search the models cannot use."""
    n = len(trial.objects)
    where = f"{trial.key}"
    if len(trial.sequence) == 0:
        raise DataValidationError(source, f"{where}: fixated objects", "a non-empty scanpath", "no fixation")
    if ((trial.sequence < 0) | (trial.sequence >= n)).any():
        raise DataValidationError(source, f"{where}: fixated objects", f"object indices 0-{n - 1} of the layout",
                                  trial.sequence.tolist())
    if not 0 <= trial.target_index < n:
        raise DataValidationError(source, f"{where}: target", f"an object of the layout (0-{n - 1})",
                                  trial.target_index)


def truncate_at_target(sequence: np.ndarray, target_index: int) -> np.ndarray:
    """The search ends when the target is fixated: fixations after the first one on it are dropped."""
    hits = np.flatnonzero(sequence == target_index)
    return sequence[: hits[0] + 1] if len(hits) else sequence


# --- Kreiman object arrays ---


def _kreiman_patches(root: Path, patch_size) -> tuple[np.ndarray, list[str]]:
    paths = sorted((root / kreiman.OBJECTS_DIR).glob("*.normal.png"), key=lambda p: int(p.name.split(".")[0]))
    if not paths:
        raise DataValidationError(root / kreiman.OBJECTS_DIR, "*.normal.png", "the object images", "none")
    patches = np.stack([resize_patch(np.asarray(Image.open(p).convert("RGB")), patch_size) for p in paths])
    return patches, [p.name.split(".")[0] for p in paths]


def read_kreiman(root: str | os.PathLike, patch_size=PAPER_PATCH_SIZE) -> ObjectSearchSet:
    """Target-present trials of every valid Kreiman session. Target-absent trials (OAT models
    search that ends on a target) and trials without a recorded fixation are left out, with a
    count in the log; both sessions of a subject keep the subject's name."""
    root = Path(root)
    patches, names = _kreiman_patches(root, patch_size)
    patch_of = {name: i for i, name in enumerate(names)}
    trials, dropped = [], {"target absent": 0, "no fixation": 0}
    for path in kreiman.valid_files(root):
        fixations, rows, screen = kreiman.read_session(path)
        params = load_mat(path, required=("params",))["params"]
        centres = kreiman.object_positions(params, path)
        half = float(struct_field(params, "CSIZE", path, "params.")) / 2
        boxes = np.column_stack([centres - half, centres + half])
        grid = grid_positions(boxes)
        fixated: dict[str, list[str]] = {}
        for fixation in fixations:
            fixated.setdefault(fixation["stim_id"], []).append(fixation["object_id"])
        for row in rows:
            if not row["target_present"]:
                dropped["target absent"] += 1
                continue
            if row["stim_id"] not in fixated:
                dropped["no fixation"] += 1
                continue
            probes = row["probes"].split()
            missing = [p for p in probes if p not in patch_of]
            if missing:
                raise DataValidationError(path, f"{row['stim_id']}: probes", "ids with an objectimages/<id>.normal.png",
                                          missing)
            target_index = int(row["target_position"]) - 1
            sequence = np.array([probes.index(obj) for obj in fixated[row["stim_id"]]])
            trial = SearchTrial(row["subject"], row["stim_id"], row["session"],
                                np.array([patch_of[p] for p in probes]), boxes, grid, patch_of[row["target"]],
                                target_index, truncate_at_target(sequence, target_index), screen)
            validate_trial(trial, path)
            trials.append(trial)
    logger.info("kreiman: %d target-present trials; left out: %s", len(trials), dropped)
    return ObjectSearchSet("kreiman", patches, trials, names)
