"""MindEye (Scotti et al., NeurIPS 2023): fMRI voxels -> CLIP image tokens, for retrieval and reconstruction.

The brain network maps voxels to the CLIP ViT's full token grid (257 x 768 for ViT-L/14): its raw
output conditions the diffusion prior (reconstruction), and a per-token projector feeds the
contrastive loss (retrieval). The targets are every token of the backbone's image tower after its
final norm and projection, divided by the CLS token's norm.

State-dict names follow the released checkpoints (``voxel2clip.lin0/mlp/lin1/projector``, the
prior's ``net.*`` and ``noise_scheduler.*``), so :func:`load_released_mindeye` opens a released
file. Training, losses and neurogaze's own checkpoints are in :mod:`neurogaze.brain.mindeye.train`.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.transforms import v2

from neurogaze.brain.mindeye.prior import DiffusionPrior, PriorConfig
from neurogaze.errors import ConfigError, DataValidationError

TRIAL_MODES = ("single", "mean")


@dataclass(frozen=True)
class MindEyeConfig:
    """Architecture and training schedule (config section ``mindeye.model``). Defaults are the
    paper's (NSD subj01, ViT-L/14 tokens); ``seed`` derives from the pipeline's master seed."""

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
    # "single": each step trains on one trial per image, the step's repeat index (step % 3 in the
    # official Train_MindEye.py); "mean": on the repeat averages
    trials: str = "single"
    seed: int = 0

    def __post_init__(self):
        if self.trials not in TRIAL_MODES:
            raise ConfigError(None, "mindeye.model.trials", f"one of {TRIAL_MODES}, not {self.trials!r}")

    @property
    def out_dim(self) -> int:
        return self.n_tokens * self.token_dim

    @property
    def prior(self) -> PriorConfig:
        return PriorConfig(n_tokens=self.n_tokens, dim=self.token_dim, depth=self.prior_depth,
                           dim_head=self.prior_dim_head, heads=self.prior_heads,
                           timesteps=self.prior_timesteps, cond_drop=self.prior_cond_drop)


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


class BrainNetwork(nn.Module):
    """Linear -> LN -> GELU -> dropout, residual MLP blocks, Linear to all tokens, token projector."""

    def __init__(self, config: MindEyeConfig):
        super().__init__()
        h, d = config.hidden, config.token_dim
        self.n_tokens, self.token_dim = config.n_tokens, d
        self.lin0 = nn.Sequential(nn.Linear(config.n_voxels, h), nn.LayerNorm(h), nn.GELU(),
                                  nn.Dropout(config.dropout_in))
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


def scale_by_cls_norm(tokens: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """Divide every token by its image's CLS-token norm (+ ``eps``): the paper's target
    normalisation (no eps), and the release's renormalisation of prior samples (eps 1e-6)."""
    return tokens / (tokens[:, 0].norm(dim=-1)[:, None, None] + eps)


def backbone_resolution(backbone) -> int:
    """The side, in pixels, of the images a backbone embeds."""
    return int(backbone.pixels([np.zeros((8, 8, 3), np.uint8)]).shape[-1])


class TokenTargets:
    """Targets from a backbone: [0, 1] pixels -> (optionally augmented) CLS-scaled tokens."""

    def __init__(self, backbone, augment: bool):
        self.backbone = backbone
        self.normalise = backbone._split_preprocess()[1]
        self.augment = image_augmentation(backbone_resolution(backbone)) if augment else None

    @torch.no_grad()
    def __call__(self, pixels: torch.Tensor, train: bool = True) -> torch.Tensor:
        pixels = pixels.to(self.backbone.device)
        if train and self.augment is not None:
            pixels = torch.stack([self.augment(image) for image in pixels])
        tokens = clip_image_tokens(self.backbone.model.visual, self.normalise(pixels)).float()
        return scale_by_cls_norm(tokens)


class LeadingTokens:
    """The first ``n_tokens`` rows of a backbone's targets: with 1, the CLS token alone (the pooled
    image embedding, CLS-norm scaled). The demo uses it because its synthetic NSD plants only the
    pooled embedding in the voxels, which does not determine the patch tokens."""

    def __init__(self, targets: TokenTargets, n_tokens: int):
        self.targets, self.backbone, self.n_tokens = targets, targets.backbone, n_tokens

    def __call__(self, pixels: torch.Tensor, train: bool = True) -> torch.Tensor:
        return self.targets(pixels, train=train)[:, :self.n_tokens]


