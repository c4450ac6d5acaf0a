"""MindEye figures: a retrieval grid (seen image, then the top-k retrieved) and a reconstruction
grid (seen image, low-level reconstruction, final reconstruction)."""

from __future__ import annotations

import numpy as np

from neurogaze.figures.style import neurogaze_style, plt


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
    from neurogaze.metrics.reconstruction import cosine_similarities

    return np.argsort(-cosine_similarities(brain, images), axis=1, kind="stable")[:, :k]


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
    rows = [("seen", seen)] + ([("low-level", low_level)] if low_level is not None else []) + [("MindEye", reconstructions)]
    n = len(seen)
    with neurogaze_style():
        figure, axes = plt.subplots(len(rows), n, figsize=(1.1 * n, 1.2 * len(rows)), squeeze=False)
        for r, (label, images) in enumerate(rows):
            for c in range(n):
                _show(axes[r, c], images[c])
            axes[r, 0].set_ylabel(label)
        figure.suptitle("MindEye reconstructions")
    return figure


__all__ = ["plot_reconstruction_grid", "plot_retrieval_grid", "top_k_retrievals"]
