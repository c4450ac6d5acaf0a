"""BrainDiVE figures: the top synthesised images per ROI, and predicted activation by condition."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurogaze.brain.braindive.guidance import read_synthesis
from neurogaze.config import from_section
from neurogaze.errors import DataValidationError
from neurogaze.figures.style import PALETTE, neurogaze_style, plt, save_figure

CONDITIONS = ("guided", "unguided", "dataset_top")
CONDITION_LABELS = {"guided": "BrainDiVE", "unguided": "unguided (same seeds)", "dataset_top": "dataset top-N"}


def plot_top_images(index: pd.DataFrame, images: dict[tuple[str, str], np.ndarray], n_per_roi: int = 8):
    """One row per ROI: its guided images with the highest predicted activation, best first.

    ``index`` and ``images`` are what ``braindive.guidance.read_synthesis`` returns.
    """
    guided = index[index["condition"] == "guided"]
    if guided.empty:
        raise DataValidationError(None, "index", "rows with condition 'guided'", "none")
    rois = sorted(guided["roi"].unique())
    n_cols = min(n_per_roi, int(guided.groupby("roi").size().min()))
    with neurogaze_style():
        figure, axes = plt.subplots(len(rois), n_cols, figsize=(1.2 * n_cols, 1.3 * len(rois)), squeeze=False)
        for r, roi in enumerate(rois):
            rows = guided[guided["roi"] == roi].sort_values("rank").head(n_cols)
            for c, row in enumerate(rows.itertuples()):
                ax = axes[r, c]
                ax.imshow(images[(roi, "guided")][row.image], interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"{row.predicted:.2f}", fontsize=7)
                if c == 0:
                    ax.set_ylabel(roi)
        figure.suptitle("BrainDiVE: top images per ROI (predicted activation)")
    return figure


def activation_long_table(index: pd.DataFrame, dataset_top: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """roi, condition, predicted: guided and unguided images from the index, plus dataset top-N."""
    table = index[["roi", "condition", "predicted"]].copy()
    extra = [
        pd.DataFrame({"roi": roi, "condition": "dataset_top", "predicted": np.asarray(values, dtype=float)})
        for roi, values in (dataset_top or {}).items()
    ]
    return pd.concat([table, *extra], ignore_index=True)


def plot_activation_comparison(table: pd.DataFrame):
    """Predicted ROI activation per condition (strip of images + mean), one panel per ROI."""
    for name in ("roi", "condition", "predicted"):
        if name not in table.columns:
            raise DataValidationError(None, name, "columns roi, condition, predicted", f"missing {name!r}")
    rois = sorted(table["roi"].unique())
    conditions = [c for c in CONDITIONS if c in set(table["condition"])]
    rng = np.random.default_rng(0)  # fixed jitter: reruns draw the same figure
    with neurogaze_style():
        figure, axes = plt.subplots(1, len(rois), figsize=(2.2 * len(rois) + 0.5, 2.6), squeeze=False)
        for ax, roi in zip(axes[0], rois):
            for k, condition in enumerate(conditions):
                values = table.loc[(table["roi"] == roi) & (table["condition"] == condition), "predicted"].to_numpy()
                if len(values) == 0:
                    continue
                x = k + rng.uniform(-0.15, 0.15, size=len(values))
                ax.scatter(x, values, s=6, alpha=0.5, color=PALETTE[k], linewidths=0)
                ax.errorbar(k + 0.3, values.mean(), yerr=values.std(), fmt="o", color=PALETTE[k], ms=4, capsize=2)
            ax.set_xticks(range(len(conditions)))
            ax.set_xticklabels([CONDITION_LABELS[c] for c in conditions], rotation=30, ha="right")
            ax.set_title(roi)
        axes[0, 0].set_ylabel("predicted ROI activation")
        figure.suptitle("BrainDiVE vs unguided vs dataset top images", y=1.04)
    return figure


@dataclass(frozen=True)
class TopImagesConfig:
    """The top-images grid (``braindive.figure``)."""

    n_per_roi: int = 8


def plot(*, images, dataset_top, top_images, activation, settings: dict, dataset: str, subject: str) -> None:
    """Rule ``braindive_plot``: the synthesis folder ``images`` and the dataset's top-N table
    ``dataset_top`` -> the top-images grid (``top_images``) and the activation comparison
    (``activation``)."""
    config = from_section(TopImagesConfig, settings, "braindive.figure")
    index, drawn = read_synthesis(images)
    top = pd.read_csv(dataset_top)
    missing = [name for name in ("roi", "predicted") if name not in top.columns]
    if missing:
        raise DataValidationError(dataset_top, missing[0], "columns roi, stim_id, predicted", f"missing {missing}")
    tops = {roi: rows["predicted"].to_numpy(float) for roi, rows in top.groupby("roi", sort=True)}
    save_figure(plot_top_images(index, drawn, config.n_per_roi), top_images)
    save_figure(plot_activation_comparison(activation_long_table(index, tops)), activation)
