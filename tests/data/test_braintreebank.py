"""The Brain Treebank's release layout on a tiny synthetic set: converted to BIDS-iEEG, read by the
real iEEG loader and paired by the SEEG analysis; a missing or malformed release file is named and
nothing is written."""

import json
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from neurogaze.brain.seeg.events import pair_events
from neurogaze.data.braintreebank import (
    braintreebank_subjects,
    convert_braintreebank,
    convert_braintreebank_subject,
    export_braintreebank,
    movie_to_recording,
)
from neurogaze.data.ieeg import IeegOptions, export_ieeg
from neurogaze.errors import DataValidationError

SFREQ = 512.0
SETTINGS = {"subjects": None, "sfreq": SFREQ, "voltage_unit": 1e-6, "tmin": -0.2, "tmax": 0.6}
LABELS = ["T1a1*", "T1a2", "T1a3#", "T1a4", "DC1"]  # one marked label, one trigger channel


def write_release(root, scenes, seconds=40.0, start=5.0):
    """One subject, one trial: the movie starts ``start`` s into the recording (its triggers every
    second), words every 0.8 s in sentences of three, and a scene cut every 4 s."""
    rng = np.random.default_rng(0)
    n = int(seconds * SFREQ)
    with h5py.File(root / "sub_1_trial000.h5", "w") as handle:
        for i in range(len(LABELS)):
            handle.create_dataset(f"data/electrode_{i}", data=rng.normal(size=n) * 20.0)
    (root / "electrode_labels" / "sub_1").mkdir(parents=True)
    (root / "electrode_labels" / "sub_1" / "electrode_labels.json").write_text(json.dumps(LABELS))
    (root / "corrupted_elec.json").write_text(json.dumps({"sub_1": ["T1a4"]}))
    (root / "localization").mkdir()
    pd.DataFrame({"Subject": "sub_1", "Electrode": ["T1a1*", "T1a2", "T1a3", "T1a4"], "X": [40.0, 42, 44, 46],
                  "Y": [-20.0, -20, -20, -20], "Z": [5.0, 5, 5, 5]}).to_csv(root / "localization" /
                                                                         "elec_coords_full.csv", index=False)
    (root / "subject_metadata").mkdir()
    (root / "subject_metadata" / "sub_1_trial000_metadata.json").write_text(
        json.dumps({"title": "Tiny Movie", "filename": "tiny-movie"}))
    (root / "subject_timings").mkdir()
    movie_times = np.arange(0.0, seconds - start - 1.0)
    pd.DataFrame({"movie_time": movie_times, "index": ((movie_times + start) * SFREQ).astype(int)}).to_csv(
        root / "subject_timings" / "sub_1_trial000_timings.csv", index=False)
    (root / "transcripts" / "tiny-movie").mkdir(parents=True)
    starts = np.arange(0.5, seconds - start, 0.8)
    pd.DataFrame({"start": starts, "end": starts + 0.3, "text": [f"w{k}" for k in range(len(starts))],
                  "sentence": [k // 3 for k in range(len(starts))], "pos": "NOUN"}).to_csv(
        root / "transcripts" / "tiny-movie" / "features.csv")
    (scenes / "tiny-movie").mkdir(parents=True)
    cuts = np.arange(1.0, seconds - start, 4.0)
    for k in range(len(cuts)):
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(scenes / "tiny-movie" / f"cut{k}.png")
    pd.DataFrame({"time": cuts, "frame": [f"cut{k}.png" for k in range(len(cuts))]}).to_csv(
        scenes / "tiny-movie" / "scene_cuts.csv", index=False)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("braintreebank")
    (root / "release").mkdir()
    write_release(root / "release", root / "scenes")
    return root


def _copy(release, tmp_path):
    shutil.copytree(release / "release", tmp_path / "release")
    shutil.copytree(release / "scenes", tmp_path / "scenes")
    return tmp_path


def test_movie_times_map_to_samples_from_the_nearest_trigger():
    triggers = pd.DataFrame({"movie_time": [0.0, 1.0, 2.0], "index": [100, 612, 1130]})  # a 6-sample drift
    samples = movie_to_recording(np.array([0.2, 1.9, 2.0, 2.5]), triggers, 512.0)
    np.testing.assert_array_equal(samples[:3], [100 + round(0.2 * 512), 1130 - round(0.1 * 512), 1130])
    assert np.isnan(samples[3])  # after the last trigger


def test_the_release_converts_to_bids_that_the_loader_reads_and_the_analysis_pairs(release, tmp_path):
    export_braintreebank(release=release / "release", scenes=release / "scenes", bids=tmp_path / "bids",
                          settings=SETTINGS)
    channels = pd.read_csv(next((tmp_path / "bids").rglob("*_channels.tsv")), sep="\t").set_index("name")
    assert list(channels.index) == ["T1a1", "T1a2", "T1a3", "T1a4"]  # marks stripped, trigger left out
    assert channels.loc["T1a4", "status"] == "bad"
    options = IeegOptions(tmin=-0.2, tmax=0.6, baseline=None, window_length=0.2, window_step=0.1)
    events = export_ieeg(tmp_path / "bids", tmp_path / "brain", options)
    words = events.loc[events["trial_type"] == "word"]
    # the movie starts 5 s into the recording: word onsets move by 5 s
    assert np.allclose(words["onset"].iloc[:3], np.round((np.array([0.5, 1.3, 2.1]) + 5.0) * SFREQ) / SFREQ)
    assert words["sentence"].iloc[0] == "w0 w1 w2" and words["sentence"].iloc[3] == "w3 w4 w5"
    assert set(pd.read_parquet(tmp_path / "brain" / "electrodes.parquet")["name"]) == {"T1a1", "T1a2", "T1a3"}
    pairs = pair_events(events, tmp_path / "bids" / "stimuli", tmp_path / "brain" / "events.parquet")
    assert set(pairs["alignment"]) == {"language", "vision"}
    assert pairs["frame"].str.startswith("frames/tiny-movie/cut").all()


@pytest.mark.parametrize("breaks, path, field", [
    (lambda r: (r / "release" / "subject_timings" / "sub_1_trial000_timings.csv").write_text("movie_time\n1.0\n"),
     "sub_1_trial000_timings.csv", "index"),
    (lambda r: (r / "scenes" / "tiny-movie" / "cut1.png").unlink(), "cut1.png", "frame"),
    (lambda r: (r / "release" / "subject_metadata" / "sub_1_trial000_metadata.json").write_text("{}"),
     "sub_1_trial000_metadata.json", "filename"),
    (lambda r: (r / "release" / "electrode_labels" / "sub_1" / "electrode_labels.json").write_text(
        json.dumps(LABELS + ["T1a5"])), "sub_1_trial000.h5", "data/electrode_5"),
])
def test_a_broken_release_file_is_named_and_nothing_is_written(release, tmp_path, breaks, path, field):
    root = _copy(release, tmp_path)
    breaks(root)
    with pytest.raises(DataValidationError) as error:
        export_braintreebank(release=root / "release", scenes=root / "scenes", bids=root / "bids",
                              settings=SETTINGS)
    assert error.value.path.endswith(path) and error.value.field == field
    assert not (root / "bids").exists()


def _second_subject(release):
    """Subject 2 of the release: subject 1's recording, labels, coordinates and timings, watching
    the same movie (so both parts hold its frames)."""
    for name in ("sub_{}_trial000.h5", "subject_metadata/sub_{}_trial000_metadata.json",
                 "subject_timings/sub_{}_trial000_timings.csv"):
        shutil.copy(release / name.format(1), release / name.format(2))
    shutil.copytree(release / "electrode_labels" / "sub_1", release / "electrode_labels" / "sub_2")
    coords = pd.read_csv(release / "localization" / "elec_coords_full.csv")
    pd.concat([coords, coords.assign(Subject="sub_2", X=coords["X"] + 1.0)]).to_csv(
        release / "localization" / "elec_coords_full.csv", index=False)


def test_one_job_per_subject_then_the_gather_is_the_single_process_root(release, tmp_path):
    """braintreebank_subjects -> convert_braintreebank_subject per subject -> convert_braintreebank
    writes the bytes export_braintreebank writes in one process, file for file."""
    root = _copy(release, tmp_path)
    _second_subject(root / "release")
    files = {"release": root / "release", "scenes": root / "scenes", "settings": SETTINGS}
    export_braintreebank(**files, bids=tmp_path / "whole")
    subjects = braintreebank_subjects(**files, subjects=tmp_path / "parts" / "subjects.csv")
    assert subjects == ["1", "2"]
    for subject in subjects:
        convert_braintreebank_subject(**files, subject=subject, part=tmp_path / "parts" / subject)
    table, fanned = tmp_path / "parts" / "subjects.csv", tmp_path / "fanned"
    with pytest.raises(DataValidationError, match="missing"):  # a subject short: named, nothing written
        convert_braintreebank(subjects=table, parts=[str(tmp_path / "parts" / "1")], bids=fanned)
    assert not fanned.exists()
    convert_braintreebank(subjects=table, parts=[str(tmp_path / "parts" / s) for s in subjects], bids=fanned)
    whole = {str(p.relative_to(tmp_path / "whole")): p for p in (tmp_path / "whole").rglob("*") if p.is_file()}
    parts = {str(p.relative_to(fanned)): p for p in fanned.rglob("*") if p.is_file()}
    assert sorted(whole) == sorted(parts) and "sub-02/sub-02_scans.tsv" in whole
    assert [name for name in sorted(whole) if whole[name].read_bytes() != parts[name].read_bytes()] == []
