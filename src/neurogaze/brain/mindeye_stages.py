"""MindEye pipeline stages (the rules call these): contract files in, checkpoints, reconstructions,
metric tables and figures out.

- ``run_train``: brain responses (train split, ROI voxels) + stimulus set + backbone -> ``model.pt``,
  resumable through a checkpoint kept outside the rule's output;
- ``run_train_low_level``: the voxel -> VAE-latent path against the variation pipeline's VAE;
- ``run_reconstruct``: test voxels -> prior tokens -> best-of-N variations (img2img from the
  low-level latents when that path is on) -> two stimulus sets (``final/``, ``low_level/``);
- ``run_evaluate``: image and brain retrieval top-1 among ``subset`` test items over ``n_draws``
  draws, the same with the test fMRI rows shuffled (chance control), PixCorr, SSIM and two-way
  identification -> tidy ``metrics.csv`` + ``retrievals.csv`` (top-k per test item);
- ``run_figures``: the retrieval and reconstruction grids.

Every stage checks its inputs (``DataValidationError`` naming file and field) before writing.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from neurogaze.brain import mindeye as me
from neurogaze.brain import mindeye_reconstruction as mr
from neurogaze.errors import ConfigError, DataValidationError
from neurogaze.io import write_torch

logger = logging.getLogger(__name__)

METHOD = "mindeye"
LOW_LEVEL_FORMAT = "neurogaze.mindeye-low-level/1"
PAPER_TOP1 = {"image_top1": 0.936, "brain_top1": 0.900}  # Scotti et al. 2023, NSD subj01, 300 of 982


@dataclass(frozen=True)
class MindEyeSettings:
    """The config's ``mindeye`` section, parsed; ``seed`` is the pipeline's master seed."""

    model: me.MindEyeConfig
    low_level: mr.LowLevelConfig | None
    reconstruction: mr.ReconstructionConfig
    tiny_variation: mr.TinyVariationConfig
    backbone: str
    roi: str | None = "nsdgeneral"
    prior_cond_scale: float = 1.0
    n_reconstruct: int | None = None
    subset: int = 300
    n_draws: int = 30
    two_way_backbones: tuple[str, ...] = ()
    top_k: int = 5
    figure_images: int = 6
    seed: int = 0

    @classmethod
    def from_config(cls, section: dict, seed: int = 0) -> MindEyeSettings:
        low = dict(section.get("low_level", {}))
        recon = dict(section.get("reconstruction", {}))
        evaluation = dict(section.get("evaluation", {}))
        figures = dict(section.get("figures", {}))
        model = me.MindEyeConfig.from_dict({**section.get("model", {}), "seed": derive(seed, "train")})
        low_level = None
        if low.pop("enabled", True):
            low_level = mr.LowLevelConfig.from_dict({**low, "n_voxels": model.n_voxels, "seed": derive(seed, "low_level")})
        return cls(
            model=model,
            low_level=low_level,
            reconstruction=mr.ReconstructionConfig(
                steps=recon.get("steps", 20), guidance_scale=recon.get("guidance_scale", 3.5),
                strength=recon.get("strength", 0.85), n_samples=recon.get("n_samples", 16),
                seed=derive(seed, "reconstruct"),
            ),
            tiny_variation=mr.TinyVariationConfig.from_dict({**section.get("tiny_variation", {}), "token_dim": model.token_dim}),
            backbone=section["backbone"],
            roi=section.get("roi"),
            prior_cond_scale=recon.get("prior_cond_scale", 1.0),
            n_reconstruct=recon.get("n_images"),
            subset=evaluation.get("subset", 300),
            n_draws=evaluation.get("n_draws", 30),
            two_way_backbones=tuple(evaluation.get("two_way_backbones", ())),
            top_k=figures.get("top_k", 5),
            figure_images=figures.get("n_images", 6),
            seed=seed,
        )


def derive(seed: int, name: str) -> int:
    from neurogaze.runlog import derive_seed

    return derive_seed(seed, "mindeye", name) % 2**31


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


@dataclass
class SplitData:
    voxels: np.ndarray  # float32 (n, n_voxels)
    stim_ids: list[str]


def read_split(responses_path, split: str, settings: MindEyeSettings) -> SplitData:
    """The ROI voxels of one split, checked against the model's size."""
    from neurogaze.data.contracts import read_brain_responses

    responses = read_brain_responses(responses_path)
    voxels, stim_ids = responses.select(split)
    if settings.roi:
        if settings.roi not in responses.rois:
            raise DataValidationError(responses_path, f"rois/{settings.roi}", f"the ROI mindeye.roi={settings.roi!r}",
                                      f"ROIs {sorted(responses.rois)}")
        voxels = voxels[:, responses.rois[settings.roi]]
    if voxels.shape[1] != settings.model.n_voxels:
        raise DataValidationError(responses_path, "responses", f"{settings.model.n_voxels} voxels "
                                  f"(mindeye.model.n_voxels) in ROI {settings.roi}", voxels.shape[1])
    if len(voxels) == 0:
        raise DataValidationError(responses_path, "split", f"rows in the {split} split", 0)
    return SplitData(np.ascontiguousarray(voxels, dtype=np.float32), [str(s) for s in stim_ids])


