"""MindEye reconstruction: prior tokens condition an image-variation diffusion model; the low-level
path predicts a VAE latent from voxels that becomes the img2img starting point.

- The pipeline is Versatile Diffusion's image variation (its image UNet cross-attends to the 257 x 768
  CLIP ViT-L/14 tokens MindEye predicts), opened from a local diffusers folder with
  ``local_files_only=True``; the demo builds a tiny one of the same class from config.
- Several samples are drawn per stimulus and the one whose CLIP tokens are closest (cosine) to the
  brain's retrieval-space prediction is kept.
- The low-level path (``Voxel2Latent``) has the released ``Voxel2StableDiffusionModel`` layout:
  ``lin0``, ``mlp``, ``lin1``, ``norm`` and a diffusers VAE ``Decoder`` as ``upsampler``; it is
  trained with an L1 loss on the scaled latents plus 2 x an L1 loss on the decoded pixels.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from neurogaze.errors import ConfigError, DataValidationError, MissingWeightsError

logger = logging.getLogger(__name__)

VD_SOURCE = "shi-labs/versatile-diffusion (a diffusers folder; the image-variation components suffice)"


# ---------------------------------------------------------------------------------------------
# Image-variation pipeline: released folder or tiny demo
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TinyVariationConfig:
    """A tiny Versatile-Diffusion image-variation pipeline; ``token_dim`` must match the brain tokens."""

    image_size: int = 64
    token_dim: int = 32
    unet_channels: tuple[int, ...] = (32, 64)
    vae_channels: tuple[int, ...] = (32, 64)
    latent_channels: int = 4
    vision_hidden: int = 32
    vision_layers: int = 2
    vision_heads: int = 2
    vision_image_size: int = 32
    vision_patch_size: int = 8
    seed: int = 0

    @property
    def latent_size(self) -> int:
        return self.image_size // 2 ** (len(self.vae_channels) - 1)

    @classmethod
    def from_dict(cls, values: dict) -> TinyVariationConfig:
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(None, f"tiny_variation.{unknown[0]}", f"unknown key (allowed: {sorted(cls.__dataclass_fields__)})")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def build_tiny_variation_pipeline(config: TinyVariationConfig):
    """A seeded, untrained ``VersatileDiffusionImageVariationPipeline`` (CPU, float32)."""
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        UNet2DConditionModel,
        VersatileDiffusionImageVariationPipeline,
    )
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    n_down = len(config.unet_channels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        unet = UNet2DConditionModel(
            sample_size=config.latent_size, in_channels=config.latent_channels, out_channels=config.latent_channels,
            block_out_channels=config.unet_channels, layers_per_block=1,
            down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (n_down - 1),
            up_block_types=("CrossAttnUpBlock2D",) * (n_down - 1) + ("UpBlock2D",),
            cross_attention_dim=config.token_dim, attention_head_dim=8, norm_num_groups=min(32, config.unet_channels[0]),
        )
        vae = AutoencoderKL(
            block_out_channels=config.vae_channels,
            down_block_types=("DownEncoderBlock2D",) * len(config.vae_channels),
            up_block_types=("UpDecoderBlock2D",) * len(config.vae_channels),
            latent_channels=config.latent_channels, norm_num_groups=min(32, config.vae_channels[0]),
            sample_size=config.image_size,
        )
        encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
            hidden_size=config.vision_hidden, intermediate_size=4 * config.vision_hidden,
            num_hidden_layers=config.vision_layers, num_attention_heads=config.vision_heads,
            image_size=config.vision_image_size, patch_size=config.vision_patch_size, projection_dim=config.token_dim,
        ))
    processor = CLIPImageProcessor(size={"shortest_edge": config.vision_image_size},
                                   crop_size={"height": config.vision_image_size, "width": config.vision_image_size})
    # SD's training schedule, as Versatile Diffusion's scheduler config has it.
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              num_train_timesteps=1000, clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = VersatileDiffusionImageVariationPipeline(
        image_feature_extractor=processor, image_encoder=encoder, image_unet=unet, vae=vae, scheduler=scheduler,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def load_variation_pipeline(folder: str | os.PathLike, device: torch.device | str = "cpu",
                            dtype: torch.dtype = torch.float32):
    """Open a Versatile Diffusion (image-variation) diffusers folder offline."""
    from diffusers import VersatileDiffusionImageVariationPipeline

    folder = Path(folder)
    if not folder.exists():
        raise MissingWeightsError(f"image-variation pipeline folder {folder} does not exist; download {VD_SOURCE} "
                                  "there (nothing is downloaded automatically), or build the demo pipeline")
    if not (folder / "model_index.json").is_file():
        raise DataValidationError(folder / "model_index.json", "model_index.json", "a diffusers pipeline folder", "missing")
    pipe = VersatileDiffusionImageVariationPipeline.from_pretrained(str(folder), local_files_only=True, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


# ---------------------------------------------------------------------------------------------
# Low-level path: voxels -> VAE latent
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LowLevelConfig:
    """Sizes of the voxel -> latent network. Paper ('4x'): 4096 wide, 4 blocks, 64 x 16 x 16 maps
    upsampled by a VAE decoder with blocks (64, 128, 256) to 4 x 64 x 64 SD latents."""

    n_voxels: int = 15724
    hidden: int = 4096
    n_blocks: int = 4
    map_channels: int = 64
    map_side: int = 16
    decoder_channels: tuple[int, ...] = (64, 128, 256)
    latent_channels: int = 4
    dropout_in: float = 0.5
    dropout_block: float = 0.25
    # training (paper: 120 epochs, batch 8, OneCycle to 5e-4, mixup the first third)
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

    @classmethod
    def from_dict(cls, values: dict) -> LowLevelConfig:
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(None, f"low_level.{unknown[0]}", f"unknown key (allowed: {sorted(cls.__dataclass_fields__)})")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


class Voxel2Latent(nn.Module):
    """Residual MLP -> (map_channels, side, side) maps -> VAE-style decoder -> latent."""

    def __init__(self, config: LowLevelConfig):
        from diffusers.models.autoencoders.vae import Decoder

        super().__init__()
        self.config = config
        h = config.hidden
        self.lin0 = nn.Sequential(nn.Linear(config.n_voxels, h, bias=False), nn.LayerNorm(h), nn.SiLU(), nn.Dropout(config.dropout_in))
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
    from tqdm.auto import tqdm

    from neurogaze.brain.mindeye import mixco

    if voxels.ndim != 2 or voxels.shape[1] != config.n_voxels or len(voxels) != len(images):
        raise DataValidationError(None, "responses", f"(n_images={len(images)}, {config.n_voxels}) voxels", voxels.shape)
    device = torch.device(device)
    vae = vae.to(device)
    latents = encode_latents(vae, images)
    if latents.shape[-1] != config.latent_size:
        raise ConfigError(None, "low_level.map_side", f"gives latents of side {config.latent_size}, the VAE's are {latents.shape[-1]}")
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


def to_uint8(images: torch.Tensor) -> np.ndarray:
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


# ---------------------------------------------------------------------------------------------
# Sampling and best-of-N selection
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReconstructionConfig:
    """Paper: 20 steps, guidance 3.5, img2img strength 0.85, 16 samples per image (best of them kept)."""

    steps: int = 20
    guidance_scale: float = 3.5
    strength: float = 0.85
    n_samples: int = 16
    seed: int = 0


@torch.no_grad()
def denoise(pipe, tokens: torch.Tensor, uncond_tokens: torch.Tensor, config: ReconstructionConfig,
            init_latents: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Denoise with the pipeline's image UNet cross-attending to ``tokens`` (b, n, d), with classifier-free
    guidance against ``uncond_tokens`` (n, d). With ``init_latents`` (scaled), start from them noised to
    ``strength`` (img2img); else from pure noise. Returns the final scaled latents."""
    unet, scheduler = pipe.image_unet, pipe.scheduler
    batch = tokens.shape[0]
    device = unet.device
    scheduler.set_timesteps(config.steps, device=device)
    timesteps = scheduler.timesteps
    size = unet.config.sample_size
    noise = torch.randn((batch, unet.config.in_channels, size, size), generator=generator).to(device)
    if init_latents is None or config.strength >= 1.0:
        latents = noise * scheduler.init_noise_sigma
    else:
        start = min(int(config.steps * (1 - config.strength)), config.steps - 1)
        timesteps = timesteps[start:]
        latents = scheduler.add_noise(init_latents.to(device), noise, timesteps[:1].repeat(batch))
    context = torch.cat([uncond_tokens[None].expand(batch, -1, -1), tokens]).to(device, unet.dtype)
    for t in timesteps:
        model_input = scheduler.scale_model_input(torch.cat([latents, latents]), t)
        uncond, cond = unet(model_input, t, encoder_hidden_states=context).sample.chunk(2)
        latents = scheduler.step(uncond + config.guidance_scale * (cond - uncond), t, latents).prev_sample
    return latents


