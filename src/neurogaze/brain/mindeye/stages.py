"""MindEye's pipeline stages, one per rule of ``workflow/rules/mindeye.smk`` (the figure stage is
:func:`neurogaze.figures.mindeye.plot`).

- :func:`pipeline` (``mindeye_pipeline``): the demo's tiny image-variation pipeline, a diffusers folder;
- :func:`train` (``mindeye_train``): brain responses (train split, ROI voxels) + stimulus set +
  backbone -> ``model.pt``, resumable through a checkpoint folder beside it, keyed on the inputs
  and settings;
- :func:`train_low_level` (``mindeye_train_low_level``): the voxel -> VAE-latent path against the
  variation pipeline's VAE -> ``low_level.pt``;
- :func:`reconstruct` (``mindeye_reconstruct``): test voxels -> one prior draw per candidate ->
  best-of-N variations (img2img from the low-level path when given) -> two stimulus sets
  (``final/``, ``low_level/``);
- :func:`evaluate` (``mindeye_evaluate``): retrieval, its shuffled-fMRI control, reconstruction
  metrics -> tidy ``metrics.csv``, and each test item's top-k retrievals -> ``retrievals.csv``.

Reconstruction and evaluation read ``model.pt`` / ``low_level.pt`` or, in their place, the
released checkpoints (``mindeye.released``), told apart by neurogaze's ``format`` tag.

Each stage takes the files its rule reads and writes, and ``settings``: the part of the config's
``mindeye`` section the rule uses. Seeds derive from the master ``seed``. Every stage checks its
inputs (``DataValidationError`` naming file and field, ``ConfigError`` naming the key) before it
writes anything.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from neurogaze.backbones import build_backbone
from neurogaze.brain.mindeye.evaluate import (
    PAPER_TOP1,
    EvaluationConfig,
    SplitData,
    check_ids,
    images_of,
    reconstruction_values,
    retrieval_scores,
    top_k_table,
)
from neurogaze.brain.mindeye.low_level import (
    LowLevelConfig,
    decode_latents,
    fit_low_level,
    load_teacher,
    open_low_level,
    predict_latents,
    save_low_level,
    uint8_images,
)
from neurogaze.brain.mindeye.model import (
    MindEye,
    MindEyeConfig,
    load_torch_file,
    predict_tokens,
    released_mindeye,
    stimulus_pixels,
    target_tokens,
    token_targets,
)
from neurogaze.brain.mindeye.reconstruct import (
    ReconstructionConfig,
    TinyVariationConfig,
    build_demo_variation_pipeline,
    load_variation_pipeline,
)
from neurogaze.brain.mindeye.reconstruct import reconstruct as reconstruct_images
from neurogaze.brain.mindeye.train import CHECKPOINT_FORMAT, checkpoint_config, fit_mindeye, read_checkpoint
from neurogaze.config import from_section
from neurogaze.data.contracts import read_brain_responses, read_stimulus_set, write_metrics, write_stimulus_set
from neurogaze.errors import ConfigError, DataValidationError
from neurogaze.io import atomic_directory, fingerprint, resume_folder, write_csv, write_torch
from neurogaze.metrics.reconstruction import metric_rows
from neurogaze.runlog import derive_seed, resolve_device

logger = logging.getLogger(__name__)

METHOD = "mindeye"


def derive(seed: int, name: str) -> int:
    """The seed of one MindEye step (``train``, ``low_level``, ``reconstruct``, ``draws``, ``shuffle``)."""
    return derive_seed(seed, METHOD, name) % 2**31


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


def read_split(responses, split: str, roi: str | None, n_voxels: int | None = None) -> SplitData:
    """The ROI voxels (every unit when ``roi`` is None) of one split, checked against the model's size."""
    data = read_brain_responses(responses)
    voxels, stim_ids = data.select(split)
    if roi:
        if roi not in data.rois:
            raise DataValidationError(responses, f"rois/{roi}", f"the ROI mindeye.roi={roi!r}",
                                      f"ROIs {sorted(data.rois)}")
        voxels = voxels[:, data.rois[roi]]
    if n_voxels is not None and voxels.shape[1] != n_voxels:
        raise DataValidationError(responses, "responses", f"{n_voxels} voxels (mindeye.model.n_voxels) in ROI {roi}",
                                  voxels.shape[1])
    if len(voxels) == 0:
        raise DataValidationError(responses, "split", f"rows in the {split} split", 0)
    return SplitData(np.ascontiguousarray(voxels, dtype=np.float32), [str(s) for s in stim_ids])


