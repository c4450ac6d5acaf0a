"""Each voxel's encoder weight projected onto the manifold of natural-image CLIP embeddings.

For a voxel weight ``w`` (unit-normalised) and pool embeddings ``e_j`` split into unit directions
``u_j = e_j / |e_j|`` and norms ``|e_j|``, BrainSCUBA's projection is

    s = softmax_j(T * <w, u_j>)                       (T = 150)
    p = normalise(sum_j s_j u_j) * sum_j s_j |e_j|    (the CLIP norm scale the captioner expects)

The paper's pools hold millions of embeddings, so the softmax is computed online over chunks of
user-supplied ``.npy`` shards (the flash-attention recurrence): every voxel keeps a running
maximum logit ``m``, the running sum of ``exp(logit - m)``, and the running weighted sums of
directions and norms, all rescaled by ``exp(m_old - m_new)`` when the maximum rises. Memory is
bounded by the chunk (``chunk x d`` pool rows, ``voxels x chunk`` logits) and the state
(``voxels x d``), never ``voxels x pool``. After each shard the state is saved to a resume
folder, so an interrupted projection over a large pool restarts at the next shard.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from neurogaze.errors import DataValidationError
from neurogaze.io import atomic_path, fingerprint, resume_folder

logger = logging.getLogger(__name__)

STATE_FILE = "state.pt"


@dataclass(frozen=True)
class ProjectionConfig:
    """The softmax projection (``brainscuba.projection``); the defaults are the paper's."""

    temperature: float = 150.0
    chunk_size: int = 4096  # pool rows per step: memory is chunk_size x (d + n_voxels) floats
    voxel_batch: int = 0  # voxels per step (0: all of them)

    def __post_init__(self):
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.chunk_size < 1 or self.voxel_batch < 0:
            raise ValueError("chunk_size must be positive and voxel_batch >= 0")


# ---------------------------------------------------------------------------------------------
# Pool shards
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shard:
    """One ``.npy`` file of pool embeddings, read a chunk at a time (not memory-mapped: the pages
    of a mapped file stay resident, and the process would grow with the pool)."""

    path: Path
    shape: tuple[int, int]
    dtype: np.dtype
    offset: int  # bytes before the data

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def width(self) -> int:
        return self.shape[1]

    def rows(self, start: int, stop: int) -> np.ndarray:
        stop = min(stop, self.shape[0])
        count = (stop - start) * self.shape[1]
        values = np.fromfile(self.path, dtype=self.dtype, count=count,
                             offset=self.offset + start * self.shape[1] * self.dtype.itemsize)
        return values.reshape(stop - start, self.shape[1]).astype(np.float32, copy=False)


def read_shard_header(path: str | os.PathLike) -> Shard:
    """A shard's shape, dtype and data offset from its ``.npy`` header; a file that is not a 2-D,
    C-ordered, non-empty float array is a named error."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(handle)
            offset = handle.tell()
    except (OSError, ValueError) as exc:
        raise DataValidationError(path, "file", "a .npy array of pool embeddings (n, d)", exc) from exc
    if len(shape) != 2 or shape[0] == 0 or fortran or dtype.kind != "f":
        raise DataValidationError(path, "array", "a non-empty, C-ordered 2-D float array (n, d)",
                                  f"shape {shape}, dtype {dtype}, fortran_order {fortran}")
    return Shard(path, tuple(shape), dtype, offset)


def open_shards(paths: list[str | os.PathLike]) -> list[Shard]:
    """The pool shards, checked before anything is computed: each a 2-D float ``.npy`` array, all
    of one width."""
    if not paths:
        raise DataValidationError(None, "pool", "at least one .npy shard of pool embeddings", "none")
    shards = [read_shard_header(path) for path in paths]
    for shard in shards[1:]:
        if shard.width != shards[0].width:
            raise DataValidationError(shard.path, "shape[1]", f"{shards[0].width} columns, the width of the first "
                                      f"shard {shards[0].path}", shard.width)
    return shards


def pool_chunks(shard: Shard, chunk_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The shard's rows as (unit directions, norms) chunks; NaN, inf or zero rows are named errors."""
    for start in range(0, len(shard), chunk_size):
        rows = torch.from_numpy(shard.rows(start, start + chunk_size))
        norms = torch.linalg.vector_norm(rows, dim=1)
        bad = ~torch.isfinite(norms) | (norms == 0)
        if bad.any():
            row = int(torch.nonzero(bad)[0, 0])
            raise DataValidationError(shard.path, f"row {start + row}", "a finite, non-zero embedding",
                                      "NaN or inf" if not torch.isfinite(norms[row]) else "all zeros")
        yield rows / norms[:, None], norms


