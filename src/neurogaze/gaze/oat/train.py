"""OAT's training (teacher-forced cross-entropy, early stopping on the behavioural delta of the
greedy validation scanpaths) and decoding (greedy and sampled scanpaths), on an
:class:`ObjectSearchSet`."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from neurogaze.data.gaze.objects import ObjectSearchSet, SearchTrial, ring_size
from neurogaze.errors import DataValidationError
from neurogaze.gaze.oat.model import OAT, OatConfig, centre_cell, fit_positional_table
from neurogaze.metrics.object_search import behaviour_delta, mean_behaviour

logger = logging.getLogger(__name__)


def subject_split(subjects: list[str], validation_subjects=(), test_subjects=(), validation_fraction: float = 0.15,
                  test_fraction: float = 0.25, seed: int = 0) -> dict[str, list[str]]:
    """train / validation / test subjects: the named ones, the rest drawn by a seeded permutation
    (at least one subject in each split)."""
    named = set(validation_subjects) | set(test_subjects)
    unknown = sorted(named - set(subjects))
    if unknown:
        raise DataValidationError(None, "oat.split", f"subjects of the data ({', '.join(subjects)})", unknown)
    rest = [s for s in sorted(subjects) if s not in named]
    rest = [rest[i] for i in np.random.default_rng(seed).permutation(len(rest))]
    n = len(subjects)
    n_test = 0 if test_subjects else max(1, round(test_fraction * n))
    n_val = 0 if validation_subjects else max(1, round(validation_fraction * n))
    split = {"test": sorted([*test_subjects, *rest[:n_test]]),
             "validation": sorted([*validation_subjects, *rest[n_test:n_test + n_val]]),
             "train": sorted(rest[n_test + n_val:])}
    if not all(split.values()):
        raise DataValidationError(None, "oat.split", "at least one subject in train, validation and test", split)
    return split


@dataclass
class Batch:
    objects: torch.Tensor  # (B, N) patch indices
    grid: torch.Tensor  # (B, N, 2)
    target: torch.Tensor  # (B,) target patch
    target_index: torch.Tensor  # (B,) target's layout position
    steps: torch.Tensor  # (B, T) decoder-input patch indices (BOS first)
    step_grid: torch.Tensor  # (B, T, 2)
    step_flag: torch.Tensor  # (B, T) 1 where the step's object is the target
    labels: torch.Tensor  # (B, T): next object, N = end, N + 1 = PAD
    padding: torch.Tensor  # (B, T) True at PAD steps


class OatData:
    """An object search set as tensors: patches (plus the all-ones image of BOS/EOS/PAD) and
    per-trial layouts."""

    def __init__(self, search_set: ObjectSearchSet, max_length: int):
        self.set = search_set
        sizes = {len(t.objects) for t in search_set.trials}
        if len(sizes) != 1:
            raise DataValidationError(None, f"{search_set.name}: layouts", "the same number of objects in every trial",
                                      sorted(sizes))
        self.n = sizes.pop()
        patches = torch.from_numpy(search_set.patches).permute(0, 3, 1, 2).float() / 255.0
        self.patches = torch.cat([patches, torch.ones_like(patches[:1])])
        self.ones = len(patches)
        self.max_length = max_length

    def batch(self, trials: list[SearchTrial]) -> Batch:
        sequences = [t.sequence[: self.max_length] for t in trials]
        length = max(len(s) for s in sequences) + 1
        pad = self.n + 1
        steps = np.full((len(trials), length), self.ones)
        step_grid = np.zeros((len(trials), length, 2), dtype=int)
        labels = np.full((len(trials), length), pad)
        step_flag = np.zeros((len(trials), length), dtype=int)
        for b, (trial, sequence) in enumerate(zip(trials, sequences)):
            k = len(sequence)
            steps[b, 1:k + 1] = trial.objects[sequence]
            step_grid[b, 0] = centre_cell(trial.grid)
            step_grid[b, 1:k + 1] = trial.grid[sequence]
            step_flag[b, 1:k + 1] = sequence == trial.target_index
            labels[b, :k] = sequence
            labels[b, k] = self.n
        return Batch(torch.from_numpy(np.stack([t.objects for t in trials])),
                     torch.from_numpy(np.stack([t.grid for t in trials])).long(),
                     torch.tensor([t.target_patch for t in trials]), torch.tensor([t.target_index for t in trials]),
                     torch.from_numpy(steps), torch.from_numpy(step_grid).long(), torch.from_numpy(step_flag),
                     torch.from_numpy(labels),
                     torch.from_numpy(labels == pad))


def _features(model: OAT, data: OatData, *indices: torch.Tensor) -> list[torch.Tensor]:
    """The CNN once per distinct patch of the batch, gathered back for each index tensor."""
    unique, inverse = torch.unique(torch.cat([i.reshape(-1) for i in indices]), return_inverse=True)
    features = model.cnn(data.patches[unique])[inverse]
    out, start = [], 0
    for index in indices:
        out.append(features[start:start + index.numel()].reshape(*index.shape, -1))
        start += index.numel()
    return out


def loss_of(model: OAT, data: OatData, batch: Batch) -> torch.Tensor:
    objects, target, steps = _features(model, data, batch.objects, batch.target, batch.steps)
    memory = model.encode(objects, batch.grid, target, batch.target_index)
    logits = model.decode(memory, steps, batch.step_grid, batch.step_flag, batch.padding)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.labels.reshape(-1), ignore_index=data.n + 1)


@torch.no_grad()
def decode(model: OAT, data: OatData, trials: list[SearchTrial], greedy: bool, generator: torch.Generator | None,
           batch_size: int = 64) -> list[np.ndarray]:
    """One scanpath per trial: the most likely object at each step, or one drawn from the
    model's distribution; it ends when the model chooses the target token (never before the
    first fixation) or after max_length fixations. PAD is never chosen."""
    model.eval()
    out = []
    # every patch's appearance once for the whole call (eval mode: the same as per batch)
    features = torch.cat([model.cnn(data.patches[i:i + 256]) for i in range(0, len(data.patches), 256)])
    for start in range(0, len(trials), batch_size):
        chunk = trials[start:start + batch_size]
        batch = data.batch([SearchTrial(t.subject, t.key, t.layout, t.objects, t.boxes, t.grid, t.target_patch,
                                        t.target_index, t.sequence[:0], t.screen) for t in chunk])
        memory = model.encode(features[batch.objects], batch.grid, features[batch.target], batch.target_index)
        steps, grid, flag = batch.steps[:, :1], batch.step_grid[:, :1], batch.step_flag[:, :1]
        chosen = torch.zeros(len(chunk), 0, dtype=torch.long)
        done = torch.zeros(len(chunk), dtype=torch.bool)
        for step in range(data.max_length):
            logits = model.decode(memory, features[steps], grid, flag)[:, -1].clone()
            logits[:, data.n + 1] = float("-inf")
            if step == 0:
                logits[:, data.n] = float("-inf")
            if greedy:
                choice = logits.argmax(dim=1)
            else:
                choice = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=generator)[:, 0]
            choice = torch.where(done, torch.full_like(choice, data.n), choice)
            chosen = torch.cat([chosen, choice[:, None]], dim=1)
            done |= choice == data.n
            if done.all():
                break
            safe = choice.clamp(max=data.n - 1)
            steps = torch.cat([steps, batch.objects.gather(1, safe[:, None])], dim=1)
            grid = torch.cat([grid, batch.grid.gather(1, safe[:, None, None].expand(-1, 1, 2))], dim=1)
            flag = torch.cat([flag, (safe == batch.target_index).long()[:, None]], dim=1)
        for row in chosen.numpy():
            ends = np.flatnonzero(row == data.n)
            out.append(row[: ends[0]] if len(ends) else row)
    return out


def validation_delta(model: OAT, data: OatData, trials: list[SearchTrial]) -> float:
    """The behavioural delta of the greedy scanpaths, pooled over all validation trials
    (reference ``TransformerModel.validation_step`` / ``validation_epoch_end``: ``test_max``,
    one greedy scanpath per trial). Deterministic, so that early stopping does not keep an
    epoch for a lucky draw of sampled scanpaths."""
    human = mean_behaviour((t.sequence, t.target_index) for t in trials)
    greedy = decode(model, data, trials, True, None)
    return behaviour_delta(mean_behaviour(zip(greedy, (t.target_index for t in trials))), human)


def build_model(config: OatConfig, ring: int = 0) -> OAT:
    """OAT with its positional table fitted from ``config.seed`` (the same config, the same
    model); on a ring layout of ``ring`` objects the table is circular (one row per position)."""
    torch.manual_seed(config.seed)
    dim = -(-config.d_model // 2 // 3)
    table = fit_positional_table(ring or config.pe_positions, dim, config.pe_sigma, config.pe_iterations,
                                 config.pe_learning_rate, config.seed, period=ring)
    return OAT(config, table)


def layout_ring(search_set: ObjectSearchSet) -> int:
    return ring_size(search_set.trials[0].boxes)


def check_layout(config: OatConfig, search_set: ObjectSearchSet) -> None:
    extent = max(int(t.grid.max()) for t in search_set.trials) + 1
    if not layout_ring(search_set) and extent > config.pe_positions:
        raise DataValidationError(None, f"{search_set.name}: layout", f"at most oat.pe_positions = "
                                  f"{config.pe_positions} rows and columns", extent)


def train(config: OatConfig, search_set: ObjectSearchSet, split: dict[str, list[str]],
          state: dict | None = None, save: Callable[[dict], None] | None = None) -> tuple[OAT, dict]:
    """Adam at a constant rate, gradient norm clipped, one validation delta per epoch; stops
    after ``patience`` epochs without a better delta and returns the best model. ``state`` is a
    checkpoint to continue from; ``save`` receives one after every epoch."""
    check_layout(config, search_set)
    data = OatData(search_set, config.max_length)
    train_trials = search_set.select(split["train"]).trials
    val_trials = search_set.select(split["validation"]).trials
    model = build_model(config, layout_ring(search_set))
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    rng = np.random.default_rng(config.seed)
    progress = {"epoch": 0, "best_delta": float("inf"), "best_epoch": 0, "history": []}
    best = copy.deepcopy(model.state_dict())
    if state is not None:
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_global_rng"])
        progress, best = state["progress"], state["best"]
        logger.info("oat: resuming after epoch %d", progress["epoch"])
    while progress["epoch"] < config.max_epochs and progress["epoch"] - progress["best_epoch"] < config.patience:
        model.train()
        order = rng.permutation(len(train_trials))
        losses = []
        for start in range(0, len(order), config.batch_size):
            batch = data.batch([train_trials[i] for i in order[start:start + config.batch_size]])
            optimiser.zero_grad()
            loss = loss_of(model, data, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimiser.step()
            losses.append(loss.item())
        delta = validation_delta(model, data, val_trials)
        progress["epoch"] += 1
        progress["history"].append({"epoch": progress["epoch"], "train_loss": float(np.mean(losses)),
                                    "validation_delta": delta})
        if delta < progress["best_delta"]:
            progress.update(best_delta=delta, best_epoch=progress["epoch"])
            best = copy.deepcopy(model.state_dict())
        logger.info("oat: epoch %d loss %.4f validation delta %.4f (best %.4f at %d)", progress["epoch"],
                    np.mean(losses), delta, progress["best_delta"], progress["best_epoch"])
        if save is not None:
            save({"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                  "numpy_rng": rng.bit_generator.state,
                  "torch_global_rng": torch.get_rng_state(),
                  "progress": progress, "best": best})
    model.load_state_dict(best)
    return model, progress
