import numpy as np
import pytest
import scipy.io

from neurogaze.data.contracts import read_fixations, read_stimulus_set
from neurogaze.data.gaze import write_gaze_data
from neurogaze.data.gaze.osie import load_osie
from neurogaze.data.synthetic.gaze import SyntheticOsieConfig, generate_osie_like, saliency_map
from neurogaze.errors import DataValidationError

from .conftest import write_osie


def test_osie_layout_loads_every_fixation(osie_root, tmp_path):
    data = load_osie(osie_root)
    assert len(data.fixations) == 8
    first = data.fixations.query("stim_id == '1001' and subject == 's01'").sort_values("fix_index")
    assert first["x"].tolist() == [40.0, 10.5, 70.0]
    assert first["t_start_ms"].tolist() == [0.0, 200.0, 350.0]  # summed durations
    single = data.fixations.query("stim_id == '1001' and subject == 's02'")
    assert single["x"].tolist() == [20.0]  # a 1-element MATLAB vector arrives as one fixation
    write_gaze_data(data, tmp_path / "out" / "gaze", tmp_path / "out" / "stimuli")
    stimuli = read_stimulus_set(tmp_path / "out" / "stimuli")
    sizes = {r.stim_id: (r.width, r.height) for r in stimuli.index.itertuples()}
    assert sizes == {"1001": (80, 60), "1002": (80, 60)}
    assert stimuli.load_image("1001").shape == (60, 80, 3)  # the index points at the original file
    assert len(read_fixations(tmp_path / "out" / "gaze" / "fixations.parquet", sizes)) == 8


def test_synthetic_osie_fixations_follow_the_planted_saliency(tmp_path):
    config = SyntheticOsieConfig(n_images=3, n_subjects=10, fixations_per_subject=20, seed=4)
    truth = generate_osie_like(tmp_path / "osie", config)
    data = load_osie(tmp_path / "osie")
    assert len(data.fixations) == truth["n_fixations"]
    for entry in truth["images"]:
        stim = entry["img"].removesuffix(".jpg")
        density = saliency_map(entry, config.width, config.height)
        points = data.fixations[data.fixations["stim_id"] == stim]
        at_fixations = density[points["y"].astype(int), points["x"].astype(int)].mean()
        # fixations sit where the planted density is high: far above its mean over the image
        # (generator seeds 0-9: 3.8-4.5 times it, the least of three images)
        assert at_fixations > 3 * density.mean()


def test_synthetic_osie_is_deterministic(tmp_path):
    config = SyntheticOsieConfig(n_images=2, n_subjects=3, seed=7)
    generate_osie_like(tmp_path / "a", config)
    generate_osie_like(tmp_path / "b", config)
    for name in ("data/eye/fixations.mat", "data/stimuli/1001.jpg", "ground_truth.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def _subject(x, y, d):
    return {"fix_x": np.asarray(x, float), "fix_y": np.asarray(y, float), "fix_duration": np.asarray(d, float)}


def _assert_nothing_written(root, tmp_path, match):
    with pytest.raises(DataValidationError, match=match) as info:
        write_gaze_data(load_osie(root), tmp_path / "out" / "gaze", tmp_path / "out" / "stimuli")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.parquet"))
    return info.value


def test_fixation_off_the_image_is_rejected(tmp_path):
    root = write_osie(tmp_path / "osie", {"1001.jpg": [_subject([10, 95], [10, 20], [100, 100])]})
    error = _assert_nothing_written(root, tmp_path, "inside the")
    # named in the input, as a person finds it: the .mat file, the cell and subject, the fixation
    assert error.path.endswith("fixations.mat")
    assert error.field == "fixations{1}.subjects{1}.fix_x/fix_y"
    assert "fixation 2 of subject s01" in str(error)


def test_nan_fixation_is_named_in_the_mat_file(tmp_path):
    root = write_osie(tmp_path / "osie", {"1001.jpg": [_subject([10, 20], [10, float("nan")], [100, 100])]})
    error = _assert_nothing_written(root, tmp_path, "finite fixation coordinates")
    assert error.path.endswith("fixations.mat")
    assert error.field == "fixations{1}.subjects{1}.fix_x/fix_y"


def test_negative_duration_is_rejected(tmp_path):
    root = write_osie(tmp_path / "osie", {"1001.jpg": [_subject([10, 20], [10, 20], [100, -5])]})
    with pytest.raises(DataValidationError, match=r"fixations\{1\}.subjects\{1\}.fix_duration"):
        load_osie(root)


def test_truncated_mat_file_is_named(osie_root):
    path = osie_root / "data" / "eye" / "fixations.mat"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DataValidationError, match="fixations.mat: field 'file'"):
        load_osie(osie_root)


def test_missing_struct_field_is_named(tmp_path):
    root = tmp_path / "osie"
    write_osie(root, {"1001.jpg": [_subject([10], [10], [100])]})
    scipy.io.savemat(
        root / "data" / "eye" / "fixations.mat",
        {
            "fixations": np.array(
                [[{"img": "1001.jpg", "subjects": np.array([[{"fix_x": 1.0, "fix_y": 2.0}]], dtype=object)}]],
                dtype=object,
            )
        },
    )
    with pytest.raises(DataValidationError, match="fix_duration") as info:
        load_osie(root)
    assert "a field of this dataset" in str(info.value)


def test_missing_image_is_named(osie_root):
    (osie_root / "data" / "stimuli" / "1002.jpg").unlink()
    with pytest.raises(DataValidationError, match="1002.jpg"):
        load_osie(osie_root)


@pytest.mark.realdata
def test_real_osie_every_fixation_arrives(real_data_dir):
    root = real_data_dir / "osie"
    # the count, straight from the file with a different reader configuration
    raw = scipy.io.loadmat(root / "data" / "eye" / "fixations.mat")["fixations"]
    expected = sum(np.size(s["fix_x"][0, 0]) for c in raw.ravel() for s in c[0, 0]["subjects"].ravel())
    data = load_osie(root).validate(root)
    assert len(data.fixations) == expected
    assert set(zip(data.stimuli["width"], data.stimuli["height"])) == {(800, 600)}
    assert (data.fixations.groupby("stim_id")["subject"].nunique() == 15).all()
    assert len(data.stimuli) == len(raw.ravel())


def test_images_inside_the_results_tree_are_indexed_relatively(tmp_path):
    results = tmp_path / "results"
    generate_osie_like(results / "synthetic" / "osie", SyntheticOsieConfig(n_images=2, n_subjects=2))
    data = load_osie(results / "synthetic" / "osie")
    write_gaze_data(
        data, results / "data" / "gaze" / "osie", results / "data" / "stimuli" / "osie", relative_within=results
    )
    moved = tmp_path / "moved"
    (results).rename(moved)
    stimuli = read_stimulus_set(moved / "data" / "stimuli" / "osie")
    assert stimuli.index["path"].iloc[0] == "../../../synthetic/osie/data/stimuli/1001.jpg"
    assert stimuli.load_image("1001").shape == (160, 160, 3)
