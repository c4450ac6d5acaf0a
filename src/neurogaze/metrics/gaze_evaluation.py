"""Score a model's scanpaths and saliency maps against all human observers of each image.

Inputs are fixation tables in the contract (``neurogaze.data.contracts.FIXATION_COLUMNS``):
one of humans, one of predictions (``subject`` = model name or sample index). For every image:

- each predicted scanpath is compared with every human scanpath by every scanpath metric
  (``neurogaze.metrics.scanpath.SCANPATH_METRICS``); the image's value is the mean over all
  (prediction, human) pairs, NaN pairs (e.g. scanpaths too short for MultiMatch) left out;
- the predicted saliency map (given, e.g. a baseline's analytic map, or ``map_fixations`` of the
  predicted fixations blurred by ``sigma_px``, the same number for every method so that a map's
  score does not depend on how many scanpaths a method drew) is
  scored by every saliency metric (``neurogaze.metrics.saliency.SALIENCY_METRICS``) against
  the human fixations of the image, their blurred density (CC, KL, SIM), the human fixations
  of the other images rescaled to this one (shuffled AUC, as pysaliency) and a centre-bias or
  uniform baseline (information gain). Information gain is Kummerer et al.'s (2015), bits per
  fixation of a probabilistic model over a baseline model: a map built from fixations enters it
  as ``saliency.probabilistic_density`` of the same fixations (a kernel density mixed with a
  uniform share, both fitted on those fixations), not as the blur, whose empty pixels would
  cost 52 bits per fixation they miss.

The result is a tidy table in the metrics contract (method, dataset, unit = stim_id, metric,
split, seed, value) for ``contracts.write_metrics``; ``aggregate_metrics`` averages it per
dataset. ``human_consistency`` computes the leave-one-subject-out ceiling the same way.
:class:`GazeEvaluationConfig` holds the settings of config section ``gaze_evaluation``.

This module scores fixation tables and maps only: it imports no model and no baseline (the
centre-bias map of information gain is ``neurogaze.metrics.saliency.centre_bias_map``).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from neurogaze.data.contracts import METRIC_COLUMNS, validate_fixations
from neurogaze.errors import DataValidationError
from neurogaze.metrics import saliency as sal
from neurogaze.metrics import scanpath as scp
from neurogaze.runlog import image_rng

logger = logging.getLogger(__name__)

DATASET_UNIT = "dataset_mean"
IG_BASELINES = ("centre_bias", "uniform")


@dataclass(frozen=True)
class GazeEvaluationConfig:
    """How predicted scanpaths are scored: config section ``gaze_evaluation`` without the
    workflow's own keys (``datasets``, ``human_consistency``). The defaults are the schema's."""

    split: str = "test"
    pair_with_observer: bool = True  # a "<model>/<observer>" scanpath is scored against that observer only
    sigma_deg: float = 1.0
    map_fixations: int | None = 100  # predicted fixations per image blurred into its map; None = all
    pixels_per_degree: dict[str, float] = field(default_factory=dict)
    default_pixels_per_degree: float = 24.0
    ig_baseline: str = "centre_bias"
    centre_bias: str | dict[str, float] = "fit"  # "fit": fitted on fixations outside the scored split
    scanpath_metrics: tuple[str, ...] = (
        "multimatch", "scanmatch", "grid_lcs", "string_edit_distance", "dtw", "time_delay_embedding"
    )
    saliency_metrics: tuple[str, ...] = ("auc_judd", "sauc", "nss", "cc", "kld", "sim", "ig")
    metric_params: dict[str, dict] = field(default_factory=dict)

    def sigma_px(self, dataset: str) -> float:
        """``sigma_deg`` in pixels of ``dataset`` (its ``pixels_per_degree``, else the default)."""
        pixels_per_degree = self.pixels_per_degree.get(dataset, self.default_pixels_per_degree)
        return float(self.sigma_deg) * float(pixels_per_degree)

    def options(self, dataset: str) -> dict:
        """Keyword arguments of :func:`evaluate_scanpaths` and :func:`human_consistency` (the centre
        bias aside, which the caller resolves)."""
        return {
            "scanpath_metrics": list(self.scanpath_metrics),
            "saliency_metrics": list(self.saliency_metrics),
            "metric_params": dict(self.metric_params),
            "sigma_px": self.sigma_px(dataset),
            "map_fixations": self.map_fixations,
            "ig_baseline": self.ig_baseline,
            "split": self.split,
        }


# ---------------------------------------------------------------------------------------------
# Grouping
# ---------------------------------------------------------------------------------------------


def scanpaths_of(table: pd.DataFrame) -> dict[str, list[tuple[str, np.ndarray]]]:
    """stim_id -> [(subject, (n, 3) x, y, duration_ms)], one entry per (subject, trial), sorted."""
    ordered = table.sort_values(["stim_id", "subject", "trial", "fix_index"], kind="stable")
    grouped: dict[str, list[tuple[str, np.ndarray]]] = defaultdict(list)
    for (stim_id, subject, _), rows in ordered.groupby(["stim_id", "subject", "trial"], sort=False):
        grouped[stim_id].append((subject, rows[["x", "y", "duration_ms"]].to_numpy(float)))
    return dict(grouped)


def scored_split(humans: pd.DataFrame, index: pd.DataFrame, split: str,
                 source=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(human fixations on the images of ``split`` in the stimulus ``index``, those on the other
    images): what is predicted and scored, and what a centre bias is fitted on."""
    scored_ids = set(index.loc[index["split"] == split, "stim_id"])
    if not scored_ids & set(humans["stim_id"]):
        raise DataValidationError(source, "split", f"human fixations on at least one '{split}' image", "none")
    on_split = humans["stim_id"].isin(scored_ids)
    return humans[on_split], humans[~on_split]


