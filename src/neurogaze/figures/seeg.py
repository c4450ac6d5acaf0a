"""Figures of the SEEG vision-language integration analysis (Subramaniam et al. 2024): the
electrodes on a glass brain coloured by class, each model's scores against its random version's,
and the models ranked at the multimodal sites. :func:`plot` is the stage of rule ``seeg_plot``."""

from __future__ import annotations

import numpy as np
import pandas as pd
from nilearn import plotting

from neurogaze.brain.seeg.models import LINEAR_COMBINATION, RANDOM_SUFFIX, read_models
from neurogaze.brain.seeg.sites import CATEGORIES, PAPER_MULTIMODAL, best_models
from neurogaze.figures.style import PALETTE, neurogaze_style, plt, save_figure

CATEGORY_COLOURS = dict(zip(CATEGORIES, [PALETTE[3], PALETTE[0], PALETTE[1], PALETTE[2], "#999999", "#dddddd"]))


def plot_electrodes(sites: pd.DataFrame):
    """Every electrode at its MNI position, coloured by class (multimodal sites drawn last)."""
    n_sites = int(sites["multimodal"].sum())
    title = (f"multimodal sites: {n_sites} of {len(sites)} ({n_sites / max(len(sites), 1):.1%}); "
             f"paper {PAPER_MULTIMODAL[0]} of {PAPER_MULTIMODAL[1]} ({PAPER_MULTIMODAL[0] / PAPER_MULTIMODAL[1]:.1%})")
    with neurogaze_style():
        figure = plt.figure(figsize=(8.0, 3.2))
        display = plotting.plot_glass_brain(None, display_mode="lzr", figure=figure, title=title, annotate=False)
        for category in reversed(CATEGORIES):  # multimodal sites drawn last, on top
            chosen = sites.loc[sites["category"] == category, ["x", "y", "z"]].to_numpy(dtype=float)
            if len(chosen):
                display.add_markers(chosen, marker_color=CATEGORY_COLOURS[category], marker_size=18)
        counts = sites["category"].value_counts()
        handles = [plt.Line2D([], [], marker="o", ls="", color=CATEGORY_COLOURS[c], label=f"{c} ({counts[c]})")
                   for c in CATEGORIES if c in counts]
        figure.legend(handles=handles, loc="lower center", ncol=3, fontsize=7)
    return figure


def plot_trained_vs_random(scores: pd.DataFrame, models: dict):
    """Each electrode's peak test r (mean over alignments) of every model against its random version's."""
    peaks = best_models(scores)
    paired = [name for name, model in models.items() if model.random and name + RANDOM_SUFFIX in peaks]
    with neurogaze_style():
        figure, axes = plt.subplots(1, max(len(paired), 1), figsize=(3.0 * max(len(paired), 1), 3.0), squeeze=False)
        for axis, name in zip(axes[0], paired):
            x, y = peaks[name + RANDOM_SUFFIX], peaks[name]
            axis.scatter(x, y, s=10, color=PALETTE[0])
            low, high = min(x.min(), y.min(), 0.0), max(x.max(), y.max(), 0.1)
            axis.plot([low, high], [low, high], color="black", lw=0.8)
            axis.set(xlabel="random version: peak test r", ylabel="trained: peak test r",
                     title=f"{name} ({(y > x).mean():.0%} above)")
    return figure


def plot_ranking(sites: pd.DataFrame, scores: pd.DataFrame):
    """Mean peak test r of every model (random versions included) at the multimodal sites."""
    peaks = best_models(scores)
    chosen = sites.loc[sites["multimodal"], ["subject", "electrode"]]
    at_sites = peaks.loc[pd.MultiIndex.from_frame(chosen)] if len(chosen) else peaks.iloc[:0]
    mean = at_sites.mean().sort_values(ascending=False)
    error = at_sites.std() / np.sqrt(max(len(at_sites), 1))
    colours = [PALETTE[5] if name == LINEAR_COMBINATION else "#999999" if name.endswith(RANDOM_SUFFIX) else PALETTE[0]
               for name in mean.index]
    with neurogaze_style():
        figure, axis = plt.subplots(figsize=(5.0, 0.35 * len(mean) + 1.0))
        axis.barh(mean.index[::-1], mean.to_numpy()[::-1], xerr=error[mean.index].to_numpy()[::-1],
                  color=colours[::-1])
        axis.set(xlabel="mean peak test r", title=f"model ranking at the {len(at_sites)} multimodal sites")
    return figure


def plot(*, sites, scores, electrodes, trained_vs_random, ranking, settings: dict) -> None:
    site_table, score_table = pd.read_parquet(sites), pd.read_parquet(scores)
    models = read_models(settings)
    save_figure(plot_electrodes(site_table), electrodes)
    save_figure(plot_trained_vs_random(score_table, models), trained_vs_random)
    save_figure(plot_ranking(site_table, score_table), ranking)


__all__ = ["plot", "plot_electrodes", "plot_ranking", "plot_trained_vs_random"]
