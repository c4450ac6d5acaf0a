"""OAT (Fang et al. 2024): an encoder over the layout's object tokens and a decoder over the
fixated objects, read out by object-attention heads (facts from HKUST-NISL/oat_eccv24).

Object token: a small CNN's appearance feature (d_model / 2) next to a positional code (d_model
/ 2) = concat(W[row], W[col], W[is_target]) truncated, where W is a table fitted so that
cos(W_i, W_j) = exp(-(i - j)^2 / (2 sigma^2)) with equal row norms. The encoder reads the N
objects (flag 0) and the target token: the target's image at the target's row and column, flag 1
(reference ``generate3DInput``: the token is the target's layout position). The decoder reads BOS
(the layout's centre, an all-ones image, flag 0) then the fixated objects, with 1-D sinusoidal
positions; a step on the target object has flag 1, as in the reference, which is how the decoder
knows the search has reached the target. Each head
scores decoder step t against encoder token k as Linear(enc_k) . Linear(dec_t) / sqrt(d_model),
plus a zero column; Linear(2 -> 1) merges the heads. Classes: 0..N-1 objects, N the target token
(the scanpath ends), N+1 PAD.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from neurogaze.errors import ConfigError


@dataclass(frozen=True)
class OatConfig:
    """OAT settings (config section ``oat`` without the workflow's keys); the defaults are the
    paper's (reference ``run.py`` / ``models.py``) and the schema's."""

    d_model: int = 512
    n_heads: int = 4
    encoder_layers: int = 4
    decoder_layers: int = 4
    feedforward: int = 512
    dropout: float = 0.1
    patch_size: tuple[int, int] = (150, 93)
    attention_heads: int = 2
    pe_positions: int = 14
    pe_sigma: float = 2.0
    pe_iterations: int = 10000
    pe_learning_rate: float = 0.01
    learning_rate: float = 1e-4
    batch_size: int = 20
    grad_clip: float = 1.0
    max_epochs: int = 500
    patience: int = 30
    max_length: int = 30
    n_samples: int = 100
    seed: int = 1234

    def __post_init__(self):
        if self.d_model % 2 or (self.d_model // 2) % 1:
            raise ConfigError(None, "oat.d_model", f"an even number, got {self.d_model}")
        if self.d_model % self.n_heads:
            raise ConfigError(None, "oat.n_heads", f"a divisor of d_model {self.d_model}, got {self.n_heads}")
        for name in ("encoder_layers", "decoder_layers", "feedforward", "attention_heads", "pe_positions",
                     "batch_size", "max_epochs", "patience", "max_length", "n_samples"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(None, f"oat.{name}", f"a positive integer, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        values = asdict(self)
        values["patch_size"] = list(self.patch_size)
        return values


def fit_positional_table(n_positions: int, dim: int, sigma: float, iterations: int, learning_rate: float,
                         seed: int, period: int = 0) -> torch.Tensor:
    """W (n_positions, dim) with cos(W_i, W_j) -> exp(-d(i, j)^2 / (2 sigma^2)) and equal row
    norms; d = |i - j|, or on a ring of ``period`` positions the circular distance."""
    generator = torch.Generator().manual_seed(seed)
    table = nn.Parameter(torch.randn(n_positions, dim, generator=generator))
    index = torch.arange(n_positions, dtype=torch.float32)
    distance = (index[:, None] - index[None]).abs()
    if period:
        distance = torch.minimum(distance, period - distance)
    target = torch.exp(-(distance**2) / (2 * sigma**2))
    optimiser = torch.optim.Adam([table], lr=learning_rate)
    pairs = max(n_positions * (n_positions - 1), 1)
    for _ in range(iterations):
        optimiser.zero_grad()
        unit = F.normalize(table, dim=1)
        norms = table.norm(dim=1)
        loss = (((unit @ unit.T - target) ** 2).sum() + ((norms - norms.mean()) ** 2).mean()) / pairs
        loss.backward()
        optimiser.step()
    return table.detach()


def conv_output_features(patch_size: tuple[int, int]) -> int:
    height, width = patch_size
    height, width = (height - 4) // 5, (width - 4) // 5
    height, width = (height - 2) // 3, (width - 2) // 3
    if height < 1 or width < 1:
        raise ConfigError(None, "oat.patch_size", f"patches of at least 29 x 29 px for the CNN, got {patch_size}")
    return 32 * height * width


class AppearanceCNN(nn.Module):
    """Conv 3->16 (5x5) + ReLU + MaxPool 5, Conv 16->32 (3x3) + ReLU + MaxPool 3, Linear -> out
    (1440 -> 256 at OAT's 150 x 93 px patches)."""

    def __init__(self, patch_size: tuple[int, int], out_features: int):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 5), nn.ReLU(), nn.MaxPool2d(5),
                                      nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(3))
        self.fc = nn.Linear(conv_output_features(patch_size), out_features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # (P, 3, H, W) in [0, 1]
        return self.fc(self.features(images).flatten(1))


def sinusoidal_table(length: int, dim: int) -> torch.Tensor:
    position = torch.arange(length, dtype=torch.float32)[:, None]
    rate = torch.exp(-torch.arange(0, dim, 2, dtype=torch.float32) * math.log(10000.0) / dim)
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)
    return table


