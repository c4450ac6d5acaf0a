"""The ADHD rules' stages: network maps of a loaded resting-state cohort, one job per shard of
subjects, gathered into the cohort's maps, then the classifier's evaluation. One function per rule
(``adhd_subject_maps`` -> :func:`subject_maps`, ``adhd_maps`` -> :func:`maps`, ``adhd_evaluate``
-> :func:`evaluate`); the figures are :func:`neurogaze.figures.adhd.plot`."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pandas as pd

from neurogaze.brain.adhd import classification
from neurogaze.brain.adhd.classification import ClassifierConfig, MapsConfig
from neurogaze.config import from_section
from neurogaze.data.adhd200 import PHENOTYPE_CSV, read_rest_cohort
from neurogaze.data.synthetic.adhd200 import GROUND_TRUTH
from neurogaze.errors import DataValidationError
from neurogaze.shards import shard_of

logger = logging.getLogger(__name__)

def subject_maps(*, rest: str | os.PathLike, shard: str, subject_maps: str | os.PathLike, settings: dict,
                 subjects_per_job: int, dataset: str) -> None:
    """Rule ``adhd_subject_maps``: the network maps of one shard of the cohort that the loader wrote
    to the folder ``rest`` (its ``subjects_per_job`` subjects from ``shard`` on, in the cohort
    table's order) -> ``subject_maps`` (HDF5)."""
    config = from_section(MapsConfig, settings, "adhd")
    table = read_rest_cohort(rest)
    members = shard_of(list(table["subject"]), subjects_per_job, shard, Path(rest) / PHENOTYPE_CSV)
    paths = table.set_index("subject").loc[members, "path"]
    logger.info("adhd maps of %s, shard %s: %d subject(s), features %s", dataset, shard, len(members),
                ", ".join(config.features))
    classification.write_shard_maps(subject_maps, classification.shard_maps(paths, config))


def maps(*, rest: str | os.PathLike, parts: list[str], cohort_maps: str | os.PathLike,
         phenotype: str | os.PathLike, settings: dict, test_subjects: str | os.PathLike | None, seed: int,
         dataset: str) -> None:
    """Rule ``adhd_maps`` (the gather): the shards' maps ``parts`` (rule ``adhd_subject_maps``) of the
    cohort in the folder ``rest`` -> ``cohort_maps`` (HDF5) and its ``phenotype`` table (labels and
    the train/test split: the cohort's own split column, else the subjects listed in the file
    ``test_subjects`` (``adhd.test_subjects``, also an input of the rule), else a draw of
    ``test_fraction`` per site x diagnosis seeded by ``seed``)."""
    config = from_section(MapsConfig, settings, "adhd")
    table = read_rest_cohort(rest)
    logger.info("adhd maps of %s: %d subjects from %d shard(s)", dataset, len(table), len(parts))
    cohort = classification.gather_cohort_maps(
        parts,
        config,
        phenotype=table.drop(columns="path"),
        seed=seed,
        test_subjects=classification.read_subject_list(test_subjects) if test_subjects else None,
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
