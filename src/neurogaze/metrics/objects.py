"""Where fixations fall relative to known objects: the share of a scanpath's fixations inside the
boxes of its image's objects, and how many distinct places a scanpath visits.

These score a scanpath against planted truth (the synthetic sets' ``ground_truth.json`` names each
image's objects and boxes) or against any dataset with object boxes, independently of human
scanpaths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from neurogaze.errors import DataValidationError

SCANPATH_KEYS = ["stim_id", "subject", "trial"]


def inside_boxes(x: np.ndarray, y: np.ndarray, boxes: Sequence[Sequence[float]]) -> np.ndarray:
    """True where (x, y) lies in any of ``boxes`` ([x, y, width, height], COCO's convention: a box
    covers [x, x + width) x [y, y + height) in continuous pixel coordinates)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    hit = np.zeros(x.shape, dtype=bool)
    for left, top, width, height in boxes:
        hit |= (x >= left) & (x < left + width) & (y >= top) & (y < top + height)
    return hit


def fixations_in_boxes(fixations: pd.DataFrame, boxes: Mapping[str, Sequence[Sequence[float]]]) -> pd.Series:
    """Share of each scanpath's fixations inside the boxes of its image (index: stim_id, subject,
    trial). Every image of ``fixations`` needs an entry in ``boxes`` (an empty list is allowed)."""
    missing = sorted(set(fixations["stim_id"]) - set(boxes))
    if missing:
        raise DataValidationError(None, "boxes", "boxes for every image of the fixations", missing[:5])
    hits = pd.Series(False, index=fixations.index)
    for stim_id, rows in fixations.groupby("stim_id", sort=False):
        hits.loc[rows.index] = inside_boxes(rows["x"].to_numpy(), rows["y"].to_numpy(), boxes[stim_id])
    return hits.groupby([fixations[key] for key in SCANPATH_KEYS]).mean().rename("in_boxes")


def distinct_positions(fixations: pd.DataFrame, tolerance_px: float = 1.0) -> pd.Series:
    """Number of distinct positions of each scanpath: a fixation counts when it lies farther than
    ``tolerance_px`` from every earlier fixation of the same scanpath (index: stim_id, subject, trial)."""
    def count(rows: pd.DataFrame) -> int:
        points = rows.sort_values("fix_index")[["x", "y"]].to_numpy(dtype=float)
        kept: list[np.ndarray] = []
        for point in points:
            if all(np.hypot(*(point - earlier)) > tolerance_px for earlier in kept):
                kept.append(point)
        return len(kept)

    grouped = fixations.groupby(SCANPATH_KEYS, sort=True)
    return pd.Series({key: count(rows) for key, rows in grouped}, name="distinct_positions").rename_axis(SCANPATH_KEYS)
