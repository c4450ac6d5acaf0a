"""Hand-labelled raw gaze of Andersson et al. (2017), the event-detection benchmark.

Layout: ``annotated_data/img/<subject>_img_<image>_labelled_<coder>.mat`` with ``ETdata``:
``pos`` (n x 6: timestamp in us, pupil h, pupil v, x px, y px, label), ``sampFreq``,
``screenRes`` (px), ``screenDim`` (m), ``viewDist`` (m); images ``stimuli/<image>1024x768.png``
shown full screen, so screen pixels are image pixels.

Two quirks of the released files are handled here, not hidden: some recordings end with
all-zero padding rows (timestamp 0), which are dropped; lost samples are stored as x = y = 0 and
become NaN. The sampling rate is taken from the timestamps, because two recordings run at
200 Hz while their header says 500.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from dataclasses import dataclass
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
    sample_table,
    stimulus_index,
    struct_field,
)
from neurogaze.data.gaze.detection import (
    DetectorConfig,
    ScreenGeometry,
    cohen_kappa,
    detect_fixation_mask,
    detect_fixations,
    detector_config,
    sampling_rate_from_timestamps,
)
from neurogaze.data.gaze.sample_classifier import FixationClassifier, fit_fixation_classifier, sample_features
from neurogaze.errors import DataValidationError

logger = logging.getLogger(__name__)

LABELS = {1: "fixation", 2: "saccade", 3: "pso", 4: "pursuit", 5: "blink", 6: "undefined"}
FILE_PATTERN = re.compile(r"^(?P<subject>[A-Za-z0-9]+)_img_(?P<image>.+)_labelled_(?P<coder>[A-Za-z]+)\.mat$")
RECORDINGS_DIR = Path("annotated_data") / "img"


@dataclass
class Recording:
    subject: str
    image: str
    coder: str
    path: Path
    t_ms: np.ndarray  # from the first sample
    x: np.ndarray  # NaN where the tracker lost the eye
    y: np.ndarray
    pupil: np.ndarray
    labels: np.ndarray  # int codes of LABELS
    geometry: ScreenGeometry

    @property
    def is_fixation(self) -> np.ndarray:
        return self.labels == 1


def read_recording(path: str | os.PathLike) -> Recording:
    path = Path(path)
    match = FILE_PATTERN.match(path.name)
    if match is None:
        raise DataValidationError(path, "file name", "<subject>_img_<image>_labelled_<coder>.mat")
    etdata = load_mat(path, required=("ETdata",))["ETdata"]
    pos = np.asarray(struct_field(etdata, "pos", path, "ETdata."), dtype=float)
    if pos.ndim != 2 or pos.shape[1] != 6:
        raise DataValidationError(path, "ETdata.pos", "an n x 6 array [t_us, pupil_h, pupil_v, x, y, label]", pos.shape)
    geometry = ScreenGeometry(
        resolution_px=tuple(float(v) for v in np.ravel(struct_field(etdata, "screenRes", path, "ETdata."))),
        size_m=tuple(float(v) for v in np.ravel(struct_field(etdata, "screenDim", path, "ETdata."))),
        distance_m=float(struct_field(etdata, "viewDist", path, "ETdata.")),
    )
    padding = pos[:, 0] == 0
    if padding.any():
        logger.info("%s: dropped %d zero-padding rows", path.name, int(padding.sum()))
    pos = pos[~padding]
    if len(pos) < 2 or (np.diff(pos[:, 0]) <= 0).any():
        raise DataValidationError(path, "ETdata.pos[:, 0]", "strictly increasing timestamps (us)")
    declared = float(struct_field(etdata, "sampFreq", path, "ETdata."))
    t_ms = (pos[:, 0] - pos[0, 0]) / 1000.0
    measured = sampling_rate_from_timestamps(t_ms)
    if abs(measured - declared) > 0.1 * declared:
        logger.info(
            "%s: timestamps show %.0f Hz, header says %.0f Hz; using the timestamps", path.name, measured, declared
        )
    lost = (pos[:, 3] == 0) & (pos[:, 4] == 0)
    x = np.where(lost, np.nan, pos[:, 3])
    y = np.where(lost, np.nan, pos[:, 4])
    labels = pos[:, 5].astype(int)
    unknown = sorted(set(np.unique(labels)) - set(LABELS))
    if unknown:
        raise DataValidationError(path, "ETdata.pos[:, 5]", f"labels in {sorted(LABELS)}", unknown)
    return Recording(
        match["subject"],
        match["image"],
        match["coder"],
        path,
        t_ms,
        x,
        y,
        (pos[:, 1] + pos[:, 2]) / 2,
        labels,
        geometry,
    )


def recording_paths(root: str | os.PathLike, coder: str) -> list[Path]:
    folder = Path(root) / RECORDINGS_DIR
    paths = sorted(folder.glob(f"*_labelled_{coder}.mat"))
    if not paths:
        raise DataValidationError(folder, f"*_labelled_{coder}.mat", "at least one recording of this coder", "none")
    return paths


def load_andersson2017(
    root: str | os.PathLike,
    detector: dict | DetectorConfig | None = None,
    coder: str = "MN",
    test_fraction: float = 0.25,
    dataset: str = "andersson2017",
) -> GazeData:
    root = Path(root)
    config = detector_config(detector)
    fixation_rows, sample_frames, images = [], [], {}
    for trial, path in enumerate(tqdm(recording_paths(root, coder), desc="andersson2017 recordings", mininterval=5.0)):
        recording = read_recording(path)
        image_path = root / "stimuli" / f"{recording.image}1024x768.png"
        images[recording.image] = image_path
        sample_frames.append(
            pd.DataFrame(
                {
                    "subject": recording.subject,
                    "trial": trial,
                    "stim_id": recording.image,
                    "t_ms": recording.t_ms,
                    "x": recording.x,
                    "y": recording.y,
                    "pupil": recording.pupil,
                    "label": [LABELS[code] for code in recording.labels],
                }
            )
        )
        _, fixations = detect_fixations(recording.x, recording.y, recording.t_ms, recording.geometry, config)
        fixation_rows.append(
            fixations.assign(
                subject=recording.subject, stim_id=recording.image, trial=trial, fix_index=range(len(fixations))
            )
        )
    stim_ids = sorted(images)
    sizes = [image_size(images[s]) for s in stim_ids]
    stimuli = stimulus_index(
        stim_ids, [images[s] for s in stim_ids], sizes, [assign_split(s, test_fraction) for s in stim_ids]
    )
    table = fixation_table(pd.concat(fixation_rows, ignore_index=True), dataset)
    table = drop_off_image(table, dict(zip(stim_ids, sizes)), dataset)
    samples = sample_table(pd.concat(sample_frames, ignore_index=True))
    return GazeData(dataset, table, stimuli, samples=samples)


def kappa_table(
    root: str | os.PathLike, detectors: dict[str, DetectorConfig], truth: str = "MN", other: str = "RA"
) -> pd.DataFrame:
    """Sample-level Cohen's kappa (fixation vs not) per recording: each detector vs ``truth``,
    and the second coder vs ``truth`` (fixation only, and with pursuit counted as fixation)."""
    rows = []
    for path in recording_paths(root, truth):
        reference = read_recording(path)
        row = {"recording": f"{reference.subject}_{reference.image}", "n_samples": len(reference.t_ms)}
        for name, config in detectors.items():
            mask, _ = detect_fixations(reference.x, reference.y, reference.t_ms, reference.geometry, config)
            row[name] = cohen_kappa(mask, reference.is_fixation)
        second_path = path.with_name(path.name.replace(f"_labelled_{truth}", f"_labelled_{other}"))
        if second_path.exists():
            second = read_recording(second_path)
            if len(second.labels) != len(reference.labels):
                raise DataValidationError(
                    second_path, "ETdata.pos", f"{len(reference.labels)} samples like {path.name}", len(second.labels)
                )
            row[f"coder_{other}"] = cohen_kappa(second.is_fixation, reference.is_fixation)
            row[f"coder_{other}_pursuit_as_fixation"] = cohen_kappa(
                np.isin(second.labels, (1, 4)), reference.is_fixation
            )
        rows.append(row)
    return pd.DataFrame(rows)


def read_coded_recordings(root: str | os.PathLike, coder: str = "MN") -> list[Recording]:
    return [read_recording(path) for path in recording_paths(root, coder)]


def _kappa(recording: Recording, config: DetectorConfig, classifier=None) -> float:
    mask = detect_fixation_mask(recording.x, recording.y, recording.t_ms, recording.geometry, config, classifier)
    return cohen_kappa(mask, recording.is_fixation)


def leave_one_recording_out(
    recordings: list[Recording],
    fixed: dict[str, DetectorConfig],
    tuned: dict[str, list[DetectorConfig]],
    learned: dict[str, dict],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Kappa against the recordings' coder on each held-out recording.

    ``fixed`` detectors are scored as they are; for each ``tuned`` grid the point with the best
    mean kappa on the other recordings is scored on the held-out one; each ``learned`` entry
    (FixationClassifier parameters) is fitted on the other recordings. Returns the kappa table
    (one row per held-out recording) and the settings each fold chose."""

    # every grid point on every recording once; a fold only chooses among the columns it may see
    grid_kappas = {
        name: np.array([[_kappa(r, config) for r in recordings] for config in tqdm(grid, desc=f"{name} grid")])
        for name, grid in tuned.items()
    }
    rows, choices = [], []
    for held_out, recording in enumerate(tqdm(recordings, desc="held-out recordings")):
        others = recordings[:held_out] + recordings[held_out + 1 :]
        row = {"recording": f"{recording.subject}_{recording.image}", "n_samples": len(recording.t_ms)}
        for name, config in fixed.items():
            row[name] = _kappa(recording, config)
        for name, grid in tuned.items():
            training_mean = np.delete(grid_kappas[name], held_out, axis=1).mean(axis=1)
            chosen = int(np.argmax(training_mean))
            row[name] = float(grid_kappas[name][chosen, held_out])
            choices.append({"recording": row["recording"], "detector": name, **_varying_fields(grid, chosen)})
        for name, params in learned.items():
            classifier = fit_fixation_classifier(others, **params)
            row[name] = _kappa(recording, DetectorConfig(method="learned"), classifier)
        rows.append(row)
    return pd.DataFrame(rows), pd.DataFrame(choices)