class _OtherImageFixations:
    """Human fixations of all images as fractions of image size, for shuffled-AUC negatives."""

    def __init__(self, humans: pd.DataFrame, image_sizes):
        width = humans["stim_id"].map(lambda s: image_sizes[s][0]).to_numpy(float)
        height = humans["stim_id"].map(lambda s: image_sizes[s][1]).to_numpy(float)
        self.stim = humans["stim_id"].to_numpy(str)
        self.fx, self.fy = humans["x"].to_numpy(float) / width, humans["y"].to_numpy(float) / height

    def for_image(self, stim_id: str, width: int, height: int) -> np.ndarray:
        other = self.stim != stim_id
        # pysaliency rescales and truncates (int()) other images' fixations; floor is the same here.
        return sal.to_pixels(np.column_stack([self.fx[other] * width, self.fy[other] * height]), width, height)


# ---------------------------------------------------------------------------------------------
# Per-image scores
# ---------------------------------------------------------------------------------------------


def score_scanpath_sets(predicted, humans, image_size, metrics=None, params=None) -> dict[str, float]:
    """Mean of every scanpath-metric output over all (predicted, human) pairs, NaNs skipped."""
    return _mean_over_pairs([(prediction, humans) for prediction in predicted], image_size, metrics, params)


def _mean_over_pairs(pairs, image_size, metrics, params) -> dict[str, float]:
    """Mean of every scanpath-metric output over (prediction, its humans) pairs, NaNs skipped."""
    values: dict[str, list[np.ndarray]] = defaultdict(list)
    for prediction, humans in pairs:
        for name, per_human in scp.score_against_humans(prediction, humans, image_size, metrics, params).items():
            values[name].append(per_human)
    return {name: _nanmean(np.concatenate(v)) for name, v in values.items()}


def _paired_scores(predicted, humans, size, metrics, params, stim_id) -> dict[str, float]:
    """Scanpath metrics of each ``<model>/<observer>`` prediction against that observer's own
    scanpaths (every human's for predictions without an observer), averaged over predictions."""
    by_observer: dict[str, list[np.ndarray]] = defaultdict(list)
    for subject, path in humans:
        by_observer[str(subject)].append(path)
    everyone = [path for _, path in humans]
    pairs = []
    for subject, prediction in predicted:
        _, _, observer = str(subject).partition("/")
        if observer and observer not in by_observer:
            raise DataValidationError(None, "subject", f"an observer of {stim_id!r} after the '/'", subject)
        pairs.append((prediction, by_observer[observer] if observer else everyone))
    return _mean_over_pairs(pairs, size, metrics, params)


