"""The Dynamic Natural Vision layout (Wen et al. 2018, the data of Yeung et al.'s CVPR 2025 flow
decoder): fMRI time series per run and the movie each run showed, turned into per-TR samples in
the project's own contracts, so the clip-wise rules run on it unchanged.

3 subjects, 3T, TR 2 s; 18 training and 5 test movie segments of 8 minutes, one segment per run;
training segments were shown twice, test segments ten times. The layout read here (the Purdue
release ``video_fmri_dataset``, as we understand it; ``config/paper.yaml`` states the assumption)::

    <root>/stimuli/<segment>.mp4                                       (seg1 ... seg18, test1 ... test5)
    <root>/subject<k>/fmri/<segment>/cifti/<segment>_<repeat>_Atlas.dtseries.nii

A run is a CIFTI dense time series (TRs x grayordinates; its series axis gives the TR). Each run
is z-scored per voxel on its own (a run is its own session), then the repeats of a segment are
averaged. Each TR becomes one "video" of the video-set contract (:mod:`neurogaze.data.video`):
``frames_per_tr`` frames evenly spaced inside the TR (paper: 3 frames per 2 s TR) and the flow
between them, with the index's extra columns ``segment`` and ``tr_index`` (the decoder's fMRI
window of TRs i-2 ... i+2 is taken within a segment); each subject's TRs become a brain-response
file whose stimuli are those TR ids.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import nibabel as nib
import numpy as np
from tqdm import tqdm

from neurogaze.config import from_section
from neurogaze.data.contracts import BrainResponses, write_brain_responses
from neurogaze.data.video import (
    FlowEstimator,
    flow_options,
    frames_per_tr,
    resize_frames,
    split_half_ceiling,
    write_video_set,
)
from neurogaze.errors import DataValidationError
from neurogaze.io import atomic_directory, link_or_copy

logger = logging.getLogger(__name__)

RUN_PATTERN = re.compile(r"^(?P<segment>.+)_(?P<repeat>\d+)_Atlas\.dtseries\.nii$")


@dataclass
class DNVOptions:
    subjects: tuple[str, ...] = ("1", "2", "3")  # subject<k> folders
    tr: float = 2.0  # s; every run's series step must be this
    frames_per_tr: int = 3  # frames evenly spaced inside each TR (paper: 3)
    frame_size: tuple[int, int] | None = None  # (height, width) of the stored frames; None: the movie's


def segment_split(segment: str) -> str:
    return "test" if segment.startswith("test") else "train"


def tr_id(segment: str, index: int) -> str:
    return f"{segment}_tr{index:04d}"


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


def _run_image(path: Path, tr: float):
    """A run's CIFTI image, its series axis checked (TR ``tr``); the data are not read yet."""
    image = nib.load(path)
    series = image.header.get_axis(0)
    if not isinstance(series, nib.cifti2.SeriesAxis):
        raise DataValidationError(path, "axis 0", "a series axis (a .dtseries.nii)", type(series).__name__)
    if abs(series.step - tr) > 1e-6:
        raise DataValidationError(path, "series step (TR)", f"{tr} s", f"{series.step} s")
    return image


def read_run(path: Path, tr: float) -> np.ndarray:
    """A run's time series (TRs, grayordinates), float32; its TR must be ``tr``."""
    return np.asarray(_run_image(path, tr).get_fdata(dtype=np.float32))


def segment_lengths(root, subject: str, tr: float) -> dict[str, int]:
    """The segments ``subject`` has runs of and their TRs (from each first run's header): the first
    configured subject's define the dataset's samples."""
    return {segment: _run_image(paths[0], tr).shape[0] for segment, paths in find_runs(root, subject).items()}


def zscore(run: np.ndarray) -> np.ndarray:
    """Each voxel z-scored within the run (constant voxels become 0)."""
    sd = run.std(axis=0)
    return ((run - run.mean(axis=0)) / np.where(sd > 0, sd, 1.0)).astype(np.float32)


def segment_runs(paths: list[Path], tr: float) -> list[np.ndarray]:
    """The repeats of one segment, each z-scored per voxel: [(TRs, grayordinates)]."""
    runs = [zscore(read_run(path, tr)) for path in paths]
    for path, run in zip(paths[1:], runs[1:]):
        if run.shape != runs[0].shape:
            raise DataValidationError(path, "shape", f"the shape of the segment's first run {runs[0].shape}",
                                      run.shape)
    return runs


def averaged_segment(paths: list[Path], tr: float) -> np.ndarray:
    """The repeats of one segment, each z-scored per voxel, averaged: (TRs, grayordinates)."""
    return np.mean(segment_runs(paths, tr), axis=0)


def sampled_frames(movie: Path, n_trs: int, tr: float, per_tr: int) -> tuple[np.ndarray, float]:
    """``per_tr`` frames evenly spaced inside each of ``n_trs`` TRs: (n_trs, per_tr, H, W, 3), and
    the movie's fps. Reads the movie once, keeping only those frames."""
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


