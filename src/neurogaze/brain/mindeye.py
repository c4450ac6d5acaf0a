"""MindEye (Scotti et al., NeurIPS 2023): fMRI voxels -> CLIP image tokens, for retrieval and reconstruction.

The backbone maps voxels to the CLIP ViT's full token grid (257 x 768 for ViT-L/14): its raw
output conditions the diffusion prior (reconstruction), and a per-token projector feeds the
contrastive loss (retrieval). Training uses BiMixCo (voxel mixup with a bidirectional soft
contrastive loss) for the first third of the epochs, then SoftCLIP (soft targets from the
CLIP-CLIP similarities, temperature annealed), plus 30 x the prior's loss.

State-dict names follow the released checkpoints (``voxel2clip.lin0/mlp/lin1/projector``, the
prior's ``net.*`` and ``noise_scheduler.*``), so :func:`load_released_mindeye` opens a released
file; :func:`save_checkpoint` writes a self-describing one (config, state, optimiser, scheduler,
RNG, code version) from which :func:`fit_mindeye` resumes to the same final weights.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from neurogaze.brain.mindeye_prior import DiffusionPrior, PriorConfig
from neurogaze.errors import ConfigError, DataValidationError
from neurogaze.io import write_torch

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "neurogaze.mindeye/1"


@dataclass(frozen=True)
class MindEyeConfig:
    """Architecture and training schedule. Defaults are the paper's (NSD subj01, ViT-L/14 tokens)."""

    n_voxels: int = 15724
    hidden: int = 4096
    n_blocks: int = 4
    n_tokens: int = 257
    token_dim: int = 768
    projector_hidden: int = 2048
    dropout_in: float = 0.5
    dropout_block: float = 0.15
    # schedule and losses
    epochs: int = 240
    batch_size: int = 32
    max_lr: float = 3e-4
    weight_decay: float = 1e-2
    mixup_fraction: float = 0.33
    mixco_beta: float = 0.15
    mixco_select: float = 0.5
    bimixco_temperature: float = 0.006
    softclip_temperature: tuple[float, float] = (0.004, 0.0075)
    use_prior: bool = True
    prior_weight: float = 30.0
    prior_depth: int = 6
    prior_dim_head: int = 64
    prior_heads: int = 12
    prior_timesteps: int = 100
    prior_cond_drop: float = 0.2
    image_augment: bool = True
    seed: int = 0

    @property
    def out_dim(self) -> int:
        return self.n_tokens * self.token_dim

    @property
    def prior(self) -> PriorConfig:
        return PriorConfig(n_tokens=self.n_tokens, dim=self.token_dim, depth=self.prior_depth,
                           dim_head=self.prior_dim_head, heads=self.prior_heads,
                           timesteps=self.prior_timesteps, cond_drop=self.prior_cond_drop)

    @classmethod
    def from_dict(cls, values: dict) -> MindEyeConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(None, f"mindeye.{unknown[0]}", f"unknown key (allowed: {sorted(known)})")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**values)


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


class BrainNetwork(nn.Module):
    """Linear -> LN -> GELU -> dropout, residual MLP blocks, Linear to all tokens, token projector."""

    def __init__(self, config: MindEyeConfig):
        super().__init__()
        h, d = config.hidden, config.token_dim
        self.n_tokens, self.token_dim = config.n_tokens, d
        self.lin0 = nn.Sequential(nn.Linear(config.n_voxels, h), nn.LayerNorm(h), nn.GELU(), nn.Dropout(config.dropout_in))
        self.mlp = nn.ModuleList(
            nn.Sequential(nn.Linear(h, h), nn.LayerNorm(h), nn.GELU(), nn.Dropout(config.dropout_block))
            for _ in range(config.n_blocks)
        )
        self.lin1 = nn.Linear(h, config.out_dim)
        p = config.projector_hidden
        self.projector = nn.Sequential(
            nn.LayerNorm(d), nn.GELU(), nn.Linear(d, p),
            nn.LayerNorm(p), nn.GELU(), nn.Linear(p, p),
            nn.LayerNorm(p), nn.GELU(), nn.Linear(p, d),
        )

    def forward(self, voxels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, n_voxels) -> (tokens for the prior, projected tokens for retrieval), each (b, n, d)."""
        x = self.lin0(voxels)
        for block in self.mlp:
            x = block(x) + x
        tokens = self.lin1(x).view(len(x), self.n_tokens, self.token_dim)
        return tokens, self.projector(tokens)


class MindEye(DiffusionPrior):
    """The released layout: the diffusion prior with the brain network attached as ``voxel2clip``."""

    def __init__(self, config: MindEyeConfig):
        super().__init__(config.prior)
        self.config = config
        self.voxel2clip = BrainNetwork(config)


def count_parameters(config: MindEyeConfig, include_prior: bool = True) -> int:
    """Parameters of the model at ``config``'s size, built on the meta device (no memory used)."""
    with torch.device("meta"):
        model = MindEye(config) if include_prior else BrainNetwork(config)
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------
# Targets: all CLIP image tokens after the final norm and projection, scaled by the CLS norm
# ---------------------------------------------------------------------------------------------


