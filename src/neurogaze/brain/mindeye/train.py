"""MindEye training: BiMixCo, then SoftCLIP, plus the diffusion prior's loss; a resumable loop.

Each step trains on one trial of each image in the batch (``trials`` "single"): the official
``Train_MindEye.py`` takes repeat ``step % 3`` of the whole batch; an image with fewer trials
(NSD's 37 sessions leave some with one or two) takes that index modulo its count (our choice; the
official data files hide how they fill them). ``trials`` "mean" trains on the repeat averages.
Training uses BiMixCo (voxel mixup with a bidirectional soft contrastive loss) for the first
``mixup_fraction`` of the epochs, then SoftCLIP (soft targets from the CLIP-CLIP similarities,
temperature annealed along half a cosine), plus ``prior_weight`` x the prior's loss; AdamW
(no decay on biases and norms) under a OneCycle schedule.

:func:`save_checkpoint` writes a self-describing checkpoint (config, state, optimiser, scheduler,
RNG, code version) after every epoch, from which :func:`fit_mindeye` resumes to the same final
weights; a checkpoint of another config is discarded, with a log line, and training starts afresh.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from neurogaze import __version__
from neurogaze.brain.mindeye.model import MindEye, MindEyeConfig, TokenTargets, load_torch_file, target_tokens
from neurogaze.errors import DataValidationError
from neurogaze.io import write_torch

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "neurogaze.mindeye/1"


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------


def mixco(voxels: torch.Tensor, beta: float = 0.15, select_prob: float = 0.5, generator: torch.Generator | None = None):
    """Mix a random half of the samples with a permuted partner, weights ~ Beta(beta, beta).

    Returns (mixed voxels, permutation, per-sample weight of the sample itself: 1 if unmixed).
    """
    n = voxels.shape[0]
    perm = torch.randperm(n, generator=generator)
    u = torch.rand(n, generator=generator)
    betas = torch.distributions.Beta(beta, beta).sample((n,))  # global RNG: Beta takes no generator
    select = u <= select_prob
    betas = torch.where(select, betas, torch.ones_like(betas)).to(voxels)
    weights = betas.view(-1, *[1] * (voxels.ndim - 1))
    mixed = voxels * weights + voxels[perm.to(voxels.device)] * (1 - weights)
    return mixed, perm, betas


def mixco_nce(preds: torch.Tensor, targets: torch.Tensor, temperature: float, perm: torch.Tensor,
              betas: torch.Tensor) -> torch.Tensor:
    """Bidirectional soft contrastive loss: a mixed sample's target is beta on itself, 1-beta on its partner."""
    logits = preds @ targets.T / temperature
    n = len(preds)
    probs = torch.diag(betas)
    # accumulate, so a sample permuted onto itself keeps all its weight (assignment would zero it)
    probs = probs.index_put((torch.arange(n, device=preds.device), perm.to(preds.device)), 1 - betas, accumulate=True)
    forward = -(logits.log_softmax(-1) * probs).sum(-1).mean()
    backward = -(logits.T.log_softmax(-1) * probs.T).sum(-1).mean()
    return (forward + backward) / 2


def soft_clip_loss(preds: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """Cross-entropy of brain-CLIP logits against the softmax of CLIP-CLIP similarities, both ways."""
    teacher = (targets @ targets.T / temperature).softmax(-1)
    logits = preds @ targets.T / temperature
    forward = -(logits.log_softmax(-1) * teacher).sum(-1).mean()
    backward = -(logits.T.log_softmax(-1) * teacher).sum(-1).mean()
    return (forward + backward) / 2


def cosine_anneal(start: float, end: float, steps: int) -> np.ndarray:
    """``start`` at step 0 to ``end`` at the last step along half a cosine (the SoftCLIP temperature)."""
    if steps <= 1:
        return np.array([start] * max(steps, 0), dtype=np.float64)
    return end + (start - end) / 2 * (1 + np.cos(np.pi * np.arange(steps) / (steps - 1)))


def n_mixup_epochs(config: MindEyeConfig) -> int:
    return int(config.mixup_fraction * config.epochs)


def epoch_temperature(config: MindEyeConfig, epoch: int) -> float:
    """BiMixCo's fixed temperature, then SoftCLIP's annealed one."""
    n_mix = n_mixup_epochs(config)
    if epoch < n_mix:
        return config.bimixco_temperature
    return float(cosine_anneal(*config.softclip_temperature, config.epochs - n_mix)[epoch - n_mix])


# ---------------------------------------------------------------------------------------------
# Optimiser and checkpoints
# ---------------------------------------------------------------------------------------------


def _no_decay(name: str, param: torch.Tensor) -> bool:
    """Biases, norms' gains and other vectors get no weight decay (as in the paper's groups)."""
    return param.ndim < 2 or name.endswith(".bias")


def make_optimizer(model: MindEye, config: MindEyeConfig, steps_per_epoch: int):
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in params if not _no_decay(n, p)], "weight_decay": config.weight_decay},
        {"params": [p for n, p in params if _no_decay(n, p)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.max_lr)
    total = config.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.max_lr, total_steps=total, final_div_factor=1000,
        pct_start=min(2 / config.epochs, 0.5),
    )
    return optimizer, scheduler


