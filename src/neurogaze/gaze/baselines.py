"""Gaze baselines: centre bias and uniform random scanpaths (the pipeline's ``BASELINES``), and
scanpaths sampled from given saliency maps.

Every sampler takes an explicit ``numpy.random.Generator``; ``baseline_fixations`` (and
``saliency_sampling_fixations``) derive one per image from a master seed and the stimulus id, so
the same seed gives the same table whatever order or subset of images is asked for.

Sampled scanpaths follow the fixation contract: x, y in image pixels, durations in ms and the
number of fixations drawn from the human durations and scanpath lengths of the *training*
images (never from the scored image's own observers, which would hand a baseline part of the
answer), ``t_start_ms`` the running sum of durations (saccade time is not modelled).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurogaze.data.contracts import FIXATION_COLUMNS, validate_fixations
from neurogaze.errors import DataValidationError
from neurogaze.gaze import BASELINES
from neurogaze.metrics.saliency import centre_bias_map, check_map, to_density
from neurogaze.runlog import image_rng


@dataclass(frozen=True)
class BaselineConfig:
    """Config section ``gaze_baselines`` without the workflow's ``enabled`` and ``kinds``; the
    defaults are the schema's."""

    n_samples: int = 10  # scanpaths per image; lengths and durations come from the training images' humans
    centre_bias: str | dict[str, float] = "fit"  # "fit": fitted on fixations outside the scored split


# ---------------------------------------------------------------------------------------------
# The centre bias (its map: ``neurogaze.metrics.saliency.centre_bias_map``)
# ---------------------------------------------------------------------------------------------


def fit_centre_bias(fixations: pd.DataFrame, image_sizes: dict[str, tuple[int, int]]) -> dict[str, float]:
    """Mean and SD of fixation positions as fractions of image width and height (training data)."""
    width = fixations["stim_id"].map(lambda s: image_sizes[s][0]).to_numpy(float)
    height = fixations["stim_id"].map(lambda s: image_sizes[s][1]).to_numpy(float)
    x, y = fixations["x"].to_numpy(float) / width, fixations["y"].to_numpy(float) / height
    return {"centre_x": x.mean(), "centre_y": y.mean(), "sigma_x": x.std(), "sigma_y": y.std()}


# ---------------------------------------------------------------------------------------------
# Scanpath samplers
# ---------------------------------------------------------------------------------------------


def _durations(durations, n: int, rng: np.random.Generator) -> np.ndarray:
    pool = np.atleast_1d(np.asarray(durations, dtype=float))
    if pool.size == 0 or not np.all(np.isfinite(pool)) or (pool < 0).any():
        raise DataValidationError(None, "durations", "finite non-negative durations in ms", pool[:5])
    return np.full(n, pool[0]) if pool.size == 1 else rng.choice(pool, size=n)