def clip_image_tokens(visual: nn.Module, normalised_pixels: torch.Tensor) -> torch.Tensor:
    """Every token of an open_clip ViT after ``ln_post`` and ``proj``: (b, 1 + patches, embed_dim).

    The transformer's output is caught with a forward hook, so any open_clip VisionTransformer
    works (ViT-L/14 at 224 px gives 257 x 768); the CLS row equals ``encode_image``'s output.
    """
    captured: list[torch.Tensor] = []
    handle = visual.transformer.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        visual(normalised_pixels)
    finally:
        handle.remove()
    hidden = captured[-1]
    if hidden.shape[0] != normalised_pixels.shape[0]:  # sequence-first transformers
        hidden = hidden.transpose(0, 1)
    tokens = visual.ln_post(hidden)
    return tokens @ visual.proj if visual.proj is not None else tokens


def scale_by_cls_norm(tokens: torch.Tensor) -> torch.Tensor:
    """Divide every token by its image's CLS-token norm (the paper's target normalisation)."""
    return tokens / tokens[:, 0].norm(dim=-1)[:, None, None]


class TokenTargets:
    """Targets from a backbone: [0, 1] pixels -> (optionally augmented) CLS-scaled tokens."""

    def __init__(self, backbone, augment: bool):
        self.backbone = backbone
        self.normalise = backbone._split_preprocess()[1]
        size = int(backbone.pixels([np.zeros((8, 8, 3), np.uint8)]).shape[-1])
        self.augment = image_augmentation(size) if augment else None

    @torch.no_grad()
    def __call__(self, pixels: torch.Tensor, train: bool = True) -> torch.Tensor:
        pixels = pixels.to(self.backbone.device)
        if train and self.augment is not None:
            pixels = torch.stack([self.augment(image) for image in pixels])
        tokens = clip_image_tokens(self.backbone.model.visual, self.normalise(pixels)).float()
        return scale_by_cls_norm(tokens)


def image_augmentation(size: int):
    """The paper's target-side augmentations (its kornia pipeline, with torchvision)."""
    from torchvision.transforms import v2

    return v2.Compose([
        v2.RandomApply([v2.RandomResizedCrop(size, scale=(0.6, 1.0), antialias=True)], p=0.3),
        v2.RandomHorizontalFlip(p=0.5),
        v2.RandomApply([v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)], p=0.3),
        v2.RandomGrayscale(p=0.3),
    ])


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
# Training
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
    from neurogaze import __version__

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


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[MindEye, dict]:
    """A model from a neurogaze MindEye checkpoint, and the whole payload (for resuming)."""
    path = Path(path)
    payload = torch.load(path, map_location=device, weights_only=False)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise DataValidationError(path, "format", f"a {CHECKPOINT_FORMAT} checkpoint (use load_released_mindeye "
                                  "for the released files)", payload.get("format") if isinstance(payload, dict) else type(payload))
    model = MindEye(MindEyeConfig.from_dict(payload["config"])).to(device)
    model.load_state_dict(payload["state_dict"])
    return model, payload


