"""SEEG in BIDS-iEEG (through mne-bids) -> event-locked band features, the brain-response contract.

For every recording: channels.tsv, electrodes.tsv and events.tsv are checked first, the data are
read with ``mne_bids.read_raw_bids`` (BrainVision, EDF, ... whatever mne reads), bad channels are
dropped, and per frequency band (high gamma, broadband by default) the analytic amplitude is
taken, log-scaled relative to the channel's recording mean, epoched around each event of the
chosen types and baseline-corrected (unless ``baseline`` is None). Two views are written per subject:

* ``<subject>.h5`` (``BrainResponses``): one row per event, ``stim_ids`` = event ids
  (``<trial_type>-<row in events.tsv, 4 digits>``), one unit per (electrode, band), electrode-major;
  ``electrode_names``/``electrode_positions`` (mm) repeat per band and the boolean ROI
  ``band:<name>`` marks each band's units; the value is the mean over ``response_window``. The
  last ``test_fraction`` of each event type (in time) is the test split, so test events never sit
  between training events. There are no repeated events, so ``noise_ceiling`` is NaN.
* ``<subject>.features.parquet``: the same features per time window (tidy table): windows of
  ``window_length`` from ``window_start`` to ``tmax``, every ``window_step`` (sliding windows).

``events.parquet`` (every event with its extra events.tsv columns, e.g. the word) and
``electrodes.parquet`` cover the whole dataset.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from neurogaze.config import from_section
from neurogaze.data.contracts import BrainResponses, write_brain_responses
from neurogaze.errors import DataValidationError
from neurogaze.io import atomic_directory, gather_files, write_csv, write_parquet
from neurogaze.shards import table_subjects

logger = logging.getLogger(__name__)

CHANNEL_COLUMNS = ("name", "type", "units")
ELECTRODE_COLUMNS = ("name", "x", "y", "z")
EVENT_COLUMNS = ("onset", "duration", "trial_type")
SUBJECT_FILES = (".h5", ".features.parquet")  # <subject><suffix>: a subject's files in the loaded folder
RECORDING_TYPES = ("SEEG", "ECOG", "DBS")
UNIT_TO_MM = {"m": 1000.0, "cm": 10.0, "mm": 1.0}
FEATURE_COLUMNS = (
    "subject",
    "stim_id",
    "trial_type",
    "onset",
    "split",
    "channel",
    "band",
    "window_start",
    "window_end",
    "value",
)


@dataclass
class IeegOptions:
    task: str | None = None  # None: every task
    event_types: tuple[str, ...] = ("word", "scene_cut")
    tmin: float = -0.2
    tmax: float = 0.6
    baseline: tuple[float, float] | None = (-0.2, 0.0)  # None: no baseline correction
    window_length: float = 0.1  # the features table has one value per window in [window_start, tmax]
    window_step: float | None = None  # between window starts; None: window_length (no overlap)
    window_start: float = 0.0
    response_window: tuple[float, float] = (0.05, 0.5)  # the contract's one value per event and unit
    bands: dict = field(default_factory=lambda: {"high_gamma": [70.0, 150.0], "broadband": [1.0, 150.0]})
    reference: str = "average"  # "average" (common average over good channels) or "none"
    test_fraction: float = 0.2

    def windows(self) -> list[tuple[float, float]]:
        if self.window_start < self.tmin:
            raise ValueError(f"window_start {self.window_start} lies before the epoch start tmin {self.tmin}")
        step = self.window_step or self.window_length
        starts = np.arange(self.window_start, self.tmax - self.window_length + 1e-9, step)
        return [(round(float(start), 6), round(float(start + self.window_length), 6)) for start in starts]


# ---------------------------------------------------------------------------------------------
# Sidecar tables
# ---------------------------------------------------------------------------------------------


def read_tsv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    if not path.exists():
        raise DataValidationError(path, "file", "a BIDS sidecar table", "no such file")
    try:
        table = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False)
    except Exception as exc:
        raise DataValidationError(path, "file", "a readable tab-separated table", exc) from exc
    missing = [name for name in required if name not in table.columns]
    if missing:
        raise DataValidationError(path, missing[0], f"columns {list(required)}", f"missing (has {list(table.columns)})")
    return table


def read_events(path: Path, options: IeegOptions) -> pd.DataFrame:
    """events.tsv rows of the chosen types, with ``stim_id``; onsets finite and in time order."""
    table = read_tsv(path, EVENT_COLUMNS)
    onsets = pd.to_numeric(table["onset"], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(onsets)):
        raise DataValidationError(
            path, "onset", "finite onsets in seconds", table["onset"][~np.isfinite(onsets)].iloc[0]
        )
    backwards = np.flatnonzero(np.diff(onsets) < 0)
    if backwards.size:
        row = int(backwards[0]) + 1
        raise DataValidationError(
            path, "onset", "onsets in increasing time order", f"{onsets[row]} after {onsets[row - 1]} (row {row})"
        )
    table = table.assign(onset=onsets, stim_id=[f"{kind}-{row:04d}" for row, kind in enumerate(table["trial_type"])])
    return table.loc[table["trial_type"].isin(options.event_types)].reset_index(drop=True)


def read_electrodes(path: Path) -> pd.DataFrame:
    """electrodes.tsv with x, y, z in mm (units from the coordsystem.json beside it)."""
    table = read_tsv(path, ELECTRODE_COLUMNS)
    coordsystem = _coordsystem_path(path)
    units = "mm"
    if coordsystem is not None:
        try:
            units = json.loads(coordsystem.read_text()).get("iEEGCoordinateUnits", "mm")
        except json.JSONDecodeError as exc:
            raise DataValidationError(coordsystem, "file", "valid JSON", exc) from exc
    if units not in UNIT_TO_MM:
        raise DataValidationError(coordsystem, "iEEGCoordinateUnits", f"one of {sorted(UNIT_TO_MM)}", units)
    xyz = table[["x", "y", "z"]].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "name": table["name"].astype(str),
            "x": xyz[:, 0] * UNIT_TO_MM[units],
            "y": xyz[:, 1] * UNIT_TO_MM[units],
            "z": xyz[:, 2] * UNIT_TO_MM[units],
        }
    )


def _coordsystem_path(electrodes: Path) -> Path | None:
    candidates = sorted(electrodes.parent.glob(electrodes.name.replace("_electrodes.tsv", "") + "*_coordsystem.json"))
    if not candidates:
        candidates = sorted(electrodes.parent.glob("*_coordsystem.json"))
    return candidates[0] if candidates else None


def _sidecar(bids_path, suffix: str, extension: str) -> Path:
    return Path(bids_path.copy().update(suffix=suffix, extension=extension).fpath)


def _electrodes_path(bids_path) -> Path:
    folder = Path(bids_path.fpath).parent
    matches = sorted(folder.glob(f"sub-{bids_path.subject}*_electrodes.tsv"))
    if not matches:
        raise DataValidationError(
            folder / f"sub-{bids_path.subject}_electrodes.tsv",
            "file",
            "an electrodes.tsv for the subject",
            "no such file",
        )
    return matches[0]


# ---------------------------------------------------------------------------------------------
# One recording
# ---------------------------------------------------------------------------------------------


@dataclass
class Recording:
    """A checked recording: the good recording channels, their positions (mm) and the events."""

    bids_path: object
    channels: list[str]
    positions: np.ndarray
    events: pd.DataFrame


def check_recording(bids_path, options: IeegOptions) -> Recording:
    """Validate the sidecars of one recording (nothing is read from the data file yet)."""
    channels_tsv = _sidecar(bids_path, "channels", ".tsv")
    channels = read_tsv(channels_tsv, CHANNEL_COLUMNS)
    status = channels["status"] if "status" in channels else pd.Series("good", index=channels.index)
    keep = channels["type"].astype(str).str.upper().isin(RECORDING_TYPES) & (status.fillna("good") != "bad")
    names = channels.loc[keep, "name"].astype(str).tolist()
    if not names:
        raise DataValidationError(
            channels_tsv, "type/status", f"at least one good channel of type {RECORDING_TYPES}", "none"
        )
    electrodes_tsv = _electrodes_path(bids_path)
    electrodes = read_electrodes(electrodes_tsv).set_index("name")
    absent = [name for name in names if name not in electrodes.index]
    if absent:
        raise DataValidationError(
            electrodes_tsv, "name", "a row for every recording channel in channels.tsv", f"no row for {absent[0]!r}"
        )
    positions = electrodes.loc[names, ["x", "y", "z"]].to_numpy(dtype=float)
    if not np.all(np.isfinite(positions)):
        bad = names[int(np.flatnonzero(~np.isfinite(positions).all(1))[0])]
        raise DataValidationError(
            electrodes_tsv, "x/y/z", "finite coordinates for every recording channel", f"n/a for {bad!r}"
        )
    events = read_events(_sidecar(bids_path, "events", ".tsv"), options)
    if events.empty:
        raise DataValidationError(
            _sidecar(bids_path, "events", ".tsv"), "trial_type", f"events of types {list(options.event_types)}", "none"
        )
    return Recording(bids_path, names, positions, events)


def read_raw(recording: Recording, options: IeegOptions):
    """The good channels' data, checked for completeness, finiteness, band limits and event times."""
    import mne
    import mne_bids

    data_path = Path(recording.bids_path.fpath)
    try:
        raw = mne_bids.read_raw_bids(recording.bids_path, verbose="error")
        raw.pick(recording.channels).load_data(verbose="error")
    except Exception as exc:  # truncated binaries and broken headers raise many types in mne
        raise DataValidationError(data_path, "data", "a complete, readable recording", exc) from exc
    data = raw.get_data()
    if not np.all(np.isfinite(data)):
        raise DataValidationError(data_path, "data", "finite samples", "NaN or inf")
    nyquist = raw.info["sfreq"] / 2.0
    for name, (low, high) in options.bands.items():
        if not 0 < low < high < nyquist:
            raise DataValidationError(
                data_path, "sampling_frequency", f"a Nyquist above band {name} ({low}-{high} Hz)", f"{nyquist} Hz"
            )
    duration = raw.n_times / raw.info["sfreq"]
    _check_duration(recording.bids_path, data_path, duration, raw.info["sfreq"])
    late = recording.events["onset"] + options.tmax > duration
    early = recording.events["onset"] + options.tmin < 0
    if (late | early).any():
        onset = recording.events.loc[late | early, "onset"].iloc[0]
        raise DataValidationError(
            _sidecar(recording.bids_path, "events", ".tsv"),
            "onset",
            f"epochs [{options.tmin}, {options.tmax}] s around onsets inside the {duration:.2f} s recording",
            onset,
        )
    raw.set_annotations(mne.Annotations([], [], []))  # the events come from events.tsv, checked above
    if options.reference == "average":
        raw.set_eeg_reference("average", ch_type=raw.get_channel_types()[0], verbose="error")
    return raw


