"""The Dynamic Natural Vision layout (Wen et al. 2018, the data of Yeung et al.'s CVPR 2025 flow
decoder): fMRI time series per run and the movie each run showed, turned into per-TR samples.

3 subjects, 3T, TR 2 s; 18 training and 5 test movie segments of 8 minutes, one segment per run;
training segments were shown twice, test segments ten times. The layout read here (the Purdue
release ``video_fmri_dataset``, as we understand it; ``config/paper.yaml`` states the assumption)::

    <root>/stimuli/<segment>.mp4                                       (seg1 ... seg18, test1 ... test5)
    <root>/subject<k>/fmri/<segment>/cifti/<segment>_<repeat>_Atlas.dtseries.nii

A run is a CIFTI dense time series (TRs x grayordinates; its series axis gives the TR). Each run
is z-scored per voxel on its own (a run is its own session), then the repeats of a segment are
averaged. The flow target of TR i is the mean optical flow between ``frames_per_tr`` frames
evenly spaced inside the TR (paper: 3 frames per 2 s TR), on a ``grid x grid`` grid in grid cells
per frame of that subsampled sequence.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import nibabel as nib
import numpy as np

from neurogaze.brain.dynamic.flow import downsample_flow, frames_per_tr, zscore_sessions
from neurogaze.errors import DataValidationError

RUN_PATTERN = re.compile(r"^(?P<segment>.+)_(?P<repeat>\d+)_Atlas\.dtseries\.nii$")


@dataclass
class DNVSamples:
    """Per-TR samples of one subject: fMRI (n, voxels) z-scored per run and averaged over repeats,
    flow targets (n, grid, grid, 2), the first sampled frame of each TR, and where each TR is from."""

    fmri: np.ndarray
    flow: np.ndarray
    first_frames: np.ndarray
    segment: np.ndarray
    tr_index: np.ndarray
    split: np.ndarray


def segment_split(segment: str) -> str:
    return "test" if segment.startswith("test") else "train"


def find_runs(root: str | os.PathLike, subject: str) -> dict[str, list[Path]]:
    """Per segment its runs (repeats, in repeat order)."""
    folder = Path(root) / f"subject{subject}" / "fmri"
    if not folder.is_dir():
        raise DataValidationError(folder, "folder", "subject<k>/fmri/<segment>/cifti/ of the DNV layout",
                                  "no such folder")
    runs: dict[str, list[tuple[int, Path]]] = {}
    for path in sorted(folder.glob("*/cifti/*.dtseries.nii")):
        match = RUN_PATTERN.match(path.name)
        if match is None or match["segment"] != path.parent.parent.name:
            raise DataValidationError(path, "file name", "<segment>_<repeat>_Atlas.dtseries.nii in its segment's "
                                      "folder", path.name)
        runs.setdefault(match["segment"], []).append((int(match["repeat"]), path))
    if not runs:
        raise DataValidationError(folder, "runs", "at least one <segment>/cifti/*.dtseries.nii", "none")
    return {segment: [path for _, path in sorted(found)] for segment, found in sorted(runs.items())}


def read_run(path: Path, tr: float) -> np.ndarray:
    """A run's time series (TRs, grayordinates), float32; its TR must be ``tr``."""
    image = nib.load(path)
    series = image.header.get_axis(0)
    if not isinstance(series, nib.cifti2.SeriesAxis):
        raise DataValidationError(path, "axis 0", "a series axis (a .dtseries.nii)", type(series).__name__)
    if abs(series.step - tr) > 1e-6:
        raise DataValidationError(path, "series step (TR)", f"{tr} s", f"{series.step} s")
    return np.asarray(image.get_fdata(dtype=np.float32))


def averaged_segment(paths: list[Path], tr: float) -> np.ndarray:
    """The repeats of one segment, each z-scored per voxel, averaged: (TRs, grayordinates)."""
    runs = [read_run(path, tr) for path in paths]
    for path, run in zip(paths[1:], runs[1:]):
        if run.shape != runs[0].shape:
            raise DataValidationError(path, "shape", f"the shape of the segment's first run {runs[0].shape}",
                                      run.shape)
    return np.mean([zscore_sessions(run, np.zeros(len(run))) for run in runs], axis=0)


def sampled_frames(movie: Path, n_trs: int, tr: float, per_tr: int) -> tuple[np.ndarray, float]:
    """``per_tr`` frames evenly spaced inside each of ``n_trs`` TRs: (n_trs, per_tr, H, W, 3).
    Reads the movie once, keeping only those frames."""
    fps = float(iio.immeta(movie, plugin="FFMPEG")["fps"])
    movie_per_tr = frames_per_tr(fps, tr, movie, movie.stem)
    offsets = np.floor(np.arange(per_tr) * movie_per_tr / per_tr).astype(int)
    wanted = (np.arange(n_trs)[:, None] * movie_per_tr + offsets[None]).ravel()
    position = {frame: i for i, frame in enumerate(wanted)}
    kept: list[np.ndarray | None] = [None] * len(wanted)
    count = 0
    for count, frame in enumerate(iio.imiter(movie, plugin="FFMPEG"), start=1):  # never the whole movie in memory
        if count - 1 in position:
            kept[position[count - 1]] = np.asarray(frame)[..., :3]
        if count > wanted[-1]:
            break
    if kept[-1] is None:
        raise DataValidationError(movie, "frames", f"a movie as long as its run ({n_trs} TRs x {movie_per_tr} "
                                  f"frames at {fps:g} fps = {n_trs * movie_per_tr} frames)", f"{count} frames")
    return np.stack(kept).reshape(n_trs, per_tr, *kept[0].shape), fps


def tr_flow(frames: np.ndarray, flow_of: Callable[[np.ndarray], np.ndarray], grid: int) -> np.ndarray:
    """(n_trs, per_tr, H, W, 3) -> (n_trs, grid, grid, 2): the mean flow of each TR's frame pairs."""
    fields = np.stack([flow_of(tr_frames).mean(axis=0) for tr_frames in frames])
    return downsample_flow(fields, grid)


def load_dnv_subject(root: str | os.PathLike, subject: str, flow_of: Callable[[np.ndarray], np.ndarray],
                     tr: float = 2.0, per_tr: int = 3, grid: int = 32) -> DNVSamples:
    """Every segment of ``subject`` with a movie under ``<root>/stimuli/`` -> per-TR samples."""
    if per_tr < 2:
        raise DataValidationError(None, "frames_per_tr", "at least 2 frames per TR for a flow", per_tr)
    parts = []
    for segment, paths in find_runs(root, subject).items():
        movie = Path(root) / "stimuli" / f"{segment}.mp4"
        if not movie.is_file():
            raise DataValidationError(movie, "file", f"the movie of segment {segment}", "no such file")
        fmri = averaged_segment(paths, tr)
        frames, _ = sampled_frames(movie, len(fmri), tr, per_tr)
        parts.append((segment, fmri, tr_flow(frames, flow_of, grid), frames[:, 0]))
    return DNVSamples(
        fmri=np.concatenate([p[1] for p in parts]).astype(np.float32),
        flow=np.concatenate([p[2] for p in parts]).astype(np.float32),
        first_frames=np.concatenate([p[3] for p in parts]),
        segment=np.concatenate([[p[0]] * len(p[1]) for p in parts]),
        tr_index=np.concatenate([np.arange(len(p[1])) for p in parts]),
        split=np.concatenate([[segment_split(p[0])] * len(p[1]) for p in parts]),
    )
