"""File-level stages of the search-asymmetry model (eccNET): the backbone and the six experiments.

The Snakemake rules call these. ``settings`` is the validated ``eccnet`` section of the config:
``backbone`` {weights, widths, training, image_dir}, ``model`` (search parameters of
``EccNetConfig``), ``experiments``, ``n_per_set_size``. The human reference is optional: without
it the stage writes the model's tables and index alone, with the hard/easy split of the paper.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from neurogaze.data.contracts import write_metrics
from neurogaze.io import write_csv

logger = logging.getLogger(__name__)

OUTPUT_FILES = ("trials.csv", "conditions.csv", "asymmetry.csv", "metrics.csv")


def _model_config(settings: dict):
    from neurogaze.gaze.eccnet import EccNetConfig

    backbone = settings["backbone"]
    return EccNetConfig(widths=tuple(backbone["widths"]), weights=backbone["weights"], **settings["model"])


def run_backbone(out_ckpt: str | os.PathLike, settings: dict, seed: int) -> None:
    """The backbone checkpoint: released VGG16 weights (``backbone.weights``) repacked as a
    self-describing checkpoint, or a VGG16-shaped trunk trained here on rotation prediction."""
    from neurogaze.gaze.eccnet import (
        BackboneTrainingConfig,
        build_eccnet,
        ensure_backbone,
        save_checkpoint,
    )

    config = _model_config(settings)
    backbone = settings["backbone"]
    if config.weights:
        model = build_eccnet(config)
        save_checkpoint(out_ckpt, model, {"objective": "released torchvision VGG16 weights",
                                          "weights": str(config.weights)})
        logger.info("eccNET backbone: released VGG16 weights from %s", config.weights)
        return
    training = BackboneTrainingConfig(**backbone["training"], seed=seed)
    ensure_backbone(out_ckpt, config, training, backbone["image_dir"])
    logger.info("eccNET backbone: widths %s trained here (%s)", config.widths, training)


def _human_reference(human_rt_path):
    """(human table, RT model) from the human file, or (None, the paper's RT model) when absent."""
    from neurogaze.gaze.eccnet import RT_INTERCEPT_MS, RT_SLOPE_MS
    from neurogaze.gaze.search_asymmetry import load_human_rt

    if human_rt_path and Path(human_rt_path).is_file():
        human, meta = load_human_rt(human_rt_path)
        return human, meta["rt_slope_ms"], meta["rt_intercept_ms"]
    logger.warning("no human search-asymmetry RTs at %s: writing the model's results only (no human lines "
                   "or human index)", human_rt_path)
    return None, RT_SLOPE_MS, RT_INTERCEPT_MS


def _check_human_covers(human, experiments, source) -> None:
    """Every configured condition and set size needs a human value (checked before searching)."""
    from neurogaze.errors import DataValidationError
    from neurogaze.gaze.search_stimuli import EXPERIMENTS

    have = set(zip(human["experiment"], human["condition"], human["set_size"]))
    for key in experiments or list(EXPERIMENTS):
        spec = EXPERIMENTS[key]
        for condition in spec.conditions:
            missing = [size for size in spec.set_sizes if (spec.key, condition.key, size) not in have]
            if missing:
                raise DataValidationError(source, "human_rt_ms", f"human RTs for {spec.key} / {condition.key}",
                                          f"none at set sizes {missing}")


def run_search_asymmetry(backbone_ckpt: str | os.PathLike, out_dir: str | os.PathLike, settings: dict, seed: int,
                         human_rt_path: str | os.PathLike | None = None, device: str = "auto") -> None:
    """eccNET on the configured experiments -> trials.csv, conditions.csv, asymmetry.csv and
    metrics.csv in ``out_dir`` (each written atomically)."""
    import torch

    from neurogaze.gaze.eccnet import EccNetSearcher, build_eccnet
    from neurogaze.gaze.search_asymmetry import (
        asymmetry_table,
        condition_table,
        metric_rows,
        paper_hard_conditions,
        run_experiments,
    )
    from neurogaze.runlog import resolve_device

    # the human file is read first: a malformed one fails before any search runs
    human, slope_ms, intercept_ms = _human_reference(human_rt_path)
    if human is not None:
        _check_human_covers(human, settings["experiments"], human_rt_path)
    config = _model_config(settings)
    config.weights = None  # the checkpoint already holds the released weights when they were used
    torch.manual_seed(seed)
    searcher = EccNetSearcher(build_eccnet(config, backbone_ckpt), resolve_device(device))
    trials = run_experiments(searcher, settings["experiments"], settings["n_per_set_size"], seed)
    conditions = condition_table(trials, human, slope_ms, intercept_ms)
    asymmetry = asymmetry_table(conditions, paper_hard_conditions())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "trials.csv", trials)
    write_csv(out / "conditions.csv", conditions)
    write_csv(out / "asymmetry.csv", asymmetry)
    write_metrics(out / "metrics.csv", metric_rows(asymmetry, conditions, seed))
    for row in asymmetry.itertuples(index=False):
        logger.info("%s: hard %s slope %.2f, easy %s slope %.2f ms/item; index model %.3f, human %.3f",
                    row.experiment, row.hard_condition, row.model_slope_hard, row.easy_condition,
                    row.model_slope_easy, row.model_asymmetry_index, row.human_asymmetry_index)
    logger.info("mean asymmetry index: model %.3f, human %.3f", asymmetry["model_asymmetry_index"].mean(),
                asymmetry["human_asymmetry_index"].mean())
