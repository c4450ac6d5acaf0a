"""OAT's object-level baselines: each visits objects in its own order and stops on the target.

- ``random``: a uniformly random order (sampled);
- ``nearest_first``: from the object nearest the layout's centre, always the nearest unvisited one;
- ``saliency``: by bottom-up conspicuity, the distance of an object's mean colour from the
  layout's mean colour plus its own colour spread (feature contrast, no target knowledge);
- ``target_similarity``: by RGB-histogram intersection with the target cue (8 bins a channel).
"""

from __future__ import annotations

import numpy as np

from neurogaze.data.gaze.objects import ObjectSearchSet, SearchTrial

HISTOGRAM_BINS = 8


def _until_target(order: np.ndarray, target: int, max_length: int) -> np.ndarray:
    hits = np.flatnonzero(order == target)
    end = hits[0] + 1 if len(hits) else len(order)
    return order[: min(end, max_length)]


def colour_histogram(patch: np.ndarray) -> np.ndarray:
    bins = (patch.reshape(-1, 3).astype(int) * HISTOGRAM_BINS) // 256
    codes = (bins[:, 0] * HISTOGRAM_BINS + bins[:, 1]) * HISTOGRAM_BINS + bins[:, 2]
    counts = np.bincount(codes, minlength=HISTOGRAM_BINS**3).astype(float)
    return counts / counts.sum()


def _centres(trial: SearchTrial) -> np.ndarray:
    return (trial.boxes[:, :2] + trial.boxes[:, 2:]) / 2


def random_order(trial: SearchTrial, search_set: ObjectSearchSet, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(len(trial.objects))


def nearest_first_order(trial: SearchTrial, search_set: ObjectSearchSet, rng=None) -> np.ndarray:
    centres = _centres(trial)
    screen_centre = (centres.max(axis=0) + centres.min(axis=0)) / 2
    current = int(np.linalg.norm(centres - screen_centre, axis=1).argmin())
    order, left = [current], set(range(len(centres))) - {current}
    while left:
        candidates = sorted(left)
        current = candidates[int(np.linalg.norm(centres[candidates] - centres[current], axis=1).argmin())]
        order.append(current)
        left.remove(current)
    return np.array(order)


def saliency_order(trial: SearchTrial, search_set: ObjectSearchSet, rng=None) -> np.ndarray:
    patches = search_set.patches[trial.objects].astype(float) / 255.0
    means = patches.reshape(len(patches), -1, 3).mean(axis=1)
    spread = patches.reshape(len(patches), -1, 3).std(axis=1).mean(axis=1)
    conspicuity = np.linalg.norm(means - means.mean(axis=0), axis=1) + spread
    return np.argsort(-conspicuity, kind="stable")


def target_similarity_order(trial: SearchTrial, search_set: ObjectSearchSet, rng=None) -> np.ndarray:
    target = colour_histogram(search_set.patches[trial.target_patch])
    similarity = np.array([np.minimum(colour_histogram(search_set.patches[p]), target).sum() for p in trial.objects])
    return np.argsort(-similarity, kind="stable")


BASELINES = {"random": random_order, "nearest_first": nearest_first_order, "saliency": saliency_order,
             "target_similarity": target_similarity_order}
STOCHASTIC = {"random"}


def baseline_scanpath(name: str, trial: SearchTrial, search_set: ObjectSearchSet, rng: np.random.Generator,
                      max_length: int) -> np.ndarray:
    return _until_target(BASELINES[name](trial, search_set, rng), trial.target_index, max_length)
