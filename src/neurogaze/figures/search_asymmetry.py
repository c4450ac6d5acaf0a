"""Figures of the search-asymmetry model (eccNET): RT vs set size against the human lines, the
asymmetry index (against the human index, or the model's alone), and the object-array
cumulative-found curve. :func:`plot` is rule ``search_asymmetry_plot``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from neurogaze.figures.style import PALETTE, neurogaze_style, save_figure
from neurogaze.gaze.search_asymmetry.experiments import PUBLISHED_MEAN_ASYMMETRY_INDEX


def _published() -> str:
    human, model = PUBLISHED_MEAN_ASYMMETRY_INDEX["human"], PUBLISHED_MEAN_ASYMMETRY_INDEX["eccNET (published)"]
    return f"published (Gupta et al. 2021): eccNET {model:.3f}, human {human:.3f}"


def plot_rt_vs_set_size(conditions: pd.DataFrame, asymmetry: pd.DataFrame | None = None):
    """One panel per experiment: model RT (dashed, +-SEM) and human RT (solid) per condition."""
    experiments = list(dict.fromkeys(conditions["experiment"]))
    with neurogaze_style():
        ncols = min(3, len(experiments))
        nrows = int(np.ceil(len(experiments) / ncols))
        figure, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
        for ax, experiment in zip(axes.flat, experiments):
            part = conditions[conditions["experiment"] == experiment]
            for colour, (condition, points) in zip(PALETTE, part.groupby("condition", sort=False)):
                points = points.sort_values("set_size")
                label = points["label"].iloc[0] if "label" in points else condition
                if points["human_rt_ms"].notna().all():  # model-only tables carry NaN here
                    ax.plot(points["set_size"], points["human_rt_ms"], "-o", color=colour, ms=3,
                            label=f"human: {label}")
                ax.errorbar(points["set_size"], points["model_rt_ms"], yerr=points["model_rt_sem_ms"], fmt="--s",
                            color=colour, ms=3, capsize=2, label=f"eccNET: {label}")
            title = experiment
            if asymmetry is not None:
                row = asymmetry[asymmetry["experiment"] == experiment]
                if len(row):
                    title += f"\nindex model {row['model_asymmetry_index'].iloc[0]:.2f}"
                    if pd.notna(row["human_asymmetry_index"].iloc[0]):
                        title += f" / human {row['human_asymmetry_index'].iloc[0]:.2f}"
            ax.set_title(title)
            ax.set_xticks(sorted(part["set_size"].unique()))
            ax.set_xlabel("number of items")
            ax.set_ylabel("RT (ms)")
            ax.legend(fontsize=6)
        for ax in list(axes.flat)[len(experiments):]:
            ax.set_visible(False)
        figure.tight_layout()
    return figure


def plot_asymmetry_scatter(asymmetry: pd.DataFrame):
    """Model against human asymmetry index per experiment, with both means in the title."""
    with neurogaze_style():
        figure, ax = plt.subplots(figsize=(5.6, 3.4))
        for colour, row in zip(PALETTE, asymmetry.itertuples(index=False)):
            ax.scatter(row.human_asymmetry_index, row.model_asymmetry_index, color=colour, label=row.experiment)
        ax.axhline(0, color="grey", ls="--", lw=0.8)
        ax.axvline(0, color="grey", ls="--", lw=0.8)
        ax.plot([-1, 1], [-1, 1], color="grey", lw=0.5)
        ax.set_xlim(-1.05, 1.05)
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlabel("human asymmetry index")
        ax.set_ylabel("model asymmetry index")
        ax.set_title(f"mean: model {asymmetry['model_asymmetry_index'].mean():.3f}, "
                     f"human {asymmetry['human_asymmetry_index'].mean():.3f}\n{_published()}", fontsize=7)
        ax.set_aspect("equal")
        ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.02, 0.5))
        # the legend sits outside the axes; leave it room (figures may be saved without bbox='tight')
        figure.subplots_adjust(left=0.1, right=0.62, bottom=0.14, top=0.9)
    return figure


def plot_cumulative_found(curve: pd.DataFrame):
    """Cumulative probability of having fixated the target by fixation k: model, human, chance."""
    with neurogaze_style():
        figure, ax = plt.subplots(figsize=(3.4, 2.8))
        ax.plot(curve["k"], curve["human"], "-o", color=PALETTE[0], ms=3, label="human")
        ax.plot(curve["k"], curve["model"], "--s", color=PALETTE[1], ms=3, label="eccNET")
        if "chance" in curve:
            ax.plot(curve["k"], curve["chance"], ":", color="grey", label="chance (no refixation)")
        ax.set_xlabel("fixation number k")
        ax.set_ylabel("P(target found by k)")
        ax.set_ylim(0, 1.02)
        ax.set_xticks(curve["k"])
        ax.legend()
        figure.tight_layout()
    return figure


def plot_model_asymmetry(asymmetry: pd.DataFrame):
    """The model's asymmetry index per experiment (no human reference): one bar each."""
    with neurogaze_style():
        figure, ax = plt.subplots(figsize=(5.6, 3.0))
        positions = np.arange(len(asymmetry))
        ax.barh(positions, asymmetry["model_asymmetry_index"], color=PALETTE[: len(asymmetry)])
        ax.set_yticks(positions, [f"{row.experiment}\n({row.hard_condition} hard)"
                                  for row in asymmetry.itertuples(index=False)], fontsize=6)
        ax.invert_yaxis()
        ax.axvline(0, color="grey", ls="--", lw=0.8)
        ax.set_xlim(-1.05, 1.05)
        ax.set_xlabel("model asymmetry index")
        ax.set_title(f"mean: model {asymmetry['model_asymmetry_index'].mean():.3f} (no human file)\n{_published()}",
                     fontsize=7)
        figure.tight_layout()
    return figure


def plot(*, conditions, asymmetry, rt_vs_set_size, asymmetry_index) -> None:
    """Rule ``search_asymmetry_plot``: the ``conditions`` and ``asymmetry`` tables -> RT against
    set size per experiment (``rt_vs_set_size``) and the asymmetry-index figure
    (``asymmetry_index``: model against human when the tables hold human values, else the
    model's index alone)."""
    condition_rows = pd.read_csv(conditions)
    index_table = pd.read_csv(asymmetry)
    save_figure(plot_rt_vs_set_size(condition_rows, index_table), rt_vs_set_size)
    has_human = index_table["human_asymmetry_index"].notna().all()
    save_figure(plot_asymmetry_scatter(index_table) if has_human else plot_model_asymmetry(index_table),
                asymmetry_index)