def voxel_directions(weights: np.ndarray, source=None) -> torch.Tensor:
    """Unit-normalised voxel weight rows; a zero or non-finite row is a named error."""
    weights = np.asarray(weights, dtype=np.float32)
    if weights.ndim != 2:
        raise DataValidationError(source, "coef_", "a 2-D (n_voxels, d) weight matrix", f"shape {weights.shape}")
    norms = np.linalg.norm(weights, axis=1)
    bad = np.flatnonzero(~np.isfinite(norms) | (norms == 0))
    if bad.size:
        raise DataValidationError(source, f"coef_[{bad[0]}]", "a finite, non-zero voxel weight vector",
                                  "zeros" if np.isfinite(norms[bad[0]]) else "NaN or inf")
    return torch.from_numpy(weights / norms[:, None])


# ---------------------------------------------------------------------------------------------
# The online softmax
# ---------------------------------------------------------------------------------------------


@dataclass
class SoftmaxState:
    """Running sums of one voxel block: max logit, sum of exp(logit - max), weighted directions
    and weighted norms."""

    maximum: torch.Tensor  # (v,)
    total: torch.Tensor  # (v,)
    directions: torch.Tensor  # (v, d)
    norms: torch.Tensor  # (v,)

    @classmethod
    def empty(cls, n_voxels: int, width: int) -> SoftmaxState:
        return cls(torch.full((n_voxels,), -torch.inf), torch.zeros(n_voxels), torch.zeros(n_voxels, width),
                   torch.zeros(n_voxels))

    def update(self, voxels: torch.Tensor, units: torch.Tensor, norms: torch.Tensor, temperature: float) -> None:
        logits = voxels @ units.T
        logits *= temperature
        maximum = torch.maximum(self.maximum, logits.amax(dim=1))
        rescale = torch.exp(self.maximum - maximum)  # exp(-inf) = 0 on the first chunk
        logits -= maximum[:, None]
        weights = logits.exp_()
        self.total = self.total * rescale + weights.sum(dim=1)
        self.directions = torch.addmm(self.directions * rescale[:, None], weights, units)
        self.norms = self.norms * rescale + weights @ norms
        self.maximum = maximum

    def result(self) -> torch.Tensor:
        direction = torch.nn.functional.normalize(self.directions / self.total[:, None], dim=1)
        return direction * (self.norms / self.total)[:, None]

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {"maximum": self.maximum, "total": self.total, "directions": self.directions, "norms": self.norms}


def _voxel_blocks(n_voxels: int, voxel_batch: int) -> list[slice]:
    size = voxel_batch or n_voxels
    return [slice(start, start + size) for start in range(0, n_voxels, size)]