def subject_responses(root, subject: str, segments: dict[str, int], tr: float) -> BrainResponses:
    """One subject's per-TR responses over ``segments`` (name -> TRs, in that order): runs z-scored,
    repeats averaged; the ceiling from odd vs even repeats where every segment has both."""
    runs = find_runs(root, subject)
    missing = [s for s in segments if s not in runs]
    if missing:
        raise DataValidationError(Path(root) / f"subject{subject}" / "fmri", "segments",
                                  f"the segments of the first subject ({', '.join(segments)})",
                                  f"no runs of {missing[0]!r}")
    parts, halves = [], []
    for segment, n_trs in segments.items():
        repeats = segment_runs(runs[segment], tr)
        if len(repeats[0]) != n_trs:
            raise DataValidationError(runs[segment][0], "TRs", f"{n_trs} TRs, as the first subject's run",
                                      len(repeats[0]))
        parts.append(np.mean(repeats, axis=0))
        if len(repeats) > 1:
            halves.append((np.mean(repeats[::2], axis=0), np.mean(repeats[1::2], axis=0)))
    responses = np.concatenate(parts).astype(np.float32)
    ceiling = (split_half_ceiling(np.concatenate([a for a, _ in halves]), np.concatenate([b for _, b in halves]))
               if len(halves) == len(segments) else np.full(responses.shape[1], np.nan, np.float32))
    ids = [tr_id(s, i) for s, n in segments.items() for i in range(n)]
    return BrainResponses(responses=responses, stim_ids=np.asarray(ids),
                          split=np.asarray([segment_split(s) for s, n in segments.items() for _ in range(n)]),
                          noise_ceiling=ceiling,
                          attrs={"subject": subject, "source": str(root),
                                 "value": "per-TR fMRI, each run z-scored, repeats averaged"})


def tr_videos(root, segments: dict[str, int], options: DNVOptions, estimator: FlowEstimator) -> dict:
    """One video per TR of every segment: its ``frames_per_tr`` frames and their flow, with the
    index's columns; every movie checked."""
    ids, clips, flows, splits, columns = [], [], [], [], {"segment": [], "tr_index": []}
    for segment, n_trs in tqdm(segments.items(), desc="DNV segments", unit="segment"):
        movie = Path(root) / "stimuli" / f"{segment}.mp4"
        if not movie.is_file():
            raise DataValidationError(movie, "file", f"the movie of segment {segment}", "no such file")
        frames, _ = sampled_frames(movie, n_trs, options.tr, options.frames_per_tr)
        for index, tr_frames in enumerate(frames):
            clip = resize_frames(tr_frames, options.frame_size)
            ids.append(tr_id(segment, index))
            clips.append(clip)
            flows.append(estimator(clip))
            splits.append(segment_split(segment))
            columns["segment"].append(segment)
            columns["tr_index"].append(index)
    return {"ids": ids, "clips": clips, "flows": flows, "splits": splits, "columns": columns}


def _write_videos(videos, made: dict, options: DNVOptions, estimator: FlowEstimator) -> None:
    write_video_set(videos, made["ids"], made["clips"], [options.frames_per_tr / options.tr] * len(made["ids"]),
                    made["flows"], made["splits"], estimator.name,
                    sources=[f"{s}.mp4" for s in made["columns"]["segment"]], extra_columns=made["columns"])


def load_dnv(*, root, videos, settings: dict, flow: dict, device: str = "auto", raft=None) -> None:
    """Rule ``load_dnv``: the movies of the DNV layout under ``root`` -> the video-set contract in
    ``videos`` (one video per TR of every segment the first subject has runs of: its
    ``frames_per_tr`` frames and their flow by ``flow``, datasets.video's flow keys). ``raft``: the
    RAFT weights when the flow is RAFT's."""
    options = from_section(DNVOptions, settings, "datasets.dnv")
    estimator = FlowEstimator(flow_options(flow, device, raft))
    segments = segment_lengths(root, options.subjects[0], options.tr)
    made = tr_videos(root, segments, options, estimator)
    _write_videos(videos, made, options, estimator)
    logger.info("DNV: %d segments, %d TRs", len(segments), len(made["ids"]))


def load_dnv_subject(*, root, subject: str, responses, settings: dict, reference: str) -> None:
    """Rule ``load_dnv_subject``: subject ``subject``'s runs under ``root`` -> its per-TR
    ``responses`` over the segments that subject ``reference`` (the first configured) has runs of."""
    options = from_section(DNVOptions, settings, "datasets.dnv")
    segments = segment_lengths(root, reference, options.tr)
    write_brain_responses(responses, subject_responses(root, subject, segments, options.tr))


def load_dnv_responses(*, parts: list[str], brain) -> None:
    """Rule ``load_dnv_responses`` (the gather): the subjects' ``<subject>.h5`` ``parts`` (rule
    ``load_dnv_subject``) -> the folder ``brain``, hard-linked where the file system allows."""
    with atomic_directory(brain) as temp:
        for part in map(Path, parts):
            link_or_copy(part, temp / part.name)


def export_dnv(*, root, videos, brain, settings: dict, flow: dict, device: str = "auto", raft=None) -> None:
    """The rules in one process, every subject and movie checked before anything is written: the
    video set ``videos`` (as :func:`load_dnv`) and ``brain/<subject>.h5`` per subject."""
    options = from_section(DNVOptions, settings, "datasets.dnv")
    estimator = FlowEstimator(flow_options(flow, device, raft))
    segments = segment_lengths(root, options.subjects[0], options.tr)
    responses = {s: subject_responses(root, s, segments, options.tr) for s in options.subjects}
    made = tr_videos(root, segments, options, estimator)
    _write_videos(videos, made, options, estimator)
    with atomic_directory(brain) as temp:
        for subject, data in responses.items():
            write_brain_responses(temp / f"{subject}.h5", data)
    logger.info("DNV: %d segments, %d TRs, subjects %s", len(segments), len(made["ids"]), ", ".join(options.subjects))
