"""The flow decoder (Yeung et al. 2024) and its ridge baseline.

fMRI (a window of TRs, flattened) -> MLP -> a vector broadcast over the flow grid, concatenated
with the frozen image features of the first frame (resampled to the grid) -> 3 residual 1x1
convolution blocks with dropout -> per grid cell, logits over the k flow codes (cross-entropy
against the nearest code). At inference the flow of a cell is the probability-weighted sum of the
code centroids. The paper does not say where (or whether) it pools globally; this decoder keeps
the per-cell head without global pooling.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from sklearn.linear_model import RidgeCV
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from neurogaze.brain.dynamic.flow import FlowCodebook
from neurogaze.errors import DataValidationError
from neurogaze.runlog import resolve_device

logger = logging.getLogger(__name__)


@dataclass
class FlowDecoderConfig:
    n_codes: int = 40
    grid: int = 32  # flow targets are grid x grid cells
    fmri_dim: int = 256  # the MLP's output, broadcast over the grid
    hidden: int = 1024  # the MLP's hidden width
    channels: int = 256  # width of the 1x1 convolution blocks
    n_blocks: int = 3
    dropout: float = 0.3
    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


class _Block(nn.Module):
    def __init__(self, channels: int, dropout: float):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.GELU(), nn.Dropout(dropout),
                                  nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class FlowNetwork(nn.Module):
    def __init__(self, n_inputs: int, image_channels: int, n_codes: int, config: FlowDecoderConfig):
        super().__init__()
        self.grid = config.grid
        self.mlp = nn.Sequential(nn.Linear(n_inputs, config.hidden), nn.GELU(), nn.Dropout(config.dropout),
                                 nn.Linear(config.hidden, config.fmri_dim))
        self.stem = nn.Conv2d(config.fmri_dim + image_channels, config.channels, 1)
        self.blocks = nn.Sequential(*[_Block(config.channels, config.dropout) for _ in range(config.n_blocks)])
        self.head = nn.Conv2d(config.channels, n_codes, 1)

    def forward(self, fmri: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """(B, n_inputs), (B, C, h, w) -> logits (B, k, grid, grid)."""
        brain = self.mlp(fmri)[:, :, None, None].expand(-1, -1, self.grid, self.grid)
        image = F.adaptive_avg_pool2d(image, self.grid) if image.shape[-1] != self.grid else image
        return self.head(self.blocks(F.gelu(self.stem(torch.cat([brain, image], dim=1)))))


def _check_inputs(fmri: np.ndarray, image: np.ndarray, flow: np.ndarray | None, grid: int) -> None:
    if fmri.ndim != 2 or image.ndim != 4 or len(image) != len(fmri):
        raise DataValidationError(None, "fmri / image features", "(n, inputs) and (n, C, h, w) with the same n",
                                  f"{fmri.shape} and {image.shape}")
    if flow is not None and flow.shape != (len(fmri), grid, grid, 2):
        raise DataValidationError(None, "flow targets", f"shape {(len(fmri), grid, grid, 2)}", flow.shape)


class FlowDecoder:
    """scikit-learn style: ``fit(fmri, image_features, flow)`` -> self; ``predict_proba`` and
    ``predict`` (flow, grid cells per frame). Fitted: ``codebook_``, ``network_``, ``history_``."""

    def __init__(self, config: FlowDecoderConfig | None = None):
        self.config = config or FlowDecoderConfig()

    def fit(self, fmri: np.ndarray, image: np.ndarray, flow: np.ndarray, state: dict | None = None,
            save: Callable[[dict], None] | None = None, device: str = "cpu") -> FlowDecoder:
        """Train on ``device``; ``state`` is a checkpoint ``save`` wrote after an earlier epoch
        (resume; bit-exact on the CPU, where dropout draws from the saved global generator)."""
        device = resolve_device(device)
        config = self.config
        _check_inputs(fmri, image, flow, config.grid)
        self.codebook_ = FlowCodebook(config.n_codes, config.seed).fit(flow)
        labels = torch.from_numpy(self.codebook_.encode(flow)).long().to(device)
        torch.manual_seed(config.seed)
        self.network_ = FlowNetwork(fmri.shape[1], image.shape[1], len(self.codebook_.centroids_), config).to(device)
        optimiser = torch.optim.AdamW(self.network_.parameters(), lr=config.learning_rate,
                                      weight_decay=config.weight_decay)
        generator = torch.Generator().manual_seed(config.seed)
        self.history_, start = [], 0
        if state is not None:
            self.network_.load_state_dict(state["network"])
            optimiser.load_state_dict(state["optimiser"])
            generator.set_state(state["generator"])
            torch.set_rng_state(state["torch_rng"])  # dropout draws from the global generator
            self.history_, start = list(state["history"]), state["epoch"]
        x, z = torch.from_numpy(fmri).float().to(device), torch.from_numpy(image).float().to(device)
        for epoch in tqdm(range(start, config.epochs), desc="flow decoder", initial=start, total=config.epochs,
                          disable=None):
            self.network_.train()
            order = torch.randperm(len(x), generator=generator)
            losses = []
            for batch in order.to(device).split(config.batch_size):
                loss = F.cross_entropy(self.network_(x[batch], z[batch]), labels[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                losses.append(loss.item() * len(batch))
            self.history_.append({"epoch": epoch + 1, "loss": sum(losses) / len(x)})
            if save is not None:
                # copies: state_dict() tensors are the live ones the next epoch updates
                save(copy.deepcopy({"network": self.network_.state_dict(), "optimiser": optimiser.state_dict(),
                      "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                      "history": self.history_, "epoch": epoch + 1}))
        self.network_.eval()
        return self

    @torch.no_grad()
    def predict_proba(self, fmri: np.ndarray, image: np.ndarray) -> np.ndarray:
        """(n, grid, grid, k) code probabilities."""
        _check_inputs(fmri, image, None, self.config.grid)
        self.network_.eval()
        device = next(self.network_.parameters()).device
        logits = self.network_(torch.from_numpy(fmri).float().to(device), torch.from_numpy(image).float().to(device))
        return torch.softmax(logits, dim=1).permute(0, 2, 3, 1).cpu().numpy()

    def predict(self, fmri: np.ndarray, image: np.ndarray) -> np.ndarray:
        return self.codebook_.decode(self.predict_proba(fmri, image)).astype(np.float32)

    def state(self) -> dict:
        """What a model file holds besides the config: the weights and the codebook."""
        return {"network": {k: v.cpu() for k, v in self.network_.state_dict().items()},
                "centroids": self.codebook_.centroids_,
                "n_inputs": self.network_.mlp[0].in_features, "image_channels": self.network_.stem.in_channels
                - self.config.fmri_dim, "history": self.history_}

    @classmethod
    def from_state(cls, config: FlowDecoderConfig, state: dict) -> FlowDecoder:
        decoder = cls(config)
        decoder.codebook_ = FlowCodebook(config.n_codes, config.seed)
        decoder.codebook_.centroids_ = np.asarray(state["centroids"], dtype=np.float32)
        decoder.network_ = FlowNetwork(state["n_inputs"], state["image_channels"], len(decoder.codebook_.centroids_),
                                       config)
        decoder.network_.load_state_dict(state["network"])
        decoder.network_.eval()
        decoder.history_ = list(state["history"])
        return decoder


class RidgeFlowDecoder:
    """The baseline: ridge regression (alpha by generalised cross-validation) from the fMRI window
    to the flattened flow grid; no image features."""

    def __init__(self, alphas=(1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e5)):
        self.alphas = alphas

    def fit(self, fmri: np.ndarray, flow: np.ndarray) -> RidgeFlowDecoder:
        self.shape_ = flow.shape[1:]
        self.ridge_ = RidgeCV(alphas=self.alphas).fit(fmri, flow.reshape(len(flow), -1))
        return self

    def predict(self, fmri: np.ndarray) -> np.ndarray:
        return self.ridge_.predict(fmri).reshape(len(fmri), *self.shape_).astype(np.float32)