def project_streamed(weights: np.ndarray, shards: list[Shard], config: ProjectionConfig = ProjectionConfig(),
                     *, resume: str | os.PathLike | None = None,
                     progress: bool = False, weights_source=None) -> np.ndarray:
    """The projection of every voxel weight row onto the pool ``shards`` (float32, (n_voxels, d)).

    ``shards``: :func:`open_shards` of raw CLIP embedding files. With ``resume`` (a folder) the state is
    saved after every shard and an earlier run's state is picked up; the caller keys the folder
    to its inputs (see :func:`resume_key`).
    """
    voxels = voxel_directions(weights, weights_source)
    width = shards[0].width
    if voxels.shape[1] != width:
        raise DataValidationError(weights_source, "coef_", f"{width} columns (the pool embeddings' width)",
                                  voxels.shape[1])
    blocks = _voxel_blocks(len(voxels), config.voxel_batch)
    states = [SoftmaxState.empty(len(range(len(voxels))[block]), width) for block in blocks]
    done = 0
    if resume is not None:
        done, states = _load_state(Path(resume), states)
    total_rows = sum(len(shard) for shard in shards)
    bar = tqdm(total=total_rows, initial=sum(len(s) for s in shards[:done]), unit="emb", disable=not progress,
               desc="BrainSCUBA projection")
    for number in range(done, len(shards)):
        for units, norms in pool_chunks(shards[number], config.chunk_size):
            for block, state in zip(blocks, states):
                state.update(voxels[block], units, norms, config.temperature)
            bar.update(len(units))
        if resume is not None:
            _save_state(Path(resume), number + 1, states)
    bar.close()
    return torch.cat([state.result() for state in states]).numpy()


def _save_state(folder: Path, shards_done: int, states: list[SoftmaxState]) -> None:
    with atomic_path(folder / STATE_FILE) as temp:
        torch.save({"shards_done": shards_done, "states": [state.as_dict() for state in states]}, temp)


def _load_state(folder: Path, fresh: list[SoftmaxState]) -> tuple[int, list[SoftmaxState]]:
    path = folder / STATE_FILE
    if not path.is_file():
        return 0, fresh
    saved = torch.load(path, map_location="cpu", weights_only=True)
    logger.info("BrainSCUBA projection: resuming after %d shard(s) from %s", saved["shards_done"], path)
    return int(saved["shards_done"]), [SoftmaxState(**state) for state in saved["states"]]


def resume_key(encoder, shard_paths: list, config: ProjectionConfig, units: np.ndarray) -> dict:
    """What a resume folder must have been made from: the encoder, each shard, the settings and
    the projected voxels."""
    return {"encoder": fingerprint(encoder), "shards": [fingerprint(path) for path in shard_paths],
            "settings": {"temperature": config.temperature, "chunk_size": config.chunk_size,
                         "voxel_batch": config.voxel_batch},
            "units": fingerprint(settings=np.asarray(units).tolist())}


def open_resume(folder, key: dict) -> Path:
    return resume_folder(folder, key, "BrainSCUBA projection")


# ---------------------------------------------------------------------------------------------
# The reference's dense computation (tests, benchmark)
# ---------------------------------------------------------------------------------------------


def project_dense(weights: np.ndarray, pool: np.ndarray, temperature: float = 150.0, voxel_batch: int = 4,
                  dtype=np.float64) -> np.ndarray:
    """The direct computation: the whole pool in memory, a full softmax over it for every batch of
    ``voxel_batch`` voxels (the reference's ``softmax_convex`` ran batches of 4)."""
    pool = torch.from_numpy(np.asarray(pool, dtype=dtype))
    norms = torch.linalg.vector_norm(pool, dim=1, keepdim=True)
    units = pool / norms
    voxels = torch.from_numpy(np.asarray(weights, dtype=dtype))
    voxels = voxels / torch.linalg.vector_norm(voxels, dim=1, keepdim=True)
    out = []
    for start in range(0, len(voxels), voxel_batch):
        scores = torch.softmax(voxels[start:start + voxel_batch] @ units.T * temperature, dim=-1)
        direction = torch.nn.functional.normalize(scores @ units, dim=-1)
        out.append(direction * (scores @ norms))
    return torch.cat(out).numpy()


__all__ = ["ProjectionConfig", "Shard", "SoftmaxState", "open_resume", "open_shards", "pool_chunks", "project_dense",
           "project_streamed", "read_shard_header", "resume_key", "voxel_directions"]
