"""The Brain Treebank's release layout (Wang et al. 2023) -> the BIDS-iEEG layout ``load_ieeg`` reads.

The release (braintreebank.dev; the layout as the BrainBERT, PopT and Neuroprobe loaders read it):

* ``sub_<N>_trial<TTT>.h5``: group ``data`` with one 1-D dataset ``electrode_<i>`` per contact,
  ``i`` the contact's position in ``electrode_labels/sub_<N>/electrode_labels.json`` (a JSON list
  of labels; ``*`` and ``#`` marks are stripped); 2048 Hz;
* ``corrupted_elec.json``: ``{"sub_<N>": [labels]}``; labels starting ``DC`` or ``TRIG`` are
  trigger channels, not brain;
* ``localization/elec_coords_full.csv``: ``Subject`` (``sub_<N>``), ``Electrode``, ``X``, ``Y``,
  ``Z`` (mm, standardised atlas coordinates; read here as MNI space, which the release does not
  state) and ``localization/sub_<N>/depth-wm.csv`` (``Electrode``, ``L``, ``P``, ``I``,
  ``DesikanKilliany``: subject space, not read here);
* ``subject_timings/sub_<N>_trial<TTT>_timings.csv``: the movie's triggers, ``movie_time`` (s in
  the movie) and ``index`` (the sample of the recording);
* ``subject_metadata/sub_<N>_trial<TTT>_metadata.json``: ``filename``, the movie's id (its
  transcript folder) and ``title``;
* ``transcripts/<movie>/features.csv``: one row per word, ``start``/``end`` (s in the movie),
  ``text`` and ``sentence`` (the same value for the words of one sentence), with many other
  annotations (``pos``, ``is_onset``, ``idx_in_sentence``, ``rms``, ``face_num``, optical flow...).

The release has no movie files and no scene cuts (the movies are commercial films). The
vision-aligned analysis needs both, so ``scenes`` is a folder the user makes from their copy of
each movie (our layout): ``<scenes>/<movie>/scene_cuts.csv`` with ``time`` (s in the movie) and
``frame`` (an image file beside it, the frame shown after the cut).

Conversion, per subject and trial (BIDS subject ``<N>`` zero-padded to 2 digits, run ``T + 1``,
task ``movie``): the contacts' voltages (``voltage_unit`` V per stored unit) as BrainVision;
trigger channels left out, corrupted contacts and contacts without coordinates ``bad`` in
channels.tsv; events.tsv with each word (``trial_type`` word, its ``sentence``: the words of one
``sentence`` value joined by spaces) and each scene cut (``scene_cut``, ``stim_file``
``frames/<movie>/<frame>``, the frame copied under the BIDS root's ``stimuli/``). Movie times
become recording times as the reference pipelines do: the nearest trigger's sample plus the time
since it at ``sfreq``; events after the last trigger, or whose ``[tmin, tmax]`` epoch leaves the
recording, are left out (logged). Everything is checked before anything is written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from neurogaze.errors import DataValidationError
from neurogaze.io import atomic_directory, link_or_copy, write_csv
from neurogaze.shards import table_subjects

logger = logging.getLogger(__name__)

TRIGGER_PREFIXES = ("DC", "TRIG")
TASK = "movie"
EVENT_CODES = {"scene_cut": 1, "word": 2}
PARTICIPANTS = "participants.tsv"  # mne-bids' table of the subjects, a row each
TRIAL_PATTERN = re.compile(r"^sub_(\d+)_trial(\d+)_metadata\.json$")


@dataclass
class Trial:
    """One checked recording of the release, ready to write."""

    subject: int
    trial: int
    movie: str
    channels: list[str]
    bad: list[str]
    positions: dict[str, np.ndarray]  # mm
    data_path: Path
    indices: list[int]  # each channel's electrode_<i> in the h5 file
    events: pd.DataFrame  # onset (s of the recording), trial_type, stim_file, sentence, word
    frames: dict[str, Path]  # name under stimuli/frames/<movie>/ -> the user's file


def clean_label(label: str) -> str:
    return str(label).replace("*", "").replace("#", "")


def _read_json(path: Path, what: str):
    if not path.is_file():
        raise DataValidationError(path, "file", what, "no such file")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataValidationError(path, "file", f"valid JSON ({what})", exc) from exc


def _read_csv(path: Path, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataValidationError(path, "file", what, "no such file")
    table = pd.read_csv(path)
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise DataValidationError(path, missing[0], f"columns {list(columns)} ({what})",
                                  f"missing (has {list(table.columns)})")
    return table


def find_trials(release: Path, subjects: list | None) -> list[tuple[int, int]]:
    folder = release / "subject_metadata"
    found = sorted((int(m.group(1)), int(m.group(2))) for path in sorted(folder.glob("*_metadata.json"))
                   if (m := TRIAL_PATTERN.match(path.name)))
    if subjects is not None:
        found = [(subject, trial) for subject, trial in found if subject in {int(s) for s in subjects}]
    if not found:
        raise DataValidationError(folder, "file", "sub_<N>_trial<TTT>_metadata.json of the chosen subjects", "none")
    return found


def movie_to_recording(times: np.ndarray, triggers: pd.DataFrame, sfreq: float) -> np.ndarray:
    """Recording samples of movie times: the nearest trigger's sample plus the time since it
    (NaN after the last trigger)."""
    movie, samples = triggers["movie_time"].to_numpy(float), triggers["index"].to_numpy(float)
    nearest = np.abs(times[:, None] - movie[None, :]).argmin(axis=1)
    out = np.round(samples[nearest] + (times - movie[nearest]) * sfreq)
    return np.where(times > movie.max(), np.nan, out)


def _words(release: Path, movie: str) -> pd.DataFrame:
    path = release / "transcripts" / movie / "features.csv"
    table = _read_csv(path, ("start", "text", "sentence"), "the movie's words with their onsets")
    table = table.loc[pd.to_numeric(table["start"], errors="coerce").notna()].reset_index(drop=True)
    # one sentence: a run of consecutive words sharing the sentence value
    run = (table["sentence"] != table["sentence"].shift()).cumsum()
    text = table.groupby(run)["text"].transform(lambda words: " ".join(str(w) for w in words))
    return pd.DataFrame({"time": table["start"].astype(float), "trial_type": "word", "stim_file": pd.NA,
                         "sentence": text, "word": table["text"].astype(str)})


def _cuts(scenes: Path, movie: str) -> tuple[pd.DataFrame, dict[str, Path]]:
    path = scenes / movie / "scene_cuts.csv"
    table = _read_csv(path, ("time", "frame"), "the movie's scene cuts and their frames (not in the release)")
    frames = {str(frame): scenes / movie / str(frame) for frame in table["frame"]}
    absent = [frame for frame in frames.values() if not frame.is_file()]
    if absent:
        raise DataValidationError(absent[0], "frame", f"the frame files named in {path}", "no such file")
    cuts = pd.DataFrame({"time": table["time"].astype(float), "trial_type": "scene_cut",
                         "stim_file": [f"frames/{movie}/{frame}" for frame in table["frame"]], "sentence": pd.NA,
                         "word": pd.NA})
    return cuts, frames


def _channels(release: Path, subject: int) -> tuple[list[str], list[int], list[str], dict[str, np.ndarray]]:
    """Brain contacts (labels and their h5 positions), the bad ones and the known positions."""
    key = f"sub_{subject}"
    labels = [clean_label(label) for label in _read_json(
        release / "electrode_labels" / key / "electrode_labels.json", "the subject's contact labels")]
    corrupted = _read_json(release / "corrupted_elec.json", "the corrupted contacts of every subject")
    corrupted = {clean_label(label) for label in corrupted.get(key, [])}
    coords_path = release / "localization" / "elec_coords_full.csv"
    coords = _read_csv(coords_path, ("Subject", "Electrode", "X", "Y", "Z"), "every contact's coordinates")
    coords = coords.loc[coords["Subject"] == key].assign(Electrode=lambda t: t["Electrode"].map(clean_label))
    positions = {row.Electrode: np.array([row.X, row.Y, row.Z], dtype=float) for row in coords.itertuples()}
    brain = [(i, label) for i, label in enumerate(labels) if not label.upper().startswith(TRIGGER_PREFIXES)]
    names = [label for _, label in brain]
    bad = [name for name in names if name in corrupted or not np.all(np.isfinite(positions.get(name, np.nan)))]
    return names, [i for i, _ in brain], bad, positions


def _check_data(path: Path, indices: list[int], names: list[str]) -> int:
    """The number of samples, after checking every contact's dataset (nothing is read yet)."""
    if not path.is_file():
        raise DataValidationError(path, "file", "the trial's neural data (h5)", "no such file")
    with h5py.File(path, "r") as handle:
        if "data" not in handle:
            raise DataValidationError(path, "data", "a group 'data' of electrode_<i> datasets", "missing")
        group = handle["data"]
        for i, name in zip(indices, names):
            if f"electrode_{i}" not in group:
                raise DataValidationError(path, f"data/electrode_{i}", "a dataset for every labelled contact",
                                          f"missing (contact {name!r})")
        lengths = {group[f"electrode_{i}"].shape[0] for i in indices}
    if len(lengths) != 1:
        raise DataValidationError(path, "data", "contacts of one length", sorted(lengths))
    return lengths.pop()


