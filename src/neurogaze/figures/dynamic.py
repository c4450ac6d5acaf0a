"""Flow-decoder figures (rule ``dynamic_plot``): decoded vs true flow as arrows over the first
frame, EPE per method, animation strips (the first frame warped by the decoded and the true
flow), and the video-vs-image encoder comparison with its difference map."""

from __future__ import annotations

import os

import imageio.v3 as iio
import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
import pandas as pd

from neurogaze.data.video import read_video_set
from neurogaze.errors import DataValidationError
from neurogaze.figures.style import PALETTE, neurogaze_style, save_figure
from neurogaze.io import atomic_directory

METHOD_ORDER = ("decoder", "ridge", "mean_flow", "shuffled_fmri", "video_diffusion")


def plot_flow_arrows(frames: list[np.ndarray], decoded: np.ndarray, true: np.ndarray, titles: list[str]):
    """One column per video: the first frame with the true (white) and decoded (red) flow arrows."""
    with neurogaze_style():
        figure, axes = plt.subplots(1, len(frames), figsize=(2.6 * len(frames), 2.8), squeeze=False)
        for axis, frame, pred, truth, title in zip(axes[0], frames, decoded, true, titles):
            grid = truth.shape[0]
            height, width = frame.shape[:2]
            centres = (np.arange(grid) + 0.5)
            x, y = np.meshgrid(centres * width / grid, centres * height / grid)
            axis.imshow(frame)
            # arrows drawn 4 frames long in pixels, so slow motion stays visible
            for flow, colour in ((truth, "white"), (pred, "tab:red")):
                axis.quiver(x, y, 4 * flow[..., 0] * width / grid, 4 * flow[..., 1] * height / grid, color=colour,
                            angles="xy", scale_units="xy", scale=1, width=0.012)
            axis.set_title(title, fontsize=8)
            axis.axis("off")
        figure.tight_layout()
    return figure


def plot_epe(table: pd.DataFrame, permutation: dict):
    methods = [m for m in METHOD_ORDER if m in set(table["method"])]
    with neurogaze_style():
        figure, axis = plt.subplots(figsize=(4.0, 3.0))
        for i, method in enumerate(methods):
            values = table[table["method"] == method]["epe"].to_numpy()
            axis.bar(i, values.mean(), color=PALETTE[i % len(PALETTE)])
            axis.scatter(np.full(len(values), i), values, s=6, color="black", zorder=3)
        axis.set_xticks(range(len(methods)), methods, rotation=30, ha="right")
        axis.set_ylabel("end-point error (grid cells / frame)")
        axis.set_title(f"permutation p = {permutation['p_value']:.4f}", fontsize=9)
        figure.tight_layout()
    return figure


def plot_strip(decoded: np.ndarray, true: np.ndarray, title: str, n_frames: int = 5):
    """Rows: the first frame warped by the decoded flow, and by the true flow."""
    frames = np.linspace(0, len(decoded) - 1, min(n_frames, len(decoded))).round().astype(int)
    with neurogaze_style():
        figure, axes = plt.subplots(2, len(frames), figsize=(1.6 * len(frames), 3.4), squeeze=False)
        for row, (movie, label) in enumerate(((decoded, "decoded"), (true, "true"))):
            for axis, t in zip(axes[row], frames):
                axis.imshow(movie[t])
                axis.set_xticks([])
                axis.set_yticks([])
                axis.set_title(f"t = {t}", fontsize=7)
            axes[row, 0].set_ylabel(label, fontsize=8)
        figure.suptitle(title, fontsize=9)
        figure.tight_layout()
    return figure


def plot_encoders(table: pd.DataFrame, difference: np.ndarray | None):
    """Left: each voxel's test r from video vs image features; right: the difference map
    (video - image), one axial slice per column."""
    slices = [] if difference is None else list(range(difference.shape[2]))
    with neurogaze_style():
        figure, axes = plt.subplots(1, 1 + len(slices), figsize=(3.2 + 1.8 * len(slices), 3.0), squeeze=False)
        axis = axes[0, 0]
        axis.scatter(table["r_image"], table["r_video"], s=6, color=PALETTE[0])
        low, high = np.nanmin(table[["r_image", "r_video"]].to_numpy()), np.nanmax(table[["r_image", "r_video"]])
        axis.plot([low, high], [low, high], color="0.5", lw=0.8)
        axis.set_xlabel("r, image features")
        axis.set_ylabel("r, video features")
        limit = float(np.nanmax(np.abs(difference))) if difference is not None else 1.0
        for axis, z in zip(axes[0, 1:], slices):
            shown = axis.imshow(difference[:, :, z].T, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit)
            axis.set_title(f"z = {z}", fontsize=8)
            axis.axis("off")
        if slices:
            figure.colorbar(shown, ax=axes[0, -1], fraction=0.05, label="r video - r image")
        figure.tight_layout()
    return figure


def plot(*, evaluation, videos, figures, encoders=None, n_videos: int = 4, subject: str = "") -> None:
    """Rule ``dynamic_plot``: ``flow_arrows.png``, ``epe.png``, ``strip_<video>.png`` and, with
    ``encoders``, ``video_vs_image.png``."""
    flows = np.load(os.path.join(evaluation, "flow.npz"))
    table = pd.read_csv(os.path.join(evaluation, "epe.csv"), dtype={"video_id": str})
    permutation = pd.read_json(os.path.join(evaluation, "permutation.json"), typ="series").to_dict()
    video_set = read_video_set(videos)
    ids = [str(v) for v in flows["video_id"][:n_videos]]
    if not ids:
        raise DataValidationError(evaluation, "flow.npz", "decoded flow of at least one test video", "none")
    frames = [video_set.load_frames(v)[0] for v in ids]
    animations = os.path.join(evaluation, "animations")
    with atomic_directory(figures) as temp:
        save_figure(plot_flow_arrows(frames, flows["decoded"][:n_videos], flows["true"][:n_videos], ids),
                    temp / "flow_arrows.png")
        save_figure(plot_epe(table, permutation), temp / "epe.png")
        for video_id in ids:
            decoded_path = os.path.join(animations, f"{video_id}_decoded.gif")
            true_path = os.path.join(animations, f"{video_id}_true.gif")
            if os.path.exists(decoded_path):
                strip = plot_strip(iio.imread(decoded_path), iio.imread(true_path), video_id)
                save_figure(strip, temp / f"strip_{video_id}.png")
        if encoders is not None:
            volume = os.path.join(encoders, "difference.nii.gz")
            difference = np.asarray(nib.load(volume).dataobj) if os.path.exists(volume) else None
            save_figure(plot_encoders(pd.read_csv(os.path.join(encoders, "voxels.csv")), difference),
                        temp / "video_vs_image.png")
