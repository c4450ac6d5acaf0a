"""Training a demo open_clip backbone on a captioned image set (the demo world, or any COCO-layout set).

Three training signals on one architecture and one data set, as the SEEG paper's controlled
comparisons need them (SLIP vs SimCLR: same network, same images, different signal):

- ``clip``: image-text contrastive, open_clip's own ``ClipLoss`` with its learnable temperature;
- ``simclr``: image-only, two augmented views of each image (random resized crop, flip, colour
  jitter) contrasted by NT-Xent (SimCLR's loss: every other view in the batch is a negative);
  the text tower keeps its seeded initialisation;
- ``text_contrastive``: text-only, two different captions of the same image contrasted by
  ``ClipLoss``; no pixel is seen, the vision tower keeps its seeded initialisation.

The network starts from exactly the seeded initialisation an untrained demo backbone of the same
spec has, so "untrained" is the same model before its first step. The trained state dict is
saved as a released checkpoint is (``<model>.pt`` with ``<model>.json`` beside it) and loaded
back through ``open_clip.create_model_and_transforms``. Training resumes from the last finished
epoch when its inputs and settings are unchanged.
"""

from __future__ import annotations

import logging
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import open_clip
import pandas as pd
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss
from PIL import Image

from neurogaze.backbones.open_clip_factory import OpenClipSpec, register_demo_architecture, seeded_demo_model
from neurogaze.config import from_section
from neurogaze.data.contracts import read_stimulus_set
from neurogaze.errors import ConfigError, DataValidationError
from neurogaze.io import fingerprint, resume_folder, write_json, write_torch
from neurogaze.runlog import resolve_device

logger = logging.getLogger(__name__)

OBJECTIVES = ("clip", "simclr", "text_contrastive")


@dataclass(frozen=True)
class BackboneTraining:
    """How a demo backbone learns. The defaults are CLIP's (Radford et al. 2021: AdamW with
    beta2 0.98, eps 1e-6, weight decay 0.2, cosine decay after a linear warm-up, a learnable
    temperature starting at 0.07) and SimCLR's (temperature 0.1 as SLIP uses it, crops of 8-100 %
    of the image); the demo shrinks epochs, batch and warm-up."""

    objective: str = "clip"
    data: str = "coco"  # the stimulus set (and its captions) it learns from; read by the rule
    epochs: int = 32
    batch_size: int = 32768
    lr: float = 5e-4
    weight_decay: float = 0.2
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    warmup_steps: int = 2000
    simclr_temperature: float = 0.1
    crop_scale: tuple[float, float] = (0.08, 1.0)
    colour_jitter: float = 0.4
    seed: int = 0

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, not {self.objective!r}")


@dataclass
class _Data:
    pixels: torch.Tensor  # (N, 3, H, W) float in [0, 1] at the model's input size
    tokens: list[torch.Tensor]  # per image: (n_captions, context) token ids
    stim_ids: list[str]


def training_config(spec: dict, name: str) -> BackboneTraining:
    return from_section(BackboneTraining, spec.get("train"), f"backbones.{name}.train")


def train_demo_backbone(*, stimuli, captions, weights, spec: dict, name: str, model: str, device: str = "cpu",
                        stop_after_epoch: int | None = None) -> Path:
    """Rule ``train_demo_backbone``: the demo backbone ``name`` (open_clip architecture ``model``)
    trained on the train split of ``stimuli`` with its ``captions`` (captions.parquet), saved to
    ``weights`` like a released checkpoint, with ``<model>.training.json`` (settings, inputs, loss
    per epoch) beside it. On the CPU a rerun gives the same bytes; a GPU gives other last bits."""
    spec_obj = OpenClipSpec.from_dict(name, {key: value for key, value in spec.items() if key != "name"})
    if spec_obj.architecture is None or not spec_obj.train:
        raise ConfigError(None, f"backbones.{name}", "a demo architecture with a `train` section to train")
    config = training_config(spec, name)
    weights = Path(weights)
    register_demo_architecture(spec_obj, weights)
    network = seeded_demo_model(spec_obj).to(resolve_device(device))
    data = read_training_data(stimuli, captions, network, spec_obj.model)
    key = {"stimuli": fingerprint(stimuli), "captions": fingerprint(captions),
           "architecture": spec_obj.architecture, "seed": spec_obj.seed, "training": asdict(config)}
    folder = resume_folder(weights.with_name(weights.name + ".resume"), key, f"training backbone {name!r}")
    history = fit(network, data, config, checkpoint=folder / "checkpoint.pt",
                  stop_after_epoch=None if stop_after_epoch is None else int(stop_after_epoch))
    if len(history) < config.epochs:
        return weights
    write_json(weights.with_suffix(".training.json"), {
        "backbone": name, "model": model, "training": asdict(config), "inputs": key,
        "loss_per_epoch": history, "n_images": len(data.stim_ids),
    })
    write_torch(weights, {key: value.cpu() for key, value in network.state_dict().items()})
    shutil.rmtree(folder)
    return weights