@torch.no_grad()
def sample_variations(pipe, tokens: torch.Tensor, uncond_tokens: torch.Tensor, config: ReconstructionConfig,
                      init_latents: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """:func:`denoise`, then the VAE decoder: images in [-1, 1] (b, 3, H, W)."""
    latents = denoise(pipe, tokens, uncond_tokens, config, init_latents, generator)
    return pipe.vae.decode(latents / float(pipe.vae.config.scaling_factor)).sample


def best_of(candidate_tokens: torch.Tensor, brain_tokens: torch.Tensor) -> int:
    """Index of the candidate whose flattened tokens have the highest cosine with the brain's."""
    sims = F.normalize(candidate_tokens.flatten(1), dim=-1) @ F.normalize(brain_tokens.flatten(), dim=0)
    return int(sims.argmax())


@dataclass
class Reconstructions:
    images: np.ndarray  # uint8 (n, H, W, 3), the kept sample of each stimulus
    candidates: np.ndarray  # uint8 (n, n_samples, H, W, 3)
    chosen: np.ndarray  # int (n,)
    similarity: np.ndarray = field(default_factory=lambda: np.zeros(0))  # cosine of the kept sample


def reconstruct(pipe, prior_tokens: np.ndarray, retrieval_tokens: np.ndarray, targets, config: ReconstructionConfig,
                init_latents: torch.Tensor | None = None, progress: bool = True) -> Reconstructions:
    """Reconstruct each stimulus: ``n_samples`` variations conditioned on its prior tokens, keep the one
    whose CLIP tokens (from ``targets``, the training target function) best match ``retrieval_tokens``."""
    from tqdm.auto import tqdm

    if len(prior_tokens) != len(retrieval_tokens):
        raise DataValidationError(None, "retrieval_tokens", f"one row per prior row ({len(prior_tokens)})", len(retrieval_tokens))
    size = int(targets.backbone.pixels([np.zeros((8, 8, 3), np.uint8)]).shape[-1])
    gray = torch.full((1, 3, size, size), 0.5)
    uncond = targets(gray, train=False)[0]
    images, candidates, chosen, sims = [], [], [], []
    for i in tqdm(range(len(prior_tokens)), desc="MindEye reconstruct", disable=not progress):
        generator = torch.Generator().manual_seed(config.seed + i)
        cond = torch.from_numpy(np.asarray(prior_tokens[i], dtype=np.float32))[None].expand(config.n_samples, -1, -1)
        init = None if init_latents is None else init_latents[i:i + 1].expand(config.n_samples, -1, -1, -1)
        samples = sample_variations(pipe, cond, uncond, config, init, generator)
        pixels = F.interpolate((samples.clamp(-1, 1) + 1) / 2, size=(size, size), mode="bilinear", antialias=True)
        brain = torch.from_numpy(np.asarray(retrieval_tokens[i], dtype=np.float32))
        sample_tokens = targets(pixels.cpu(), train=False).cpu()
        best = best_of(sample_tokens, brain)
        batch = to_uint8(samples)
        images.append(batch[best])
        candidates.append(batch)
        chosen.append(best)
        sims.append(float(F.cosine_similarity(sample_tokens[best].flatten(), brain.flatten(), dim=0)))
    return Reconstructions(np.stack(images), np.stack(candidates), np.array(chosen), np.array(sims))


__all__ = [
    "LowLevelConfig", "ReconstructionConfig", "Reconstructions", "TinyVariationConfig", "Voxel2Latent", "best_of",
    "build_tiny_variation_pipeline", "decode_latents", "denoise", "encode_latents", "fit_low_level", "load_variation_pipeline",
    "predict_latents", "reconstruct", "sample_variations", "to_uint8", "vae_range",
]