def _check_duration(bids_path, data_path: Path, duration: float, sfreq: float) -> None:
    """A truncated binary still reads (shorter); the sidecar's RecordingDuration tells."""
    sidecar = _sidecar(bids_path, bids_path.suffix or "ieeg", ".json")
    if not sidecar.exists():
        return
    try:
        expected = json.loads(sidecar.read_text()).get("RecordingDuration")
    except json.JSONDecodeError as exc:
        raise DataValidationError(sidecar, "file", "valid JSON", exc) from exc
    if isinstance(expected, (int, float)) and abs(expected - duration) > 1.5 / sfreq:
        raise DataValidationError(
            data_path, "data", f"{expected} s of samples (RecordingDuration in {sidecar.name})", f"{duration:.3f} s"
        )


def band_epochs(
    raw, events: pd.DataFrame, band: tuple[float, float], options: IeegOptions
) -> tuple[np.ndarray, np.ndarray]:
    """Baseline-corrected log amplitude in one band: (n_events, n_channels, n_times) and the times."""
    import mne

    envelope = raw.copy().filter(band[0], band[1], verbose="error").apply_hilbert(envelope=True, verbose="error")
    # Relative to each channel's mean over the recording, so channels with different gains compare.
    envelope.apply_function(lambda x: np.log(np.maximum(x, 1e-30) / x.mean()), verbose="error")
    samples = raw.first_samp + np.round(events["onset"].to_numpy() * raw.info["sfreq"]).astype(int)
    mne_events = np.column_stack([samples, np.zeros_like(samples), np.ones_like(samples)])
    epochs = mne.Epochs(
        envelope,
        mne_events,
        tmin=options.tmin,
        tmax=options.tmax,
        baseline=None if options.baseline is None else tuple(options.baseline),
        preload=True,
        reject_by_annotation=False,
        event_repeated="merge",
        verbose="error",
    )
    if len(epochs) != len(events):
        raise DataValidationError(
            Path(raw.filenames[0]),
            "events",
            "one epoch per event (distinct samples)",
            f"{len(epochs)} of {len(events)}",
        )
    return epochs.get_data(), epochs.times