def token_targets(settings: MindEyeSettings, backbones: dict | None, device, augment: bool) -> me.TokenTargets:
    """The backbone's CLS-scaled token targets, checked against the model's token grid."""
    from neurogaze.backbones import build_backbone

    targets = me.TokenTargets(build_backbone(settings.backbone, device, backbones), augment=augment)
    size = int(targets.backbone.pixels([np.zeros((8, 8, 3), np.uint8)]).shape[-1])
    n_tokens, token_dim = tuple(targets(torch.zeros(1, 3, size, size), train=False).shape[1:])
    config = settings.model
    if token_dim != config.token_dim or config.n_tokens not in (1, n_tokens):
        raise ConfigError(None, "mindeye.model.n_tokens", f"tokens ({n_tokens} or 1, {token_dim}) to match backbone "
                          f"{settings.backbone!r}, not ({config.n_tokens}, {config.token_dim})")
    return targets if config.n_tokens == n_tokens else LeadingTokens(targets, config.n_tokens)


class LeadingTokens:
    """The first ``n_tokens`` rows of a backbone's targets: with 1, the CLS token alone (the pooled
    image embedding, CLS-norm scaled). The demo uses it because its synthetic NSD plants only the
    pooled embedding in the voxels, which does not determine the patch tokens."""

    def __init__(self, targets: me.TokenTargets, n_tokens: int):
        self.targets, self.backbone, self.n_tokens = targets, targets.backbone, n_tokens

    def __call__(self, pixels: torch.Tensor, train: bool = True) -> torch.Tensor:
        return self.targets(pixels, train=train)[:, :self.n_tokens]


def _stimuli(stimuli_dir):
    from neurogaze.data.contracts import read_stimulus_set

    return read_stimulus_set(stimuli_dir)


def _images(stimuli, stim_ids: list[str]) -> list[np.ndarray]:
    return [image for _, image in stimuli.iter_images(list(stim_ids))]


# ---------------------------------------------------------------------------------------------
# Train
# ---------------------------------------------------------------------------------------------


