"""DiffEye's diffusion: training with diffusers' DDPMScheduler (T steps, linear betas, epsilon
prediction, MSE, Adam), DDIM sampling of k trajectories per image with classifier-free
guidance, and the conversion of samples to scanpaths (the project's event detector) and
saliency maps.

Trajectories live in the model as (B, 2, L) in [-1, 1] (image fractions x 2 - 1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler
from torch.nn import functional as F
from tqdm.auto import tqdm

from neurogaze.data.gaze.detection import DetectorConfig, ScreenGeometry, detect_fixations
from neurogaze.gaze.diffeye.model import DiffEyeConfig, DiffEyeUNet
from neurogaze.metrics import saliency as sal

logger = logging.getLogger(__name__)


def training_scheduler(config: DiffEyeConfig) -> DDPMScheduler:
    return DDPMScheduler(num_train_timesteps=config.train_timesteps, beta_start=config.beta_start,
                         beta_end=config.beta_end, beta_schedule=config.beta_schedule,
                         prediction_type="epsilon", clip_sample=False)


def sampling_scheduler(config: DiffEyeConfig, steps: int | None = None) -> DDIMScheduler:
    scheduler = DDIMScheduler.from_config(training_scheduler(config).config)
    scheduler.set_timesteps(steps or config.inference_steps)
    return scheduler


def to_model_space(xy: np.ndarray) -> torch.Tensor:
    """(n, L, 2) image fractions -> (n, 2, L) in [-1, 1]."""
    return torch.as_tensor(np.asarray(xy, dtype=np.float32) * 2.0 - 1.0).transpose(1, 2).contiguous()


def from_model_space(x: torch.Tensor) -> np.ndarray:
    return ((x.clamp(-1.0, 1.0) + 1.0) / 2.0).transpose(1, 2).cpu().numpy().astype(np.float64)


def loss_of(model: DiffEyeUNet, scheduler: DDPMScheduler, clean: torch.Tensor, features: torch.Tensor,
            generator: torch.Generator) -> torch.Tensor:
    """The epsilon-prediction MSE at uniformly drawn timesteps, the image dropped for a
    ``cond_dropout`` fraction of the rows (so the null condition is learned)."""
    config = model.config
    noise = torch.randn(clean.shape, generator=generator)
    t = torch.randint(0, config.train_timesteps, (len(clean),), generator=generator)
    drop = torch.rand(len(clean), generator=generator) < config.cond_dropout
    noisy = scheduler.add_noise(clean, noise, t)
    return F.mse_loss(model(noisy, t, features, drop), noise)


def train(config: DiffEyeConfig, xy: np.ndarray, image_of: np.ndarray, features: torch.Tensor,
          state: dict | None = None, save: Callable[[dict], None] | None = None) -> tuple[DiffEyeUNet, dict]:
    """Adam at ``learning_rate`` for ``train_steps`` batches of ``batch_size`` trajectories drawn
    uniformly (trajectory ``n`` is on image ``image_of[n]`` of ``features``). ``state`` is a
    checkpoint to continue from; ``save`` receives one every ``checkpoint_every`` steps and at
    the end."""
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        model = DiffEyeUNet(config)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    generator = torch.Generator().manual_seed(config.seed)
    scheduler = training_scheduler(config)
    clean_all = to_model_space(xy)
    image_of = torch.tensor(np.asarray(image_of, dtype=np.int64))
    progress = {"step": 0, "history": []}
    if state is not None:
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        generator.set_state(state["torch_rng"])
        progress = state["progress"]
        logger.info("diffeye: resuming after step %d", progress["step"])
    model.train()
    bar = tqdm(total=config.train_steps, initial=progress["step"], desc="diffeye train", mininterval=5.0)
    losses = []
    while progress["step"] < config.train_steps:
        batch = torch.randint(0, len(clean_all), (config.batch_size,), generator=generator)
        optimiser.zero_grad()
        loss = loss_of(model, scheduler, clean_all[batch], features[image_of[batch]], generator)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        progress["step"] += 1
        bar.update(1)
        if progress["step"] % config.checkpoint_every == 0 or progress["step"] == config.train_steps:
            progress["history"].append({"step": progress["step"], "train_loss": float(np.mean(losses))})
            bar.set_postfix(loss=f"{np.mean(losses):.4f}")
            losses = []
            if save is not None:
                save({"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                      "torch_rng": generator.get_state(), "progress": progress})
    bar.close()
    return model.eval(), progress


@torch.no_grad()
def sample(model: DiffEyeUNet, features: torch.Tensor, k: int, seed: int, steps: int | None = None,
           guidance_scale: float | None = None, batch_size: int = 64) -> np.ndarray:
    """k DDIM samples (eta = 0) per image -> (n_images, k, L, 2) image fractions. Images x samples
    are processed in batches of ``batch_size`` rows; the guided and the null pass share one
    forward. The initial noise comes from ``seed`` alone, so the same seed gives the same samples
    whatever the batch size."""
    config = model.config
    scale = config.guidance_scale if guidance_scale is None else guidance_scale
    model.eval()
    rows = features.repeat_interleave(k, dim=0)
    noise = torch.randn((len(rows), 2, config.length), generator=torch.Generator().manual_seed(seed))
    out = []
    for start in range(0, len(rows), batch_size):
        out.append(_denoise(model, noise[start:start + batch_size], rows[start:start + batch_size], steps, scale))
    return from_model_space(torch.cat(out)).reshape(len(features), k, config.length, 2)


def _denoise(model: DiffEyeUNet, x: torch.Tensor, features: torch.Tensor, steps: int | None,
             scale: float) -> torch.Tensor:
    scheduler = sampling_scheduler(model.config, steps)
    doubled = torch.cat([features, features])
    drop = torch.cat([torch.zeros(len(x), dtype=torch.bool), torch.ones(len(x), dtype=torch.bool)])
    for t in scheduler.timesteps:
        timesteps = torch.full((2 * len(x),), int(t), dtype=torch.long)
        guided, null = model(torch.cat([x, x]), timesteps, doubled, drop).chunk(2)
        x = scheduler.step(null + scale * (guided - null), t, x, eta=0.0).prev_sample
    return x


def trajectory_scanpath(xy: np.ndarray, size: tuple[int, int], rate_hz: float, geometry: ScreenGeometry,
                        detector: DetectorConfig) -> np.ndarray:
    """One (L, 2) trajectory in image fractions -> (n, 3) fixations (x px, y px, duration ms)
    through the project's event detector."""
    width, height = size
    x, y = xy[:, 0] * width, xy[:, 1] * height
    t_ms = np.arange(len(xy)) * 1000.0 / rate_hz
    _, fixations = detect_fixations(x, y, t_ms, geometry, detector)
    return fixations[["x", "y", "duration_ms"]].to_numpy(dtype=float)


def saliency_from_scanpaths(scanpaths: list[np.ndarray], size: tuple[int, int], sigma_px: float) -> np.ndarray:
    """The fixations of all samples of one image, blurred: a density over (height, width)."""
    width, height = size
    points = [s[:, :2] for s in scanpaths if len(s)]
    fixations = np.concatenate(points) if points else np.zeros((0, 2))
    return sal.fixation_density(sal.to_pixels(fixations, width, height), (height, width), sigma_px)
