"""Video vs image encoders (Yeung et al. 2024, section on encoding): voxel-wise ridge from the
features of a video model (VideoMAE, transformers ``VideoMAEModel``) against the features of an
image model on the clip's first frame, and where per voxel the video features predict better.

VideoMAE's tokens (time slots x patch rows x patch columns x hidden) are average-pooled to
``pool x pool`` cells per time slot before the ridge, so a large model's 1,568 tokens do not make
a design matrix of 1.6 M columns; the image model's patch map is pooled the same way. Both
ridges are the project's :class:`~neurogaze.brain.encoding.VoxelRidge` (one alpha per voxel by
K-fold CV) and are scored by the Pearson r of test predictions; :func:`clip_bootstrap` resamples
the test clips for an interval of the mean difference over a set of voxels.

The demo's VideoMAE is the tiny ``VideoFeatureConfig.tiny`` pretrained on the training clips
(:mod:`.pretrain`), read from its folder like a released checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from transformers import VideoMAEConfig, VideoMAEModel

from neurogaze.backbones.hf import seeded
from neurogaze.brain.dynamic.features import IMAGENET_MEAN, IMAGENET_STD
from neurogaze.brain.encoding import VoxelRidge
from neurogaze.errors import DataValidationError, MissingWeightsError
from neurogaze.metrics.encoding import pearson_per_unit


@dataclass
class VideoFeatureConfig:
    num_frames: int = 16  # frames sampled evenly from each clip (VideoMAE: 16)
    image_size: int = 224
    pool: int = 1  # pool x pool cells per time slot (1: the mean token of each slot)
    tiny: dict = field(default_factory=lambda: {"patch_size": 8, "tubelet_size": 2, "hidden_size": 32,
                                                "num_hidden_layers": 1, "num_attention_heads": 2,
                                                "intermediate_size": 64})
    seed: int = 0
    batch_size: int = 4

    def to_dict(self) -> dict:
        return asdict(self)


def load_video_model(config: VideoFeatureConfig, folder=None) -> VideoMAEModel:
    """VideoMAE from a local folder (nothing is downloaded), or the tiny model of ``config.tiny``."""
    if folder:
        if not Path(folder).is_dir():
            raise MissingWeightsError(f"video model folder {folder} does not exist (nothing is downloaded: put a "
                                      f"VideoMAE checkpoint there)")
        return VideoMAEModel.from_pretrained(folder).eval()
    tiny = VideoMAEConfig(image_size=config.image_size, num_frames=config.num_frames, **config.tiny)
    return seeded(lambda: VideoMAEModel(tiny), config.seed).eval()


def sample_frames(clip: np.ndarray, n: int, source=None, video_id: str = "") -> np.ndarray:
    if len(clip) < n:
        raise DataValidationError(source, f"frames/{video_id}", f"at least {n} frames (video.num_frames)", len(clip))
    return clip[np.linspace(0, len(clip) - 1, n).round().astype(int)]


def pool_tokens(tokens: torch.Tensor, slots: int, side: int, pool: int) -> np.ndarray:
    """(B, slots * side * side, hidden) -> (B, slots * pool * pool * hidden)."""
    grid = tokens.reshape(len(tokens), slots, side, side, -1).permute(0, 1, 4, 2, 3).flatten(0, 1)
    pooled = F.adaptive_avg_pool2d(grid, pool).reshape(len(tokens), -1)
    return pooled.numpy().astype(np.float32)


@torch.no_grad()
def video_features(model: VideoMAEModel, clips: list[np.ndarray], config: VideoFeatureConfig) -> np.ndarray:
    """uint8 clips (T, H, W, 3) -> float32 (n, features): pooled VideoMAE tokens."""
    cfg = model.config
    slots, side = cfg.num_frames // cfg.tubelet_size, cfg.image_size // cfg.patch_size
    mean = torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1)
    out = []
    for start in range(0, len(clips), config.batch_size):
        batch = np.stack([sample_frames(c, cfg.num_frames) for c in clips[start:start + config.batch_size]])
        pixels = torch.from_numpy(batch).float().div(255.0).permute(0, 1, 4, 2, 3)  # (B, T, 3, H, W)
        pixels = F.interpolate(pixels.flatten(0, 1), size=(cfg.image_size, cfg.image_size), mode="bilinear",
                               align_corners=False).reshape(*pixels.shape[:3], cfg.image_size, cfg.image_size)
        tokens = model(pixel_values=((pixels - mean) / std).to(next(model.parameters()).device)).last_hidden_state
        out.append(pool_tokens(tokens.cpu(), slots, side, config.pool))
    return np.concatenate(out)


def pool_image_maps(maps: np.ndarray, pool: int) -> np.ndarray:
    """(n, C, h, w) patch maps -> (n, C * pool * pool)."""
    return F.adaptive_avg_pool2d(torch.from_numpy(maps), pool).reshape(len(maps), -1).numpy()


def _standardise(features: np.ndarray, train: np.ndarray) -> np.ndarray:
    sd = features[train].std(0)
    return ((features - features[train].mean(0)) / np.where(sd > 0, sd, 1.0)).astype(np.float32)


def encoder_predictions(video: np.ndarray, image: np.ndarray, responses: np.ndarray, train: np.ndarray,
                        alphas=(0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5), cv: int = 5) -> dict[str, np.ndarray]:
    """The test rows' predictions (n_test, voxels) of a ridge from the video features and of one
    from the image features, each fitted on the training rows."""
    predictions = {}
    for name, features in (("video", video), ("image", image)):
        design = _standardise(features, train)
        ridge = VoxelRidge(alphas=alphas, cv=cv, device="cpu").fit(design[train], responses[train])
        predictions[name] = ridge.predict(design[~train])
    return predictions


def compare_encoders(video: np.ndarray, image: np.ndarray, responses: np.ndarray, train: np.ndarray,
                     alphas=(0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5), cv: int = 5) -> dict[str, np.ndarray]:
    """Per voxel the test r of a ridge from the video features and from the image features, and
    their difference (video - image)."""
    return score_predictions(responses[~train], encoder_predictions(video, image, responses, train, alphas, cv))


def score_predictions(responses: np.ndarray, predictions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per voxel r of the video and the image predictions of the test ``responses``, and r_video - r_image."""
    scores = {f"r_{name}": pearson_per_unit(responses, predictions[name]) for name in ("video", "image")}
    scores["r_difference"] = scores["r_video"] - scores["r_image"]
    return scores


def clip_bootstrap(responses: np.ndarray, video: np.ndarray, image: np.ndarray, units: np.ndarray,
                   n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """The mean over ``units`` (a boolean voxel mask) of r(video) - r(image), recomputed on test
    clips resampled with replacement, ``n_boot`` times. The clips, not the voxels, are the
    independent samples: every voxel's r comes from the same few test clips, so a test across
    voxels treats their shared clip noise as independent evidence."""
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    for b in range(n_boot):
        rows = rng.integers(0, len(responses), len(responses))
        difference = (pearson_per_unit(responses[rows], video[rows])[units]
                      - pearson_per_unit(responses[rows], image[rows])[units])
        out[b] = np.nanmean(difference)
    return out