def token_targets(backbone, config: MindEyeConfig, augment: bool) -> TokenTargets | LeadingTokens:
    """A built backbone's CLS-scaled token targets, checked against the model's token grid: all of
    the backbone's tokens, or (``n_tokens`` 1) its CLS token alone."""
    targets = TokenTargets(backbone, augment=augment)
    size = backbone_resolution(backbone)
    n_tokens, token_dim = tuple(targets(torch.zeros(1, 3, size, size), train=False).shape[1:])
    if token_dim != config.token_dim or config.n_tokens not in (1, n_tokens):
        raise ConfigError(None, "mindeye.model.n_tokens", f"tokens ({n_tokens} or 1, {token_dim}) to match backbone "
                          f"{backbone.name!r}, not ({config.n_tokens}, {config.token_dim})")
    return targets if config.n_tokens == n_tokens else LeadingTokens(targets, config.n_tokens)


def image_augmentation(size: int):
    """The paper's target-side augmentations (its kornia pipeline, with torchvision)."""
    return v2.Compose([
        v2.RandomApply([v2.RandomResizedCrop(size, scale=(0.6, 1.0), antialias=True)], p=0.3),
        v2.RandomHorizontalFlip(p=0.5),
        v2.RandomApply([v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)], p=0.3),
        v2.RandomGrayscale(p=0.3),
    ])


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


# ---------------------------------------------------------------------------------------------
# Released checkpoints
# ---------------------------------------------------------------------------------------------


def load_torch_file(path: str | os.PathLike, device: torch.device | str = "cpu"):
    """``torch.load`` of a checkpoint; a file that is no torch archive is named."""
    try:
        return torch.load(path, map_location=device, weights_only=False)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise DataValidationError(path, "<file>", "a torch checkpoint", f"unreadable ({exc})") from exc


def config_from_state_dict(state: dict, base: MindEyeConfig | None = None) -> MindEyeConfig:
    """Read the architecture off a released state dict's shapes (``voxel2clip.*`` and ``net.*``)."""
    base = base or MindEyeConfig()
    try:
        hidden, n_voxels = state["voxel2clip.lin0.0.weight"].shape
        out_dim = state["voxel2clip.lin1.weight"].shape[0]
        projector_hidden, token_dim = state["voxel2clip.projector.2.weight"].shape
    except KeyError as exc:
        raise DataValidationError(None, str(exc.args[0]),
                                  "a MindEye state dict (voxel2clip.lin0/lin1/projector)") from exc
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
    return released_mindeye(load_torch_file(path), path, device, base)


def released_mindeye(payload, path: str | os.PathLike, device: torch.device | str = "cpu",
                     base: MindEyeConfig | None = None) -> MindEye:
    """The model of a released checkpoint's loaded ``payload`` (read from ``path``, named in errors)."""
    path = Path(path)
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
    return load_released_state(model, state, path, "the released MindEye key layout", device)


def load_released_state(model: nn.Module, state: dict, path: Path, layout: str,
                        device: torch.device | str = "cpu") -> nn.Module:
    """``model`` with a released ``state`` loaded, in eval mode on ``device``; a key missing or left
    over, or a tensor of another shape, is named with the file before anything is loaded."""
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise DataValidationError(path, (missing or unexpected)[0], layout,
                                  f"{len(missing)} missing, {len(unexpected)} unexpected keys")
    for key, value in state.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise DataValidationError(path, key, f"shape {tuple(own[key].shape)}", tuple(value.shape))
    model.load_state_dict(state)
    return model.to(device).eval()


__all__ = [
    "BrainNetwork", "LeadingTokens", "MindEye", "MindEyeConfig", "TokenTargets", "backbone_resolution",
    "load_released_state",
    "clip_image_tokens", "config_from_state_dict", "count_parameters", "image_augmentation", "load_released_mindeye",
    "load_torch_file",
    "predict_tokens", "released_mindeye", "scale_by_cls_norm", "stimulus_pixels",
    "target_tokens", "token_targets",
]
