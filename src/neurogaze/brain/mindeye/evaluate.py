"""MindEye's evaluation on the test split: retrieval, its chance control, and reconstruction metrics.

- Image and brain retrieval top-1 among ``subset`` random test items over ``n_draws`` draws, and the
  same with the test fMRI rows shuffled: the true pairing broken, so the rate falls to chance.
- Each test item's ``top_k`` nearest images (cosine of the brain's projected tokens and the images'
  tokens), for the retrieval figure.
- PixCorr, SSIM and two-way identification (each configured network) of the final
  reconstructions, PixCorr and SSIM of the low-level ones, against the seen images resized to the
  reconstructions' size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from neurogaze.brain.mindeye.model import MindEye, predict_tokens
from neurogaze.data.contracts import read_stimulus_set
from neurogaze.errors import DataValidationError
from neurogaze.features.image import embed_images
from neurogaze.metrics.reconstruction import (
    cosine_similarities,
    evaluate_reconstructions,
    pixcorr,
    retrieval_top1,
    ssim,
)

PAPER_TOP1 = {"image_top1": 0.936, "brain_top1": 0.900}  # Scotti et al. 2023, NSD subj01, 300 of 982


@dataclass(frozen=True)
class EvaluationConfig:
    """Config section ``mindeye.evaluation`` (paper: top-1 among 300 test items, 30 draws);
    ``draw_seed`` and ``shuffle_seed`` derive from the pipeline's master seed."""

    subset: int = 300
    n_draws: int = 30
    two_way_backbones: tuple[str, ...] = ("ViT-L-14-openai",)
    top_k: int = 5
    draw_seed: int = 0
    shuffle_seed: int = 0


@dataclass
class SplitData:
    voxels: np.ndarray  # float32 (n, n_voxels)
    stim_ids: list[str]


def retrieval_scores(model: MindEye, test: SplitData, image_tokens: np.ndarray, config: EvaluationConfig):
    """Retrieval of the true pairing and of the pairing with the fMRI rows shuffled (chance control),
    and the brain's projected tokens of the test items."""
    _, projected = predict_tokens(model, test.voxels)
    scores = retrieval_top1(projected, image_tokens, config.subset, config.n_draws, seed=config.draw_seed)
    shuffle = np.random.default_rng(config.shuffle_seed).permutation(len(test.voxels))
    _, shuffled_projected = predict_tokens(model, test.voxels[shuffle])
    shuffled = retrieval_top1(shuffled_projected, image_tokens, config.subset, config.n_draws, seed=config.draw_seed)
    values = {"image_top1": scores["image_top1"], "brain_top1": scores["brain_top1"], "chance": scores["chance"],
              "retrieval_subset": float(scores["subset"]),
              "image_top1_shuffled": shuffled["image_top1"], "brain_top1_shuffled": shuffled["brain_top1"]}
    return values, projected


def top_k_table(projected: np.ndarray, image_tokens: np.ndarray, stim_ids: list[str], k: int) -> pd.DataFrame:
    """For each test item, its k nearest images (cosine) among all test images."""
    sims = cosine_similarities(projected, image_tokens)
    top = np.argsort(-sims, axis=1, kind="stable")[:, :min(k, len(stim_ids))]
    rows = [{"stim_id": stim_ids[row], "rank": rank + 1, "retrieved": stim_ids[col],
             "similarity": float(sims[row, col]), "correct": col == row}
            for row in range(len(top)) for rank, col in enumerate(top[row])]
    return pd.DataFrame(rows, columns=["stim_id", "rank", "retrieved", "similarity", "correct"])


def check_ids(stimuli, stim_ids: list[str]) -> None:
    """Every id is in the stimulus set (a StimulusSet), else its index file and the first missing id are named."""
    known = set(stimuli.stim_ids)
    missing = [s for s in stim_ids if s not in known]
    if missing:
        raise DataValidationError(stimuli.root / "index.parquet", "stim_id",
                                  f"every stimulus of the brain responses ({len(missing)} missing)", missing[0])


def images_of(stimuli, stim_ids: list[str]) -> list[np.ndarray]:
    return [image for _, image in stimuli.iter_images(list(stim_ids))]


def _resized(images, size: tuple[int, int]) -> np.ndarray:
    """Images (each uint8 (H, W, 3), of any size) resized to ``size`` (height, width), stacked."""
    return np.stack([np.asarray(Image.fromarray(image).resize(size[::-1], Image.BICUBIC)) for image in images])


def reconstruction_values(reconstructions, stimuli, two_way: dict) -> tuple[dict, list[str]]:
    """Per-image PixCorr, SSIM and two-way identification (each built backbone of ``two_way``, by
    name) of ``reconstructions/final``, and PixCorr/SSIM of ``low_level/`` when present."""
    final = read_stimulus_set(Path(reconstructions) / "final")
    ids = final.stim_ids
    check_ids(stimuli, ids)
    recons = np.stack(images_of(final, ids))
    truths = _resized(images_of(stimuli, ids), recons.shape[1:3])
    features = {name: (embed_images(backbone, list(recons)), embed_images(backbone, list(truths)))
                for name, backbone in two_way.items()} if len(ids) > 1 else {}
    values = evaluate_reconstructions(recons, truths, features)
    low_dir = Path(reconstructions) / "low_level"
    if low_dir.exists():
        low = np.stack(images_of(read_stimulus_set(low_dir), ids))
        truths_low = _resized(truths, low.shape[1:3])
        values.update(pixcorr_low_level=pixcorr(low, truths_low), ssim_low_level=ssim(low, truths_low))
    return values, ids


__all__ = ["PAPER_TOP1", "EvaluationConfig", "SplitData", "check_ids", "images_of", "reconstruction_values",
           "retrieval_scores", "top_k_table"]
