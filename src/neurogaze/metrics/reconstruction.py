"""Retrieval and reconstruction metrics of brain decoding (MindEye's evaluation).

- ``retrieval_top1``: image retrieval (each brain sample picks the most similar of n images) and
  brain retrieval (each image picks the most similar of n brain samples) among random subsets of
  ``subset`` test items, averaged over ``n_draws`` draws (paper: 300 items, 30 draws).
- ``pixcorr``: Pearson r of flattened pixels per image pair.
- ``ssim``: mean structural similarity on grey-level images (skimage's Gaussian-weighted SSIM).
- ``two_way_identification``: for each reconstruction, the fraction of other images whose feature
  vector correlates less with the reconstruction's than the true image's does (chance 50 %).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity

from neurogaze.errors import DataValidationError


def _unit_rows(x: np.ndarray) -> np.ndarray:
    # float32 stays float32: 982 paper-size predictions (257 x 768) are 0.8 GB already
    x = np.asarray(x)
    x = x.astype(np.float32 if x.dtype == np.float32 else np.float64, copy=False).reshape(len(x), -1)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _check_paired(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    if len(a) != len(b):
        raise DataValidationError(None, names[1], f"as many rows as {names[0]} ({len(a)})", len(b))
    if np.prod(np.shape(a)[1:]) != np.prod(np.shape(b)[1:]):
        raise DataValidationError(None, names[1], f"the feature size of {names[0]} {np.shape(a)[1:]}", np.shape(b)[1:])


def cosine_similarities(brain: np.ndarray, images: np.ndarray) -> np.ndarray:
    """(n_brain, n_images) cosine similarities; any trailing shape is flattened."""
    return _unit_rows(brain) @ _unit_rows(images).T


def retrieval_top1(brain: np.ndarray, images: np.ndarray, subset: int = 300, n_draws: int = 30,
                   seed: int = 0) -> dict[str, float]:
    """Top-1 image and brain retrieval (fractions) by cosine similarity, averaged over random subsets.

    ``brain[i]`` and ``images[i]`` belong to the same stimulus; any trailing shape is flattened.
    With fewer than ``subset`` items, every draw uses all of them (one draw suffices then).
    """
    _check_paired(brain, images, ("brain", "images"))
    n = len(brain)
    size = min(subset, n)
    rng = np.random.default_rng(seed)
    # one similarity matrix, then a sub-block per draw: 30 draws cost one product, not thirty
    all_sims = cosine_similarities(brain, images)
    image_hits, brain_hits = [], []
    for _ in range(n_draws if size < n else 1):
        pick = np.sort(rng.choice(n, size=size, replace=False))
        sims = all_sims[np.ix_(pick, pick)]
        truth = np.arange(size)
        image_hits.append(np.mean(sims.argmax(axis=1) == truth))
        brain_hits.append(np.mean(sims.argmax(axis=0) == truth))
    return {"image_top1": float(np.mean(image_hits)), "brain_top1": float(np.mean(brain_hits)),
            "chance": 1.0 / size, "subset": size}


def _as_float_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise DataValidationError(None, "images", "(N, H, W, 3) images", images.shape)
    return images.astype(np.float64) / 255.0 if images.dtype == np.uint8 else images.astype(np.float64)


def pixcorr(reconstructions: np.ndarray, truths: np.ndarray) -> np.ndarray:
    """Per-pair Pearson r of all pixel values (images (N, H, W, 3), same size)."""
    recon, truth = _as_float_images(reconstructions), _as_float_images(truths)
    _check_paired(truth, recon, ("truths", "reconstructions"))
    a = recon.reshape(len(recon), -1)
    b = truth.reshape(len(truth), -1)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def ssim(reconstructions: np.ndarray, truths: np.ndarray) -> np.ndarray:
    """Per-pair SSIM of grey-level images, skimage's Gaussian-weighted form (as MindEye reports it)."""
    recon, truth = _as_float_images(reconstructions), _as_float_images(truths)
    _check_paired(truth, recon, ("truths", "reconstructions"))
    return np.array([
        structural_similarity(rgb2gray(t), rgb2gray(r), gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False, data_range=1.0)
        for r, t in zip(recon, truth)
    ])


def two_way_identification(recon_features: np.ndarray, truth_features: np.ndarray) -> np.ndarray:
    """Per reconstruction: fraction of distractor images it is told apart from (Pearson r of features)."""
    _check_paired(truth_features, recon_features, ("truth_features", "recon_features"))
    a = np.asarray(recon_features, dtype=np.float64).reshape(len(recon_features), -1)
    b = np.asarray(truth_features, dtype=np.float64).reshape(len(truth_features), -1)
    a = _unit_rows(a - a.mean(axis=1, keepdims=True))
    b = _unit_rows(b - b.mean(axis=1, keepdims=True))
    r = a @ b.T  # r[i, j]: reconstruction i vs image j
    n = len(r)
    if n < 2:
        raise DataValidationError(None, "recon_features", "at least two items for two-way identification", n)
    wins = (r < np.diag(r)[:, None]).sum(axis=1)
    return wins / (n - 1)


def evaluate_reconstructions(reconstructions: np.ndarray, truths: np.ndarray,
                             features: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> dict[str, np.ndarray]:
    """Per-image PixCorr and SSIM, plus two-way identification for each feature network given as
    ``{name: (features of the reconstructions, features of the seen images)}`` (e.g. CLIP)."""
    values = {"pixcorr": pixcorr(reconstructions, truths), "ssim": ssim(reconstructions, truths)}
    for name, (recon_features, truth_features) in (features or {}).items():
        values[f"two_way_{name}"] = two_way_identification(recon_features, truth_features)
    return values


def metric_rows(values: dict[str, np.ndarray | float], method: str, dataset: str, split: str = "test",
                seed: int = 0, units: list[str] | None = None) -> pd.DataFrame:
    """Rows of the metrics contract: arrays give one row per item (``unit``), scalars unit 'all'."""
    rows = []
    for metric, value in values.items():
        value = np.atleast_1d(np.asarray(value, dtype=np.float64))
        names = ["all"] if value.size == 1 else (units or [str(i) for i in range(value.size)])
        rows.extend({"method": method, "dataset": dataset, "unit": name, "metric": metric, "split": split,
                     "seed": seed, "value": float(v)} for name, v in zip(names, value))
    return pd.DataFrame(rows, columns=["method", "dataset", "unit", "metric", "split", "seed", "value"])


__all__ = ["cosine_similarities", "evaluate_reconstructions", "metric_rows", "pixcorr", "retrieval_top1", "ssim",
           "two_way_identification"]
