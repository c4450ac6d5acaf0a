"""Flow targets and the fMRI side of the flow decoder (Yeung et al. 2024, "Neural Representations
of Dynamic Visual Stimuli").

* flow targets: the optical flow of each clip (a clip of the clip-wise layout, or the frames
  sampled inside one TR of the time-series layout, :mod:`neurogaze.data.dnv`), its frame pairs
  averaged and area-averaged down to a
  ``size x size`` grid and expressed in grid cells per frame, so the end-point error does not
  depend on the movie's resolution;
* the codebook: k-means (k = 40 in the paper) over the training flow vectors; a flow patch's
  class is its nearest centroid;
* fMRI: the rows of TRs i-2 ... i+2 side by side for TR i (per-run z-scoring is the loader's:
  :mod:`neurogaze.data.dnv`).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import KMeans
from torch.nn import functional as F

from neurogaze.errors import DataValidationError


def check_flow_matches_frames(frames: np.ndarray, flow: np.ndarray, source=None, video_id: str = "") -> None:
    """Flow from frame t to t + 1 for every frame pair, at the frames' size."""
    expected = (frames.shape[0] - 1, frames.shape[1], frames.shape[2], 2)
    if flow.shape != expected:
        raise DataValidationError(source, f"flow/{video_id}", f"flow of the frames' size, shape {expected}",
                                  flow.shape)


def downsample_flow(flow: np.ndarray, size: int) -> np.ndarray:
    """(n, H, W, 2) pixels per frame -> (n, size, size, 2) grid cells per frame (area average)."""
    tensor = torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32)).permute(0, 3, 1, 2)
    pooled = F.adaptive_avg_pool2d(tensor, size).permute(0, 2, 3, 1).numpy()
    scale = np.array([size / flow.shape[2], size / flow.shape[1]], dtype=np.float32)
    return pooled * scale


def clip_flow_target(flow: np.ndarray, size: int) -> np.ndarray:
    """One clip's flow target (size, size, 2): its frame pairs averaged."""
    return downsample_flow(flow.mean(axis=0, keepdims=True), size)[0]


def fmri_windows(series: np.ndarray, offsets=(-2, -1, 0, 1, 2)) -> np.ndarray:
    """(n_trs, n_voxels) -> (n_trs, len(offsets) * n_voxels): TR i + offset side by side, the run's
    first and last TR repeated past its ends."""
    index = np.clip(np.arange(len(series))[:, None] + np.asarray(offsets)[None], 0, len(series) - 1)
    return series[index].reshape(len(series), -1)


class FlowCodebook:
    """k-means codebook of 2-d flow vectors (scikit-learn KMeans, seeded)."""

    def __init__(self, n_codes: int = 40, seed: int = 0, max_vectors: int = 200_000):
        self.n_codes = n_codes
        self.seed = seed
        self.max_vectors = max_vectors

    def fit(self, flow: np.ndarray) -> FlowCodebook:
        vectors = flow.reshape(-1, 2).astype(np.float64)
        rng = np.random.default_rng(self.seed)
        if len(vectors) > self.max_vectors:  # k-means on a seeded sample: the centroids barely move
            vectors = vectors[rng.choice(len(vectors), self.max_vectors, replace=False)]
        distinct = len(np.unique(np.round(vectors, 6), axis=0))
        k = min(self.n_codes, distinct)
        self.kmeans_ = KMeans(n_clusters=k, n_init=4, random_state=self.seed).fit(vectors)
        self.centroids_ = self.kmeans_.cluster_centers_.astype(np.float32)
        return self

    def encode(self, flow: np.ndarray) -> np.ndarray:
        """The nearest code of every vector, shape flow.shape[:-1]."""
        distance = ((flow[..., None, :] - self.centroids_) ** 2).sum(-1)
        return distance.argmin(-1)

    def decode(self, probabilities: np.ndarray) -> np.ndarray:
        """The probability-weighted sum of centroids: (..., k) -> (..., 2)."""
        return probabilities @ self.centroids_
