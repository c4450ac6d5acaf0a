"""Figures of the ADHD network classifier: glass brains of group differences and of the learned
mask, ROC curves, and accuracy against the paper's 69.59 % (Dey, Rao & Shah 2012). :func:`plot`
is the stage of rule ``adhd_plot``."""

from __future__ import annotations

import logging
import os

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
from nilearn import plotting
from sklearn.metrics import roc_curve

from neurogaze.brain.adhd.classification import PAPER_TEST_ACCURACY
from neurogaze.data.contracts import read_metrics
from neurogaze.errors import DataValidationError
from neurogaze.figures.style import PALETTE, neurogaze_style, plt, save_figure

logger = logging.getLogger(__name__)


def map_volume(values: np.ndarray, mask: np.ndarray, affine: np.ndarray, fill: float = 0.0) -> nib.Nifti1Image:
    """One value per in-mask voxel (C order of ``mask``, as in the resting-state contract) -> NIfTI."""
    values = np.asarray(values, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    if values.shape != (int(mask.sum()),):
        raise DataValidationError(None, "values", f"one value per in-mask voxel ({int(mask.sum())})", values.shape)
    volume = np.full(mask.shape, fill, dtype=np.float32)
    volume[mask] = np.nan_to_num(values, nan=fill)
    return nib.Nifti1Image(volume, np.asarray(affine, dtype=np.float64))


def _glass_brain(image: nib.Nifti1Image, title: str, symmetric: bool, vmax: float | None, threshold: float):
    data = np.asarray(image.dataobj)
    vmax = vmax or float(np.nanmax(np.abs(data))) or 1.0
    with neurogaze_style():
        figure = plt.figure(figsize=(7.0, 2.6))
        if symmetric:
            options = {"cmap": "cold_hot", "vmin": -vmax, "plot_abs": False}
        else:
            options = {"cmap": "viridis", "vmin": 0.0}
        plotting.plot_glass_brain(image, figure=figure, title=title, colorbar=True, vmax=vmax, threshold=threshold,
                                  **options)
    return figure


def plot_group_difference(t_map: np.ndarray, mask: np.ndarray, affine: np.ndarray, feature: str = "triangles",
                          threshold: float = 2.0):
    """Glass brain of the ADHD - TDC t statistic of one network map (training subjects)."""
    image = map_volume(t_map, mask, affine)
    return _glass_brain(image, f"ADHD - TDC, {feature} (Welch t, |t| > {threshold:g})", True, None, threshold)


def plot_learned_mask(frequency: np.ndarray, mask: np.ndarray, affine: np.ndarray):
    """Glass brain of how often each voxel entered the discriminative mask across CV folds."""
    image = map_volume(frequency, mask, affine)
    return _glass_brain(image, "discriminative mask: share of CV folds selecting the voxel", False, 1.0, 1e-6)


def plot_roc(predictions: pd.DataFrame):
    """ROC curves of the held-out test set and of the pooled cross-validation predictions."""
    with neurogaze_style():
        figure, axis = plt.subplots(figsize=(3.4, 3.2))
        for colour, (split, label) in zip(PALETTE, (("test", "held-out test"), ("cv", "cross-validation (pooled)"))):
            rows = predictions[predictions["split"] == split]
            if rows.empty or rows["label"].nunique() < 2:
                continue
            fpr, tpr, _ = roc_curve(rows["label"], rows["score"])
            axis.plot(fpr, tpr, color=colour, label=label)
        axis.plot([0, 1], [0, 1], color="0.6", linestyle=":", label="chance")
        axis.set(xlabel="false-positive rate (1 - specificity)", ylabel="true-positive rate (sensitivity)",
                 xlim=(0, 1), ylim=(0, 1.01), title="ADHD vs TDC")
        axis.legend(loc="lower right")
        figure.tight_layout()
    return figure


def plot_accuracy_vs_paper(metrics: pd.DataFrame, paper_accuracy: float = PAPER_TEST_ACCURACY):
    """Test and CV accuracy (with fold spread), permuted-label accuracy, next to the paper's number."""
    def value(unit: str, split: str, metric: str) -> float:
        rows = metrics[(metrics["unit"] == unit) & (metrics["split"] == split) & (metrics["metric"] == metric)]
        return float(rows["value"].iloc[0]) if len(rows) else np.nan

    folds = metrics[(metrics["split"] == "cv") & metrics["unit"].str.startswith("fold")
                    & (metrics["metric"] == "accuracy")]
    fold_sd = float(folds["value"].std(ddof=0)) if len(folds) else 0.0
    bars = [
        ("this run\nheld-out test", value("cohort", "test", "accuracy"), 0.0),
        ("this run\nCV (fold SD)", value("cohort", "cv", "accuracy"), fold_sd),
        ("permuted\nlabels (CV)", value("cohort", "permutation", "permuted_accuracy_mean"), 0.0),
        ("Dey et al. 2012\nADHD-200 test", paper_accuracy, 0.0),
    ]
    with neurogaze_style():
        figure, axis = plt.subplots(figsize=(5.2, 3.2))
        names = [name for name, _, _ in bars]
        heights = [100 * v for _, v, _ in bars]
        errors = [100 * e for _, _, e in bars]
        colours = [PALETTE[0], PALETTE[4], "0.6", PALETTE[1]]
        axis.bar(names, heights, color=colours)
        for x, (height, error) in enumerate(zip(heights, errors)):
            if error > 0:
                axis.errorbar(x, height, yerr=error, color="black", capsize=3, linewidth=1)
            if np.isfinite(height):
                axis.text(x + 0.02, height + error + 1.5, f"{height:.1f}%", ha="center", va="bottom")
        axis.axhline(50, color="0.4", linestyle=":", linewidth=1)
        axis.set(ylabel="accuracy (%)", ylim=(0, 110), title="ADHD vs TDC accuracy")
        figure.tight_layout()
    return figure


def plot(*, metrics: str | os.PathLike, predictions: str | os.PathLike, maps: str | os.PathLike,
         group_difference: str | os.PathLike, mask: str | os.PathLike, roc: str | os.PathLike,
         accuracy: str | os.PathLike, dataset: str) -> None:
    """Rule ``adhd_plot``: the evaluation's ``metrics``, ``predictions`` and ``maps`` -> the glass
    brains of the ADHD - TDC difference (of the 3-cycle map when it was computed, else of the
    first) and of the learned mask, the ROC curves, and the accuracy next to the paper's."""
    with h5py.File(maps, "r") as handle:
        brain_mask, affine = handle["brain_mask"][()], handle["affine"][()]
        group_t, frequency = handle["group_t"][()], handle["mask_frequency"][()]
        features = handle.attrs["feature_names"].split(",")
    logger.info("adhd figures of %s (maps: %s)", dataset, ", ".join(features))
    shown = features.index("triangles") if "triangles" in features else 0
    save_figure(plot_group_difference(group_t[shown], brain_mask, affine, features[shown]), group_difference)
    save_figure(plot_learned_mask(frequency, brain_mask, affine), mask)
    save_figure(plot_roc(pd.read_csv(predictions)), roc)
    save_figure(plot_accuracy_vs_paper(read_metrics(metrics)), accuracy)
