"""Batched, cached feature extraction over stimulus sets (image and text embeddings)."""

from neurogaze.features.extract import extract_features, features_path
from neurogaze.features.image import embed_images
from neurogaze.features.text import embed_texts

__all__ = ["embed_images", "embed_texts", "extract_features", "features_path"]