def read_data(trial: Trial, voltage_unit: float) -> np.ndarray:
    """(channels, samples) in volts; one trial at a time (the whole recording is held, as mne's
    filters and the loader hold it)."""
    with h5py.File(trial.data_path, "r") as handle:
        return np.stack([handle["data"][f"electrode_{i}"][:] for i in trial.indices]).astype(np.float64) * voltage_unit


def read_trial(release: Path, scenes: Path, subject: int, trial: int, settings: dict) -> Trial:
    stem = f"sub_{subject}_trial{trial:03d}"
    metadata_path = release / "subject_metadata" / f"{stem}_metadata.json"
    metadata = _read_json(metadata_path, "the trial's metadata")
    if not metadata.get("filename"):
        raise DataValidationError(metadata_path, "filename", "the movie's id (its transcripts folder)", "missing")
    movie = str(metadata["filename"])
    triggers = _read_csv(release / "subject_timings" / f"{stem}_timings.csv", ("movie_time", "index"),
                         "the movie triggers' times and samples")
    names, indices, bad, positions = _channels(release, subject)
    n_samples = _check_data(release / f"{stem}.h5", indices, names)
    words = _words(release, movie)
    cuts, frames = _cuts(scenes, movie)
    events = pd.concat([words, cuts], ignore_index=True)
    sfreq = float(settings["sfreq"])
    samples = movie_to_recording(events["time"].to_numpy(), triggers, sfreq)
    inside = (samples + settings["tmin"] * sfreq >= 0) & (samples + settings["tmax"] * sfreq < n_samples)
    if (~inside).any():
        logger.info("%s: %d of %d events outside the triggers or too near the recording's ends left out", stem,
                    int((~inside).sum()), len(events))
    events = events.assign(onset=samples / sfreq).loc[inside].sort_values("onset", kind="stable")
    if events.empty:
        raise DataValidationError(release / "subject_timings" / f"{stem}_timings.csv", "movie_time",
                                  "triggers that place the movie's events inside the recording", "none inside")
    return Trial(subject, trial, movie, names, bad, positions, release / f"{stem}.h5", indices,
                 events.reset_index(drop=True), frames)