def _window_means(data: np.ndarray, times: np.ndarray, windows) -> np.ndarray:
    """(n_events, n_channels, n_windows) means over [start, end) windows."""
    columns = [data[:, :, (times >= start) & (times < end)].mean(axis=2) for start, end in windows]
    return np.stack(columns, axis=2)


def assign_split(events: pd.DataFrame, test_fraction: float) -> np.ndarray:
    """The last ``test_fraction`` of each event type, in time, is test."""
    split = np.full(len(events), "train", dtype=object)
    for _, group in events.groupby("trial_type", sort=True):
        n_test = int(round(test_fraction * len(group)))
        if n_test:
            split[group.sort_values("onset", kind="stable").index[-n_test:]] = "test"
    return split.astype(str)


def recording_features(recording: Recording, options: IeegOptions, subject: str) -> tuple[BrainResponses, pd.DataFrame]:
    raw = read_raw(recording, options)
    events = recording.events
    split = assign_split(events, options.test_fraction)
    band_names = list(options.bands)
    responses, tables = [], []
    windows = options.windows()
    for band in band_names:
        data, times = band_epochs(raw, events, options.bands[band], options)
        responses.append(_window_means(data, times, [options.response_window])[:, :, 0])
        tables.append(
            _feature_table(
                _window_means(data, times, windows), windows, events, split, recording.channels, band, subject
            )
        )
    n_channels, n_bands = len(recording.channels), len(band_names)
    # electrode-major: unit k is electrode k // n_bands in band k % n_bands
    stacked = np.stack(responses, axis=2).reshape(len(events), n_channels * n_bands)
    unit_band = np.tile(np.arange(n_bands), n_channels)
    data = BrainResponses(
        responses=stacked.astype(np.float32),
        stim_ids=events["stim_id"].to_numpy(dtype=str),
        split=split,
        noise_ceiling=np.full(n_channels * n_bands, np.nan, dtype=np.float32),
        rois={f"band:{name}": unit_band == b for b, name in enumerate(band_names)},
        electrode_names=np.repeat(np.asarray(recording.channels), n_bands),
        electrode_positions=np.repeat(recording.positions, n_bands, axis=0),
        attrs={
            "subject": subject,
            "units": "electrode x band, electrode-major; ROI 'band:<name>' marks a band's units",
            "bands": json.dumps(options.bands),
            "value": f"mean log band amplitude (baseline {options.baseline}) over {list(options.response_window)} s",
            "noise_ceiling": "NaN: no repeated events",
            "source": str(recording.bids_path.fpath),
        },
    )
    return data, pd.concat(tables, ignore_index=True)