def nested_learned_kappas(recordings: list[Recording], grid: list[dict], inner_folds: int = 3) -> pd.DataFrame:
    """The learned detector with its settings chosen inside each fold: for each held-out
    recording, every FixationClassifier setting of ``grid`` is scored by ``inner_folds``-fold
    cross-validation over the other recordings (folds: every ``inner_folds``-th recording), the
    best is refitted on all of them and scored on the held-out one. An estimate of the whole
    procedure, selection included. One row per held-out recording: kappa and the chosen setting."""
    features = [sample_features(r.x, r.y, r.t_ms, r.geometry.degrees_per_pixel()) for r in recordings]
    labels = [np.asarray(r.is_fixation, dtype=bool) for r in recordings]

    def fit(indices, params):
        return FixationClassifier(**params).fit(np.vstack([features[i] for i in indices]),
                                                np.concatenate([labels[i] for i in indices]))

    rows = []
    for held_out, recording in enumerate(tqdm(recordings, desc="held-out recordings (nested)")):
        others = [i for i in range(len(recordings)) if i != held_out]
        folds = [others[k::inner_folds] for k in range(inner_folds)]
        scores = []
        for params in grid:
            kappas = []
            for fold in folds:
                classifier = fit([i for i in others if i not in fold], params)
                kappas += [_kappa(recordings[i], DetectorConfig(method="learned"), classifier) for i in fold]
            scores.append(np.mean(kappas))
        chosen = grid[int(np.argmax(scores))]
        kappa = _kappa(recording, DetectorConfig(method="learned"), fit(others, chosen))
        rows.append({"recording": f"{recording.subject}_{recording.image}", "learned_nested": kappa,
                     "chosen": repr(chosen)})
    return pd.DataFrame(rows)


def _varying_fields(grid: list[DetectorConfig], index: int) -> dict:
    """The settings of grid point ``index`` that differ across the grid."""
    names = [f.name for f in dataclasses.fields(DetectorConfig)]
    return {n: getattr(grid[index], n) for n in names if len({getattr(c, n) for c in grid}) > 1}