def score_saliency_map(saliency_map, target: sal.SaliencyTarget, metrics=None,
                       probabilistic_map=None) -> dict[str, float]:
    """Every chosen saliency metric (default: all) of one map against one image's target;
    information gain of ``probabilistic_map`` when given (a map built from fixations), else of
    the map itself."""
    names = metrics or list(sal.SALIENCY_METRICS)
    unknown = [name for name in names if name not in sal.SALIENCY_METRICS]
    if unknown:
        raise DataValidationError(None, "saliency_metrics", f"names from {sorted(sal.SALIENCY_METRICS)}", unknown)
    maps = {name: saliency_map for name in names}
    if probabilistic_map is not None and "ig" in maps:
        maps["ig"] = probabilistic_map
    return {name: float(sal.SALIENCY_METRICS[name](maps[name], target)) for name in names}


def _nanmean(values) -> float:
    values = np.asarray(values, dtype=float)
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


def baseline_map(kind: str, width: int, height: int, centre_bias: dict | None) -> np.ndarray:
    """The analytic map of a baseline (``"centre_bias"`` or ``"uniform"``)."""
    if kind == "uniform":
        return sal.uniform_map(width, height)
    return sal.centre_bias_map(width, height, **(centre_bias or {}))


def equal_count_pixels(scanpaths, width: int, height: int, n: int | None, rng: np.random.Generator) -> np.ndarray:
    """``n`` of the scanpaths' fixations as pixels (all of them when ``n`` is None): drawn without
    replacement when there are at least ``n``, else with replacement, so that every method's map
    is a blur of the same number of fixations however many scanpaths it sampled."""
    pixels = _pixels(scanpaths, width, height)
    if n is None or len(pixels) == 0:
        return pixels
    return pixels[rng.choice(len(pixels), size=n, replace=len(pixels) < n)]


def _maps_of_fixations(pixels: np.ndarray, shape, sigma_px, metrics) -> tuple[np.ndarray, np.ndarray | None]:
    """(the fixations blurred like the human ones, their probabilistic model for information gain,
    fitted only when ``metrics`` (None: all) include it)."""
    model = sal.probabilistic_density(pixels, shape, sigma_px) if metrics is None or "ig" in metrics else None
    return sal.fixation_density(pixels, shape, sigma_px), model


def _predicted_map(stim_id, predictions, predicted_maps, width, height, sigma_px, map_fixations, seed,
                   metrics) -> tuple[np.ndarray, np.ndarray | None]:
    """The given map of this image (and no probabilistic one: it is its own), else
    ``map_fixations`` predicted fixations blurred like the human ones and their probabilistic model."""
    if predicted_maps is None or stim_id not in predicted_maps:
        rng = image_rng(seed, stim_id, "map_fixations")
        pixels = equal_count_pixels(predictions, width, height, map_fixations, rng)
        return _maps_of_fixations(pixels, (height, width), sigma_px, metrics)
    field = f"predicted_maps[{stim_id!r}]"
    smap = sal.check_map(predicted_maps[stim_id], field)
    if smap.shape != (height, width):
        raise DataValidationError(None, field, f"shape {(height, width)}", smap.shape)
    return smap, None


def _pixels(scanpaths, width, height) -> np.ndarray:
    if not scanpaths:
        return np.empty((0, 2), dtype=np.int64)
    return sal.to_pixels(np.concatenate([s[:, :2] for s in scanpaths]), width, height)


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------