def _check_training_data(voxels: np.ndarray, pixels: torch.Tensor, config: MindEyeConfig, source) -> None:
    if voxels.ndim != 2 or voxels.shape[1] != config.n_voxels:
        raise DataValidationError(source, "responses", f"(n_stim, {config.n_voxels}) voxels", voxels.shape)
    if len(pixels) != len(voxels):
        raise DataValidationError(source, "stim_ids", f"one image per response row ({len(voxels)})", len(pixels))
    if not np.all(np.isfinite(voxels)):
        raise DataValidationError(source, "responses", "finite values", "NaN or inf")
    if len(voxels) < config.batch_size:
        raise DataValidationError(source, "responses", f"at least batch_size={config.batch_size} training rows", len(voxels))


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
) -> MindEye:
    """Train MindEye on (voxels, [0, 1] pixels); resume from ``checkpoint`` if it exists.

    A checkpoint is written after every epoch, with the RNG state, so an interrupted run picks up
    where it stopped and ends with the same weights as an uninterrupted one. ``stop_after_epoch``
    ends the run early (after that many epochs in total), as an interruption would.
    """
    from tqdm.auto import tqdm

    _check_training_data(voxels, pixels, config, source)
    device = torch.device(device)
    torch.manual_seed(config.seed)
    model = MindEye(config).to(device)
    steps_per_epoch = len(voxels) // config.batch_size
    optimizer, scheduler = make_optimizer(model, config, steps_per_epoch)
    state = TrainState()
    if checkpoint is not None and Path(checkpoint).exists():
        state = _resume(Path(checkpoint), model, optimizer, scheduler, config, device)
        logger.info("resumed MindEye from %s at epoch %d", checkpoint, state.epoch)
    if not config.use_prior:
        model.net.requires_grad_(False)
    voxels_t = torch.from_numpy(np.ascontiguousarray(voxels, dtype=np.float32))
    target_of = _target_source(targets, pixels, config.image_augment, device)
    end = config.epochs if stop_after_epoch is None else min(stop_after_epoch, config.epochs)
    bar = tqdm(range(state.epoch, end), desc="MindEye", disable=not progress, initial=state.epoch, total=config.epochs)
    for epoch in bar:
        model.train()
        record = _train_epoch(model, voxels_t, target_of, optimizer, scheduler, config, epoch, device)
        state.epoch = epoch + 1
        state.history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.3f}", top1=f"{record['train_top1']:.2f}")
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, scheduler, state)
    model.eval()
    return model


def _resume(path: Path, model, optimizer, scheduler, config: MindEyeConfig, device) -> TrainState:
    payload = torch.load(path, map_location=device, weights_only=False)
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise DataValidationError(path, "format", f"a {CHECKPOINT_FORMAT} checkpoint", payload.get("format"))
    saved = MindEyeConfig.from_dict(payload["config"])
    if saved != config:
        changed = sorted(k for k in asdict(config) if asdict(config)[k] != asdict(saved)[k])
        raise ConfigError(path, f"mindeye.{changed[0]}", "differs from the checkpoint being resumed; delete it to start over")
    model.load_state_dict(payload["state_dict"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    torch.set_rng_state(payload["rng_state"].cpu())
    if payload.get("cuda_rng_state") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([state.cpu() for state in payload["cuda_rng_state"]])
    return TrainState(epoch=int(payload["epoch"]), history=list(payload["history"]))


def _target_source(targets: TokenTargets, pixels: torch.Tensor, augment: bool, device):
    """index -> target tokens: augmented afresh each step, or (no augmentation) embedded once up front."""
    if augment:
        return lambda index: targets(pixels[index], train=True)
    cached = torch.from_numpy(target_tokens(targets, pixels)).to(device)
    return lambda index: cached[index]


def _train_epoch(model: MindEye, voxels: torch.Tensor, target_of, optimizer, scheduler, config: MindEyeConfig,
                 epoch: int, device) -> dict:
    order = torch.randperm(len(voxels))
    n_steps = len(voxels) // config.batch_size
    mixing = epoch < n_mixup_epochs(config)
    temperature = epoch_temperature(config, epoch)
    totals = {"loss": 0.0, "nce": 0.0, "prior": 0.0, "train_top1": 0.0}
    for step in range(n_steps):
        index = order[step * config.batch_size:(step + 1) * config.batch_size]
        batch = voxels[index].to(device)
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


# ---------------------------------------------------------------------------------------------
# Inference
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def predict_tokens(model: MindEye, voxels: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(backbone tokens for the prior, projected tokens for retrieval) of each voxel row."""
    model.eval()
    device = next(model.parameters()).device
    if voxels.ndim != 2 or voxels.shape[1] != model.config.n_voxels:
        raise DataValidationError(None, "responses", f"(n, {model.config.n_voxels}) voxels", voxels.shape)
    raw, projected = [], []
    for start in range(0, len(voxels), batch_size):
        chunk = torch.from_numpy(np.asarray(voxels[start:start + batch_size], dtype=np.float32)).to(device)
        tokens, proj = model.voxel2clip(chunk)
        raw.append(tokens.cpu().numpy())
        projected.append(proj.cpu().numpy())
    return np.concatenate(raw), np.concatenate(projected)


@torch.no_grad()
def sample_prior_tokens(model: MindEye, brain_tokens: np.ndarray, cond_scale: float = 1.0, seed: int = 0,
                        batch_size: int = 64) -> np.ndarray:
    """Diffusion-prior samples of CLIP image tokens from the backbone's tokens (reconstruction's condition)."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    chunks = [model.sample(torch.from_numpy(np.asarray(brain_tokens[i:i + batch_size], dtype=np.float32)).to(device),
                           cond_scale=cond_scale, generator=generator).cpu().numpy()
              for i in range(0, len(brain_tokens), batch_size)]
    return np.concatenate(chunks)


