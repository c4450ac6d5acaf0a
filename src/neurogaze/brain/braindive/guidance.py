"""BrainDiVE's guided sampler, the ROI predictors it ascends, its outputs and their evaluation.

A diffusion sampler is guided by the gradient of a voxel-wise encoder. At every step:

1. the UNet predicts the noise ``eps`` of the latent ``x_t`` (empty prompt, no classifier-free guidance);
   with ``sag_scale`` > 0, self-attention guidance adds ``sag_scale * (eps - eps(degraded))``, the
   degraded input being x0 blurred where the mid-block self-attention concentrates, renoised to
   ``t`` (diffusers' StableDiffusionSAGPipeline, as the official runs use it at 0.75);
2. the clean latent is estimated, ``x0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)`` (``a_t`` = alpha_bar,
   ``eps`` the plain UNet prediction, as the official ``cond_fn`` recomputes it);
3. the VAE decodes ``x0`` (``guidance_image: x0``) or, as the official pipeline does,
   ``x0 * sqrt(1 - a_t) + x_t * (1 - sqrt(1 - a_t))`` (``x0_noised``); the image is resized and
   normalised for the encoder's CLIP backbone;
4. the encoder predicts the ROI's mean activation ``s``;
5. the noise prediction becomes ``eps - scale * sqrt(1 - a_t) * ds/dx_t`` (classifier guidance:
   the gradient is ascended), and the scheduler takes its step with it.

``N`` images per ROI are drawn, each from its own seed; the top ``top_fraction`` (20 %) by predicted
activation are kept. Unguided images come from the same seeds with the gradient switched off.

Paper settings (``config/paper.yaml``): SD-2.1-base, DPMSolverMultistep, 50 steps, scale 130 on
``x0_noised``, SAG 0.75. The schema defaults (``x0``, no SAG) are those the demo's checks were tuned
with.

Demo-only options (``BrainDiVEConfig.prior_noise_correction`` and ``guidance_shifts``,
``ROIPredictor.lowpass_grid``), off in the paper configuration. They exist because the demo has
no pretrained diffusion weights:

* a random UNet does not denoise, so the latent drifts without bound; adding the exact noise
  estimate of a standard-Gaussian prior, ``eps += sqrt(1 - a_t) x_t``, keeps it bounded;
* a random CLIP encoder has sharp, adversarial gradients: guidance raises its prediction while the
  pixels barely change. Low-passing the encoder input (both when the readout is fitted and when it
  guides) and a stronger ridge on unit-normalised features give a smooth readout whose gradient
  moves what the readout actually measures. Averaging the score over a few small circular
  translations of the decoded image (``guidance_shifts``) does the same without low-passing,
  so the readout stays the fitted encoder's: a direction that raises the score only at one pixel
  alignment cancels out. On the demo it turned spatial frequency from +0.2 SD (p = 0.2) into
  +1.4 SD (p < 1e-6) and warmth from +0.6 SD into +2.3 SD.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from scipy.stats import wilcoxon
from sklearn.linear_model import Ridge
from torch import nn
from torchvision.transforms.functional import gaussian_blur
from tqdm.auto import tqdm

from neurogaze.backbones.diffusion import scheduler_class
from neurogaze.config import from_section
from neurogaze.data.contracts import METRIC_COLUMNS
from neurogaze.data.synthetic.images import ATTRIBUTES
from neurogaze.errors import ConfigError, DataValidationError
from neurogaze.io import atomic_directory, safe_file_name
from neurogaze.runlog import derive_seed

logger = logging.getLogger(__name__)

# Samplers whose latents live in alpha_bar space (scale_model_input is the identity), as the x0
# estimate above assumes.
GUIDABLE_SCHEDULERS = ("DDIMScheduler", "DPMSolverMultistepScheduler", "PNDMScheduler")

# Translations (rows, columns) in 1/32 of the image side; ``guidance_shifts`` uses the first k.
GUIDANCE_SHIFTS = ((0, 0), (2, 1), (-1, 2), (1, -2), (-2, -1), (3, 0), (0, -3), (-3, 3))

# What the encoder scores at each step (BrainDiVEConfig.guidance_image).
GUIDANCE_IMAGES = ("x0", "x0_noised")

# SAG's degradation (diffusers, after the SAG paper): a 9-tap Gaussian blur of sigma 1 where the
# mid-block self-attention mask is on.
SAG_BLUR_KERNEL = 9
SAG_BLUR_SIGMA = 1.0

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

METHOD = "braindive"
UNGUIDED_FOLDER = "unguided"  # beside one folder per ROI in a synthesis folder


@dataclass(frozen=True)
class BrainDiVEConfig:
    """Sampling settings (``braindive.sampling``). Defaults are the paper's; the demo config shrinks
    steps and images. ``seed`` is used as given (the per-image seeds derive from it), not derived
    from the master seed. Built directly, it checks what the schema checks for the config."""

    num_inference_steps: int = 50
    scheduler: str = "DPMSolverMultistepScheduler"
    guidance_scale: float = 130.0
    n_images: int = 500
    top_fraction: float = 0.2
    prompt: str = ""
    height: int | None = None  # None: the pipeline's native size (512 for SD-2.1-base)
    width: int | None = None
    batch_size: int = 4
    seed: int = 0
    # The paper differentiates through the UNet (d eps / d x_t included); False treats eps as a
    # constant: cheaper, and on the demo about two thirds as effective.
    grad_through_unet: bool = True
    # Demo only (see module docstring): the Gaussian-prior noise estimate added to a random UNet's.
    prior_noise_correction: bool = False
    # Demo only: average the guidance score over this many translations (0: the paper's one score).
    guidance_shifts: int = 0
    # What the encoder scores: "x0", the clean-latent estimate, or "x0_noised",
    # ``x0 * sqrt(1 - a_t) + x_t * (1 - sqrt(1 - a_t))`` as the official brain_guide_pipeline.py
    # decodes (its scale 130 was tuned for that). The default keeps the demo's tuned runs.
    guidance_image: str = "x0"
    # Self-attention guidance (Hong et al. 2023) as diffusers' StableDiffusionSAGPipeline defines it
    # without classifier-free guidance; the official runs use 0.75. 0: none.
    sag_scale: float = 0.0

    def __post_init__(self):
        key = "braindive.sampling"
        if self.scheduler not in GUIDABLE_SCHEDULERS:
            raise ConfigError(None, f"{key}.scheduler", f"one of {list(GUIDABLE_SCHEDULERS)}, got {self.scheduler!r}")
        if not 0.0 < self.top_fraction <= 1.0:
            raise ConfigError(None, f"{key}.top_fraction", f"a fraction in (0, 1], got {self.top_fraction}")
        for name in ("num_inference_steps", "n_images", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(None, f"{key}.{name}", f"a positive integer, got {getattr(self, name)}")
        if not 0 <= self.guidance_shifts <= len(GUIDANCE_SHIFTS):
            raise ConfigError(
                None, f"{key}.guidance_shifts", f"an integer in [0, {len(GUIDANCE_SHIFTS)}], got {self.guidance_shifts}"
            )
        if self.guidance_scale < 0:
            raise ConfigError(None, f"{key}.guidance_scale", f"a non-negative number, got {self.guidance_scale}")
        if self.sag_scale < 0:
            raise ConfigError(None, f"{key}.sag_scale", f"a non-negative number, got {self.sag_scale}")
        if self.guidance_image not in GUIDANCE_IMAGES:
            raise ConfigError(
                None, f"{key}.guidance_image", f"one of {list(GUIDANCE_IMAGES)}, got {self.guidance_image!r}"
            )

    @property
    def n_keep(self) -> int:
        return max(1, round(self.top_fraction * self.n_images))


# ---------------------------------------------------------------------------------------------
# The ROI response predictor: image batch in [0, 1] -> predicted ROI mean activation
# ---------------------------------------------------------------------------------------------


def lowpass(images: torch.Tensor, grid: int) -> torch.Tensor:
    """Average over a ``grid`` x ``grid`` lattice of blocks, then blow back up (nearest)."""
    size = images.shape[-2:]
    return nn.functional.interpolate(nn.functional.adaptive_avg_pool2d(images, grid), size=size, mode="nearest")


class CLIPInput(nn.Module):
    """Differentiable CLIP preprocessing: resize to the backbone's input, normalise; optional low-pass."""

    def __init__(self, image_size: int, mean=CLIP_MEAN, std=CLIP_STD, lowpass_grid: int | None = None):
        super().__init__()
        self.image_size = int(image_size)
        self.lowpass_grid = lowpass_grid
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.lowpass_grid:
            images = lowpass(images, self.lowpass_grid)
        if images.shape[-1] != self.image_size or images.shape[-2] != self.image_size:
            # Bicubic + antialias matches the PIL resize of open_clip's own preprocessing closely.
            images = nn.functional.interpolate(
                images, size=(self.image_size, self.image_size), mode="bicubic", antialias=True, align_corners=False
            )
        return (images - self.mean) / self.std