@dataclass
class TrainState:
    epoch: int = 0
    history: list[dict] = field(default_factory=list)


def save_checkpoint(path: str | os.PathLike, model: MindEye, optimizer=None, scheduler=None,
                    state: TrainState | None = None, extra: dict | None = None) -> None:
    """Write {config, state_dict, optimiser, scheduler, epoch, RNG state, version} atomically."""
    state = state or TrainState()
    payload = {
        "format": CHECKPOINT_FORMAT,
        "neurogaze_version": __version__,
        "config": asdict(model.config),
        "state_dict": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "epoch": state.epoch,
        "history": state.history,
        "rng_state": torch.get_rng_state(),
        "cuda_rng_state": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "extra": extra or {},
    }
    write_torch(path, payload)


def checkpoint_config(values: dict) -> MindEyeConfig:
    """The MindEyeConfig a checkpoint stores (``asdict`` of it: lists back to tuples)."""
    return MindEyeConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def read_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> dict:
    """The payload of a neurogaze MindEye checkpoint; anything else is named."""
    path = Path(path)
    payload = load_torch_file(path, device)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise DataValidationError(path, "format", f"a {CHECKPOINT_FORMAT} checkpoint (use load_released_mindeye "
                                  "for the released files)", got)
    return payload


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[MindEye, dict]:
    """A model from a neurogaze MindEye checkpoint, and the whole payload (for resuming)."""
    payload = read_checkpoint(path, device)
    model = MindEye(checkpoint_config(payload["config"])).to(device)
    model.load_state_dict(payload["state_dict"])
    return model, payload


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def _check_training_data(voxels: np.ndarray, pixels: torch.Tensor, config: MindEyeConfig, source,
                         counts: np.ndarray | None = None) -> None:
    single = config.trials == "single"
    if voxels.ndim != (3 if single else 2) or voxels.shape[-1] != config.n_voxels:
        shape = f"(n_stim, repeats, {config.n_voxels})" if single else f"(n_stim, {config.n_voxels})"
        raise DataValidationError(source, "trial_responses" if single else "responses", f"{shape} voxels",
                                  voxels.shape)
    if single and (counts is None or np.shape(counts) != (len(voxels),) or np.min(counts, initial=1) < 1):
        raise DataValidationError(source, "trial_rows", "at least one trial for every training image",
                                  "no counts" if counts is None else f"counts {np.min(counts, initial=1)}..")
    if len(pixels) != len(voxels):
        raise DataValidationError(source, "stim_ids", f"one image per response row ({len(voxels)})", len(pixels))
    if not np.all(np.isfinite(voxels)):
        raise DataValidationError(source, "responses", "finite values", "NaN or inf")
    if len(voxels) < config.batch_size:
        raise DataValidationError(source, "responses", f"at least batch_size={config.batch_size} training rows",
                                  len(voxels))


def fit_mindeye(
    voxels: np.ndarray,
    pixels: torch.Tensor,
    targets: TokenTargets,
    config: MindEyeConfig,
    checkpoint: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    stop_after_epoch: int | None = None,
    source: str | os.PathLike | None = None,
    counts: np.ndarray | None = None,
) -> MindEye:
    """Train MindEye on (voxels, [0, 1] pixels); resume from ``checkpoint`` if it exists.

    ``voxels``: (n_images, n_voxels) averages, or with ``config.trials`` "single" (n_images, R,
    n_voxels) trials, image i's first ``counts[i]`` slots filled
    (:meth:`neurogaze.data.contracts.BrainResponses.trials_of`).

    A checkpoint is written after every epoch, with the RNG state, so an interrupted run picks up
    where it stopped and ends with the same weights as an uninterrupted one. A checkpoint of
    another config is discarded (logged). The checkpoint does not know the data: a caller that
    may change the data keys the checkpoint's folder on it (the ``train`` stage does).
    ``stop_after_epoch`` ends the run early (after that many epochs in total), as an interruption would.
    """
    _check_training_data(voxels, pixels, config, source, counts)
    device = torch.device(device)
    torch.manual_seed(config.seed)
    model = MindEye(config).to(device)
    steps_per_epoch = len(voxels) // config.batch_size
    optimizer, scheduler = make_optimizer(model, config, steps_per_epoch)
    state = TrainState()
    if checkpoint is not None and Path(checkpoint).exists():
        state = _resume(Path(checkpoint), model, optimizer, scheduler, config, device)
    if not config.use_prior:
        model.net.requires_grad_(False)
    voxels_t = torch.from_numpy(np.ascontiguousarray(voxels, dtype=np.float32))
    counts_t = None if counts is None else torch.as_tensor(np.asarray(counts, dtype=np.int64))
    target_of = _target_source(targets, pixels, config.image_augment, device)
    end = config.epochs if stop_after_epoch is None else min(stop_after_epoch, config.epochs)
    bar = tqdm(range(state.epoch, end), desc="MindEye", disable=not progress, initial=state.epoch, total=config.epochs)
    for epoch in bar:
        model.train()
        record = _train_epoch(model, voxels_t, target_of, optimizer, scheduler, config, epoch, device, counts_t)
        state.epoch = epoch + 1
        state.history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.3f}", top1=f"{record['train_top1']:.2f}")
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, scheduler, state)
    model.eval()
    return model


