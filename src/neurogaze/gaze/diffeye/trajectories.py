"""Gaze trajectories for DiffEye: fixed-length (L, 2) arrays of image coordinates in [0, 1].

* :func:`cut_trajectories`: raw samples in the contract (``neurogaze.data.contracts.SAMPLE_COLUMNS``,
  image pixels) -> one trajectory per recording of at least L samples. As in the paper, missing
  samples (blinks, track loss: NaN) are removed first; samples that fall off the image are
  removed with them (the paper normalises to the image and says nothing of off-image gaze: our
  choice). Recordings at another rate than ``rate_hz`` are resampled to it by linear
  interpolation in time (MIT1003 is recorded at the paper's 240 Hz and is not touched); a
  recording keeps its first L samples.
* :func:`check_trajectories`: the contract of what the model reads; shorter than L, NaN and
  off-image coordinates are named :class:`~neurogaze.errors.DataValidationError`.
* :func:`split_by_image`: the paper's 90/10 split by image, with an explicit seed.
* :func:`render_scanpath`: an APPROXIMATION for fixation-only data (OSIE): each fixation
  becomes Gaussian jitter around its position for its duration, and consecutive fixations are
  joined by a minimum-jerk saccade whose duration follows the main sequence (2.2 ms/deg + 21
  ms, Carpenter 1988), at ``rate_hz``. Real trajectories also have drift, microsaccades, glissades
  and curved saccades, which this rendering lacks.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurogaze.errors import DataValidationError

logger = logging.getLogger(__name__)

PAPER_LENGTH = 720
PAPER_RATE_HZ = 240.0


@dataclass
class Trajectories:
    """Trajectories (n, L, 2) in image fractions (x right, y down), with one row of ``meta``
    (subject, trial, stim_id, width, height) each."""

    xy: np.ndarray
    meta: pd.DataFrame

    def __len__(self) -> int:
        return len(self.xy)

    def select(self, stim_ids) -> Trajectories:
        keep = self.meta["stim_id"].isin(list(stim_ids)).to_numpy()
        return Trajectories(self.xy[keep], self.meta[keep].reset_index(drop=True))


def check_trajectories(xy, length: int, source: str | os.PathLike | None = None) -> np.ndarray:
    """``xy`` as float (n, length, 2) in [0, 1]; anything else is a named error."""
    xy = np.asarray(xy, dtype=float)
    if xy.ndim != 3 or xy.shape[2] != 2:
        raise DataValidationError(source, "trajectories", "an (n, L, 2) array of x, y image fractions", xy.shape)
    if xy.shape[1] < length:
        raise DataValidationError(source, "trajectories", f"at least L = {length} samples per trajectory",
                                  f"{xy.shape[1]} samples")
    bad = ~np.isfinite(xy).all(axis=(1, 2))
    if bad.any():
        raise DataValidationError(source, "trajectories", "no NaN or inf samples (remove blinks first)",
                                  f"{int(bad.sum())} trajectories with missing samples, first #{int(np.argmax(bad))}")
    off = ((xy < 0) | (xy > 1)).any(axis=(1, 2))
    if off.any():
        raise DataValidationError(source, "trajectories", "coordinates on the image (fractions in [0, 1])",
                                  f"{int(off.sum())} trajectories leave the image, first #{int(np.argmax(off))}")
    return xy[:, :length]


def _resampled(t_ms: np.ndarray, values: np.ndarray, rate_hz: float) -> np.ndarray:
    grid = np.arange(t_ms[0], t_ms[-1] + 1e-9, 1000.0 / rate_hz)
    return np.column_stack([np.interp(grid, t_ms, values[:, k]) for k in range(values.shape[1])])


def _on_image(xy: np.ndarray, width: float, height: float) -> np.ndarray:
    return np.isfinite(xy).all(axis=1) & (xy[:, 0] >= 0) & (xy[:, 0] <= width) & (xy[:, 1] >= 0) & (xy[:, 1] <= height)


def recording_trajectory(t_ms, xy_px, size: tuple[int, int], length: int, rate_hz: float,
                         source=None, where: str = "") -> np.ndarray:
    """One recording (samples in image pixels) -> (length, 2) image fractions; a named error when
    fewer than ``length`` samples remain after removing missing and off-image ones."""
    t_ms = np.asarray(t_ms, dtype=float)
    xy_px = np.asarray(xy_px, dtype=float)
    width, height = size
    keep = _on_image(xy_px, width, height)
    t_ms, xy_px = t_ms[keep], xy_px[keep]
    if len(t_ms) >= 2 and abs(1000.0 / np.median(np.diff(t_ms)) - rate_hz) > 0.01 * rate_hz:
        xy_px = _resampled(t_ms, xy_px, rate_hz)
    if len(xy_px) < length:
        raise DataValidationError(source, "samples", f"at least L = {length} valid samples at {rate_hz:g} Hz"
                                  f"{' (' + where + ')' if where else ''}", f"{len(xy_px)}")
    return xy_px[:length] / np.asarray([width, height], dtype=float)


def cut_trajectories(samples: pd.DataFrame, sizes: dict[str, tuple[int, int]], length: int = PAPER_LENGTH,
                     rate_hz: float = PAPER_RATE_HZ, source=None) -> Trajectories:
    """Every (subject, trial) recording of ``samples`` with at least ``length`` valid samples, as
    a trajectory; shorter ones are left out, as the paper does (the count is logged), and a
    named error is raised when none is long enough."""
    rows, arrays, shortest = [], [], None
    for (subject, trial), group in samples.groupby(["subject", "trial"], sort=True):
        stim_id = str(group["stim_id"].iloc[0])
        if stim_id not in sizes:
            raise DataValidationError(source, "stim_id", "a stimulus of the stimulus index", stim_id)
        size = sizes[stim_id]
        try:
            arrays.append(recording_trajectory(group["t_ms"].to_numpy(), group[["x", "y"]].to_numpy(), size,
                                               length, rate_hz, source, f"subject {subject}, trial {trial}"))
        except DataValidationError as error:
            shortest = error if shortest is None else shortest
            continue
        rows.append({"subject": str(subject), "trial": int(trial), "stim_id": stim_id,
                     "width": int(size[0]), "height": int(size[1])})
    if not arrays:
        raise shortest or DataValidationError(source, "samples", "at least one recording", "none")
    dropped = samples.groupby(["subject", "trial"]).ngroups - len(arrays)
    if dropped:
        logger.info("diffeye: %d of %d recordings have fewer than %d valid samples and are left out",
                    dropped, dropped + len(arrays), length)
    return Trajectories(check_trajectories(np.stack(arrays), length, source), pd.DataFrame(rows))


def split_by_image(stim_ids, test_fraction: float, seed: int) -> dict[str, list[str]]:
    """The images in a seeded random order, the last ``round(test_fraction * n)`` (at least one)
    held out; no image is in both parts."""
    images = sorted(set(map(str, stim_ids)))
    if len(images) < 2:
        raise DataValidationError(None, "stim_id", "at least two images to split", len(images))
    order = np.random.default_rng(seed).permutation(len(images))
    n_test = min(max(int(round(test_fraction * len(images))), 1), len(images) - 1)
    test = sorted(images[i] for i in order[:n_test])
    return {"train": sorted(set(images) - set(test)), "test": test}


def render_scanpath(fixations, size: tuple[int, int], length: int, rate_hz: float, deg_per_px: float,
                    rng: np.random.Generator, jitter_deg: float = 0.05) -> np.ndarray:
    """Fixations (n, 3: x px, y px, duration ms) -> an approximate (length, 2) trajectory in image
    fractions (see the module doc); the last fixation is held until ``length`` samples exist."""
    fixations = np.asarray(fixations, dtype=float)
    if fixations.ndim != 2 or fixations.shape[1] != 3 or len(fixations) == 0:
        raise DataValidationError(None, "fixations", "an (n >= 1, 3) array of x, y (px), duration (ms)",
                                  fixations.shape)
    dt = 1000.0 / rate_hz
    jitter_px = jitter_deg / deg_per_px
    pieces, position = [], fixations[0, :2]
    for x, y, duration in fixations:
        target = np.array([x, y])
        amplitude_deg = math.dist(position, target) * deg_per_px
        n_saccade = int(round((2.2 * amplitude_deg + 21.0) / dt)) if len(pieces) else 0
        if n_saccade:
            tau = np.linspace(0, 1, n_saccade + 2)[1:-1, None]
            pieces.append(position + (10 * tau**3 - 15 * tau**4 + 6 * tau**5) * (target - position))
        n_fixation = max(int(round(duration / dt)), 1)
        pieces.append(target + rng.normal(0.0, jitter_px, (n_fixation, 2)))
        position = target
    trace = np.concatenate(pieces)
    if len(trace) < length:
        trace = np.concatenate([trace, position + rng.normal(0.0, jitter_px, (length - len(trace), 2))])
    width, height = size
    return np.clip(trace[:length] / np.asarray([width, height], dtype=float), 0.0, 1.0)
