"""MindEye reconstruction: prior tokens condition an image-variation diffusion model, several samples
are drawn per stimulus and the one closest to the brain's prediction is kept, sampled as the
official ``Reconstructions.py`` / ``utils.reconstruction`` do.

- The pipeline is Versatile Diffusion's image variation (its image UNet cross-attends to the 257 x 768
  CLIP ViT-L/14 tokens MindEye predicts), opened from a local diffusers folder with
  ``local_files_only=True``; the demo builds a tiny one of the same class from config.
- Each of a stimulus's ``n_samples`` candidates conditions on its own diffusion-prior draw
  (the brain tokens are repeated before the prior's sampling loop), renormalised by its CLS
  token's norm; sampling is UniPC multistep with classifier-free guidance against zero tokens.
- The candidate whose CLIP tokens are closest (cosine) to the brain's retrieval-space prediction
  is kept.
- With the low-level path (:mod:`neurogaze.brain.mindeye.low_level`), sampling starts from
  :func:`img2img_start` of its predicted latent noised to ``strength`` (img2img) instead of pure noise.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    UNet2DConditionModel,
    UniPCMultistepScheduler,
    VersatileDiffusionImageVariationPipeline,
)
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from torch.nn import functional as F
from tqdm.auto import tqdm
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
)

from neurogaze.backbones.diffusion import VAEFitConfig, fit_vae, images_to_tensor, save_pipeline
from neurogaze.brain.mindeye.model import backbone_resolution, scale_by_cls_norm
from neurogaze.errors import DataValidationError, MissingWeightsError

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


def build_tiny_variation_pipeline(config: TinyVariationConfig):
    """A seeded, untrained ``VersatileDiffusionImageVariationPipeline`` (CPU, float32)."""
    n_down = len(config.unet_channels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        unet = UNet2DConditionModel(
            sample_size=config.latent_size, in_channels=config.latent_channels, out_channels=config.latent_channels,
            block_out_channels=config.unet_channels, layers_per_block=1,
            down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (n_down - 1),
            up_block_types=("CrossAttnUpBlock2D",) * (n_down - 1) + ("UpBlock2D",),
            cross_attention_dim=config.token_dim, attention_head_dim=8,
            norm_num_groups=min(32, config.unet_channels[0]),
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
    folder = Path(folder)
    if not folder.exists():
        raise MissingWeightsError(f"image-variation pipeline folder {folder} does not exist; download {VD_SOURCE} "
                                  "there (nothing is downloaded automatically), or build the demo pipeline")
    if not (folder / "model_index.json").is_file():
        raise DataValidationError(folder / "model_index.json", "model_index.json", "a diffusers pipeline folder",
                                  "missing")
    pipe = VersatileDiffusionImageVariationPipeline.from_pretrained(str(folder), local_files_only=True, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def build_demo_variation_pipeline(out_dir: str | os.PathLike, config: TinyVariationConfig,
                                  images: list[np.ndarray] | None = None) -> Path:
    """The tiny image-variation pipeline, saved as a diffusers folder. With images (uint8), the VAE's
    latent scaling is set to 1/std of their latents (no training), as SD's 0.18215 is for its VAE."""
    pipe = build_tiny_variation_pipeline(config)
    provenance = {"tiny_variation": asdict(config), "latent_scaling": None}
    if images is not None:
        pixels = images_to_tensor(images, config.image_size)
        provenance["latent_scaling"] = fit_vae(pipe.vae, pixels, VAEFitConfig(steps=0))["scaling_factor"]
    return save_pipeline(pipe, out_dir, provenance)


# ---------------------------------------------------------------------------------------------
# Sampling and best-of-N selection
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReconstructionConfig:
    """Config section ``mindeye.reconstruction``. Paper (as released): 20 UniPC steps, guidance 3.5
    against zero tokens, img2img strength 0.85, 16 samples per image (the best kept), each from its
    own prior draw, the prior sampled without guidance, every test image (``n_images`` None);
    ``seed`` derives from the pipeline's master seed."""

    steps: int = 20
    guidance_scale: float = 3.5
    strength: float = 0.85
    n_samples: int = 16
    prior_cond_scale: float = 1.0
    n_images: int | None = None
    seed: int = 0


def unipc_scheduler(pipe) -> UniPCMultistepScheduler:
    """The released sampler: UniPC multistep on the pipeline's noise schedule. Linspace timesteps,
    because diffusers 0.13 (the release's) had no other spacing for UniPC, whatever the folder's
    scheduler config says."""
    return UniPCMultistepScheduler.from_config(pipe.scheduler.config, timestep_spacing="linspace")


def img2img_timesteps(timesteps: torch.Tensor, steps: int, strength: float) -> torch.Tensor:
    """The last ``int(steps x strength)`` of the sampler's timesteps, as the release counts them."""
    kept = min(int(steps * strength), steps)
    return timesteps[max(steps - kept, 0):]


