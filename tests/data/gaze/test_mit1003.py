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
