import pytest

from neurogaze.data.gaze import write_gaze_data
from neurogaze.data.gaze.capmit1003 import load_capmit1003
from neurogaze.errors import DataValidationError

from .conftest import CLICKS, write_capmit


def test_click_paths_become_scanpaths(tmp_path):
    root = write_capmit(tmp_path / "cap", CLICKS)
    data = load_capmit1003(root)
    path = data.fixations.query("subject == 'userA'").sort_values("fix_index")
    assert path["stim_id"].unique().tolist() == ["i1"]
    assert path["x"].tolist() == [10, 50, 90]
    assert path["t_start_ms"].tolist() == [1000.0, 1500.0, 2250.0]
    assert path["duration_ms"].tolist() == [500.0, 750.0, 0.0]
    assert set(data.fixations["task"]) == {"captioning"}
    assert data.tables["captions"].set_index("subject").loc["userB", "caption"] == "two people talking"
    write_gaze_data(data, tmp_path / "out" / "gaze", tmp_path / "out" / "stimuli")
    assert (tmp_path / "out" / "gaze" / "captions.parquet").exists()


def test_missing_column_is_named(tmp_path):
    root = write_capmit(tmp_path / "cap", CLICKS, drop_column="click_time")
    with pytest.raises(DataValidationError, match="clicks.click_time"):
        load_capmit1003(root)


def test_clicks_going_back_in_time_are_rejected(tmp_path):
    clicks = list(CLICKS)
    clicks[1] = (2, "obs1", 50, 40, "2022-05-01 09:59:59.000")
    root = write_capmit(tmp_path / "cap", clicks)
    with pytest.raises(DataValidationError, match="click_time"):
        load_capmit1003(root)


def test_click_off_the_image_writes_nothing(tmp_path):
    clicks = list(CLICKS)
    clicks[0] = (1, "obs1", 150, 20, "2022-05-01 10:00:01.000")
    root = write_capmit(tmp_path / "cap", clicks)
    with pytest.raises(DataValidationError, match="inside the image"):
        write_gaze_data(load_capmit1003(root), tmp_path / "out" / "gaze", tmp_path / "out" / "stimuli")
    assert not (tmp_path / "out").exists()


def test_corrupt_database_is_named(tmp_path):
    root = write_capmit(tmp_path / "cap", CLICKS)
    database = root / "capmit1003.db"
    database.write_bytes(b"not a database" + database.read_bytes()[100:400])
    with pytest.raises(DataValidationError, match="capmit1003.db: field 'file'"):
        load_capmit1003(root)


def test_orphan_click_is_named(tmp_path):
    root = write_capmit(tmp_path / "cap", CLICKS + [(5, "obs9", 1, 1, "2022-05-01 10:00:00.000")])
    with pytest.raises(DataValidationError, match="clicks.obs_uid"):
        load_capmit1003(root)