def read_training_data(stimuli, captions, network: torch.nn.Module, model: str, split: str = "train") -> _Data:
    """A split's images at the network's input size and their captions as open_clip tokens."""
    stimulus_set = read_stimulus_set(stimuli)
    index = stimulus_set.index
    train_ids = [str(stim_id) for stim_id in index.loc[index["split"] == split, "stim_id"]]
    if not train_ids:
        raise DataValidationError(Path(stimuli) / "index.parquet", "split", f"images in the {split!r} split", "none")
    by_image = read_captions(captions, train_ids)
    size = network.visual.image_size
    size = size if isinstance(size, int) else size[0]
    to_pixels = open_clip.image_transform(size, is_train=False).transforms[:-1]  # without Normalize
    tokenizer = open_clip.get_tokenizer(model)
    pixels, tokens = [], []
    for stim_id in train_ids:
        image = Image.fromarray(stimulus_set.load_image(stim_id)).convert("RGB")
        for step in to_pixels:
            image = step(image)
        pixels.append(image)
        tokens.append(tokenizer(by_image[stim_id]))
    return _Data(torch.stack(pixels), tokens, train_ids)


def read_captions(captions, stim_ids: list[str]) -> dict[str, list[str]]:
    """Each image's captions, checked: every image has one, none is empty."""
    table = pd.read_parquet(captions)
    for column in ("stim_id", "caption"):
        if column not in table.columns:
            raise DataValidationError(captions, column, "a captions.parquet column", "missing")
    text = table["caption"].fillna("").astype(str).str.strip()
    if (text == "").any():
        row = table[text == ""].iloc[0]
        raise DataValidationError(captions, "caption", "a non-empty caption", f"an empty one for stim_id "
                                  f"{row['stim_id']}" + (f" (caption_id {row['caption_id']})" if "caption_id" in row
                                                         else ""))
    by_image = table.assign(caption=text).groupby("stim_id", sort=False)["caption"].apply(list).to_dict()
    missing = [stim_id for stim_id in stim_ids if stim_id not in by_image]
    if missing:
        raise DataValidationError(captions, "stim_id", "captions for every image of the split",
                                  f"none for {len(missing)} of them, e.g. {missing[0]}")
    return by_image


# --- the loop ---------------------------------------------------------------------------------


def fit(network: torch.nn.Module, data: _Data, config: BackboneTraining, checkpoint: Path | None = None,
        stop_after_epoch: int | None = None) -> list[float]:
    """Train ``network`` in place; return the mean loss of each epoch. A checkpoint written after
    every epoch lets an interrupted run continue where it stopped, with the same numbers."""
    generator = torch.Generator().manual_seed(config.seed)
    network.train()
    optimiser = _optimiser(network, config)
    steps_per_epoch = max(1, math.ceil(len(data.stim_ids) / config.batch_size))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, _warmup_cosine(config.warmup_steps, config.epochs * steps_per_epoch))
    history: list[float] = []
    if checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, map_location=_device_of(network), weights_only=False)
        network.load_state_dict(state["network"])
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        generator.set_state(state["generator"])
        history = state["history"]
        logger.info("resuming after epoch %d of %d", len(history), config.epochs)
    objective = OBJECTIVE_LOSSES[config.objective]
    augment = _simclr_augmentation(data.pixels.shape[-1], config) if config.objective == "simclr" else None
    for epoch in range(len(history), config.epochs):
        order = torch.randperm(len(data.stim_ids), generator=generator)
        losses = []
        for start in range(0, len(order), config.batch_size):
            batch = order[start:start + config.batch_size]
            if len(batch) < 2:  # a contrastive loss needs a negative
                continue
            loss = objective(network, data, batch, generator, augment, config)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            with torch.no_grad():  # CLIP clips the temperature at 100
                network.logit_scale.clamp_(0, math.log(100))
            losses.append(loss.item())
        history.append(float(np.mean(losses)))
        logger.info("epoch %d/%d: %s loss %.4f", epoch + 1, config.epochs, config.objective, history[-1])
        if checkpoint is not None:
            write_torch(checkpoint, {"network": network.state_dict(), "optimiser": optimiser.state_dict(),
                                     "schedule": schedule.state_dict(), "generator": generator.get_state(),
                                     "history": history})
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch:
            break
    network.eval()
    return history


def _optimiser(network: torch.nn.Module, config: BackboneTraining) -> torch.optim.Optimizer:
    # As open_clip's training: no weight decay on gains, biases, embeddings' scales and the temperature.
    decay, no_decay = [], []
    for name, parameter in network.named_parameters():
        exempt = parameter.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
        (no_decay if exempt else decay).append(parameter)
    return torch.optim.AdamW([{"params": no_decay, "weight_decay": 0.0},
                              {"params": decay, "weight_decay": config.weight_decay}],
                             lr=config.lr, betas=tuple(config.betas), eps=config.eps)


