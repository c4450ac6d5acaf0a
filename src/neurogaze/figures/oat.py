"""OAT figures (rule ``oat_plot``): metric bars of OAT and the baselines (per held-out subject and
their mean), and predicted vs human object sequences drawn on the layout."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from neurogaze.data.gaze.objects import ObjectSearchSet
from neurogaze.figures.style import PALETTE, neurogaze_style, save_figure
from neurogaze.gaze.oat.stages import read_search_set
from neurogaze.io import atomic_directory

BAR_METRICS = {"sequence_score": "Sequence Score (higher is better)",
               "behaviour_delta": "behavioural delta (lower is better)",
               "edit_distance": "edit distance / length (lower is better)"}
DRAWN_METHODS = ("human", "oat", "target_similarity", "nearest_first")
FIGURE_PATCH = (32, 32)  # the layout's boxes are what is drawn; the patches are not


def plot_metric_bars(metrics: pd.DataFrame):
    methods = sorted(metrics["method"].unique(), key=lambda m: (m != "oat", m))
    with neurogaze_style():
        figure, axes = plt.subplots(1, len(BAR_METRICS), figsize=(4.2 * len(BAR_METRICS), 3.2))
        for axis, (metric, title) in zip(axes, BAR_METRICS.items()):
            rows = metrics[metrics["metric"] == metric]
            means = rows[rows["subject"] == "all"].set_index("method")["value"]
            axis.bar(range(len(methods)), [means.get(m, np.nan) for m in methods],
                     color=[PALETTE[i % len(PALETTE)] for i in range(len(methods))])
            for i, method in enumerate(methods):
                values = rows[(rows["method"] == method) & (rows["subject"] != "all")]["value"]
                axis.scatter(np.full(len(values), i), values, s=10, color="black", zorder=3)
            axis.set_xticks(range(len(methods)), methods, rotation=40, ha="right")
            axis.set_title(title, fontsize=9)
        figure.tight_layout()
    return figure


def plot_sequences(predictions: pd.DataFrame, search_set: ObjectSearchSet, n_trials: int = 3):
    """Each method's first scanpath (and the human's) as numbered steps between box centres."""
    trials = {t.key: t for t in search_set.trials}
    keys = [k for k in predictions[predictions["method"] == "human"]["key"] if k in trials][:n_trials]
    with neurogaze_style():
        figure, axes = plt.subplots(len(keys), len(DRAWN_METHODS), figsize=(3.4 * len(DRAWN_METHODS),
                                                                             2.6 * len(keys)), squeeze=False)
        for row, key in zip(axes, keys):
            trial = trials[key]
            centres = (trial.boxes[:, :2] + trial.boxes[:, 2:]) / 2
            for axis, method in zip(row, DRAWN_METHODS):
                for k, (x0, y0, x1, y1) in enumerate(trial.boxes):
                    colour = "tab:red" if k == trial.target_index else "0.6"
                    axis.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colour, lw=0.8))
                found = predictions[(predictions["method"] == method) & (predictions["key"] == key)]["sequence"]
                sequence = [int(v) for v in found.iloc[0].split()] if len(found) else []
                if sequence:
                    path = centres[sequence]
                    axis.plot(path[:, 0], path[:, 1], "-o", color="tab:blue", ms=3, lw=1)
                    for step, (x, y) in enumerate(path):
                        axis.annotate(str(step + 1), (x, y), fontsize=6, color="tab:blue")
                axis.set_xlim(trial.boxes[:, 0].min() - 10, trial.boxes[:, 2].max() + 10)
                axis.set_ylim(trial.boxes[:, 3].max() + 10, trial.boxes[:, 1].min() - 10)
                axis.set_aspect("equal")
                axis.set_xticks([])
                axis.set_yticks([])
                axis.set_title(f"{method} ({key})", fontsize=7)
        figure.tight_layout()
    return figure


def plot(*, evaluation, root, figures, dataset: str = "") -> None:
    """``figures/metrics.png`` and ``figures/scanpaths.png`` from an ``oat_evaluate`` folder."""
    evaluation = Path(evaluation)
    metrics = pd.read_csv(evaluation / "metrics.csv")
    predictions = pd.read_parquet(evaluation / "predictions.parquet")
    search_set = read_search_set(root, FIGURE_PATCH)
    with atomic_directory(figures) as temp:
        for name, figure in (("metrics.png", plot_metric_bars(metrics)),
                             ("scanpaths.png", plot_sequences(predictions, search_set))):
            save_figure(figure, os.path.join(temp, name))
            plt.close(figure)
