import numpy as np
import pandas as pd
import pytest

from neurogaze.data import contracts
from neurogaze.errors import DataValidationError


def _images(n, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (size, size + 2, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("as_h5", [False, True])
def test_stimulus_set_round_trip(tmp_path, as_h5):
    images = _images(3)
    written = contracts.write_stimulus_set(
        tmp_path / "set", ["a", "b", "c"], images, ["train", "train", "test"], as_h5=as_h5
    )
    loaded = contracts.read_stimulus_set(tmp_path / "set")
    assert loaded.stim_ids == ["a", "b", "c"]
    assert loaded.index["width"].tolist() == [10, 10, 10]
    for (_, image), original in zip(loaded.iter_images(), images):
        np.testing.assert_array_equal(image, original)
    np.testing.assert_array_equal(written.load_image("b"), images[1])


def test_stimulus_set_rejects_bad_split_before_writing(tmp_path):
    with pytest.raises(DataValidationError, match="split"):
        contracts.write_stimulus_set(tmp_path / "set", ["a"], _images(1), ["validation"])
    assert not (tmp_path / "set").exists()
    assert list(tmp_path.iterdir()) == []


def _responses(**overrides):
    rng = np.random.default_rng(0)
    fields = dict(
        responses=rng.normal(size=(4, 3)).astype(np.float32),
        stim_ids=np.array(["s0", "s1", "s2", "s3"]),
        split=np.array(["train", "train", "train", "test"]),
        noise_ceiling=np.array([0.9, 0.5, 0.1], dtype=np.float32),
        rois={"v1": np.array([True, False, True])},
        voxel_ijk=np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]]),
        affine=np.eye(4),
        mask=np.ones((2, 2, 1), bool),
        attrs={"subject": "subj01"},
    )
    fields.update(overrides)
    return contracts.BrainResponses(**fields)


def test_brain_responses_round_trip(tmp_path):
    data = _responses()
    contracts.write_brain_responses(tmp_path / "s.h5", data)
    back = contracts.read_brain_responses(tmp_path / "s.h5")
    np.testing.assert_array_equal(back.responses, data.responses)
    assert back.stim_ids.tolist() == ["s0", "s1", "s2", "s3"]
    assert back.rois["v1"].tolist() == [True, False, True]
    assert back.attrs["subject"] == "subj01"
    train, ids = back.select("train")
    assert train.shape == (3, 3) and ids.tolist() == ["s0", "s1", "s2"]


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"responses": np.full((4, 3), np.nan, np.float32)}, "responses"),
        ({"noise_ceiling": np.ones(2, np.float32)}, "noise_ceiling"),
        ({"split": np.array(["train", "train", "val", "test"])}, "split"),
        ({"rois": {"v1": np.array([1, 0, 1])}}, "rois/v1"),
        ({"voxel_ijk": np.zeros((2, 3), int)}, "voxel_ijk"),
    ],
)
def test_brain_responses_bad_input_names_field_and_writes_nothing(tmp_path, overrides, field):
    with pytest.raises(DataValidationError) as info:
        contracts.write_brain_responses(tmp_path / "s.h5", _responses(**overrides))
    assert info.value.field == field
    assert str(tmp_path / "s.h5") in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_truncated_brain_file_is_reported(tmp_path):
    contracts.write_brain_responses(tmp_path / "s.h5", _responses())
    raw = (tmp_path / "s.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(raw[: len(raw) // 3])
    with pytest.raises(DataValidationError, match="cut.h5"):
        contracts.read_brain_responses(tmp_path / "cut.h5")


def _fixations(**overrides):
    table = pd.DataFrame(
        {
            "dataset": "d",
            "stim_id": ["img1", "img1"],
            "subject": "s1",
            "trial": 0,
            "fix_index": [0, 1],
            "x": [10.0, 50.0],
            "y": [5.0, 20.0],
            "t_start_ms": [0.0, 250.0],
            "duration_ms": [200.0, 300.0],
            "object_id": None,
            "task": "freeview",
            "target": None,
        }
    )
    for name, value in overrides.items():
        table[name] = value
    return table


def test_fixations_round_trip(tmp_path):
    contracts.write_fixations(tmp_path / "f.parquet", _fixations(), image_sizes={"img1": (64, 48)})
    back = contracts.read_fixations(tmp_path / "f.parquet")
    assert back["x"].tolist() == [10.0, 50.0]
    assert back["object_id"].isna().all()


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"x": [10.0, 70.0]}, "x/y"),
        ({"duration_ms": [200.0, -1.0]}, "duration_ms"),
        ({"stim_id": ["img1", "img2"]}, "stim_id"),
    ],
)
def test_fixations_bad_input(tmp_path, overrides, field):
    with pytest.raises(DataValidationError) as info:
        contracts.write_fixations(tmp_path / "f.parquet", _fixations(**overrides), image_sizes={"img1": (64, 48)})
    assert info.value.field == field
    assert list(tmp_path.iterdir()) == []


