"""Cross-validated ridge with the paper's splits, and the vectorised event bootstrap.

For each model, alignment and subject: 5 contiguous folds over the events in time order (KFold
without shuffling); the held-out fold's first half validates, its second half tests. Features
are z-scored with the training folds' statistics; ridge with intercept (the project's spectral
solver, :func:`neurogaze.brain.encoding.ridge_path_predict`) is fitted at every alpha at once. As
the reference's ``regress_model_layer`` does, each alpha's validation and test Pearson r are
averaged over the folds, each target (electrode x time bin) takes the one alpha of the best mean
validation r, and its score is the mean test r at that alpha (one alpha per target for every
fold, not one per fold).

The bootstrap resamples the events (the same resamples for every model). ``refit`` (the paper's:
the reference reruns its k-fold ridge on each resample's sorted event indices) cross-validates
every resample anew. ``held_out`` rescores the one fit's held-out predictions instead: every event
is held out once, as validation or as test, so each resample's validation and test r are weighted
Pearson correlations of those predictions with the resample's counts as weights - a few matrix
products for all resamples and targets at once, about n_resamples times cheaper, and without the
reference's duplicated events on both sides of a fold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurogaze.brain.encoding import kfold_splits, ridge_path_predict

PAPER_ALPHAS = tuple(np.logspace(-1, 5, 7).tolist())


def pearson_columns(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Pearson r of matching columns (0 where either column is constant)."""
    y = y - y.mean(0)
    p = p - p.mean(-2, keepdims=True)
    numerator = (y * p).sum(-2)
    denominator = np.sqrt((y * y).sum(0) * (p * p).sum(-2))
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


@dataclass
class CrossValidated:
    predictions: np.ndarray  # (n_events, n_targets): each event's held-out prediction
    is_test: np.ndarray  # (n_events,) held out as test (else as validation)
    test_r: np.ndarray  # (n_targets,) mean over folds
    val_r: np.ndarray  # (n_targets,) mean over folds
    alphas: np.ndarray  # (n_targets,) each target's alpha, the same in every fold


def zscore(train: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(0), train.std(0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (other - mean) / std


def cross_validate(X: np.ndarray, Y: np.ndarray, alphas=PAPER_ALPHAS, n_folds: int = 5,
                   device: str = "cpu") -> CrossValidated:
    """Every alpha's held-out predictions and fold-mean validation and test r, then each target's
    alpha by its mean validation r (the reference's rule; its held-out predictions are those at
    that alpha in every fold)."""
    n_events, n_targets = Y.shape
    alphas = np.asarray(alphas, dtype=np.float64)
    paths = np.empty((len(alphas), n_events, n_targets), dtype=np.float32)
    is_test = np.zeros(n_events, dtype=bool)
    val_r, test_r = [], []  # per fold: (n_alphas, n_targets)
    for train, held in kfold_splits(n_events, n_folds):
        val, test = held[: len(held) // 2], held[len(held) // 2 :]
        x_train, x_held = zscore(X[train], X[held])
        path = ridge_path_predict(x_train, Y[train], x_held, alphas, device=device)  # (a, held, T)
        paths[:, held] = path
        is_test[test] = True
        val_r.append(pearson_columns(Y[val], path[:, : len(val)]))
        test_r.append(pearson_columns(Y[test], path[:, len(val) :]))
    mean_val, mean_test = np.mean(val_r, axis=0), np.mean(test_r, axis=0)
    best = np.argmax(mean_val, axis=0)  # ties: the smallest alpha, as the reference's np.argmax
    targets = np.arange(n_targets)
    predictions = np.take_along_axis(paths, best[None, None, :], axis=0)[0]
    return CrossValidated(predictions, is_test, mean_test[best, targets], mean_val[best, targets], alphas[best])


def bootstrap_counts(n_events: int, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n_events) how often each event is drawn in each resample (with replacement)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_events, size=(n_resamples, n_events))
    counts = np.zeros((n_resamples, n_events), dtype=np.float32)
    np.add.at(counts, (np.arange(n_resamples)[:, None], draws), 1.0)
    return counts


def weighted_pearson(weights: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(n_resamples, n_targets) Pearson r of y and p with each resample's row weights."""
    # Centring first keeps the float32 sums of squares from cancelling.
    y = (y - y.mean(0)).astype(np.float32)
    p = (p - p.mean(0)).astype(np.float32)
    total = weights.sum(1, keepdims=True)
    mean_y, mean_p = weights @ y / total, weights @ p / total
    cov = weights @ (y * p) / total - mean_y * mean_p
    var_y = weights @ (y * y) / total - mean_y**2
    var_p = weights @ (p * p) / total - mean_p**2
    denominator = np.sqrt(np.clip(var_y, 0, None) * np.clip(var_p, 0, None))
    return np.divide(cov, denominator, out=np.zeros_like(cov), where=denominator > 0)


def bootstrap_scores(counts: np.ndarray, Y: np.ndarray, fit: CrossValidated) -> tuple[np.ndarray, np.ndarray]:
    """Each resample's validation and test r: two (n_resamples, n_targets) arrays."""
    val = weighted_pearson(counts[:, ~fit.is_test], Y[~fit.is_test], fit.predictions[~fit.is_test])
    test = weighted_pearson(counts[:, fit.is_test], Y[fit.is_test], fit.predictions[fit.is_test])
    return val, test


def resample_indices(counts: np.ndarray) -> list[np.ndarray]:
    """Each resample's event indices, sorted (time order, as the reference sorts them)."""
    events = np.arange(counts.shape[1])
    return [np.repeat(events, row.astype(np.int64)) for row in counts]


def refit_bootstrap_scores(counts: np.ndarray, X: np.ndarray, Y: np.ndarray, alphas=PAPER_ALPHAS,
                           n_folds: int = 5, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Each resample cross-validated anew on its events: (n_resamples, n_targets) validation and
    test r."""
    fits = [cross_validate(X[index], Y[index], alphas, n_folds, device) for index in resample_indices(counts)]
    return np.stack([fit.val_r for fit in fits]), np.stack([fit.test_r for fit in fits])


def lower_bound(samples: np.ndarray, confidence: float) -> np.ndarray:
    return np.quantile(samples, (1.0 - confidence) / 2.0, axis=0)


def p_better(better: np.ndarray, worse: np.ndarray) -> np.ndarray:
    """One-sided bootstrap p of ``better > worse`` per target: the share of resamples where it is not."""
    n = len(better)
    return (1.0 + np.sum(better - worse <= 0, axis=0)) / (n + 1.0)
