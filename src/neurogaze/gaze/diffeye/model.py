"""DiffEye's denoiser: a 1-D U-Net over a trajectory (2 channels x L samples) conditioned on
image patch features (facts from Kara, Nisar & Rehg 2025; the authors' code was not readable).

* Blocks of 1-D convolutions (residual, GroupNorm, SiLU) on the way down (stride-2 convolution)
  and up (nearest upsampling + convolution, skip connections); every block is followed by
  self-attention over the trajectory and cross-attention from the trajectory to the image patch
  tokens.
* The diffusion timestep: sinusoidal embedding -> Linear -> SiLU -> Linear, added in every
  residual block.
* Corresponding Positional Embedding (CPE): one fixed 2-D sinusoidal grid P (half the channels
  code x, half y). Trajectory sample i gets P read bilinearly at its own (x_i, y_i) (at a
  coarser level: at the mean position of the samples it pools), the image patches get P
  resampled bilinearly to the patch grid; both use pixel-centre alignment, so a gaze point
  and the patch it lies on share their code. No parameters: the code is added to the queries
  of both attentions and to the image tokens (keys and values of the cross-attention: a
  positional embedding of the patches, so an attended patch also reports where it is).
  ``cpe=False`` removes it (the paper's ablation).
* Classifier-free guidance: a learned null condition (one token per patch) replaces the image
  tokens of a random ``cond_dropout`` fraction of a training batch; at sampling
  eps = eps_null + s (eps_image - eps_null).

Our choices where the paper leaves one: widths, heads, a learned null token grid, the CPE
grid's resolution, the guidance scale (config ``diffeye``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from neurogaze.errors import ConfigError


@dataclass(frozen=True)
class DiffEyeConfig:
    """DiffEye settings (config section ``diffeye`` without the workflow's keys). Defaults are
    the paper's where it gives them (L, rate, T, betas, DDIM steps, Adam lr, image size, patch
    grid) and ours otherwise."""

    length: int = 720
    rate_hz: float = 240.0
    channels: tuple[int, ...] = (64, 128, 256)
    n_heads: int = 4
    time_dim: int = 256
    feature_dim: int = 384
    patch_grid: int = 32
    cpe: bool = True
    cpe_grid: int = 64
    cond_dropout: float = 0.1
    guidance_scale: float = 2.0
    train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 2e-2
    beta_schedule: str = "linear"
    inference_steps: int = 50
    learning_rate: float = 1e-4
    batch_size: int = 32
    train_steps: int = 100000
    checkpoint_every: int = 1000
    n_samples: int = 10
    test_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self):
        levels = len(self.channels)
        if levels < 1 or any(int(c) < 8 or int(c) % 8 for c in self.channels):
            raise ConfigError(None, "diffeye.channels", f"widths that are multiples of 8, got {self.channels}")
        if any(int(c) % self.n_heads for c in self.channels):
            raise ConfigError(None, "diffeye.n_heads", f"a divisor of every width {self.channels}")
        if self.length % 2 ** (levels - 1):
            raise ConfigError(None, "diffeye.length", f"a multiple of {2 ** (levels - 1)} ({levels} U-Net levels), "
                                                      f"got {self.length}")
        if not 0.0 <= self.cond_dropout < 1.0:
            raise ConfigError(None, "diffeye.cond_dropout", f"a fraction in [0, 1), got {self.cond_dropout}")
        if self.time_dim % 2:
            raise ConfigError(None, "diffeye.time_dim", f"an even number, got {self.time_dim}")

    def to_dict(self) -> dict:
        values = asdict(self)
        values["channels"] = list(self.channels)
        return values


def sinusoidal(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer sinusoids of ``positions`` (any shape) -> (..., dim)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = positions.float()[..., None] * frequencies
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


def cpe_grid(size: int, dim: int) -> torch.Tensor:
    """The shared grid P: (dim, size, size); the first dim / 2 channels code the column, the rest
    the row, in grid-cell units."""
    cells = torch.arange(size)
    columns = sinusoidal(cells, dim // 2).T[:, None, :].expand(-1, size, -1)
    rows = sinusoidal(cells, dim // 2).T[:, :, None].expand(-1, -1, size)
    return torch.cat([columns, rows], dim=0)


def cpe_at_points(grid: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """P read bilinearly at image fractions ``xy`` (B, n, 2) -> (B, n, dim)."""
    where = (xy.clamp(0.0, 1.0) * 2.0 - 1.0)[:, None]  # (B, 1, n, 2), grid_sample wants [-1, 1]
    values = F.grid_sample(grid[None].expand(len(xy), -1, -1, -1), where, mode="bilinear",
                           padding_mode="border", align_corners=False)
    return values[:, :, 0].transpose(1, 2)


def cpe_at_patches(grid: torch.Tensor, patch_grid: int) -> torch.Tensor:
    """P resampled to a ``patch_grid`` x ``patch_grid`` patch grid -> (patch_grid**2, dim), row-major."""
    values = F.interpolate(grid[None], size=(patch_grid, patch_grid), mode="bilinear", align_corners=False)
    return values[0].flatten(1).T


class ResidualBlock(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, time_dim: int):
        super().__init__()
        self.first = nn.Sequential(nn.GroupNorm(8, channels_in), nn.SiLU(),
                                   nn.Conv1d(channels_in, channels_out, 3, padding=1))
        self.time = nn.Linear(time_dim, channels_out)
        self.second = nn.Sequential(nn.GroupNorm(8, channels_out), nn.SiLU(),
                                    nn.Conv1d(channels_out, channels_out, 3, padding=1))
        self.skip = nn.Conv1d(channels_in, channels_out, 1) if channels_in != channels_out else nn.Identity()

    def forward(self, h: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        out = self.first(h) + self.time(time)[:, :, None]
        return self.skip(h) + self.second(out)


class AttentionBlock(nn.Module):
    """Self-attention over the trajectory, then cross-attention to the image tokens."""

    def __init__(self, channels: int, feature_dim: int, n_heads: int):
        super().__init__()
        self.self_norm = nn.LayerNorm(channels)
        self.self_attention = nn.MultiheadAttention(channels, n_heads, batch_first=True)
        self.cross_norm = nn.LayerNorm(channels)
        self.image = nn.Linear(feature_dim, channels)
        self.cross_attention = nn.MultiheadAttention(channels, n_heads, batch_first=True)

    def forward(self, h: torch.Tensor, tokens: torch.Tensor, point_code, patch_code) -> torch.Tensor:
        x = h.transpose(1, 2)
        query = self.self_norm(x)
        if point_code is not None:
            query = query + point_code
        x = x + self.self_attention(query, query, query, need_weights=False)[0]
        query = self.cross_norm(x)
        image = self.image(tokens)
        if point_code is not None:
            # the patch's code rides in its value too: what a point reads back says where the
            # patches it attends to lie, the direction to move in at high noise
            query, image = query + point_code, image + patch_code
        x = x + self.cross_attention(query, image, image, need_weights=False)[0]
        return x.transpose(1, 2)


class DiffEyeUNet(nn.Module):
    """epsilon(x_t, t, image tokens): x_t (B, 2, L) in [-1, 1] (x, y image fractions mapped to
    [-1, 1]), t (B,), features (B, feature_dim, G, G); ``drop`` (B,) bool marks the rows that get
    the null condition."""

    def __init__(self, config: DiffEyeConfig):
        super().__init__()
        self.config = config
        channels = [int(c) for c in config.channels]
        self.time = nn.Sequential(nn.Linear(channels[0], config.time_dim), nn.SiLU(),
                                  nn.Linear(config.time_dim, config.time_dim))
        self.null = nn.Parameter(torch.zeros(1, config.patch_grid**2, config.feature_dim))
        self.stem = nn.Conv1d(2, channels[0], 3, padding=1)
        self.down_res, self.down_attn, self.down_sample = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        previous = channels[0]
        for level, width in enumerate(channels):
            self.down_res.append(ResidualBlock(previous, width, config.time_dim))
            self.down_attn.append(AttentionBlock(width, config.feature_dim, config.n_heads))
            last = level == len(channels) - 1
            self.down_sample.append(nn.Identity() if last else nn.Conv1d(width, width, 3, stride=2, padding=1))
            previous = width
        self.mid_res = ResidualBlock(previous, previous, config.time_dim)
        self.mid_attn = AttentionBlock(previous, config.feature_dim, config.n_heads)
        self.up_res, self.up_attn, self.up_sample = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for level in reversed(range(len(channels))):
            width = channels[level]
            self.up_res.append(ResidualBlock(previous + width, width, config.time_dim))
            self.up_attn.append(AttentionBlock(width, config.feature_dim, config.n_heads))
            below = channels[level - 1] if level else width
            self.up_sample.append(nn.Identity() if level == 0 else
                                  nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                nn.Conv1d(width, below, 3, padding=1)))
            previous = below if level else width
        self.head = nn.Sequential(nn.GroupNorm(8, channels[0]), nn.SiLU(), nn.Conv1d(channels[0], 2, 3, padding=1))
        # P at each width, fixed: buffers travel with the module and are rebuilt from the config
        for width in sorted(set(channels)):
            grid = cpe_grid(config.cpe_grid, width)
            self.register_buffer(f"cpe_grid_{width}", grid, persistent=False)
            self.register_buffer(f"cpe_patch_{width}", cpe_at_patches(grid, config.patch_grid), persistent=False)

    def _codes(self, xy: torch.Tensor, width: int, length: int):
        """CPE of the (pooled) trajectory points and of the patches at one level, or (None, None)."""
        if not self.config.cpe:
            return None, None
        pooled = F.adaptive_avg_pool1d(xy.transpose(1, 2), length).transpose(1, 2)
        return cpe_at_points(getattr(self, f"cpe_grid_{width}"), pooled), getattr(self, f"cpe_patch_{width}")

    def tokens(self, features: torch.Tensor, drop: torch.Tensor | None) -> torch.Tensor:
        tokens = features.flatten(2).transpose(1, 2)
        if tokens.shape[1:] != self.null.shape[1:]:
            expected = f"image features of {self.null.shape[2]} channels on a {self.config.patch_grid}^2 grid"
            raise ConfigError(None, "diffeye.patch_grid", f"{expected}, got {tuple(features.shape)}")
        if drop is None:
            return tokens
        return torch.where(drop[:, None, None], self.null.expand(len(tokens), -1, -1), tokens)

    def forward(self, x: torch.Tensor, t: torch.Tensor, features: torch.Tensor,
                drop: torch.Tensor | None = None) -> torch.Tensor:
        tokens = self.tokens(features, drop)
        time = self.time(sinusoidal(t, self.config.channels[0]).to(x.dtype))
        xy = ((x + 1.0) / 2.0).transpose(1, 2)  # (B, L, 2) image fractions of the noisy sample
        h = self.stem(x)
        skips = []
        for res, attn, down in zip(self.down_res, self.down_attn, self.down_sample):
            h = res(h, time)
            h = attn(h, tokens, *self._codes(xy, h.shape[1], h.shape[2]))
            skips.append(h)
            h = down(h)
        h = self.mid_res(h, time)
        h = self.mid_attn(h, tokens, *self._codes(xy, h.shape[1], h.shape[2]))
        for res, attn, up in zip(self.up_res, self.up_attn, self.up_sample):
            h = res(torch.cat([h, skips.pop()], dim=1), time)
            h = attn(h, tokens, *self._codes(xy, h.shape[1], h.shape[2]))
            h = up(h)
        return self.head(h)
