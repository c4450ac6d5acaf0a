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


# --- files in the released key layout ------------------------------------------------------------

# diffusers 0.13 (the release's) named the VAE decoder's mid-block attention thus; written out here
# from that version rather than taken from the loader's table
RELEASE_ATTENTION_NAMES = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def released_high_level_payload(state: dict) -> dict:
    """What Train_MindEye.py's save_ckpt writes around a BrainDiffusionPrior state dict."""
    return {"epoch": 239, "model_state_dict": dict(state), "optimizer_state_dict": {}, "lr_scheduler": {},
            "train_losses": [], "val_losses": [], "lrs": []}


def released_low_level_payload(state: dict, map_channels: int, width: int = 16, seed: int = 0) -> dict:
    """What train_autoencoder.py's save_ckpt writes for a Voxel2StableDiffusionModel(use_cont=True):
    the decoder's attention under its diffusers 0.13 names, plus the contrastive ``maps_projector``
    (1x1 convolutions map_channels -> width -> width -> width with GroupNorm(1) and ReLU between;
    64 -> 512 in the release)."""
    renamed = {}
    for key, value in state.items():
        for new, old in RELEASE_ATTENTION_NAMES.items():
            key = key.replace(f".attentions.0.{new}.", f".attentions.0.{old}.")
        renamed[key] = value
    g = torch.Generator().manual_seed(seed)
    projector = {"maps_projector.0.weight": (width, map_channels, 1, 1), "maps_projector.1.weight": (width,),
                 "maps_projector.1.bias": (width,), "maps_projector.3.weight": (width, width, 1, 1),
                 "maps_projector.4.weight": (width,), "maps_projector.4.bias": (width,),
                 "maps_projector.6.weight": (width, width, 1, 1), "maps_projector.6.bias": (width,)}
    renamed |= {key: torch.randn(shape, generator=g) for key, shape in projector.items()}
    return {"epoch": 120, "model_state_dict": renamed, "optimizer_state_dict": {}, "train_losses": [],
            "val_losses": [], "lrs": []}
