"""Stable Diffusion pipelines: any released diffusers folder, or a tiny one built from config.

A released pipeline (e.g. SD-2.1-base, the one BrainDiVE uses) and the tiny demo pipeline are
both diffusers folders, and both are opened by :func:`load_sd_pipeline` with
``local_files_only=True``: the demo exercises the exact loading path a real run takes. Nothing is
ever downloaded; a folder that is not there raises ``MissingWeightsError`` saying what to fetch.

The tiny pipeline (UNet, VAE, CLIP text model, real CLIP tokenizer written offline) is seeded and
random unless trained briefly on the stimulus images: first its VAE (:func:`fit_vae`), then its
UNet on the VAE's latents (:func:`fit_unet`). A random VAE decoder has a nearly fixed mean colour,
so no guidance signal can change colour through it (measured: unguided warmth 0.037 +- 0.001
across images); a random UNet does not denoise, so every image decodes to texture at the
decoder's own scale and guidance cannot change spatial frequency (measured on the demo NSD:
+0.04 unguided SDs, p 0.37; with the UNet fitted, +1.1 SDs, p < 1e-6).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import diffusers
import numpy as np
import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from tqdm.auto import tqdm
from transformers import CLIPTextConfig, CLIPTextModel

from neurogaze import __version__
from neurogaze.backbones.tokenizer import VOCAB_SIZE, load_clip_tokenizer, write_clip_tokenizer
from neurogaze.errors import ConfigError, DataValidationError, MissingWeightsError
from neurogaze.io import atomic_directory

logger = logging.getLogger(__name__)

# The scheduler names a config may use; classes are looked up in diffusers by these names.
SCHEDULERS = ("DDIMScheduler", "DPMSolverMultistepScheduler", "PNDMScheduler")

SCHEDULER_OPTIONS = {
    "DDIMScheduler": {"clip_sample": False, "set_alpha_to_one": False, "steps_offset": 1},
    "PNDMScheduler": {"skip_prk_steps": True, "set_alpha_to_one": False, "steps_offset": 1},
    "DPMSolverMultistepScheduler": {"steps_offset": 1},
}

# What a fitted UNet may predict (diffusers' scheduler prediction types).
PREDICTION_TYPES = ("epsilon", "v_prediction")

# Where released SD-2.1-base comes from, for the error a user sees when the folder is missing.
SD21_BASE_SOURCE = "stabilityai/stable-diffusion-2-1-base (a diffusers folder with model_index.json)"


@dataclass(frozen=True)
class TinySDConfig:
    """A tiny Stable Diffusion architecture: builds and samples 2 steps at 64 px in under 0.1 s on a CPU."""

    image_size: int = 64
    unet_channels: tuple[int, ...] = (32, 64)
    unet_layers_per_block: int = 1
    unet_attention_head_dim: int = 8
    vae_channels: tuple[int, ...] = (32, 64)
    vae_mid_attention: bool = True
    latent_channels: int = 4
    text_hidden: int = 32
    text_layers: int = 2
    text_heads: int = 4
    scheduler: str = "DDIMScheduler"
    seed: int = 0

    @property
    def latent_size(self) -> int:
        return self.image_size // 2 ** (len(self.vae_channels) - 1)

    @classmethod
    def from_dict(cls, values: dict) -> TinySDConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(None, f"tiny_sd.{unknown[0]}", f"unknown key (allowed: {sorted(known)})")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**values)


@dataclass(frozen=True)
class VAEFitConfig:
    """Brief VAE training on the stimuli: 300 Adam steps at lr 2e-3, batch 32, MSE + 1e-4 KL (about
    4 minutes on 2 cores at 64 px) are enough for guidance to move colour through its decoder."""

    steps: int = 300
    lr: float = 2e-3
    batch_size: int = 32
    kl_weight: float = 1e-4
    seed: int = 0


@dataclass(frozen=True)
class UNetFitConfig:
    """Brief denoising training of the UNet on the fitted VAE's latents of the stimuli (SD's
    objective: predict the noise added at a uniformly drawn timestep), conditioned on the empty
    prompt that BrainDiVE samples with. 600 AdamW steps at lr 2e-3, batch 32 take about 95 s on 2
    cores at 32 px (loss 1.1 -> 0.09)."""

    steps: int = 600
    lr: float = 2e-3
    batch_size: int = 32
    prompt: str = ""
    seed: int = 0
    # with captions: the share of samples trained on the empty prompt instead of their caption, so
    # that one UNet gives both the conditional and the unconditional prediction that
    # classifier-free guidance contrasts (SD drops 10 % of its captions)
    uncond_fraction: float = 0.1
    # with captions: train the text encoder with the UNet. SD keeps its pretrained CLIP text
    # encoder frozen; a tiny random one barely tells words apart (the states of 'a red square.' and
    # 'a blue square.' differ by 10 % of their size), so a demo pipeline learns its own
    train_text_encoder: bool = False
    # what the UNet predicts: "epsilon" (SD 1.x, 2.1-base) or "v_prediction" (SD 2.x at 768 px);
    # the saved scheduler samples with the same. Epsilon's loss weighs the clean image by the
    # signal-to-noise ratio, near 0 at the high noise levels where a caption decides what appears:
    # in a few hundred steps a caption-fitted tiny UNet learned to ignore its caption under epsilon
    # and to follow it under v (red vs blue squares, tests/backbones/test_diffusion.py)
    prediction_type: str = "epsilon"


def scheduler_class(name: str):
    if name not in SCHEDULERS:
        raise ConfigError(None, "scheduler", f"unknown scheduler {name!r} (known: {list(SCHEDULERS)})")
    return getattr(diffusers, name)


def build_tiny_pipeline(config: TinySDConfig, tokenizer_dir: str | os.PathLike):
    """A seeded, untrained StableDiffusionPipeline of the given size (CPU, float32)."""


    tokenizer = load_clip_tokenizer(tokenizer_dir)
    n_down = len(config.unet_channels)
    # fork_rng: seeding the architecture must not disturb the caller's global RNG stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        unet = UNet2DConditionModel(
            sample_size=config.latent_size,
            in_channels=config.latent_channels,
            out_channels=config.latent_channels,
            block_out_channels=config.unet_channels,
            layers_per_block=config.unet_layers_per_block,
            down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (n_down - 1),
            up_block_types=("CrossAttnUpBlock2D",) * (n_down - 1) + ("UpBlock2D",),
            cross_attention_dim=config.text_hidden,
            attention_head_dim=config.unet_attention_head_dim,
            norm_num_groups=min(32, config.unet_channels[0]),
        )
        vae = AutoencoderKL(
            block_out_channels=config.vae_channels,
            down_block_types=("DownEncoderBlock2D",) * len(config.vae_channels),
            up_block_types=("UpDecoderBlock2D",) * len(config.vae_channels),
            latent_channels=config.latent_channels,
            norm_num_groups=min(32, config.vae_channels[0]),
            sample_size=config.image_size,
            mid_block_add_attention=config.vae_mid_attention,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                hidden_size=config.text_hidden,
                intermediate_size=4 * config.text_hidden,
                num_hidden_layers=config.text_layers,
                num_attention_heads=config.text_heads,
                vocab_size=VOCAB_SIZE,
                max_position_embeddings=tokenizer.model_max_length,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        )
    # SD's training schedule; the remaining options as SD-2.1-base's scheduler config sets them.
    scheduler = scheduler_class(config.scheduler)(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        **SCHEDULER_OPTIONS.get(config.scheduler, {}),
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def images_to_tensor(images: np.ndarray | list[np.ndarray], size: int) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, size, size) in [-1, 1], the range SD's VAE expects."""
    array = np.stack([np.asarray(image) for image in images])
    if array.ndim != 4 or array.shape[-1] != 3:
        raise DataValidationError(None, "images", "uint8 images of shape (N, H, W, 3)", array.shape)
    tensor = torch.from_numpy(array).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    if tensor.shape[-1] != size or tensor.shape[-2] != size:
        tensor = torch.nn.functional.interpolate(tensor, size=(size, size), mode="bilinear", antialias=True)
    return tensor


