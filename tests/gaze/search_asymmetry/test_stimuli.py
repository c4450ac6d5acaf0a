"""The procedural displays of the six experiments."""

import numpy as np
import pytest

from neurogaze.errors import DataValidationError
from neurogaze.gaze.search_asymmetry.stimuli import EXPERIMENTS, generate_condition, make_display

CASES = [(e, c.key) for e, spec in EXPERIMENTS.items() for c in spec.conditions]


def _boxes_overlap(a, b):
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


@pytest.mark.parametrize("experiment,condition", CASES)
def test_display_has_the_set_size_a_target_and_disjoint_items(experiment, condition):
    spec = EXPERIMENTS[experiment]
    rng = np.random.default_rng(0)
    for set_size in spec.set_sizes:
        display = make_display(experiment, condition, set_size, rng)
        boxes = display.item_boxes
        assert display.set_size == set_size == len(boxes)
        assert 0 <= display.target_index < set_size
        height, width = display.image.shape[:2]
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= height).all() and (boxes[:, 3] <= width).all()
        for i in range(set_size):
            for j in range(i + 1, set_size):
                assert not _boxes_overlap(boxes[i], boxes[j])
        # ink lies only inside item cells, and every item (the target too) has ink
        inside = np.zeros((height, width), dtype=bool)
        for r0, c0, r1, c1 in boxes:
            inside[r0:r1, c0:c1] = True
            assert (display.image[r0:r1, c0:c1] != display.background).any()
        assert (display.image[~inside] == display.background).all()


@pytest.mark.parametrize("experiment,condition", CASES)
def test_cue_is_the_planted_target(experiment, condition):
    display = make_display(experiment, condition, EXPERIMENTS[experiment].set_sizes[-1], np.random.default_rng(1))
    r0, c0, r1, c1 = display.item_boxes[display.target_index]
    cell = display.image[r0:r1, c0:c1, 0]
    cue = display.target[..., 0]
    h, w = cue.shape
    matches = [
        np.array_equal(cell[dr : dr + h, dc : dc + w], cue)
        for dr in range(cell.shape[0] - h + 1)
        for dc in range(cell.shape[1] - w + 1)
    ]
    assert any(matches)


@pytest.mark.parametrize("experiment", list(EXPERIMENTS))
def test_target_differs_from_distractors(experiment):
    """Each condition's target cue is not one of that display's distractor patches."""
    spec = EXPERIMENTS[experiment]
    for condition in spec.conditions:
        display = make_display(experiment, condition.key, spec.set_sizes[-1], np.random.default_rng(2))
        cue = display.target[..., 0].astype(int)
        h, w = cue.shape
        for i, (r0, c0, r1, c1) in enumerate(display.item_boxes):
            if i == display.target_index:
                continue
            cell = display.image[r0:r1, c0:c1, 0].astype(int)
            for dr in range(cell.shape[0] - h + 1):
                for dc in range(cell.shape[1] - w + 1):
                    assert not np.array_equal(cell[dr : dr + h, dc : dc + w], cue)


def test_conditions_and_set_sizes_follow_the_paper():
    sizes = {e: spec.set_sizes for e, spec in EXPERIMENTS.items()}
    assert sizes == {
        "curvature": (8, 16, 32), "lighting": (1, 6, 12), "intersection": (3, 6, 9), "t_vs_l": (3, 6, 9),
        "orientation_homo": (1, 4, 8, 12), "orientation_hetero": (1, 4, 8, 12),
    }
    displays = generate_condition("intersection", "cross", np.random.default_rng(0))
    assert len(displays) == 3 * 36
    assert [d.set_size for d in displays[::36]] == [3, 6, 9]


def test_same_seed_same_displays():
    a = generate_condition("curvature", "line_in_curves", np.random.default_rng(5), 2)
    b = generate_condition("curvature", "line_in_curves", np.random.default_rng(5), 2)
    for x, y in zip(a, b):
        assert np.array_equal(x.image, y.image) and np.array_equal(x.item_boxes, y.item_boxes)


def test_bad_requests_are_named():
    with pytest.raises(DataValidationError, match="set_size"):
        make_display("intersection", "cross", 10, np.random.default_rng(0))
    with pytest.raises(KeyError, match="unknown experiment"):
        make_display("colour", "red", 3, np.random.default_rng(0))
    with pytest.raises(KeyError, match="no condition"):
        make_display("curvature", "cross", 8, np.random.default_rng(0))


def test_item_at_maps_points_to_cells():
    display = make_display("t_vs_l", "Ts", 9, np.random.default_rng(0))
    for i, (r0, c0, r1, c1) in enumerate(display.item_boxes):
        assert display.item_at((r0 + r1) / 2, (c0 + c1) / 2) == i
    assert display.item_at(-5, -5) is None
