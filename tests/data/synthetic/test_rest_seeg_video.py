"""The resting-state, SEEG and video generators: seeded, in the real layouts, truth written."""

import json

import nibabel as nib
import numpy as np
import pandas as pd

from neurogaze.data.synthetic.adhd200 import (
    PlantedRegion,
    SyntheticAdhd200Config,
    generate_adhd200,
)
from neurogaze.data.synthetic.ieeg import SyntheticIeegConfig, generate_ieeg
from neurogaze.data.synthetic.video import SyntheticVideoConfig, generate_video, moving_photo


def _nifti_data(root, pattern):
    return [np.asarray(nib.load(path).dataobj) for path in sorted(root.glob(pattern))]


def test_adhd200_generator_is_seeded_and_athena_shaped(tmp_path):
    config = SyntheticAdhd200Config(n_subjects=4, n_timepoints=30, sites=("KKI", "NYU"), seed=7)
    first = generate_adhd200(tmp_path / "a", config)
    second = generate_adhd200(tmp_path / "b", config)
    assert first == second
    for a, b in zip(_nifti_data(tmp_path / "a", "*/*/*.nii.gz"), _nifti_data(tmp_path / "b", "*/*/*.nii.gz")):
        np.testing.assert_array_equal(a, b)
    other = generate_adhd200(
        tmp_path / "c", SyntheticAdhd200Config(n_subjects=4, n_timepoints=30, sites=("KKI", "NYU"), seed=8)
    )
    assert not np.array_equal(
        _nifti_data(tmp_path / "a", "*/*/*.nii.gz")[0], _nifti_data(tmp_path / "c", "*/*/*.nii.gz")[0]
    )
    assert other["params"]["seed"] == 8
    for site in ("KKI", "NYU"):
        table = pd.read_csv(tmp_path / "a" / site / f"{site}_phenotypic.csv")
        assert {"ScanDir ID", "Site", "Gender", "Age", "DX"} <= set(table.columns)
    assert json.loads((tmp_path / "a" / "ground_truth.json").read_text()) == first
    image = nib.load(sorted((tmp_path / "a").glob("*/*/*.nii.gz"))[0])
    assert image.shape[3] == 30 and image.header.get_zooms()[3] == 2.0


def test_adhd200_regions_are_configurable(tmp_path):
    region = PlantedRegion("left_motor", (-38.0, -22.0, 56.0), 16.0, 0.2, 0.9)
    truth = generate_adhd200(
        tmp_path / "a", SyntheticAdhd200Config(n_subjects=4, n_timepoints=30, regions=(region,), seed=1)
    )
    assert [r["name"] for r in truth["regions"]] == ["left_motor"]
    assert truth["regions"][0]["direction"] == "stronger_in_adhd" and truth["regions"][0]["n_voxels"] >= 3
    assert sum(s["diagnosis"] == "ADHD" for s in truth["subjects"].values()) == 2


def test_ieeg_generator_is_seeded_and_bids(tmp_path):
    config = SyntheticIeegConfig(n_subjects=1, duration_s=20.0, contacts_per_shaft=3, seed=3)
    first = generate_ieeg(tmp_path / "a", config)
    assert first == generate_ieeg(tmp_path / "b", config)
    a = (next((tmp_path / "a").glob("sub-01/ieeg/*_ieeg.eeg"))).read_bytes()
    b = (next((tmp_path / "b").glob("sub-01/ieeg/*_ieeg.eeg"))).read_bytes()
    assert a == b
    for suffix in ("channels.tsv", "electrodes.tsv", "events.tsv", "coordsystem.json", "ieeg.vhdr"):
        assert list((tmp_path / "a").glob(f"sub-01/ieeg/*_{suffix}")), suffix
    events = pd.read_csv(next((tmp_path / "a").glob("sub-01/ieeg/*_events.tsv")), sep="\t")
    assert {"onset", "duration", "trial_type", "word", "scene"} <= set(events.columns)
    channels = pd.read_csv(next((tmp_path / "a").glob("sub-01/ieeg/*_channels.tsv")), sep="\t")
    assert channels.loc[channels["status"] == "bad", "name"].tolist() == first["subjects"]["01"]["bad_channels"]
    kinds = {e["kind"] for e in first["subjects"]["01"]["electrodes"].values()}
    assert kinds == {"vision", "language", "multimodal", "silent"}


def test_video_generator_is_seeded(tmp_path):
    config = SyntheticVideoConfig(n_videos=4, n_frames=4, height=32, width=32, n_subjects=1, grid=(3, 3, 2), seed=2)
    first = generate_video(tmp_path / "a", config)
    assert first == generate_video(tmp_path / "b", config)
    np.testing.assert_array_equal(
        _nifti_data(tmp_path / "a", "brain/*_betas.nii.gz")[0], _nifti_data(tmp_path / "b", "brain/*_betas.nii.gz")[0]
    )
    listing = pd.read_csv(tmp_path / "a" / "videos" / "videos.tsv", sep="\t")
    assert sorted(listing["video_id"]) == sorted(first["videos"])
    assert {v["format"] for v in first["videos"].values()} == {"mp4", "frames"}


def test_a_panned_photo_first_frame_says_nothing_of_its_motion():
    """The same draw of photo and window with any direction and speed gives the same first frame
    (a first frame that moved with the velocity let image features predict motion voxels)."""
    config = SyntheticVideoConfig(n_frames=6, height=32, width=32)
    clips = [moving_photo(config, direction, speed, np.random.default_rng(3))
             for direction in (0.0, 135.0, 270.0) for speed in config.speeds]
    for clip in clips[1:]:
        np.testing.assert_array_equal(clip[0], clips[0][0])
    assert len({clip[-1].tobytes() for clip in clips}) == len(clips)  # and then each moves its own way
