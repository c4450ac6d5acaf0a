"""File-level gaze stages: baselines, NevaClip, scoring against humans, the human ceiling.

The Snakemake rules and the CLI call these; each reads the data contracts, calls the library
and writes its output atomically. Metrics are computed on the images of one split of the
stimulus index (the test split by default); the centre bias is fitted on the other images.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd

from neurogaze.data.contracts import read_fixations, read_stimulus_set, write_fixations, write_metrics
from neurogaze.errors import DataValidationError
from neurogaze.runlog import derive_seed


def _humans_and_sizes(fixations_path, stimuli_dir) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    stimuli = read_stimulus_set(stimuli_dir)
    sizes = {row.stim_id: (int(row.width), int(row.height)) for row in stimuli.index.itertuples()}
    return read_fixations(fixations_path, sizes), sizes, stimuli.index


def _split_humans(humans: pd.DataFrame, index: pd.DataFrame, split: str, source) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fixations on the evaluated split, fixations on the other images)."""
    evaluated_ids = set(index.loc[index["split"] == split, "stim_id"])
    if not evaluated_ids & set(humans["stim_id"]):
        raise DataValidationError(source, "split", f"human fixations on at least one '{split}' image", "none")
    on_split = humans["stim_id"].isin(evaluated_ids)
    return humans[on_split], humans[~on_split]


def centre_bias_parameters(humans_other: pd.DataFrame, sizes: dict, setting) -> dict | None:
    """The configured centre bias, or one fitted on fixations outside the evaluated split."""
    from neurogaze.gaze.baselines import fit_centre_bias

    if setting == "fit":
        return fit_centre_bias(humans_other, sizes) if len(humans_other) else None
    return dict(setting) if setting else None


def sigma_in_pixels(settings: dict, dataset: str) -> float:
    pixels_per_degree = settings["pixels_per_degree"].get(dataset, settings["default_pixels_per_degree"])
    return float(settings["sigma_deg"]) * float(pixels_per_degree)


def run_baseline(kind: str, fixations_path, stimuli_dir, out_path, settings: dict, evaluation: dict, seed: int) -> None:
    """Scanpaths of a baseline for every image of the evaluated split."""
    from neurogaze.gaze.baselines import baseline_fixations

    humans, sizes, index = _humans_and_sizes(fixations_path, stimuli_dir)
    on_split, other = _split_humans(humans, index, evaluation["split"], fixations_path)
    table = baseline_fixations(
        kind,
        on_split,
        sizes,
        n_samples=settings["n_samples"],
        seed=derive_seed(seed, "baseline", kind),
        centre_bias=centre_bias_parameters(other, sizes, settings["centre_bias"]),
        ior_sigma_px=settings["ior_sigma_px"],
    )
    write_fixations(out_path, table, sizes)


def run_nevaclip(fixations_path, stimuli_dir, out_path, settings: dict, evaluation: dict, dataset: str,
                 backbones: dict, device: str, resume_dir=None, captions_path=None) -> None:
    """NevaClip scanpaths for the evaluated split (prompted by captions or search targets)."""
    from neurogaze.backbones import build_backbone
    from neurogaze.gaze.nevaclip import NevaClipConfig, nevaclip_fixations, write_predicted_fixations
    from neurogaze.runlog import resolve_device

    humans, sizes, index = _humans_and_sizes(fixations_path, stimuli_dir)
    on_split, _ = _split_humans(humans, index, evaluation["split"], fixations_path)
    options = {key: value for key, value in settings.items() if key not in ("enabled", "datasets")}
    config = NevaClipConfig.from_dict(options)
    backbone = build_backbone(config.backbone, device=resolve_device(device), configured=backbones)
    captions = pd.read_parquet(captions_path) if captions_path else None
    table = nevaclip_fixations(
        backbone,
        read_stimulus_set(stimuli_dir),
        dataset,
        config,
        humans=on_split,
        captions=captions,
        stim_ids=sorted(on_split["stim_id"].unique()),
        resume_dir=resume_dir,
    )
    write_predicted_fixations(out_path, table, sizes)
    if resume_dir is not None:
        # The cache serves an interrupted run only: kept after success, it could feed a later run
        # whose images changed under the same ids.
        shutil.rmtree(resume_dir, ignore_errors=True)


def _metric_options(evaluation: dict, dataset: str) -> dict:
    return {
        "scanpath_metrics": evaluation["scanpath_metrics"],
        "saliency_metrics": evaluation["saliency_metrics"],
        "metric_params": evaluation["metric_params"],
        "sigma_px": sigma_in_pixels(evaluation, dataset),
        "ig_baseline": evaluation["ig_baseline"],
        "split": evaluation["split"],
    }


def evaluate_predicted_scanpaths(predicted_path, fixations_path, stimuli_dir, out_path, evaluation: dict,
                                 method: str, dataset: str, centre_bias_setting, seed: int) -> None:
    """Score a model's (or baseline's) scanpaths against every human of each image."""
    from neurogaze.metrics.gaze_evaluation import aggregate_metrics, evaluate_scanpaths

    humans, sizes, index = _humans_and_sizes(fixations_path, stimuli_dir)
    on_split, other = _split_humans(humans, index, evaluation["split"], fixations_path)
    predicted = read_fixations(predicted_path, sizes)
    # Only predicted images are scored; all humans are passed so that shuffled-AUC negatives
    # come from every other image of the dataset, not only from the scored split.
    table = evaluate_scanpaths(
        predicted[predicted["stim_id"].isin(set(on_split["stim_id"]))],
        humans,
        sizes,
        method,
        centre_bias=centre_bias_parameters(other, sizes, centre_bias_setting),
        seed=seed,
        **_metric_options(evaluation, dataset),
    )
    table["dataset"] = dataset
    write_metrics(out_path, pd.concat([table, aggregate_metrics(table)], ignore_index=True))


def evaluate_human_consistency(fixations_path, stimuli_dir, out_path, evaluation: dict, dataset: str,
                               centre_bias_setting, seed: int) -> None:
    """The leave-one-subject-out ceiling on the evaluated split."""
    from neurogaze.metrics.gaze_evaluation import aggregate_metrics, human_consistency

    humans, sizes, index = _humans_and_sizes(fixations_path, stimuli_dir)
    on_split, other = _split_humans(humans, index, evaluation["split"], fixations_path)
    table = human_consistency(
        humans,
        sizes,
        stim_ids=sorted(on_split["stim_id"].unique()),
        centre_bias=centre_bias_parameters(other, sizes, centre_bias_setting),
        seed=seed,
        **_metric_options(evaluation, dataset),
    )
    table["dataset"] = dataset
    write_metrics(out_path, pd.concat([table, aggregate_metrics(table)], ignore_index=True))


def method_of(metrics_path: str | os.PathLike) -> str:
    """results/<method>/<dataset>/metrics.csv -> <method>."""
    return Path(metrics_path).parent.parent.name
