"""Object-level scanpath metrics (OAT): Sequence Score and edit distance against independent
dynamic programs written here, MultiMatch against multimatch-gaze, and the behavioural metric on
hand-counted scanpaths."""

import itertools

import multimatch_gaze
import numpy as np
import pytest

from neurogaze.errors import DataValidationError
from neurogaze.metrics.object_search import behaviour_delta, mean_behaviour, scanpath_behaviour
from neurogaze.metrics.scanpath import object_edit_distance, object_multimatch, object_sequence_score


def _lcs(a, b):
    table = np.zeros((len(a) + 1, len(b) + 1), int)
    for i, j in itertools.product(range(len(a)), range(len(b))):
        table[i + 1, j + 1] = table[i, j] + 1 if a[i] == b[j] else max(table[i, j + 1], table[i + 1, j])
    return table[-1, -1]


def _levenshtein(a, b):
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def test_sequence_score_and_edit_distance_match_textbook_programs():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = rng.integers(0, 5, rng.integers(1, 9))
        b = rng.integers(0, 5, rng.integers(1, 9))
        longest = max(len(a), len(b))
        assert object_sequence_score(a, b) == pytest.approx(_lcs(a, b) / longest)
        assert object_edit_distance(a, b) == pytest.approx(_levenshtein(a, b) / longest)
    assert object_sequence_score([3, 1, 2], [3, 1, 2]) == 1.0
    assert object_sequence_score([0, 1], [2, 3, 4, 5]) == 0.0


def test_multimatch_on_box_centres_matches_multimatch_gaze():
    rng = np.random.default_rng(1)
    centres = rng.uniform(0, 300, (10, 2))
    for _ in range(20):
        a, b = rng.integers(0, 10, rng.integers(3, 8)), rng.integers(0, 10, rng.integers(3, 8))
        ours = object_multimatch(a, b, centres, (400, 300))

        def record(path):
            return np.rec.fromarrays([centres[path, 0], centres[path, 1], np.ones(len(path))],
                                     names=("start_x", "start_y", "duration"))

        reference = multimatch_gaze.docomparison(record(a), record(b), screensize=[400, 300])
        for name, value in zip(("mm_vector", "mm_direction", "mm_length", "mm_position"), reference[:4]):
            assert ours[name] == pytest.approx(value, abs=1e-9)
        assert "mm_duration" not in ours


def test_behaviour_parts_on_a_counted_scanpath():
    # 2 new, 1 refixation (2 -> 2), 1 revisit (back to 1), ends on the target 1
    parts = scanpath_behaviour([1, 2, 2, 1], target=1)
    assert parts == {"target_found": 1.0, "length": 4.0, "search_ratio": 0.5, "refixation_ratio": 0.25,
                     "revisit_ratio": 0.25}
    human = mean_behaviour([([1, 2, 2, 1], 1), ([0, 3], 3)])
    assert human["length"] == 3.0 and human["target_found"] == 1.0
    assert behaviour_delta(human, human) == 0.0
    longer = {**human, "length": 6.0}
    assert behaviour_delta(longer, human) == pytest.approx(1.0 / 5)  # one part off by 100 %


def test_empty_scanpath_is_a_named_error():
    with pytest.raises(DataValidationError, match="empty scanpath"):
        scanpath_behaviour([], target=0)
