import numpy as np
import pytest
import scipy.io

from neurogaze.data.gaze.detection import ScreenGeometry
from neurogaze.data.gaze.mit1003 import load_mit1003
from neurogaze.errors import DataValidationError

from .conftest import planted_trace, write_image, write_mit1003_file

SCREEN = {"resolution_px": [1280, 1024], "size_m": [0.376, 0.301], "distance_m": 0.61}
STEM = "i05june05_static_street_boston_p1010764"


def _root(tmp_path, users=("ajs", "hp"), stem=STEM):
    root = tmp_path / "mit1003"
    write_image(root / "ALLSTIMULI" / f"{stem}.jpeg", 1024, 768)
    deg = ScreenGeometry(
        tuple(SCREEN["resolution_px"]), tuple(SCREEN["size_m"]), SCREEN["distance_m"]
    ).degrees_per_pixel()
    planted = {}
    for seed, user in enumerate(users):
        t, x, y, _, fixations = planted_trace(
            rate_hz=240.0, deg_per_px=deg, seed=seed, n_fix=6, origin=(512, 384), spread=250
        )
        eye = np.column_stack([x, y])
        write_mit1003_file(root / "DATA" / user / f"{stem}.mat", stem, eye)
        planted[user] = fixations
    # the per-user shuffle file sits beside the image files and is not a trial
    scipy.io.savemat(
        root / "DATA" / users[0] / "shuff_stimnames.mat", {"shuff_stimnames": np.array(["x"], dtype=object)}
    )
    return root, planted


def test_mit1003_layout_detects_the_planted_fixations(tmp_path):
    root, planted = _root(tmp_path)
    data = load_mit1003(root, screen=SCREEN, sampling_rate_hz=240.0)
    assert set(data.fixations["subject"]) == {"ajs", "hp"}
    assert data.stimuli["width"].tolist() == [1024]
    for user, fixations in planted.items():
        found = data.fixations[data.fixations["subject"] == user].sort_values("fix_index")
        assert len(found) == len(fixations) - 1  # the first (central cross) fixation is dropped
        assert np.allclose(found["x"], [f[0] for f in fixations[1:]], atol=3)
    assert data.samples is not None and len(data.samples) > 0


def test_blinks_are_lost_samples(tmp_path):
    root, _ = _root(tmp_path, users=("ajs",))
    path = root / "DATA" / "ajs" / f"{STEM}.mat"
    eye = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)[STEM].DATA.eyeData
    eye[50:60] = -1
    write_mit1003_file(path, STEM, eye)
    data = load_mit1003(root, screen=SCREEN)
    assert data.samples["x"].isna().sum() == 10


def test_long_image_names_use_matlabs_63_character_variable(tmp_path):
    stem = "a" * 70
    root, _ = _root(tmp_path, users=("ajs",), stem=stem)
    data = load_mit1003(root, screen=SCREEN)
    assert data.stimuli["stim_id"].tolist() == [stem]


def test_missing_variable_is_named(tmp_path):
    root, _ = _root(tmp_path, users=("ajs",))
    scipy.io.savemat(root / "DATA" / "ajs" / f"{STEM}.mat", {"other": 1})
    with pytest.raises(DataValidationError, match=f"field '{STEM}'"):
        load_mit1003(root, screen=SCREEN)


def test_missing_eye_data_field_is_named(tmp_path):
    root, _ = _root(tmp_path, users=("ajs",))
    scipy.io.savemat(root / "DATA" / "ajs" / f"{STEM}.mat", {STEM: {"DATA": {"notEyeData": np.zeros((5, 2))}}})
    with pytest.raises(DataValidationError, match=r"DATA\(1\).eyeData"):
        load_mit1003(root, screen=SCREEN)


def test_corrupt_file_is_named(tmp_path):
    root, _ = _root(tmp_path, users=("ajs",))
    path = root / "DATA" / "ajs" / f"{STEM}.mat"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataValidationError, match="readable MATLAB"):
        load_mit1003(root, screen=SCREEN)


def _write_pysaliency_mit1003(folder, stem, trains):
    """pysaliency's own writer (get_mit1003 stores the dataset's checkFixations output this way);
    pysaliency 0.2 still calls NumPy 1's np.string_, given back here for the write."""
    pysaliency = pytest.importorskip("pysaliency")
    folder.mkdir(parents=True)
    had = hasattr(np, "string_")
    np.string_ = np.bytes_
    try:
        image = folder / "stimuli" / f"{stem}.jpeg"
        write_image(image, 1024, 768)
        pysaliency.FileStimuli([str(image)]).to_hdf5(str(folder / "stimuli.hdf5"))
        xs, ys, ts, subjects, durations = zip(*trains)
        fixations = pysaliency.FixationTrains.from_fixation_trains(
            list(xs), list(ys), list(ts), [0] * len(trains), list(subjects),
            scanpath_fixation_attributes={"durations": list(durations)},
            scanpath_attribute_mapping={"durations": "duration"})
        fixations.to_hdf5(str(folder / "fixations.hdf5"))
    finally:
        if not had:
            del np.string_


def test_the_dataset_s_own_extraction_replaces_the_detector(tmp_path):
    root, _ = _root(tmp_path)
    extracted = tmp_path / "pysaliency" / "MIT1003"
    trains = [
        (np.array([100.0, 500.0]), np.array([80.0, 300.0]), np.array([0.30, 0.62]), 1, np.array([0.25, 0.40])),
        (np.array([700.0, 20.0, 33.0]), np.array([600.0, 10.0, 40.0]), np.array([0.2, 0.5, 0.9]), 0,
         np.array([0.2, 0.3, 0.1])),
    ]
    _write_pysaliency_mit1003(extracted, STEM, trains)
    data = load_mit1003(root, screen=SCREEN, fixations_from="extracted", extracted_dir=extracted)
    hp = data.fixations[data.fixations["subject"] == "hp"].sort_values("fix_index")  # subject index 1
    np.testing.assert_allclose(hp[["x", "y", "t_start_ms", "duration_ms"]].to_numpy(),
                               [[100, 80, 300, 250], [500, 300, 620, 400]])
    assert len(data.fixations[data.fixations["subject"] == "ajs"]) == 3
    assert data.samples is not None and set(data.samples["subject"]) == {"ajs", "hp"}
    with pytest.raises(DataValidationError, match="fixations.hdf5"):
        load_mit1003(root, screen=SCREEN, fixations_from="extracted", extracted_dir=tmp_path / "nothing")
    with pytest.raises(DataValidationError, match="extracted_dir"):
        load_mit1003(root, screen=SCREEN, fixations_from="extracted")