def _feature_table(values, windows, events, split, channels, band, subject) -> pd.DataFrame:
    n_events, n_channels, n_windows = values.shape
    event_index = np.repeat(np.arange(n_events), n_channels * n_windows)
    return pd.DataFrame(
        {
            "subject": subject,
            "stim_id": events["stim_id"].to_numpy()[event_index],
            "trial_type": events["trial_type"].to_numpy()[event_index],
            "onset": events["onset"].to_numpy()[event_index],
            "split": split[event_index],
            "channel": np.tile(np.repeat(np.asarray(channels), n_windows), n_events),
            "band": band,
            "window_start": np.tile([w[0] for w in windows], n_events * n_channels),
            "window_end": np.tile([w[1] for w in windows], n_events * n_channels),
            "value": values.reshape(-1).astype(np.float32),
        }
    )


# ---------------------------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------------------------


def find_recordings(root: str | os.PathLike, options: IeegOptions, subject: str | None = None) -> dict[str, list]:
    """subject -> its iEEG recordings (BIDSPaths), from the BIDS tree (only ``subject``'s when given)."""
    import mne_bids

    root = Path(root)
    if not (root / "dataset_description.json").exists():
        raise DataValidationError(root / "dataset_description.json", "file", "a BIDS dataset root", "no such file")
    paths = mne_bids.find_matching_paths(
        root,
        subjects=subject,
        datatypes="ieeg",
        suffixes="ieeg",
        tasks=options.task,
        extensions=[".vhdr", ".edf", ".bdf", ".set", ".nwb"],
    )
    recordings: dict[str, list] = {}
    for path in sorted(paths, key=lambda p: str(p.fpath)):
        recordings.setdefault(path.subject, []).append(path)
    if not recordings:
        where = f"sub-{subject}/[ses-*/]ieeg/*_ieeg.*" if subject else "sub-*/[ses-*/]ieeg/*_ieeg.*"
        raise DataValidationError(root, "ieeg", f"at least one iEEG recording ({where})", "none found")
    return recordings