def run_train(responses_path, stimuli_dir, out_path, settings: MindEyeSettings, backbones: dict | None = None,
              device="auto", resume_path=None, stop_after_epoch: int | None = None, progress: bool = True):
    """Train on the train split; ``resume_path`` holds the per-epoch checkpoint (kept outside
    ``out_path``, so a failed job's partial state survives) and is removed once ``out_path`` is written.
    With ``stop_after_epoch`` the run stops early (an interruption) and ``out_path`` is not written."""
    from neurogaze.runlog import resolve_device

    device = resolve_device(device) if isinstance(device, str) else device
    train = read_split(responses_path, "train", settings)
    if len(train.voxels) < settings.model.batch_size:
        raise DataValidationError(responses_path, "split", f"at least batch_size={settings.model.batch_size} "
                                  "training rows", len(train.voxels))
    targets = token_targets(settings, backbones, device, augment=settings.model.image_augment)
    pixels = me.stimulus_pixels(_stimuli(stimuli_dir), train.stim_ids, targets)
    resume = Path(resume_path) if resume_path else Path(str(out_path) + ".resume")
    resume.parent.mkdir(parents=True, exist_ok=True)
    model = me.fit_mindeye(train.voxels, pixels, targets, settings.model, checkpoint=resume, device=device,
                           progress=progress, stop_after_epoch=stop_after_epoch, source=responses_path)
    if stop_after_epoch is not None and stop_after_epoch < settings.model.epochs:
        return model
    payload = torch.load(resume, map_location="cpu", weights_only=False)
    payload.update(optimizer=None, scheduler=None, extra={
        "backbone": settings.backbone, "roi": settings.roi, "responses": str(responses_path),
        "n_train": len(train.voxels), "train_stim_ids": train.stim_ids,
    })
    write_torch(out_path, payload)
    resume.unlink()
    return model


def save_low_level(path, model: mr.Voxel2Latent, extra: dict | None = None) -> None:
    """A self-describing low-level checkpoint: {format, config, state_dict, version, extra}."""
    from neurogaze import __version__

    write_torch(path, {"format": LOW_LEVEL_FORMAT, "neurogaze_version": __version__, "config": asdict(model.config),
                       "state_dict": model.state_dict(), "extra": extra or {}})


def load_low_level(path, device="cpu") -> tuple[mr.Voxel2Latent, dict]:
    path = Path(path)
    payload = torch.load(path, map_location=device, weights_only=False)
    if not isinstance(payload, dict) or payload.get("format") != LOW_LEVEL_FORMAT:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise DataValidationError(path, "format", f"a {LOW_LEVEL_FORMAT} checkpoint", got)
    model = mr.Voxel2Latent(mr.LowLevelConfig.from_dict(payload["config"]))
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload


def run_train_low_level(responses_path, stimuli_dir, pipeline_dir, out_path, settings: MindEyeSettings,
                        device="auto", progress: bool = True) -> mr.Voxel2Latent:
    """Voxels -> VAE latents of the seen images (the variation pipeline's VAE, frozen)."""
    from neurogaze.runlog import resolve_device

    if settings.low_level is None:
        raise ConfigError(None, "mindeye.low_level.enabled", "true to train the low-level path")
    device = resolve_device(device) if isinstance(device, str) else device
    train = read_split(responses_path, "train", settings)
    stimuli = _stimuli(stimuli_dir)
    _check_ids(stimuli, train.stim_ids)
    vae = mr.load_variation_pipeline(pipeline_dir).vae
    images = uint8_images(stimuli, train.stim_ids, int(vae.config.sample_size))
    torch.manual_seed(settings.low_level.seed)
    model = mr.fit_low_level(train.voxels, images, vae, settings.low_level, progress=progress, device=device)
    save_low_level(out_path, model, {"pipeline": str(pipeline_dir), "responses": str(responses_path),
                                     "n_train": len(train.voxels)})
    return model


