"""Gaze figures (rule ``gaze_plot``): metric bars per method (human ceiling beside) and
scanpaths drawn on images."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from neurogaze.data.contracts import StimulusSet, read_fixations, read_metrics, read_stimulus_set
from neurogaze.figures.style import PALETTE, neurogaze_style, save_figure
from neurogaze.metrics.gaze_evaluation import DATASET_UNIT


def plot_gaze_metrics(tables: list[pd.DataFrame], dataset: str, ceiling: str = "human_consistency"):
    """One panel per metric: each method's dataset mean, the human ceiling as a dashed line."""
    table = pd.concat(tables, ignore_index=True)
    means = table[table["unit"] == DATASET_UNIT]
    metrics = sorted(means["metric"].unique())
    methods = sorted(set(means["method"]) - {ceiling})
    columns = 4
    rows = int(np.ceil(len(metrics) / columns))
    with neurogaze_style():
        figure, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.1 * rows), squeeze=False)
        for axis, metric in zip(axes.flat, metrics):
            values = means[means["metric"] == metric].set_index("method")["value"]
            heights = [values.get(method, np.nan) for method in methods]
            axis.bar(range(len(methods)), heights, color=[PALETTE[i % len(PALETTE)] for i in range(len(methods))])
            if ceiling in values:
                axis.axhline(values[ceiling], color="black", linestyle="--", linewidth=1, label="humans")
            axis.set_xticks(range(len(methods)), methods, rotation=30, ha="right")
            axis.set_title(metric)
        for axis in list(axes.flat)[len(metrics):]:
            axis.set_visible(False)
        figure.suptitle(f"{dataset}: predicted scanpaths against humans (dashed: human ceiling)")
        figure.tight_layout()
    return figure


def plot_scanpaths(stimuli: StimulusSet, humans: pd.DataFrame, predictions: dict[str, pd.DataFrame],
                   n_images: int = 3):
    """Rows: images; columns: one human observer, then each method's first scanpath."""
    stim_ids = sorted(set(humans["stim_id"]).intersection(*[set(t["stim_id"]) for t in predictions.values()]))
    stim_ids = stim_ids[:n_images]
    sources = {"human": humans, **predictions}
    with neurogaze_style():
        figure, axes = plt.subplots(len(stim_ids), len(sources), figsize=(2.4 * len(sources), 2.0 * len(stim_ids)),
                                    squeeze=False)
        for row, stim_id in enumerate(stim_ids):
            image = stimuli.load_image(stim_id)
            for column, (name, table) in enumerate(sources.items()):
                axis = axes[row, column]
                axis.imshow(image)
                _draw_scanpath(axis, _first_scanpath(table, stim_id), PALETTE[column % len(PALETTE)])
                axis.set_axis_off()
                if row == 0:
                    axis.set_title(name)
        figure.tight_layout()
    return figure


def _first_scanpath(table: pd.DataFrame, stim_id: str) -> pd.DataFrame:
    rows = table[table["stim_id"] == stim_id]
    first = rows.sort_values(["subject", "trial"]).iloc[0]
    path = rows[(rows["subject"] == first["subject"]) & (rows["trial"] == first["trial"])]
    return path.sort_values("fix_index")


def _draw_scanpath(axis, path: pd.DataFrame, colour: str) -> None:
    x, y = path["x"].to_numpy(), path["y"].to_numpy()
    sizes = 10 + path["duration_ms"].to_numpy() / 10
    axis.plot(x, y, "-", color=colour, linewidth=1.2, alpha=0.9)
    axis.scatter(x, y, s=sizes, color=colour, edgecolor="white", linewidth=0.6, zorder=3)
    for index, (px, py) in enumerate(zip(x, y), start=1):
        axis.annotate(str(index), (px, py), color="white", fontsize=6, ha="center", va="center", zorder=4)


def plot(*, dataset: str, fixations, stimuli, tables: list[str], predictions: list[str], metrics_figure,
         scanpaths_figure) -> None:
    """The gaze figures of a dataset from its metric tables and predicted scanpaths.

    Each file of ``predictions`` is ``.../<method>/<dataset>/fixations.parquet``: the method's
    name is its folder's.
    """
    stimulus_set = read_stimulus_set(stimuli)
    save_figure(plot_gaze_metrics([read_metrics(path) for path in tables], dataset), metrics_figure)
    predicted = {Path(path).parent.parent.name: read_fixations(path) for path in predictions}
    save_figure(plot_scanpaths(stimulus_set, read_fixations(fixations), predicted), scanpaths_figure)
