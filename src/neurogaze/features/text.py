"""Text embeddings from a backbone's text tower (e.g. captions of the stimuli)."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from neurogaze.backbones import OpenClipBackbone, OpenClipSpec
from neurogaze.features.image import as_backbone


def embed_texts(
    backbone: str | dict | OpenClipSpec | OpenClipBackbone,
    texts: list[str],
    batch_size: int = 256,
    device: str | torch.device = "auto",
    progress: bool = False,
    configured: dict | None = None,
) -> np.ndarray:
    """Embed strings with the backbone's tokenizer and text tower; float32 (n_texts, embed_dim)."""
    model = as_backbone(backbone, device, configured)
    texts = [str(text) for text in texts]
    chunks = [
        model.encode_texts(texts[start : start + batch_size])
        for start in tqdm(range(0, len(texts), batch_size), disable=not progress, desc="embed texts")
    ]
    if not chunks:
        return np.zeros((0, model.embed_dim), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32)