def check_subject(paths: list, options: IeegOptions) -> list[Recording]:
    """A subject's recordings checked from their sidecars, the stim ids of several runs prefixed
    ``run<k>_`` so that they stay unique within the subject."""
    recordings = [check_recording(path, options) for path in paths]
    if len(recordings) > 1:
        for number, recording in enumerate(recordings):
            recording.events["stim_id"] = f"run{number + 1}_" + recording.events["stim_id"]
    return recordings


def check_dataset(root: str | os.PathLike, options: IeegOptions) -> dict[str, list[Recording]]:
    """Every subject's checked recordings (sidecars only; the data are read per subject later)."""
    return {subject: check_subject(paths, options) for subject, paths in find_recordings(root, options).items()}


def cohort_tables(checked: dict[str, list[Recording]], options: IeegOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``events.parquet`` (every event with its split and extra events.tsv columns) and
    ``electrodes.parquet`` of the whole dataset, from the checked sidecars alone."""
    event_tables, electrode_tables = [], []
    for subject, recordings in checked.items():
        event_tables += [recording.events.assign(subject=subject, split=assign_split(recording.events,
                                                                                     options.test_fraction))
                         for recording in recordings]
        first = recordings[0]
        electrode_tables.append(pd.DataFrame({"subject": subject, "name": first.channels, "x": first.positions[:, 0],
                                              "y": first.positions[:, 1], "z": first.positions[:, 2]}))
    events = pd.concat(event_tables, ignore_index=True)
    events = events[["subject", "stim_id"] + [c for c in events.columns if c not in ("subject", "stim_id")]]
    events = events.astype({c: "string" for c in events.columns if events[c].dtype == object})
    return events, pd.concat(electrode_tables, ignore_index=True)


def subject_contract(subject: str, recordings: list[Recording], options: IeegOptions) -> tuple[BrainResponses,
                                                                                                pd.DataFrame]:
    """One subject's responses (``<subject>.h5``) and window features (``<subject>.features.parquet``),
    its runs concatenated."""
    return _merge([recording_features(recording, options, subject) for recording in recordings], recordings)


def write_subject(responses_path, features_path, subject: str, recordings: list[Recording],
                  options: IeegOptions) -> None:
    responses, features = subject_contract(subject, recordings, options)
    write_brain_responses(responses_path, responses)
    write_parquet(features_path, features)


def ieeg_cohort(*, root: str | os.PathLike, subjects: str | os.PathLike, events: str | os.PathLike,
                electrodes: str | os.PathLike, settings: dict) -> list[str]:
    """Rule ``ieeg_cohort`` (a checkpoint): check every recording's sidecars under the BIDS ``root``,
    then write the ``subjects`` table (csv, one job each downstream), and the dataset's ``events``
    and ``electrodes`` tables (the loaded folder's events.parquet and electrodes.parquet)."""
    options = from_section(IeegOptions, settings, "datasets.ieeg")
    checked = check_dataset(root, options)
    event_table, electrode_table = cohort_tables(checked, options)
    write_csv(subjects, pd.DataFrame({"subject": list(checked)}))
    write_parquet(events, event_table)
    write_parquet(electrodes, electrode_table)
    logger.info("ieeg: %d subjects, %d events", len(checked), len(event_table))
    return list(checked)


def load_ieeg_subject(*, root: str | os.PathLike, subject: str, responses: str | os.PathLike,
                      features: str | os.PathLike, settings: dict) -> None:
    """Rule ``load_ieeg_subject``: the recordings of BIDS subject ``subject`` under ``root`` -> its
    ``responses`` (``<subject>.h5``) and window ``features`` (parquet)."""
    options = from_section(IeegOptions, settings, "datasets.ieeg")
    paths = find_recordings(root, options, subject)[subject]
    write_subject(responses, features, subject, check_subject(paths, options), options)


def load_ieeg(*, subjects: str | os.PathLike, events: str | os.PathLike, electrodes: str | os.PathLike,
              parts: list[str], brain: str | os.PathLike) -> None:
    """Rule ``load_ieeg`` (the gather): the folder ``brain`` with every subject's ``<subject>.h5``
    and ``<subject>.features.parquet`` from ``parts`` (rule ``load_ieeg_subject``), and the
    ``events`` and ``electrodes`` tables (rule ``ieeg_cohort``). Files are hard-linked where the
    file system allows (a copy otherwise)."""
    names = [f"{subject}{suffix}" for subject in table_subjects(subjects) for suffix in SUBJECT_FILES]
    gather_files(brain, {Path(part).name: Path(part) for part in parts}, names,
                 {"events.parquet": events, "electrodes.parquet": electrodes}, table=subjects,
                 expected="both contract files of every subject in the table")


def export_ieeg(
    root: str | os.PathLike, out_dir: str | os.PathLike, options: IeegOptions | None = None, dataset: str = "ieeg"
) -> pd.DataFrame:
    """The whole dataset in one process (the rules' three steps): check every recording's
    sidecars, then write the per-subject contract files and the dataset's tables; return the
    events table."""
    options = options or IeegOptions()
    checked = check_dataset(root, options)
    events, electrodes = cohort_tables(checked, options)
    with atomic_directory(out_dir) as temp:
        for subject, recordings in tqdm(list(checked.items()), desc=f"{dataset}: subjects", unit="subject"):
            write_subject(temp / f"{subject}.h5", temp / f"{subject}.features.parquet", subject, recordings, options)
        write_parquet(temp / "events.parquet", events)
        write_parquet(temp / "electrodes.parquet", electrodes)
    logger.info("%s: %d subjects, %d events", dataset, len(checked), len(events))
    return events


def _merge(parts, recordings) -> tuple[BrainResponses, pd.DataFrame]:
    if len(parts) == 1:
        return parts[0]
    first = parts[0][0]
    for (other, _), recording in zip(parts[1:], recordings[1:]):
        if not np.array_equal(other.electrode_names, first.electrode_names):
            raise DataValidationError(
                _sidecar(recording.bids_path, "channels", ".tsv"),
                "name",
                "the same good channels in every run of a subject",
                "different channels",
            )
    merged = BrainResponses(
        responses=np.concatenate([p[0].responses for p in parts]),
        stim_ids=np.concatenate([p[0].stim_ids for p in parts]),
        split=np.concatenate([p[0].split for p in parts]),
        noise_ceiling=first.noise_ceiling,
        rois=first.rois,
        electrode_names=first.electrode_names,
        electrode_positions=first.electrode_positions,
        attrs=first.attrs,
    )
    return merged, pd.concat([p[1] for p in parts], ignore_index=True)
