"""BrainDiVE's rules, one function each: contract files in, pipeline folder / images / metric table out.

* :func:`pipeline` (rule ``braindive_pipeline``) builds the demo's tiny Stable Diffusion folder
  (its VAE fitted on the stimuli); a real run points ``braindive.pipeline_dir`` at a released
  diffusers folder instead.
* :func:`synthesis` (rule ``braindive_synthesis``, the GPU rule) guides the sampler with the ROI
  means of the voxel-wise encoder that rule ``encoding_fit`` fitted, and writes the images and
  their index.
* :func:`evaluate` (rule ``braindive_evaluate``) scores the written images: predicted activation
  of guided, unguided and the dataset's top images, an independent readout (another backbone),
  the planted pixel attributes (synthetic data) and CLIP zero-shot category shares.

The synthesis and the evaluation rebuild the same guidance target from the encoder checkpoint,
so the evaluation's ``pred_*`` values are those the sampler ascended. Backbones are built from
their spec (the rule's params) with the weights the rule lists as an input.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from neurogaze.backbones import build_backbone
from neurogaze.backbones.diffusion import (
    TinySDConfig,
    UNetFitConfig,
    VAEFitConfig,
    build_demo_pipeline,
    load_sd_pipeline,
)
from neurogaze.brain.braindive import guidance
from neurogaze.brain.braindive.rois import refined_masks
from neurogaze.brain.encoding import LinearProbeEncoder, load_encoder
from neurogaze.config import from_section, optional_section
from neurogaze.data.contracts import read_brain_responses, read_stimulus_set, write_metrics
from neurogaze.errors import DataValidationError
from neurogaze.io import write_csv
from neurogaze.runlog import resolve_device

# Independent readouts are ridge fits on unit-normalised embeddings; on the demo, alpha 1.0 keeps
# them smooth where a cross-validated choice is tiny and adversarially sharp.
INDEPENDENT_READOUT_ALPHA = 1.0


def _roi_masks(responses, responses_path, rois: list[str] | None, localiser: dict | None = None,
               tmaps: list[str] | None = None) -> dict[str, np.ndarray]:
    """The guided ROIs: the responses' masks, or with ``localiser`` the refined ones (t-maps ``tmaps``)."""
    available = {name: np.asarray(mask, dtype=bool) for name, mask in responses.rois.items()}
    source = f"{responses_path} rois"
    if localiser is not None:
        if not tmaps:
            raise DataValidationError(None, "tmaps", "the localiser t-maps (inputs of the rule, braindive.localiser)",
                                      "none")
        available = refined_masks(responses, responses_path, localiser, list(tmaps))
        source = "braindive.localiser.rois"
    names = sorted(available) if rois is None else list(rois)
    missing = [name for name in names if name not in available]
    if missing:
        raise DataValidationError(responses_path, f"rois/{missing[0]}",
                                  f"an ROI of {source} (have {sorted(available)})", "missing")
    for name in names:
        guidance.roi_folder(name)  # a name that cannot be a folder of the synthesis is refused before sampling
    return {name: available[name] for name in names}


def _backbone(spec: dict, weights, device):
    """The backbone of ``spec`` with its weights file (or open_clip cache folder) from the rule's input."""
    location = "weights" if spec.get("weights") else "cache_dir"
    return build_backbone({**spec, location: str(weights)}, device)


def encoder_predictors(encoder_path, clip_model, masks: dict[str, np.ndarray], n_units: int) -> dict:
    """Guidance targets from a fitted encoder checkpoint: each ROI's mean readout on the backbone.

    A ridge encoder reads raw embeddings, BrainDiVE's linear probe unit-normalised ones; the
    predictor normalises exactly when the encoder did.
    """
    encoder = load_encoder(encoder_path)
    coef, intercept = np.asarray(encoder.coef_), np.asarray(encoder.intercept_)
    if coef.shape[0] != n_units:
        raise DataValidationError(encoder_path, "coef_", f"one row per unit of the responses ({n_units})", coef.shape)
    width = int(clip_model.visual.output_dim)
    if coef.shape[1] != width:
        raise DataValidationError(encoder_path, "coef_", f"{width} columns (the backbone's embedding width)",
                                  coef.shape)
    normalize = isinstance(encoder, LinearProbeEncoder)
    return guidance.predictors_from_encoder(clip_model, coef, intercept, masks, normalize_features=normalize)


def pipeline(*, stimuli, pipeline, settings: dict) -> None:
    """Rule ``braindive_pipeline``: the demo's tiny Stable Diffusion folder (``pipeline``), built
    from ``settings`` (``braindive.demo_pipeline``), its VAE and then its UNet fitted on the
    ``stimuli`` images unless ``vae_fit`` / ``unet_fit`` is null. Their seeds are used as given,
    not derived from the master seed."""
    tiny = from_section(TinySDConfig, settings["tiny"], "braindive.demo_pipeline.tiny")
    vae_fit = optional_section(VAEFitConfig, settings.get("vae_fit"), "braindive.demo_pipeline.vae_fit")
    unet_fit = optional_section(UNetFitConfig, settings.get("unet_fit"), "braindive.demo_pipeline.unet_fit")
    images = None
    if vae_fit is not None:
        stimulus_set = read_stimulus_set(stimuli)
        images = np.stack([image for _, image in stimulus_set.iter_images(list(stimulus_set.stim_ids))])
    build_demo_pipeline(pipeline, tiny, images, vae_fit, unet_fit=unet_fit)