def fit_vae(vae, images: torch.Tensor, config: VAEFitConfig = VAEFitConfig(), progress: bool = False) -> dict:
    """Train ``vae`` briefly on ``images`` (N, 3, H, W in [-1, 1]); set its latent scaling to 1/std.

    The scaling makes the latents unit-variance, as SD's 0.18215 does for its own VAE, so that the
    sampler's noise schedule fits them. Returns the loss trace and the fitted scaling factor.
    """

    generator = torch.Generator().manual_seed(config.seed)
    optimiser = torch.optim.Adam(vae.parameters(), lr=config.lr)
    vae.train()
    losses = []
    for _ in tqdm(range(config.steps), desc="fit VAE", disable=not progress):
        batch = images[torch.randint(len(images), (min(config.batch_size, len(images)),), generator=generator)]
        posterior = vae.encode(batch).latent_dist
        latents = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=generator)
        recon = vae.decode(latents).sample
        loss = torch.nn.functional.mse_loss(recon, batch) + config.kl_weight * posterior.kl().mean() / batch[0].numel()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    vae.eval()
    with torch.no_grad():
        latents = torch.cat([vae.encode(chunk).latent_dist.mean for chunk in images.split(64)])
    scaling = float(1.0 / latents.std())
    vae.register_to_config(scaling_factor=scaling)
    return {"loss": losses, "scaling_factor": scaling}


