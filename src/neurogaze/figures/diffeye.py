"""DiffEye figures (rule ``diffeye_plot``): sampled trajectories over the image beside the human
ones, the samples' saliency maps, and metric bars of DiffEye against the centre-bias baseline."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image

from neurogaze.data.contracts import read_metrics
from neurogaze.figures.style import PALETTE, neurogaze_style, save_figure
from neurogaze.io import atomic_directory

BAR_METRICS = ("levenshtein_mean", "dfd_mean", "dtw_mean", "tde_mean", "nss", "cc", "diversity_dfd")
SHOWN = 3  # trajectories of each kind drawn per image


def plot_trajectories(samples: dict, saliency_dir: Path, n_images: int = 3):
    """One row per image: human trajectories, sampled ones (both over the image), saliency map."""
    stim_ids = list(samples["stim_ids"])[:n_images]
    with neurogaze_style():
        figure, axes = plt.subplots(len(stim_ids), 3, figsize=(9.0, 2.8 * len(stim_ids)), squeeze=False)
        for row, (axis_row, stim_id) in enumerate(zip(axes, stim_ids)):
            image = np.asarray(Image.open(samples["images"][row]).convert("RGB"))
            height, width = image.shape[:2]
            humans = samples["human_trajectories"][samples["human_stim_ids"] == stim_id][:SHOWN]
            for axis, (title, paths) in zip(axis_row[:2], (("human", humans),
                                                            ("DiffEye samples", samples["trajectories"][row][:SHOWN]))):
                axis.imshow(image)
                for k, path in enumerate(paths):
                    axis.plot(path[:, 0] * width, path[:, 1] * height, lw=0.8, color=PALETTE[k % len(PALETTE)])
                axis.set_xlim(0, width)
                axis.set_ylim(height, 0)
                axis.set_title(f"{title} ({stim_id})", fontsize=7)
            axis_row[2].imshow(image)
            axis_row[2].imshow(np.load(saliency_dir / f"{stim_id}.npy"), alpha=0.6, cmap="magma")
            axis_row[2].set_title("saliency of the samples", fontsize=7)
            for axis in axis_row:
                axis.set_xticks([])
                axis.set_yticks([])
        figure.tight_layout()
    return figure


def plot_metric_bars(metrics: pd.DataFrame):
    means = metrics[metrics["unit"] == "dataset_mean"]
    methods = sorted(means["method"].unique(), key=lambda m: (not m.startswith("diffeye"), m))
    with neurogaze_style():
        figure, axes = plt.subplots(1, len(BAR_METRICS), figsize=(2.2 * len(BAR_METRICS), 2.8))
        for axis, metric in zip(axes, BAR_METRICS):
            values = means[means["metric"] == metric].set_index("method")["value"]
            axis.bar(range(len(methods)), [values.get(m, np.nan) for m in methods],
                     color=[PALETTE[i % len(PALETTE)] for i in range(len(methods))])
            axis.set_xticks(range(len(methods)), methods, rotation=40, ha="right")
            axis.set_title(metric, fontsize=8)
        figure.tight_layout()
    return figure


def plot(*, evaluations: list, figures, dataset: str = "") -> None:
    """``figures/trajectories.png`` (from the first evaluation folder) and ``figures/metrics.png``
    (every folder's ``metrics.csv``: DiffEye, its ablation, the centre-bias baseline)."""
    first = Path(evaluations[0])
    samples = dict(np.load(first / "samples.npz"))
    metrics = pd.concat([read_metrics(Path(folder) / "metrics.csv") for folder in evaluations], ignore_index=True)
    metrics = metrics.drop_duplicates(["method", "unit", "metric", "split"])
    with atomic_directory(figures) as temp:
        for name, figure in (("trajectories.png", plot_trajectories(samples, first / "saliency")),
                             ("metrics.png", plot_metric_bars(metrics))):
            save_figure(figure, os.path.join(temp, name))
            plt.close(figure)
