"""The warping animator: a still image animated by a flow field (forward warping, frame t moves
every source pixel by t x its flow), written as GIF or MP4 with imageio. It stands in for the
paper's DragNUWA, which is not in diffusers."""

from __future__ import annotations

import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch
from torch.nn import functional as F

from neurogaze.errors import DataValidationError
from neurogaze.io import atomic_path


def upsample_flow(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    """(grid, grid, 2) grid cells per frame -> (height, width, 2) pixels per frame."""
    tensor = torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32)).permute(2, 0, 1)[None]
    dense = F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False)[0].permute(1, 2, 0)
    return dense.numpy() * np.array([width / flow.shape[1], height / flow.shape[0]], dtype=np.float32)


def forward_warp(image: np.ndarray, flow: np.ndarray, t: float) -> np.ndarray:
    """Splat each pixel of ``image`` (H, W, 3) to its position after ``t`` frames of ``flow``
    (H, W, 2, pixels per frame), nearest pixel, later rows over earlier ones; holes keep the
    original image (the background the paper's animators would inpaint)."""
    height, width = image.shape[:2]
    rows, cols = np.mgrid[:height, :width]
    x = np.rint(cols + t * flow[..., 0]).astype(int)
    y = np.rint(rows + t * flow[..., 1]).astype(int)
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    out = image.copy()
    out[y[inside], x[inside]] = image[rows[inside], cols[inside]]
    return out


def animate(image: np.ndarray, flow: np.ndarray, n_frames: int) -> np.ndarray:
    """uint8 (n_frames, H, W, 3): the image, then forward-warped by the (grid) flow for 1 ... n - 1 frames."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise DataValidationError(None, "image", "an (H, W, 3) image", image.shape)
    dense = upsample_flow(flow, *image.shape[:2])
    return np.stack([forward_warp(image, dense, t) for t in range(n_frames)]).astype(np.uint8)


def write_animation(path: str | os.PathLike, frames: np.ndarray, fps: float) -> None:
    """A GIF (pillow) or MP4 (ffmpeg), by the file's extension; written atomically."""
    path = Path(path)
    with atomic_path(path) as temp:
        if path.suffix.lower() == ".gif":
            iio.imwrite(temp, frames, extension=".gif", duration=1000.0 / fps, loop=0)
        else:
            iio.imwrite(temp, frames, extension=path.suffix, fps=fps, codec="libx264", macro_block_size=1)
