"""MIT1003 free viewing (Judd et al. 2009): raw 240 Hz gaze per subject and image.

Layout: ``DATA/<user>/<image>.mat`` holds one variable named after the image (MATLAB cuts
names at 63 characters) whose ``DATA(1).eyeData`` is n x 2 raw gaze in image pixels, negative
during blinks; each user folder also has ``shuff_stimnames.mat`` and ``CalibrationData.mat``.
Images are ``ALLSTIMULI/<image>.jpeg``. The samples carry no timestamps: they are spaced by the
configured sampling rate. Fixations come from the configured detector; as in the dataset's own
scripts, the first fixation (the central fixation cross) and fixations off the image are dropped.

``fixations_from="extracted"`` takes the fixations of the dataset's own extraction instead (the
release's ``checkFixations.m``: median position, onset and duration of each fixation), as
pysaliency's ``get_mit1003`` runs it in MATLAB or Octave and stores it in ``<extracted_dir>/
fixations.hdf5`` and ``stimuli.hdf5`` (read here with h5py in that layout: ``train_xs``,
``train_ys``, ``train_ts`` (s), ``train_ns`` (stimulus index), ``train_subjects`` (index into the
sorted ``DATA/`` folders), ``scanpath_fixation_attributes/durations`` (s); the stimuli's
``filenames``). Those files already leave out the first fixation and those off the image; the
published MIT1003 results are computed on them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from neurogaze.data.gaze.base import (
    GazeData,
    assign_split,
    drop_off_image,
    fixation_table,
    image_size,
    load_mat,
    renumber,
    sample_table,
    stimulus_index,
    struct_field,
)
from neurogaze.data.gaze.detection import DetectorConfig, ScreenGeometry, detect_fixations, detector_config
from neurogaze.errors import DataValidationError
from neurogaze.io import as_text

logger = logging.getLogger(__name__)

NOT_TRIALS = {"shuff_stimnames", "CalibrationData"}
FIXATION_SOURCES = ("detector", "extracted")
MATLAB_NAME_LIMIT = 63


def read_eye_data(path: Path) -> np.ndarray:
    variable = path.stem[:MATLAB_NAME_LIMIT]
    content = load_mat(path, required=(variable,))
    data = struct_field(content[variable], "DATA", path, f"{variable}.")
    first = np.atleast_1d(data)[0]
    eye = np.asarray(struct_field(first, "eyeData", path, f"{variable}.DATA(1)."), dtype=float)
    if eye.ndim != 2 or eye.shape[1] < 2 or len(eye) < 2:
        raise DataValidationError(path, f"{variable}.DATA(1).eyeData", "an n x 2 array of raw gaze (px)", eye.shape)
    xy = eye[:, :2].copy()
    xy[(xy < 0).any(axis=1)] = np.nan  # negative positions are blinks
    return xy


def load_mit1003(
    root: str | os.PathLike,
    detector: dict | DetectorConfig | None = None,
    sampling_rate_hz: float = 240.0,
    screen: dict | None = None,
    drop_first_fixation: bool = True,
    test_fraction: float = 0.2,
    dataset: str = "mit1003",
    fixations_from: str = "detector",
    extracted_dir: str | os.PathLike | None = None,
) -> GazeData:
    root = Path(root)
    if fixations_from not in FIXATION_SOURCES:
        raise DataValidationError(None, "fixations_from", f"one of {FIXATION_SOURCES}", fixations_from)
    if fixations_from == "extracted" and not extracted_dir:
        raise DataValidationError(None, "extracted_dir", "the folder of the dataset's own extraction (fixations.hdf5)")
    config = detector_config(detector)
    screen = screen or {"resolution_px": [1280, 1024], "size_m": [0.376, 0.301], "distance_m": 0.61}
    geometry = ScreenGeometry.from_config(screen)
    user_dirs = sorted(p for p in (root / "DATA").iterdir() if p.is_dir()) if (root / "DATA").is_dir() else []
    if not user_dirs:
        raise DataValidationError(root / "DATA", "<user>/", "one folder of .mat files per subject", "none")
    fixation_rows, sample_frames, images = [], [], {}
    recordings = [p for user_dir in user_dirs for p in sorted(user_dir.glob("*.mat")) if p.stem not in NOT_TRIALS]
    for path in tqdm(recordings, desc="mit1003 recordings", mininterval=5.0):
        user_dir = path.parent
        xy = read_eye_data(path)
        t_ms = np.arange(len(xy)) * 1000.0 / sampling_rate_hz
        images.setdefault(path.stem, _image_path(root, path.stem))
        sample_frames.append(
            pd.DataFrame(
                {
                    "subject": user_dir.name,
                    "trial": 0,
                    "stim_id": path.stem,
                    "t_ms": t_ms,
                    "x": xy[:, 0],
                    "y": xy[:, 1],
                    "pupil": np.nan,
                }
            )
        )
        if fixations_from == "extracted":
            continue  # the dataset's own fixations are read below
        _, fixations = detect_fixations(xy[:, 0], xy[:, 1], t_ms, geometry, config)
        if drop_first_fixation:
            fixations = fixations.iloc[1:]
        fixation_rows.append(fixations.assign(subject=user_dir.name, stim_id=path.stem, trial=0, fix_index=0))
    stim_ids = sorted(images)
    sizes = [image_size(images[s]) for s in stim_ids]
    stimuli = stimulus_index(
        stim_ids, [images[s] for s in stim_ids], sizes, [assign_split(s, test_fraction) for s in stim_ids]
    )
    if fixations_from == "extracted":
        fixation_rows = [read_extracted_fixations(extracted_dir, [d.name for d in user_dirs], set(stim_ids))]
    table = renumber(fixation_table(pd.concat(fixation_rows, ignore_index=True), dataset))
    table = drop_off_image(table, dict(zip(stim_ids, sizes)), dataset)
    return GazeData(dataset, table, stimuli, samples=sample_table(pd.concat(sample_frames, ignore_index=True)))


def read_extracted_fixations(folder: str | os.PathLike, subjects: list[str], stim_ids: set[str]) -> pd.DataFrame:
    """The dataset's own fixations (``checkFixations.m``) as pysaliency stores them (module doc)."""
    import h5py

    folder = Path(folder)
    paths = {name: folder / f"{name}.hdf5" for name in ("fixations", "stimuli")}
    for path in paths.values():
        if not path.is_file():
            raise DataValidationError(path, "file", "pysaliency's MIT1003 files (get_mit1003)", "no such file")
    with h5py.File(paths["stimuli"], "r") as handle:
        names = [Path(as_text(name)).stem for name in handle["filenames"][()]]
    with h5py.File(paths["fixations"], "r") as handle:
        arrays = {key: handle[key][()] for key in ("train_xs", "train_ys", "train_ts", "train_ns", "train_subjects")}
        if "scanpath_fixation_attributes/durations" not in handle:
            raise DataValidationError(paths["fixations"], "scanpath_fixation_attributes/durations",
                                      "the fixation durations (s)", "missing")
        durations = handle["scanpath_fixation_attributes/durations"][()]
    rows = []
    for k, (n, s) in enumerate(zip(arrays["train_ns"], arrays["train_subjects"])):
        if not 0 <= int(s) < len(subjects):
            raise DataValidationError(paths["fixations"], "train_subjects", f"indices of the {len(subjects)} DATA/ "
                                      "folders", int(s))
        stim_id = names[int(n)]
        if stim_id not in stim_ids:
            raise DataValidationError(paths["stimuli"], "filenames", "images of the root's DATA/", stim_id)
        keep = np.isfinite(arrays["train_xs"][k])
        rows.append(pd.DataFrame({
            "subject": subjects[int(s)], "stim_id": stim_id, "trial": 0, "fix_index": np.arange(keep.sum()),
            "x": arrays["train_xs"][k][keep], "y": arrays["train_ys"][k][keep],
            "t_start_ms": arrays["train_ts"][k][keep] * 1000.0, "duration_ms": durations[k][keep] * 1000.0,
        }))
    return pd.concat(rows, ignore_index=True)


def _image_path(root: Path, stem: str) -> Path:
    for extension in (".jpeg", ".jpg", ".png"):
        candidate = root / "ALLSTIMULI" / f"{stem}{extension}"
        if candidate.is_file():
            return candidate
    raise DataValidationError(
        root / "ALLSTIMULI" / f"{stem}.jpeg", "image", "the stimulus of every eye-data file", "no such file"
    )
