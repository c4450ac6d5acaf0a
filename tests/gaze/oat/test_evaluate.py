"""OAT's metric tables: subject ``all`` pools every trial (the reference's test-set scoring),
not the mean of the subjects' values."""

import numpy as np
import pytest

from neurogaze.data.gaze.objects import ObjectSearchSet, SearchTrial, grid_positions
from neurogaze.gaze.oat.evaluate import score_method
from neurogaze.metrics.object_search import behaviour_delta, mean_behaviour


def _set() -> ObjectSearchSet:
    """Subject a: three trials, every searcher straight to the target (object 3); subject b: one
    trial with a revisit. Unequal trial counts make pooling and averaging subjects differ."""
    boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [0, 20, 10, 30], [20, 20, 30, 30]], float)
    patches = np.zeros((4, 30, 30, 3), np.uint8)

    def trial(subject, key, sequence):
        return SearchTrial(subject, key, "L", np.arange(4), boxes, grid_positions(boxes), 3, 3, np.array(sequence),
                           (30, 30))

    return ObjectSearchSet("toy", patches, [trial("a", "a0", [0, 3]), trial("a", "a1", [1, 3]),
                                            trial("a", "a2", [2, 3]), trial("b", "b0", [0, 1, 0, 3])])


def test_subject_all_pools_every_trial():
    search_set = _set()
    predicted = {t.key: [np.array([0, 1, 2, 3])] for t in search_set.trials}
    table = score_method(search_set, predicted, predicted).set_index(["subject", "metric"])["value"]
    model = mean_behaviour((predicted[t.key][0], 3) for t in search_set.trials)
    human = mean_behaviour((t.sequence, 3) for t in search_set.trials)
    assert table["all", "behaviour_delta"] == pytest.approx(behaviour_delta(model, human))
    assert table["all", "behaviour_delta"] != pytest.approx(np.mean([table[s, "behaviour_delta"] for s in "ab"]))
    # Sequence Score: 2/4 for each of a's trials (the target and one object shared in order), 3/4 for b's
    assert table["all", "sequence_score"] == pytest.approx((3 * 0.5 + 0.75) / 4)
    assert table["a", "sequence_score"] == pytest.approx(0.5)