@torch.no_grad()
def target_tokens(targets: TokenTargets, pixels: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Un-augmented CLS-scaled image tokens of [0, 1] pixels."""
    return np.concatenate([targets(pixels[i:i + batch_size], train=False).cpu().numpy()
                           for i in range(0, len(pixels), batch_size)])


def stimulus_pixels(stimuli, stim_ids, targets: TokenTargets) -> torch.Tensor:
    """[0, 1] pixels at the backbone's resolution of the stimuli ``stim_ids`` (a StimulusSet), in order."""
    known = set(stimuli.stim_ids)
    missing = [s for s in stim_ids if s not in known]
    if missing:
        raise DataValidationError(stimuli.root / "index.parquet", "stim_id",
                                  f"every stimulus of the brain responses ({len(missing)} missing)", missing[0])
    images = [image for _, image in stimuli.iter_images(list(stim_ids))]
    return targets.backbone.pixels(images)


# ---------------------------------------------------------------------------------------------
# Released checkpoints
# ---------------------------------------------------------------------------------------------


def config_from_state_dict(state: dict, base: MindEyeConfig | None = None) -> MindEyeConfig:
    """Read the architecture off a released state dict's shapes (``voxel2clip.*`` and ``net.*``)."""
    base = base or MindEyeConfig()
    try:
        hidden, n_voxels = state["voxel2clip.lin0.0.weight"].shape
        out_dim = state["voxel2clip.lin1.weight"].shape[0]
        projector_hidden, token_dim = state["voxel2clip.projector.2.weight"].shape
    except KeyError as exc:
        raise DataValidationError(None, str(exc.args[0]), "a MindEye state dict (voxel2clip.lin0/lin1/projector)") from exc
    n_blocks = len({k.split(".")[2] for k in state if k.startswith("voxel2clip.mlp.")})
    changes = {"n_voxels": int(n_voxels), "hidden": int(hidden), "n_blocks": n_blocks, "token_dim": int(token_dim),
                   "n_tokens": int(out_dim) // int(token_dim), "projector_hidden": int(projector_hidden),
                   "use_prior": any(k.startswith("net.") for k in state)}
    if changes["use_prior"]:
        depth = len({k.split(".")[3] for k in state if k.startswith("net.causal_transformer.layers.")})
        inner = state["net.causal_transformer.layers.0.0.to_q.weight"].shape[0]
        dim_head = state["net.causal_transformer.layers.0.0.null_kv"].shape[1]
        changes.update(prior_depth=depth, prior_dim_head=int(dim_head), prior_heads=int(inner) // int(dim_head),
                       prior_timesteps=int(state["noise_scheduler.betas"].shape[0]))
    return replace(base, **changes)


def load_released_mindeye(path: str | os.PathLike, device: torch.device | str = "cpu",
                          base: MindEyeConfig | None = None) -> MindEye:
    """Open a released MindEye checkpoint (``{'model_state_dict': ...}`` or a bare state dict)."""
    path = Path(path)
    payload = torch.load(path, map_location="cpu", weights_only=False)
    state = payload.get("model_state_dict", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict):
        raise DataValidationError(path, "model_state_dict", "a dict of tensors", type(payload).__name__)
    try:
        config = config_from_state_dict(state, base)
    except DataValidationError as exc:
        raise DataValidationError(path, exc.field, exc.expected) from exc
    model = MindEye(config)
    own = model.state_dict()
    if not config.use_prior:  # a backbone-only release: the prior keeps its fresh initialisation
        state = {**{k: v for k, v in own.items() if not k.startswith("voxel2clip.")}, **state}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise DataValidationError(path, (missing or unexpected)[0], "the released MindEye key layout",
                                  f"{len(missing)} missing, {len(unexpected)} unexpected keys")
    for key, value in state.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise DataValidationError(path, key, f"shape {tuple(own[key].shape)}", tuple(value.shape))
    model.load_state_dict(state)
    return model.to(device).eval()


__all__ = [
    "BrainNetwork", "MindEye", "MindEyeConfig", "TokenTargets", "clip_image_tokens", "config_from_state_dict",
    "cosine_anneal", "count_parameters", "epoch_temperature", "fit_mindeye", "image_augmentation",
    "load_checkpoint", "load_released_mindeye", "mixco", "mixco_nce", "predict_tokens", "sample_prior_tokens", "save_checkpoint",
    "scale_by_cls_norm", "soft_clip_loss", "stimulus_pixels", "target_tokens",
]
