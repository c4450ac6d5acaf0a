"""DiffEye's stages: ``diffeye_train`` (a gaze root -> a model folder) and ``diffeye_evaluate``
(a model folder + a gaze root -> sampled trajectories, per-image saliency maps, a metric table).

A root is read in its own layout with the dataset's loader (its default screen): OSIE
(``data/eye/fixations.mat``: fixations only, rendered as trajectories, see
``trajectories.render_scanpath``), MIT1003 (``DATA/`` + ``ALLSTIMULI/``: raw 240 Hz samples, the
paper's data) or EyeLink ``.asc`` recordings (raw samples), the raw samples cut to
trajectories. Training uses the images of the seeded 90/10 split's training part; evaluation
scores the held-out images when it is given the root the model was trained on, and every image
of any other root (unseen images).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import neurogaze
from neurogaze.config import from_section
from neurogaze.data.contracts import METRIC_COLUMNS, write_metrics
from neurogaze.data.gaze.detection import DetectorConfig, ScreenGeometry, detector_config
from neurogaze.data.gaze.eyelink import load_eyelink
from neurogaze.data.gaze.mit1003 import load_mit1003
from neurogaze.data.gaze.osie import FIXATIONS_FILE, load_osie
from neurogaze.errors import ConfigError, DataValidationError
from neurogaze.gaze.baselines import centre_bias_scanpath, fit_centre_bias, training_behaviour
from neurogaze.gaze.diffeye import diffusion
from neurogaze.gaze.diffeye import features as feat
from neurogaze.gaze.diffeye.evaluate import score_image
from neurogaze.gaze.diffeye.model import DiffEyeConfig, DiffEyeUNet
from neurogaze.gaze.diffeye.trajectories import Trajectories, cut_trajectories, render_scanpath, split_by_image
from neurogaze.io import atomic_directory, fingerprint, resume_folder, write_json, write_torch
from neurogaze.metrics import saliency as sal
from neurogaze.runlog import derive_seed, image_rng

logger = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
# keys of the diffeye settings that are not DiffEyeConfig fields
VARIANTS = ("cpe", "no_cpe")
READING_KEYS = ("backbone", "pixels_per_degree", "default_pixels_per_degree", "detector", "sigma_deg",
                "levenshtein_grid", "sample_batch")


@dataclass
class GazeRoot:
    """What DiffEye reads from a root: trajectories, human scanpaths and images per stim_id."""

    name: str
    trajectories: Trajectories
    scanpaths: dict[str, list[np.ndarray]]
    images: dict[str, Path]
    sizes: dict[str, tuple[int, int]]
    fixations: pd.DataFrame


def geometry_for(pixels_per_degree: float) -> ScreenGeometry:
    """A screen on which one pixel spans 1 / ``pixels_per_degree`` degrees (the detector's input)."""
    resolution, distance = 1000.0, 1.0
    size = 2 * distance * math.tan(math.radians(resolution / pixels_per_degree / 2))
    return ScreenGeometry((resolution, resolution), (size, size), distance)


def pixels_per_degree(settings: dict, dataset: str) -> float:
    """The dataset's image pixels per degree (the workflow's one number per dataset: see
    ``neurogaze.stages.gaze_pixels_per_degree``): ``settings["pixels_per_degree"]`` is a
    {dataset: px per degree} map with ``default_pixels_per_degree`` for the rest, or one number."""
    given = settings["pixels_per_degree"]
    if isinstance(given, dict):
        return float(given.get(dataset, settings["default_pixels_per_degree"]))
    return float(given)


def _scanpaths(fixations: pd.DataFrame) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    ordered = fixations.sort_values(["stim_id", "subject", "trial", "fix_index"])
    for (stim_id, _, _), group in ordered.groupby(["stim_id", "subject", "trial"], sort=False):
        out.setdefault(str(stim_id), []).append(group[["x", "y", "duration_ms"]].to_numpy(dtype=float))
    return out


def _rendered(fixations: pd.DataFrame, sizes, config: DiffEyeConfig, pixels_per_degree: float) -> Trajectories:
    rows, arrays = [], []
    for (stim_id, subject, trial), group in fixations.groupby(["stim_id", "subject", "trial"], sort=True):
        rng = np.random.default_rng(derive_seed(config.seed, "diffeye", "render", str(stim_id), str(subject)))
        size = sizes[str(stim_id)]
        path = group.sort_values("fix_index")[["x", "y", "duration_ms"]].to_numpy(dtype=float)
        arrays.append(render_scanpath(path, size, config.length, config.rate_hz, 1.0 / pixels_per_degree, rng))
        rows.append({"subject": str(subject), "trial": int(trial), "stim_id": str(stim_id),
                     "width": int(size[0]), "height": int(size[1])})
    return Trajectories(np.stack(arrays), pd.DataFrame(rows))


def read_root(root: str | os.PathLike, config: DiffEyeConfig, settings: dict) -> GazeRoot:
    """An OSIE root (fixations rendered as trajectories) or a folder of EyeLink ``.asc`` files."""
    root = Path(root)
    if (root / FIXATIONS_FILE).is_file():
        data = load_osie(root)
        sizes = data.image_sizes()
        trajectories = _rendered(data.fixations, sizes, config, pixels_per_degree(settings, data.name))
    elif (root / "DATA").is_dir() and (root / "ALLSTIMULI").is_dir():
        data = load_mit1003(root, detector=settings.get("detector"))
        sizes = data.image_sizes()
        trajectories = cut_trajectories(data.samples, sizes, config.length, config.rate_hz, root)
    elif any(root.glob("*.asc")):
        data = load_eyelink(root, detector=settings.get("detector"))
        sizes = data.image_sizes()
        trajectories = cut_trajectories(data.samples, sizes, config.length, config.rate_hz, root)
    else:
        raise DataValidationError(root, "layout", f"a gaze root: {FIXATIONS_FILE} (OSIE), DATA/ + ALLSTIMULI/ "
                                                  "(MIT1003) or EyeLink *.asc files", "none of them")
    images = {row.stim_id: Path(row.path) for row in data.stimuli.itertuples(index=False)}
    return GazeRoot(data.name, trajectories, _scanpaths(data.fixations), images, sizes, data.fixations)


def _config(settings: dict, feature_dim: int) -> DiffEyeConfig:
    values = {key: value for key, value in settings.items() if key not in READING_KEYS}
    return from_section(DiffEyeConfig, values, "diffeye", feature_dim=feature_dim)


def build_backbone(backbone: dict, seed: int):
    """The local DINOv2 named by ``backbone.weights``, else a tiny seeded one of ``backbone``'s sizes."""
    if backbone.get("weights"):
        return feat.load_dinov2(backbone["weights"])
    sizes = {key: backbone[key] for key in ("image_size", "patch_size", "hidden_size", "layers", "heads")}
    return feat.tiny_dinov2(**sizes, seed=derive_seed(seed, "diffeye", "backbone"))


def image_features(backbone_model, root: GazeRoot, stim_ids: list[str], image_size: int,
                   patch_grid: int) -> torch.Tensor:
    return feat.patch_features(backbone_model, [root.images[s] for s in stim_ids], image_size, patch_grid)


def _save_progress(folder: Path, key: dict):
    def save(state: dict) -> None:
        write_torch(folder / "checkpoint.pt", {**state, "key": key})

    return save


def diffeye_train(*, root, out_dir, settings: dict, variant: str = "cpe", dataset: str = "") -> None:
    """Train DiffEye on the training images of ``root`` and write ``out_dir/``: ``model.pt``
    (config, state dict, the backbone's settings and, for a tiny one, its weights, the split,
    the root's fingerprint, neurogaze version, progress), ``history.csv`` and ``split.json``. An
    interrupted run resumes from ``<out_dir>.partial/checkpoint.pt`` when the inputs and
    settings are the same. ``variant`` "no_cpe" trains the ablation without the CPE."""
    if variant not in VARIANTS:
        raise ConfigError(None, "variant", f"one of {VARIANTS}, got {variant!r}")
    settings = {**settings, "cpe": settings.get("cpe", True) and variant == "cpe"}
    backbone_settings = dict(settings["backbone"])
    seed = int(settings.get("seed", DiffEyeConfig.seed))
    backbone = build_backbone(backbone_settings, seed)
    config = _config(settings, int(backbone.config.hidden_size))
    data = read_root(root, config, settings)
    split = split_by_image(data.trajectories.meta["stim_id"], config.test_fraction,
                           derive_seed(config.seed, "diffeye", "split"))
    train_set = data.trajectories.select(split["train"])
    stim_ids = split["train"]
    features = image_features(backbone, data, stim_ids, backbone_settings["image_size"], config.patch_grid)
    image_of = train_set.meta["stim_id"].map({s: i for i, s in enumerate(stim_ids)}).to_numpy()
    logger.info("diffeye: %s, %d training trajectories on %d images", data.name, len(train_set), len(stim_ids))
    root_print = fingerprint(root)
    key = {"root": root_print, "settings": settings}
    partial = resume_folder(f"{out_dir}.partial", key, "DiffEye")
    checkpoint = partial / "checkpoint.pt"
    state = torch.load(checkpoint, weights_only=False) if checkpoint.is_file() else None
    model, progress = diffusion.train(config, train_set.xy, image_of, features, state, _save_progress(partial, key))
    with atomic_directory(out_dir) as temp:
        write_torch(temp / MODEL_FILE, {
            "config": config.to_dict(), "state_dict": model.state_dict(),
            "settings": {key: settings[key] for key in READING_KEYS if key in settings},
            "backbone_state": None if backbone_settings.get("weights") else backbone.state_dict(),
            "split": split, "root": root_print, "dataset": dataset or data.name, "progress": progress,
            "baseline": _training_baseline(data, split["test"]), "neurogaze_version": neurogaze.__version__})
        pd.DataFrame(progress["history"]).to_csv(temp / "history.csv", index=False)
        write_json(temp / "split.json", split)
    shutil.rmtree(partial, ignore_errors=True)


def _training_baseline(data: GazeRoot, held_out) -> dict:
    """What the centre-bias baseline may know, from the training images' humans only: the fitted
    bias (image fractions), scanpath lengths and durations. Stored with the model, so that images
    of another dataset (unseen) are not scored against a baseline fitted on themselves."""
    training = data.fixations[~data.fixations["stim_id"].isin(set(held_out))]
    lengths, durations = training_behaviour(training, held_out)
    return {"centre_bias": fit_centre_bias(training, data.sizes), "lengths": lengths, "durations": durations}


def load_model(model_dir):
    """The trained denoiser, its config, its backbone and the payload of ``model.pt``."""
    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise DataValidationError(path, "file", "a DiffEye model written by diffeye_train", "no such file")
    payload = torch.load(path, weights_only=False)
    config = from_section(DiffEyeConfig, payload["config"], "diffeye")
    model = DiffEyeUNet(config)
    model.load_state_dict(payload["state_dict"])
    backbone = build_backbone(payload["settings"]["backbone"], config.seed)
    if payload["backbone_state"] is not None:
        backbone.load_state_dict(payload["backbone_state"])
    return model.eval(), config, backbone, payload


def _rows(values: dict, method: str, dataset: str, unit: str, split: str, seed: int) -> list[dict]:
    return [dict(zip(METRIC_COLUMNS, (method, dataset, unit, name, split, seed, float(value))))
            for name, value in values.items()]


def _sample_scanpaths(samples: np.ndarray, size, config: DiffEyeConfig, geometry: ScreenGeometry,
                      detector: DetectorConfig) -> list[np.ndarray]:
    return [diffusion.trajectory_scanpath(xy, size, config.rate_hz, geometry, detector) for xy in samples]


def diffeye_evaluate(*, model, root, out_dir, seed: int = 0, dataset: str = "", variant: str = "",
                     scored: str = "") -> None:
    """Sample ``n_samples`` trajectories per scored image and write ``out_dir/``: ``samples.npz``
    (stim_ids, trajectories (images, k, L, 2) in image fractions, image paths, and the human
    trajectories of those images with their stim_ids), ``saliency/<stim_id>.npy``
    (the samples' fixations blurred by ``sigma_deg``), ``scanpaths.parquet`` (the samples'
    detected fixations) and ``metrics.csv`` (tidy contract: DiffEye and the centre-bias
    baseline, per image and their mean). ``scored`` names the scored dataset in the table (the
    rule's wildcard; default: the root's loader name); ``dataset`` and ``variant`` are the
    model's wildcards, which the model file already records."""
    network, config, backbone, payload = load_model(model)
    if "baseline" not in payload:
        raise DataValidationError(Path(model) / MODEL_FILE, "baseline",
                                  "the training images' centre bias, lengths and durations (retrain with this version)")
    settings = payload["settings"]
    data = read_root(root, config, settings)
    seen = fingerprint(root) == payload["root"]
    stim_ids = sorted(payload["split"]["test"]) if seen else sorted(data.scanpaths)
    split = "test" if seen else "unseen"
    name = scored or data.name
    features = image_features(backbone, data, stim_ids, settings["backbone"]["image_size"], config.patch_grid)
    samples = diffusion.sample(network, features, config.n_samples, derive_seed(seed, "diffeye", "sample"),
                               batch_size=int(settings.get("sample_batch", 64)))
    scale = pixels_per_degree(settings, name)
    geometry = geometry_for(scale)
    detector = detector_config(settings.get("detector"))
    sigma_px = float(settings["sigma_deg"]) * scale
    grid = tuple(settings.get("levenshtein_grid", (5, 5)))
    bias, lengths, durations = (payload["baseline"][key] for key in ("centre_bias", "lengths", "durations"))
    rows, maps, scanpath_rows = [], {}, []
    for index, stim_id in enumerate(stim_ids):
        size, humans = data.sizes[stim_id], data.scanpaths[stim_id]
        predicted = _sample_scanpaths(samples[index], size, config, geometry, detector)
        maps[stim_id] = diffusion.saliency_from_scanpaths(predicted, size, sigma_px)
        rows += _rows(score_image(predicted, humans, size, maps[stim_id], sigma_px, grid),
                      "diffeye" if config.cpe else "diffeye_no_cpe", name, stim_id, split, seed)
        rng = image_rng(seed, stim_id, "diffeye_centre_bias")
        baseline = [centre_bias_scanpath(*size, int(rng.choice(lengths)), rng, durations, **bias) for _ in humans]
        baseline_map = sal.centre_bias_map(*size, **bias)
        rows += _rows(score_image(baseline, humans, size, baseline_map, sigma_px, grid), "centre_bias", name,
                      stim_id, split, seed)
        scanpath_rows += [{"stim_id": stim_id, "sample": k, "fix_index": i, "x": x, "y": y, "duration_ms": d}
                          for k, path in enumerate(predicted) for i, (x, y, d) in enumerate(path)]
    table = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
    means = table.groupby(["method", "metric"], as_index=False)["value"].mean()
    table = pd.concat([table, means.assign(dataset=name, unit="dataset_mean", split=split, seed=seed)],
                      ignore_index=True)[list(METRIC_COLUMNS)]
    with atomic_directory(out_dir) as temp:
        humans = data.trajectories.select(stim_ids)
        np.savez(temp / "samples.npz", stim_ids=np.array(stim_ids), trajectories=samples,
                 images=np.array([str(data.images[s]) for s in stim_ids]),
                 human_trajectories=humans.xy, human_stim_ids=humans.meta["stim_id"].to_numpy(dtype=str))
        (temp / "saliency").mkdir()
        for stim_id, smap in maps.items():
            np.save(temp / "saliency" / f"{stim_id}.npy", smap.astype(np.float32))
        pd.DataFrame(scanpath_rows, columns=["stim_id", "sample", "fix_index", "x", "y", "duration_ms"]).to_parquet(
            temp / "scanpaths.parquet", index=False)
        write_metrics(temp / "metrics.csv", table)
