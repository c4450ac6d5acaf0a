"""Image embeddings from a backbone, with the backbone's own preprocessing."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from neurogaze.backbones import OpenClipBackbone, OpenClipSpec, PretrainedBackbone, build_backbone
from neurogaze.runlog import resolve_device


def as_backbone(
    backbone: str | dict | OpenClipSpec | OpenClipBackbone | PretrainedBackbone,
    device: str | torch.device = "auto",
    configured: dict | None = None,
) -> OpenClipBackbone | PretrainedBackbone:
    """Accept a built backbone as is; build one from a name or spec otherwise."""
    if isinstance(backbone, (OpenClipBackbone, PretrainedBackbone)):
        return backbone
    device = resolve_device(device) if isinstance(device, str) else device
    return build_backbone(backbone, device, configured)


def embed_images(
    backbone: str | dict | OpenClipSpec | OpenClipBackbone,
    images: list[np.ndarray] | np.ndarray,
    batch_size: int = 64,
    device: str | torch.device = "auto",
    progress: bool = False,
    configured: dict | None = None,
) -> np.ndarray:
    """Embed uint8 HxWx3 images; return float32 (n_images, embed_dim), rows in input order.

    ``backbone`` is a registry name (e.g. "demo-clip"), a spec dict, or a built backbone.
    Batches are fixed-size in order, so the same inputs give the same numbers on a CPU.
    """
    model = as_backbone(backbone, device, configured)
    images = list(images)
    chunks = [
        model.encode_images(images[start : start + batch_size])
        for start in tqdm(range(0, len(images), batch_size), disable=not progress, desc="embed images")
    ]
    if not chunks:
        return np.zeros((0, model.embed_dim), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32)
