"""MindEye's low-level path: voxels -> a VAE latent of the seen image, the img2img start of reconstruction.

``Voxel2Latent`` has the released ``Voxel2StableDiffusionModel`` layout: ``lin0``, ``mlp``,
``lin1``, ``norm``, a diffusers VAE ``Decoder`` as ``upsampler`` and, with the contrastive loss,
the 1x1-convolution ``maps_projector``. It is trained against the variation pipeline's (frozen)
VAE with an L1 loss on the scaled latents, plus ``pixel_weight`` x an L1 loss on the decoded
pixels, plus ``cont_weight`` x a soft contrastive loss between its projected feature maps and a
frozen ConvNeXt teacher's token embeddings of the image and of an augmented copy (the official
``train_autoencoder.py``'s ``soft_cont_loss``), with voxel mixup for the first ``mixup_fraction``
of the epochs. The released low-level model ("4x_locont_no_reconst") is the defaults: no pixel
loss, the ConvNeXt loss at 0.1, no mixup, and repeats mixed (``trials`` "mixed": each batch the
official ``voxel_select``: with probability 0.5 a random convex combination of each image's
trials, 0.3 their mean, 0.2 one random trial).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers.models.autoencoders.vae import Decoder
from timm.models.convnext import ConvNeXt, checkpoint_filter_fn
from torch import nn
from torch.nn import functional as F
from torchvision.transforms import v2
from tqdm.auto import tqdm

from neurogaze import __version__
from neurogaze.backbones.diffusion import images_to_tensor
from neurogaze.brain.mindeye.model import load_released_state, load_torch_file
from neurogaze.brain.mindeye.reconstruct import to_uint8
from neurogaze.brain.mindeye.train import mixco
from neurogaze.errors import ConfigError, DataValidationError
from neurogaze.io import write_torch

LOW_LEVEL_FORMAT = "neurogaze.mindeye-low-level/1"


TRIAL_MODES = ("mixed", "mean")


@dataclass(frozen=True)
class LowLevelConfig:
    """Config section ``mindeye.low_level`` (``n_voxels`` comes from the responses, ``seed`` from the
    master seed; the teacher's file is the rule's input). The released '4x_locont_no_reconst': 4096
    wide, 4 blocks, 64 x 16 x 16 maps upsampled by a VAE decoder with blocks (64, 128, 256) to
    4 x 64 x 64 SD latents; 120 epochs, batch 8, OneCycle to 5e-4; latent L1 + 0.1 x the ConvNeXt
    soft contrastive loss (temperature 0.075, 512-d projections) and no pixel loss, no mixup,
    repeats mixed. The teacher is ConvNeXt-XL (depths 3, 3, 27, 3; widths 256 ... 2048) with a
    2048 -> 512 -> 512 -> 512 token projector."""

    n_voxels: int = 15724
    hidden: int = 4096
    n_blocks: int = 4
    map_channels: int = 64
    map_side: int = 16
    decoder_channels: tuple[int, ...] = (64, 128, 256)
    latent_channels: int = 4
    dropout_in: float = 0.5
    dropout_block: float = 0.25
    epochs: int = 120
    batch_size: int = 8
    max_lr: float = 5e-4
    weight_decay: float = 1e-2
    mixup_fraction: float = 0.0
    pixel_weight: float = 0.0
    cont_weight: float = 0.1
    cont_temperature: float = 0.075
    projector_dim: int = 512
    teacher_depths: tuple[int, ...] = (3, 3, 27, 3)
    teacher_dims: tuple[int, ...] = (256, 512, 1024, 2048)
    teacher_projector: tuple[int, ...] = (512, 512, 512)
    trials: str = "mixed"
    seed: int = 0

    def __post_init__(self):
        if self.trials not in TRIAL_MODES:
            raise ConfigError(None, "mindeye.low_level.trials", f"one of {TRIAL_MODES}, not {self.trials!r}")
        if self.cont_weight > 0 and self.teacher_projector[-1] != self.projector_dim:
            raise ConfigError(None, "mindeye.low_level.teacher_projector", f"a last width of projector_dim "
                              f"({self.projector_dim}), not {self.teacher_projector[-1]}")

    @property
    def latent_size(self) -> int:
        return self.map_side * 2 ** (len(self.decoder_channels) - 1)

    @property
    def teacher_image_size(self) -> int:
        """The teacher's input side: its token grid (stride 32) matches the maps' (512 px for 16 x 16)."""
        return self.map_side * 32


class Voxel2Latent(nn.Module):
    """Residual MLP -> (map_channels, side, side) maps -> VAE-style decoder -> latent."""

    def __init__(self, config: LowLevelConfig):
        super().__init__()
        self.config = config
        h = config.hidden
        self.lin0 = nn.Sequential(nn.Linear(config.n_voxels, h, bias=False), nn.LayerNorm(h), nn.SiLU(),
                                  nn.Dropout(config.dropout_in))
        self.mlp = nn.ModuleList(
            nn.Sequential(nn.Linear(h, h, bias=False), nn.LayerNorm(h), nn.SiLU(), nn.Dropout(config.dropout_block))
            for _ in range(config.n_blocks)
        )
        self.lin1 = nn.Linear(h, config.map_channels * config.map_side**2, bias=False)
        self.norm = nn.GroupNorm(1, config.map_channels)
        self.upsampler = Decoder(
            in_channels=config.map_channels, out_channels=config.latent_channels,
            up_block_types=["UpDecoderBlock2D"] * len(config.decoder_channels),
            block_out_channels=list(config.decoder_channels), layers_per_block=1,
            norm_num_groups=min(32, config.decoder_channels[0]),
        )
        self.maps_projector = _maps_projector(config) if config.cont_weight > 0 else nn.Identity()

    def forward(self, voxels: torch.Tensor, return_maps: bool = False):
        """Latents; with ``return_maps`` also the projected maps as tokens (batch, side^2, projector_dim)."""
        x = self.lin0(voxels)
        for block in self.mlp:
            x = block(x) + x
        side = self.config.map_side
        maps = self.norm(self.lin1(x).view(len(x), -1, side, side))
        if return_maps:
            return self.upsampler(maps), self.maps_projector(maps).flatten(2).transpose(1, 2)
        return self.upsampler(maps)


def _maps_projector(config: LowLevelConfig) -> nn.Sequential:
    """The released ``maps_projector``: three 1x1 convolutions, group norm and ReLU between."""
    width = config.projector_dim
    return nn.Sequential(
        nn.Conv2d(config.map_channels, width, 1, bias=False), nn.GroupNorm(1, width), nn.ReLU(True),
        nn.Conv2d(width, width, 1, bias=False), nn.GroupNorm(1, width), nn.ReLU(True),
        nn.Conv2d(width, width, 1, bias=True),
    )


# ---------------------------------------------------------------------------------------------
# The ConvNeXt teacher of the contrastive loss
# ---------------------------------------------------------------------------------------------

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.228, 0.224, 0.225)  # the official script's values (0.228, not torchvision's 0.229)


class ConvNeXtTeacher(nn.Module):
    """ConvNeXt (timm's) whose last-stage tokens, after the final LayerNorm, go through an MLP
    projector (Linear, LayerNorm, ReLU per hidden layer; the last Linear without bias), as the
    official ``ConvnextXL`` does. Input: [0, 1] images; output (batch, h*w, projector[-1])."""

    def __init__(self, config: LowLevelConfig):
        super().__init__()
        self.backbone = ConvNeXt(depths=config.teacher_depths, dims=config.teacher_dims, num_classes=0)
        widths = [config.teacher_dims[-1], *config.teacher_projector]
        layers: list[nn.Module] = []
        for width_in, width_out in zip(widths[:-2], widths[1:-1]):
            layers += [nn.Linear(width_in, width_out), nn.LayerNorm(width_out), nn.ReLU(True)]
        layers.append(nn.Linear(widths[-2], widths[-1], bias=False))
        self.maps_projector = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        maps = self.backbone.head.norm(self.backbone.forward_features((images - self.mean) / self.std))
        return self.maps_projector(maps.flatten(2).transpose(1, 2))


def load_teacher(path: str | os.PathLike, config: LowLevelConfig, device: torch.device | str = "cpu"
                 ) -> ConvNeXtTeacher:
    """The teacher from a local file: the official ``convnext_xlarge_alpha0.75_fullckpt.pth`` (its
    ``model`` dict: Facebook's ConvNeXt keys, optionally under ``backbone.`` / ``module.``, and
    ``maps_projector.*``) or a timm-layout state dict. Every tensor of the teacher must be there."""
    path = Path(path)
    payload = load_torch_file(path, "cpu")
    state = payload.get("model", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict):
        raise DataValidationError(path, "model", "a state dict of the ConvNeXt teacher", type(payload).__name__)
    state = {k.replace("module.", "", 1) if k.startswith("module.") else k: v for k, v in state.items()}
    teacher = ConvNeXtTeacher(config)
    projector = {k[len("maps_projector."):]: v for k, v in state.items() if k.startswith("maps_projector.")}
    backbone = {k[len("backbone."):] if k.startswith("backbone.") else k: v for k, v in state.items()
                if not k.startswith("maps_projector.")}
    backbone = checkpoint_filter_fn(backbone, teacher.backbone)
    wanted = teacher.backbone.state_dict()
    missing = [k for k in wanted if k not in backbone] + [f"maps_projector.{k}" for k in
                                                          teacher.maps_projector.state_dict() if k not in projector]
    if missing:
        raise DataValidationError(path, missing[0], "every tensor of the ConvNeXt teacher (mindeye.low_level."
                                  "teacher_depths / teacher_dims / teacher_projector)", f"{len(missing)} missing")
    try:
        teacher.backbone.load_state_dict({k: backbone[k] for k in wanted})
        teacher.maps_projector.load_state_dict(projector)
    except RuntimeError as exc:
        raise DataValidationError(path, "state_dict", "tensors of the configured teacher's shapes", exc) from exc
    return teacher.to(device).eval().requires_grad_(False)


def teacher_augmentation(size: int) -> v2.Compose:
    """The official teacher augmentation (kornia there): colour jitter (p 0.8), grayscale (0.2),
    solarize (0.2; kornia draws the threshold around 0.5, here fixed at 0.5), Gaussian blur 7 x 7
    (0.1), random resized crop (scale 0.5-1) back to ``size``; drawn per image."""
    return v2.Compose([
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
        v2.RandomGrayscale(p=0.2),
        v2.RandomSolarize(0.5, p=0.2),
        v2.RandomApply([v2.GaussianBlur(7, sigma=(0.1, 2.0))], p=0.1),
        v2.RandomResizedCrop(size, scale=(0.5, 1.0), antialias=True),
    ])


def soft_cont_loss(student: torch.Tensor, teacher: torch.Tensor, teacher_aug: torch.Tensor,
                   temperature: float) -> torch.Tensor:
    """The official ``soft_cont_loss`` (one process): student and teacher tokens each scored
    against the augmented teacher tokens, the teacher-teacher softmax as the soft target, both ways.
    Inputs are L2-normalised rows (tokens of every image stacked)."""
    target = (teacher @ teacher_aug.T / temperature).softmax(-1)
    target_t = (teacher_aug @ teacher.T / temperature).softmax(-1)
    forward = -((student @ teacher_aug.T / temperature).log_softmax(-1) * target).sum(-1).mean()
    backward = -((teacher_aug @ student.T / temperature).log_softmax(-1) * target_t).sum(-1).mean()
    return (forward + backward) / 2


def select_trials(trials: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """The official ``voxel_select`` over each image's trials (its first ``counts`` slots): with
    probability 0.5 a convex combination with U(0, 1) weights, 0.3 the mean, 0.2 one trial at random."""
    present = (torch.arange(trials.shape[1]) < counts[:, None]).to(trials)
    choice = float(torch.rand(1))
    if choice <= 0.5:
        weights = torch.rand(trials.shape[:2]).to(trials) * present
    elif choice <= 0.8:
        weights = present
    else:
        pick = (torch.rand(len(trials)) * counts).long()
        weights = F.one_hot(pick, trials.shape[1]).to(trials)
    weights = weights[..., None]
    return (weights * trials).sum(1) / weights.sum(1)


def vae_range(images: torch.Tensor) -> torch.Tensor:
    """Images (N, 3, H, W) as the VAE takes them: uint8 -> float in [-1, 1]; float passes through."""
    return images.float() / 127.5 - 1.0 if images.dtype == torch.uint8 else images


def uint8_images(stimuli, stim_ids: list[str], size: int, chunk: int = 256) -> torch.Tensor:
    """The stimuli ``stim_ids`` (of a StimulusSet) resized to ``size`` as uint8 (N, 3, size, size),
    read and resized a chunk at a time, so that neither the full-size images nor the float copy ever
    hold more than ``chunk`` images."""
    parts = []
    for start in range(0, len(stim_ids), chunk):
        images = [image for _, image in stimuli.iter_images(list(stim_ids[start:start + chunk]))]
        tensor = images_to_tensor(images, size)
        parts.append(((tensor + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8))
    return torch.cat(parts)


def encode_latents(vae, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """Scaled VAE latents (posterior mode x scaling factor) of images (uint8, or float in [-1, 1])."""
    scaling = float(vae.config.scaling_factor)
    with torch.no_grad():
        return torch.cat([vae.encode(vae_range(chunk).to(vae.device)).latent_dist.mode() * scaling
                          for chunk in images.split(batch_size)])


def fit_low_level(voxels: np.ndarray, images: torch.Tensor, vae, config: LowLevelConfig,
                  progress: bool = True, device: torch.device | str = "cpu", counts: np.ndarray | None = None,
                  teacher: nn.Module | None = None) -> Voxel2Latent:
    """Train the low-level path on (voxels, images at the VAE's resolution), VAE frozen.
    ``images`` (N, 3, H, W) are uint8 (a quarter of float32's memory: 7 GB for NSD's 8,859 training
    images at 512 px) or float in [-1, 1]. They and ``voxels`` stay where they are; each batch moves
    to ``device`` (with the VAE). ``voxels``: (N, n_voxels) averages, or with ``config.trials``
    "mixed" (N, R, n_voxels) trials, image i's in its first ``counts[i]`` slots. ``teacher``: the
    frozen ConvNeXt of the contrastive loss (needed when ``cont_weight`` > 0)."""
    mixed = config.trials == "mixed"
    if voxels.ndim != (3 if mixed else 2) or voxels.shape[-1] != config.n_voxels or len(voxels) != len(images):
        shape = f"(n_images={len(images)}, repeats, {config.n_voxels})" if mixed else \
            f"(n_images={len(images)}, {config.n_voxels})"
        raise DataValidationError(None, "trial_responses" if mixed else "responses", f"{shape} voxels", voxels.shape)
    if mixed and (counts is None or np.shape(counts) != (len(voxels),) or np.min(counts, initial=1) < 1):
        raise DataValidationError(None, "trial_rows", "at least one trial for every training image", counts)
    if config.cont_weight > 0 and teacher is None:
        raise ConfigError(None, "mindeye.low_level.teacher", "a ConvNeXt teacher's weights file when cont_weight > 0")
    device = torch.device(device)
    vae = vae.to(device)
    latents = encode_latents(vae, images)
    if latents.shape[-1] != config.latent_size:
        raise ConfigError(None, "mindeye.low_level.map_side", f"gives latents of side {config.latent_size}, "
                          f"the VAE's are {latents.shape[-1]}")
    torch.manual_seed(config.seed)
    model = Voxel2Latent(config).to(device)
    vae.requires_grad_(False)
    scaling = float(vae.config.scaling_factor)
    steps = max(len(voxels) // config.batch_size, 1)
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in model.parameters() if p.ndim >= 2], "weight_decay": config.weight_decay},
         {"params": [p for p in model.parameters() if p.ndim < 2], "weight_decay": 0.0}], lr=config.max_lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.max_lr, total_steps=config.epochs * steps,
                                                    final_div_factor=1000, pct_start=min(2 / config.epochs, 0.5))
    x_all = torch.from_numpy(np.asarray(voxels, dtype=np.float32))
    counts_t = torch.as_tensor(np.asarray(counts, dtype=np.int64)) if mixed else None
    augment = teacher_augmentation(config.teacher_image_size) if config.cont_weight > 0 else None
    for epoch in tqdm(range(config.epochs), desc="MindEye low-level", disable=not progress):
        model.train()
        order = torch.randperm(len(x_all))
        for step in range(steps):
            index = order[step * config.batch_size:(step + 1) * config.batch_size]
            x = select_trials(x_all[index], counts_t[index]) if mixed else x_all[index]
            x, target = x.to(device), latents[index.to(latents.device)].clone()
            pixels = vae_range(images[index]).to(device)
            if epoch < int(config.mixup_fraction * config.epochs):
                x, perm, betas = mixco(x)
                w = betas.view(-1, 1, 1, 1)
                target, pixels = target * w + target[perm] * (1 - w), pixels * w + pixels[perm] * (1 - w)
            pred, maps = model(x, return_maps=True)
            loss = F.l1_loss(pred, target) / scaling
            if config.pixel_weight > 0:
                loss = loss + config.pixel_weight * F.l1_loss(vae.decode(pred / scaling).sample, pixels)
            if config.cont_weight > 0:
                loss = loss + config.cont_weight * _teacher_loss(maps, pixels, teacher, augment, config)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
    return model.eval()


def _teacher_loss(maps: torch.Tensor, pixels: torch.Tensor, teacher: nn.Module, augment, config: LowLevelConfig
                  ) -> torch.Tensor:
    """The soft contrastive loss of the projected maps against the teacher's tokens of the images
    (in [-1, 1]) at the teacher's resolution and of an augmented copy, every image's tokens pooled."""
    images = F.interpolate((pixels.detach() + 1) / 2, size=config.teacher_image_size, mode="bilinear",
                           align_corners=False, antialias=True).clamp(0, 1)
    with torch.no_grad():
        plain = teacher(images)
        augmented = teacher(torch.stack([augment(image) for image in images]))
    width = maps.shape[-1]
    return soft_cont_loss(F.normalize(maps.reshape(-1, width), dim=-1), F.normalize(plain.reshape(-1, width), dim=-1),
                          F.normalize(augmented.reshape(-1, width), dim=-1), config.cont_temperature)


@torch.no_grad()
def predict_latents(model: Voxel2Latent, voxels: np.ndarray, batch_size: int = 64) -> torch.Tensor:
    x = torch.from_numpy(np.asarray(voxels, dtype=np.float32))
    return torch.cat([model(chunk) for chunk in x.split(batch_size)])


@torch.no_grad()
def decode_latents(vae, latents: torch.Tensor) -> np.ndarray:
    """Scaled latents -> uint8 images (N, H, W, 3): the 'blurry' low-level reconstructions."""
    images = vae.decode(latents / float(vae.config.scaling_factor)).sample
    return to_uint8(images)


def save_low_level(path: str | os.PathLike, model: Voxel2Latent, extra: dict | None = None) -> None:
    """A self-describing low-level checkpoint: {format, config, state_dict, version, extra}."""
    write_torch(path, {"format": LOW_LEVEL_FORMAT, "neurogaze_version": __version__, "config": asdict(model.config),
                       "state_dict": model.state_dict(), "extra": extra or {}})


def load_low_level(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[Voxel2Latent, dict]:
    return _own_low_level(load_torch_file(path, device), Path(path), device)


def _own_low_level(payload, path: Path, device) -> tuple[Voxel2Latent, dict]:
    if not isinstance(payload, dict) or payload.get("format") != LOW_LEVEL_FORMAT:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise DataValidationError(path, "format", f"a {LOW_LEVEL_FORMAT} checkpoint", got)
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in payload["config"].items()}
    # files written before these keys existed were trained on averages with the Identity projector
    values.setdefault("cont_weight", 0.0)
    values.setdefault("trials", "mean")
    model = Voxel2Latent(LowLevelConfig(**values))
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload


# ---------------------------------------------------------------------------------------------
# Released checkpoints (the official Voxel2StableDiffusionModel, e.g. autoencoder_subj01_4x_locont_no_reconst)
# ---------------------------------------------------------------------------------------------

# The release was saved with diffusers 0.13, whose VAE decoder named its mid-block attention
# query / key / value / proj_attn; today's diffusers names them to_q / to_k / to_v / to_out.0.
LEGACY_ATTENTION = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def _current_key(key: str) -> str:
    head, _, leaf = key.rpartition(".")
    parent, _, name = head.rpartition(".")
    if ".attentions." in key and name in LEGACY_ATTENTION:
        return f"{parent}.{LEGACY_ATTENTION[name]}.{leaf}"
    return key


def low_level_config_from_state(state: dict, base: LowLevelConfig | None = None) -> LowLevelConfig:
    """Read the architecture off a released low-level state dict's shapes. The model is for
    reconstruction, so it gets no contrastive head (``cont_weight`` 0): the release's own
    reconstruction loads it without ``maps_projector`` too."""
    hidden, n_voxels = state["lin0.0.weight"].shape
    map_channels = int(state["norm.weight"].shape[0])
    n_up = len({k.split(".")[2] for k in state if k.startswith("upsampler.up_blocks.")})
    decoder_channels = tuple(int(state[f"upsampler.up_blocks.{i}.resnets.0.conv2.weight"].shape[0])
                             for i in reversed(range(n_up)))
    return LowLevelConfig(**{
        **asdict(base or LowLevelConfig()), "n_voxels": int(n_voxels), "hidden": int(hidden),
        "n_blocks": len({k.split(".")[1] for k in state if k.startswith("mlp.")}), "map_channels": map_channels,
        "map_side": math.isqrt(int(state["lin1.weight"].shape[0]) // map_channels),
        "decoder_channels": decoder_channels, "latent_channels": int(state["upsampler.conv_out.weight"].shape[0]),
        "cont_weight": 0.0,
    })


def released_low_level(payload, path: str | os.PathLike, device: torch.device | str = "cpu") -> Voxel2Latent:
    """The model of a released low-level checkpoint's loaded ``payload`` (``{'model_state_dict': ...}``
    or a bare state dict). Its ``maps_projector`` (the contrastive head, used in training only) is
    dropped when this model has none, as the release's own reconstruction drops it (strict=False)."""
    path = Path(path)
    state = payload.get("model_state_dict", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict):
        raise DataValidationError(path, "model_state_dict", "a dict of tensors", type(payload).__name__)
    state = {_current_key(key): value for key, value in state.items()}
    try:
        config = low_level_config_from_state(state)
    except KeyError as exc:
        raise DataValidationError(path, str(exc.args[0]), "a released MindEye low-level state dict "
                                  "(lin0, mlp, lin1, norm, upsampler)") from exc
    model = Voxel2Latent(config)
    own = model.state_dict()
    state = {k: v for k, v in state.items() if k in own or not k.startswith("maps_projector.")}
    return load_released_state(model, state, path, "the released low-level key layout", device)


def open_low_level(path: str | os.PathLike, device: torch.device | str = "cpu") -> Voxel2Latent:
    """A low-level model from a neurogaze checkpoint or a released one (told apart by the
    neurogaze ``format`` tag); a neurogaze file of another kind is refused."""
    payload = load_torch_file(path, device)
    if isinstance(payload, dict) and "format" in payload:
        return _own_low_level(payload, Path(path), device)[0]
    return released_low_level(payload, path, device)


__all__ = [
    "ConvNeXtTeacher", "LEGACY_ATTENTION", "LOW_LEVEL_FORMAT", "LowLevelConfig", "Voxel2Latent",
    "decode_latents", "encode_latents", "fit_low_level", "load_low_level", "load_teacher",
    "low_level_config_from_state", "open_low_level", "predict_latents", "released_low_level",
    "save_low_level", "select_trials", "soft_cont_loss", "teacher_augmentation", "uint8_images", "vae_range",
]