class ROIPredictor(nn.Module):
    """``images (N, 3, H, W) in [0, 1] -> (N,)``: a linear readout of CLIP image features.

    ``weight``/``bias`` are the ROI mean of a voxel-wise linear encoder (the mean of linear maps
    is the linear map of the mean), so the prediction is the ROI's mean predicted activation.
    """

    def __init__(
        self,
        image_encoder: nn.Module,
        weight: np.ndarray | torch.Tensor,
        bias: float,
        preprocess: CLIPInput,
        normalize_features: bool = True,
    ):
        super().__init__()
        self.image_encoder = image_encoder
        self.preprocess = preprocess
        self.normalize_features = normalize_features
        self.register_buffer("weight", torch.as_tensor(np.asarray(weight), dtype=torch.float32).reshape(-1))
        self.register_buffer("bias", torch.tensor(float(bias), dtype=torch.float32))
        for parameter in self.image_encoder.parameters():
            parameter.requires_grad_(False)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        features = self.image_encoder(self.preprocess(images)).float()
        if self.normalize_features:
            features = nn.functional.normalize(features, dim=-1)
        return features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images) @ self.weight + self.bias


class OpenClipImageEncoder(nn.Module):
    """Wrap an open_clip model so that ``forward`` is its (differentiable) ``encode_image``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model.eval()

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels)


def clip_input_for(model: nn.Module, lowpass_grid: int | None = None) -> CLIPInput:
    """The differentiable equivalent of an open_clip model's preprocessing (size, mean, std)."""
    visual = model.visual
    size = visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    mean = getattr(visual, "image_mean", None) or CLIP_MEAN
    std = getattr(visual, "image_std", None) or CLIP_STD
    return CLIPInput(int(size), mean, std, lowpass_grid)


