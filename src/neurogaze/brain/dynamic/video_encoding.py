"""Video vs image encoders (Yeung et al. 2024, section on encoding): voxel-wise ridge from the
features of a video model (VideoMAE, transformers ``VideoMAEModel``) against the features of an
image model on the clip's first frame, and where per voxel the video features predict better.

What is read (``VideoFeatureConfig.layer``): the model's output tokens (``last_hidden_state``,
``layer`` null), or the MLP hidden units (after the activation) of encoder layer ``layer``. The
image model's patch tokens are read the same way (the same ``layer``, CLS dropped), so the two
sides differ only in the model. The tokens (time slots x patch rows x patch columns x units) are
average-pooled to ``pool x pool`` cells per time slot, and over the time slots too with
``pool_time``, so a large model's 1,568 tokens do not make a design matrix of 1.6 M columns.

Why a layer's MLP units can be read: a linear function of the pixels, averaged over positions,
is blind to motion (a drifting grating's phase averages out), and motion lives in second-order
statistics (energy) that only the model's nonlinearities compute. A small model whose output is
mostly its linear patch embedding carried along the residual stream can hold motion in its MLP
units and not in its output. The demo and the paper config both read the output tokens: the
demo's VideoMAE is fine-tuned on the training clips' measured motion (:mod:`.pretrain`), so its
output carries it.

Both ridges are the project's :class:`~neurogaze.brain.encoding.VoxelRidge` (one alpha per voxel
by K-fold CV) and are scored by the Pearson r of test predictions; :func:`clip_bootstrap`
resamples the test clips for an interval of the mean difference over a set of voxels.

The demo's VideoMAE is the tiny ``VideoFeatureConfig.tiny`` pretrained and fine-tuned on the
training clips (:mod:`.pretrain`), read from its folder like a released checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from transformers import Dinov2Model, VideoMAEConfig, VideoMAEModel

from neurogaze.backbones.hf import seeded
from neurogaze.brain.dynamic.features import model_pixels
from neurogaze.brain.encoding import VoxelRidge
from neurogaze.errors import DataValidationError, MissingWeightsError
from neurogaze.metrics.encoding import pearson_per_unit


@dataclass
class VideoFeatureConfig:
    num_frames: int = 16  # frames sampled evenly from each clip (VideoMAE: 16)
    image_size: int = 224
    layer: int | None = None  # None: the output tokens; k: the MLP hidden units of encoder layer k (both models)
    pool: int = 1  # pool x pool cells per time slot (1: the mean token of each slot)
    pool_time: bool = False  # average the time slots too
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


def pool_tokens(tokens: torch.Tensor, slots: int, side: int, pool: int, pool_time: bool = False) -> np.ndarray:
    """(B, slots * side * side, units) -> (B, slots * pool * pool * units), or with ``pool_time``
    (B, pool * pool * units)."""
    grid = tokens.reshape(len(tokens), slots, side, side, -1).permute(0, 1, 4, 2, 3).flatten(0, 1)
    pooled = F.adaptive_avg_pool2d(grid, pool).reshape(len(tokens), slots, -1)
    return (pooled.mean(1) if pool_time else pooled.flatten(1)).numpy().astype(np.float32)


def read_tokens(model, pixels: torch.Tensor, units: torch.nn.Module | None, activation=None) -> torch.Tensor:
    """The output tokens of ``model`` on ``pixels``, or the output of its module ``units`` (an MLP's
    hidden units; ``activation`` applied after when the module is the linear layer before it) in the
    same forward pass."""
    if units is None:
        return model(pixel_values=pixels).last_hidden_state
    captured = []
    handle = units.register_forward_hook(lambda module, args, output: captured.append(output))
    try:
        model(pixel_values=pixels)
    finally:
        handle.remove()
    return captured[0] if activation is None else activation(captured[0])


def _layer(model, layer: int):
    layers = model.encoder.layer
    if not -len(layers) <= layer < len(layers):
        raise DataValidationError(None, "video.layer", f"an encoder layer of the model (it has {len(layers)})",
                                  layer)
    return layers[layer]


@torch.no_grad()
def video_features(model: VideoMAEModel, clips: list[np.ndarray], config: VideoFeatureConfig) -> np.ndarray:
    """uint8 clips (T, H, W, 3) -> float32 (n, features): pooled VideoMAE tokens or MLP units."""
    cfg = model.config
    slots, side = cfg.num_frames // cfg.tubelet_size, cfg.image_size // cfg.patch_size
    units = None if config.layer is None else _layer(model, config.layer).intermediate
    out = []
    for start in range(0, len(clips), config.batch_size):
        batch = np.stack([sample_frames(c, cfg.num_frames) for c in clips[start:start + config.batch_size]])
        pixels = model_pixels(batch, cfg.image_size).to(next(model.parameters()).device)  # (B, T, 3, size, size)
        out.append(pool_tokens(read_tokens(model, pixels, units).cpu(), slots, side, config.pool, config.pool_time))
    return np.concatenate(out)


@torch.no_grad()
def image_features(model: Dinov2Model, frames: np.ndarray, config: VideoFeatureConfig, image_size: int,
                   batch_size: int = 16) -> np.ndarray:
    """uint8 frames (n, H, W, 3) -> float32 (n, features): the image model's patch tokens read as
    ``video_features`` reads the video model's (the same layer and pooling; CLS dropped)."""
    side = image_size // model.config.patch_size
    mlp = None if config.layer is None else _layer(model, config.layer).mlp
    units, activation = (None, None) if mlp is None else (mlp.fc1, mlp.activation_fn)
    out = []
    for start in range(0, len(frames), batch_size):
        pixels = model_pixels(frames[start:start + batch_size], image_size).to(next(model.parameters()).device)
        tokens = read_tokens(model, pixels, units, activation)[:, 1:]
        out.append(pool_tokens(tokens.cpu(), 1, side, config.pool))
    return np.concatenate(out)


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
