"""Data for the MindEye tests: smooth random images and voxels that plant their tokens."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F


def smooth_images(n: int, seed: int) -> torch.Tensor:
    """Random smooth colour images in [0, 1], (n, 3, 32, 32)."""
    g = torch.Generator().manual_seed(seed)
    coarse = F.interpolate(torch.rand(n, 3, 4, 4, generator=g), 32, mode="bilinear")
    fine = F.interpolate(torch.rand(n, 3, 8, 8, generator=g), 32, mode="bilinear")
    return (0.6 * coarse + 0.4 * fine).clamp(0, 1)


def planted_voxels(tokens: np.ndarray, n_voxels: int, noise: float, seed: int) -> np.ndarray:
    """A planted linear map of the image tokens to voxels, plus Gaussian noise (noise x signal SD)."""
    rng = np.random.default_rng(seed)
    flat = tokens.reshape(len(tokens), -1)
    flat = (flat - flat.mean(0)) / flat.std(0)
    signal = flat @ rng.standard_normal((flat.shape[1], n_voxels)) / np.sqrt(flat.shape[1])
    voxels = signal + noise * signal.std() * rng.standard_normal(signal.shape)
    return ((voxels - voxels.mean(0)) / voxels.std(0)).astype(np.float32)
