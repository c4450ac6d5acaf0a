import pytest

from neurogaze.data.gaze import write_gaze_data
from neurogaze.data.gaze.cocosearch import load_cocosearch18
from neurogaze.data.synthetic.gaze import SyntheticCocoSearchConfig, generate_cocosearch_like
from neurogaze.errors import DataValidationError

from .conftest import coco_trial, write_cocosearch


def test_cocosearch_json_layout(tmp_path):
    trials = [
        coco_trial(),
        coco_trial(subject=3, X=[84.0], Y=[52.5], T=[200], length=1, split="valid"),
        coco_trial(name="000000000139.jpg", task="potted plant", condition="absent", correct=0, fixOnTarget=False),
    ]
    root = write_cocosearch(tmp_path / "coco", trials)
    data = load_cocosearch18(root)
    assert len(data.fixations) == 7
    s02 = data.fixations.query("subject == 's02' and stim_id == 'bottle_000000478726'").sort_values("fix_index")
    assert s02["t_start_ms"].tolist() == [0.0, 120.0, 350.0]
    assert s02["duration_ms"].tolist() == [120.0, 230.0, 310.0]
    assert set(data.fixations["target"]) == {"bottle", "potted plant"}
    assert dict(zip(data.stimuli["stim_id"], data.stimuli["split"])) == {
        "bottle_000000478726": "train",
        "potted-plant_000000000139": "train",
    }
    trials_table = data.tables["trials"]
    assert trials_table.set_index("stim_id").loc["potted-plant_000000000139", "target_present"] == False  # noqa: E712
    assert trials_table["bbox_w"].tolist() == [12, 12, 12]
    write_gaze_data(data, tmp_path / "out" / "gaze", tmp_path / "out" / "stimuli")
    assert (tmp_path / "out" / "gaze" / "trials.parquet").exists()


def test_synthetic_search_is_guided_to_the_target(tmp_path):
    config = SyntheticCocoSearchConfig(n_images_per_task=6, n_subjects=6, absent_fraction=0.3, guidance=0.7, seed=2)
    truth = generate_cocosearch_like(tmp_path / "coco", config)
    data = load_cocosearch18(tmp_path / "coco")
    assert len(data.fixations) == truth["n_fixations"]
    trials = data.tables["trials"]
    present = trials[trials["target_present"]]
    # with guidance g each saccade finds the target with probability g: mean search length
    # (saccades to the target) is 1 / g, truncated at max_fixations - 1. Geometric: SD sqrt(1 - g) / g
    # = 0.78, so over >= 60 present trials the mean's SE is <= 0.10 = 7 % of 1 / g; 30 % is 4 SE
    # (generator seeds 0-9: errors of 1-14 %, target fixated in every present trial).
    lengths = (
        data.fixations.groupby(["stim_id", "subject", "trial"])
        .size()
        .loc[list(zip(present.stim_id, present.subject, present.trial))]
        - 1
    )
    assert lengths.mean() == pytest.approx(1 / config.guidance, rel=0.3)
    assert present["fix_on_target"].mean() > 0.9
    absent = trials[~trials["target_present"]]
    assert not absent["fix_on_target"].any()


@pytest.mark.parametrize(
    "trial, field, expected",
    [
        ({"Y": None}, r"\[0\].Y", "trial fields"),
        ({"length": 4}, r"\[0\].X/Y/T", "4 entries"),
        ({"T": [120, -3, 310]}, r"\[0\].T", "non-negative"),
        ({"split": "dev"}, r"\[0\].split", "one of"),
    ],
)
def test_bad_trials_are_named(tmp_path, trial, field, expected):
    bad = coco_trial(**trial)
    if trial.get("Y", 0) is None:
        del bad["Y"]
    root = write_cocosearch(tmp_path / "coco", [bad])
    with pytest.raises(DataValidationError, match=field) as info:
        load_cocosearch18(root)
    assert expected in str(info.value) and "coco_search18_fixations_TP_train_split1.json" in str(info.value)


def test_fixation_off_the_image_writes_nothing(tmp_path):
    root = write_cocosearch(tmp_path / "coco", [coco_trial(X=[84.0, 400.0, 66.0])])
    with pytest.raises(DataValidationError, match="inside the 168 x 105 image") as info:
        write_gaze_data(load_cocosearch18(root), tmp_path / "out" / "gaze", tmp_path / "out" / "stimuli")
    # named where a person finds it: the JSON file, the trial, the fixation and subject
    assert info.value.path.endswith("coco_search18_fixations_TP_train_split1.json")
    assert info.value.field == "[0].X/Y" and "fixation 2 of subject 2" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_corrupt_json_is_named(tmp_path):
    root = write_cocosearch(tmp_path / "coco", [coco_trial()])
    path = root / "coco_search18_fixations_TP_train_split1.json"
    path.write_text(path.read_text()[:-40])
    with pytest.raises(DataValidationError, match="valid JSON"):
        load_cocosearch18(root)
