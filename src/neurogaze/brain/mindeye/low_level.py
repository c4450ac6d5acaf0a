"""MindEye's low-level path: voxels -> a VAE latent of the seen image, the img2img start of reconstruction.

``Voxel2Latent`` has the released ``Voxel2StableDiffusionModel`` layout: ``lin0``, ``mlp``,
``lin1``, ``norm`` and a diffusers VAE ``Decoder`` as ``upsampler``. It is trained against the
variation pipeline's (frozen) VAE with an L1 loss on the scaled latents plus ``pixel_weight`` x
an L1 loss on the decoded pixels, with voxel mixup for the first ``mixup_fraction`` of the epochs.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers.models.autoencoders.vae import Decoder
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from neurogaze import __version__
from neurogaze.backbones.diffusion import images_to_tensor
from neurogaze.brain.mindeye.model import load_torch_file
from neurogaze.brain.mindeye.reconstruct import to_uint8
from neurogaze.brain.mindeye.train import mixco
from neurogaze.errors import ConfigError, DataValidationError
from neurogaze.io import write_torch

LOW_LEVEL_FORMAT = "neurogaze.mindeye-low-level/1"


@dataclass(frozen=True)
class LowLevelConfig:
    """Config section ``mindeye.low_level`` (``n_voxels`` comes from the responses, ``seed`` from the
    master seed). Paper ('4x'): 4096 wide, 4 blocks, 64 x 16 x 16 maps upsampled by a VAE decoder
    with blocks (64, 128, 256) to 4 x 64 x 64 SD latents; 120 epochs, batch 8, OneCycle to 5e-4,
    mixup the first third."""

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
    mixup_fraction: float = 0.33
    pixel_weight: float = 2.0
    seed: int = 0

    @property
    def latent_size(self) -> int:
        return self.map_side * 2 ** (len(self.decoder_channels) - 1)


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
        self.maps_projector = nn.Identity()

    def forward(self, voxels: torch.Tensor) -> torch.Tensor:
        x = self.lin0(voxels)
        for block in self.mlp:
            x = block(x) + x
        side = self.config.map_side
        return self.upsampler(self.norm(self.lin1(x).view(len(x), -1, side, side)))


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
                  progress: bool = True, device: torch.device | str = "cpu") -> Voxel2Latent:
    """Train the low-level path on (voxels, images at the VAE's resolution), VAE frozen.
    ``images`` (N, 3, H, W) are uint8 (a quarter of float32's memory: 7 GB for NSD's 8,859 training
    images at 512 px) or float in [-1, 1]. They and ``voxels`` stay where they are; each batch moves
    to ``device`` (with the VAE)."""
    if voxels.ndim != 2 or voxels.shape[1] != config.n_voxels or len(voxels) != len(images):
        raise DataValidationError(None, "responses", f"(n_images={len(images)}, {config.n_voxels}) voxels",
                                  voxels.shape)
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
    for epoch in tqdm(range(config.epochs), desc="MindEye low-level", disable=not progress):
        model.train()
        order = torch.randperm(len(x_all))
        for step in range(steps):
            index = order[step * config.batch_size:(step + 1) * config.batch_size]
            x, target = x_all[index].to(device), latents[index.to(latents.device)].clone()
            pixels = vae_range(images[index]).to(device)
            if epoch < int(config.mixup_fraction * config.epochs):
                x, perm, betas = mixco(x)
                w = betas.view(-1, 1, 1, 1)
                target, pixels = target * w + target[perm] * (1 - w), pixels * w + pixels[perm] * (1 - w)
            pred = model(x)
            loss = F.l1_loss(pred, target) / scaling
            if config.pixel_weight > 0:
                loss = loss + config.pixel_weight * F.l1_loss(vae.decode(pred / scaling).sample, pixels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
    return model.eval()


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
    """Read the architecture off a released low-level state dict's shapes."""
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
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise DataValidationError(path, (missing or unexpected)[0], "the released low-level key layout",
                                  f"{len(missing)} missing, {len(unexpected)} unexpected keys")
    for key, value in state.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise DataValidationError(path, key, f"shape {tuple(own[key].shape)}", tuple(value.shape))
    model.load_state_dict(state)
    return model.to(device).eval()


def open_low_level(path: str | os.PathLike, device: torch.device | str = "cpu") -> Voxel2Latent:
    """A low-level model from a neurogaze checkpoint or a released one (told apart by the
    neurogaze ``format`` tag); a neurogaze file of another kind is refused."""
    payload = load_torch_file(path, device)
    if isinstance(payload, dict) and "format" in payload:
        return _own_low_level(payload, Path(path), device)[0]
    return released_low_level(payload, path, device)


__all__ = [
    "LEGACY_ATTENTION", "LOW_LEVEL_FORMAT", "LowLevelConfig", "Voxel2Latent", "decode_latents", "encode_latents",
    "fit_low_level", "load_low_level", "low_level_config_from_state", "open_low_level", "predict_latents",
    "released_low_level", "save_low_level", "uint8_images", "vae_range",
]
