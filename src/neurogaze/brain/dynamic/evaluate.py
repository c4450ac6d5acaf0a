"""End-point error of decoded flow and its controls: the training set's mean flow, the decoder fed
fMRI shuffled across test videos, and a permutation test over those shuffles."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def end_point_error(predicted: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Mean over grid cells of the Euclidean distance between flow vectors: (n, h, w, 2) -> (n,)."""
    return np.linalg.norm(predicted - true, axis=-1).reshape(len(true), -1).mean(axis=1)


def permutation_test(predict: Callable[[np.ndarray], np.ndarray], fmri: np.ndarray, true: np.ndarray,
                     n_permutations: int, seed: int) -> dict:
    """Mean EPE with the fMRI rows in their order against the null of the same decoder fed the rows
    permuted across videos (everything else kept). p = (1 + #null <= observed) / (1 + n)."""
    observed = float(end_point_error(predict(fmri), true).mean())
    rng = np.random.default_rng(seed)
    null = np.array([end_point_error(predict(fmri[rng.permutation(len(fmri))]), true).mean()
                     for _ in range(n_permutations)])
    return {"epe": observed, "null_mean": float(null.mean()), "null_sd": float(null.std()),
            "p_value": float((1 + np.sum(null <= observed)) / (1 + n_permutations)),
            "n_permutations": n_permutations}


def epe_table(video_ids, true: np.ndarray, methods: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per video and method: the EPE of that method's flow."""
    rows = [pd.DataFrame({"video_id": list(video_ids), "method": name, "epe": end_point_error(flow, true)})
            for name, flow in methods.items()]
    return pd.concat(rows, ignore_index=True)