@torch.no_grad()
def denoise(pipe, tokens: torch.Tensor, config: ReconstructionConfig, init_latents: torch.Tensor | None = None,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Denoise with the pipeline's image UNet cross-attending to ``tokens`` (b, n, d) by UniPC, with
    classifier-free guidance against zero tokens (the release's unconditional embedding). With
    ``init_latents`` (scaled), start from them noised to ``strength`` (img2img); else from pure
    noise. Returns the final scaled latents."""
    unet, scheduler = pipe.image_unet, unipc_scheduler(pipe)
    batch = tokens.shape[0]
    device = unet.device
    scheduler.set_timesteps(config.steps, device=device)
    timesteps = scheduler.timesteps
    size = unet.config.sample_size
    noise = torch.randn((batch, unet.config.in_channels, size, size), generator=generator).to(device)
    if init_latents is None or config.strength >= 1.0:
        latents = noise * scheduler.init_noise_sigma
    else:
        timesteps = img2img_timesteps(timesteps, config.steps, config.strength)
        latents = scheduler.add_noise(init_latents.to(device), noise, timesteps[:1].repeat(batch))
    tokens = tokens.to(device, unet.dtype)
    context = torch.cat([torch.zeros_like(tokens), tokens])
    for t in timesteps:
        model_input = scheduler.scale_model_input(torch.cat([latents, latents]), t)
        uncond, cond = unet(model_input, t, encoder_hidden_states=context).sample.chunk(2)
        latents = scheduler.step(uncond + config.guidance_scale * (cond - uncond), t, latents).prev_sample
    return latents


@torch.no_grad()
def sample_variations(pipe, tokens: torch.Tensor, config: ReconstructionConfig,
                      init_latents: torch.Tensor | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """:func:`denoise`, then the VAE decoder: images in [-1, 1] (b, 3, H, W)."""
    latents = denoise(pipe, tokens, config, init_latents, generator)
    return pipe.vae.decode(latents / float(pipe.vae.config.scaling_factor)).sample


@torch.no_grad()
def img2img_start(vae, low_latents: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The img2img start as released: the low-level latents decoded to the blurry image in [0, 1]
    (unclamped), normalised with CLIP's mean and SD, and re-encoded by the VAE with a sampled
    (not the mode) latent, scaled. The CLIP normalisation before a VAE that expects [-1, 1] is the
    release's, kept because the paper's numbers were made with it."""
    scaling = float(vae.config.scaling_factor)
    blurry = vae.decode(low_latents.to(vae.device, vae.dtype) / scaling).sample / 2 + 0.5
    mean = torch.tensor(OPENAI_DATASET_MEAN, device=blurry.device, dtype=blurry.dtype)[:, None, None]
    std = torch.tensor(OPENAI_DATASET_STD, device=blurry.device, dtype=blurry.dtype)[:, None, None]
    return vae.encode((blurry - mean) / std).latent_dist.sample(generator) * scaling


@torch.no_grad()
def prior_candidates(prior, brain_tokens: torch.Tensor, n_samples: int, cond_scale: float = 1.0,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """``n_samples`` prior draws for one stimulus (the brain tokens repeated before the sampling
    loop, as released: each candidate its own draw), CLS-renormalised: (n_samples, n, d)."""
    repeated = brain_tokens[None].repeat(n_samples, 1, 1)
    return scale_by_cls_norm(prior.sample(repeated, cond_scale=cond_scale, generator=generator), eps=1e-6)


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


def reconstruct(pipe, prior, brain_tokens: np.ndarray, retrieval_tokens: np.ndarray, targets,
                config: ReconstructionConfig, low_latents: torch.Tensor | None = None,
                progress: bool = True) -> Reconstructions:
    """Reconstruct each stimulus as released: ``n_samples`` prior draws from its brain tokens
    (``prior``: a diffusion prior with ``sample``), each conditioning one UniPC variation (img2img
    from :func:`img2img_start` of its ``low_latents`` when given); keep the one whose CLIP tokens
    (from ``targets``, the training target function) best match ``retrieval_tokens``. Each
    stimulus draws from its own seed (``config.seed`` + its index)."""
    if len(brain_tokens) != len(retrieval_tokens):
        raise DataValidationError(None, "retrieval_tokens", f"one row per brain-token row ({len(brain_tokens)})",
                                  len(retrieval_tokens))
    size = backbone_resolution(targets.backbone)
    prior.eval()
    prior_device = next(prior.parameters()).device
    images, candidates, chosen, sims = [], [], [], []
    for i in tqdm(range(len(brain_tokens)), desc="MindEye reconstruct", disable=not progress):
        generator = torch.Generator().manual_seed(config.seed + i)
        prior_generator = torch.Generator(device=prior_device).manual_seed(config.seed + i)
        brain = torch.from_numpy(np.asarray(brain_tokens[i], dtype=np.float32)).to(prior_device)
        cond = prior_candidates(prior, brain, config.n_samples, config.prior_cond_scale, prior_generator)
        init = None
        if low_latents is not None:
            init = img2img_start(pipe.vae, low_latents[i:i + 1], generator).expand(config.n_samples, -1, -1, -1)
        samples = sample_variations(pipe, cond, config, init, generator)
        pixels = F.interpolate((samples.clamp(-1, 1) + 1) / 2, size=(size, size), mode="bilinear", antialias=True)
        retrieval = torch.from_numpy(np.asarray(retrieval_tokens[i], dtype=np.float32))
        sample_tokens = targets(pixels.cpu(), train=False).cpu()
        best = best_of(sample_tokens, retrieval)
        batch = to_uint8(samples)
        images.append(batch[best])
        candidates.append(batch)
        chosen.append(best)
        sims.append(float(F.cosine_similarity(sample_tokens[best].flatten(), retrieval.flatten(), dim=0)))
    return Reconstructions(np.stack(images), np.stack(candidates), np.array(chosen), np.array(sims))


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Images in [-1, 1] (N, 3, H, W) -> uint8 (N, H, W, 3)."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


__all__ = [
    "ReconstructionConfig", "Reconstructions", "TinyVariationConfig", "best_of", "build_demo_variation_pipeline",
    "build_tiny_variation_pipeline", "denoise", "img2img_start", "img2img_timesteps", "load_variation_pipeline",
    "prior_candidates", "reconstruct", "sample_variations", "to_uint8", "unipc_scheduler",
]
