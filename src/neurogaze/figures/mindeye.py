"""MindEye figures: a retrieval grid (seen image, then the top-k retrieved, hits framed) and a
reconstruction grid (seen image, low-level reconstruction, final reconstruction).

:func:`plot` is the stage of rule ``mindeye_plot``: it reads the stimulus set, ``retrievals.csv``
and the reconstructions folder that the MindEye stages wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from neurogaze.config import from_section
from neurogaze.data.contracts import read_stimulus_set
from neurogaze.errors import DataValidationError
from neurogaze.figures.style import neurogaze_style, plt, save_figure
from neurogaze.metrics.reconstruction import cosine_similarities

RETRIEVAL_COLUMNS = ("stim_id", "rank", "retrieved", "correct")


@dataclass(frozen=True)
class FiguresConfig:
    """Config section ``mindeye.figures``."""

    n_images: int = 6


def _show(ax, image: np.ndarray, title: str | None = None) -> None:
    ax.imshow(np.asarray(image))
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title)


def top_k_retrievals(brain: np.ndarray, images: np.ndarray, k: int = 5) -> np.ndarray:
    """Indices (n, k) of the k images most similar (cosine) to each brain prediction."""
    return np.argsort(-cosine_similarities(brain, images), axis=1, kind="stable")[:, :k]


def retrieval_grid(table: pd.DataFrame, n_images: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The first ``n_images`` test items of a retrievals table (in its order), their retrieved ids
    (n, k) best first, and which of those are the seen image."""
    shown = list(dict.fromkeys(table["stim_id"]))[:n_images]
    position = {stim_id: index for index, stim_id in enumerate(shown)}
    rows = table[table["stim_id"].isin(shown)]
    rows = rows.assign(position=rows["stim_id"].map(position)).sort_values(["position", "rank"], kind="stable")
    k = int(rows["rank"].max())
    shape = (len(shown), k)
    return shown, rows["retrieved"].to_numpy(str).reshape(shape), rows["correct"].to_numpy(bool).reshape(shape)


def plot_retrieval_grid(seen: np.ndarray, retrieved: np.ndarray, correct: np.ndarray | None = None):
    """``seen`` (n, H, W, 3); ``retrieved`` (n, k, H, W, 3), best first; ``correct`` (n, k) marks hits."""
    n, k = retrieved.shape[:2]
    with neurogaze_style():
        figure, axes = plt.subplots(n, k + 1, figsize=(1.1 * (k + 1), 1.1 * n), squeeze=False)
        for row in range(n):
            _show(axes[row, 0], seen[row], "seen" if row == 0 else None)
            for col in range(k):
                ax = axes[row, col + 1]
                _show(ax, retrieved[row, col], f"top {col + 1}" if row == 0 else None)
                if correct is not None and correct[row, col]:
                    ax.add_patch(plt.Rectangle((0, 0), 1, 1, transform=ax.transAxes, fill=False, lw=2.5, ec="#009E73"))
        figure.suptitle("MindEye image retrieval from fMRI")
    return figure


def plot_reconstruction_grid(seen: np.ndarray, reconstructions: np.ndarray, low_level: np.ndarray | None = None):
    """One column per stimulus: seen image, (low-level), reconstruction."""
    low = [("low-level", low_level)] if low_level is not None else []
    rows = [("seen", seen), *low, ("MindEye", reconstructions)]
    n = len(seen)
    with neurogaze_style():
        figure, axes = plt.subplots(len(rows), n, figsize=(1.1 * n, 1.2 * len(rows)), squeeze=False)
        for r, (label, images) in enumerate(rows):
            for c in range(n):
                _show(axes[r, c], images[c])
            axes[r, 0].set_ylabel(label)
        figure.suptitle("MindEye reconstructions")
    return figure


def read_retrievals(path) -> pd.DataFrame:
    """A MindEye retrievals table (ids such as "0042" stay text); missing columns are named."""
    table = pd.read_csv(path, dtype={"stim_id": str, "retrieved": str})
    missing = set(RETRIEVAL_COLUMNS) - set(table.columns)
    if missing:
        raise DataValidationError(path, min(missing), "a MindEye retrievals table", "missing")
    return table


def _images(stimuli, stim_ids) -> np.ndarray:
    return np.stack([image for _, image in stimuli.iter_images(list(stim_ids))])


def plot(*, stimuli, retrievals, reconstructions, retrieval, reconstruction, settings: dict,
         dataset: str | None = None, subject: str | None = None) -> None:
    """The retrieval grid (the first ``mindeye.figures.n_images`` test items and their top-k) and the
    reconstruction grid (as many reconstructed items)."""
    config = from_section(FiguresConfig, settings["figures"], "mindeye.figures")
    stimulus_set = read_stimulus_set(stimuli)
    shown, retrieved_ids, correct = retrieval_grid(read_retrievals(retrievals), config.n_images)
    seen = _images(stimulus_set, shown)
    retrieved = _images(stimulus_set, retrieved_ids.ravel()).reshape(*retrieved_ids.shape, *seen.shape[1:])
    save_figure(plot_retrieval_grid(seen, retrieved, correct), retrieval)
    final = read_stimulus_set(Path(reconstructions) / "final")
    ids = final.stim_ids[:config.n_images]
    low_dir = Path(reconstructions) / "low_level"
    low = _images(read_stimulus_set(low_dir), ids) if low_dir.exists() else None
    save_figure(plot_reconstruction_grid(_images(stimulus_set, ids), _images(final, ids), low), reconstruction)


__all__ = ["FiguresConfig", "plot", "plot_reconstruction_grid", "plot_retrieval_grid", "read_retrievals",
           "retrieval_grid", "top_k_retrievals"]
