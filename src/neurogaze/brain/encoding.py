"""Voxel-wise encoding models: features of a stimulus -> response of every voxel (or electrode).

``VoxelRidge`` is ridge regression with one regularisation per voxel chosen by K-fold
cross-validation. It solves the same problem as himalaya's ``RidgeCV`` (same folds, same
score: validation mean squared error averaged over folds; same per-fold centering) but in a
spectral form that never forms per-alpha predictions:

* one eigendecomposition of each training fold's Gram matrix ``X_tr.T X_tr = V diag(l) V.T``
  (p x p, float64), obtained from the full Gram matrix minus the fold's rows;
* ``X.T Y`` once, as the sum of the folds' ``X_v.T Y_v`` (validation sets that partition the
  rows), and each fold's ``X_tr.T Y_tr`` as the total minus its part;
* every alpha's validation error from products in the fold's eigenbasis, without predictions:
  ``|Y_v|^2 - 2 g.(C Z) + (g Z).T G (g Z)`` with ``g = 1 / (l + alpha)``,
  ``Z = V.T X_tr.T Y_tr``, ``C = V.T X_v.T Y_v`` and ``G = (X_v V).T (X_v V)``. The quadratic
  term costs one p x p product per fold for all alphas, not one per alpha: across distinct
  eigenvalues ``g_j g_k = (g_j - g_k) / (l_k - l_j)`` turns it into ``2 sum_j g_j Z_j (A Z)_j``
  with ``A_jk = G_jk / (l_k - l_j)`` (float64; pairs of near-equal eigenvalues are summed
  directly, see ``VoxelRidge._fold_error``);
* the alpha chosen on the alpha-dependent part alone (the last two terms, accumulated over folds
  in float64): comparing whole float32 MSEs compared differences of ``|Y_v|^2``-sized terms,
  below float32's resolution for near-zero-SNR units at large alphas.

At NSD scale (9000 x 512 x 15,724 voxels, 10 alphas, 5 folds) that is about 290 GFLOP, 40 of
them in float64 (``benchmarks/encoding.py`` prints the breakdown and the machine's plain-matmul rate beside it).
Torch runs it, on a GPU when one is visible (``device="auto"``); on a CPU the GEMMs go through
numpy's BLAS and batches of units run in parallel threads, one BLAS thread each.

``LinearProbeEncoder`` is BrainDiVE's encoder: a linear layer with bias on unit-normalised CLIP
embeddings, trained with AdamW under shift / noise / brightness augmentations of the images. The
official trainer (aluo-x/BrainDiVE ``encoder_trainer.py``, ``encoder_dataloader.py``): 100 epochs,
batch 64, weight decay 2e-2, lr ``3e-4 * 0.5^(epoch/100)`` set per epoch
(``lr_schedule="exponential"``), shifts of +-4 px with replicate padding, brightness x U(0.95, 1.05),
Gaussian noise of SD 0.05 added to the CLIP-normalised input (``noise_space="clip"``), raw
responses as targets (``standardize_targets=False``) and the frozen backbone under fp16 autocast
(``fp16=True``, CUDA only); ``config/paper.yaml`` sets these. The defaults are the project's
earlier recipe (step halving, reflect padding, brightness 0.2, pixel noise, standardised targets),
kept so that configs written for it reproduce. BrainSCUBA's recipe is the same probe with weight
decay 1.5e-2 and batch 32 (``brainscuba.encoder``).

The pipeline stages are :func:`fit` (rule ``encoding_fit``) and :func:`evaluate` (rule
``encoding_evaluate``); the settings arrive as the config's ``encoding`` section and become an
:class:`EncodingConfig`.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import threadpoolctl
import torch
from himalaya.backend import set_backend
from himalaya.ridge import RidgeCV

import neurogaze
from neurogaze.backbones import build_backbone
from neurogaze.config import from_section
from neurogaze.data.contracts import read_brain_responses, read_features, read_stimulus_set, write_metrics
from neurogaze.errors import ConfigError, DataValidationError
from neurogaze.io import write_csv, write_torch
from neurogaze.metrics.encoding import encoding_metric_table, r2_per_unit
from neurogaze.runlog import derive_seed, resolve_device

DEFAULT_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8)


def kfold_splits(n_samples: int, n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Contiguous, unshuffled K folds: the same splits as ``sklearn.model_selection.KFold(n_folds)``."""
    if not 2 <= n_folds <= n_samples:
        raise ValueError(f"cv must be between 2 and n_samples={n_samples}, got {n_folds}")
    sizes = np.full(n_folds, n_samples // n_folds)
    sizes[: n_samples % n_folds] += 1
    edges = np.concatenate([[0], np.cumsum(sizes)])
    every = np.arange(n_samples)
    return [(np.concatenate([every[:lo], every[hi:]]), every[lo:hi]) for lo, hi in itertools.pairwise(edges)]


def _check_xy(X, Y=None) -> tuple[np.ndarray, np.ndarray | None]:
    X = np.asarray(X)
    if X.ndim != 2:
        raise DataValidationError(None, "X", "a 2-D (n_stimuli, n_features) array", f"shape {X.shape}")
    if not _all_finite(X):
        raise DataValidationError(None, "X", "finite feature values", "NaN or inf")
    if Y is None:
        return X, None
    Y = np.asarray(Y)
    if Y.ndim != 2 or Y.shape[0] != X.shape[0]:
        raise DataValidationError(None, "Y", f"a 2-D ({X.shape[0]}, n_units) array matching X", f"shape {Y.shape}")
    if not _all_finite(Y):
        raise DataValidationError(None, "Y", "finite responses", "NaN or inf")
    return X, Y


def _all_finite(a: np.ndarray) -> bool:
    """No NaN or inf in ``a``: a NaN or inf makes its column's sum non-finite, and a sum of finite
    values that overflows is settled by the elementwise test (the product with ones is one read of
    ``a`` without the elementwise test's temporary)."""
    if a.dtype.kind == "f" and a.size and np.all(np.isfinite(np.ones(len(a), dtype=a.dtype) @ a)):
        return True
    return bool(np.all(np.isfinite(a)))


# Voxels per batch on a CPU: a batch's fold products (a few MB) stay in cache between the GEMMs
# that make and consume them, and the GEMMs are still wide enough to run at the BLAS peak.
_CPU_BATCH = 1024
# Eigenvalues of a fold closer than this fraction of its largest form a cluster whose pairs are
# summed directly: the partial-fraction form used between clusters amplifies rounding by up to
# (largest eigenvalue / gap), which float64 leaves at 1e-9 at this threshold.
_CLUSTER_GAP = 1e-7


@dataclass
class _Fold:
    """One CV fold, in the eigenbasis V of its centred training Gram matrix ``V diag(l) V.T``."""

    val: slice | torch.Tensor  # validation rows
    x_val: torch.Tensor  # (n_val, p) centred X at those rows
    n_train: int
    n_val: int
    eigvecs_t: torch.Tensor  # (p, p): V.T
    sum_x: torch.Tensor  # (p,): V.T (column sums of x_val); zero without intercept
    shrink: torch.Tensor  # (n_alphas, p) float64: g = 1 / (l + alpha)
    offset_shrink: torch.Tensor  # (n_alphas, p) float64: g - 1 / (max(l) + alpha), computed stably
    # The validation Gram matrix in the eigenbasis, G = (X_v' V).T (X_v' V), split three ways:
    antisymmetric: torch.Tensor  # (p, p) float64: G_jk / (l_k - l_j) across clusters, 0 within
    diagonal: torch.Tensor  # (p,) float64: G_jj
    clusters: list[tuple[slice, torch.Tensor]]  # clusters of 2+ eigenvalues: (their indices, G there, 0 diagonal)


@dataclass
class _Solver:
    """What every batch of units shares: the folds and the full data's eigenbasis."""

    folds: list[_Fold]
    partition: bool  # the folds' validation rows partition the data
    xc: torch.Tensor  # (n, p) centred X in the working dtype
    x_mean: torch.Tensor  # (p,) float64
    eigvecs: torch.Tensor  # (p, p) of the full Gram matrix
    eigvecs_t: torch.Tensor
    shrink: torch.Tensor  # (n_alphas, p): 1 / (eigenvalue + alpha)


class VoxelRidge:
    """Ridge with a per-unit alpha chosen by K-fold CV (sklearn-style estimator).

    Parameters
    ----------
    alphas : candidate regularisations (positive).
    cv : number of contiguous folds, or a list of (train_idx, val_idx) pairs, each training on
        every row outside its validation rows.
    fit_intercept : centre X and Y (per training fold during CV), as himalaya does.
    device : "auto" (a GPU when visible), "cpu" or "cuda".
    dtype : "float32" (fast) or "float64"; eigendecompositions always run in float64.
    n_targets_batch : units per batch (bounds memory on a GPU); None = all at once on a GPU,
        batches of ``_CPU_BATCH`` on a CPU.

    Fitted attributes: ``coef_`` (n_units, n_features) as in scikit-learn, ``intercept_`` (n_units,),
    ``best_alphas_`` (n_units,), ``cv_mse_`` (n_alphas, n_units) mean validation MSE per alpha.
    """

    def __init__(
        self, alphas=DEFAULT_ALPHAS, cv=5, fit_intercept=True, device="auto", dtype="float32", n_targets_batch=None
    ):
        self.alphas = alphas
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.device = device
        self.dtype = dtype
        self.n_targets_batch = n_targets_batch

    # -- fitting -------------------------------------------------------------------------------

    def fit(self, X, Y) -> VoxelRidge:
        X, Y = _check_xy(X, Y)
        alphas = np.asarray(self.alphas, dtype=np.float64).ravel()
        if alphas.size == 0 or np.any(alphas <= 0):
            raise ValueError(f"alphas must be positive, got {self.alphas}")
        device = resolve_device(self.device) if isinstance(self.device, str) else self.device
        dtype = {"float32": torch.float32, "float64": torch.float64}[str(self.dtype)]
        splits = kfold_splits(len(X), self.cv) if isinstance(self.cv, int) else list(self.cv)
        vals = [_validation_rows(train, val, len(X), device) for train, val in splits]

        x64 = torch.as_tensor(X, dtype=torch.float64, device=device)
        x_mean = x64.mean(0) if self.fit_intercept else torch.zeros_like(x64[0])
        x64 = x64 - x_mean
        partition = _is_partition(vals, len(X))
        alphas64 = torch.as_tensor(alphas, dtype=torch.float64, device=device)
        xc = x64.to(dtype)
        n_units = Y.shape[1]
        batch = self.n_targets_batch or (_CPU_BATCH if device.type == "cpu" else n_units)
        self.best_alphas_ = np.empty(n_units)
        self.cv_mse_ = np.empty((alphas.size, n_units))
        self.coef_ = np.empty((n_units, X.shape[1]), dtype=np.dtype(str(self.dtype)))
        self.intercept_ = np.zeros(n_units, dtype=self.coef_.dtype)
        self.n_features_in_ = X.shape[1]
        with _batch_workers(device) as workers, ThreadPoolExecutor(workers) as pool:
            val_grams = list(pool.map(lambda val: _matmul(x64[val].T, x64[val]), vals))
            # Validation sets that partition the rows give X.T X (and below X.T Y) as the sum of their parts.
            gram = _sum(val_grams) if partition else _matmul(x64.T, x64)
            full = pool.submit(_eigh, gram)
            folds = list(pool.map(
                lambda val, val_gram: self._fold(x64[val], xc[val], val, len(X), gram, val_gram, alphas64, dtype),
                vals, val_grams,
            ))
            eigvals, eigvecs = full.result()
            solver = _Solver(folds, partition, xc, x_mean, eigvecs.to(dtype), eigvecs.T.contiguous().to(dtype),
                             (1.0 / (eigvals[None, :] + alphas64[:, None])).to(dtype))
            # Each worker reuses one response buffer: fresh multi-MB buffers would each cost page faults.
            buffers = threading.local()

            def fit_batch(start: int) -> None:
                if not hasattr(buffers, "y"):
                    buffers.y = torch.empty(len(X) * min(batch, n_units), dtype=dtype, device=device)
                self._fit_batch(solver, Y, slice(start, start + batch), buffers.y, alphas)

            list(pool.map(fit_batch, range(0, n_units, batch)))
        return self

    def _fit_batch(self, solver: _Solver, Y: np.ndarray, cols: slice, buffer: torch.Tensor, alphas) -> None:
        """CV errors, alpha choice and refit of the units ``cols``, written into the fitted attributes."""
        folds = solver.folds
        y, shift = self._centred(Y[:, cols], buffer, solver.xc.dtype)
        b_vals = [_matmul(fold.x_val.T, y[fold.val]) for fold in folds]
        b_all = _sum(b_vals) if solver.partition else _matmul(solver.xc.T, y)
        sum_vals = [_column_sums(y[fold.val]) for fold in folds]
        sum_y = _sum(sum_vals) if solver.partition else _column_sums(y)
        errors = [
            self._fold_error(fold, b_val, b_all, y[fold.val], sum_val, sum_y)
            for fold, b_val, sum_val in zip(folds, b_vals, sum_vals)
        ]
        # The argmin sees only the alpha-dependent part, a sum of small float32 terms accumulated
        # in float64; the alpha-free |y_val|^2 is added for cv_mse_ alone.
        alpha_part = _sum([e for e, _ in errors])
        chosen = torch.argmin(alpha_part, dim=0)
        self.cv_mse_[:, cols] = ((alpha_part + _sum([yy for _, yy in errors])) / len(folds)).cpu().numpy()
        z = _matmul(solver.eigvecs_t, b_all).mul_(solver.shrink[chosen].T)
        w = _matmul(solver.eigvecs, z)
        self.best_alphas_[cols] = alphas[chosen.cpu().numpy()]
        self.coef_[cols] = w.T.cpu().numpy()
        if self.fit_intercept:
            y_mean = shift + sum_y / len(y)
            self.intercept_[cols] = (y_mean - solver.x_mean @ w.to(torch.float64)).cpu().numpy()

    def _centred(self, y: np.ndarray, buffer: torch.Tensor, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of responses minus their first row (in ``dtype``, written into ``buffer``), and
        that shift as float64. Any shift of the order of the responses' spread removes a large
        common offset before float32 products; the CV's centring and the intercept use the exact
        sums of what is left, so it need not be the mean (which would cost a pass over the batch)."""
        out = buffer[: y.size].view(y.shape)
        y = torch.as_tensor(y, device=buffer.device)
        # Subtracted in the wider of the two types, so that a large offset does not eat float32 digits.
        work = torch.promote_types(y.dtype, dtype)
        shift = y[0].to(torch.float64) if self.fit_intercept else torch.zeros(y.shape[1], dtype=torch.float64)
        if not _numpy_runs(buffer) or work != dtype:
            out.copy_(y.to(work) - shift.to(device=buffer.device, dtype=work))
        else:
            np.subtract(y.numpy(), shift.numpy().astype(y.numpy().dtype), out=out.numpy())
        return out, shift.to(buffer.device)

    def _fold(self, x64_val, x_val, val, n_samples, gram, val_gram, alphas, dtype) -> _Fold:
        n_val = len(x64_val)
        n_train = n_samples - n_val
        sum_x = x64_val.sum(0) if self.fit_intercept else torch.zeros_like(gram[0])
        # Training-fold centring is a rank-one correction of the full (already centred) Gram matrix.
        eigvals, eigvecs = _eigh(gram - val_gram - torch.outer(sum_x, sum_x) / n_train)
        shrink = 1.0 / (eigvals[None, :] + alphas[:, None])
        top = eigvals.max()
        offset_shrink = shrink * (top - eigvals)[None, :] / (top + alphas[:, None])
        # The validation rows are centred at the training-fold mean: x_v + sum_x / n_train.
        centred_gram = val_gram + torch.outer(sum_x, sum_x) * (2.0 / n_train + n_val / n_train**2)
        rotated = _matmul(eigvecs.T, _matmul(centred_gram, eigvecs))
        label = _eigen_clusters(eigvals, _CLUSTER_GAP * float(top))
        across = label[:, None] != label[None, :]
        gaps = torch.where(across, eigvals[None, :] - eigvals[:, None], torch.ones_like(rotated))
        clusters = []
        for first, stop in _runs(label):
            if stop - first > 1:
                block = rotated[first:stop, first:stop].clone()
                block.fill_diagonal_(0.0)
                clusters.append((slice(first, stop), block))
        return _Fold(val, x_val, n_train, n_val, eigvecs.T.contiguous().to(dtype), (eigvecs.T @ sum_x).to(dtype),
                     shrink, offset_shrink, torch.where(across, rotated / gaps, torch.zeros_like(rotated)),
                     torch.diagonal(rotated).clone(), clusters)

    def _fold_error(self, fold: _Fold, b_val, b_all, y_val, sum_val, sum_y) -> tuple[torch.Tensor, torch.Tensor]:
        """Validation error of every alpha for every unit, split as (alpha-dependent part (n_alphas,
        n_units), alpha-free |y_val'|^2 (n_units,)), both float64 and divided by n_val.

        With w = V diag(g) z the training fit and c = V.T X_v'.T y_v', the error is
        |y_v'|^2 - 2 c.(g z) + (g z).T G (g z). The quadratic term is not formed per alpha: for
        eigenvalues l_j != l_k, g_j g_k = (g_j - g_k) / (l_k - l_j), so its part across clusters is
        2 sum_j g_j z_j u_j with u = A z, A_jk = G_jk / (l_k - l_j) antisymmetric: one product for
        all alphas. Since z.T A z = 0, g may be replaced by g - 1 / (max(l) + alpha), which bounds
        the rounding's amplification by max(l) / gap. The diagonal and the pairs within clusters
        of (near-)equal eigenvalues are summed directly; the alpha-free |y_v'|^2 is kept apart.
        """
        n_train, n_val = fold.n_train, fold.n_val
        dtype = b_val.dtype
        # Training-fold mean of the (globally centred) responses, and its effect on both products.
        mean_train = (sum_y - sum_val) / n_train if self.fit_intercept else torch.zeros_like(sum_val)
        z = _matmul(fold.eigvecs_t, b_all - b_val)
        z.addr_(fold.sum_x, mean_train.to(dtype))
        c = _matmul(fold.eigvecs_t, b_val)
        c.addr_(fold.sum_x, (sum_val / n_train - mean_train * (1.0 + n_val / n_train)).to(dtype))
        z, c = z.to(torch.float64), c.to(torch.float64)
        u = _matmul(fold.antisymmetric, z)
        quadratic = 2.0 * _matmul(fold.offset_shrink, u.mul_(z))
        quadratic += _matmul(fold.shrink * fold.shrink, z * z * fold.diagonal[:, None])
        for rows, block in fold.clusters:
            for a, shrink in enumerate(fold.shrink):
                scaled = z[rows] * shrink[rows, None]
                quadratic[a] += (scaled * _matmul(block, scaled)).sum(0)
        alpha_part = (quadratic - 2.0 * _matmul(fold.shrink, c.mul_(z))) / n_val
        y_norm = _sums_of_squares(y_val, 1)[0]
        alpha_free = (y_norm - 2.0 * mean_train * sum_val + n_val * mean_train**2) / n_val
        return alpha_part, alpha_free

    # -- using the fit -------------------------------------------------------------------------

    def predict(self, X) -> np.ndarray:
        X, _ = _check_xy(X)
        if X.shape[1] != self.n_features_in_:
            raise DataValidationError(None, "X", f"{self.n_features_in_} features", X.shape[1])
        return (X.astype(self.coef_.dtype) @ self.coef_.T + self.intercept_).astype(self.coef_.dtype)

    def score(self, X, Y) -> np.ndarray:
        """Per-unit R^2 on (X, Y), like himalaya's ``score``."""
        return r2_per_unit(np.asarray(Y), self.predict(X))


def ridge_path_predict(X_train, Y_train, X_eval, alphas=DEFAULT_ALPHAS, device="cpu", dtype="float32") -> np.ndarray:
    """Predictions of ridge with intercept fitted on (X_train, Y_train) at every alpha, for the
    rows of ``X_eval``: (n_alphas, n_eval, n_targets). One eigendecomposition of the training Gram
    matrix serves every alpha (as in :class:`VoxelRidge`), so choosing the alpha on a held-out
    split (e.g. by validation correlation) costs one fit. With more features than training rows
    (SEEG's projected layers) the same ridge goes through the rows' kernel matrix instead
    (beta = X' (XX' + alpha I)^-1 y), an n x n rather than p x p eigendecomposition."""
    X_train, Y_train = _check_xy(X_train, Y_train)
    X_eval, _ = _check_xy(X_eval)
    alphas = np.asarray(alphas, dtype=np.float64).ravel()
    if alphas.size == 0 or np.any(alphas <= 0):
        raise ValueError(f"alphas must be positive, got {alphas}")
    torch_dtype = {"float32": torch.float32, "float64": torch.float64}[str(dtype)]
    x64 = torch.as_tensor(X_train, dtype=torch.float64, device=device)
    x_mean = x64.mean(0)
    x64 = x64 - x_mean
    y = torch.as_tensor(Y_train, device=device).to(torch_dtype)
    y_mean = y.mean(0)
    x_eval = torch.as_tensor(X_eval, dtype=torch.float64, device=device) - x_mean
    if x64.shape[1] > x64.shape[0]:
        eigvals, eigvecs = _eigh(x64 @ x64.T)
        z = eigvecs.to(torch_dtype).T @ (y - y_mean)  # (n_train, n_targets)
        projected = (x_eval @ x64.T) @ eigvecs
    else:
        eigvals, eigvecs = _eigh(x64.T @ x64)
        z = eigvecs.to(torch_dtype).T @ (x64.to(torch_dtype).T @ (y - y_mean))  # (p, n_targets)
        projected = x_eval @ eigvecs
    projected = projected.to(torch_dtype)
    alphas_t = torch.as_tensor(alphas, dtype=torch_dtype, device=device)
    shrink = 1.0 / (eigvals.to(torch_dtype)[None, :] + alphas_t[:, None])
    predictions = (projected[None, :, :] * shrink[:, None, :]) @ z + y_mean  # batched matmul: BLAS, not einsum
    return predictions.cpu().numpy()


def _eigh(gram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if _numpy_runs(gram):  # numpy's LAPACK took 50 ms for p = 512 where torch's took 57
        eigvals, eigvecs = (torch.from_numpy(a) for a in np.linalg.eigh(gram.numpy()))
    else:
        eigvals, eigvecs = torch.linalg.eigh(gram)
    # Rounding can leave tiny negative eigenvalues of a PSD matrix; alpha > 0 keeps 1/(l+alpha) finite.
    return eigvals.clamp_min(0.0), eigvecs

# On a CPU the hot loop's GEMMs and reductions run in numpy (see each helper for why); off means
# torch everywhere, the code path a GPU takes (tests turn it off to check that path on a CPU).
NUMPY_ON_CPU = True


def _numpy_runs(tensor: torch.Tensor) -> bool:
    return NUMPY_ON_CPU and tensor.device.type == "cpu"


def _matmul(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """``a @ b`` (into ``out``, a contiguous tensor of the product's shape, when given); on a CPU
    through numpy's BLAS (OpenBLAS in its wheels), which ran this solver's float32 GEMMs at ~90
    GFLOP/s per core where torch's MKL ran them at ~68 (AMD EPYC, AVX2)."""
    if not _numpy_runs(a):
        return torch.matmul(a, b, out=out)
    if out is None:
        return torch.from_numpy(np.matmul(a.numpy(), b.numpy()))
    np.matmul(a.numpy(), b.numpy(), out=out.numpy())
    return out


@contextlib.contextmanager
def _batch_workers(device) -> Iterator[int]:
    """How many batches of units run at once. On a CPU: one per torch thread, each with one BLAS
    and one torch thread, as BLAS threads split one batch's GEMMs with spin-waits between them and
    leave the steps between GEMMs serial; the settings are restored afterwards."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1:
        yield 1
        return
    torch.set_num_threads(1)
    try:
        with threadpoolctl.threadpool_limits(1, user_api="blas"):
            yield threads
    finally:
        torch.set_num_threads(threads)


def _column_sums(a: torch.Tensor) -> torch.Tensor:
    """Column sums (accumulated in ``a``'s type) as float64; on a CPU as a BLAS product with ones,
    3x faster than numpy's column reduction and 10x faster than torch's here."""
    if not _numpy_runs(a):
        return a.sum(0).to(torch.float64)
    a = a.numpy()
    return torch.from_numpy((np.ones(len(a), dtype=a.dtype) @ a).astype(np.float64))


def _sums_of_squares(a: torch.Tensor, groups: int) -> torch.Tensor:
    """Column sums of squares over each of ``groups`` consecutive row blocks: (groups, n_cols), float64."""
    blocks = a.reshape(groups, -1, a.shape[1])
    if not _numpy_runs(a):
        return (blocks * blocks).sum(1).to(torch.float64)
    blocks = blocks.numpy()
    return torch.from_numpy(np.einsum("gim,gim->gm", blocks, blocks).astype(np.float64))


def _sum(tensors: list[torch.Tensor]) -> torch.Tensor:
    total = tensors[0].clone()
    for tensor in tensors[1:]:
        total += tensor
    return total


def _validation_rows(train, val, n_samples: int, device) -> slice | torch.Tensor:
    """A fold's validation rows (a slice when contiguous); its training rows must be all the others."""
    train, val = np.asarray(train, dtype=np.int64).ravel(), np.asarray(val, dtype=np.int64).ravel()
    rest = np.setdiff1d(np.arange(n_samples), val)
    if len(np.unique(val)) != len(val) or not np.array_equal(np.sort(train), rest) or len(rest) == 0:
        raise ValueError("each cv fold must train on every row outside its (distinct, non-empty) validation rows")
    if len(val) and np.array_equal(val, np.arange(val[0], val[0] + len(val))):
        return slice(int(val[0]), int(val[0]) + len(val))
    return torch.as_tensor(val, device=device)


def _is_partition(vals: list, n_samples: int) -> bool:
    counts = np.zeros(n_samples, dtype=np.int64)
    for val in vals:
        counts[np.arange(n_samples)[val] if isinstance(val, slice) else val.cpu().numpy()] += 1
    return bool(np.all(counts == 1))


def _eigen_clusters(eigvals: torch.Tensor, gap: float) -> torch.Tensor:
    """A cluster label per eigenvalue (ascending): consecutive ones at most ``gap`` apart share one."""
    return torch.cat([torch.zeros(1, dtype=torch.long, device=eigvals.device),
                      torch.cumsum((torch.diff(eigvals) > gap).long(), 0)])


def _runs(label: torch.Tensor) -> Iterator[tuple[int, int]]:
    """(first, stop) of each run of equal labels in a non-decreasing label vector."""
    counts = torch.unique_consecutive(label, return_counts=True)[1].tolist()
    stops = list(itertools.accumulate(counts))
    return zip([0, *stops[:-1]], stops)


# ---------------------------------------------------------------------------------------------
# BrainDiVE's encoder: a linear probe on unit-normalised CLIP embeddings, trained by AdamW
# ---------------------------------------------------------------------------------------------


LR_SCHEDULES = ("step", "exponential")
SHIFT_PADDINGS = ("reflect", "replicate")
# pixels: noise on the [0, 1] pixels, the result clamped to [0, 1]; clip: noise on the CLIP-normalised
# input and nothing clamped, as BrainDiVE's trainer adds it (encoder_trainer.py).
NOISE_SPACES = ("pixels", "clip")


def augment_pixels(
    pixels: torch.Tensor, generator: torch.Generator, max_shift: int, noise_std: float, brightness: float,
    padding: str = "reflect", normalise_std: torch.Tensor | None = None,
) -> torch.Tensor:
    """Random shift (``padding``: reflect or replicate the border), additive Gaussian noise and
    brightness scaling of [0, 1] pixels.

    With ``normalise_std`` (the backbone's per-channel normalisation SD) the noise is drawn in the
    normalised space: SD ``noise_std`` there is ``noise_std * std`` here, since the normalisation is
    affine; nothing is clamped then, as in BrainDiVE, where brightness may exceed 1 too. Shift and
    brightness commute with the normalisation (replicate padding, a per-image factor), so their
    order against it does not matter."""
    n, _, height, width = pixels.shape
    if max_shift > 0:
        padded = torch.nn.functional.pad(pixels, (max_shift,) * 4, mode=padding)
        offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator)
        pixels = torch.stack(
            [padded[i, :, dy : dy + height, dx : dx + width] for i, (dy, dx) in enumerate(offsets.tolist())]
        )
    if brightness > 0:
        pixels = pixels * (1.0 + brightness * (2.0 * torch.rand((n, 1, 1, 1), generator=generator) - 1.0))
    if noise_std > 0:
        noise = noise_std * torch.randn(pixels.shape, generator=generator)
        pixels = pixels + (noise if normalise_std is None else noise * normalise_std.view(1, -1, 1, 1))
    return pixels.clamp(0.0, 1.0) if normalise_std is None else pixels


class LinearProbeEncoder:
    """Linear layer with bias on unit-normalised embeddings (BrainDiVE), sklearn-style.

    With a ``backbone`` (an ``OpenClipBackbone``), ``fit``/``predict`` take uint8 images
    (n, H, W, 3) and, when ``augment`` is on, every epoch embeds freshly shifted / noised /
    brightened copies. Without one they take precomputed embeddings (n, d) and do not augment.
    Responses are standardised per unit for training and mapped back in ``predict`` unless
    ``standardize_targets`` is off (BrainDiVE: raw targets).

    Fitted attributes: ``coef_`` (n_units, d) as in scikit-learn, ``intercept_`` (n_units,), ``loss_curve_``.
    """

    def __init__(
        self,
        backbone=None,
        epochs=300,
        lr=3e-4,
        lr_halving_epochs=100,
        weight_decay=2e-2,
        batch_size=128,
        augment=True,
        max_shift=4,
        noise_std=0.05,
        brightness=0.2,
        lr_schedule="step",
        shift_padding="reflect",
        noise_space="pixels",
        standardize_targets=True,
        fp16=False,
        seed=0,
        device="auto",
    ):
        self.backbone = backbone
        self.epochs = epochs
        self.lr = lr
        self.lr_halving_epochs = lr_halving_epochs
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.augment = augment
        self.max_shift = max_shift
        self.noise_std = noise_std
        self.brightness = brightness
        self.lr_schedule = lr_schedule
        self.shift_padding = shift_padding
        self.noise_space = noise_space
        self.standardize_targets = standardize_targets
        self.fp16 = fp16
        self.seed = seed
        self.device = device

    def _embed(self, X, generator: torch.Generator | None = None) -> torch.Tensor:
        """Unit-normalised embeddings of images (through the backbone) or of given features."""
        if self.backbone is None:
            X, _ = _check_xy(X)
            features = torch.as_tensor(X, dtype=torch.float32)
        else:
            chunks = []
            std = self.backbone.normalise_std if self.noise_space == "clip" else None
            for start in range(0, len(X), 256):
                pixels = self.backbone.pixels(list(X[start : start + 256]))
                if generator is not None:
                    pixels = augment_pixels(pixels, generator, self.max_shift, self.noise_std, self.brightness,
                                            self.shift_padding, std)
                with torch.autocast("cuda", dtype=torch.float16, enabled=self.uses_fp16(generator is not None)):
                    chunks.append(self.backbone.encode_pixels(pixels).float().cpu())
            features = torch.cat(chunks)
        return torch.nn.functional.normalize(features, dim=1)

    def fit(self, X, Y) -> LinearProbeEncoder:
        Y = np.asarray(Y, dtype=np.float32)
        if Y.ndim != 2 or len(Y) != len(X):
            raise DataValidationError(None, "Y", f"a 2-D ({len(X)}, n_units) array matching X", f"shape {Y.shape}")
        if self.augment and self.backbone is None:
            raise ValueError("augment=True needs a backbone: augmentations act on images, not on embeddings")
        device = resolve_device(self.device) if isinstance(self.device, str) else self.device
        generator = torch.Generator().manual_seed(self.seed)
        self.y_mean_, self.y_scale_ = self._target_scaling(Y)
        targets = torch.as_tensor((Y - self.y_mean_) / self.y_scale_, device=device)
        fixed = None if self.augment else self._embed(X).to(device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            dim = (fixed if fixed is not None else self._embed(X[:1])).shape[1]
            layer = torch.nn.Linear(dim, Y.shape[1]).to(device)
        optimiser = torch.optim.AdamW(layer.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        schedule = self._schedule(optimiser)
        self.loss_curve_ = []
        for _ in range(self.epochs):
            inputs = fixed if fixed is not None else self._embed(X, generator).to(device)
            order = torch.randperm(len(Y), generator=generator).to(device)
            total = 0.0
            for start in range(0, len(Y), self.batch_size):
                rows = order[start : start + self.batch_size]
                loss = torch.nn.functional.mse_loss(layer(inputs[rows]), targets[rows])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * len(rows)
            schedule.step()
            self.loss_curve_.append(total / len(Y))
        self.coef_ = layer.weight.detach().cpu().numpy() * self.y_scale_[:, None]
        self.intercept_ = layer.bias.detach().cpu().numpy() * self.y_scale_ + self.y_mean_
        return self

    def _target_scaling(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-unit mean and SD the targets are standardised with; BrainDiVE fits the raw
        responses (mean 0, scale 1 here)."""
        if not self.standardize_targets:
            return np.zeros(Y.shape[1], np.float32), np.ones(Y.shape[1], np.float32)
        return Y.mean(0), np.where(Y.std(0) > 0, Y.std(0), 1.0).astype(np.float32)

    def uses_fp16(self, training: bool) -> bool:
        """Whether the frozen backbone runs under fp16 autocast: on the augmented training images,
        as BrainDiVE's trainer does, and only on CUDA (the linear layer stays float32)."""
        on_cuda = self.backbone is not None and torch.device(self.backbone.device).type == "cuda"
        return bool(training and self.fp16 and on_cuda)

    def _schedule(self, optimiser):
        """BrainDiVE halves the lr every ``lr_halving_epochs``; BrainSCUBA decays it continuously,
        ``lr * 0.5^(epoch / lr_halving_epochs)``."""
        if self.lr_schedule == "step":
            return torch.optim.lr_scheduler.StepLR(optimiser, step_size=self.lr_halving_epochs, gamma=0.5)
        if self.lr_schedule == "exponential":
            return torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=0.5 ** (1.0 / self.lr_halving_epochs))
        raise ConfigError(None, "probe.lr_schedule", f"one of {LR_SCHEDULES}, got {self.lr_schedule!r}")

    def predict(self, X) -> np.ndarray:
        return (self._embed(X).numpy() @ self.coef_.T + self.intercept_).astype(np.float32)

    def score(self, X, Y) -> np.ndarray:
        """Per-unit R^2 on (X, Y)."""
        return r2_per_unit(np.asarray(Y), self.predict(X))


class HimalayaRidge(VoxelRidge):
    """The same model as ``VoxelRidge``, fitted by himalaya's ``RidgeCV`` (same folds and score).

    himalaya runs on its ``torch_cuda`` backend when a GPU is used and on ``numpy`` otherwise.
    ``VoxelRidge`` is the default because on a CPU it is the faster of the two by an order of
    magnitude (``benchmarks/encoding.py --himalaya`` at NSD scale: himalaya 120-150 s, scikit-learn's
    RidgeCV 41 s); ``encoding.estimator: himalaya_ridge`` selects this one. Fitted attributes as ``VoxelRidge``'s,
    without ``cv_mse_``.
    """

    def fit(self, X, Y) -> HimalayaRidge:
        X, Y = _check_xy(X, Y)
        dtype = np.dtype(self.dtype)
        device = resolve_device(self.device) if isinstance(self.device, str) else torch.device(self.device)
        backend = set_backend("torch_cuda" if device.type == "cuda" else "numpy", on_error="raise")
        model = RidgeCV(
            alphas=np.asarray(self.alphas, dtype=np.float64).ravel(), cv=self.cv, fit_intercept=self.fit_intercept
        ).fit(X.astype(dtype), Y.astype(dtype))
        self.coef_ = np.asarray(backend.to_numpy(model.coef_), dtype=dtype).T.copy()
        intercept = np.asarray(backend.to_numpy(model.intercept_), dtype=dtype)
        self.intercept_ = np.broadcast_to(intercept, (Y.shape[1],)).copy()
        self.best_alphas_ = np.asarray(backend.to_numpy(model.best_alphas_), dtype=np.float64)
        self.n_features_in_ = X.shape[1]
        return self


ESTIMATORS = {"ridge": VoxelRidge, "himalaya_ridge": HimalayaRidge, "linear_probe": LinearProbeEncoder}


# ---------------------------------------------------------------------------------------------
# Settings: the config's `encoding` section
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeConfig:
    """BrainDiVE's linear probe (``encoding.probe``). The defaults are the project's earlier recipe;
    the official trainer's values are in ``config/paper.yaml`` (the module docstring lists them)."""

    epochs: int = 300
    lr: float = 3e-4
    lr_halving_epochs: int = 100
    weight_decay: float = 2e-2
    batch_size: int = 128
    augment: bool = True
    max_shift: int = 4
    noise_std: float = 0.05
    brightness: float = 0.2
    lr_schedule: str = "step"
    shift_padding: str = "reflect"
    noise_space: str = "pixels"
    standardize_targets: bool = True
    fp16: bool = False

    def __post_init__(self):
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.shift_padding not in SHIFT_PADDINGS:
            raise ValueError(f"shift_padding must be one of {SHIFT_PADDINGS}, got {self.shift_padding!r}")
        if self.noise_space not in NOISE_SPACES:
            raise ValueError(f"noise_space must be one of {NOISE_SPACES}, got {self.noise_space!r}")


@dataclass(frozen=True)
class EncodingConfig:
    """The estimator and its settings (``encoding``: estimator, alphas, cv_folds, dtype, probe).

    ``seed`` is not a config key: :func:`fit` derives it from the master seed (the linear probe's
    initialisation, batch order and augmentations use it; the ridge estimators are deterministic).
    """

    estimator: str = "ridge"
    alphas: tuple[float, ...] = DEFAULT_ALPHAS
    cv_folds: int = 5
    dtype: str = "float32"
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    seed: int = 0

    @property
    def needs_images(self) -> bool:
        """An augmenting linear probe embeds augmented copies of the images itself."""
        return self.estimator == "linear_probe" and self.probe.augment


def make_estimator(config: EncodingConfig, backbone=None, device="auto"):
    """The encoder ``config.estimator`` names, with its settings (``backbone``: an augmenting probe's)."""
    if config.estimator in ("ridge", "himalaya_ridge"):
        return ESTIMATORS[config.estimator](alphas=config.alphas, cv=config.cv_folds, device=device, dtype=config.dtype)
    if config.estimator == "linear_probe":
        return LinearProbeEncoder(
            backbone=backbone if config.probe.augment else None, device=device, seed=config.seed, **asdict(config.probe)
        )
    raise ConfigError(None, "encoding.estimator", f"one of {sorted(ESTIMATORS)}, got {config.estimator!r}")


# ---------------------------------------------------------------------------------------------
# Pipeline steps: align features with responses, save / load a fitted encoder
# ---------------------------------------------------------------------------------------------


@dataclass
class EncodingSplit:
    """Rows of features and responses matched by stimulus id, for one split."""

    stim_ids: np.ndarray
    X: np.ndarray
    Y: np.ndarray


def align_features(
    features: np.ndarray, feature_ids: list[str], responses, split: str, features_source=None
) -> EncodingSplit:
    """Features rows for every stimulus of ``responses`` in ``split`` (in the responses' order)."""
    Y, stim_ids = responses.select(split)
    row_of = {stim_id: row for row, stim_id in enumerate(feature_ids)}
    missing = [stim_id for stim_id in stim_ids if stim_id not in row_of]
    if missing:
        raise DataValidationError(
            features_source,
            "ids",
            "a feature row for every stimulus with a response",
            f"{len(missing)} missing, e.g. {missing[:3]}",
        )
    if len(stim_ids) == 0:
        raise DataValidationError(None, "split", f"at least one {split!r} stimulus", "none")
    return EncodingSplit(np.asarray(stim_ids), features[[row_of[s] for s in stim_ids]], Y)


_FITTED = {
    "ridge": ("coef_", "intercept_", "best_alphas_", "cv_mse_"),
    "himalaya_ridge": ("coef_", "intercept_", "best_alphas_"),
    "linear_probe": ("coef_", "intercept_", "loss_curve_"),
}


def save_encoder(path, estimator, config: EncodingConfig, metadata: dict | None = None) -> None:
    """A self-describing checkpoint: the settings, the fitted arrays and the code version."""
    name = next(key for key, cls in ESTIMATORS.items() if type(estimator) is cls)
    state = {attr: torch.as_tensor(np.asarray(getattr(estimator, attr))) for attr in _FITTED[name]}
    payload = {
        "estimator": name,
        "config": asdict(config),
        "state_dict": state,
        "metadata": metadata or {},
        "neurogaze_version": neurogaze.__version__,
    }
    write_torch(path, payload)


def _read_checkpoint(path) -> tuple[dict, EncodingConfig]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for missing or truncated files
        raise DataValidationError(path, "checkpoint", "an encoder checkpoint written by save_encoder", exc) from exc
    try:
        config = from_section(EncodingConfig, payload["config"], "encoding")
    except (ConfigError, KeyError, TypeError) as exc:
        raise DataValidationError(path, "config", "the settings of an encoder checkpoint written by save_encoder",
                                  exc) from exc
    return payload, config


def checkpoint_config(path) -> EncodingConfig:
    """The settings an encoder checkpoint was fitted with."""
    return _read_checkpoint(path)[1]


def load_encoder(path, backbone=None):
    """Rebuild a fitted encoder from ``save_encoder``'s checkpoint (pass the backbone for an image probe)."""
    payload, config = _read_checkpoint(path)
    estimator = make_estimator(config, backbone=backbone, device="cpu")
    for attr, value in payload["state_dict"].items():
        setattr(estimator, attr, value.numpy())
    if isinstance(estimator, VoxelRidge):
        estimator.n_features_in_ = estimator.coef_.shape[1]
    return estimator


def summarise_by_roi(table, rois: dict[str, np.ndarray]) -> pd.DataFrame:
    """Median and mean of each metric within each ROI (units are indexed in response order)."""
    rows = []
    for metric, group in table.groupby("metric", sort=True):
        values = group.sort_values("unit")["value"].to_numpy(dtype=float)
        for name in sorted(rois):
            inside = values[np.asarray(rois[name], dtype=bool)]
            finite = inside[np.isfinite(inside)]
            rows.append(
                {
                    "roi": name,
                    "metric": metric,
                    "n_units": int(inside.size),
                    "median": float(np.median(finite)) if finite.size else np.nan,
                    "mean": float(finite.mean()) if finite.size else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=["roi", "metric", "n_units", "median", "mean"])


# ---------------------------------------------------------------------------------------------
# Stages: rules encoding_fit and encoding_evaluate
# ---------------------------------------------------------------------------------------------


def _design(features, responses, split: str):
    feature_rows, feature_ids = read_features(features)
    brain = read_brain_responses(responses)
    return align_features(feature_rows, feature_ids, brain, split, features_source=features), brain


def _images(stimuli, stim_ids) -> list[np.ndarray]:
    """The stimulus images of ``stim_ids``, in that order (an augmenting probe embeds them itself)."""
    stimulus_set = read_stimulus_set(stimuli)
    missing = sorted(set(stim_ids) - set(stimulus_set.stim_ids))
    if missing:
        raise DataValidationError(f"{stimuli}/index.parquet", "stim_id", "every stimulus of the responses",
                                  f"{len(missing)} missing, e.g. {missing[:3]}")
    return [image for _, image in stimulus_set.iter_images(list(stim_ids))]


def _image_backbone(config: EncodingConfig, backbone_spec: dict, backbone, device):
    """The backbone an augmenting probe embeds images with, its weights read from ``backbone``."""
    if not config.needs_images:
        return None
    location = "weights" if backbone_spec.get("weights") else "cache_dir"
    return build_backbone({**backbone_spec, location: str(backbone)}, device)


def fit(*, features, responses, stimuli, backbone, model, settings: dict, backbone_spec: dict, seed: int,
        device: str, dataset: str, subject: str) -> None:
    """Rule ``encoding_fit``: the configured encoder fitted on the training split, saved to ``model``.

    ``features`` (the backbone's cached embeddings of ``stimuli``) feed the ridge estimators and a
    probe without augmentation; an augmenting probe embeds augmented ``stimuli`` images itself
    through the backbone (``backbone_spec``, weights from ``backbone``). ``seed`` is the master
    seed; the probe's own derives from it.
    """
    config = from_section(EncodingConfig, settings, "encoding", seed=derive_seed(seed, "encoding"))
    train, _ = _design(features, responses, "train")
    if config.estimator != "linear_probe" and config.cv_folds > len(train.Y):
        raise ConfigError(None, "encoding.cv_folds",
                          f"at most the {len(train.Y)} training stimuli, got {config.cv_folds}")
    device = resolve_device(device)
    image_backbone = _image_backbone(config, backbone_spec, backbone, device)
    X = _images(stimuli, train.stim_ids) if image_backbone is not None else train.X
    estimator = make_estimator(config, backbone=image_backbone, device=device).fit(X, train.Y)
    metadata = {"features": str(features), "responses": str(responses), "n_train": len(train.Y),
                "n_units": int(train.Y.shape[1])}
    save_encoder(model, estimator, config, metadata)


def evaluate(*, features, responses, stimuli, backbone, model, metrics, roi_summary, backbone_spec: dict, seed: int,
             device: str, dataset: str, subject: str) -> None:
    """Rule ``encoding_evaluate``: the fitted ``model`` scored on the test split.

    ``metrics``: R^2, Pearson r and r / noise ceiling of every unit (method ``encoding``, dataset
    ``<dataset>/<subject>``, seed the master seed); ``roi_summary``: their median and mean per ROI.
    The settings are the checkpoint's own.
    """
    config = checkpoint_config(model)
    test, brain = _design(features, responses, "test")
    image_backbone = _image_backbone(config, backbone_spec, backbone, resolve_device(device))
    estimator = load_encoder(model, backbone=image_backbone)
    X = _images(stimuli, test.stim_ids) if image_backbone is not None else test.X
    table = encoding_metric_table(test.Y, estimator.predict(X), brain.noise_ceiling, method="encoding",
                                  dataset=f"{dataset}/{subject}", split="test", seed=seed)
    summary = summarise_by_roi(table, brain.rois)
    write_metrics(metrics, table)
    write_csv(roi_summary, summary)
