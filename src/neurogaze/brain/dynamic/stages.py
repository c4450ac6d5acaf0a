"""The flow decoder's stages (``workflow/rules/dynamic.smk``): flow targets and first-frame image
features of a video set -> a decoder per subject (resumable) -> its evaluation (EPE against the
baselines, the permutation test, animations)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import torch

import neurogaze
from neurogaze.brain.dynamic.animate import animate, write_animation
from neurogaze.brain.dynamic.decoder import FlowDecoder, FlowDecoderConfig, RidgeFlowDecoder
from neurogaze.brain.dynamic.evaluate import epe_table, permutation_test
from neurogaze.brain.dynamic.features import ImageFeatureConfig, image_feature_maps, load_image_model
from neurogaze.brain.dynamic.flow import check_flow_matches_frames, clip_flow_target, fmri_windows
from neurogaze.brain.dynamic.pretrain import (
    MotionFinetuneConfig,
    PretrainConfig,
    finetune_on_motion,
    pretrain_image_model,
    pretrain_videomae,
    save_pretrained,
)
from neurogaze.brain.dynamic.video_diffusion import (
    VideoDiffusionConfig,
    best_of_samples,
    load_video_diffusion,
    tiny_video_diffusion,
)
from neurogaze.brain.dynamic.video_encoding import (
    VideoFeatureConfig,
    encoder_predictions,
    image_features,
    load_video_model,
    score_predictions,
    video_features,
)
from neurogaze.config import from_section
from neurogaze.data.contracts import read_brain_responses
from neurogaze.data.video import FlowEstimator, flow_options, read_video_set
from neurogaze.errors import DataValidationError
from neurogaze.io import atomic_directory, atomic_path, fingerprint, resume_folder, write_json, write_torch
from neurogaze.runlog import derive_seed, resolve_device

logger = logging.getLogger(__name__)

TARGETS_FILE = "targets.h5"
MODEL_FILE = "model.pt"


# ---------------------------------------------------------------------------------------------
# Pretraining the demo's feature models
# ---------------------------------------------------------------------------------------------


def _training_ids(video_set) -> list[str]:
    return video_set.index.loc[video_set.index["split"] == "train", "video_id"].tolist()


def _training_clips(videos) -> list[np.ndarray]:
    video_set = read_video_set(videos)
    return [video_set.load_frames(video_id) for video_id in _training_ids(video_set)]


def dynamic_pretrain_video(*, videos, out_dir, settings: dict, video: dict, motion: dict | None = None,
                           seed: int = 0, device: str = "auto") -> None:
    """Rule ``dynamic_pretrain_video``: VideoMAE pretraining (``VideoMAEForPreTraining``, tube
    masking) of the architecture ``video.tiny`` on the training clips of ``videos``, then (with
    ``motion.epochs`` > 0, ``dynamic.pretrain.video_motion``) fine-tuning on their measured motion ->
    ``out_dir``, a transformers folder that ``dynamic_encoders`` opens as a released VideoMAE."""
    config = from_section(PretrainConfig, settings, "dynamic.pretrain.video", model=video["tiny"],
                          num_frames=video["num_frames"], image_size=video["image_size"],
                          seed=derive_seed(seed, "dynamic", "pretrain", "video"))
    motion = from_section(MotionFinetuneConfig, motion, "dynamic.pretrain.video_motion",
                          seed=derive_seed(seed, "dynamic", "pretrain", "video_motion"))
    video_set = read_video_set(videos)
    train = _training_ids(video_set)
    clips = [video_set.load_frames(video_id) for video_id in train]
    model = pretrain_videomae(clips, config, resolve_device(device))
    if motion.epochs > 0:
        flows = [video_set.load_flow(video_id) for video_id in train]
        model = finetune_on_motion(model, clips, flows, motion, resolve_device(device))
    save_pretrained(model.cpu(), out_dir)


def dynamic_pretrain_image(*, videos, out_dir, settings: dict, image: dict, seed: int = 0,
                           device: str = "auto") -> None:
    """Rule ``dynamic_pretrain_image``: masked image modelling of the Dinov2 architecture
    ``image.tiny`` on every frame of the training clips of ``videos`` -> ``out_dir``, a
    transformers folder that ``dynamic_targets`` opens as a released DINOv2."""
    config = from_section(PretrainConfig, settings, "dynamic.pretrain.image", model=image["tiny"],
                          image_size=image["image_size"], seed=derive_seed(seed, "dynamic", "pretrain", "image"))
    model = pretrain_image_model(np.concatenate(_training_clips(videos)), config, resolve_device(device))
    save_pretrained(model.cpu(), out_dir)


# ---------------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------------


def dynamic_targets(*, videos, out_dir, grid: int, image: dict, image_model=None, device: str = "auto") -> None:
    """Rule ``dynamic_targets``: ``out_dir/targets.h5`` with, per video of the set (index order),
    its flow target (grid, grid, 2; grid cells per frame), the image features of its first frame
    (the DINOv2 folder ``image_model``, or the tiny model of ``image``), its id and split."""
    video_set = read_video_set(videos)
    config = from_section(ImageFeatureConfig, image, "dynamic.image", model=image_model)
    flows, first = [], []
    for video_id in video_set.video_ids:
        frames, flow = video_set.load_frames(video_id), video_set.load_flow(video_id)
        check_flow_matches_frames(frames, flow, Path(videos) / "flow.h5", video_id)
        flows.append(clip_flow_target(flow, grid))
        first.append(frames[0])
    model = load_image_model(config).to(resolve_device(device))
    features = image_feature_maps(model, np.stack(first), config.image_size, config.batch_size)
    with atomic_directory(out_dir) as temp, h5py.File(temp / TARGETS_FILE, "w") as handle:
        handle["flow"] = np.stack(flows).astype(np.float32)
        handle["image_features"] = features
        handle["video_id"] = np.asarray(video_set.video_ids, dtype="S")
        handle["split"] = video_set.index["split"].to_numpy(dtype="S")
        if "segment" in video_set.index.columns:  # the time-series layout (datasets.dnv): where each TR is from
            handle["segment"] = video_set.index["segment"].to_numpy(dtype="S")
            handle["tr_index"] = video_set.index["tr_index"].to_numpy(dtype=np.int64)
        handle.attrs["flow_units"] = "grid cells per frame, (dx, dy)"
        handle.attrs["image"] = repr(config.to_dict())


def read_targets(folder) -> dict:
    path = Path(folder) / TARGETS_FILE
    if not path.is_file():
        raise DataValidationError(path, "file", "flow targets written by dynamic_targets", "no such file")
    with h5py.File(path, "r") as handle:
        targets = {"flow": handle["flow"][()], "image_features": handle["image_features"][()],
                   "video_id": handle["video_id"][()].astype(str), "split": handle["split"][()].astype(str)}
        if "segment" in handle:
            targets.update(segment=handle["segment"][()].astype(str), tr_index=handle["tr_index"][()])
        return targets


def windowed(fmri: np.ndarray, segment: np.ndarray, tr_index: np.ndarray, offsets) -> np.ndarray:
    """Per TR the rows of TRs i + offsets of its own segment side by side (fmri_windows per
    segment; a segment's first and last TR repeated past its ends)."""
    out = np.empty((len(fmri), len(offsets) * fmri.shape[1]), dtype=fmri.dtype)
    for name in np.unique(segment):
        rows = np.flatnonzero(segment == name)
        rows = rows[np.argsort(tr_index[rows])]
        out[rows] = fmri_windows(fmri[rows], offsets)
    return out


def aligned_inputs(targets: dict, brain, subject: str, window=(0,)) -> dict:
    """The videos with both a flow target and a response of ``<brain>/<subject>.h5``, fMRI z-scored
    per voxel with the training videos' mean and SD (clip-wise betas carry no sessions; the
    time-series loader z-scores each run first). In the time-series layout (targets with
    segments) each TR's fMRI is the window of TRs i + ``window`` of its segment."""
    brain = Path(brain) / f"{subject}.h5"
    if not brain.is_file():
        raise DataValidationError(brain, "file", "the subject's video responses (load_video_responses)", "no such file")
    responses = read_brain_responses(brain)
    position = {v: i for i, v in enumerate(targets["video_id"])}
    missing = [v for v in responses.stim_ids if v not in position]
    if missing:
        raise DataValidationError(brain, "stim_ids", "videos of the flow targets", f"unknown {missing[0]!r}")
    rows = np.array([position[v] for v in responses.stim_ids])
    train = targets["split"][rows] == "train"
    if train.sum() < 2 or (~train).sum() < 2:
        raise DataValidationError(brain, "split", "at least 2 training and 2 test videos", f"{train.sum()} / "
                                  f"{(~train).sum()}")
    mean, sd = responses.responses[train].mean(0), responses.responses[train].std(0)
    fmri = ((responses.responses - mean) / np.where(sd > 0, sd, 1.0)).astype(np.float32)
    if "segment" in targets:
        fmri = windowed(fmri, targets["segment"][rows], targets["tr_index"][rows], tuple(window))
    return {"fmri": fmri, "flow": targets["flow"][rows], "image": targets["image_features"][rows],
            "video_id": responses.stim_ids.astype(str), "train": train}


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def _save_progress(folder: Path, key: dict):
    def save(state: dict) -> None:
        write_torch(folder / "checkpoint.pt", {**state, "key": key})

    return save


def dynamic_train(*, targets, brain, out_dir, settings: dict, grid: int, subject: str, window=(0,), seed: int = 0,
                  device: str = "auto") -> None:
    """Rule ``dynamic_train``: the flow decoder on ``<brain>/<subject>.h5``'s training videos (in the
    time-series layout each TR's fMRI is the ``window`` of TRs around it) -> ``out_dir/model.pt``
    (config, weights, codebook, fMRI window, history, neurogaze version) and ``history.csv``. An
    interrupted run resumes from ``<out_dir>.partial/checkpoint.pt`` when the inputs and settings
    are the same."""
    config = from_section(FlowDecoderConfig, settings, "dynamic.decoder", grid=grid,
                          seed=derive_seed(seed, "dynamic", "decoder"))
    data = aligned_inputs(read_targets(targets), brain, subject, window)
    key = {"targets": fingerprint(targets), "brain": fingerprint(Path(brain) / f"{subject}.h5"),
           "settings": config.to_dict(), "window": list(window)}
    partial = resume_folder(f"{out_dir}.partial", key, "flow decoder")
    checkpoint = partial / "checkpoint.pt"
    state = torch.load(checkpoint, weights_only=False, map_location="cpu") if checkpoint.is_file() else None
    train = data["train"]
    decoder = FlowDecoder(config).fit(data["fmri"][train], data["image"][train], data["flow"][train], state,
                                      _save_progress(partial, key), device=device)
    with atomic_directory(out_dir) as temp:
        write_torch(temp / MODEL_FILE, {"config": config.to_dict(), **decoder.state(),
                                        "train_videos": data["video_id"][train].tolist(), "fmri_window": list(window),
                                        "neurogaze_version": neurogaze.__version__})
        pd.DataFrame(decoder.history_).to_csv(temp / "history.csv", index=False)
    shutil.rmtree(partial, ignore_errors=True)


def load_decoder(model_dir) -> tuple[FlowDecoder, tuple[int, ...]]:
    """The decoder of ``model_dir`` and the TR offsets of its fMRI window."""
    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise DataValidationError(path, "file", "a flow decoder written by dynamic_train", "no such file")
    state = torch.load(path, weights_only=False, map_location="cpu")
    decoder = FlowDecoder.from_state(from_section(FlowDecoderConfig, state["config"], "model.pt config"), state)
    return decoder, tuple(state.get("fmri_window", (0,)))


# ---------------------------------------------------------------------------------------------
# The video-diffusion baseline
# ---------------------------------------------------------------------------------------------

VIDEO_DIFFUSION_FILE = "flow.npz"


def dynamic_video_diffusion(*, videos, targets, out_dir, settings: dict, flow: dict, video_diffusion=None,
                            seed: int = 0, device: str = "auto", raft=None) -> None:
    """Rule ``dynamic_video_diffusion``: per test video, Stable Video Diffusion image-to-video from
    its first frame (the pipeline folder ``video_diffusion``, or the tiny seeded pipeline), the
    flow of each of ``settings.n_samples`` generations by the video set's flow method (``flow``:
    datasets.video's flow keys) on the targets' grid, and the best sample's flow ->
    ``out_dir/flow.npz`` (video_id, flow, sample_epe); ``raft``: the RAFT weights when the flow is
    RAFT's."""
    config = from_section(VideoDiffusionConfig, settings, "dynamic.video_diffusion",
                          seed=derive_seed(seed, "dynamic", "video_diffusion"))
    estimator = FlowEstimator(flow_options(flow, device, raft))
    target = read_targets(targets)
    video_set = read_video_set(videos)
    pipeline = (load_video_diffusion(video_diffusion) if video_diffusion
                else tiny_video_diffusion(config.seed, config.height)).to(resolve_device(device))
    pipeline.set_progress_bar_config(disable=True)
    test = np.flatnonzero(target["split"] == "test")
    best, errors = [], []
    for row in test:
        first = video_set.load_frames(target["video_id"][row])[0]
        flow_best, sample_epe = best_of_samples(pipeline, first, target["flow"][row], estimator, config)
        best.append(flow_best)
        errors.append(sample_epe)
    with atomic_directory(out_dir) as temp:
        np.savez(temp / VIDEO_DIFFUSION_FILE, video_id=target["video_id"][test], flow=np.stack(best),
                 sample_epe=np.stack(errors))
    logger.info("video diffusion: best-of-%d EPE %.3f over %d test videos", config.n_samples,
                np.stack(errors).min(1).mean(), len(test))


def read_video_diffusion(folder, video_ids) -> np.ndarray:
    """The baseline's flow of ``video_ids``, in that order."""
    path = Path(folder) / VIDEO_DIFFUSION_FILE
    if not path.is_file():
        raise DataValidationError(path, "file", "the flow written by dynamic_video_diffusion", "no such file")
    with np.load(path) as data:
        position = {v: i for i, v in enumerate(data["video_id"].astype(str))}
        missing = [v for v in video_ids if v not in position]
        if missing:
            raise DataValidationError(path, "video_id", "every test video of the decoder", f"no {missing[0]!r}")
        return data["flow"][[position[v] for v in video_ids]]


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def dynamic_evaluate(*, targets, brain, model, videos, video_diffusion, out_dir, subject: str,
                     n_permutations: int = 1000, seed: int = 0, n_animations: int = 4, animation_frames: int = 8,
                     fps: float = 8.0) -> None:
    """Rule ``dynamic_evaluate``: per test video the EPE of the decoder, the ridge decoder, the
    training mean flow, the decoder fed shuffled fMRI and Stable Video Diffusion's own motion
    (best of its samples, from ``video_diffusion``) (``epe.csv``); the permutation test
    (``permutation.json``); decoded and true flow (``flow.npz``); the first frames of
    ``n_animations`` test videos animated with the decoded and the true flow (``animations/``)."""
    decoder, window = load_decoder(model)  # the fMRI window it was trained on
    data = aligned_inputs(read_targets(targets), brain, subject, window)
    train, test = data["train"], ~data["train"]
    fmri, image, flow = data["fmri"][test], data["image"][test], data["flow"][test]
    rng = np.random.default_rng(derive_seed(seed, "dynamic", "shuffle"))
    decoded = decoder.predict(fmri, image)
    ridge = RidgeFlowDecoder().fit(data["fmri"][train], data["flow"][train]).predict(fmri)
    methods = {"decoder": decoded, "ridge": ridge,
               "mean_flow": np.broadcast_to(data["flow"][train].mean(0), flow.shape),
               "shuffled_fmri": decoder.predict(fmri[rng.permutation(len(fmri))], image),
               "video_diffusion": read_video_diffusion(video_diffusion, data["video_id"][test])}
    table = epe_table(data["video_id"][test], flow, methods)
    test_result = permutation_test(lambda rows: decoder.predict(rows, image), fmri, flow, n_permutations,
                                   derive_seed(seed, "dynamic", "permutation"))
    video_set = read_video_set(videos)
    with atomic_directory(out_dir) as temp:
        with atomic_path(temp / "epe.csv") as path:
            table.to_csv(path, index=False)
        write_json(temp / "permutation.json", test_result)
        np.savez(temp / "flow.npz", video_id=data["video_id"][test], decoded=decoded, true=flow, ridge=ridge)
        (temp / "animations").mkdir()
        for video_id, pred, true in list(zip(data["video_id"][test], decoded, flow))[:n_animations]:
            first = video_set.load_frames(video_id)[0]
            write_animation(temp / "animations" / f"{video_id}_decoded.gif", animate(first, pred, animation_frames),
                            fps)
            write_animation(temp / "animations" / f"{video_id}_true.gif", animate(first, true, animation_frames), fps)
    logger.info("dynamic %s: EPE decoder %.3f, shuffled %.3f (p = %.4f)", subject, test_result["epe"],
                test_result["null_mean"], test_result["p_value"])


# ---------------------------------------------------------------------------------------------
# Video vs image encoders
# ---------------------------------------------------------------------------------------------


def dynamic_encoders(*, videos, targets, brain, out_dir, subject: str, video: dict, image: dict, cv: int = 5,
                     video_model=None, image_model=None, device: str = "auto") -> None:
    """Rule ``dynamic_encoders``: per voxel the test r of a ridge from VideoMAE features of the
    clip (the folder ``video_model``, or the tiny model of ``video``) and from the image model's
    features of its first frame (the folder ``image_model``, or the tiny model of ``image``), both
    read as ``video`` says (layer, pooling), and their difference: ``voxels.csv``, the test clips'
    responses and both predictions (``predictions.npz``) and the difference as a volume in the
    responses' space, ``difference.nii.gz`` (0 outside the mask)."""
    config = from_section(VideoFeatureConfig, video, "dynamic.video")
    image_config = from_section(ImageFeatureConfig, image, "dynamic.image", model=image_model)
    target = read_targets(targets)
    responses = read_brain_responses(Path(brain) / f"{subject}.h5")
    data = aligned_inputs(target, brain, subject)
    video_set = read_video_set(videos)
    clips = [video_set.load_frames(v) for v in data["video_id"]]
    features = video_features(load_video_model(config, video_model).to(resolve_device(device)), clips, config)
    first = image_features(load_image_model(image_config).to(resolve_device(device)), np.stack([c[0] for c in clips]),
                           config, image_config.image_size, image_config.batch_size)
    train = data["train"]
    predictions = encoder_predictions(features, first, data["fmri"], train, cv=cv)
    scores = score_predictions(data["fmri"][~train], predictions)
    table = pd.DataFrame({"unit": np.arange(len(scores["r_video"])), **scores})
    if responses.voxel_ijk is not None:
        table[["i", "j", "k"]] = responses.voxel_ijk
    with atomic_directory(out_dir) as temp:
        table.to_csv(temp / "voxels.csv", index=False)
        # per test clip, for inference that resamples clips (video_encoding.clip_bootstrap)
        np.savez(temp / "predictions.npz", video_id=data["video_id"][~train], responses=data["fmri"][~train],
                 **predictions)
        if responses.mask is not None:
            volume = np.zeros(responses.mask.shape, dtype=np.float32)
            volume[tuple(responses.voxel_ijk.T)] = scores["r_difference"]
            nib.save(nib.Nifti1Image(volume, responses.affine), temp / "difference.nii.gz")
    logger.info("dynamic %s: mean r video %.3f, image %.3f", subject, scores["r_video"].mean(),
                scores["r_image"].mean())