def test_fixations_missing_column(tmp_path):
    with pytest.raises(DataValidationError, match="duration_ms"):
        contracts.write_fixations(tmp_path / "f.parquet", _fixations().drop(columns="duration_ms"))


def test_samples_need_increasing_time(tmp_path):
    samples = pd.DataFrame(
        {"subject": "s", "trial": 1, "stim_id": "i", "t_ms": [0.0, 2.0, 2.0], "x": 1.0, "y": 1.0,
         "pupil": 1.0, "label": None}
    )
    with pytest.raises(DataValidationError, match="t_ms"):
        contracts.write_samples(tmp_path / "s.parquet", samples)
    samples["t_ms"] = [0.0, 2.0, 4.0]
    contracts.write_samples(tmp_path / "s.parquet", samples)
    assert len(contracts.read_samples(tmp_path / "s.parquet")) == 3


def test_features_round_trip_and_id_mismatch(tmp_path):
    features = np.arange(6, dtype=np.float32).reshape(3, 2)
    contracts.write_features(tmp_path / "f.npy", features, ["a", "b", "c"])
    back, ids = contracts.read_features(tmp_path / "f.npy")
    np.testing.assert_array_equal(back, features)
    assert ids == ["a", "b", "c"]
    with pytest.raises(DataValidationError, match="ids"):
        contracts.write_features(tmp_path / "g.npy", features, ["a"])


def test_metrics_are_sorted_and_stable(tmp_path):
    table = pd.DataFrame(
        {"method": "m", "dataset": "d", "unit": ["2", "10", "1"], "metric": "r", "split": "test",
         "seed": 0, "value": [0.5, 0.25, 1 / 3]}
    )
    contracts.write_metrics(tmp_path / "a.csv", table)
    contracts.write_metrics(tmp_path / "b.csv", table.sample(frac=1, random_state=1))
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert contracts.read_metrics(tmp_path / "a.csv")["unit"].tolist() == ["1", "10", "2"]


def test_resting_state_round_trip(tmp_path):
    mask = np.zeros((3, 3, 3), bool)
    mask[1, 1, :] = True
    data = contracts.RestingState(
        timeseries=np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32),
        mask=mask, affine=np.eye(4), tr=2.0,
        phenotype={"subject": "001", "diagnosis": "ADHD", "site": "NYU", "age": 11.5, "sex": "M"},
    )
    contracts.write_resting_state(tmp_path / "r.h5", data)
    back = contracts.read_resting_state(tmp_path / "r.h5")
    assert back.phenotype["site"] == "NYU" and back.tr == 2.0
    data.phenotype.pop("site")
    with pytest.raises(DataValidationError, match="phenotype"):
        contracts.write_resting_state(tmp_path / "bad.h5", data)


def test_long_stimulus_ids_get_safe_image_file_names(tmp_path):
    """Ids can be long relative paths (a dataset's own file names): the PNG names stay short."""
    from neurogaze.data.contracts import read_stimulus_set, write_stimulus_set

    long_id = "/".join(["a_very_long_folder_name"] * 12) + "/image.jpg"
    images = [np.full((4, 4, 3), value, np.uint8) for value in (10, 200)]
    written = write_stimulus_set(tmp_path / "set", [long_id, "plain_01"], images, ["train", "test"])
    names = sorted(path.name for path in (tmp_path / "set" / "images").iterdir())
    assert max(len(name) for name in names) <= 104 and "plain_01.png" in names
    back = read_stimulus_set(tmp_path / "set")
    assert back.stim_ids == written.stim_ids == [long_id, "plain_01"]
    assert [image[0, 0, 0] for _, image in back.iter_images([long_id, "plain_01"])] == [10, 200]