def _warmup_cosine(warmup_steps: int, total_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def _device_of(network: torch.nn.Module) -> torch.device:
    return next(network.parameters()).device


def _normalise(network: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """Pixels (on the CPU, where the data and its random draws stay) normalised on the network's device."""
    config = getattr(network.visual, "preprocess_cfg", {}) or {}
    mean = torch.tensor(config.get("mean", open_clip.OPENAI_DATASET_MEAN)).view(1, 3, 1, 1)
    std = torch.tensor(config.get("std", open_clip.OPENAI_DATASET_STD)).view(1, 3, 1, 1)
    return ((pixels - mean) / std).to(_device_of(network))


def _pick_captions(data: _Data, batch: torch.Tensor, generator: torch.Generator, count: int) -> list[torch.Tensor]:
    """``count`` different captions of each image in the batch (as token tensors, one per draw)."""
    draws = [[] for _ in range(count)]
    for index in batch.tolist():
        tokens = data.tokens[index]
        chosen = torch.randperm(len(tokens), generator=generator)[:count]
        if len(chosen) < count:
            raise DataValidationError(None, "caption", f"{count} captions per image for text-only training",
                                      f"{len(tokens)} for {data.stim_ids[index]}")
        for draw, caption in zip(draws, chosen.tolist()):
            draw.append(tokens[caption])
    return [torch.stack(draw) for draw in draws]


def _clip_loss(network, data, batch, generator, augment, config) -> torch.Tensor:
    (tokens,) = _pick_captions(data, batch, generator, 1)
    image = network.encode_image(_normalise(network, data.pixels[batch]), normalize=True)
    text = network.encode_text(tokens.to(_device_of(network)), normalize=True)
    return ClipLoss()(image, text, network.logit_scale.exp())


def _text_contrastive_loss(network, data, batch, generator, augment, config) -> torch.Tensor:
    first, second = _pick_captions(data, batch, generator, 2)
    device = _device_of(network)
    return ClipLoss()(network.encode_text(first.to(device), normalize=True),
                      network.encode_text(second.to(device), normalize=True), network.logit_scale.exp())


def _simclr_loss(network, data, batch, generator, augment, config) -> torch.Tensor:
    pixels = data.pixels[batch]
    views = [augment(pixels, generator) for _ in range(2)]
    embeddings = [network.encode_image(_normalise(network, view), normalize=True) for view in views]
    return nt_xent(*embeddings, temperature=config.simclr_temperature)


OBJECTIVE_LOSSES = {"clip": _clip_loss, "simclr": _simclr_loss, "text_contrastive": _text_contrastive_loss}


def nt_xent(first: torch.Tensor, second: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent over a batch of two views (unit rows): each view's positive is the other
    view of its image, its negatives the 2N - 2 views of the other images."""
    views = torch.cat([first, second])
    logits = views @ views.T / temperature
    logits.fill_diagonal_(float("-inf"))
    count = len(first)
    targets = torch.cat([torch.arange(count, 2 * count), torch.arange(count)])
    return F.cross_entropy(logits, targets)


def _simclr_augmentation(size: int, config: BackboneTraining):
    """SimCLR's augmentations on a batch of [0, 1] pixels, each image its own draw from
    ``generator`` (so a run repeats): a random resized crop (area ``crop_scale``, aspect 3/4-4/3,
    bilinear) with a horizontal flip half the time, then brightness, contrast and saturation
    jitter. Batched, so augmenting costs little beside the encoder."""
    low, high = config.crop_scale
    jitter = config.colour_jitter

    def augment(pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        count = len(pixels)
        uniform = torch.rand(count, 8, generator=generator)
        area = low + (high - low) * uniform[:, 0]
        ratio = torch.exp(math.log(3 / 4) + math.log(16 / 9) * uniform[:, 1])
        width = torch.sqrt(area * ratio).clamp(max=1.0)  # as fractions of the side
        height = torch.sqrt(area / ratio).clamp(max=1.0)
        centre_x = (2 * uniform[:, 2] - 1) * (1 - width)  # in [-1, 1] coordinates, crop inside the image
        centre_y = (2 * uniform[:, 3] - 1) * (1 - height)
        flip = torch.where(uniform[:, 4] < 0.5, -1.0, 1.0)
        theta = torch.zeros(count, 2, 3)
        theta[:, 0, 0], theta[:, 0, 2] = width * flip, centre_x
        theta[:, 1, 1], theta[:, 1, 2] = height, centre_y
        grid = F.affine_grid(theta, [count, 3, size, size], align_corners=False)
        views = F.grid_sample(pixels, grid, mode="bilinear", padding_mode="border", align_corners=False)
        factors = 1 + jitter * (2 * uniform[:, 5:] - 1)
        views = views * factors[:, 0].view(-1, 1, 1, 1)  # brightness
        grey = (views * LUMA.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
        views = grey.mean(dim=(2, 3), keepdim=True) + factors[:, 1].view(-1, 1, 1, 1) * (
            views - grey.mean(dim=(2, 3), keepdim=True))  # contrast
        grey = (views * LUMA.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
        views = grey + factors[:, 2].view(-1, 1, 1, 1) * (views - grey)  # saturation
        return views.clamp(0, 1)

    return augment


LUMA = torch.tensor([0.299, 0.587, 0.114])  # ITU-R 601 grey, as torchvision's colour jitter uses
