"""Frozen image features of a clip's first frame: the patch tokens of a transformers ViT (DINOv2
in the paper), as a (channels, rows, columns) map.

The released model is read from a local folder (``Dinov2Model.from_pretrained``; nothing is
downloaded). The demo's folder holds a tiny ``Dinov2Config`` model pretrained on the training
clips (:mod:`.pretrain`); without a folder a tiny seeded random model runs the same forward pass
(tests)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from transformers import Dinov2Config, Dinov2Model

from neurogaze.backbones.hf import seeded
from neurogaze.errors import MissingWeightsError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ImageFeatureConfig:
    model: str | None = None  # local folder of a DINOv2 checkpoint; None: the tiny model below
    image_size: int = 224
    tiny: dict = field(default_factory=lambda: {"hidden_size": 16, "num_hidden_layers": 1,
                                                "num_attention_heads": 2, "intermediate_size": 32,
                                                "patch_size": 8})
    seed: int = 0
    batch_size: int = 16

    def to_dict(self) -> dict:
        return asdict(self)


def model_pixels(frames, size: int) -> torch.Tensor:
    """uint8 frames (..., H, W, 3) -> ImageNet-normalised float (..., 3, size, size), resized
    bilinearly: the input of every model of this package (DINOv2, VideoMAE, their pretraining)."""
    pixels = torch.as_tensor(np.asarray(frames)).float().div(255.0).movedim(-1, -3)
    lead = pixels.shape[:-3]
    flat = pixels.reshape(-1, *pixels.shape[-3:])
    if tuple(flat.shape[-2:]) != (size, size):
        flat = F.interpolate(flat, size=(size, size), mode="bilinear", align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((flat - mean) / std).reshape(*lead, 3, size, size)


def load_image_model(config: ImageFeatureConfig) -> Dinov2Model:
    if config.model:
        if not Path(config.model).is_dir():
            raise MissingWeightsError(f"image-feature model folder {config.model} does not exist (nothing is "
                                      f"downloaded: put a DINOv2 checkpoint there)")
        return Dinov2Model.from_pretrained(config.model).eval()
    return seeded(lambda: Dinov2Model(Dinov2Config(image_size=config.image_size, **config.tiny)), config.seed).eval()


@torch.no_grad()
def image_feature_maps(model: Dinov2Model, images: np.ndarray, image_size: int, batch_size: int = 16) -> np.ndarray:
    """uint8 (n, H, W, 3) -> float32 (n, hidden, image_size / patch, image_size / patch)."""
    patch = model.config.patch_size
    side = image_size // patch
    out = []
    for start in range(0, len(images), batch_size):
        pixels = model_pixels(images[start:start + batch_size], image_size)
        device = next(model.parameters()).device
        tokens = model(pixel_values=pixels.to(device)).last_hidden_state[:, 1:]  # drop CLS
        out.append(tokens.transpose(1, 2).reshape(len(pixels), -1, side, side).cpu().numpy())
    return np.concatenate(out).astype(np.float32)