class ObjectAttentionHead(nn.Module):
    def __init__(self, d_model: int):
        super().__init__()
        self.encode = nn.Linear(d_model, d_model)
        self.decode = nn.Linear(d_model, d_model)
        self.scale = math.sqrt(d_model)

    def forward(self, memory: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
        scores = self.decode(decoded) @ self.encode(memory).transpose(1, 2)  # (B, T, N + 1)
        return torch.cat([scores, scores.new_zeros(*scores.shape[:2], 1)], dim=-1) / self.scale


class OAT(nn.Module):
    def __init__(self, config: OatConfig, positional_table: torch.Tensor):
        super().__init__()
        self.config = config
        half = config.d_model // 2
        self.register_buffer("pe_table", positional_table.clone())
        self.cnn = AppearanceCNN(tuple(config.patch_size), half)
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(config.d_model, config.n_heads, config.feedforward, config.dropout,
                                       batch_first=True), config.encoder_layers)
        self.decoder = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(config.d_model, config.n_heads, config.feedforward, config.dropout,
                                       batch_first=True), config.decoder_layers)
        self.heads = nn.ModuleList(ObjectAttentionHead(config.d_model) for _ in range(config.attention_heads))
        self.merge = nn.Linear(config.attention_heads, 1)
        self.register_buffer("sequence_pe", sinusoidal_table(config.max_length + 2, config.d_model))
        self.dropout = nn.Dropout(config.dropout)
        for parameter in self.parameters():
            if parameter.dim() > 1:
                nn.init.xavier_uniform_(parameter)

    def position_code(self, rows: torch.Tensor, cols: torch.Tensor, flag: torch.Tensor) -> torch.Tensor:
        """concat(W[row], W[col], W[flag]) truncated to d_model / 2."""
        code = torch.cat([self.pe_table[rows], self.pe_table[cols], self.pe_table[flag]], dim=-1)
        return code[..., : self.config.d_model // 2]

    def encode(self, features: torch.Tensor, grid: torch.Tensor, target_feature: torch.Tensor,
               target_index: torch.Tensor) -> torch.Tensor:
        """features (B, N, d/2) of the objects, grid (B, N, 2), target_feature (B, d/2), target_index
        (B,) the target's layout position -> memory (B, N+1, d)."""
        batch, n = grid.shape[:2]
        zeros = torch.zeros(batch, n, dtype=torch.long, device=grid.device)
        objects = torch.cat([features, self.position_code(grid[..., 0], grid[..., 1], zeros)], dim=-1)
        where = grid.gather(1, target_index[:, None, None].expand(-1, 1, 2))  # (B, 1, 2)
        ones = torch.ones(batch, 1, dtype=torch.long, device=grid.device)
        target = torch.cat([target_feature[:, None], self.position_code(where[..., 0], where[..., 1], ones)], dim=-1)
        return self.encoder(torch.cat([objects, target], dim=1))

    def decode(self, memory: torch.Tensor, step_features: torch.Tensor, step_grid: torch.Tensor,
               step_flag: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, T, N + 2) for the next object after each decoder step; ``step_flag`` (B, T)
        is 1 where the step's object is the target."""
        length = step_features.shape[1]
        tokens = torch.cat([step_features, self.position_code(step_grid[..., 0], step_grid[..., 1], step_flag)],
                           dim=-1)
        tokens = self.dropout(tokens + self.sequence_pe[:length])
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=tokens.device), diagonal=1)
        decoded = self.decoder(tokens, memory, tgt_mask=causal, tgt_key_padding_mask=padding)
        scores = torch.stack([head(memory, decoded) for head in self.heads], dim=-1)
        return self.merge(scores).squeeze(-1)


def centre_cell(grid: np.ndarray) -> np.ndarray:
    """BOS's (row, column): the layout's centre, rounded to the grid."""
    return np.round((grid.max(axis=0) + grid.min(axis=0)) / 2).astype(int)
