"""Object-level search sets: the Kreiman arrays and the STI shelves (read back from the synthetic
generator, whose planted scanpaths they must recover), and their named errors."""

import json

import numpy as np
import pytest

from neurogaze.data.gaze.objects import read_kreiman, ring_size
from neurogaze.data.gaze.sti import read_sti
from neurogaze.data.synthetic.shelf import SyntheticShelfConfig, generate_shelf
from neurogaze.errors import DataValidationError

from .conftest import kreiman_trial, write_kreiman

PATCH = (30, 30)


def test_kreiman_trials_are_target_present_object_sequences(tmp_path):
    absent = kreiman_trial(targetpos=-10, target=14, timetofind=-1)
    late = kreiman_trial(fixatedobjects=np.array([3, 1, 3], dtype=np.uint8))
    root = write_kreiman(tmp_path / "k", [kreiman_trial(), absent, late])
    search = read_kreiman(root, PATCH)
    assert [t.key for t in search.trials] == ["HC_blk10_t000", "HC_blk10_t002"]
    first, second = search.trials
    assert first.sequence.tolist() == [3, 4, 2]  # positions 4, 5, 3 (1-based)
    assert second.sequence.tolist() == [2]  # the search ends on the target at position 3
    assert first.target_index == 2 and search.patch_names[first.target_patch] == "23"
    assert search.patches.shape == (40, 30, 30, 3)
    assert ring_size(first.boxes) == 6


def test_kreiman_fixation_outside_the_layout_is_a_named_error(tmp_path):
    root = write_kreiman(tmp_path / "k", [kreiman_trial(fixatedobjects=np.array([4, 7, 3], dtype=np.uint8),
                                                        fixationstarts=np.array([0.1, 0.2, 0.3]))])
    with pytest.raises(DataValidationError, match="fixatedobjects"):
        read_kreiman(root, PATCH)


@pytest.fixture(scope="module")
def shelf_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("shelf") / "shelf"
    truth = generate_shelf(root, SyntheticShelfConfig(n_shelves=3, n_subjects=4, fixation_sd_frac=0.2, seed=3))
    return root, truth


def test_sti_reader_recovers_the_planted_scanpaths(shelf_root):
    root, truth = shelf_root
    search = read_sti(root, PATCH)
    assert search.n_objects == 84 and len(search.trials) == 12
    for trial in search.trials:
        planted = truth["shelves"][f"{trial.layout}.png"]
        assert trial.target_index == planted["target"]
        assert trial.sequence.tolist() == planted["scanpaths"][trial.subject]
        assert trial.grid.max(axis=0).tolist() == [5, 13]  # 6 shelves x 14 covers
    # one patch per distinct cover design (and its target cue, the same image)
    designs = {d for shelf in truth["shelves"].values() for d in shelf["designs"]}
    assert len(search.patches) == len(designs)


def _rewrite(root, change):
    path = root / "amazon_data" / "amazon_data.json"
    data = json.loads(path.read_text())
    change(next(iter(data.values())))
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("change, message", [
    (lambda entry: entry.pop("ground_truth"), "a trial without a target"),
    (lambda entry: entry.pop("target"), "a trial without a target"),
    (lambda entry: entry["fixations"].update(s00=[]), "non-empty scanpath"),
])
def test_sti_bad_trials_are_named_errors(tmp_path, change, message):
    root = tmp_path / "shelf"
    generate_shelf(root, SyntheticShelfConfig(n_shelves=1, n_subjects=2))
    _rewrite(root, change)
    with pytest.raises(DataValidationError, match=message):
        read_sti(root, PATCH)
