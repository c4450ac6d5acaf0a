"""The gaze method's stages: baseline scanpaths (rule ``gaze_baseline``), a method's scanpaths
scored against every human of each image (``gaze_evaluate``) and the leave-one-subject-out human
ceiling (``gaze_human_consistency``).

Each reads the data contracts (human fixations, the stimulus index), calls the library and writes
its output atomically. Only the images of one split of the stimulus index are predicted and
scored (``split``, the test split by default); a fitted centre bias uses the other images.
"""

from __future__ import annotations

import logging

import pandas as pd

from neurogaze.config import from_section
from neurogaze.data.contracts import read_fixations, read_stimulus_set, write_fixations, write_metrics
from neurogaze.gaze import BASELINES
from neurogaze.gaze.baselines import BaselineConfig, baseline_fixations, fit_centre_bias
from neurogaze.metrics import gaze_evaluation
from neurogaze.metrics.gaze_evaluation import GazeEvaluationConfig, aggregate_metrics, scored_split
from neurogaze.runlog import derive_seed

logger = logging.getLogger(__name__)


def baseline(*, baseline: str, dataset: str, fixations, stimuli, scanpaths, settings: dict, split: str,
             seed: int) -> None:
    """Scanpaths of ``baseline`` (one of ``neurogaze.gaze.BASELINES``) for every image of ``split``."""
    config = from_section(BaselineConfig, settings, "gaze_baselines")
    humans, sizes, index = _read_humans(fixations, stimuli)
    on_split, other = scored_split(humans, index, split, fixations)
    table = baseline_fixations(
        baseline,
        on_split,
        sizes,
        n_samples=config.n_samples,
        seed=derive_seed(seed, "baseline", baseline),
        centre_bias=_centre_bias(other, sizes, config.centre_bias),
        training=other,
    )
    write_fixations(scanpaths, table, sizes)
    logger.info("%s: %d scanpaths on %d %s images", baseline, config.n_samples * on_split["stim_id"].nunique(),
                on_split["stim_id"].nunique(), dataset)


def evaluate(*, method: str, dataset: str, fixations, stimuli, scanpaths, metrics, settings: dict,
             seed: int) -> None:
    """Score ``method``'s scanpaths of the scored split against every human of each image.

    Only predicted images of the split are scored; every human fixation of the dataset is passed,
    so that shuffled-AUC negatives come from all other images, not only from the scored split.
    """
    config = from_section(GazeEvaluationConfig, settings, "gaze_evaluation")
    humans, sizes, index = _read_humans(fixations, stimuli)
    on_split, other = scored_split(humans, index, config.split, fixations)
    predicted = read_fixations(scanpaths, sizes)
    predicted = predicted[predicted["stim_id"].isin(set(on_split["stim_id"]))]
    centre_bias = _centre_bias(other, sizes, config.centre_bias)
    table = gaze_evaluation.evaluate_scanpaths(
        predicted,
        humans,
        sizes,
        method,
        predicted_maps=_analytic_maps(method, predicted, sizes, centre_bias),
        centre_bias=centre_bias,
        seed=seed,
        pair_with_observer=config.pair_with_observer,
        **config.options(dataset),
    )
    _write_scores(metrics, table, dataset)


def human_consistency(*, dataset: str, fixations, stimuli, metrics, settings: dict, seed: int) -> None:
    """The leave-one-subject-out ceiling on the scored split (method ``human_consistency``)."""
    config = from_section(GazeEvaluationConfig, settings, "gaze_evaluation")
    humans, sizes, index = _read_humans(fixations, stimuli)
    on_split, other = scored_split(humans, index, config.split, fixations)
    table = gaze_evaluation.human_consistency(
        humans,
        sizes,
        stim_ids=sorted(on_split["stim_id"].unique()),
        centre_bias=_centre_bias(other, sizes, config.centre_bias),
        seed=seed,
        **config.options(dataset),
    )
    _write_scores(metrics, table, dataset)


def _analytic_maps(method: str, predicted: pd.DataFrame, sizes: dict, centre_bias: dict | None) -> dict | None:
    """A baseline's own map for every predicted image (its saliency scores are then those of the
    distribution it samples from, not of a blur of however many samples it drew); None for a
    model, whose map is blurred from its fixations."""
    if method not in BASELINES:
        return None
    images = predicted["stim_id"].unique()
    return {stim: gaze_evaluation.baseline_map(method, *sizes[stim], centre_bias) for stim in images}


def _read_humans(fixations, stimuli) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """(human fixations, stim_id -> (width, height), the stimulus index)."""
    index = read_stimulus_set(stimuli).index
    sizes = {row.stim_id: (int(row.width), int(row.height)) for row in index.itertuples()}
    return read_fixations(fixations, sizes), sizes, index


def _centre_bias(humans_other: pd.DataFrame, sizes: dict, setting) -> dict | None:
    """The configured centre bias, or ("fit") one fitted on the fixations outside the scored split
    (None, the default map, when there are none)."""
    if setting == "fit":
        return fit_centre_bias(humans_other, sizes) if len(humans_other) else None
    return dict(setting)


def _write_scores(path, table: pd.DataFrame, dataset: str) -> None:
    table["dataset"] = dataset
    write_metrics(path, pd.concat([table, aggregate_metrics(table)], ignore_index=True))
