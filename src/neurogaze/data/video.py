"""Video sets: frames, fps and dense optical flow (the video-set contract), and video-evoked betas.

Input: a folder with video files (``.mp4``, ``.avi``, ...; fps from the container) and/or frame
folders (one sub-folder of PNG/JPEG frames per video, sorted by name; fps from ``videos.tsv`` or
the ``fps`` option). An optional ``videos.tsv`` (``video_id`` and optionally ``fps``, ``split``)
must list exactly the videos found. Flow between consecutive frames is OpenCV's Farneback by
default, or torchvision's RAFT when a local weights file is configured (never downloaded).

The contract, ``results/data/videos/<set>/``:

* ``index.parquet``: video_id, n_frames, fps, height, width, split, source (+ extra columns);
* ``frames.h5``: ``frames/<video_id>`` uint8 (n_frames, height, width, 3);
* ``flow.h5``: ``flow/<video_id>`` float32 (n_frames - 1, height, width, 2), (dx, dy) in pixels
  per frame from frame t to t + 1; attribute ``method``.

Video-evoked fMRI betas (``<betas_dir>/sub-<id>_betas.nii.gz``: one volume per video presentation,
``sub-<id>_betas.tsv`` naming the video of each volume, ``sub-<id>_mask.nii.gz``) become
``BrainResponses`` per subject: repeats averaged, the noise ceiling from split-half reliability.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from neurogaze.config import from_section
from neurogaze.data.contracts import BrainResponses, write_brain_responses
from neurogaze.errors import DataValidationError, MissingWeightsError
from neurogaze.io import atomic_directory, gather_files, write_csv
from neurogaze.runlog import resolve_device
from neurogaze.shards import table_subjects

logger = logging.getLogger(__name__)

VIDEO_INDEX_COLUMNS = ("video_id", "n_frames", "fps", "height", "width", "split", "source")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
FRAMES_H5 = "frames.h5"
FLOW_H5 = "flow.h5"
SPLITS = ("train", "test")
RAFT_MIN_SIZE = 128  # torchvision RAFT: 8x downsampling, then a 4-level correlation pyramid


# ---------------------------------------------------------------------------------------------
# The contract
# ---------------------------------------------------------------------------------------------


@dataclass
class VideoSet:
    """An index of videos plus their frames and optical flow, read lazily from HDF5."""

    root: Path
    index: pd.DataFrame
    flow_method: str

    @property
    def video_ids(self) -> list[str]:
        return self.index["video_id"].tolist()

    def __len__(self) -> int:
        return len(self.index)

    def load_frames(self, video_id: str) -> np.ndarray:
        return self._read(FRAMES_H5, "frames", video_id)

    def load_flow(self, video_id: str) -> np.ndarray:
        return self._read(FLOW_H5, "flow", video_id)

    def _read(self, filename: str, group: str, video_id: str) -> np.ndarray:
        with h5py.File(self.root / filename, "r") as handle:
            if video_id not in handle[group]:
                raise DataValidationError(
                    self.root / filename, f"{group}/{video_id}", "an entry for every indexed video", "missing"
                )
            return np.asarray(handle[group][video_id])


def validate_video_index(index: pd.DataFrame, source) -> pd.DataFrame:
    missing = [name for name in VIDEO_INDEX_COLUMNS if name not in index.columns]
    if missing:
        raise DataValidationError(source, missing[0], f"columns {list(VIDEO_INDEX_COLUMNS)}", "missing")
    if index["video_id"].duplicated().any():
        raise DataValidationError(
            source, "video_id", "unique ids", index.loc[index["video_id"].duplicated(), "video_id"].iloc[0]
        )
    if not index["split"].isin(SPLITS).all():
        raise DataValidationError(source, "split", f"values in {SPLITS}", sorted(set(index["split"]) - set(SPLITS)))
    if not (np.isfinite(index["fps"].to_numpy(dtype=float)) & (index["fps"] > 0)).all():
        raise DataValidationError(source, "fps", "positive frame rates")
    if (index["n_frames"] < 2).any():
        raise DataValidationError(source, "n_frames", "at least 2 frames per video (one flow field)")
    return index


def _check_pair(video_id: str, frames: np.ndarray, flow: np.ndarray, source) -> None:
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise DataValidationError(
            source, f"frames/{video_id}", "uint8 (n_frames, height, width, 3)", f"{frames.dtype} {frames.shape}"
        )
    expected = (frames.shape[0] - 1, frames.shape[1], frames.shape[2], 2)
    if flow.shape != expected:
        raise DataValidationError(source, f"flow/{video_id}", f"shape {expected}", flow.shape)
    if not np.all(np.isfinite(flow)):
        raise DataValidationError(source, f"flow/{video_id}", "finite flow vectors", "NaN or inf")


def write_video_set(
    out_dir: str | os.PathLike,
    video_ids: list[str],
    frames: list[np.ndarray],
    fps: list[float],
    flows: list[np.ndarray],
    splits: list[str],
    flow_method: str,
    sources: list[str] | None = None,
    extra_columns: dict[str, list] | None = None,
) -> VideoSet:
    """Validate everything, then write index.parquet, frames.h5 and flow.h5 as one folder."""
    out_dir = Path(out_dir)
    for video_id, clip, flow in zip(video_ids, frames, flows):
        _check_pair(video_id, clip, flow, out_dir)
    index = pd.DataFrame(
        {
            "video_id": [str(v) for v in video_ids],
            "n_frames": [int(clip.shape[0]) for clip in frames],
            "fps": [float(rate) for rate in fps],
            "height": [int(clip.shape[1]) for clip in frames],
            "width": [int(clip.shape[2]) for clip in frames],
            "split": list(splits),
            "source": list(sources) if sources is not None else [""] * len(video_ids),
        }
    )
    for name, values in (extra_columns or {}).items():
        index[name] = values
    validate_video_index(index, out_dir / "index.parquet")
    with atomic_directory(out_dir) as temp:
        with h5py.File(temp / FRAMES_H5, "w") as handle:
            group = handle.create_group("frames")
            for video_id, clip in zip(index["video_id"], frames):
                group.create_dataset(video_id, data=clip, chunks=(1, *clip.shape[1:]))
        with h5py.File(temp / FLOW_H5, "w") as handle:
            handle.attrs["method"] = flow_method
            handle.attrs["units"] = "pixels per frame, (dx, dy), frame t -> t + 1"
            group = handle.create_group("flow")
            for video_id, flow in zip(index["video_id"], flows):
                group.create_dataset(video_id, data=flow.astype(np.float32), chunks=(1, *flow.shape[1:]))
        index.to_parquet(temp / "index.parquet", index=False)
    return VideoSet(out_dir, index, flow_method)


def read_video_set(root: str | os.PathLike) -> VideoSet:
    root = Path(root)
    for name in ("index.parquet", FRAMES_H5, FLOW_H5):
        if not (root / name).exists():
            raise DataValidationError(root / name, "file", "a file of the video-set contract", "no such file")
    index = validate_video_index(pd.read_parquet(root / "index.parquet"), root / "index.parquet")
    with h5py.File(root / FLOW_H5, "r") as handle:
        method = str(handle.attrs.get("method", "unknown"))
        absent = [v for v in index["video_id"] if v not in handle.get("flow", {})]
    if absent:
        raise DataValidationError(root / FLOW_H5, f"flow/{absent[0]}", "flow for every indexed video", "missing")
    return VideoSet(root, index, method)


# ---------------------------------------------------------------------------------------------
# Reading raw videos
# ---------------------------------------------------------------------------------------------


@dataclass
class VideoOptions:
    fps: float | None = None  # frame folders without a videos.tsv fps; video files use their own
    frame_size: tuple[int, int] | None = None  # (height, width); None keeps the source size
    max_frames: int | None = None
    flow_method: str = "farneback"  # "farneback" or "raft" (raft needs raft_weights)
    raft_weights: str | None = None
    raft_model: str = "raft_small"  # torchvision.models.optical_flow name: raft_small or raft_large
    raft_iterations: int = 12
    farneback: dict = field(
        default_factory=lambda: {
            "pyr_scale": 0.5,
            "levels": 3,
            "winsize": 15,
            "iterations": 3,
            "poly_n": 5,
            "poly_sigma": 1.2,
        }
    )
    test_fraction: float = 0.2  # used only when videos.tsv gives no split
    device: str = "auto"


def _natural_key(path: Path):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"


def read_video_file(path: Path) -> tuple[np.ndarray, float]:
    import imageio.v3 as iio

    try:
        frames = np.asarray(iio.imread(path, plugin="FFMPEG"))
        fps = float(iio.immeta(path, plugin="FFMPEG")["fps"])
    except Exception as exc:  # ffmpeg reports corrupt containers as OSError, RuntimeError, ...
        raise DataValidationError(path, "file", "a readable video file", _short(exc)) from exc
    if frames.ndim != 4 or frames.shape[0] < 2:
        raise DataValidationError(path, "frames", "at least 2 RGB frames", frames.shape)
    return frames[..., :3].astype(np.uint8), fps


def read_frame_folder(folder: Path) -> np.ndarray:

    paths = sorted((p for p in folder.iterdir() if p.suffix.lower() in FRAME_EXTENSIONS), key=_natural_key)
    if len(paths) < 2:
        raise DataValidationError(folder, "frames", "at least 2 frame images", len(paths))
    frames = []
    for path in paths:
        try:
            with Image.open(path) as image:
                frames.append(np.asarray(image.convert("RGB")))
        except Exception as exc:
            raise DataValidationError(path, "file", "a readable image", _short(exc)) from exc
        if frames[-1].shape != frames[0].shape:
            raise DataValidationError(path, "shape", f"the size of {paths[0].name} {frames[0].shape}", frames[-1].shape)
    return np.stack(frames)


def find_videos(root: str | os.PathLike, options: VideoOptions) -> pd.DataFrame:
    """video_id, path, kind ('file' or 'frames'), fps (or NaN), split (or None) for every video under root."""
    root = Path(root)
    if not root.is_dir():
        raise DataValidationError(root, "root", "a folder of videos or frame folders", "no such folder")
    rows = []
    for path in sorted(root.iterdir()):
        if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
            rows.append({"video_id": path.stem, "path": path, "kind": "file"})
        elif path.is_dir() and any(p.suffix.lower() in FRAME_EXTENSIONS for p in path.iterdir()):
            rows.append({"video_id": path.name, "path": path, "kind": "frames"})
    if not rows:
        raise DataValidationError(
            root, "videos", f"video files ({', '.join(VIDEO_EXTENSIONS)}) or frame folders", "none found"
        )
    found = pd.DataFrame(rows)
    if found["video_id"].duplicated().any():
        raise DataValidationError(
            root, "video_id", "one video per id", found.loc[found["video_id"].duplicated(), "video_id"].iloc[0]
        )
    return _join_listing(root, found, options)


def _join_listing(root: Path, found: pd.DataFrame, options: VideoOptions) -> pd.DataFrame:
    listing_path = root / "videos.tsv"
    found = found.assign(fps=np.nan, split=None)
    if listing_path.exists():
        listing = pd.read_csv(listing_path, sep="\t", dtype={"video_id": str})
        if "video_id" not in listing.columns:
            raise DataValidationError(listing_path, "video_id", "a video_id column", "missing")
        unlisted = sorted(set(found["video_id"]) - set(listing["video_id"]))
        absent = sorted(set(listing["video_id"]) - set(found["video_id"]))
        if absent:
            raise DataValidationError(
                listing_path, "video_id", "ids of videos present in the folder", f"no video for {absent[0]!r}"
            )
        if unlisted:
            raise DataValidationError(
                listing_path, "video_id", "a row for every video in the folder", f"no row for {unlisted[0]!r}"
            )
        listing = listing.set_index("video_id")
        if "fps" in listing.columns:
            found["fps"] = found["video_id"].map(listing["fps"]).astype(float)
        if "split" in listing.columns:
            found["split"] = found["video_id"].map(listing["split"])
            bad = ~found["split"].isin(SPLITS)
            if bad.any():
                raise DataValidationError(listing_path, "split", f"values in {SPLITS}", found.loc[bad, "split"].iloc[0])
    needs_fps = (found["kind"] == "frames") & found["fps"].isna()
    if needs_fps.any():
        if options.fps is None:
            raise DataValidationError(
                found.loc[needs_fps, "path"].iloc[0],
                "fps",
                "a frame rate for frame folders (videos.tsv fps column or the fps option)",
            )
        found.loc[needs_fps, "fps"] = float(options.fps)
    if found["split"].isna().any():
        n_test = int(round(options.test_fraction * len(found)))
        found["split"] = ["test" if i >= len(found) - n_test else "train" for i in range(len(found))]
    return found


def frames_per_tr(fps: float, tr: float, source=None, video_id: str = "") -> int:
    """The whole number of frames in one TR; a TR that does not hold a whole number of frames would
    make every later TR drift against the movie."""
    frames = fps * tr
    if frames < 1 or abs(frames - round(frames)) > 1e-6:
        raise DataValidationError(source, f"{video_id}: fps x tr",
                                  "a TR that holds a whole number of frames (fps x TR an integer)",
                                  f"{fps} fps x {tr} s = {frames:g} frames")
    return int(round(frames))


def resize_frames(frames: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    import cv2

    if size is None or frames.shape[1:3] == tuple(size):
        return frames
    return np.stack([cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA) for frame in frames])


# ---------------------------------------------------------------------------------------------
# Optical flow
# ---------------------------------------------------------------------------------------------


def farneback_flow(frames: np.ndarray, params: dict | None = None) -> np.ndarray:
    """OpenCV Farneback flow between consecutive frames: float32 (n_frames - 1, H, W, 2)."""
    import cv2

    params = {**VideoOptions().farneback, **(params or {})}
    gray = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]
    flows = [
        cv2.calcOpticalFlowFarneback(
            prev,
            nxt,
            None,
            params["pyr_scale"],
            params["levels"],
            params["winsize"],
            params["iterations"],
            params["poly_n"],
            params["poly_sigma"],
            0,
        )
        for prev, nxt in zip(gray[:-1], gray[1:])
    ]
    return np.stack(flows).astype(np.float32)


def load_raft(weights: str | os.PathLike, model: str = "raft_small", device: str = "auto"):
    """torchvision RAFT with weights from a local file (a state dict, or a dict with 'state_dict')."""
    import torch
    from torchvision.models import optical_flow


    path = Path(weights)
    if not path.exists():
        raise MissingWeightsError(
            f"RAFT weights {path} not found; set datasets.video.raft_weights to a local file or null for Farneback"
        )
    if model not in ("raft_small", "raft_large"):
        raise ValueError(f"unknown RAFT model {model!r} (raft_small or raft_large)")
    network = getattr(optical_flow, model)(weights=None, progress=False)
    state = torch.load(path, map_location="cpu", weights_only=True)
    network.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
    return network.eval().to(resolve_device(device))


def raft_flow(frames: np.ndarray, network, iterations: int = 12, batch_size: int = 8) -> np.ndarray:
    """RAFT flow between consecutive frames, float32 (n_frames - 1, H, W, 2).

    Frames are padded (edge replication) to multiples of 8 and to at least 128 pixels, the
    smallest input RAFT's correlation pyramid accepts; the flow is cropped back.
    """
    import torch
    import torch.nn.functional as F

    device = next(network.parameters()).device
    height, width = frames.shape[1:3]
    pad_h, pad_w = (max(RAFT_MIN_SIZE - n, 0) + (-max(n, RAFT_MIN_SIZE)) % 8 for n in (height, width))
    images = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # RAFT expects [-1, 1]
    images = F.pad(images, (0, pad_w, 0, pad_h), mode="replicate")
    out = []
    with torch.no_grad():
        for start in range(0, len(frames) - 1, batch_size):
            stop = min(start + batch_size, len(frames) - 1)
            first = images[start:stop].to(device)
            second = images[start + 1 : stop + 1].to(device)
            flow = network(first, second, num_flow_updates=iterations)[-1]
            out.append(flow[:, :, :height, :width].permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(out).astype(np.float32)


class FlowEstimator:
    """The configured flow method, built once per set (RAFT is loaded once)."""

    def __init__(self, options: VideoOptions):
        self.options = options
        self.network = None
        if options.flow_method == "raft":
            if not options.raft_weights:
                raise MissingWeightsError(
                    "flow_method 'raft' needs raft_weights (a local file); use 'farneback' otherwise"
                )
            self.network = load_raft(options.raft_weights, options.raft_model, options.device)
        elif options.flow_method != "farneback":
            raise ValueError(f"unknown flow method {options.flow_method!r} (farneback or raft)")

    @property
    def name(self) -> str:
        return "farneback" if self.network is None else f"raft:{self.options.raft_model}"

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        if self.network is None:
            return farneback_flow(frames, self.options.farneback)
        return raft_flow(frames, self.network, self.options.raft_iterations)


def flow_options(flow: dict, device: str, raft=None) -> VideoOptions:
    """``datasets.video``'s options with the RAFT weights a rule declares as its input ``raft`` (so
    that the file the rule tracks is the file read)."""
    settings = {**flow, "raft_weights": str(raft)} if raft else flow
    return from_section(VideoOptions, settings, "datasets.video", device=device)


def load_video(
    *, root: str | os.PathLike, videos: str | os.PathLike, settings: dict, device: str, subfolder: str = "",
    raft=None,
) -> VideoSet:
    """Rule ``load_video``: the videos under ``root`` (a synthetic set keeps them in ``videos/``, given
    as ``subfolder``) -> the video-set contract in ``videos`` (frames, fps, optical flow; ``raft``:
    the RAFT weights when the flow is RAFT's)."""
    return load_video_set(Path(root) / subfolder, videos, flow_options(settings, device, raft))


def load_video_set(
    root: str | os.PathLike, out_dir: str | os.PathLike, options: VideoOptions | None = None
) -> VideoSet:
    """Read every video under ``root``, compute flow, write the video-set contract to ``out_dir``."""
    options = options or VideoOptions()
    listing = find_videos(root, options)
    estimator = FlowEstimator(options)
    clips, rates, flows = [], [], []
    for row in tqdm(list(listing.itertuples()), desc="videos: frames and flow", unit="video"):
        if row.kind == "file":
            clip, fps = read_video_file(row.path)
            fps = row.fps if np.isfinite(row.fps) else fps
        else:
            clip, fps = read_frame_folder(row.path), row.fps
        clip = resize_frames(clip[: options.max_frames] if options.max_frames else clip, options.frame_size)
        clips.append(clip)
        rates.append(fps)
        flows.append(estimator(clip))
    return write_video_set(
        out_dir,
        listing["video_id"].tolist(),
        clips,
        rates,
        flows,
        listing["split"].tolist(),
        estimator.name,
        sources=[str(p) for p in listing["path"]],
    )


# ---------------------------------------------------------------------------------------------
# Video-evoked betas
# ---------------------------------------------------------------------------------------------


def _load_nifti(path: Path, ndim: int) -> nib.Nifti1Image:
    if not path.exists():
        raise DataValidationError(path, "file", "a NIfTI image", "no such file")
    try:
        image = nib.load(path)
        data = np.asarray(image.dataobj, dtype=np.float32)
    except Exception as exc:
        raise DataValidationError(path, "file", "a complete, readable NIfTI image", _short(exc)) from exc
    if data.ndim != ndim:
        raise DataValidationError(path, "shape", f"a {ndim}D image", data.shape)
    return nib.Nifti1Image(data, image.affine)


def noise_ceiling_split_half(betas: np.ndarray, video_index: np.ndarray, repeat: np.ndarray) -> np.ndarray:
    """Per-voxel ceiling in units of Pearson r: sqrt of the Spearman-Brown split-half reliability."""
    odd = repeat % 2 == 1
    videos = np.unique(video_index)
    if not all(((video_index == v) & odd).any() and ((video_index == v) & ~odd).any() for v in videos):
        return np.full(betas.shape[1], np.nan, dtype=np.float32)  # no repeats: no estimate
    half_a = np.stack([betas[(video_index == v) & odd].mean(0) for v in videos])
    half_b = np.stack([betas[(video_index == v) & ~odd].mean(0) for v in videos])
    return split_half_ceiling(half_a, half_b)


def split_half_ceiling(half_a: np.ndarray, half_b: np.ndarray) -> np.ndarray:
    """Per-unit ceiling in units of Pearson r from two halves of the repeats (stimuli x units): sqrt
    of the Spearman-Brown split-half reliability."""
    a = (half_a - half_a.mean(0)) / (half_a.std(0) + 1e-12)
    b = (half_b - half_b.mean(0)) / (half_b.std(0) + 1e-12)
    r = np.clip((a * b).mean(0), 0.0, None)
    return np.sqrt(2 * r / (1 + r)).astype(np.float32)


def read_video_betas(brain_dir: Path, subject: str, video_set: VideoSet) -> BrainResponses:
    """One subject's betas (volumes x voxels in its mask), repeats averaged, split from the video set."""
    betas_path = brain_dir / f"sub-{subject}_betas.nii.gz"
    table_path = brain_dir / f"sub-{subject}_betas.tsv"
    mask_path = brain_dir / f"sub-{subject}_mask.nii.gz"
    betas_img, mask_img = _load_nifti(betas_path, 4), _load_nifti(mask_path, 3)
    if betas_img.shape[:3] != mask_img.shape:
        raise DataValidationError(
            mask_path, "shape", f"the grid of {betas_path.name} {betas_img.shape[:3]}", mask_img.shape
        )
    if not np.allclose(betas_img.affine, mask_img.affine, atol=1e-3):
        raise DataValidationError(
            mask_path, "affine", f"the affine of {betas_path.name}", mask_img.affine.round(3).tolist()
        )
    if not table_path.exists():
        raise DataValidationError(table_path, "file", "a table naming the video of every beta volume", "no such file")
    table = pd.read_csv(table_path, sep="\t", dtype={"video_id": str})
    if "video_id" not in table.columns:
        raise DataValidationError(table_path, "video_id", "a video_id column", "missing")
    if len(table) != betas_img.shape[3]:
        raise DataValidationError(table_path, "rows", f"one row per beta volume ({betas_img.shape[3]})", len(table))
    unknown = sorted(set(table["video_id"]) - set(video_set.video_ids))
    if unknown:
        raise DataValidationError(table_path, "video_id", "ids of the video set", f"unknown {unknown[0]!r}")
    mask = np.asarray(mask_img.dataobj) > 0
    betas = np.asarray(betas_img.dataobj)[mask].T  # (n_volumes, n_voxels), C order of the mask
    if not np.all(np.isfinite(betas)):
        raise DataValidationError(betas_path, "data", "finite betas inside the mask", "NaN or inf")
    repeat = (
        table["repeat"].to_numpy() if "repeat" in table.columns else table.groupby("video_id").cumcount().to_numpy() + 1
    )
    videos = [v for v in video_set.video_ids if v in set(table["video_id"])]
    video_index = table["video_id"].to_numpy()
    responses = np.stack([betas[video_index == v].mean(0) for v in videos]).astype(np.float32)
    split = video_set.index.set_index("video_id").loc[videos, "split"].to_numpy(dtype=str)
    return BrainResponses(
        responses=responses,
        stim_ids=np.asarray(videos),
        split=split,
        noise_ceiling=noise_ceiling_split_half(betas, video_index, repeat),
        voxel_ijk=np.argwhere(mask).astype(np.int32),
        affine=mask_img.affine,
        mask=mask,
        attrs={"subject": subject, "source": str(betas_path), "value": "beta per video, repeats averaged"},
    )


def betas_subjects(brain_dir: Path) -> list[str]:
    """The subjects of a betas folder: one ``sub-<id>_betas.nii.gz`` each."""
    subjects = sorted(p.name[len("sub-") : -len("_betas.nii.gz")] for p in brain_dir.glob("sub-*_betas.nii.gz"))
    if not subjects:
        raise DataValidationError(brain_dir, "betas", "sub-<id>_betas.nii.gz files", "none found")
    return subjects


def video_responses_cohort(*, betas: str | os.PathLike, subjects: str | os.PathLike, subfolder: str = "") -> list[str]:
    """Rule ``video_responses_cohort`` (a checkpoint): the subjects of the betas folder
    ``<betas>/<subfolder>`` -> ``subjects`` (csv, one job each downstream)."""
    found = betas_subjects(Path(betas) / subfolder)
    write_csv(subjects, pd.DataFrame({"subject": found}))
    return found


def load_video_responses_subject(*, videos: str | os.PathLike, betas: str | os.PathLike, subject: str,
                                 responses: str | os.PathLike, subfolder: str = "") -> None:
    """Rule ``load_video_responses_subject``: ``<betas>/<subfolder>/sub-<subject>_betas.nii.gz`` (with
    its table and mask) on the video set ``videos`` -> ``responses`` (``<subject>.h5``)."""
    write_brain_responses(responses, read_video_betas(Path(betas) / subfolder, subject, read_video_set(videos)))


def load_video_responses(*, subjects: str | os.PathLike, parts: list[str], brain: str | os.PathLike) -> None:
    """Rule ``load_video_responses`` (the gather): the folder ``brain`` with every subject's
    ``<subject>.h5`` of ``parts`` (rule ``load_video_responses_subject``), hard-linked where the file
    system allows."""
    gather_files(brain, {Path(part).name: Path(part) for part in parts},
                 [f"{subject}.h5" for subject in table_subjects(subjects)], table=subjects,
                 expected="the responses of every subject in the table")


def export_video_responses(*, videos: str | os.PathLike, betas: str | os.PathLike, brain: str | os.PathLike,
                           subfolder: str = "") -> list[str]:
    """The rules' three steps in one process: ``<brain>/<subject>.h5`` for every
    ``<betas>/<subfolder>/sub-<id>_betas.nii.gz`` of the video set ``videos`` (a synthetic set keeps
    its betas in ``brain/``), every subject checked before anything is written; return the subjects."""
    brain_dir = Path(betas) / subfolder
    video_set = read_video_set(videos)
    checked = {subject: read_video_betas(brain_dir, subject, video_set) for subject in betas_subjects(brain_dir)}
    with atomic_directory(brain) as temp:
        for subject, data in checked.items():
            write_brain_responses(temp / f"{subject}.h5", data)
    return list(checked)
