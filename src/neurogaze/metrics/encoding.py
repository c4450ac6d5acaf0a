"""Scores of a voxel-wise encoder: R^2, Pearson r and r relative to the noise ceiling, per unit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurogaze.errors import DataValidationError

ENCODING_METRICS = ("r2", "pearson_r", "r_over_nc")


def _check_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != y_pred.shape:
        raise DataValidationError(None, "y_pred", f"a 2-D array of shape {y_true.shape}", y_pred.shape)
    return y_true, y_pred


def r2_per_unit(y_true, y_pred) -> np.ndarray:
    """Coefficient of determination of each column (1 - SS_res / SS_tot); NaN for a constant column."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    ss_res = ((y_true - y_pred) ** 2).sum(0)
    ss_tot = ((y_true - y_true.mean(0)) ** 2).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.nan)


def pearson_per_unit(y_true, y_pred) -> np.ndarray:
    """Pearson correlation of each column; NaN where either column is constant."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    a = y_true - y_true.mean(0)
    b = y_pred - y_pred.mean(0)
    denom = np.sqrt((a * a).sum(0) * (b * b).sum(0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, (a * b).sum(0) / denom, np.nan)


def noise_ceiling_from_ncsnr(ncsnr, n_repeats: int) -> np.ndarray:
    """NSD's noise ceiling for responses averaged over ``n_repeats`` trials, in units of Pearson r.

    NSD reports NC = 100 * ncsnr^2 / (ncsnr^2 + 1/n) as % of variance explainable; the largest
    correlation a perfect model can reach with the noisy average is its square root.
    """
    ncsnr = np.asarray(ncsnr, dtype=np.float64)
    return np.sqrt(ncsnr**2 / (ncsnr**2 + 1.0 / n_repeats))


def r_over_noise_ceiling(r, noise_ceiling, min_ceiling: float = 1e-3) -> np.ndarray:
    """r divided by the ceiling; NaN where the ceiling is (near) zero, i.e. nothing is explainable."""
    r = np.asarray(r, dtype=np.float64)
    ceiling = np.asarray(noise_ceiling, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ceiling > min_ceiling, r / ceiling, np.nan)


def encoding_scores(y_true, y_pred, noise_ceiling) -> dict[str, np.ndarray]:
    r = pearson_per_unit(y_true, y_pred)
    return {"r2": r2_per_unit(y_true, y_pred), "pearson_r": r, "r_over_nc": r_over_noise_ceiling(r, noise_ceiling)}


def encoding_metric_table(
    y_true, y_pred, noise_ceiling, method: str, dataset: str, split: str = "test", seed: int = 0, units=None
) -> pd.DataFrame:
    """Tidy rows (METRIC_COLUMNS) with every metric of every unit, ready for ``write_metrics``."""
    scores = encoding_scores(y_true, y_pred, noise_ceiling)
    n_units = np.asarray(y_true).shape[1]
    units = [f"{i:06d}" for i in range(n_units)] if units is None else [str(u) for u in units]
    if len(units) != n_units:
        raise DataValidationError(None, "units", f"{n_units} unit names", len(units))
    frames = [
        pd.DataFrame(
            {
                "method": method,
                "dataset": dataset,
                "unit": units,
                "metric": name,
                "split": split,
                "seed": seed,
                "value": values,
            }
        )
        for name, values in scores.items()
    ]
    return pd.concat(frames, ignore_index=True)
