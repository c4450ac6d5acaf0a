"""The procedural displays of the six experiments, checked against the authors' generator notebooks."""

import numpy as np
import pytest
from scipy import ndimage

from neurogaze.errors import DataValidationError
from neurogaze.gaze.search_asymmetry.stimuli import (
    CURVATURE_ANGLES,
    EXPERIMENTS,
    bar_item,
    curvature_item,
    generate_condition,
    intersection_item,
    lit_disc,
    make_display,
)

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


# --- the authors' generators (kreimanlab/VisualSearchAsymmetry, experiment_stimuli_generators) ---

# view px, grid, cell px, item px, jitter (offsets 0 .. jitter - 1), background
GEOMETRY = {
    "curvature": (339, 6, 56, 48, 8, 0),
    "lighting": (198, 4, 49, 31, 18, 27),
    "intersection": (615, 3, 205, 177, 27, 255),
    "t_vs_l": (615, 3, 205, 177, 27, 255),
    "orientation_homo": (339, 4, 84, 69, 15, 255),
    "orientation_hetero": (339, 4, 84, 69, 15, 255),
}


def _offsets(cell, patch):
    """Every (row, col) offset at which ``patch`` lies in ``cell``."""
    h, w = patch.shape
    return [(dr, dc) for dr in range(cell.shape[0] - h + 1) for dc in range(cell.shape[1] - w + 1)
            if np.array_equal(cell[dr : dr + h, dc : dc + w], patch)]


def _cell(display, i):
    r0, c0, r1, c1 = display.item_boxes[i]
    return display.image[r0:r1, c0:c1, 0]


def _clockwise_tilt(image, ink_below=128):
    """Orientation of the ink's long axis in degrees clockwise from vertical, in (-90, 90]."""
    rows, cols = np.nonzero(image < ink_below)
    rows, cols = rows - rows.mean(), cols - cols.mean()
    values, vectors = np.linalg.eigh(np.cov(np.stack([cols, -rows])))
    right, up = vectors[:, np.argmax(values)]
    if up < 0 or (up == 0 and right < 0):
        right, up = -right, -up
    angle = np.degrees(np.arctan2(right, up))
    return 90.0 if angle <= -90 else angle


@pytest.mark.parametrize("experiment", list(EXPERIMENTS))
def test_display_geometry_follows_the_notebooks(experiment):
    view, grid, cell, item, jitter, background = GEOMETRY[experiment]
    spec = EXPERIMENTS[experiment]
    assert (spec.grid, spec.background) == (grid, background)
    assert (spec.view_px(), spec.cell_px(), spec.item_px(), spec.jitter_px()) == (view, cell, item, jitter)
    rng = np.random.default_rng(3)
    for condition in spec.conditions:
        display = make_display(experiment, condition.key, spec.set_sizes[-1], rng)
        assert display.image.shape == (view, view, 3) and display.target.shape == (item, item, 3)
        assert display.background == background and (display.image[-1, -1] == background).all()
        assert (display.item_boxes[:, 2:] - display.item_boxes[:, :2] == cell).all()
        assert all(dr < jitter and dc < jitter for dr, dc in _offsets(_cell(display, display.target_index),
                                                                      display.target[..., 0]))


def test_jitter_covers_the_notebooks_range():
    """Lighting: the cue's offset inside its cell runs over rng.integers(18) on both axes."""
    rng = np.random.default_rng(4)
    offsets = []
    for _ in range(150):
        display = make_display("lighting", "top_down", 1, rng)
        offsets += _offsets(_cell(display, 0), display.target[..., 0])
    offsets = np.array(offsets)
    assert offsets.min() == 0 and offsets.max() == 17


