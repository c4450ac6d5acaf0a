"""Image conditioning: patch features of a DINOv2 backbone, upsampled to DiffEye's patch grid.

The paper feeds 224 x 224 images to DINOv2 (16 x 16 patches of 14 px) and upsamples the patch
features to 32 x 32 with FeatUp. FeatUp's upsampler is not available here; we upsample
bilinearly (a FeatUp-free choice: the grid has the paper's size, but the features are not
sharpened by the image). Weights come from a local ``transformers`` folder
(:func:`load_dinov2`, nothing is downloaded); where none exists (the demo, tests),
:func:`tiny_dinov2` builds a small ``Dinov2Model`` from a ``Dinov2Config`` with seeded random
weights: its patch tokens keep local image content (patch embedding, attention) but carry no
pretrained semantics.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F
from transformers import Dinov2Config, Dinov2Model

from neurogaze.backbones.hf import seeded
from neurogaze.errors import MissingWeightsError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_dinov2(folder: str | os.PathLike) -> Dinov2Model:
    """A released DINOv2 (e.g. facebook/dinov2-small) from a local folder with config.json and weights."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise MissingWeightsError(f"DiffEye: no DINOv2 folder at {folder} (config.json + weights of a "
                                  "transformers Dinov2Model, e.g. facebook/dinov2-small); nothing is downloaded")
    return Dinov2Model.from_pretrained(folder, local_files_only=True).eval()


def tiny_dinov2(image_size: int = 112, patch_size: int = 14, hidden_size: int = 32, layers: int = 1,
                heads: int = 2, seed: int = 0) -> Dinov2Model:
    """A small randomly initialised DINOv2 (seeded), for the demo and tests."""
    config = Dinov2Config(image_size=image_size, patch_size=patch_size, hidden_size=hidden_size,
                          num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=2 * hidden_size)
    return seeded(lambda: Dinov2Model(config), seed).eval()


def pixels(images, image_size: int) -> torch.Tensor:
    """RGB images (paths or arrays) -> (B, 3, image_size, image_size), ImageNet-normalised. The
    image is squashed to a square (as the paper's 224 x 224 input), so image fractions stay the
    same coordinates."""
    batch = []
    for image in images:
        picture = Image.open(image) if isinstance(image, str | os.PathLike) else Image.fromarray(np.asarray(image))
        square = picture.convert("RGB").resize((image_size, image_size), Image.BILINEAR)
        batch.append(np.asarray(square, dtype=np.float32) / 255.0)
    values = (np.stack(batch) - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    return torch.from_numpy(values).permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def patch_features(model: Dinov2Model, images, image_size: int, patch_grid: int) -> torch.Tensor:
    """(B, hidden, patch_grid, patch_grid): the backbone's patch tokens (CLS left out) on their
    grid, bilinearly upsampled."""
    side = image_size // model.config.patch_size
    tokens = model(pixel_values=pixels(images, image_size)).last_hidden_state[:, 1:]
    grid = tokens.transpose(1, 2).reshape(len(tokens), -1, side, side)
    return F.interpolate(grid, size=(patch_grid, patch_grid), mode="bilinear", align_corners=False)
