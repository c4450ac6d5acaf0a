"""Each model's features of a frame-sentence pair.

A backbone embeds every paired frame (image tower) and sentence (text tower) once
(:func:`embed_pairs`). A model of the ``seeg.models`` section then reads what its inputs say:

* ``[image]`` (a vision model such as SimCLR): the frame's embedding;
* ``[text]`` (a language model): the sentence's embedding;
* ``[image, text]`` (an image-text model such as CLIP or SLIP): both embeddings and their
  elementwise product (both L2-normalised). The product's sum is the model's own image-text
  similarity, so a linear readout can weigh how well the sentence describes the frame - a
  quantity only a model that aligned the two spaces computes.

Its random version reads the same inputs from the untrained backbone; the linear-integration
baseline concatenates the vision model's frame embedding and the language model's sentence
embedding (no product: the two spaces were never aligned, so their product means nothing).
Features wider than the Johnson-Lindenstrauss dimension at ``eps`` (the paper's non-output layers)
go through a sparse random projection (seed 0, as in the paper).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.random_projection import SparseRandomProjection, johnson_lindenstrauss_min_dim

from neurogaze.errors import DataValidationError
from neurogaze.features.image import as_backbone


def read_image(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def embed_pairs(pairs: pd.DataFrame, stimuli_root, spec: dict, inputs: tuple[str, ...], device="cpu",
                batch_size: int = 64) -> dict[str, np.ndarray]:
    """``frames``/``image`` and ``sentences``/``text`` (only the towers in ``inputs``), rows in
    sorted order of the unique frames and sentences."""
    model = as_backbone(spec, device)
    out = {}
    if "image" in inputs:
        frames = sorted(pairs["frame"].unique())
        images = [read_image(Path(stimuli_root) / frame) for frame in frames]
        out["frames"] = np.asarray(frames)
        out["image"] = np.concatenate([model.encode_images(images[i : i + batch_size])
                                       for i in range(0, len(images), batch_size)]).astype(np.float32)
    if "text" in inputs:
        sentences = sorted(pairs["sentence"].unique())
        out["sentences"] = np.asarray(sentences)
        out["text"] = np.concatenate([model.encode_texts(sentences[i : i + batch_size])
                                      for i in range(0, len(sentences), batch_size)]).astype(np.float32)
    return out


def read_embeddings(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _rows(embeddings: dict, key: str, items: pd.Series, path) -> np.ndarray:
    names = {"image": "frames", "text": "sentences"}[key]
    if key not in embeddings:
        raise DataValidationError(path, key, f"{key} embeddings of the backbone", "missing")
    lookup = pd.Series(np.arange(len(embeddings[names])), index=embeddings[names])
    missing = ~items.isin(lookup.index)
    if missing.any():
        raise DataValidationError(path, names, f"an embedding of every paired {names[:-1]}",
                                  f"none for {items[missing].iloc[0]!r}")
    return embeddings[key][lookup.loc[items].to_numpy()].astype(np.float64)


def _normalised(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def model_design(pairs: pd.DataFrame, inputs: tuple[str, ...], embeddings: dict, path) -> np.ndarray:
    """(n_pairs, n_features) of one model (see the module docstring)."""
    parts = [_rows(embeddings, key, pairs[column], path)
             for key, column in (("image", "frame"), ("text", "sentence")) if key in inputs]
    if len(parts) == 2:
        image, text = _normalised(parts[0]), _normalised(parts[1])
        parts = [image, text, image * text]
    return np.concatenate(parts, axis=1)


def linear_combination_design(pairs, vision: dict, language: dict, paths) -> np.ndarray:
    return np.concatenate([_rows(vision, "image", pairs["frame"], paths[0]),
                           _rows(language, "text", pairs["sentence"], paths[1])], axis=1)


def check_not_constant(design: np.ndarray, path, model: str) -> None:
    if not np.any(np.ptp(design, axis=0) > 0):
        raise DataValidationError(path, "features", f"features of model {model!r} that vary across events",
                                  "constant")


def reduce_dimension(design: np.ndarray, eps: float, seed: int = 0) -> np.ndarray:
    """A sparse random projection to the Johnson-Lindenstrauss dimension of the events at ``eps``
    when the features are wider than it (the paper's treatment of non-output layers)."""
    target = int(johnson_lindenstrauss_min_dim(len(design), eps=eps))
    if design.shape[1] <= target:
        return design
    return SparseRandomProjection(n_components=target, random_state=seed).fit_transform(design)