def roi_readout(coef: np.ndarray, intercept: np.ndarray, roi_mask: np.ndarray) -> tuple[np.ndarray, float]:
    """ROI mean of a voxel-wise linear encoder: ``coef`` (n_units, d), ``intercept`` (n_units,)."""
    coef = np.asarray(coef)
    intercept = np.broadcast_to(np.asarray(intercept, dtype=float), (coef.shape[0],))
    roi_mask = np.asarray(roi_mask, dtype=bool)
    if coef.ndim != 2 or roi_mask.shape != (coef.shape[0],):
        raise DataValidationError(None, "roi_mask", f"a boolean vector over the encoder's {coef.shape[0]} units",
                                  roi_mask.shape)
    if not roi_mask.any():
        raise DataValidationError(None, "roi_mask", "at least one unit in the ROI", "an empty ROI")
    return coef[roi_mask].mean(axis=0), float(intercept[roi_mask].mean())


def roi_predictor_from_encoder(
    clip_model: nn.Module,
    coef: np.ndarray,
    intercept: np.ndarray,
    roi_mask: np.ndarray,
    normalize_features: bool = True,
    lowpass_grid: int | None = None,
) -> ROIPredictor:
    """Build the guidance target from an open_clip model and a fitted voxel-wise linear encoder.

    ``normalize_features`` must match how the encoder was fitted (BrainDiVE: unit-normalised
    CLIP embeddings); ``lowpass_grid`` likewise (demo only).
    """
    weight, bias = roi_readout(coef, intercept, roi_mask)
    return ROIPredictor(
        OpenClipImageEncoder(clip_model), weight, bias, clip_input_for(clip_model, lowpass_grid), normalize_features
    )