def read_trials(responses, split: str, roi: str | None, n_voxels: int | None = None) -> tuple[SplitData, np.ndarray]:
    """The single trials of one split's images: SplitData whose voxels are (n_images, R, n_voxels)
    (image i's trials in its first counts[i] slots), and counts. The file must hold single trials
    (NSD: datasets.nsd.single_trials)."""
    data = read_brain_responses(responses, trials=True)
    rows = np.nonzero(data.split == split)[0]
    if roi:
        if roi not in data.rois:
            raise DataValidationError(responses, f"rois/{roi}", f"the ROI mindeye.roi={roi!r}",
                                      f"ROIs {sorted(data.rois)}")
        data.trial_responses = data.trial_responses[:, data.rois[roi]]
    if n_voxels is not None and data.trial_responses.shape[1] != n_voxels:
        raise DataValidationError(responses, "trial_responses", f"{n_voxels} voxels (mindeye.model.n_voxels) in ROI "
                                  f"{roi}", data.trial_responses.shape[1])
    if len(rows) == 0:
        raise DataValidationError(responses, "split", f"rows in the {split} split", 0)
    repeats, counts = data.trials_of(rows)
    return SplitData(repeats, [str(s) for s in data.stim_ids[rows]]), counts


def load_backbone(spec: dict, weights, device):
    """The configured backbone ``spec`` (from ``neurogaze.config.backbone_spec``) with its weights
    file (or open_clip cache folder) taken from ``weights``, the rule's input."""
    where = "cache_dir" if spec.get("cache_dir") and not spec.get("weights") else "weights"
    return build_backbone({**spec, where: str(weights)}, device)


def _as_list(files) -> list[str]:
    """A rule's list input (or one path, from the CLI) as a list of paths."""
    if files is None:
        return []
    return [str(files)] if isinstance(files, (str, Path)) else [str(f) for f in files]


def open_mindeye(path, device) -> MindEye:
    """The model of ``model.pt`` (a neurogaze checkpoint) or of a released checkpoint
    (``mindeye.released.high_level``), read once and told apart by the neurogaze ``format`` tag."""
    payload = load_torch_file(path, device)
    if not (isinstance(payload, dict) and "format" in payload):
        return released_mindeye(payload, path, device)
    if payload["format"] != CHECKPOINT_FORMAT:
        raise DataValidationError(path, "format", f"a {CHECKPOINT_FORMAT} checkpoint or a released MindEye file",
                                  payload["format"])
    model = MindEye(checkpoint_config(payload["config"])).to(device)
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def _provenance_key(spec: dict) -> dict:
    """A backbone spec without its file paths: what the backbone is, not where it lies."""
    return {k: v for k, v in spec.items() if k not in ("weights", "cache_dir")}


# ---------------------------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------------------------


def pipeline(*, stimuli, pipeline, settings: dict) -> Path:
    """The demo's tiny Versatile-Diffusion image-variation pipeline (``mindeye.tiny_variation``, its
    token width ``mindeye.model.token_dim``), saved as a diffusers folder; its VAE's latent scaling is
    1/std of the stimuli's latents."""
    config = from_section(TinyVariationConfig, settings["tiny_variation"], "mindeye.tiny_variation",
                          token_dim=settings["model"]["token_dim"])
    stimulus_set = read_stimulus_set(stimuli)
    return build_demo_variation_pipeline(pipeline, config, images_of(stimulus_set, stimulus_set.stim_ids))