@pytest.mark.parametrize("experiment,condition", CASES)
def test_cell_boxes_item_cells_and_target_cell_agree(experiment, condition):
    spec = EXPERIMENTS[experiment]
    _, grid, cell, *_ = GEOMETRY[experiment]
    display = make_display(experiment, condition, spec.set_sizes[-1], np.random.default_rng(6))
    index = np.arange(grid * grid)
    expected = np.stack([index // grid * cell, index % grid * cell, index // grid * cell + cell,
                         index % grid * cell + cell], axis=1)
    np.testing.assert_array_equal(display.cell_boxes, expected)  # every cell, row-major
    assert display.item_cells.shape == (display.set_size,) and len(set(display.item_cells)) == display.set_size
    np.testing.assert_array_equal(display.cell_boxes[display.item_cells], display.item_boxes)
    assert display.target_cell == display.item_cells[display.target_index]
    r0, c0, r1, c1 = display.cell_boxes[display.target_cell]
    assert display.item_at((r0 + r1) / 2, (c0 + c1) / 2) == display.target_index


# --- Exp2 lighting ---------------------------------------------------------------------------


def test_lighting_disc_has_two_row_bands_inside_a_29_px_disc():
    base = lit_disc("bottom")
    assert base.shape == (31, 31)
    disc = base != 27
    assert disc[15].sum() == 29 and disc[:, 15].sum() == 29
    assert not disc[0].any() and not disc[30].any()  # strictly inside radius 15 of (15, 15)
    for row in range(1, 30):  # band k covers rows 2k, 2k + 1 at luminance 17 k
        assert (base[row][disc[row]] == 17 * (row // 2)).all()
    # 16 bands 0..255, of which the disc shows 0..238 (band 15 is row 30, outside the disc)
    assert set(np.unique(base[disc])) == {17 * k for k in range(15)}
    np.testing.assert_array_equal(lit_disc("top"), np.flipud(base))
    np.testing.assert_array_equal(lit_disc("right"), base.T)
    np.testing.assert_array_equal(lit_disc("left"), np.fliplr(base.T))


@pytest.mark.parametrize("condition,bright", [("top_down", "top"), ("left_right", "left")])
def test_lighting_targets_are_lit_from_the_other_side(condition, bright):
    display = make_display("lighting", condition, 6, np.random.default_rng(7))
    cue = display.target[..., 0].astype(float)
    np.testing.assert_array_equal(cue, lit_disc(bright))
    first, second = (cue[:15], cue[16:]) if bright == "top" else (cue[:, :15], cue[:, 16:])
    assert first[first != 27].mean() > second[second != 27].mean() + 100
    distractor = next(i for i in range(6) if i != display.target_index)
    opposite = {"top": "bottom", "left": "right"}[bright]
    assert _offsets(_cell(display, distractor), lit_disc(opposite))


# --- Exp3 intersection, Exp4 T vs L --------------------------------------------------------------


def test_non_cross_is_one_shape_with_two_t_junctions_at_different_heights():
    ink = intersection_item("non_cross", 0) == 0
    assert ink.shape == (177, 177)
    assert ndimage.label(ink)[1] == 1  # one connected shape
    area = ink[6:171, 6:171]  # the 165 px stroke area, 6 px inside the patch
    assert not ink[:6].any() and not ink[171:].any() and not ink[:, :6].any() and not ink[:, 171:].any()
    stem = np.flatnonzero(area.all(axis=0))
    assert stem.tolist() == list(range(74, 90))  # 16 px stroke, centred
    left, right = area[:, : stem[0]], area[:, stem[-1] + 1 :]
    left_rows, right_rows = np.flatnonzero(left.any(axis=1)), np.flatnonzero(right.any(axis=1))
    assert left_rows.tolist() == list(range(49, 66)) and right_rows.tolist() == list(range(99, 115))
    assert not set(left_rows) & set(right_rows)  # the junctions are at different heights
    # each half-bar runs to the patch edge and touches the stem: no free stroke
    assert left[left_rows, 0].all() and left[left_rows, -1].all()
    assert right[right_rows, 0].all() and right[right_rows, -1].all()


def test_cross_bar_crosses_the_stem_off_centre():
    area = (intersection_item("cross", 0) == 0)[6:171, 6:171]
    assert ndimage.label(area)[1] == 1
    bar = np.flatnonzero(area.all(axis=1))
    assert bar.tolist() == list(range(49, 66))
    assert (bar.mean() - 82) < -20  # 30-40 % down the stroke area, not at its middle
    assert np.flatnonzero(area.all(axis=0)).tolist() == list(range(74, 90))


def test_t_and_l_strokes_and_the_four_variants():
    t_area = (intersection_item("T", 0) == 0)[6:171, 6:171]
    assert np.flatnonzero(t_area.all(axis=1)).tolist() == list(range(16))  # top bar
    assert np.flatnonzero(t_area.all(axis=0)).tolist() == list(range(74, 90))  # centred stem
    l_area = (intersection_item("L", 0) == 0)[6:171, 6:171]
    assert np.flatnonzero(l_area.all(axis=0)).tolist() == list(range(16))  # left upright
    assert np.flatnonzero(l_area.all(axis=1)).tolist() == list(range(148, 165))  # bottom bar
    for shape in ("cross", "non_cross", "T", "L"):
        base = intersection_item(shape, 0)
        expected = (base, np.flipud(base), base.T, np.fliplr(base.T))
        for variant in range(4):
            np.testing.assert_array_equal(intersection_item(shape, variant), expected[variant])
    # the authors' L variants are L, flipped, transposed and transposed + flipped: 1 and 3 are both
    # a top bar on a left upright (a Γ), differing only in which stroke is 16 and which 17 px
    for variant in (1, 3):
        gamma = (intersection_item("L", variant) == 0)[6:171, 6:171]
        assert gamma[:16].all() and gamma[:, :16].all() and not gamma[17:, 17:].any()
    assert (intersection_item("L", 1) != intersection_item("L", 3)).sum() == 2 * 148
    assert len({intersection_item("T", v).tobytes() for v in range(4)}) == 4


@pytest.mark.parametrize("experiment,condition,target,distractor",
                         [("intersection", "cross", "cross", "non_cross"), ("t_vs_l", "Ls", "L", "T")])
def test_intersection_items_are_random_variants(experiment, condition, target, distractor):
    rng = np.random.default_rng(8)
    seen_targets, seen_distractors = set(), set()
    for _ in range(6):
        display = make_display(experiment, condition, 9, rng)
        for i in range(9):
            cell = _cell(display, i)
            rows, cols = np.nonzero(cell == 0)
            dr, dc = rows.min() - 6, cols.min() - 6  # every shape's ink spans its stroke area
            patch = cell[dr : dr + 177, dc : dc + 177]
            assert 0 <= dr < 27 and 0 <= dc < 27
            shape = target if i == display.target_index else distractor
            matches = [v for v in range(4) if np.array_equal(patch, intersection_item(shape, v))]
            assert matches
            (seen_targets if i == display.target_index else seen_distractors).add(matches[0])
            if i == display.target_index:
                np.testing.assert_array_equal(patch, display.target[..., 0])
    assert len(seen_distractors) >= 3 and len(seen_targets) >= 2


# --- Exp1 curvature ----------------------------------------------------------------------------


def test_curve_base_is_a_u_and_the_line_a_bar():
    curve = curvature_item("curve", 0.0) == 255
    rows, cols = np.nonzero(curve)
    assert 19 <= rows.min() and rows.max() <= 31
    ends = np.concatenate([rows[cols == cols.min()], rows[cols == cols.max()]]).mean()
    assert ends < rows[cols == 24].mean() - 4  # the ends above the middle: concave up
    flipped = curvature_item("curve", 180.0) == 255
    r180, c180 = np.nonzero(flipped)
    assert r180[c180 == c180.min()].mean() > r180[c180 == 24].mean() + 4  # opens downward
    line = curvature_item("line", 0.0) == 255
    rows, cols = np.nonzero(line)
    assert (rows.min(), rows.max(), cols.min(), cols.max(), line.sum()) == (21, 26, 6, 41, 6 * 36)


def test_curvature_rotations_are_clockwise():
    def slope(angle):  # > 0 when ink runs from top-left to bottom-right ("\")
        rows, cols = np.nonzero(curvature_item("line", angle) == 255)
        return np.corrcoef(cols, rows)[0, 1]

    assert slope(-45.0) > 0.9 and slope(-135.0) < -0.9
    rows, cols = np.nonzero(curvature_item("line", -90.0) == 255)
    assert np.ptp(rows) >= 35 and np.ptp(cols) <= 6
    # the U turned 90 deg clockwise opens to the right: its ends lie right of its middle
    rows, cols = np.nonzero(curvature_item("curve", -90.0) == 255)
    assert cols[rows == rows.min()].mean() > cols[rows == 24].mean() + 4


@pytest.mark.parametrize("condition,target,distractor",
                         [("curve_in_lines", "curve", "line"), ("line_in_curves", "line", "curve")])
def test_curvature_orientations_cycle_by_item_order(condition, target, distractor):
    display = make_display("curvature", condition, 16, np.random.default_rng(9))
    for i in range(16):
        shape = target if i == display.target_index else distractor
        expected = curvature_item(shape, CURVATURE_ANGLES[i % 4])
        found = _offsets(_cell(display, i), expected)
        assert found and all(dr < 8 and dc < 8 for dr, dc in found)
    np.testing.assert_array_equal(display.target[..., 0],
                                  curvature_item(target, CURVATURE_ANGLES[display.target_index % 4]))


# --- Exp5-6 orientation --------------------------------------------------------------------------


def test_minus_20_deg_bar_has_its_top_tilted_right():
    vertical = bar_item(0.0) == 0
    rows, cols = np.nonzero(vertical)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (4, 63, 30, 38)
    display = make_display("orientation_homo", "homo_t20", 1, np.random.default_rng(10))
    cue = display.target[..., 0]
    rows, cols = np.nonzero(cue == 0)
    top, bottom = cols[rows < rows.mean()].mean(), cols[rows > rows.mean()].mean()
    assert top > bottom + 8  # clockwise on screen, as OpenCV's rotation by -20 deg
    assert _clockwise_tilt(cue) == pytest.approx(20, abs=2)
    assert _clockwise_tilt(bar_item(-80.0)) == pytest.approx(80, abs=2)


@pytest.mark.parametrize("condition,target,distractor", [("homo_t20", 20, 0), ("homo_t0", 0, 20)])
def test_homogeneous_distractors_are_the_other_target(condition, target, distractor):
    display = make_display("orientation_homo", condition, 12, np.random.default_rng(11))
    for i in range(12):
        expected = target if i == display.target_index else distractor
        assert _clockwise_tilt(_cell(display, i)) == pytest.approx(expected, abs=2)


@pytest.mark.parametrize("condition,target,other", [("hetero_t0", 0, 20), ("hetero_t20", 20, 0)])
def test_heterogeneous_distractors_are_drawn_without_replacement_from_eight(condition, target, other):
    """Pool: 80, 60, 40 deg clockwise, 20, 40, 60, 80 counter-clockwise, and the other target."""
    pool = {80, 60, 40, -20, -40, -60, -80, other}
    rng = np.random.default_rng(12)
    seen = set()
    for set_size in (8, 8, 8, 8, 8, 12, 12):
        display = make_display("orientation_hetero", condition, set_size, rng)
        tilts = [20 * round(_clockwise_tilt(_cell(display, i)) / 20) for i in range(set_size)]
        assert tilts.pop(display.target_index) == target
        assert set(tilts) <= pool
        if set_size == 8:
            assert len(set(tilts)) == 7  # 7 distinct distractor orientations
        else:  # 11 distractors: the whole pool once, 3 of it twice
            assert set(tilts) == pool and max(tilts.count(t) for t in pool) == 2
        seen |= set(tilts)
    assert other in seen
