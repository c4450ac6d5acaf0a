"""The search-asymmetry rules' stages: the eccNET backbone and the six experiments.

:func:`backbone` (rule ``search_asymmetry_backbone``) writes the trunk checkpoint: the released
VGG16 file repacked, or a VGG16-shaped trunk trained here. :func:`experiments` (rule
``search_asymmetry_experiments``) runs eccNET on the configured experiments and writes the trial,
condition, asymmetry-index and metric tables. The figures are
:func:`neurogaze.figures.search_asymmetry.plot` (rule ``search_asymmetry_plot``).

Settings arrive as the rule's params (validated ``search_asymmetry`` config, defaults filled in);
``seed`` is ``search_asymmetry.seed`` as given, not derived from the master seed.
"""

from __future__ import annotations

import logging
import os

import pandas as pd
import torch

from neurogaze.config import from_section
from neurogaze.data.contracts import write_metrics
from neurogaze.errors import DataValidationError
from neurogaze.gaze.search_asymmetry.eccnet import (
    RT_INTERCEPT_MS,
    RT_SLOPE_MS,
    BackboneTrainingConfig,
    EccNetConfig,
    EccNetSearcher,
    build_eccnet,
    ensure_backbone,
    save_checkpoint,
)
from neurogaze.gaze.search_asymmetry.experiments import (
    PUBLISHED_MEAN_ASYMMETRY_INDEX,
    asymmetry_table,
    condition_table,
    load_human_rt,
    metric_rows,
    paper_hard_conditions,
    run_experiments,
)
from neurogaze.gaze.search_asymmetry.stimuli import EXPERIMENTS
from neurogaze.io import write_csv
from neurogaze.runlog import resolve_device

logger = logging.getLogger(__name__)

FilePath = str | os.PathLike  # a file the rule reads or writes


def backbone(*, checkpoint: FilePath, weights: FilePath | None, image_dir: FilePath | None, widths: list[int],
             training: dict | None, model: dict | None, seed: int | None) -> None:
    """The trunk checkpoint at ``checkpoint``.

    With ``weights`` (``search_asymmetry.backbone.weights``, a torchvision ``vgg16`` state dict;
    the rule's input too) the released trunk of ``widths`` is repacked as a self-describing
    checkpoint, and ``training``, ``model``, ``seed`` and ``image_dir`` are None (nothing is
    trained). Without, a trunk of ``widths`` is trained here on rotation prediction with
    ``training`` (``search_asymmetry.backbone.training``), the pooling in ``model`` (``rf_min``,
    ``pool_type``) and ``seed``, on scikit-image's photographs plus the JPEGs in ``image_dir``
    (when not None).
    """
    config = from_section(EccNetConfig, model, "search_asymmetry.model", widths=widths, weights=weights)
    if weights:
        save_checkpoint(checkpoint, build_eccnet(config), {"objective": "released torchvision VGG16 weights",
                                                           "weights": str(weights)})
        logger.info("eccNET backbone: released VGG16 weights from %s", weights)
        return
    settings = from_section(BackboneTrainingConfig, training, "search_asymmetry.backbone.training", seed=seed)
    ensure_backbone(checkpoint, config, settings, image_dir)
    logger.info("eccNET backbone: widths %s trained here (%s)", config.widths, settings)


def experiments(*, checkpoint: FilePath, trials: FilePath, conditions: FilePath, asymmetry: FilePath,
                metrics: FilePath, human_rt: FilePath | None, widths: list[int], model: dict,
                experiments: list[str] | None, n_per_set_size: int | None, seed: int, device: str,
                dog_windows: dict | None = None) -> None:
    """eccNET (the trunk in ``checkpoint``, searching with ``model``) on ``experiments`` (None: all
    six), ``n_per_set_size`` displays per set size and condition (None: the paper's) ->
    ``trials``, ``conditions``, ``asymmetry`` and ``metrics`` tables (each written atomically).

    ``human_rt`` (``search_asymmetry.human_rt``; the rule's input too when set) adds the human RTs,
    slopes and indices and gives the RT model; it is read and checked against the experiments
    before any search runs. None: the tables are the model's only, with the paper's RT model and
    the paper's hard/easy split. ``widths`` must be the checkpoint's.
    """
    human, slope_ms, intercept_ms = _human_reference(human_rt, experiments)
    config = from_section(EccNetConfig, model, "search_asymmetry.model", widths=widths)
    torch.manual_seed(seed)
    searcher = EccNetSearcher(build_eccnet(config, checkpoint), resolve_device(device))
    trial_table = run_experiments(searcher, experiments, n_per_set_size, seed, dog_windows=dog_windows,
                                  deg2px=config.deg2px)
    condition_rows = condition_table(trial_table, human, slope_ms, intercept_ms)
    index_table = asymmetry_table(condition_rows, paper_hard_conditions())
    write_csv(trials, trial_table)
    write_csv(conditions, condition_rows)
    write_csv(asymmetry, index_table)
    write_metrics(metrics, metric_rows(index_table, condition_rows, seed))
    _log_indices(index_table)


def _human_reference(human_rt: FilePath | None,
                     experiments: list[str] | None) -> tuple[pd.DataFrame | None, float, float]:
    """(human table, RT slope, RT intercept) from the human file, or (None, the paper's RT model)."""
    if human_rt is None:
        logger.info("no human search-asymmetry RTs configured (search_asymmetry.human_rt: null): writing the "
                    "model's results only (no human lines or human index)")
        return None, RT_SLOPE_MS, RT_INTERCEPT_MS
    human, meta = load_human_rt(human_rt)
    _check_human_covers(human, experiments, human_rt)
    return human, meta["rt_slope_ms"], meta["rt_intercept_ms"]


def _check_human_covers(human: pd.DataFrame, experiments: list[str] | None, source: FilePath) -> None:
    """Every configured condition and set size needs a human value (checked before searching)."""
    have = set(zip(human["experiment"], human["condition"], human["set_size"]))
    for key in experiments or list(EXPERIMENTS):
        spec = EXPERIMENTS[key]
        for condition in spec.conditions:
            missing = [size for size in spec.set_sizes if (spec.key, condition.key, size) not in have]
            if missing:
                raise DataValidationError(source, "human_rt_ms", f"human RTs for {spec.key} / {condition.key}",
                                          f"none at set sizes {missing}")


def _log_indices(index_table: pd.DataFrame) -> None:
    for row in index_table.itertuples(index=False):
        logger.info("%s: hard %s slope %.2f, easy %s slope %.2f ms/item; index model %.3f, human %.3f",
                    row.experiment, row.hard_condition, row.model_slope_hard, row.easy_condition,
                    row.model_slope_easy, row.model_asymmetry_index, row.human_asymmetry_index)
    logger.info("mean asymmetry index: model %.3f, human %.3f (published: eccNET %.3f, human %.3f)",
                index_table["model_asymmetry_index"].mean(), index_table["human_asymmetry_index"].mean(),
                PUBLISHED_MEAN_ASYMMETRY_INDEX["eccNET (published)"], PUBLISHED_MEAN_ASYMMETRY_INDEX["human"])
