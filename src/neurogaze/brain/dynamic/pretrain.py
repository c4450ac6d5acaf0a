"""Self-supervised pretraining of the demo's feature models on the training clips of a video set.

The paper's feature models learned their world before they met the fMRI: VideoMAE-L by masked
autoencoding of videos, DINOv2 by self-distillation of images. A randomly initialised tiny model
carries nothing of the demo's world, so the demo trains its two tiny models on the demo's own
training clips (never the test clips) with one objective family, masked patch reconstruction,
and saves them as transformers folders that the feature stages open exactly as they open the
released checkpoints (``from_pretrained`` on a local folder):

* video: transformers' ``VideoMAEForPreTraining`` (VideoMAE's own objective: tube masking, the
  same spatial patches hidden in every time slot, mask ratio 0.9 as in the VideoMAE paper,
  normalised-pixel MSE on the hidden tubes);
* image: a ``Dinov2Model`` trained by masked image modelling on single frames (SimMIM: random
  patches replaced by the model's mask token, a linear head predicts their normalised pixels; mask
  ratio 0.75 as in MAE). DINOv2's own self-distillation is not in transformers; this keeps the
  architecture the paper's image features come from and gives the video and the image model the
  same kind of objective on the same clips, so a difference between them is the time axis.

Then the video model is fine-tuned on the training clips' motion (:func:`finetune_on_motion`), a
step the paper's model does not have: VideoMAE-L (paper.yaml: the self-supervised
``MCG-NJU/videomae-large``) learned motion by masked autoencoding alone, from Kinetics-400's
240,000 clips at 224 px, while at demo size (64 clips of 32 px) masked autoencoding leaves the
tiny model's tokens blind to the motion of panned photographs (too few visible patches to
extrapolate a pan from). The targets are measured from each clip itself, its optical flow (the
video set's Farneback or RAFT flow) summarised as mean dx, mean dy and mean speed, with horizontal
/ vertical flips and time reversal as label-consistent augmentations; no planted truth is read.
The image model gets no such step: a single frame holds no motion.

Pretraining and fine-tuning take seconds at demo size and are not resumable.
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm
from transformers import (
    Dinov2Config,
    Dinov2Model,
    VideoMAEConfig,
    VideoMAEForPreTraining,
    VideoMAEForVideoClassification,
)

from neurogaze.backbones.hf import seeded
from neurogaze.brain.dynamic.features import model_pixels
from neurogaze.brain.dynamic.video_encoding import sample_frames
from neurogaze.errors import DataValidationError
from neurogaze.io import atomic_directory

logger = logging.getLogger(__name__)


@dataclass
class PretrainConfig:
    """One model's pretraining: the architecture (``model``: VideoMAEConfig or Dinov2Config
    arguments), its input and the optimisation."""

    model: dict = field(default_factory=dict)
    num_frames: int = 16  # video: frames sampled evenly from each clip
    image_size: int = 224
    mask_ratio: float = 0.9
    epochs: int = 100
    batch_size: int = 16
    learning_rate: float = 1e-3
    weight_decay: float = 0.05
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class MotionFinetuneConfig:
    """Fine-tuning of the pretrained video model on its training clips' measured motion
    (:func:`motion_targets`); ``epochs`` 0 skips it."""

    epochs: int = 0
    batch_size: int = 16
    learning_rate: float = 3e-3
    weight_decay: float = 0.05
    augment: bool = True  # flips and time reversal, the targets' signs following
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


MOTION_TARGETS = ("mean_dx", "mean_dy", "mean_speed")
# what each augmentation does to the targets: (pixel dimension of (B, T, 3, H, W), sign per target)
_MOTION_FLIPS = ((-1, (-1.0, 1.0, 1.0)), (-2, (1.0, -1.0, 1.0)), (1, (-1.0, -1.0, 1.0)))


def motion_targets(flow: np.ndarray) -> np.ndarray:
    """A clip's optical flow (pairs, H, W, 2) in px per frame -> (mean dx, mean dy, mean speed)."""
    return np.array([flow[..., 0].mean(), flow[..., 1].mean(), np.linalg.norm(flow, axis=-1).mean()],
                    dtype=np.float32)


def finetune_on_motion(pretrained: VideoMAEForPreTraining, clips: list[np.ndarray], flows: list[np.ndarray],
                       config: MotionFinetuneConfig, device: str = "cpu") -> VideoMAEForVideoClassification:
    """``VideoMAEForVideoClassification`` (regression, mean-pooled tokens) started from the
    pretrained encoder and trained to give each clip's :func:`motion_targets` of its flow,
    standardised over the clips."""
    _check_clips(clips, "video fine-tuning clips")
    if len(flows) != len(clips):
        raise DataValidationError(None, "flow", f"one flow per fine-tuning clip ({len(clips)})", len(flows))
    model_config = copy.deepcopy(pretrained.config)
    model_config.num_labels, model_config.problem_type = len(MOTION_TARGETS), "regression"
    model = seeded(lambda: VideoMAEForVideoClassification(model_config), config.seed)
    model.videomae.load_state_dict(pretrained.videomae.state_dict())
    model.to(device)
    video = model_pixels(np.stack([sample_frames(c, model_config.num_frames) for c in clips]), model_config.image_size)
    raw = torch.from_numpy(np.stack([motion_targets(f) for f in flows]))
    mean, sd = raw.mean(0), raw.std(0).clamp_min(1e-6)
    generator = torch.Generator().manual_seed(config.seed)

    def step(rows: torch.Tensor) -> torch.Tensor:
        pixels, targets = video[rows].clone(), raw[rows].clone()
        for dim, signs in _MOTION_FLIPS if config.augment else ():
            flip = torch.rand(len(rows), generator=generator) < 0.5
            pixels[flip] = pixels[flip].flip(dim)
            targets[flip] = targets[flip] * torch.tensor(signs)
        return model(pixel_values=pixels.to(device), labels=((targets - mean) / sd).to(device)).loss

    _optimise(model, len(video), step, config, "VideoMAE motion fine-tuning")
    return model.eval()


