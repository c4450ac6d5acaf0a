"""DiffEye's scores of one image: k sampled scanpaths against the image's human scanpaths.

The paper's four scanpath distances (Levenshtein on a grid, discrete Frechet, DTW, time-delay
embedding), all lower-is-better, each reported two ways:

* ``<metric>_mean``: the mean over all (sample, human) pairs;
* ``<metric>_best``: for every human scanpath the closest of the k samples, averaged over the
  humans (our reading of "best over samples": the paper does not spell it out).

Diversity between samples: ``diversity_dfd``, the mean discrete Frechet distance (pixels) over
all pairs of the k sampled scanpaths, beside ``human_diversity_dfd``, the same over the human
scanpaths of the image (a model that collapses to one scanpath scores 0).

Saliency (CC, NSS, KL through ``neurogaze.metrics.saliency``): the samples' fixations blurred by
``sigma_px`` against the human fixations of the image.
"""

from __future__ import annotations

import itertools

import numpy as np

from neurogaze.metrics import saliency as sal
from neurogaze.metrics import scanpath as scp

DISTANCES = {  # output name -> (metric of neurogaze.metrics.scanpath, its output)
    "levenshtein": (scp.string_edit_distance_many, "sed"),
    "dfd": (scp.discrete_frechet_many, "dfd"),
    "dtw": (scp.dtw_many, "dtw"),
    "tde": (scp.time_delay_embedding_many, "tde"),
}
SALIENCY = ("cc", "nss", "kld")


def _distances(samples: list[np.ndarray], humans: list[np.ndarray], size, grid) -> dict[str, np.ndarray]:
    """name -> (k samples, humans) matrix of distances (NaN where a scanpath is too short)."""
    params = {"levenshtein": {"grid": tuple(grid)}}
    out = {}
    for name, (metric, output) in DISTANCES.items():
        rows = [metric(s, humans, size, **params.get(name, {}))[output] for s in samples]
        out[name] = np.asarray(rows, dtype=float).reshape(len(samples), len(humans))
    return out


def _nanmean(values) -> float:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def mean_pairwise_dfd(scanpaths: list[np.ndarray]) -> float:
    values = [scp.discrete_frechet(a, b)["dfd"] for a, b in itertools.combinations(scanpaths, 2)]
    return _nanmean(values)


def score_image(samples: list[np.ndarray], humans: list[np.ndarray], size: tuple[int, int],
                saliency_map: np.ndarray, sigma_px: float, grid=scp.DEFAULT_STRING_GRID) -> dict[str, float]:
    """Every DiffEye metric of one image; ``samples`` and ``humans`` are (n, 3) scanpaths in pixels."""
    scores = {}
    for name, matrix in _distances(samples, humans, size, grid).items():
        scores[f"{name}_mean"] = _nanmean(matrix)
        with np.errstate(all="ignore"):
            best = np.where(np.isfinite(matrix), matrix, np.inf).min(axis=0)
        scores[f"{name}_best"] = _nanmean(best)
    scores["diversity_dfd"] = mean_pairwise_dfd(samples)
    scores["human_diversity_dfd"] = mean_pairwise_dfd(humans)
    width, height = size
    human_points = [h[:, :2] for h in humans if len(h)]
    fixations = sal.to_pixels(np.concatenate(human_points) if human_points else np.zeros((0, 2)), width, height)
    target = sal.SaliencyTarget.from_fixations(fixations, (height, width), sigma_px)
    for name in SALIENCY:
        scores[name] = float(sal.SALIENCY_METRICS[name](saliency_map, target))
    return scores