def evaluate_scanpaths(
    predicted: pd.DataFrame | None,
    humans: pd.DataFrame,
    image_sizes: dict[str, tuple[int, int]],
    method: str,
    *,
    scanpath_metrics: list[str] | None = None,
    saliency_metrics: list[str] | None = None,
    metric_params: dict[str, dict] | None = None,
    predicted_maps: dict[str, np.ndarray] | None = None,
    sigma_px: float = 25.0,
    map_fixations: int | None = None,
    ig_baseline: str = "centre_bias",
    centre_bias: dict[str, float] | None = None,
    split: str = "test",
    seed: int = 0,
    progress: bool = True,
    pair_with_observer: bool = False,
) -> pd.DataFrame:
    """Per-image metric rows (metrics contract) of a model's predictions against the humans.
    ``pair_with_observer``: a predicted scanpath whose subject is ``<model>/<observer>`` (one per
    caption, CapMIT1003) is compared with that observer's own scanpath of the image only, as
    the NevaClip paper scores it; other scanpaths with every human of the image.
    ``map_fixations``: the number of predicted fixations an image's map is blurred from (seeded
    draw, :func:`equal_count_pixels`; None = all).

    ``predicted`` may be None when ``predicted_maps`` (stim_id -> map of the image's height x
    width) is given: then only saliency metrics are computed. ``scanpath_metrics`` /
    ``saliency_metrics`` pick registry names (default all; ``[]`` for none);
    ``metric_params`` maps a scanpath-metric name to keyword arguments (e.g. ScanMatch's grid).
    Only images present in the predictions (or maps) are scored.
    """
    scanpath_metrics, saliency_metrics = _chosen(scanpath_metrics), _chosen(saliency_metrics)
    _check_options(scanpath_metrics, saliency_metrics, ig_baseline)
    humans = validate_fixations(humans, "human fixations", image_sizes)
    if predicted is None and predicted_maps is None:
        raise DataValidationError(None, "predicted", "a fixation table or saliency maps", None)
    predicted_paths = {}
    if predicted is not None:
        predicted = validate_fixations(predicted, "predicted fixations", image_sizes)
        predicted_paths = scanpaths_of(predicted)
    human_paths = scanpaths_of(humans)
    stim_ids = sorted(set(predicted_paths) | set(predicted_maps or {}))
    missing = [stim for stim in stim_ids if stim not in human_paths]
    if missing:
        raise DataValidationError(None, "stim_id", "predictions only for images with human fixations", missing[:5])
    datasets = humans.groupby("stim_id")["dataset"].first()
    others = _OtherImageFixations(humans, image_sizes)

    rows = []
    for stim_id in tqdm(stim_ids, desc=f"evaluate {method}", disable=not progress):
        width, height = image_sizes[stim_id]
        humans_here = [path for _, path in human_paths[stim_id]]
        predictions = [path for _, path in predicted_paths.get(stim_id, [])]
        values = {}
        if predictions and scanpath_metrics != []:
            size = (width, height)
            if pair_with_observer:
                values.update(_paired_scores(predicted_paths[stim_id], human_paths[stim_id], size, scanpath_metrics,
                                             metric_params, stim_id))
            else:
                values.update(score_scanpath_sets(predictions, humans_here, size, scanpath_metrics, metric_params))
        if saliency_metrics != []:
            smap, pmap = _predicted_map(stim_id, predictions, predicted_maps, width, height, sigma_px,
                                        map_fixations, seed, saliency_metrics)
            target = sal.SaliencyTarget.from_fixations(
                _pixels(humans_here, width, height),
                (height, width),
                sigma_px,
                nonfixations=others.for_image(stim_id, width, height),
                baseline=baseline_map(ig_baseline, width, height, centre_bias),
            )
            values.update(score_saliency_map(smap, target, saliency_metrics, pmap))
        rows.extend(_rows(values, method, datasets[stim_id], stim_id, split, seed))
    return _table(rows)