def tube_mask(batch: int, slots: int, patches: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """VideoMAE's tube masking: per clip the same ``round(ratio x patches)`` spatial patches are
    hidden in every one of the ``slots`` time slots. bool (batch, slots x patches)."""
    hidden = int(round(ratio * patches))
    if not 0 < hidden < patches:
        raise DataValidationError(None, "mask_ratio", f"a ratio hiding between 1 and {patches - 1} of {patches} "
                                  f"patches", ratio)
    order = torch.rand(batch, patches, generator=generator).argsort(dim=1)
    mask = torch.zeros(batch, patches, dtype=torch.bool)
    mask.scatter_(1, order[:, :hidden], True)
    return mask.repeat(1, slots)


def _check_clips(clips: list[np.ndarray], what: str) -> None:
    if len(clips) < 2:
        raise DataValidationError(None, what, "at least 2 training clips to pretrain on", len(clips))


def pretrain_videomae(clips: list[np.ndarray], config: PretrainConfig, device: str = "cpu") -> VideoMAEForPreTraining:
    """VideoMAE pretraining (tube masking, normalised-pixel loss) on uint8 clips (T, H, W, 3)."""
    _check_clips(clips, "video pretraining clips")
    model_config = VideoMAEConfig(image_size=config.image_size, num_frames=config.num_frames, **config.model)
    model = seeded(lambda: VideoMAEForPreTraining(model_config), config.seed).to(device)
    video = model_pixels(np.stack([sample_frames(c, config.num_frames) for c in clips]), config.image_size)
    slots = config.num_frames // model_config.tubelet_size
    patches = (config.image_size // model_config.patch_size) ** 2
    generator = torch.Generator().manual_seed(config.seed)

    def step(rows: torch.Tensor) -> torch.Tensor:
        mask = tube_mask(len(rows), slots, patches, config.mask_ratio, generator)
        return model(pixel_values=video[rows].to(device), bool_masked_pos=mask.to(device)).loss

    _optimise(model, len(video), step, config, "VideoMAE pretraining")
    return model.eval()


class MaskedImageModel(nn.Module):
    """SimMIM on a Dinov2Model: the masked patches' normalised pixels from their output tokens."""

    def __init__(self, backbone: Dinov2Model):
        super().__init__()
        self.backbone = backbone
        patch = backbone.config.patch_size
        self.head = nn.Linear(backbone.config.hidden_size, patch * patch * 3)

    def forward(self, pixels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        tokens = self.backbone(pixel_values=pixels, bool_masked_pos=mask).last_hidden_state[:, 1:]
        patch = self.backbone.config.patch_size
        target = F.unfold(pixels, patch, stride=patch).transpose(1, 2)  # (B, patches, 3 x patch x patch)
        target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True).sqrt() + 1e-6)
        return F.mse_loss(self.head(tokens)[mask], target[mask])


def pretrain_image_model(frames: np.ndarray, config: PretrainConfig, device: str = "cpu") -> Dinov2Model:
    """Masked image modelling of a Dinov2Model on uint8 frames (n, H, W, 3)."""
    _check_clips(list(frames), "image pretraining frames")
    model_config = Dinov2Config(image_size=config.image_size, **config.model)
    model = seeded(lambda: MaskedImageModel(Dinov2Model(model_config)), config.seed).to(device)
    images = model_pixels(frames, config.image_size)
    patches = (config.image_size // model_config.patch_size) ** 2
    generator = torch.Generator().manual_seed(config.seed)

    def step(rows: torch.Tensor) -> torch.Tensor:
        mask = tube_mask(len(rows), 1, patches, config.mask_ratio, generator)
        return model(images[rows].to(device), mask.to(device))

    _optimise(model, len(images), step, config, "image pretraining")
    return model.backbone.eval()


def _optimise(model: nn.Module, n_rows: int, step, config, what: str) -> None:
    """AdamW with a cosine schedule over ``config.epochs`` passes of shuffled batches of row
    indices; ``step(rows)`` returns the batch's loss."""
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    steps = config.epochs * -(-n_rows // config.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    generator = torch.Generator().manual_seed(config.seed + 1)
    model.train()
    for epoch in tqdm(range(config.epochs), desc=what, disable=None):
        losses = []
        for rows in torch.randperm(n_rows, generator=generator).split(config.batch_size):
            loss = step(rows)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
        if epoch in (0, config.epochs - 1):
            logger.info("%s: epoch %d, loss %.4f", what, epoch + 1, float(np.mean(losses)))


def save_pretrained(model, out_dir: str | os.PathLike) -> None:
    """The model as a transformers folder (config.json + weights), written atomically."""
    with atomic_directory(out_dir) as temp:
        model.save_pretrained(temp)