def _draw_pixels(density: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Flat pixel indices drawn with probability proportional to ``density``."""
    cdf = np.cumsum(density.ravel())
    return np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), cdf.size - 1)


def sample_scanpath_from_map(
    saliency_map,
    n_fixations: int,
    rng: np.random.Generator,
    durations=250.0,
    ior_sigma_px: float | None = None,
    ior_strength: float = 1.0,
) -> np.ndarray:
    """Fixations drawn from a saliency map taken as a density (uniform within the drawn pixel).

    With ``ior_sigma_px`` set, inhibition of return multiplies the map by
    ``1 - ior_strength * exp(-d^2 / (2 sigma^2))`` around every fixation made so far.
    Returns (n_fixations, 3): x, y (pixels), duration (ms).
    """
    density = to_density(saliency_map)
    height, width = density.shape
    if not ior_sigma_px:
        rows, cols = np.divmod(_draw_pixels(density, n_fixations, rng), width)
        xs, ys = cols + rng.random(n_fixations), rows + rng.random(n_fixations)
        return np.column_stack([xs, ys, _durations(durations, n_fixations, rng)])
    xs, ys = np.empty(n_fixations), np.empty(n_fixations)
    grid_y, grid_x = np.mgrid[0:height, 0:width] + 0.5
    for k in range(n_fixations):
        row, col = divmod(int(_draw_pixels(density, 1, rng)[0]), width)
        xs[k], ys[k] = col + rng.random(), row + rng.random()
        distance2 = (grid_x - xs[k]) ** 2 + (grid_y - ys[k]) ** 2
        density = density * (1 - ior_strength * np.exp(-distance2 / (2 * ior_sigma_px**2)))
        if density.sum() <= 0:  # everything inhibited: start afresh rather than divide by zero
            density = to_density(saliency_map)
    return np.column_stack([xs, ys, _durations(durations, n_fixations, rng)])


def uniform_scanpath(width: int, height: int, n_fixations: int, rng: np.random.Generator, durations=250.0):
    """Fixations uniform over the image."""
    xs, ys = rng.uniform(0, width, n_fixations), rng.uniform(0, height, n_fixations)
    return np.column_stack([xs, ys, _durations(durations, n_fixations, rng)])


def centre_bias_scanpath(width: int, height: int, n_fixations: int, rng: np.random.Generator, durations=250.0, **bias):
    """Fixations drawn from ``neurogaze.metrics.saliency.centre_bias_map(width, height, **bias)``."""
    return sample_scanpath_from_map(centre_bias_map(width, height, **bias), n_fixations, rng, durations)


# ---------------------------------------------------------------------------------------------
# Baseline tables in the fixation contract
# ---------------------------------------------------------------------------------------------

def baseline_fixations(
    kind: str,
    humans: pd.DataFrame,
    image_sizes: dict[str, tuple[int, int]],
    n_samples: int = 10,
    seed: int = 0,
    centre_bias: dict[str, float] | None = None,
    *,
    training: pd.DataFrame,
) -> pd.DataFrame:
    """``n_samples`` scanpaths of baseline ``kind`` (one of ``BASELINES``) per image of ``humans``
    (the scored images: only their ids, task and target are read), as a fixation-contract table;
    ``subject`` is ``<kind>_<sample index>``. Lengths and durations are drawn from ``training``,
    human fixations of other images. ``centre_bias``: the centre and sigmas of the centre-bias
    map (default: centred, sigma 0.2)."""
    if kind not in BASELINES:
        raise DataValidationError(None, "kind", f"one of {BASELINES}", kind)
    bias = centre_bias or {}

    def sampler(stim, width, height, n, rng, pool):
        if kind == "uniform":
            return uniform_scanpath(width, height, n, rng, pool)
        return centre_bias_scanpath(width, height, n, rng, pool, **bias)

    return _sampled_table(kind, sampler, humans, image_sizes, n_samples, seed, training)


def saliency_sampling_fixations(
    humans: pd.DataFrame,
    image_sizes: dict[str, tuple[int, int]],
    saliency_maps: dict[str, np.ndarray],
    n_samples: int = 10,
    seed: int = 0,
    ior_sigma_px: float | None = None,
    *,
    training: pd.DataFrame,
) -> pd.DataFrame:
    """``n_samples`` scanpaths per image drawn from its map in ``saliency_maps`` (stim_id -> map of
    the image's height x width), with inhibition of return when ``ior_sigma_px`` is set
    (:func:`sample_scanpath_from_map`); ``subject`` is ``saliency_sampling_<sample index>``;
    lengths and durations from ``training`` as in :func:`baseline_fixations`."""
    if saliency_maps is None:
        raise DataValidationError(None, "saliency_maps", "a map per image for saliency sampling", None)

    def from_map(stim, w, h, n, rng, pool):
        if stim not in saliency_maps:
            raise DataValidationError(None, "saliency_maps", f"a map for {stim!r}", "missing")
        smap = check_map(saliency_maps[stim])
        if smap.shape != (h, w):
            raise DataValidationError(None, f"saliency_maps[{stim!r}]", f"shape {(h, w)}", smap.shape)
        return sample_scanpath_from_map(smap, n, rng, pool, ior_sigma_px=ior_sigma_px)

    return _sampled_table("saliency_sampling", from_map, humans, image_sizes, n_samples, seed, training)


def training_behaviour(training: pd.DataFrame, scored_ids) -> tuple[np.ndarray, np.ndarray]:
    """(scanpath lengths, fixation durations in ms) of human scanpaths on images outside
    ``scored_ids``: what a baseline may know of how people look, without the scored images."""
    training = training[~training["stim_id"].isin(set(scored_ids))]
    if training.empty:
        expected = "human fixations on images outside the scored ones, to take lengths and durations from"
        raise DataValidationError("training fixations", "rows", expected)
    lengths = training.groupby(["stim_id", "subject", "trial"]).size().to_numpy()
    return lengths, training["duration_ms"].to_numpy(float)


def _sampled_table(name: str, sampler: Callable, humans, image_sizes, n_samples: int, seed: int,
                   training: pd.DataFrame) -> pd.DataFrame:
    """Per image (in order): its generator, then ``n_samples`` scanpaths of lengths drawn from the
    training images' human scanpath lengths and durations from their human durations."""
    humans = validate_fixations(humans, "human fixations", image_sizes)
    if humans.empty:
        raise DataValidationError("human fixations", "rows", "at least one human fixation on a scored image")
    lengths, pool = training_behaviour(training, humans["stim_id"].unique())
    frames = []
    for (dataset, stim_id), image in humans.groupby(["dataset", "stim_id"], sort=True):
        width, height = image_sizes[stim_id]
        rng = image_rng(seed, stim_id, name)
        for sample in range(n_samples):
            scanpath = sampler(stim_id, width, height, int(rng.choice(lengths)), rng, pool)
            task, target = image["task"].iloc[0], image["target"].iloc[0]
            frames.append(scanpath_frame(scanpath, dataset, stim_id, f"{name}_{sample}", task, target))
    return pd.concat(frames, ignore_index=True).astype(FIXATION_COLUMNS)


def scanpath_frame(scanpath: np.ndarray, dataset, stim_id, subject, task="free_viewing", target=None, trial=0):
    """One scanpath (n, 3) as rows of the fixation contract."""
    n = len(scanpath)
    durations = scanpath[:, 2]
    return pd.DataFrame(
        {
            "dataset": dataset,
            "stim_id": stim_id,
            "subject": subject,
            "trial": trial,
            "fix_index": np.arange(n),
            "x": scanpath[:, 0],
            "y": scanpath[:, 1],
            "t_start_ms": np.concatenate([[0.0], np.cumsum(durations)[:-1]]),
            "duration_ms": durations,
            "object_id": pd.NA,
            "task": task,
            "target": target,
        }
    )