def human_consistency(
    humans: pd.DataFrame,
    image_sizes: dict[str, tuple[int, int]],
    *,
    method: str = "human_consistency",
    scanpath_metrics: list[str] | None = None,
    saliency_metrics: list[str] | None = None,
    metric_params: dict[str, dict] | None = None,
    sigma_px: float = 25.0,
    map_fixations: int | None = None,
    ig_baseline: str = "centre_bias",
    centre_bias: dict[str, float] | None = None,
    split: str = "test",
    seed: int = 0,
    progress: bool = True,
    stim_ids: list[str] | None = None,
) -> pd.DataFrame:
    """Leave-one-subject-out ceiling, per image, in the metrics contract. The other subjects' map
    is blurred from ``map_fixations`` of their fixations, as a model's is.

    ``stim_ids`` limits the scored images (default: all); every image of ``humans`` still
    supplies shuffled-AUC negatives, as for :func:`evaluate_scanpaths`.

    Each subject's scanpaths are scored against every other subject's (scanpath metrics), and
    the other subjects' fixations blurred by ``sigma_px`` are scored as a saliency map against
    the left-out subject's fixations; for CC, KL and SIM the target is the left-out subject's
    own blurred fixations, which is noisier than the all-subject density a model is scored
    against, so those three ceilings are conservative. The image's value is the mean over
    subjects. Images with fewer than two subjects are skipped.
    """
    scanpath_metrics, saliency_metrics = _chosen(scanpath_metrics), _chosen(saliency_metrics)
    _check_options(scanpath_metrics, saliency_metrics, ig_baseline)
    humans = validate_fixations(humans, "human fixations", image_sizes)
    human_paths = scanpaths_of(humans)
    datasets = humans.groupby("stim_id")["dataset"].first()
    others = _OtherImageFixations(humans, image_sizes)
    rows = []
    scored = sorted(human_paths) if stim_ids is None else sorted(set(stim_ids) & set(human_paths))
    for stim_id in tqdm(scored, desc=method, disable=not progress):
        width, height = image_sizes[stim_id]
        by_subject: dict[str, list[np.ndarray]] = defaultdict(list)
        for subject, path in human_paths[stim_id]:
            by_subject[subject].append(path)
        if len(by_subject) < 2:
            logger.warning("human consistency: %s has fewer than two subjects; skipped", stim_id)
            continue
        nonfixations = others.for_image(stim_id, width, height)
        baseline = baseline_map(ig_baseline, width, height, centre_bias)
        rng = image_rng(seed, stim_id, "map_fixations")
        per_subject: dict[str, list[float]] = defaultdict(list)
        for subject, own in by_subject.items():
            rest = [path for other, paths in by_subject.items() if other != subject for path in paths]
            values = {}
            if scanpath_metrics != []:
                values.update(score_scanpath_sets(own, rest, (width, height), scanpath_metrics, metric_params))
            if saliency_metrics != []:
                pixels = equal_count_pixels(rest, width, height, map_fixations, rng)
                smap, pmap = _maps_of_fixations(pixels, (height, width), sigma_px, saliency_metrics)
                target = sal.SaliencyTarget.from_fixations(
                    _pixels(own, width, height), (height, width), sigma_px, nonfixations, baseline
                )
                values.update(score_saliency_map(smap, target, saliency_metrics, pmap))
            for name, value in values.items():
                per_subject[name].append(value)
        values = {name: _nanmean(v) for name, v in per_subject.items()}
        rows.extend(_rows(values, method, datasets[stim_id], stim_id, split, seed))
    return _table(rows)


def aggregate_metrics(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over images per (method, dataset, metric, split, seed), NaNs skipped; unit = 'dataset_mean'."""
    keys = ["method", "dataset", "metric", "split", "seed"]
    per_image = table[table["unit"] != DATASET_UNIT]
    means = per_image.groupby(keys, sort=True)["value"].mean().reset_index()
    means["unit"] = DATASET_UNIT
    return means[list(METRIC_COLUMNS)]


def _rows(values: dict[str, float], method, dataset, stim_id, split, seed) -> list[dict]:
    fixed = {"method": method, "dataset": dataset, "unit": stim_id, "split": split, "seed": int(seed)}
    return [{**fixed, "metric": name, "value": value} for name, value in sorted(values.items())]


def _table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


def _chosen(names) -> list[str] | None:
    """None (every metric) or the chosen names as a list, so that an empty tuple means none too."""
    return None if names is None else list(names)


def _check_options(scanpath_metrics, saliency_metrics, ig_baseline) -> None:
    """Fail on a misspelt option before any image is scored."""
    for option, chosen, registry in (
        ("scanpath_metrics", scanpath_metrics, scp.SCANPATH_METRICS),
        ("saliency_metrics", saliency_metrics, sal.SALIENCY_METRICS),
    ):
        unknown = [name for name in chosen or [] if name not in registry]
        if unknown:
            raise DataValidationError(None, option, f"names from {sorted(registry)}", unknown)
    _check_choice(ig_baseline, IG_BASELINES, "ig_baseline")


def _check_choice(value, choices, field) -> None:
    if value not in choices:
        raise DataValidationError(None, field, f"one of {choices}", value)
