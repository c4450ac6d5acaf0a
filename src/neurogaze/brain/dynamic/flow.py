"""Flow targets and the fMRI side of the flow decoder (Yeung et al. 2024, "Neural Representations
of Dynamic Visual Stimuli").

* flow targets: the optical flow of each TR (time-series layout: the frame pairs inside the TR,
  averaged) or of each clip (clip-wise layout: all its frame pairs), area-averaged down to a
  ``size x size`` grid and expressed in grid cells per frame, so the end-point error does not
  depend on the movie's resolution;
* the codebook: k-means (k = 40 in the paper) over the training flow vectors; a flow patch's
  class is its nearest centroid;
* fMRI: z-scored per session, the rows of TRs i-2 ... i+2 side by side for TR i.
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


def frames_per_tr(fps: float, tr: float, source=None, video_id: str = "") -> int:
    """The whole number of frames in one TR; a TR that does not hold a whole number of frames would
    make every later TR drift against the movie."""
    frames = fps * tr
    if frames < 1 or abs(frames - round(frames)) > 1e-6:
        raise DataValidationError(source, f"{video_id}: fps x tr",
                                  "a TR that holds a whole number of frames (fps x TR an integer)",
                                  f"{fps} fps x {tr} s = {frames:g} frames")
    return int(round(frames))


def downsample_flow(flow: np.ndarray, size: int) -> np.ndarray:
    """(n, H, W, 2) pixels per frame -> (n, size, size, 2) grid cells per frame (area average)."""
    tensor = torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32)).permute(0, 3, 1, 2)
    pooled = F.adaptive_avg_pool2d(tensor, size).permute(0, 2, 3, 1).numpy()
    scale = np.array([size / flow.shape[2], size / flow.shape[1]], dtype=np.float32)
    return pooled * scale


def clip_flow_target(flow: np.ndarray, size: int) -> np.ndarray:
    """One clip's flow target (size, size, 2): its frame pairs averaged."""
    return downsample_flow(flow.mean(axis=0, keepdims=True), size)[0]


def tr_flow_targets(flow: np.ndarray, fps: float, tr: float, n_trs: int, size: int, source=None,
                    video_id: str = "") -> np.ndarray:
    """(n_trs, size, size, 2): per TR the mean of the flow fields that start inside it.

    The movie must cover every TR of its run: ``n_trs x frames_per_tr`` frames (the last TR's last
    pair may be missing, a flow field needs two frames)."""
    per_tr = frames_per_tr(fps, tr, source, video_id)
    needed = n_trs * per_tr - 1
    if flow.shape[0] < needed:
        raise DataValidationError(source, f"flow/{video_id}",
                                  f"a movie as long as its run ({n_trs} TRs x {per_tr} frames = "
                                  f"{n_trs * per_tr} frames)",
                                  f"{flow.shape[0] + 1} frames")
    fields = [flow[i * per_tr:min((i + 1) * per_tr, flow.shape[0])].mean(axis=0) for i in range(n_trs)]
    return downsample_flow(np.stack(fields), size)


def zscore_sessions(series: np.ndarray, sessions: np.ndarray) -> np.ndarray:
    """Each voxel z-scored within each session (constant voxels become 0)."""
    out = np.empty_like(series, dtype=np.float32)
    for session in np.unique(sessions):
        rows = sessions == session
        block = series[rows]
        sd = block.std(axis=0)
        out[rows] = (block - block.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return out


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
