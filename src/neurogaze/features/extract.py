"""Cached, resumable feature extraction over a stimulus set.

Finished batches are kept as ``batch_NNNNNN.npy`` in ``<out>.partial/`` beside the output with a
manifest of what produced them; a rerun after an interruption keeps the batches whose manifest
matches and computes only the rest. The final ``.npy`` + ``.ids.txt`` are written atomically
through ``contracts.write_features`` and the partial folder is removed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from neurogaze.backbones import OpenClipBackbone, OpenClipSpec, resolve_spec
from neurogaze.data.contracts import StimulusSet, features_ids_path, read_stimulus_set, write_features
from neurogaze.errors import DataValidationError
from neurogaze.features.image import as_backbone
from neurogaze.io import atomic_path

MODALITIES = ("image", "text")


def features_path(results_dir: str | os.PathLike, backbone: str, stimset: str, modality: str = "image") -> Path:
    """``results/features/<backbone>/<set>.npy`` (text embeddings: ``<set>.text.npy``)."""
    suffix = ".npy" if modality == "image" else f".{modality}.npy"
    return Path(results_dir) / "features" / backbone / f"{stimset}{suffix}"


def partial_dir(out_path: str | os.PathLike) -> Path:
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".partial")


def extract(*, stimuli, weights, features, ids, spec: dict, modality: str, batch_size: int, device: str,
            backbone: str, stimset: str, text_column: str = "caption") -> Path:
    """Rules ``extract_image_features`` / ``extract_text_features``: the embeddings of stimulus set
    ``stimset`` by backbone ``backbone`` (its weights file, described by ``spec``) -> ``features``
    (``.npy``) and ``ids`` (``.ids.txt``, written beside it)."""
    if Path(ids) != features_ids_path(features):  # the contract puts the ids beside the features
        raise ValueError(f"the ids file of {features} is {features_ids_path(features)}, not {ids}")
    return extract_features({**spec, "weights": str(weights)}, stimuli, features, modality=modality,
                            batch_size=batch_size, device=device, text_column=text_column)


def extract_features(
    backbone: str | dict | OpenClipSpec | OpenClipBackbone,
    stimuli: str | os.PathLike | StimulusSet,
    out_path: str | os.PathLike,
    modality: str = "image",
    batch_size: int = 64,
    device: str | torch.device = "auto",
    text_column: str = "caption",
    configured: dict | None = None,
    progress: bool = True,
) -> Path:
    """Embed every stimulus (image, or its ``text_column`` string) and cache the result on disk.

    ``backbone`` is a name / spec (built only if some batch is missing) or an already built one.
    """
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    stimuli = stimuli if isinstance(stimuli, StimulusSet) else read_stimulus_set(stimuli)
    if modality == "text" and text_column not in stimuli.index.columns:
        raise DataValidationError(stimuli.root / "index.parquet", text_column, "a text column to embed", "missing")
    spec = backbone.spec if isinstance(backbone, OpenClipBackbone) else resolve_spec(backbone, configured)
    out_path = Path(out_path)
    stim_ids = stimuli.stim_ids
    batches = [stim_ids[start : start + batch_size] for start in range(0, len(stim_ids), batch_size)]
    work = _prepare_partial(out_path, _manifest(spec, stimuli, modality, batch_size, text_column))

    model = None
    for number, ids in enumerate(tqdm(batches, disable=not progress, desc=f"{spec.name} {modality} features")):
        batch_file = work / f"batch_{number:06d}.npy"
        if batch_file.exists():
            continue
        model = model or as_backbone(backbone if isinstance(backbone, OpenClipBackbone) else spec, device)
        embedded = _embed_batch(model, stimuli, ids, modality, text_column)
        with atomic_path(batch_file) as temp, open(temp, "wb") as handle:
            np.save(handle, embedded.astype(np.float32))

    features = np.concatenate([np.load(work / f"batch_{n:06d}.npy") for n in range(len(batches))])
    write_features(out_path, features, stim_ids)
    shutil.rmtree(work)
    return out_path


def _embed_batch(model, stimuli: StimulusSet, ids: list[str], modality: str, text_column: str) -> np.ndarray:
    if modality == "image":
        return model.encode_images([image for _, image in stimuli.iter_images(ids)])
    texts = stimuli.index.set_index("stim_id").loc[ids, text_column].astype(str).tolist()
    return model.encode_texts(texts)


def _manifest(spec: OpenClipSpec, stimuli: StimulusSet, modality: str, batch_size: int, text_column: str) -> dict:
    ids_digest = hashlib.sha256("\n".join(stimuli.stim_ids).encode()).hexdigest()
    return {
        "backbone": dataclasses.asdict(spec),
        "stimuli": str(Path(stimuli.root).resolve()),
        "stim_ids_sha256": ids_digest,
        "modality": modality,
        "batch_size": batch_size,
        "text_column": text_column if modality == "text" else None,
    }


def _prepare_partial(out_path: Path, manifest: dict) -> Path:
    """Reuse a partial folder only if it was made by the same backbone, stimuli and batching."""
    work = partial_dir(out_path)
    manifest_file = work / "manifest.json"
    text = json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n"
    if work.exists() and (not manifest_file.exists() or manifest_file.read_text() != text):
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    if not manifest_file.exists():
        with atomic_path(manifest_file) as temp:
            temp.write_text(text)
    return work
