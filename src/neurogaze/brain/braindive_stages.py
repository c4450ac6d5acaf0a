"""BrainDiVE's pipeline stages: contract files in, synthesis folder / metric table out.

* :func:`build_pipeline_stage` builds the demo's tiny Stable Diffusion folder (its VAE fitted on
  the stimuli); a real run points ``braindive.pipeline_dir`` at a released diffusers folder instead.
* :func:`synthesis_stage` (the GPU rule) guides the sampler with the ROI means of the voxel-wise
  encoder fitted by the encoding stage, and writes the images and their index.
* :func:`evaluation_stage` scores the written images: predicted activation of guided, unguided and
  the dataset's top images, an independent readout (another backbone), the planted pixel
  attributes (synthetic data) and CLIP zero-shot category shares (configured categories).

The synthesis and evaluation rebuild the same guidance target from the encoder checkpoint, so
the evaluation's ``pred_*`` values are those the sampler ascended.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from neurogaze.brain import braindive as bd
from neurogaze.errors import DataValidationError

# Independent readouts are ridge fits on unit-normalised embeddings; FACTS.md: alpha 1.0 keeps them
# smooth where the CV choice is tiny and adversarially sharp.
INDEPENDENT_READOUT_ALPHA = 1.0


def _roi_masks(responses, responses_path, rois: list[str] | None) -> dict[str, np.ndarray]:
    names = sorted(responses.rois) if rois is None else list(rois)
    missing = [name for name in names if name not in responses.rois]
    if missing:
        raise DataValidationError(
            responses_path, f"rois/{missing[0]}", f"an ROI mask (have {sorted(responses.rois)})", "missing"
        )
    return {name: np.asarray(responses.rois[name], dtype=bool) for name in names}


def encoder_predictors(encoder_path, clip_model, masks: dict[str, np.ndarray], n_units: int) -> dict[str, bd.ROIPredictor]:
    """Guidance targets from a fitted encoder checkpoint: each ROI's mean readout on the backbone.

    A ridge encoder reads raw embeddings, BrainDiVE's linear probe unit-normalised ones; the
    predictor normalises exactly when the encoder did.
    """
    from neurogaze.brain.encoding import load_encoder

    payload = torch.load(encoder_path, map_location="cpu", weights_only=True)
    estimator = payload.get("estimator")
    state = payload.get("state_dict", {})
    if "coef_" not in state or "intercept_" not in state:
        raise DataValidationError(encoder_path, "state_dict", "an encoder checkpoint with coef_ and intercept_", sorted(state))
    encoder = load_encoder(encoder_path)
    coef, intercept = np.asarray(encoder.coef_), np.asarray(encoder.intercept_)
    if coef.shape[0] != n_units:
        raise DataValidationError(encoder_path, "coef_", f"one row per unit of the responses ({n_units})", coef.shape)
    width = int(clip_model.visual.output_dim)
    if coef.shape[1] != width:
        raise DataValidationError(encoder_path, "coef_", f"{width} columns (the backbone's embedding width)", coef.shape)
    return bd.predictors_from_encoder(clip_model, coef, intercept, masks, normalize_features=estimator == "linear_probe")


def build_pipeline_stage(stimuli_dir, out_dir, tiny: dict, vae_fit: dict | None) -> Path:
    """The demo pipeline folder: tiny SD from config, VAE fitted on the stimulus images."""
    from neurogaze.backbones.diffusion import (
        TinySDConfig,
        VAEFitConfig,
        build_demo_pipeline,
    )
    from neurogaze.data.contracts import read_stimulus_set

    config = TinySDConfig.from_dict(dict(tiny))
    fit = VAEFitConfig(**vae_fit) if vae_fit else None
    images = None
    if fit is not None:
        stimuli = read_stimulus_set(stimuli_dir)
        images = np.stack([image for _, image in stimuli.iter_images(list(stimuli.stim_ids))])
    return build_demo_pipeline(out_dir, config, images, fit)


def synthesis_stage(
    pipeline_dir,
    encoder_path,
    responses_path,
    out_dir,
    config: bd.BrainDiVEConfig,
    clip_model,
    rois: list[str] | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> pd.DataFrame:
    """Guided and unguided images for every ROI; writes ``out_dir`` (PNGs, index.csv, config.json)."""
    from neurogaze.backbones.diffusion import load_sd_pipeline
    from neurogaze.data.contracts import read_brain_responses

    responses = read_brain_responses(responses_path)
    masks = _roi_masks(responses, responses_path, rois)
    clip_model = clip_model.to(device)
    predictors = encoder_predictors(encoder_path, clip_model, masks, responses.responses.shape[1])
    pipe = load_sd_pipeline(pipeline_dir, device=device)
    control = bd.unguided_images(pipe, config, progress)
    results = [
        bd.synthesise_roi(pipe, predictor, config, roi, unguided=control, progress=progress)
        for roi, predictor in predictors.items()
    ]
    return bd.write_synthesis(out_dir, results, config)


def results_from_synthesis(index: pd.DataFrame, images: dict[tuple[str, str], np.ndarray], top_fraction: float) -> list[bd.SynthesisResult]:
    """The written synthesis back as one ``SynthesisResult`` per ROI (scores as the sampler saw them)."""
    results = []
    for roi in sorted(index.loc[index["condition"] == "guided", "roi"].unique()):
        rows = {
            condition: index[(index["roi"] == roi) & (index["condition"] == condition)].sort_values("image")
            for condition in ("guided", "unguided")
        }
        results.append(
            bd.SynthesisResult(
                roi=roi,
                seeds=rows["guided"]["seed"].astype(int).tolist(),
                guided=images[(roi, "guided")],
                unguided=images[(roi, "unguided")],
                guided_score=rows["guided"]["predicted"].to_numpy(float),
                unguided_score=rows["unguided"]["predicted"].to_numpy(float),
                selected=rows["guided"]["selected"].to_numpy(bool),
            )
        )
    return results


def attribute_readout_rows(
    predictors: dict[str, bd.ROIPredictor], attribute_rois: dict[str, str], images: np.ndarray, dataset: str, seed: int
) -> list[dict]:
    """How well each guidance target reads its planted attribute on the dataset's images.

    Pearson r between the predicted activation and the pixel attribute: guidance can only move an
    attribute the encoder represents, so the planted-attribute check is judged against this.
    """
    rows = []
    for roi, attribute in sorted(attribute_rois.items()):
        predicted = bd.predict_images(predictors[roi], images)
        measured = bd.pixel_attributes(images, [attribute])[attribute]
        r = float(np.corrcoef(predicted, measured)[0, 1])
        rows += bd._rows(roi, {f"attr_{attribute}_readout_r": r}, dataset, "train", seed)
    return rows


def evaluation_stage(
    synthesis_dir,
    encoder_path,
    responses_path,
    stimuli_dir,
    metrics_path,
    dataset: str,
    clip_model,
    independent_clip_model=None,
    ground_truth_path=None,
    categories: list[str] | None = None,
    tokenizer=None,
    dataset_top_path=None,
    device: torch.device | str = "cpu",
) -> pd.DataFrame:
    """The BrainDiVE metric table (``contracts.METRIC_COLUMNS``) of a written synthesis.

    ``dataset_top_path``: also write the dataset's top-N images per ROI (roi, stim_id,
    predicted), which the activation figure plots. Inputs are all read and checked before
    anything is written.
    """
    from neurogaze.data.contracts import (
        read_brain_responses,
        read_stimulus_set,
        write_metrics,
    )
    from neurogaze.io import write_csv

    index, images = bd.read_synthesis(synthesis_dir)
    config_path = Path(synthesis_dir) / "config.json"
    settings = json.loads(config_path.read_text()) if config_path.is_file() else {}
    top_fraction = float(settings.get("top_fraction", 0.2))
    seed = int(settings.get("seed", 0))
    results = results_from_synthesis(index, images, top_fraction)
    responses = read_brain_responses(responses_path)
    masks = _roi_masks(responses, responses_path, [result.roi for result in results])
    clip_model = clip_model.to(device)
    predictors = encoder_predictors(encoder_path, clip_model, masks, responses.responses.shape[1])
    stimuli = read_stimulus_set(stimuli_dir)
    train_y, train_ids = responses.select("train")
    unknown = sorted(set(train_ids) - set(stimuli.stim_ids))
    if unknown:
        raise DataValidationError(Path(stimuli_dir) / "index.parquet", "stim_id", "every stimulus of the responses", f"missing {unknown[0]!r}")
    train_images = np.stack([image for _, image in stimuli.iter_images(list(train_ids))])
    attribute_rois = {}
    if ground_truth_path is not None:
        truth = json.loads(Path(ground_truth_path).read_text())
        attribute_rois = {k: v for k, v in bd.planted_attribute_rois(truth, ground_truth_path).items() if k in masks}
    independent = {}
    if independent_clip_model is not None:
        independent = bd.fit_roi_predictors(
            independent_clip_model.to(device), train_images, train_y, masks, INDEPENDENT_READOUT_ALPHA, lowpass_grid=None
        )
    rows, tops = [], []
    for result in results:
        roi = result.roi
        top = dataset_top(predictors[roi], train_images, np.asarray(train_ids), int(result.selected.sum()) or 1)
        tops.append(top.assign(roi=roi))
        shares = None
        if categories:
            shares = bd.zero_shot_shares(clip_model, tokenizer, result.guided[result.selected], list(categories))
        attributes = [attribute_rois[roi]] if roi in attribute_rois else []
        rows += bd.evaluation_rows(result, dataset, seed, top["predicted"].to_numpy(), independent.get(roi), attributes, shares)
    rows += attribute_readout_rows(predictors, attribute_rois, train_images, dataset, seed)
    table = bd.evaluation_table(rows)
    write_metrics(metrics_path, table)
    if dataset_top_path is not None:
        write_csv(dataset_top_path, pd.concat(tops, ignore_index=True)[["roi", "stim_id", "predicted"]])
    return table


def dataset_top(predictor: bd.ROIPredictor, images: np.ndarray, stim_ids: np.ndarray, n: int) -> pd.DataFrame:
    """The ``n`` dataset images the predictor ranks highest: stim_id and predicted activation."""
    scores = bd.predict_images(predictor, images)
    order = np.argsort(-scores, kind="stable")[:n]
    return pd.DataFrame({"stim_id": stim_ids[order], "predicted": scores[order]})


__all__ = [
    "INDEPENDENT_READOUT_ALPHA",
    "attribute_readout_rows",
    "build_pipeline_stage",
    "dataset_top",
    "encoder_predictors",
    "evaluation_stage",
    "results_from_synthesis",
    "synthesis_stage",
]
