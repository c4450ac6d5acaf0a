"""The ADHD rules' stages: network maps of a loaded resting-state cohort, then the classifier's
evaluation. One function per rule (``adhd_maps`` -> :func:`maps`, ``adhd_evaluate`` ->
:func:`evaluate`); the figures are :func:`neurogaze.figures.adhd.plot`."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pandas as pd

from neurogaze.brain.adhd import classification
from neurogaze.brain.adhd.classification import ClassifierConfig, MapsConfig
from neurogaze.config import from_section
from neurogaze.data.adhd200 import read_rest_cohort
from neurogaze.data.synthetic.adhd200 import GROUND_TRUTH
from neurogaze.errors import DataValidationError

logger = logging.getLogger(__name__)

MAPS_CACHE = "maps_cache"


def maps(*, rest: str | os.PathLike, cohort_maps: str | os.PathLike, phenotype: str | os.PathLike, settings: dict,
         test_subjects: str | os.PathLike | None, seed: int, dataset: str) -> None:
    """Rule ``adhd_maps``: the network maps of every subject of the cohort that the loader wrote
    to the folder ``rest`` -> ``cohort_maps`` (HDF5) and its ``phenotype`` table (labels and the
    train/test split: the cohort's own split column, else the subjects listed in the file
    ``test_subjects`` (``adhd.test_subjects``, also an input of the rule), else a draw of
    ``test_fraction`` per site x diagnosis seeded by ``seed``).

    Each subject's maps are cached in ``maps_cache/`` beside ``cohort_maps``, keyed on the graph
    settings and the subject's time series, so an interrupted run resumes where it stopped.
    """
    config = from_section(MapsConfig, settings, "adhd")
    table = read_rest_cohort(rest)
    logger.info("adhd maps of %s: %d subjects, features %s", dataset, len(table), ", ".join(config.features))
    cohort = classification.compute_cohort_maps(
        table["path"],
        config,
        phenotype=table.drop(columns="path"),
        seed=seed,
        test_subjects=classification.read_subject_list(test_subjects) if test_subjects else None,
        cache_dir=Path(cohort_maps).parent / MAPS_CACHE,
    )
    classification.write_cohort_maps(cohort_maps, cohort, phenotype)


def evaluate(*, cohort_maps: str | os.PathLike, phenotype: str | os.PathLike,
             synthetic: str | os.PathLike | None = None, metrics: str | os.PathLike, predictions: str | os.PathLike,
             maps: str | os.PathLike, settings: dict, seed: int, dataset: str) -> None:
    """Rule ``adhd_evaluate``: test-set, cross-validated and permuted-label scores of the PCA-LDA
    classifier -> ``metrics`` (tidy), ``predictions`` and ``maps`` (learned mask, group t maps);
    for a synthetic cohort (its generator's folder ``synthetic``), the Dice overlap of the learned
    mask with the planted regions of its ``ground_truth.json`` as well."""
    config = from_section(ClassifierConfig, settings, "adhd")
    planted_file = None if synthetic is None else Path(synthetic) / GROUND_TRUTH
    if planted_file is not None and not planted_file.is_file():
        raise DataValidationError(planted_file, "file", "the synthetic cohort's planted regions", "no such file")
    cohort = classification.read_cohort_maps(cohort_maps, phenotype)
    planted = None
    if planted_file is not None:
        try:
            truth = json.loads(planted_file.read_text())
        except json.JSONDecodeError as exc:
            raise DataValidationError(planted_file, "file", "JSON", str(exc)) from exc
        planted = classification.planted_voxel_mask(truth, cohort.maps.shape[2], source=planted_file)
    results = classification.evaluate(cohort, config, seed=seed, dataset=dataset)
    if planted is not None:
        dice = classification.planted_dice_rows(results, planted, seed, dataset)
        results.metrics = pd.concat([results.metrics, dice])
    classification.write_results(results, cohort, metrics, predictions, maps)