def synthesis(*, pipeline, encoder, responses, backbone, images, settings: dict, rois: list[str] | None,
              backbone_spec: dict, device: str, dataset: str, subject: str, localiser: dict | None = None,
              tmaps: list[str] | None = None) -> pd.DataFrame:
    """Rule ``braindive_synthesis``: guided and unguided images for every ROI of ``rois`` (None:
    every ROI of the responses, or of ``localiser``), sampled with ``settings``
    (``braindive.sampling``) from the diffusers folder ``pipeline``, written to ``images`` (PNGs,
    index.csv, config.json). With ``localiser`` (``braindive.localiser``) the ROIs are the refined
    ones of :mod:`.rois`, read from the t-maps ``tmaps``.

    ``encoder`` is the checkpoint of rule ``encoding_fit`` on the backbone ``backbone_spec``
    (weights: ``backbone``). Returns the index.
    """
    config = from_section(guidance.BrainDiVEConfig, settings, "braindive.sampling")
    brain = read_brain_responses(responses)
    masks = _roi_masks(brain, responses, rois, localiser, tmaps)
    device = resolve_device(device)
    clip_model = _backbone(backbone_spec, backbone, device).model
    predictors = encoder_predictors(encoder, clip_model, masks, brain.responses.shape[1])
    pipe = load_sd_pipeline(pipeline, device=device)
    control = guidance.unguided_images(pipe, config, progress=True)
    results = [
        guidance.synthesise_roi(pipe, predictor, config, roi, unguided=control, progress=True)
        for roi, predictor in predictors.items()
    ]
    return guidance.write_synthesis(images, results, config)


def evaluate(*, images, encoder, responses, stimuli, backbone, metrics, dataset_top, backbone_spec: dict,
             independent_spec: dict | None, categories: list[str], device: str, dataset: str, subject: str,
             independent=None, synthetic=None, localiser: dict | None = None,
             tmaps: list[str] | None = None) -> pd.DataFrame:
    """Rule ``braindive_evaluate``: the metric table (``metrics``) of the synthesis in ``images``,
    and the dataset's top-N images per ROI (``dataset_top``: roi, stim_id, predicted), which the
    activation figure plots.

    The guidance target is rebuilt from ``encoder`` on ``backbone_spec`` (weights: ``backbone``);
    with ``independent_spec`` (weights: ``independent``) a second backbone's ridge readouts score
    the images too; ``synthetic`` is a synthetic data set's folder, whose ``ground_truth.json``
    names the planted pixel attributes; ``categories`` are the CLIP zero-shot categories of the
    kept images (meaningful with released weights); ``localiser`` / ``tmaps`` refine the ROIs as
    the synthesis did. Every input is read and checked before anything is written.
    """
    index, drawn = guidance.read_synthesis(images)
    seed = guidance.read_synthesis_config(images).seed
    results = guidance.results_from_synthesis(index, drawn)
    brain = read_brain_responses(responses)
    masks = _roi_masks(brain, responses, [result.roi for result in results], localiser, tmaps)
    device = resolve_device(device)
    guiding = _backbone(backbone_spec, backbone, device)
    predictors = encoder_predictors(encoder, guiding.model, masks, brain.responses.shape[1])
    stimulus_set = read_stimulus_set(stimuli)
    train_y, train_ids = brain.select("train")
    unknown = sorted(set(train_ids) - set(stimulus_set.stim_ids))
    if unknown:
        raise DataValidationError(Path(stimuli) / "index.parquet", "stim_id", "every stimulus of the responses",
                                  f"missing {unknown[0]!r}")
    train_images = np.stack([image for _, image in stimulus_set.iter_images(list(train_ids))])
    attribute_rois = {}
    if synthetic is not None:
        truth_path = Path(synthetic) / "ground_truth.json"
        if not truth_path.is_file():
            raise DataValidationError(truth_path, "ground_truth.json", "a synthetic data set's planted truth",
                                      "missing")
        truth = json.loads(truth_path.read_text())
        planted = guidance.planted_attribute_rois(truth, truth_path)
        attribute_rois = {roi: attribute for roi, attribute in planted.items() if roi in masks}
    readouts = {}
    if independent_spec is not None:
        if independent is None:
            raise DataValidationError(None, "independent", "the independent backbone's weights (an input of the rule)",
                                      "none")
        readouts = guidance.fit_roi_predictors(
            _backbone(independent_spec, independent, device).model, train_images, train_y, masks,
            INDEPENDENT_READOUT_ALPHA, lowpass_grid=None,
        )
    rows, tops = [], []
    for result in results:
        roi = result.roi
        n_kept = int(result.selected.sum()) or 1
        top = guidance.dataset_top(predictors[roi], train_images, np.asarray(train_ids), n_kept)
        tops.append(top.assign(roi=roi))
        shares = None
        if categories:
            shares = guidance.zero_shot_shares(guiding.model, guiding.tokenizer, result.guided[result.selected],
                                               list(categories))
        attributes = [attribute_rois[roi]] if roi in attribute_rois else []
        rows += guidance.evaluation_rows(result, dataset, seed, top["predicted"].to_numpy(), readouts.get(roi),
                                         attributes, shares)
    rows += guidance.attribute_readout_rows(predictors, attribute_rois, train_images, dataset, seed)
    table = guidance.evaluation_table(rows)
    write_metrics(metrics, table)
    write_csv(dataset_top, pd.concat(tops, ignore_index=True)[["roi", "stim_id", "predicted"]])
    return table


__all__ = ["INDEPENDENT_READOUT_ALPHA", "encoder_predictors", "evaluate", "pipeline", "synthesis"]
