"""A video set with known motion and fMRI betas of motion-selective voxels.

Videos are drifting sine gratings, a textured disc moving over a static textured background, or
a real photograph (scikit-image's) panned under the frame, each with one direction and speed.
Direction convention: ``direction_deg`` 0 = rightward (+x), 90 = downward (+y, increasing image
rows); speed in pixels per frame. Half of the videos are written as mp4 files and half as PNG
frame folders (``format: mixed``), so both loader paths run; ``videos.tsv`` gives fps and split.

Betas (one volume per presentation, ``repeats`` presentations per video) sit in a small box of
voxels around left hMT+ (MNI -44, -68, 2). Voxel kinds:

* ``direction``: von Mises direction tuning times log-Gaussian speed tuning;
* ``speed``: speed tuning only (any direction);
* ``noise``: no stimulus response.

Gaussian noise is added to every presentation. ``ground_truth.json`` has each video's motion and
each voxel's kind, preferred direction, preferred speed and gain (mask order).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

from neurogaze.data.synthetic.world import photo as world_photo
from neurogaze.io import atomic_directory, write_json

GROUND_TRUTH = "ground_truth.json"
KINDS = ("grating", "disc", "photo")
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")  # scikit-image's colour photographs
MT_CENTRE_MM = (-44.0, -68.0, 2.0)


@dataclass
class SyntheticVideoConfig:
    n_videos: int = 24
    n_frames: int = 16
    height: int = 64
    width: int = 64
    fps: float = 8.0
    speeds: tuple[float, ...] = (1.0, 2.0, 3.0)
    n_directions: int = 8
    format: str = "mixed"  # "mp4", "frames" or "mixed"
    n_subjects: int = 2
    grid: tuple[int, int, int] = (6, 6, 4)
    voxel_mm: float = 3.0
    fraction_direction: float = 0.6
    fraction_speed: float = 0.2
    kappa: float = 2.0
    speed_width_octaves: float = 0.8
    noise_sd: float = 0.3
    repeats: int = 2
    test_every: int = 5  # every n-th video is in the test split
    kinds: tuple[str, ...] = ("grating", "disc", "photo")  # video i is kinds[i % len(kinds)]
    seed: int = 0

    def __post_init__(self):
        unknown = set(self.kinds) - set(KINDS)
        if not self.kinds or unknown:
            raise ValueError(f"kinds must be a non-empty subset of {KINDS}, got {self.kinds}")


def _texture(rng, shape, sigma: float) -> np.ndarray:
    texture = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return (texture - texture.min()) / (np.ptp(texture) + 1e-12)


def grating(
    config: SyntheticVideoConfig, direction_deg: float, speed: float, phase: float, period: float = 16.0
) -> np.ndarray:
    y, x = np.mgrid[: config.height, : config.width].astype(float)
    theta = np.deg2rad(direction_deg)
    along = x * np.cos(theta) + y * np.sin(theta)
    frames = [0.5 + 0.4 * np.sin(2 * np.pi * (along - speed * t) / period + phase) for t in range(config.n_frames)]
    return _to_rgb(np.stack(frames), tint=(1.0, 0.9, 0.8))


def moving_disc(config: SyntheticVideoConfig, direction_deg: float, speed: float, rng) -> np.ndarray:
    background = 0.3 + 0.4 * _texture(rng, (config.height, config.width), 2.0)
    radius = min(config.height, config.width) / 6
    size = int(2 * radius + 3)
    patch = 0.1 + 0.8 * _texture(rng, (size, size), 1.5)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    inside = np.hypot(yy, xx) <= radius
    theta = np.deg2rad(direction_deg)
    step = speed * np.array([np.cos(theta), np.sin(theta)])
    centre = np.array([config.width / 2, config.height / 2]) - step * (config.n_frames - 1) / 2
    frames = []
    for t in range(config.n_frames):
        frame = background.copy()
        cx, cy = centre + step * t
        # sub-pixel motion: shift the patch by its fractional offset before pasting
        shifted = ndimage.shift(patch, (cy % 1, cx % 1), order=1, mode="nearest")
        top, left = int(np.floor(cy)) - size // 2, int(np.floor(cx)) - size // 2
        rows = slice(max(top, 0), min(top + size, config.height))
        cols = slice(max(left, 0), min(left + size, config.width))
        sub = (slice(rows.start - top, rows.stop - top), slice(cols.start - left, cols.stop - left))
        frame[rows, cols] = np.where(inside[sub], shifted[sub], frame[rows, cols])
        frames.append(frame)
    return _to_rgb(np.stack(frames), tint=(0.8, 0.95, 1.0))


def moving_photo(config: SyntheticVideoConfig, direction_deg: float, speed: float, rng) -> np.ndarray:
    """A window on one of scikit-image's colour photographs, its content moving ``speed`` px per
    frame in ``direction_deg`` (a camera pan). The window's first position is drawn from the same
    range whatever the motion (the photo holds the longest pan in every direction around that range),
    so the first frame says nothing of the motion to come."""
    picture = world_photo(str(rng.choice(PHOTOS)))
    longest = max(config.speeds) * (config.n_frames - 1)
    big = _resized(picture, int(np.ceil(2 * config.height + 2 * longest)), int(np.ceil(2 * config.width + 2 * longest)))
    start = longest + rng.uniform(0, 1, 2) * (config.height, config.width)  # rows, columns
    theta = np.deg2rad(direction_deg)
    step = speed * np.array([np.sin(theta), np.cos(theta)])
    frames = []
    for t in range(config.n_frames):
        corner = start - step * t  # the window moves against the content
        whole = np.floor(corner).astype(int)
        moved = ndimage.shift(big, (*(whole - corner), 0), order=1, mode="nearest")
        frames.append(moved[whole[0]:whole[0] + config.height, whole[1]:whole[1] + config.width])
    return np.clip(np.round(np.stack(frames) * 255), 0, 255).astype(np.uint8)


def _resized(image: np.ndarray, height: int, width: int) -> np.ndarray:
    return np.asarray(Image.fromarray((image * 255).astype(np.uint8)).resize((width, height), Image.BILINEAR),
                      dtype=np.float32) / 255.0


def render_clip(config: SyntheticVideoConfig, row, rng) -> np.ndarray:
    """The frames (T, H, W, 3) uint8 of one row of the video table."""
    if row.kind == "grating":
        return grating(config, row.direction_deg, row.speed_px_per_frame, rng.uniform(0, 2 * np.pi))
    if row.kind == "disc":
        return moving_disc(config, row.direction_deg, row.speed_px_per_frame, rng)
    return moving_photo(config, row.direction_deg, row.speed_px_per_frame, rng)


def _to_rgb(gray: np.ndarray, tint) -> np.ndarray:
    return np.clip(np.round(gray[..., None] * np.asarray(tint) * 255), 0, 255).astype(np.uint8)


def _videos(config: SyntheticVideoConfig, rng) -> pd.DataFrame:
    directions = np.arange(config.n_directions) * 360.0 / config.n_directions
    rows = []
    for i in range(config.n_videos):
        kind = config.kinds[i % len(config.kinds)]
        fmt = config.format if config.format != "mixed" else ("mp4" if (i // 2) % 2 == 0 else "frames")
        rows.append(
            {
                "video_id": f"{kind}{i:03d}",
                "kind": kind,
                "direction_deg": float(directions[rng.integers(config.n_directions)]),
                "speed_px_per_frame": float(rng.choice(config.speeds)),
                "format": fmt,
                "split": "test" if i % config.test_every == config.test_every - 1 else "train",
            }
        )
    return pd.DataFrame(rows)


def _write_video(folder: Path, row, frames: np.ndarray, fps: float) -> None:
    import imageio.v3 as iio

    if row.format == "mp4":
        iio.imwrite(folder / f"{row.video_id}.mp4", frames, fps=fps, codec="libx264", quality=9, macro_block_size=16)
        return
    (folder / row.video_id).mkdir()
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / row.video_id / f"frame_{t:05d}.png")


def _voxels(config: SyntheticVideoConfig, rng, n_voxels: int) -> pd.DataFrame:
    kinds = rng.choice(
        ["direction", "speed", "noise"],
        size=n_voxels,
        p=[config.fraction_direction, config.fraction_speed, 1 - config.fraction_direction - config.fraction_speed],
    )
    return pd.DataFrame(
        {
            "kind": kinds,
            "preferred_direction_deg": np.where(kinds == "direction", rng.uniform(0, 360, n_voxels), np.nan),
            "preferred_speed": np.where(
                kinds != "noise",
                np.exp(rng.uniform(np.log(min(config.speeds)), np.log(max(config.speeds)), n_voxels)),
                np.nan,
            ),
            "gain": np.where(kinds != "noise", rng.uniform(1.0, 2.0, n_voxels), 0.0),
        }
    )


def voxel_responses(videos: pd.DataFrame, voxels: pd.DataFrame, config: SyntheticVideoConfig) -> np.ndarray:
    """Noise-free responses (n_videos, n_voxels) from the planted tuning."""
    theta = np.deg2rad(videos["direction_deg"].to_numpy())[:, None]
    speed = videos["speed_px_per_frame"].to_numpy()[:, None]
    preferred = np.deg2rad(np.nan_to_num(voxels["preferred_direction_deg"].to_numpy()))[None]
    pref_speed = np.nan_to_num(voxels["preferred_speed"].to_numpy(), nan=1.0)[None]
    direction = np.exp(config.kappa * (np.cos(theta - preferred) - 1))
    speed_tuning = np.exp(-(np.log2(speed / pref_speed) ** 2) / (2 * config.speed_width_octaves**2))
    kind = voxels["kind"].to_numpy()[None]
    tuning = np.where(kind == "direction", direction * speed_tuning, np.where(kind == "speed", speed_tuning, 0.0))
    return voxels["gain"].to_numpy()[None] * tuning


def _mask_and_affine(config: SyntheticVideoConfig) -> tuple[np.ndarray, np.ndarray]:
    mask = np.ones(config.grid, dtype=bool)
    mask[0, 0, :] = mask[-1, -1, :] = False  # not a full box: the mask matters
    affine = np.diag([config.voxel_mm] * 3 + [1.0])
    affine[:3, 3] = np.asarray(MT_CENTRE_MM) - config.voxel_mm * (np.asarray(config.grid) - 1) / 2
    return mask, affine


def generate_video(out_dir: str | os.PathLike, config: SyntheticVideoConfig | None = None) -> dict:
    """Write ``<out>/videos/`` (mp4 files and frame folders + videos.tsv), ``<out>/brain/`` betas and ground truth."""
    config = config or SyntheticVideoConfig()
    rng = np.random.default_rng(config.seed)
    videos = _videos(config, rng)
    mask, affine = _mask_and_affine(config)
    truth = {
        "generator": "neurogaze.data.synthetic.video",
        "params": asdict(config),
        "direction_convention": "0 deg = +x (rightward), 90 deg = +y (down the image rows); speed in pixels per frame",
        "videos": videos.set_index("video_id").to_dict(orient="index"),
        "subjects": {},
    }
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as temp:
        (temp / "videos").mkdir()
        for row in videos.itertuples():
            video_rng = np.random.default_rng([config.seed, 1, int(row.video_id[-3:])])
            frames = render_clip(config, row, video_rng)
            _write_video(temp / "videos", row, frames, config.fps)
        videos.assign(fps=config.fps)[["video_id", "fps", "split"]].to_csv(
            temp / "videos" / "videos.tsv", sep="\t", index=False
        )
        (temp / "brain").mkdir()
        for index in range(config.n_subjects):
            subject = f"{index + 1:02d}"
            truth["subjects"][subject] = _write_betas(temp / "brain", subject, config, videos, mask, affine)
        write_json(temp / GROUND_TRUTH, truth)
    return json.loads((out_dir / GROUND_TRUTH).read_text())  # as a reader will see it


def _write_betas(folder: Path, subject: str, config, videos, mask, affine) -> dict:
    rng = np.random.default_rng([config.seed, 2, int(subject)])
    voxels = _voxels(config, rng, int(mask.sum()))
    clean = voxel_responses(videos, voxels, config)
    order = np.concatenate([rng.permutation(len(videos)) for _ in range(config.repeats)])
    repeat = np.repeat(np.arange(1, config.repeats + 1), len(videos))
    betas = clean[order] + config.noise_sd * rng.standard_normal((len(order), clean.shape[1]))
    volume = np.zeros((*mask.shape, len(order)), dtype=np.float32)
    volume[mask] = betas.T
    nib.save(nib.Nifti1Image(volume, affine), folder / f"sub-{subject}_betas.nii.gz")
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), affine), folder / f"sub-{subject}_mask.nii.gz")
    pd.DataFrame({"video_id": videos["video_id"].to_numpy()[order], "repeat": repeat}).to_csv(
        folder / f"sub-{subject}_betas.tsv", sep="\t", index=False
    )
    return {
        "voxels": voxels.replace({np.nan: None}).to_dict(orient="list"),
        "noise_sd": config.noise_sd,
        "order": "C order of the mask",
    }
