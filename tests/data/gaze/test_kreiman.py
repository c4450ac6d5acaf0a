import numpy as np
import pytest

from neurogaze.data.gaze import write_gaze_data
from neurogaze.data.gaze.kreiman import load_kreiman, valid_files
from neurogaze.errors import DataValidationError

from .conftest import kreiman_trial, write_kreiman


def test_object_level_scanpaths(tmp_path):
    absent = kreiman_trial(
        target=14,
        targetpos=-10,
        timetofind=-1,
        fixatedobjects=np.array([2, 2], dtype=np.uint8),
        fixationstarts=np.array([0.2, 0.5]),
        fixationends=np.array([0.45, 0.7]),
    )
    root = write_kreiman(tmp_path / "k", [kreiman_trial(), absent])
    data = load_kreiman(root)
    first = data.fixations.query("trial == 0").sort_values("fix_index")
    assert first["object_id"].tolist() == ["37", "27", "23"]  # probes at positions 4, 5, 3
    assert first["duration_ms"].round(1).tolist() == [257.0, 208.2, 0.0]
    # position 2 is at 90 degrees clockwise from 12 o'clock: due right of the screen centre
    second = data.fixations.query("trial == 1").iloc[0]
    assert (second.x, second.y) == pytest.approx((512 + 230, 384))
    trials = data.tables["trials"].set_index("trial")
    assert trials.loc[0, "target_present"] and not trials.loc[1, "target_present"]
    assert trials.loc[0, "time_to_find_ms"] == pytest.approx(715.0) and np.isnan(trials.loc[1, "time_to_find_ms"])
    assert trials.loc[0, "subject"] == "HC"
    write_gaze_data(data, tmp_path / "out" / "gaze", tmp_path / "out" / "stimuli")
    assert (tmp_path / "out" / "gaze" / "trials.parquet").exists()


def test_second_session_keeps_the_subject(tmp_path):
    root = write_kreiman(tmp_path / "k", [kreiman_trial()], name="ResultsSaccades_HC2_blk10.mat")
    data = load_kreiman(root)
    assert data.tables["trials"].loc[0, ["subject", "repeat"]].tolist() == ["HC", True]


def test_target_position_must_hold_the_target(tmp_path):
    root = write_kreiman(tmp_path / "k", [kreiman_trial(targetpos=1)])
    with pytest.raises(DataValidationError, match=r"results\{1\}.targetpos"):
        load_kreiman(root)


def test_missing_field_is_named(tmp_path):
    trial = kreiman_trial()
    del trial["fixationstarts"]
    root = write_kreiman(tmp_path / "k", [trial])
    with pytest.raises(DataValidationError, match=r"results\{1\}.fixationstarts"):
        load_kreiman(root)


def test_onsets_going_back_in_time_are_rejected(tmp_path):
    root = write_kreiman(tmp_path / "k", [kreiman_trial(fixationstarts=np.array([0.5, 0.3, 0.7]))])
    with pytest.raises(DataValidationError, match="increasing onsets"):
        load_kreiman(root)


def test_unlisted_files_are_not_read(tmp_path):
    root = write_kreiman(tmp_path / "k", [kreiman_trial()])
    write_kreiman(root, [kreiman_trial(targetpos=1)], name="ResultsSaccades_Bad_blk1.mat", listed=False)
    assert len(load_kreiman(root).tables["trials"]) == 1


@pytest.mark.realdata
def test_real_kreiman_every_valid_file(real_data_dir):
    root = real_data_dir / "kreiman_objarray"
    data = load_kreiman(root).validate(root)
    trials = data.tables["trials"]
    assert sorted(trials["session"].unique()) == sorted(
        p.stem.removeprefix("ResultsSaccades_") for p in valid_files(root)
    )
    assert (trials.groupby("session").size() == 440).all()
    assert trials["target_present"].any() and (~trials["target_present"]).any()
    assert not trials.loc[~trials["target_present"], "found"].any()
    # time to find is the onset of a fixation on the target object
    found = trials[trials["found"]].set_index(["stim_id", "trial"])
    onsets = (
        data.fixations[data.fixations["object_id"] == data.fixations["target"]]
        .groupby(["stim_id", "trial"])["t_start_ms"]
        .apply(list)
    )
    matched = [
        min(abs(np.asarray(onsets.get(key, [np.inf])) - row.time_to_find_ms)) < 5 for key, row in found.iterrows()
    ]
    assert np.mean(matched) > 0.95
    assert len(data.fixations) == trials["n_fixations"].sum()
