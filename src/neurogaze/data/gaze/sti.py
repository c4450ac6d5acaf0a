"""DFKI STI / Amazon book-cover shelves (OAT's shelf data, Fang et al. 2024): 6 shelves x 14 covers.

Layout (as OAT's ``img_feature_amazon.py`` reads it): ``amazon_data/amazon_data.json`` maps each
shelf image name to ``{"ground_truth": [{"xmin", "ymin", "xmax", "ymax"}], "target":
"target/<id>.<ext>", "fixations": {subject: [[x, y], ...]}}``; ``amazon_data/images/<name>`` is
the shelf, ``amazon_data/binarymask/14x6-<name>`` marks every cover white on black and
``amazon_data/target/<id>.<ext>`` is the target cue. Covers are the mask's connected white regions,
ordered by shelf (top edge to 10 px) and then left to right; the target is the cover that overlaps
the ground-truth box most; a fixation goes to the cover that contains it, else the nearest cover
centre; scanpaths whose length lies outside the mean +- 3 SD of all scanpaths are dropped, as
the paper does. Identical covers share one patch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from neurogaze.data.gaze.objects import (
    PAPER_PATCH_SIZE,
    ObjectSearchSet,
    SearchTrial,
    grid_positions,
    resize_patch,
    validate_trial,
)
from neurogaze.errors import DataValidationError

logger = logging.getLogger(__name__)

FOLDER = Path("amazon_data")
MASK_PREFIX = "14x6-"
ROW_TOLERANCE_PX = 10


def cover_boxes(mask: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1) of each white region, by shelf then left to right (end-exclusive)."""
    grey = mask if mask.ndim == 2 else mask[..., :3].mean(axis=2)
    labels, _ = ndimage.label(grey > 127)
    boxes = [(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in ndimage.find_objects(labels)]
    return np.array(sorted(boxes, key=lambda b: (b[1] // ROW_TOLERANCE_PX, b[0])), dtype=float)


def _overlap(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    width = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    height = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = width * height
    union = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter
    return inter / union


def fixations_to_objects(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The containing cover of each (x, y), else the one with the nearest centre."""
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    inside = ((points[:, None, 0] >= boxes[None, :, 0]) & (points[:, None, 0] <= boxes[None, :, 2])
              & (points[:, None, 1] >= boxes[None, :, 1]) & (points[:, None, 1] <= boxes[None, :, 3]))
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    nearest = np.linalg.norm(points[:, None, :] - centres[None], axis=-1).argmin(axis=1)
    return np.where(inside.any(axis=1), inside.argmax(axis=1), nearest)


def _image(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataValidationError(path, "file", "an image of the STI layout", "no such file")
    return np.asarray(Image.open(path).convert("RGB"))


class _Patches:
    """Distinct patches by content, so a repeated cover is one patch."""

    def __init__(self, patch_size):
        self.patch_size, self.index, self.images, self.names = patch_size, {}, [], []

    def add(self, image: np.ndarray, name: str) -> int:
        patch = resize_patch(image, self.patch_size)
        digest = hashlib.sha256(patch.tobytes()).hexdigest()
        if digest not in self.index:
            self.index[digest] = len(self.images)
            self.images.append(patch)
            self.names.append(name)
        return self.index[digest]


def _target_index(entry: dict, boxes: np.ndarray, source: Path, name: str) -> int:
    truth = entry.get("ground_truth")
    if not truth or not all(key in truth[0] for key in ("xmin", "ymin", "xmax", "ymax")):
        raise DataValidationError(source, f"{name}.ground_truth", "the target's box {xmin, ymin, xmax, ymax}",
                                  "a trial without a target")
    box = np.array([truth[0][key] for key in ("xmin", "ymin", "xmax", "ymax")], dtype=float)
    overlap = _overlap(box, boxes)
    if overlap.max() <= 0:
        raise DataValidationError(source, f"{name}.ground_truth", "a box overlapping one of the covers",
                                  box.tolist())
    return int(overlap.argmax())


def _drop_outlying_lengths(trials: list[SearchTrial]) -> list[SearchTrial]:
    lengths = np.array([len(t.sequence) for t in trials], dtype=float)
    low, high = lengths.mean() - 3 * lengths.std(), lengths.mean() + 3 * lengths.std()
    kept = [t for t, n in zip(trials, lengths) if low <= n <= high]
    logger.info("sti: %d of %d scanpaths within mean +- 3 SD of length (%.1f-%.1f)", len(kept), len(trials), low, high)
    return kept


def read_sti(root: str | os.PathLike, patch_size=PAPER_PATCH_SIZE, name: str = "sti") -> ObjectSearchSet:
    """Every subject's scanpath on every shelf of ``amazon_data.json`` (see the module note)."""
    folder = Path(root) / FOLDER
    source = folder / "amazon_data.json"
    if not source.is_file():
        raise DataValidationError(source, "file", "the STI gaze file amazon_data.json", "no such file")
    data = json.loads(source.read_text())
    patches, trials = _Patches(patch_size), []
    for image_name, entry in data.items():
        if "target" not in entry:
            raise DataValidationError(source, f"{image_name}.target", "the target cue's file (target/<id>.<ext>)",
                                      "a trial without a target")
        image = _image(folder / "images" / image_name)
        boxes = cover_boxes(_image(folder / "binarymask" / f"{MASK_PREFIX}{image_name}"))
        if len(boxes) == 0:
            raise DataValidationError(folder / "binarymask" / f"{MASK_PREFIX}{image_name}", "covers",
                                      "white cover regions", "none")
        objects = np.array([patches.add(image[int(b[1]):int(b[3]), int(b[0]):int(b[2])], f"{image_name}:{k}")
                            for k, b in enumerate(boxes)])
        target_patch = patches.add(_image(folder / entry["target"]), entry["target"])
        target_index = _target_index(entry, boxes, source, image_name)
        grid = grid_positions(boxes)
        screen = (image.shape[1], image.shape[0])
        for subject, points in entry.get("fixations", {}).items():
            if len(points) == 0:
                raise DataValidationError(source, f"{image_name}.fixations.{subject}", "a non-empty scanpath",
                                          "no fixation")
            trial = SearchTrial(str(subject), f"{Path(image_name).stem}_{subject}", Path(image_name).stem, objects,
                                boxes, grid, target_patch, target_index, fixations_to_objects(points, boxes), screen)
            validate_trial(trial, source)
            trials.append(trial)
    if not trials:
        raise DataValidationError(source, "fixations", "at least one scanpath", "none")
    return ObjectSearchSet(name, np.stack(patches.images), _drop_outlying_lengths(trials), patches.names)