@torch.no_grad()
def predictor_features(predictor: ROIPredictor, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """The readout's input features for uint8 images, through exactly the guidance path."""
    device = predictor.weight.device
    chunks = [
        predictor.features(uint8_to_tensor(images[i : i + batch_size]).to(device)).cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(chunks).numpy()


def predictors_from_encoder(
    clip_model: nn.Module,
    coef: np.ndarray,
    intercept: np.ndarray,
    rois: dict[str, np.ndarray],
    normalize_features: bool = True,
    lowpass_grid: int | None = None,
) -> dict[str, ROIPredictor]:
    """One guidance target per ROI from a fitted voxel-wise encoder (the paper's path)."""
    return {
        name: roi_predictor_from_encoder(clip_model, coef, intercept, mask, normalize_features, lowpass_grid)
        for name, mask in sorted(rois.items())
    }


def fit_roi_predictors(
    clip_model: nn.Module,
    images: np.ndarray,
    responses: np.ndarray,
    rois: dict[str, np.ndarray],
    alpha: float = 1.0,
    lowpass_grid: int | None = 8,
    normalize_features: bool = True,
) -> dict[str, ROIPredictor]:
    """Demo path: a smooth readout per ROI, ridge-fitted on the low-passed guidance features.

    ``responses`` (n_images, n_units) are the training responses of ``images``; each ROI's
    readout predicts its mean response. The module docstring says why.
    """
    responses = np.asarray(responses, dtype=float)
    if responses.ndim != 2 or responses.shape[0] != len(images):
        raise DataValidationError(None, "responses", f"a ({len(images)}, n_units) array", responses.shape)
    predictors = {}
    for name, mask in sorted(rois.items()):
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (responses.shape[1],) or not mask.any():
            raise DataValidationError(None, f"rois/{name}", f"a non-empty mask over {responses.shape[1]} units",
                                      mask.shape)
        # Zero readout for now: the ridge fit below sets it (and its width, the feature width).
        predictors[name] = ROIPredictor(
            OpenClipImageEncoder(clip_model), np.zeros(1), 0.0, clip_input_for(clip_model, lowpass_grid),
            normalize_features,
        )
    features = None
    for name, predictor in predictors.items():
        if features is None:
            features = predictor_features(predictor, images)
        _set_ridge(predictor, features, responses[:, np.asarray(rois[name], dtype=bool)].mean(axis=1), alpha)
    return predictors


def _set_ridge(predictor: ROIPredictor, features: np.ndarray, target: np.ndarray, alpha: float) -> None:
    ridge = Ridge(alpha=alpha).fit(features, target)
    predictor.weight = torch.as_tensor(ridge.coef_, dtype=torch.float32, device=predictor.bias.device)
    predictor.bias.fill_(float(ridge.intercept_))


@torch.no_grad()
def predict_images(predictor: nn.Module, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Predicted ROI activation of uint8 (N, H, W, 3) images."""
    device = next(iter(predictor.buffers())).device
    out = [
        predictor(uint8_to_tensor(images[i : i + batch_size]).to(device)).float().cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(out).numpy().astype(np.float64)


def uint8_to_tensor(images) -> torch.Tensor:
    array = np.stack([np.asarray(image, dtype=np.uint8) for image in images])
    return torch.from_numpy(array).permute(0, 3, 1, 2).float() / 255.0


def tensor_to_uint8(images: torch.Tensor) -> np.ndarray:
    array = images.detach().clamp(0, 1).permute(0, 2, 3, 1).cpu().float().numpy()
    return np.round(array * 255.0).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# The guided sampler
# ---------------------------------------------------------------------------------------------


def image_seeds(config: BrainDiVEConfig) -> list[int]:
    """One seed per image, the same for every ROI and for the unguided control."""
    return [derive_seed(config.seed, METHOD, "image", str(index)) for index in range(config.n_images)]


def _initial_latents(pipe, seeds: list[int], height: int, width: int, device) -> torch.Tensor:
    factor = pipe.vae_scale_factor
    shape = (1, pipe.unet.config.in_channels, height // factor, width // factor)
    # A CPU generator per image: the same seed gives the same start on any device and batch size.
    noise = [torch.randn(shape, generator=torch.Generator().manual_seed(seed)) for seed in seeds]
    return torch.cat(noise).to(device=device, dtype=pipe.unet.dtype)


def _prompt_embeddings(pipe, prompt: str, n: int, device) -> torch.Tensor:
    with torch.no_grad():
        embeds, _ = pipe.encode_prompt(prompt, device, 1, do_classifier_free_guidance=False)
    return embeds.expand(n, -1, -1)


def decode_latents(pipe, latents: torch.Tensor) -> torch.Tensor:
    """VAE decode to images in [0, 1] (differentiable)."""
    images = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
    return (images.float() / 2 + 0.5).clamp(0, 1)


def _guided_eps(pipe, scheduler, predictor, config, latents, t, embeds, alpha_bar, scale,
                store: AttentionStore | None = None) -> torch.Tensor:
    """The noise prediction of one step, with self-attention guidance when ``store`` is given (it
    holds the UNet's mid-block self-attention) and the ROI gradient added when ``scale`` > 0."""
    guided = scale > 0
    sigma = torch.sqrt(1 - alpha_bar)
    with torch.set_grad_enabled(guided):
        latents = latents.detach().requires_grad_(guided and config.grad_through_unet)
        eps = _unet_eps(pipe, scheduler, latents, t, embeds, alpha_bar)
        sag = None
        if store is not None:
            sag = sag_correction(pipe, scheduler, store, latents.detach(), eps.detach(), t, embeds, alpha_bar,
                                 config.sag_scale)
        if config.prior_noise_correction:
            eps = eps + sigma * latents
        if not guided:
            return eps.detach() if sag is None else eps.detach() + sag
        if not config.grad_through_unet:
            eps = eps.detach()
            latents = latents.detach().requires_grad_(True)
        x0 = (latents - sigma * eps) / torch.sqrt(alpha_bar)
        decoded = decode_latents(pipe, guidance_latents(x0, latents, alpha_bar, config.guidance_image))
        score = guidance_score(predictor, decoded.to(predictor.weight.dtype), config.guidance_shifts).sum()
        (grad,) = torch.autograd.grad(score, latents)
    eps = eps.detach() if sag is None else eps.detach() + sag
    return eps - scale * sigma * grad.to(eps.dtype)


def _unet_eps(pipe, scheduler, latents, t, embeds, alpha_bar) -> torch.Tensor:
    """The UNet's noise prediction of ``latents`` at ``t`` (a v-prediction converted to noise)."""
    output = pipe.unet(scheduler.scale_model_input(latents, t), t, encoder_hidden_states=embeds).sample
    if pipe.scheduler.config.get("prediction_type", "epsilon") == "v_prediction":
        # SD-2.1 (768 px) predicts v; guidance and the sampler below work with eps.
        output = torch.sqrt(alpha_bar) * output + torch.sqrt(1 - alpha_bar) * latents
    return output


def guidance_latents(x0: torch.Tensor, latents: torch.Tensor, alpha_bar, mode: str) -> torch.Tensor:
    """The latent the encoder's image is decoded from: ``x0``, or (``x0_noised``, the official
    pipeline's) ``x0 * sqrt(1 - a) + x_t * (1 - sqrt(1 - a))`` with ``a`` = alpha_bar of the step:
    mostly x0 early in sampling (``a`` small) and mostly ``x_t`` late, when ``x_t`` is nearly clean."""
    if mode == "x0":
        return x0
    if mode == "x0_noised":
        keep = torch.sqrt(1 - torch.as_tensor(alpha_bar, dtype=x0.dtype, device=x0.device))
        return x0 * keep + latents * (1 - keep)
    raise ConfigError(None, "braindive.sampling.guidance_image", f"one of {list(GUIDANCE_IMAGES)}, got {mode!r}")


class AttentionStore:
    """Attention processor of the UNet's first mid-block self-attention that keeps its attention
    probabilities (batch * heads, queries, keys), as SAG reads them; a hook on the mid-block
    attention records its spatial size."""

    def __init__(self):
        self.probs: torch.Tensor | None = None
        self.heads: int | None = None
        self.map_size: tuple[int, int] | None = None

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, **kwargs):
        batch, length, _ = hidden_states.shape
        attention_mask = attn.prepare_attention_mask(attention_mask, length, batch)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        query, key, value = (attn.head_to_batch_dim(x) for x in
                             (attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)))
        self.probs = attn.get_attention_scores(query, key, attention_mask)
        self.heads = attn.heads
        out = attn.batch_to_head_dim(torch.bmm(self.probs, value))
        return attn.to_out[1](attn.to_out[0](out))

    def record_size(self, module, inputs, output):
        self.map_size = tuple(output[0].shape[-2:])


@contextmanager
def attention_store(unet):
    """Install an :class:`AttentionStore` on the UNet for the duration; the processors are restored."""
    attentions = getattr(unet.mid_block, "attentions", None)
    if not attentions:
        raise ConfigError(None, "braindive.sampling.sag_scale",
                          "0 for a UNet without mid-block attention (SAG reads its self-attention)")
    original = unet.attn_processors
    store = AttentionStore()
    attentions[0].transformer_blocks[0].attn1.processor = store
    handle = attentions[0].register_forward_hook(store.record_size)
    try:
        yield store
    finally:
        handle.remove()
        unet.set_attn_processor(original)


@torch.no_grad()
def sag_degraded_latents(scheduler, x0: torch.Tensor, eps: torch.Tensor, store: AttentionStore, t) -> torch.Tensor:
    """SAG's degraded input: ``x0`` blurred where the keys draw more than their share of the
    head-averaged self-attention (column sums > 1), then noised back to step ``t`` with ``eps``."""
    batch, _, height, width = x0.shape
    probs = store.probs.detach().to(x0.dtype)
    received = probs.reshape(batch, store.heads, *probs.shape[1:]).mean(1).sum(1)
    mask = (received > 1.0).to(x0.dtype).reshape(batch, 1, *store.map_size)
    mask = nn.functional.interpolate(mask, (height, width))
    blurred = gaussian_blur(x0, [SAG_BLUR_KERNEL] * 2, [SAG_BLUR_SIGMA] * 2)
    return scheduler.add_noise(blurred * mask + x0 * (1 - mask), eps, t.reshape(1))


@torch.no_grad()
def sag_correction(pipe, scheduler, store, latents, eps, t, embeds, alpha_bar, sag_scale) -> torch.Tensor:
    """``sag_scale * (eps - eps(degraded))``: SAG's term without classifier-free guidance (the
    UNet's eps of the degraded latents, under the same prompt)."""
    x0 = (latents - torch.sqrt(1 - alpha_bar) * eps) / torch.sqrt(alpha_bar)
    degraded = sag_degraded_latents(scheduler, x0, eps, store, t)
    output = pipe.unet(degraded, t, encoder_hidden_states=embeds).sample
    if pipe.scheduler.config.get("prediction_type", "epsilon") == "v_prediction":
        # diffusers adds v's difference; in eps that is sqrt(a) times it, i.e. this conversion at x_t
        output = torch.sqrt(alpha_bar) * output + torch.sqrt(1 - alpha_bar) * latents
    return sag_scale * (eps - output)


def guidance_score(predictor: nn.Module, images: torch.Tensor, n_shifts: int = 0) -> torch.Tensor:
    """The predictor's score of ``images``, or its mean over the first ``n_shifts`` translations."""
    if n_shifts == 0:
        return predictor(images)
    height, width = images.shape[-2:]
    scores = [
        predictor(torch.roll(images, (round(dy * height / 32), round(dx * width / 32)), dims=(-2, -1)))
        for dy, dx in GUIDANCE_SHIFTS[:n_shifts]
    ]
    return torch.stack(scores).mean(dim=0)


def sample_batch(
    pipe, predictor: nn.Module | None, config: BrainDiVEConfig, seeds: list[int], scale: float | None = None
) -> torch.Tensor:
    """Draw one batch of images, guided by ``predictor`` at ``scale`` (0 or None predictor: unguided).

    Returns float images (N, 3, H, W) in [0, 1].
    """
    scale = config.guidance_scale if scale is None else float(scale)
    if predictor is None:
        scale = 0.0
    device = pipe.unet.device
    height = config.height or pipe.unet.config.sample_size * pipe.vae_scale_factor
    width = config.width or pipe.unet.config.sample_size * pipe.vae_scale_factor
    scheduler = _fresh_scheduler(pipe, config.scheduler)
    scheduler.set_timesteps(config.num_inference_steps, device=device)
    latents = _initial_latents(pipe, seeds, height, width, device) * scheduler.init_noise_sigma
    embeds = _prompt_embeddings(pipe, config.prompt, len(seeds), device)
    alphas_cumprod = scheduler.alphas_cumprod.to(device=device, dtype=torch.float32)
    with attention_store(pipe.unet) if config.sag_scale > 0 else nullcontext() as store:
        for t in scheduler.timesteps:
            alpha_bar = alphas_cumprod[int(t)]
            eps = _guided_eps(pipe, scheduler, predictor, config, latents, t, embeds, alpha_bar, scale, store)
            latents = scheduler.step(eps, t, latents.detach()).prev_sample
    with torch.no_grad():
        return decode_latents(pipe, latents)


def _fresh_scheduler(pipe, name: str):
    """A new scheduler of class ``name`` from the pipeline's own config (no state between batches).

    It is always given noise predictions (``_guided_eps`` converts v-predictions).
    """
    return scheduler_class(name).from_config(pipe.scheduler.config, prediction_type="epsilon")


@dataclass
class SynthesisResult:
    """Images drawn for one ROI: guided and, from the same seeds, unguided."""

    roi: str
    seeds: list[int]
    guided: np.ndarray  # uint8 (N, H, W, 3)
    unguided: np.ndarray  # uint8 (N, H, W, 3)
    guided_score: np.ndarray  # predicted ROI activation (guiding predictor), (N,)
    unguided_score: np.ndarray
    selected: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # top fraction of guided

    def index_table(self) -> pd.DataFrame:
        """One row per image: roi, condition, image index, seed, predicted activation, rank, kept."""
        rows = []
        for condition, scores in (("guided", self.guided_score), ("unguided", self.unguided_score)):
            ranks = rank_descending(scores)
            for i, (seed, score) in enumerate(zip(self.seeds, scores)):
                rows.append(
                    {
                        "roi": self.roi,
                        "condition": condition,
                        "image": i,
                        "seed": int(seed),
                        "predicted": float(score),
                        "rank": int(ranks[i]),
                        "selected": bool(self.selected[i]) if condition == "guided" else False,
                        "path": f"{roi_folder(self.roi)}/{i:04d}.png" if condition == "guided"
                        else f"{UNGUIDED_FOLDER}/{i:04d}.png",
                    }
                )
        return pd.DataFrame(rows)


def roi_folder(roi: str) -> str:
    """The folder of an ROI's guided images: its name where that is a safe file name."""
    folder = safe_file_name(roi)
    if folder == UNGUIDED_FOLDER:
        raise DataValidationError(None, "rois", f"ROI names other than {UNGUIDED_FOLDER!r} (the unguided images)", roi)
    return folder


def rank_descending(scores: np.ndarray) -> np.ndarray:
    """0 for the highest score; ties keep image order (stable), so ranks are reproducible."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    ranks = np.empty(len(order), dtype=int)
    ranks[order] = np.arange(len(order))
    return ranks


def select_top(scores: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean mask of the top ``fraction`` of images by score (at least one)."""
    n_keep = max(1, round(fraction * len(scores)))
    return rank_descending(scores) < n_keep


def _batches(seeds: list[int], size: int) -> list[list[int]]:
    return [seeds[i : i + size] for i in range(0, len(seeds), size)]


def unguided_images(pipe, config: BrainDiVEConfig, progress: bool = False) -> np.ndarray:
    """The unguided control: the same seeds, no gradient. It does not depend on the ROI."""
    batches = _batches(image_seeds(config), config.batch_size)
    images = [
        tensor_to_uint8(sample_batch(pipe, None, config, batch))
        for batch in tqdm(batches, desc="unguided", disable=not progress)
    ]
    return np.concatenate(images)


def synthesise_roi(
    pipe,
    predictor: nn.Module,
    config: BrainDiVEConfig,
    roi: str,
    unguided: np.ndarray | None = None,
    progress: bool = False,
) -> SynthesisResult:
    """Draw ``n_images`` guided images for one ROI, score them and the unguided control, keep the top.

    ``unguided`` (from :func:`unguided_images`) is drawn here when not given.
    """
    seeds = image_seeds(config)
    if unguided is None:
        unguided = unguided_images(pipe, config, progress)
    if len(unguided) != len(seeds):
        raise DataValidationError(None, "unguided", f"{len(seeds)} unguided images (n_images)", len(unguided))
    batches = _batches(seeds, config.batch_size)
    guided = [
        tensor_to_uint8(sample_batch(pipe, predictor, config, batch))
        for batch in tqdm(batches, desc=f"BrainDiVE {roi}", disable=not progress)
    ]
    guided_images = np.concatenate(guided)
    guided_score = predict_images(predictor, guided_images)
    return SynthesisResult(
        roi=roi,
        seeds=seeds,
        guided=guided_images,
        unguided=unguided,
        guided_score=guided_score,
        unguided_score=predict_images(predictor, unguided),
        selected=select_top(guided_score, config.top_fraction),
    )


# ---------------------------------------------------------------------------------------------
# Outputs: PNGs + an index per ROI
# ---------------------------------------------------------------------------------------------


def write_synthesis(
    out_dir: str | os.PathLike, results: list[SynthesisResult], config: BrainDiVEConfig
) -> pd.DataFrame:
    """Write ``<roi>/<i>.png`` (guided), ``unguided/<i>.png`` and ``index.csv``, atomically as a whole."""
    tables = []
    with atomic_directory(out_dir) as temp:
        for result in results:
            (temp / roi_folder(result.roi)).mkdir()
            (temp / UNGUIDED_FOLDER).mkdir(exist_ok=True)
            table = result.index_table()
            images = {"guided": result.guided, "unguided": result.unguided}
            for row in table.itertuples():
                # The unguided control is the same for every ROI: one file per seed.
                if not (temp / row.path).exists():
                    Image.fromarray(images[row.condition][row.image]).save(temp / row.path)
            tables.append(table)
        index = pd.concat(tables, ignore_index=True)
        index.to_csv(temp / "index.csv", index=False, float_format="%.10g", lineterminator="\n")
        (temp / "config.json").write_text(json.dumps(asdict(config), indent=2, sort_keys=True) + "\n")
    return index


def read_synthesis(folder: str | os.PathLike) -> tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]]:
    """The index and the images, keyed by (roi, condition), in image order."""
    folder = Path(folder)
    index_path = folder / "index.csv"
    if not index_path.is_file():
        raise DataValidationError(index_path, "index.csv", "a BrainDiVE synthesis index", "missing")
    index = pd.read_csv(index_path)
    needed = ("roi", "condition", "image", "seed", "predicted", "rank", "selected", "path")
    missing = [name for name in needed if name not in index.columns]
    if missing:
        raise DataValidationError(index_path, missing[0], f"columns {list(needed)}", f"missing {missing}")
    images = {}
    for key, rows in index.sort_values("image").groupby(["roi", "condition"], sort=True):
        images[key] = np.stack([np.asarray(Image.open(folder / path).convert("RGB")) for path in rows["path"]])
    return index, images