def write_trial(root: Path, trial: Trial, settings: dict, bids_format: str = "BrainVision") -> None:
    import mne
    import mne_bids

    sfreq = float(settings["sfreq"])
    data = read_data(trial, settings["voltage_unit"])
    raw = mne.io.RawArray(data, mne.create_info(trial.channels, sfreq, "seeg"), verbose="error")
    known = {name: trial.positions[name] / 1000.0 for name in trial.channels if name not in trial.bad}
    raw.set_montage(mne.channels.make_dig_montage(ch_pos=known, coord_frame="mni_tal"), on_missing="ignore",
                    verbose="error")
    raw.info["bads"] = list(trial.bad)
    samples = np.round(trial.events["onset"].to_numpy() * sfreq).astype(int)
    codes = trial.events["trial_type"].map(EVENT_CODES).to_numpy()
    path = mne_bids.BIDSPath(subject=f"{trial.subject:02d}", task=TASK, run=trial.trial + 1, datatype="ieeg",
                             root=root, space="MNI152NLin2009aSym")
    mne_bids.write_raw_bids(raw, path, events=np.column_stack([samples, np.zeros_like(samples), codes]),
                            event_id=EVENT_CODES, format=bids_format, allow_preload=True, overwrite=True,
                            verbose="error")
    events_tsv = Path(path.copy().update(suffix="events", extension=".tsv").fpath)
    written = pd.read_csv(events_tsv, sep="\t")
    for column in ("stim_file", "sentence", "word"):
        written[column] = trial.events[column].astype(object).where(trial.events[column].notna(), "n/a").to_numpy()
    written.to_csv(events_tsv, sep="\t", index=False, na_rep="n/a")
    for name, source in trial.frames.items():
        target = root / "stimuli" / "frames" / trial.movie / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def check_release(release: Path, scenes: Path, settings: dict, subjects: list | None) -> list[Trial]:
    """Every trial of ``subjects`` (None: all) read from the release's tables and headers."""
    return [read_trial(release, scenes, subject, trial, settings) for subject, trial in find_trials(release, subjects)]