def _resume(path: Path, model, optimizer, scheduler, config: MindEyeConfig, device) -> TrainState:
    """Load a checkpoint's state into model, optimiser, scheduler and RNG; a checkpoint of another
    config is discarded (the model keeps its fresh initialisation) and training starts at epoch 0."""
    payload = read_checkpoint(path, device)
    saved = checkpoint_config(payload["config"])
    if saved != config:
        changed = sorted(k for k, v in asdict(config).items() if asdict(saved)[k] != v)
        logger.info("MindEye: discarding the checkpoint %s (trained with other settings: %s); starting afresh",
                    path, ", ".join(changed))
        path.unlink()
        return TrainState()
    model.load_state_dict(payload["state_dict"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    torch.set_rng_state(payload["rng_state"].cpu())
    if payload.get("cuda_rng_state") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([state.cpu() for state in payload["cuda_rng_state"]])
    logger.info("resumed MindEye from %s at epoch %d", path, payload["epoch"])
    return TrainState(epoch=int(payload["epoch"]), history=list(payload["history"]))


def _target_source(targets: TokenTargets, pixels: torch.Tensor, augment: bool, device):
    """index -> target tokens: augmented afresh each step, or (no augmentation) embedded once up front."""
    if augment:
        return lambda index: targets(pixels[index], train=True)
    cached = torch.from_numpy(target_tokens(targets, pixels)).to(device)
    return lambda index: cached[index]


def step_trials(voxels: torch.Tensor, counts: torch.Tensor | None, index: torch.Tensor, step: int) -> torch.Tensor:
    """The voxels of images ``index`` at one step: their repeat-average rows (``counts`` None), or
    the trial ``step % R`` of each (modulo the image's own count), R being the most trials an image has."""
    if counts is None:
        return voxels[index]
    return voxels[index, (step % voxels.shape[1]) % counts[index]]


def _train_epoch(model: MindEye, voxels: torch.Tensor, target_of, optimizer, scheduler, config: MindEyeConfig,
                 epoch: int, device, counts: torch.Tensor | None = None) -> dict:
    order = torch.randperm(len(voxels))
    n_steps = len(voxels) // config.batch_size
    mixing = epoch < n_mixup_epochs(config)
    temperature = epoch_temperature(config, epoch)
    totals = {"loss": 0.0, "nce": 0.0, "prior": 0.0, "train_top1": 0.0}
    for step in range(n_steps):
        index = order[step * config.batch_size:(step + 1) * config.batch_size]
        batch = step_trials(voxels, counts, index, step).to(device)
        target = target_of(index)
        if mixing:
            batch, perm, betas = mixco(batch, config.mixco_beta, config.mixco_select)
        brain_tokens, projected = model.voxel2clip(batch)
        preds = F.normalize(projected.flatten(1), dim=-1)
        target_flat = F.normalize(target.flatten(1), dim=-1)
        if mixing:
            nce = mixco_nce(preds, target_flat, temperature, perm, betas)
        else:
            nce = soft_clip_loss(preds, target_flat, temperature)
        loss = nce
        prior = torch.zeros(())
        if config.use_prior:
            prior, _ = model.prior_loss(brain_tokens, target)
            loss = nce + config.prior_weight * prior
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            hits = (preds @ target_flat.T).argmax(1) == torch.arange(len(preds), device=preds.device)
        for key, value in (("loss", loss), ("nce", nce), ("prior", prior), ("train_top1", hits.float().mean())):
            totals[key] += float(value.detach()) / n_steps
    return {"epoch": epoch, "temperature": temperature, "mixco": mixing, **totals}


__all__ = [
    "CHECKPOINT_FORMAT", "TrainState", "checkpoint_config", "cosine_anneal", "epoch_temperature", "fit_mindeye",
    "load_checkpoint", "make_optimizer", "mixco", "mixco_nce", "n_mixup_epochs", "read_checkpoint",
    "save_checkpoint", "soft_clip_loss", "step_trials",
]