def read_synthesis_config(folder: str | os.PathLike) -> BrainDiVEConfig:
    """The sampling settings a synthesis folder was drawn with (its ``config.json``)."""
    path = Path(folder) / "config.json"
    try:
        values = json.loads(path.read_text())
        return from_section(BrainDiVEConfig, values, "braindive.sampling")
    except (OSError, ValueError, ConfigError) as exc:  # missing, not JSON, or not BrainDiVEConfig's fields
        raise DataValidationError(path, "config.json", "the sampling settings write_synthesis writes", exc) from exc


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def pixel_attributes(images: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Attribute measures on the pixels, with the definitions the synthetic brains were planted with."""
    unknown = sorted(set(names) - set(ATTRIBUTES))
    if unknown:
        raise DataValidationError(None, "attributes", f"pixel attributes among {sorted(ATTRIBUTES)}", repr(unknown[0]))
    return {name: np.asarray(ATTRIBUTES[name](images), dtype=float) for name in names}


def planted_attribute_rois(ground_truth: dict, source: str | os.PathLike | None = None) -> dict[str, str]:
    """ROI -> pixel attribute, from a synthetic data set's ``ground_truth.json`` ``rois`` entry.

    Only attributes measurable on the pixels are kept (warmth, vertical_energy, spatial_frequency);
    face-selective and feature-direction ROIs get the activation check only.
    """
    rois = ground_truth.get("rois")
    if not isinstance(rois, dict):
        raise DataValidationError(source, "rois", "a mapping ROI name -> planted signal", type(rois).__name__)
    return {roi: signal for roi, signal in sorted(rois.items()) if signal in ATTRIBUTES}


def paired_attribute_test(guided: np.ndarray, unguided: np.ndarray) -> dict[str, float]:
    """Guided vs unguided from the same seeds: absolute change, SD units, Wilcoxon signed-rank p.

    One-sided (guided > unguided), since the planted direction is known in advance.
    """
    guided, unguided = np.asarray(guided, float), np.asarray(unguided, float)
    diff = guided - unguided
    sd = float(unguided.std(ddof=1)) if len(unguided) > 1 else float("nan")
    p = float(wilcoxon(guided, unguided, alternative="greater").pvalue) if np.any(diff != 0) else 1.0
    return {
        "guided_mean": float(guided.mean()),
        "unguided_mean": float(unguided.mean()),
        "unguided_sd": sd,
        "change": float(diff.mean()),
        "change_sd_units": float(diff.mean() / sd) if sd > 0 else float("nan"),
        "p_wilcoxon": p,
    }


def zero_shot_shares(
    clip_model, tokenizer, images: np.ndarray, categories: list[str], template: str = "a photo of {}"
) -> dict[str, float]:
    """Share of ``images`` whose CLIP zero-shot label is each category (the paper's category shares).

    Meaningful only with released CLIP weights; the demo's random CLIP gives arbitrary labels.
    """
    device = next(clip_model.parameters()).device
    preprocess = clip_input_for(clip_model).to(device)
    with torch.no_grad():
        text = clip_model.encode_text(tokenizer([template.format(c) for c in categories]).to(device)).float()
        pixels = preprocess(uint8_to_tensor(images).to(device))
        image = clip_model.encode_image(pixels).float()
    logits = nn.functional.normalize(image, dim=-1) @ nn.functional.normalize(text, dim=-1).T
    labels = logits.argmax(dim=1).cpu().numpy()
    return {category: float(np.mean(labels == k)) for k, category in enumerate(categories)}


def _rows(roi: str, values: dict[str, float], dataset: str, split: str, seed: int, prefix: str = "") -> list[dict]:
    return [
        {"method": METHOD, "dataset": dataset, "unit": roi, "metric": prefix + name, "split": split, "seed": seed,
         "value": value}
        for name, value in values.items()
    ]


def _summary(values: np.ndarray) -> dict[str, float]:
    values = np.asarray(values, dtype=float)
    return {"mean": float(values.mean()), "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0}


def evaluation_rows(
    result: SynthesisResult,
    dataset: str,
    seed: int,
    dataset_top: np.ndarray | None = None,
    independent: nn.Module | None = None,
    attributes: list[str] = (),
    category_shares: dict[str, float] | None = None,
) -> list[dict]:
    """Metric rows (``contracts.METRIC_COLUMNS``) for one ROI.

    * ``pred_*``: guiding predictor on all guided images, the kept top fraction, the unguided
      images from the same seeds, and the dataset's top-N images (N = number kept);
    * ``gain_sd_units``: (guided - unguided mean) / unguided SD, the planted-truth check;
    * ``indep_*``: the same with an independent readout (another encoder), which guards against
      adversarial gains that only the guiding encoder sees;
    * ``attr_<name>_*``: the attribute on the pixels, guided vs unguided, with absolute change and
      a one-sided paired Wilcoxon p-value;
    * ``clip_share_<category>``: zero-shot category shares of the kept images (real weights).
    """
    roi = result.roi
    rows = []
    summary = {
        **{f"pred_guided_{k}": v for k, v in _summary(result.guided_score).items()},
        **{f"pred_top_{k}": v for k, v in _summary(result.guided_score[result.selected]).items()},
    }
    if len(result.unguided_score):
        summary.update({f"pred_unguided_{k}": v for k, v in _summary(result.unguided_score).items()})
        sd = summary["pred_unguided_sd"]
        gain = summary["pred_guided_mean"] - summary["pred_unguided_mean"]
        summary["gain_sd_units"] = gain / sd if sd > 0 else float("nan")
    if dataset_top is not None and len(dataset_top):
        summary.update({f"pred_dataset_top_{k}": v for k, v in _summary(dataset_top).items()})
    rows += _rows(roi, summary, dataset, "generated", seed)
    if independent is not None and len(result.unguided):
        test = paired_attribute_test(
            predict_images(independent, result.guided), predict_images(independent, result.unguided)
        )
        rows += _rows(roi, test, dataset, "generated", seed, prefix="indep_")
    if attributes and len(result.unguided):
        guided = pixel_attributes(result.guided, list(attributes))
        plain = pixel_attributes(result.unguided, list(attributes))
        for name in attributes:
            test = paired_attribute_test(guided[name], plain[name])
            rows += _rows(roi, test, dataset, "generated", seed, prefix=f"attr_{name}_")
    if category_shares:
        rows += _rows(roi, category_shares, dataset, "generated", seed, prefix="clip_share_")
    return rows


def evaluation_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


def results_from_synthesis(index: pd.DataFrame, images: dict[tuple[str, str], np.ndarray]) -> list[SynthesisResult]:
    """A written synthesis (:func:`read_synthesis`) back as one result per ROI, scores as the sampler saw them."""
    results = []
    for roi in sorted(index.loc[index["condition"] == "guided", "roi"].unique()):
        rows = {
            condition: index[(index["roi"] == roi) & (index["condition"] == condition)].sort_values("image")
            for condition in ("guided", "unguided")
        }
        results.append(
            SynthesisResult(
                roi=roi,
                seeds=rows["guided"]["seed"].astype(int).tolist(),
                guided=images[(roi, "guided")],
                unguided=images[(roi, "unguided")],
                guided_score=rows["guided"]["predicted"].to_numpy(float),
                unguided_score=rows["unguided"]["predicted"].to_numpy(float),
                selected=rows["guided"]["selected"].to_numpy(bool),
            )
        )
    return results


def dataset_top(predictor: nn.Module, images: np.ndarray, stim_ids: np.ndarray, n: int) -> pd.DataFrame:
    """The ``n`` dataset images the predictor ranks highest: stim_id and predicted activation."""
    scores = predict_images(predictor, images)
    order = np.argsort(-scores, kind="stable")[:n]
    return pd.DataFrame({"stim_id": stim_ids[order], "predicted": scores[order]})


def attribute_readout_rows(
    predictors: dict[str, nn.Module], attribute_rois: dict[str, str], images: np.ndarray, dataset: str, seed: int
) -> list[dict]:
    """How well each guidance target reads its planted attribute on the dataset's images.

    Pearson r between the predicted activation and the pixel attribute: guidance can only move an
    attribute the encoder represents, so the planted-attribute check is judged against this.
    """
    rows = []
    for roi, attribute in sorted(attribute_rois.items()):
        predicted = predict_images(predictors[roi], images)
        measured = pixel_attributes(images, [attribute])[attribute]
        r = float(np.corrcoef(predicted, measured)[0, 1])
        rows += _rows(roi, {f"attr_{attribute}_readout_r": r}, dataset, "train", seed)
    return rows


__all__ = [
    "GUIDABLE_SCHEDULERS",
    "GUIDANCE_IMAGES",
    "GUIDANCE_SHIFTS",
    "BrainDiVEConfig",
    "CLIPInput",
    "OpenClipImageEncoder",
    "ROIPredictor",
    "SynthesisResult",
    "AttentionStore",
    "attention_store",
    "attribute_readout_rows",
    "clip_input_for",
    "dataset_top",
    "decode_latents",
    "evaluation_rows",
    "evaluation_table",
    "fit_roi_predictors",
    "guidance_latents",
    "guidance_score",
    "image_seeds",
    "lowpass",
    "paired_attribute_test",
    "pixel_attributes",
    "planted_attribute_rois",
    "predict_images",
    "predictor_features",
    "predictors_from_encoder",
    "read_synthesis",
    "read_synthesis_config",
    "results_from_synthesis",
    "roi_predictor_from_encoder",
    "roi_readout",
    "sag_correction",
    "sag_degraded_latents",
    "sample_batch",
    "select_top",
    "synthesise_roi",
    "unguided_images",
    "write_synthesis",
    "zero_shot_shares",
]