def braintreebank_subjects(*, release: str | os.PathLike, scenes: str | os.PathLike, subjects: str | os.PathLike,
                           settings: dict) -> list[str]:
    """Rule ``braintreebank_subjects`` (a checkpoint): check every trial of ``settings['subjects']``
    (null: all) of the release from its tables and headers (nothing is converted yet), then write the
    ``subjects`` table (csv, the release's subject numbers, one job each downstream)."""
    trials = check_release(Path(release), Path(scenes), settings, settings.get("subjects"))
    numbers = [str(number) for number in dict.fromkeys(trial.subject for trial in trials)]
    write_csv(subjects, pd.DataFrame({"subject": numbers}))
    logger.info("brain treebank: %d trials of subjects %s", len(trials), ", ".join(numbers))
    return numbers


def convert_braintreebank_subject(*, release: str | os.PathLike, scenes: str | os.PathLike, subject: str,
                                  part: str | os.PathLike, settings: dict) -> None:
    """Rule ``convert_braintreebank_subject``: every trial of release subject ``subject`` -> a
    BIDS-iEEG root ``part`` holding that subject alone."""
    trials = check_release(Path(release), Path(scenes), settings, [int(subject)])
    with atomic_directory(part) as temp:
        for trial in trials:
            write_trial(temp, trial, settings)


def convert_braintreebank(*, subjects: str | os.PathLike, parts: list[str], bids: str | os.PathLike) -> None:
    """Rule ``convert_braintreebank`` (the gather): the one-subject BIDS roots ``parts`` (rule
    ``convert_braintreebank_subject``, one per row of ``subjects``) -> one BIDS-iEEG root ``bids``:
    each subject's folder, the frames and the dataset files (the same in every part) linked, the
    participants' rows in the table's order."""
    found = {Path(part).name: Path(part) for part in parts}
    numbers = table_subjects(subjects)
    missing = [number for number in numbers if number not in found]
    if missing:
        raise DataValidationError(subjects, "subject", "a converted folder for every subject of the table",
                                  f"missing {missing[:5]}")
    rows = []
    with atomic_directory(bids) as temp:
        for number in numbers:
            part = found[number]
            lines = (part / PARTICIPANTS).read_text().splitlines(keepends=True)
            rows += lines[1:] if rows else lines
            for path in sorted(part.rglob("*")):
                target = temp / path.relative_to(part)
                if path.is_dir() or path.name == PARTICIPANTS or target.exists():
                    continue  # the frames of a movie several subjects watched, the dataset files: once
                target.parent.mkdir(parents=True, exist_ok=True)
                link_or_copy(path, target)
        (temp / PARTICIPANTS).write_text("".join(rows))


def export_braintreebank(*, release: str | os.PathLike, scenes: str | os.PathLike, bids: str | os.PathLike,
                         settings: dict) -> list[tuple[int, int]]:
    """The rules' three steps in one process: every trial of ``settings['subjects']`` (null: all)
    of the release -> one BIDS-iEEG root ``bids`` (see the module docstring); returns the trials."""
    trials = check_release(Path(release), Path(scenes), settings, settings.get("subjects"))
    with atomic_directory(bids) as temp:
        for trial in trials:
            write_trial(temp, trial, settings)
    return [(trial.subject, trial.trial) for trial in trials]
