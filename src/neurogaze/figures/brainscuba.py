"""BrainSCUBA figures: caption nouns per ROI, a UMAP of the projected embeddings, caption images,
and the voxels whose caption names a person on the brain."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from nilearn import plotting

from neurogaze.brain.brainscuba.stages import UNGUIDED, read_caption_table, read_images, read_projection
from neurogaze.config import from_section
from neurogaze.data.contracts import read_brain_responses
from neurogaze.errors import DataValidationError
from neurogaze.figures.encoding import metric_volume
from neurogaze.figures.style import PALETTE, neurogaze_style, plt, save_figure
from neurogaze.runlog import derive_seed

OTHER = "other"
# The person map's values: a captioned voxel whose caption names a person, one whose caption does
# not (dimmer, so the map shows where captions were made), and uncaptioned voxels (not drawn).
PERSON, NOT_PERSON = 1.0, 0.25


@dataclass(frozen=True)
class FigureConfig:
    n_words: int = 10
    umap_neighbors: int = 15
    n_images: int = 4


def plot_words(nouns: pd.DataFrame, n_words: int = 10):
    """One panel per ROI: its most frequent caption nouns (share of the ROI's voxels)."""
    rois = sorted(nouns["roi"].unique())
    if not rois:
        raise DataValidationError(None, "nouns", "noun frequencies of at least one ROI", "none")
    with neurogaze_style():
        figure, axes = plt.subplots(1, len(rois), figsize=(2.6 * len(rois), 3), squeeze=False)
        for ax, roi in zip(axes[0], rois):
            top = nouns[nouns["roi"] == roi].sort_values(["frequency", "noun"], ascending=[False, True]).head(n_words)
            ax.barh(top["noun"][::-1], top["frequency"][::-1], color=PALETTE[0])
            ax.set_title(roi)
            ax.set_xlabel("share of voxel captions")
        figure.suptitle("BrainSCUBA: caption nouns per ROI")
    return figure


def roi_labels(table: pd.DataFrame, rois: list[str]) -> np.ndarray:
    """Each voxel's first listed ROI it belongs to, else 'other'."""
    labels = np.full(len(table), OTHER, dtype=object)
    for roi in reversed(rois):
        labels[table[f"roi_{roi}"].to_numpy(bool)] = roi
    return labels


def plot_umap(embedding: np.ndarray, labels: np.ndarray, n_neighbors: int, seed: int):
    """The projected embeddings in 2-D (UMAP, cosine metric), coloured by ROI."""
    import umap as umap_learn  # here, not at the top: umap and numba take ~3 s to import, which --help need not pay

    points = umap_learn.UMAP(n_neighbors=min(n_neighbors, len(embedding) - 1), metric="cosine", random_state=seed,
                       n_jobs=1).fit_transform(embedding)
    with neurogaze_style():
        figure, ax = plt.subplots(figsize=(4.5, 4))
        for number, name in enumerate(sorted(set(labels), key=lambda n: (n == OTHER, n))):
            keep = labels == name
            colour = "0.8" if name == OTHER else PALETTE[number % len(PALETTE)]
            ax.scatter(points[keep, 0], points[keep, 1], s=4, color=colour, label=name)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=7, markerscale=3)
        ax.set_title("BrainSCUBA: UMAP of projected voxel embeddings")
    return figure


def plot_caption_images(index: pd.DataFrame, drawn: dict, n_images: int):
    """One row per ROI (its caption images, captions as titles) and a row of unguided images."""
    captioned = index[index["condition"] == "caption"]
    rois = sorted(captioned["roi"].unique())
    n_cols = max(1, min(n_images, int(captioned.groupby("roi").size().min())))
    with neurogaze_style():
        figure, axes = plt.subplots(len(rois) + 1, n_cols, figsize=(1.9 * n_cols, 1.9 * (len(rois) + 1)),
                                    squeeze=False)
        for r, roi in enumerate([*rois, ""]):
            condition = "caption" if roi else UNGUIDED
            rows = index[(index["roi"] == roi) & (index["condition"] == condition)].sort_values("image").head(n_cols)
            for c, row in enumerate(rows.itertuples()):
                ax = axes[r, c]
                ax.imshow(drawn[(roi, condition)][row.image], interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(row.caption[:40] if roi else "", fontsize=5)
                if c == 0:
                    ax.set_ylabel(roi or "unguided")
        figure.suptitle("BrainSCUBA: images of voxel captions")
    return figure


def plot_person_map(table: pd.DataFrame, responses, title: str):
    """Captioned voxels on a glass brain: those whose caption names a person bright, the others dim."""
    values = np.zeros(responses.n_units)
    values[table["unit"].to_numpy()] = np.where(table["person"].to_numpy(bool), PERSON, NOT_PERSON)
    with neurogaze_style():
        figure = plt.figure(figsize=(7.0, 2.6))
        # positive values only: nilearn's signed projection hides a map of +1 / -1
        plotting.plot_glass_brain(metric_volume(values, responses), figure=figure, title=title, colorbar=True,
                                  plot_abs=True, cmap="coolwarm", vmin=0.0, vmax=PERSON, threshold=NOT_PERSON / 2)
    return figure


def plot(*, captions, nouns, projection, responses, images, words, umap, caption_images, person_map,
         settings: dict, dataset: str, subject: str) -> None:
    """Rule ``brainscuba_plot``: the four figures."""
    config = from_section(FigureConfig, settings, "brainscuba.figure")
    table = read_caption_table(captions)
    units, embedding = read_projection(projection)
    brain = read_brain_responses(responses)
    noun_table = pd.read_csv(nouns)
    rois = sorted(noun_table["roi"].unique())
    index, drawn = read_images(images)
    save_figure(plot_words(noun_table, config.n_words), words)
    order = np.argsort(units)
    labels = roi_labels(table.sort_values("unit").reset_index(drop=True), rois)
    save_figure(plot_umap(embedding[order], labels, config.umap_neighbors, derive_seed(0, "brainscuba", "umap")), umap)
    save_figure(plot_caption_images(index, drawn, config.n_images), caption_images)
    share = float(table["person"].mean())
    save_figure(plot_person_map(table, brain, f"captions naming a person ({PERSON:g}; others {NOT_PERSON:g}): "
                                f"{share:.0%} of captioned voxels"), person_map)