def train(*, responses, stimuli, backbone, model, settings: dict, backbone_spec: dict, seed: int, device: str,
          dataset: str | None = None, subject: str | None = None, stop_after_epoch: int | None = None):
    """Train on the train split. Each epoch's checkpoint lies in ``<model>.resume/``, outside the
    output (a failed job's progress survives the workflow's clean-up), keyed on the fingerprints of
    responses, stimuli and backbone weights and on the settings: a rerun on other inputs or settings
    discards it (logged) and starts afresh. The folder is removed once ``model`` is written. With
    ``stop_after_epoch`` the run stops early (an interruption) and ``model`` is not written."""
    config = from_section(MindEyeConfig, settings["model"], "mindeye.model", seed=derive(seed, "train"))
    roi = settings["roi"]
    device = resolve_device(device)
    counts = None
    if config.trials == "single":
        split, counts = read_trials(responses, "train", roi, config.n_voxels)
    else:
        split = read_split(responses, "train", roi, config.n_voxels)
    if len(split.voxels) < config.batch_size:
        raise DataValidationError(responses, "split", f"at least batch_size={config.batch_size} (mindeye.model."
                                  "batch_size) training rows", len(split.voxels))
    targets = token_targets(load_backbone(backbone_spec, backbone, device), config, augment=config.image_augment)
    pixels = stimulus_pixels(read_stimulus_set(stimuli), split.stim_ids, targets)
    key = {"responses": fingerprint(responses), "stimuli": fingerprint(stimuli), "backbone": fingerprint(backbone),
           "backbone_spec": _provenance_key(backbone_spec), "roi": roi, "model": asdict(config)}
    folder = resume_folder(Path(f"{model}.resume"), key, "MindEye training")
    checkpoint = folder / "checkpoint.pt"
    stop = None if stop_after_epoch is None else int(stop_after_epoch)  # the CLI gives text
    trained = fit_mindeye(split.voxels, pixels, targets, config, checkpoint=checkpoint, device=device,
                          stop_after_epoch=stop, source=responses, counts=counts)
    if stop is not None and stop < config.epochs:
        return trained
    payload = read_checkpoint(checkpoint)
    payload.update(optimizer=None, scheduler=None, extra={
        "backbone": backbone_spec["name"], "roi": roi, "responses": str(responses), "dataset": dataset,
        "subject": subject, "n_train": len(split.voxels), "train_stim_ids": split.stim_ids,
        **({} if counts is None else {"n_train_trials": int(counts.sum())}),
    })
    write_torch(model, payload)
    shutil.rmtree(folder)
    return trained


def train_low_level(*, responses, stimuli, pipeline, low_level, settings: dict, seed: int, device: str,
                    teacher=None, dataset: str | None = None, subject: str | None = None):
    """Voxels (the ROI's, as many as the responses hold; single trials mixed, or their averages)
    -> VAE latents of the seen images, against the variation pipeline's VAE (frozen); ``teacher``,
    the ConvNeXt of the contrastive loss (mindeye.low_level.teacher_weights, the rule's input)."""
    section = dict(settings["low_level"])
    if not section.pop("enabled", True):
        raise ConfigError(None, "mindeye.low_level.enabled", "true to train the low-level path")
    section.pop("teacher_weights", None)
    device = resolve_device(device)
    counts = None
    if section.get("trials", "mixed") == "mixed":
        split, counts = read_trials(responses, "train", settings["roi"])
    else:
        split = read_split(responses, "train", settings["roi"])
    config = from_section(LowLevelConfig, section, "mindeye.low_level", n_voxels=split.voxels.shape[-1],
                          seed=derive(seed, "low_level"))
    if config.cont_weight > 0 and teacher is None:
        raise ConfigError(None, "mindeye.low_level.teacher_weights", "a ConvNeXt teacher's file when cont_weight > 0")
    stimulus_set = read_stimulus_set(stimuli)
    check_ids(stimulus_set, split.stim_ids)
    vae = load_variation_pipeline(pipeline).vae
    images = uint8_images(stimulus_set, split.stim_ids, int(vae.config.sample_size))
    net_teacher = None if config.cont_weight == 0 else load_teacher(teacher, config, device)
    torch.manual_seed(config.seed)
    net = fit_low_level(split.voxels, images, vae, config, device=device, counts=counts, teacher=net_teacher)
    save_low_level(low_level, net, {"pipeline": str(pipeline), "responses": str(responses), "dataset": dataset,
                                    "subject": subject, "n_train": len(split.voxels),
                                    **({} if counts is None else {"n_train_trials": int(counts.sum())})})
    return net