def fit_unet(pipe, images: torch.Tensor, config: UNetFitConfig = UNetFitConfig(), progress: bool = False,
             captions: list[list[str]] | None = None) -> dict:
    """Train ``pipe.unet`` briefly to denoise the VAE latents of ``images`` (N, 3, H, W in [-1, 1]).

    Fit the VAE first: the latents are its posterior means times its scaling factor, fixed during
    the fit (SD draws from the posterior; at the demo's KL weight its spread is negligible).
    Without ``captions`` every image is conditioned on ``config.prompt``; with them (one list per
    image) each drawn image on one of its captions, or on the empty prompt for a share
    ``config.uncond_fraction`` of draws, SD's text-to-image objective, the text encoder frozen
    as SD's is unless ``config.train_text_encoder``. Returns the loss trace.
    """
    if config.prediction_type not in PREDICTION_TYPES:
        raise ConfigError(None, "prediction_type", f"{config.prediction_type!r} is not one of {list(PREDICTION_TYPES)}")
    if captions is not None:
        _check_captions(captions, len(images))
    if pipe.scheduler.config.prediction_type != config.prediction_type:
        pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config, prediction_type=config.prediction_type)
    vae, unet, scheduler = pipe.vae, pipe.unet, pipe.scheduler
    with torch.no_grad():
        latents = torch.cat([vae.encode(chunk).latent_dist.mean for chunk in images.split(64)])
        latents = latents * vae.config.scaling_factor
        fixed, _ = pipe.encode_prompt(config.prompt, "cpu", 1, do_classifier_free_guidance=False)
    batch_size = min(config.batch_size, len(latents))
    fixed = fixed.expand(batch_size, -1, -1)
    generator = torch.Generator().manual_seed(config.seed)
    trained = list(unet.parameters())
    text_trained = captions is not None and config.train_text_encoder
    if text_trained:
        trained += list(pipe.text_encoder.parameters())
        pipe.text_encoder.train()
    optimiser = torch.optim.AdamW(trained, lr=config.lr, weight_decay=0.0)
    n_timesteps = scheduler.config.num_train_timesteps
    unet.train()
    losses = []
    for _ in tqdm(range(config.steps), desc="fit UNet", disable=not progress):
        drawn = torch.randint(len(latents), (batch_size,), generator=generator)
        clean = latents[drawn]
        noise = torch.randn(clean.shape, generator=generator)
        timesteps = torch.randint(n_timesteps, (batch_size,), generator=generator)
        embeds = fixed if captions is None else _caption_embeddings(pipe, captions, drawn, config, generator,
                                                                     text_trained)
        predicted = unet(scheduler.add_noise(clean, noise, timesteps), timesteps, encoder_hidden_states=embeds).sample
        target = noise if config.prediction_type == "epsilon" else scheduler.get_velocity(clean, noise, timesteps)
        loss = torch.nn.functional.mse_loss(predicted, target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    unet.eval()
    pipe.text_encoder.eval()
    return {"loss": losses}


def _check_captions(captions: list[list[str]], n_images: int) -> None:
    if len(captions) != n_images:
        raise DataValidationError(None, "captions", f"one list of captions per image ({n_images})", len(captions))
    empty = [index for index, listed in enumerate(captions) if not listed]
    if empty:
        raise DataValidationError(None, "captions", "at least one caption per image", f"none for image {empty[0]}")


def _caption_embeddings(pipe, captions: list[list[str]], drawn: torch.Tensor, config: UNetFitConfig,
                        generator: torch.Generator, trained: bool) -> torch.Tensor:
    """The text encoder's states of one random caption of each drawn image (the empty prompt for
    a share ``uncond_fraction`` of them), with gradients when the encoder is ``trained``."""
    choices = torch.rand(len(drawn), generator=generator)
    dropped = torch.rand(len(drawn), generator=generator) < config.uncond_fraction
    prompts = []
    for image, choice, drop in zip(drawn.tolist(), choices.tolist(), dropped.tolist()):
        listed = captions[image]
        prompts.append("" if drop else listed[min(int(choice * len(listed)), len(listed) - 1)])
    with torch.set_grad_enabled(trained):
        embeds, _ = pipe.encode_prompt(prompts, "cpu", 1, do_classifier_free_guidance=False)
    return embeds


def save_pipeline(pipe, out_dir: str | os.PathLike, provenance: dict | None = None) -> Path:
    """Save as a diffusers folder, atomically; ``neurogaze.json`` records how it was made."""
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as temp:
        pipe.save_pretrained(temp, safe_serialization=True)
        if provenance is not None:

            payload = {"neurogaze_version": __version__, **provenance}
            (temp / "neurogaze.json").write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
    return out_dir


def build_demo_pipeline(
    out_dir: str | os.PathLike,
    config: TinySDConfig,
    stimuli: np.ndarray | list[np.ndarray] | None = None,
    vae_fit: VAEFitConfig | None = None,
    tokenizer_dir: str | os.PathLike | None = None,
    unet_fit: UNetFitConfig | None = None,
) -> Path:
    """Build the tiny pipeline (optionally fit its VAE, then its UNet, on ``stimuli``) and save it
    as a folder."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        if tokenizer_dir is None:

            tokenizer_dir = write_clip_tokenizer(Path(scratch) / "tokenizer")
        pipe = build_tiny_pipeline(config, tokenizer_dir)
    provenance: dict = {"tiny_sd": asdict(config), "vae_fit": None, "unet_fit": None}
    if unet_fit is not None and vae_fit is None:
        raise ConfigError(None, "unet_fit", "needs vae_fit: a random VAE's latents carry nothing of the stimuli")
    if vae_fit is None:
        return save_pipeline(pipe, out_dir, provenance)
    if stimuli is None or len(stimuli) == 0:
        raise DataValidationError(None, "stimuli", "images to fit the VAE on (vae_fit was given)", "none")
    images = images_to_tensor(stimuli, config.image_size)
    trace = fit_vae(pipe.vae, images, vae_fit, progress=True)
    provenance["vae_fit"] = {**asdict(vae_fit), "n_images": len(stimuli), "final_loss": trace["loss"][-1]}
    provenance["vae_fit"]["scaling_factor"] = trace["scaling_factor"]
    logger.info("VAE fitted: final loss %.4f, latent scaling %.4f", trace["loss"][-1], trace["scaling_factor"])
    if unet_fit is not None:
        trace = fit_unet(pipe, images, unet_fit, progress=True)
        provenance["unet_fit"] = {**asdict(unet_fit), "n_images": len(stimuli), "final_loss": trace["loss"][-1]}
        logger.info("UNet fitted: loss %.4f -> %.4f", trace["loss"][0], trace["loss"][-1])
    return save_pipeline(pipe, out_dir, provenance)


def load_sd_pipeline(
    folder: str | os.PathLike,
    scheduler: str | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
):
    """Open any Stable Diffusion diffusers folder offline; optionally swap its scheduler."""

    folder = Path(folder)
    if not folder.exists():
        raise MissingWeightsError(
            f"Stable Diffusion folder {folder} does not exist; download {SD21_BASE_SOURCE} there "
            f"(nothing is downloaded automatically), or build the demo pipeline"
        )
    if not (folder / "model_index.json").is_file():
        raise DataValidationError(
            folder / "model_index.json", "model_index.json", "a diffusers pipeline folder", "missing"
        )
    pipe = StableDiffusionPipeline.from_pretrained(
        str(folder),
        local_files_only=True,
        safety_checker=None,
        requires_safety_checker=False,
        dtype=dtype,
    )
    if scheduler is not None:
        pipe.scheduler = scheduler_class(scheduler).from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


__all__ = [
    "SCHEDULERS",
    "TinySDConfig",
    "UNetFitConfig",
    "VAEFitConfig",
    "build_demo_pipeline",
    "build_tiny_pipeline",
    "fit_unet",
    "fit_vae",
    "images_to_tensor",
    "load_sd_pipeline",
    "save_pipeline",
    "scheduler_class",
]