def uint8_images(stimuli, stim_ids: list[str], size: int, chunk: int = 256) -> torch.Tensor:
    """The stimuli resized to ``size`` as uint8 (N, 3, size, size), resized a chunk at a time so
    that the float copy never holds more than ``chunk`` images."""
    from neurogaze.backbones.diffusion import images_to_tensor

    parts = []
    for start in range(0, len(stim_ids), chunk):
        tensor = images_to_tensor(_images(stimuli, stim_ids[start:start + chunk]), size)
        parts.append(((tensor + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8))
    return torch.cat(parts)


def _check_ids(stimuli, stim_ids: list[str]) -> None:
    known = set(stimuli.stim_ids)
    missing = [s for s in stim_ids if s not in known]
    if missing:
        raise DataValidationError(stimuli.root / "index.parquet", "stim_id",
                                  f"every stimulus of the brain responses ({len(missing)} missing)", missing[0])


# ---------------------------------------------------------------------------------------------
# Variation pipeline (demo)
# ---------------------------------------------------------------------------------------------


def build_demo_variation_pipeline(out_dir, settings: MindEyeSettings, stimuli_dir=None) -> Path:
    """The tiny image-variation pipeline, saved as a diffusers folder. With stimuli, the VAE's latent
    scaling is set to 1/std of their latents (no training), as SD's 0.18215 is for its VAE."""
    from neurogaze.backbones.diffusion import (
        VAEFitConfig,
        fit_vae,
        images_to_tensor,
        save_pipeline,
    )

    pipe = mr.build_tiny_variation_pipeline(settings.tiny_variation)
    provenance = {"tiny_variation": asdict(settings.tiny_variation), "latent_scaling": None}
    if stimuli_dir is not None:
        stimuli = _stimuli(stimuli_dir)
        images = images_to_tensor(_images(stimuli, stimuli.stim_ids), settings.tiny_variation.image_size)
        provenance["latent_scaling"] = fit_vae(pipe.vae, images, VAEFitConfig(steps=0))["scaling_factor"]
    return save_pipeline(pipe, out_dir, provenance)


# ---------------------------------------------------------------------------------------------
# Reconstruct
# ---------------------------------------------------------------------------------------------


def reconstruction_items(test: SplitData, settings: MindEyeSettings) -> SplitData:
    """The first ``n_reconstruct`` test items (all when null), in the responses' order."""
    n = len(test.stim_ids) if settings.n_reconstruct is None else min(settings.n_reconstruct, len(test.stim_ids))
    return SplitData(test.voxels[:n], test.stim_ids[:n])


def run_reconstruct(model_path, responses_path, stimuli_dir, pipeline_dir, out_dir, settings: MindEyeSettings,
                    backbones: dict | None = None, low_level_path=None, device="auto", progress: bool = True):
    """Reconstructions of the test items as two stimulus sets: ``final/`` (with the chosen sample and
    its cosine to the brain's retrieval tokens) and, with the low-level path, ``low_level/``."""
    from neurogaze.data.contracts import write_stimulus_set
    from neurogaze.io import atomic_directory
    from neurogaze.runlog import resolve_device

    device = resolve_device(device) if isinstance(device, str) else device
    model, _ = me.load_checkpoint(model_path, device)
    settings = replace(settings, model=model.config)
    items = reconstruction_items(read_split(responses_path, "test", settings), settings)
    _check_ids(_stimuli(stimuli_dir), items.stim_ids)
    targets = token_targets(settings, backbones, device, augment=False)
    pipe = mr.load_variation_pipeline(pipeline_dir, device)
    brain_tokens, projected = me.predict_tokens(model, items.voxels)
    prior = me.sample_prior_tokens(model, brain_tokens, cond_scale=settings.prior_cond_scale,
                                   seed=settings.reconstruction.seed)
    init, low_images = None, None
    if low_level_path is not None:
        low, _ = load_low_level(low_level_path, "cpu")
        init = mr.predict_latents(low, items.voxels).to(device)
        low_images = mr.decode_latents(pipe.vae, init)
    result = mr.reconstruct(pipe, prior, projected, targets, settings.reconstruction, init, progress=progress)
    splits = ["test"] * len(items.stim_ids)
    with atomic_directory(out_dir) as temp:
        write_stimulus_set(temp / "final", items.stim_ids, result.images, splits,
                           {"chosen": result.chosen.tolist(), "similarity": result.similarity.tolist()})
        if low_images is not None:
            write_stimulus_set(temp / "low_level", items.stim_ids, low_images, splits)
    return result


# ---------------------------------------------------------------------------------------------
# Evaluate
# ---------------------------------------------------------------------------------------------


def retrieval_scores(model: me.MindEye, test: SplitData, image_tokens: np.ndarray, settings: MindEyeSettings):
    """Retrieval of the true pairing and of the pairing with the fMRI rows shuffled (chance control)."""
    from neurogaze.metrics.reconstruction import retrieval_top1

    _, projected = me.predict_tokens(model, test.voxels)
    scores = retrieval_top1(projected, image_tokens, settings.subset, settings.n_draws, seed=derive(settings.seed, "draws"))
    shuffle = np.random.default_rng(derive(settings.seed, "shuffle")).permutation(len(test.voxels))
    _, shuffled_projected = me.predict_tokens(model, test.voxels[shuffle])
    shuffled = retrieval_top1(shuffled_projected, image_tokens, settings.subset, settings.n_draws,
                              seed=derive(settings.seed, "draws"))
    values = {"image_top1": scores["image_top1"], "brain_top1": scores["brain_top1"], "chance": scores["chance"],
              "retrieval_subset": float(scores["subset"]),
              "image_top1_shuffled": shuffled["image_top1"], "brain_top1_shuffled": shuffled["brain_top1"]}
    return values, projected


def top_k_table(projected: np.ndarray, image_tokens: np.ndarray, stim_ids: list[str], k: int) -> pd.DataFrame:
    """For each test item, its k nearest images (cosine) among all test images."""
    from neurogaze.metrics.reconstruction import cosine_similarities

    sims = cosine_similarities(projected, image_tokens)
    top = np.argsort(-sims, axis=1, kind="stable")[:, :min(k, len(stim_ids))]
    rows = [{"stim_id": stim_ids[row], "rank": rank + 1, "retrieved": stim_ids[col], "similarity": float(sims[row, col]),
             "correct": col == row} for row in range(len(top)) for rank, col in enumerate(top[row])]
    return pd.DataFrame(rows, columns=["stim_id", "rank", "retrieved", "similarity", "correct"])


def reconstruction_values(recon_dir, stimuli, settings: MindEyeSettings, backbones, device) -> tuple[dict, list[str]]:
    """Per-image PixCorr, SSIM and two-way identification (each configured network) of ``final/``,
    and PixCorr/SSIM of ``low_level/`` when present; truths resized to the reconstructions' size."""
    from PIL import Image

    from neurogaze.features.image import embed_images
    from neurogaze.metrics.reconstruction import evaluate_reconstructions, pixcorr, ssim

    final = _stimuli(Path(recon_dir) / "final")
    ids = final.stim_ids
    _check_ids(stimuli, ids)
    recons = np.stack(_images(final, ids))
    size = recons.shape[1:3]
    truths = np.stack([np.asarray(Image.fromarray(image).resize(size[::-1], Image.BICUBIC))
                       for image in _images(stimuli, ids)])
    features = {name: (embed_images(name, list(recons), device=device, configured=backbones),
                       embed_images(name, list(truths), device=device, configured=backbones))
                for name in settings.two_way_backbones} if len(ids) > 1 else {}
    values = evaluate_reconstructions(recons, truths, features)
    low_dir = Path(recon_dir) / "low_level"
    if low_dir.exists():
        low = np.stack(_images(_stimuli(low_dir), ids))
        truths_low = np.stack([np.asarray(Image.fromarray(t).resize(low.shape[1:3][::-1], Image.BICUBIC)) for t in truths])
        values.update(pixcorr_low_level=pixcorr(low, truths_low), ssim_low_level=ssim(low, truths_low))
    return values, ids


def run_evaluate(model_path, responses_path, stimuli_dir, metrics_path, retrievals_path, settings: MindEyeSettings,
                 dataset: str, backbones: dict | None = None, recon_dir=None, device="auto"):
    """metrics.csv (tidy: retrieval, its shuffled control and chance as unit 'all'; reconstruction
    metrics per image and their mean) and retrievals.csv (top-k images per test item)."""
    from neurogaze.data.contracts import write_metrics
    from neurogaze.io import write_csv
    from neurogaze.metrics.reconstruction import metric_rows
    from neurogaze.runlog import resolve_device

    device = resolve_device(device) if isinstance(device, str) else device
    model, _ = me.load_checkpoint(model_path, device)
    settings = replace(settings, model=model.config)
    test = read_split(responses_path, "test", settings)
    stimuli = _stimuli(stimuli_dir)
    targets = token_targets(settings, backbones, device, augment=False)
    image_tokens = me.target_tokens(targets, me.stimulus_pixels(stimuli, test.stim_ids, targets))
    values, projected = retrieval_scores(model, test, image_tokens, settings)
    tables = [metric_rows(values, METHOD, dataset, seed=settings.seed)]
    if recon_dir is not None:
        per_image, ids = reconstruction_values(recon_dir, stimuli, settings, backbones, device)
        tables.append(metric_rows(per_image, METHOD, dataset, seed=settings.seed, units=ids))
        means = {name: float(np.mean(v)) for name, v in per_image.items()}
        tables.append(metric_rows(means, METHOD, dataset, seed=settings.seed))
    table = pd.concat(tables, ignore_index=True)
    write_metrics(metrics_path, table)
    write_csv(retrievals_path, top_k_table(projected, image_tokens, test.stim_ids, settings.top_k))
    logger.info("MindEye %s: image top-1 %.3f, brain top-1 %.3f among %d (chance %.4f); shuffled fMRI %.3f / %.3f",
                dataset, values["image_top1"], values["brain_top1"], values["retrieval_subset"], values["chance"],
                values["image_top1_shuffled"], values["brain_top1_shuffled"])
    return table


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def retrieval_grid(table: pd.DataFrame, n_images: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The first ``n_images`` test items of a retrievals table (in its order), their retrieved ids
    (n, k) best first, and which of those are the seen image."""
    shown = list(dict.fromkeys(table["stim_id"]))[:n_images]
    position = {stim_id: index for index, stim_id in enumerate(shown)}
    rows = table[table["stim_id"].isin(shown)]
    rows = rows.assign(position=rows["stim_id"].map(position)).sort_values(["position", "rank"], kind="stable")
    k = int(rows["rank"].max())
    return shown, rows["retrieved"].to_numpy(str).reshape(len(shown), k), rows["correct"].to_numpy(bool).reshape(len(shown), k)


def run_figures(stimuli_dir, retrievals_path, recon_dir, retrieval_png, reconstruction_png, settings: MindEyeSettings):
    """The retrieval grid (first test items, their top-k) and the reconstruction grid."""
    from neurogaze.figures.mindeye import plot_reconstruction_grid, plot_retrieval_grid
    from neurogaze.figures.style import save_figure

    stimuli = _stimuli(stimuli_dir)
    table = pd.read_csv(retrievals_path, dtype={"stim_id": str, "retrieved": str})  # ids such as "0042" stay text
    missing = {"stim_id", "rank", "retrieved", "correct"} - set(table.columns)
    if missing:
        raise DataValidationError(retrievals_path, min(missing), "a MindEye retrievals table", "missing")
    shown, retrieved_ids, correct = retrieval_grid(table, settings.figure_images)
    seen = np.stack(_images(stimuli, shown))
    retrieved = np.stack(_images(stimuli, retrieved_ids.ravel().tolist())).reshape(*retrieved_ids.shape, *seen.shape[1:])
    save_figure(plot_retrieval_grid(seen, retrieved, correct), retrieval_png)
    final = _stimuli(Path(recon_dir) / "final")
    ids = final.stim_ids[:settings.figure_images]
    low_dir = Path(recon_dir) / "low_level"
    low = np.stack(_images(_stimuli(low_dir), ids)) if low_dir.exists() else None
    save_figure(plot_reconstruction_grid(np.stack(_images(stimuli, ids)), np.stack(_images(final, ids)), low),
                reconstruction_png)


__all__ = [
    "LOW_LEVEL_FORMAT", "METHOD", "MindEyeSettings", "SplitData", "build_demo_variation_pipeline", "load_low_level",
    "read_split", "reconstruction_items", "retrieval_grid", "retrieval_scores", "run_evaluate", "run_figures", "run_reconstruct",
    "run_train", "run_train_low_level", "save_low_level", "token_targets", "top_k_table",
]