def reconstruct(*, model, responses, stimuli, backbone, pipeline, reconstructions, settings: dict,
                backbone_spec: dict, seed: int, device: str, low_level=None, dataset: str | None = None,
                subject: str | None = None):
    """Reconstructions of the first ``n_images`` test items as two stimulus sets: ``final/`` (with the
    chosen sample and its cosine to the brain's retrieval tokens) and, given the low-level
    checkpoint, ``low_level/`` (its decoded latents, the blurry images the img2img start is made
    from). ``model`` and ``low_level`` are neurogaze checkpoints or the released ones."""
    config = from_section(ReconstructionConfig, settings["reconstruction"], "mindeye.reconstruction",
                          seed=derive(seed, "reconstruct"))
    device = resolve_device(device)
    net = open_mindeye(model, device)
    test = read_split(responses, "test", settings["roi"], net.config.n_voxels)
    n = len(test.stim_ids) if config.n_images is None else min(config.n_images, len(test.stim_ids))
    items = SplitData(test.voxels[:n], test.stim_ids[:n])
    check_ids(read_stimulus_set(stimuli), items.stim_ids)
    targets = token_targets(load_backbone(backbone_spec, backbone, device), net.config, augment=False)
    pipe = load_variation_pipeline(pipeline, device)
    brain_tokens, projected = predict_tokens(net, items.voxels)
    low_latents, low_images = None, None
    if low_level is not None:
        low_latents = predict_latents(open_low_level(low_level, "cpu"), items.voxels).to(device)
        low_images = decode_latents(pipe.vae, low_latents)
    result = reconstruct_images(pipe, net, brain_tokens, projected, targets, config, low_latents)
    splits = ["test"] * len(items.stim_ids)
    with atomic_directory(reconstructions) as temp:
        write_stimulus_set(temp / "final", items.stim_ids, result.images, splits,
                           {"chosen": result.chosen.tolist(), "similarity": result.similarity.tolist()})
        if low_images is not None:
            write_stimulus_set(temp / "low_level", items.stim_ids, low_images, splits)
    return result


def evaluate(*, model, responses, stimuli, backbone, metrics, retrievals, dataset: str, settings: dict,
             backbone_spec: dict, two_way_specs: list[dict], seed: int, device: str, reconstructions=None,
             two_way: list[str] | None = None, subject: str | None = None) -> pd.DataFrame:
    """metrics.csv (tidy: retrieval, its shuffled control and chance as unit 'all'; with
    ``reconstructions``, their metrics per image and the means) and retrievals.csv (the top-k images
    of each test item). ``two_way`` are the weights of ``two_way_specs``' backbones, in order;
    ``model`` is ``model.pt`` or a released checkpoint."""
    config = from_section(EvaluationConfig, settings["evaluation"], "mindeye.evaluation",
                          draw_seed=derive(seed, "draws"), shuffle_seed=derive(seed, "shuffle"))
    two_way = _as_list(two_way)
    if reconstructions is not None and len(two_way) != len(two_way_specs):
        raise ConfigError(None, "mindeye.evaluation.two_way_backbones", f"a weights file for each of "
                          f"{[spec['name'] for spec in two_way_specs]} (two_way: {len(two_way)} given)")
    device = resolve_device(device)
    net = open_mindeye(model, device)
    test = read_split(responses, "test", settings["roi"], net.config.n_voxels)
    stimulus_set = read_stimulus_set(stimuli)
    targets = token_targets(load_backbone(backbone_spec, backbone, device), net.config, augment=False)
    image_tokens = target_tokens(targets, stimulus_pixels(stimulus_set, test.stim_ids, targets))
    values, projected = retrieval_scores(net, test, image_tokens, config)
    tables = [metric_rows(values, METHOD, dataset, seed=seed)]
    if reconstructions is not None:
        networks = {spec["name"]: load_backbone(spec, weights, device) for spec, weights in zip(two_way_specs, two_way)}
        per_image, ids = reconstruction_values(reconstructions, stimulus_set, networks, config.image_size,
                                               config.pixel_size)
        tables.append(metric_rows(per_image, METHOD, dataset, seed=seed, units=ids))
        means = {name: float(np.mean(v)) for name, v in per_image.items()}
        tables.append(metric_rows(means, METHOD, dataset, seed=seed))
    table = pd.concat(tables, ignore_index=True)
    write_metrics(metrics, table)
    write_csv(retrievals, top_k_table(projected, image_tokens, test.stim_ids, config.top_k))
    logger.info("MindEye %s: image top-1 %.3f, brain top-1 %.3f among %d (chance %.4f); shuffled fMRI %.3f / %.3f; "
                "the official subject-1 run, same directions: %.3f / %.3f",
                dataset, values["image_top1"], values["brain_top1"], values["retrieval_subset"], values["chance"],
                values["image_top1_shuffled"], values["brain_top1_shuffled"], PAPER_TOP1["image_top1"],
                PAPER_TOP1["brain_top1"])
    return table


__all__ = ["METHOD", "derive", "evaluate", "load_backbone", "open_mindeye", "pipeline", "read_split",
           "read_trials", "reconstruct", "train", "train_low_level"]
