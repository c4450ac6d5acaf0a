"""Scanpath metrics: against multimatch-gaze, plain O(nm) references and hand-computed cases."""

import math

import numpy as np
import pytest
import similaritymeasures

from neurogaze.errors import DataValidationError
from neurogaze.metrics import scanpath as sp

SIZE = (800, 600)


def random_scanpath(rng, n, size=SIZE):
    return np.column_stack([rng.uniform(0, size[0], n), rng.uniform(0, size[1], n), rng.uniform(80, 600, n)])


def cells_to_scanpath(cells, grid=(5, 5), size=(500, 500), duration=200.0):
    """Scanpath through the centres of the given row-major grid cells."""
    rows, cols = np.divmod(np.asarray(cells), grid[0])
    x = (cols + 0.5) * size[0] / grid[0]
    y = (rows + 0.5) * size[1] / grid[1]
    return np.column_stack([x, y, np.full(len(cells), duration)])


# ---------------------------------------------------------------------------------------------
# MultiMatch
# ---------------------------------------------------------------------------------------------


def test_multimatch_matches_multimatch_gaze_on_random_scanpaths():
    multimatch_gaze = pytest.importorskip("multimatch_gaze")
    rng = np.random.default_rng(0)

    def record(s):  # multimatch-gaze takes a record array with durations in seconds
        return np.rec.fromarrays([s[:, 0], s[:, 1], s[:, 2] / 1000], names="start_x,start_y,duration")

    for _ in range(60):
        a, b = (random_scanpath(rng, n) for n in rng.integers(3, 16, 2))
        expected = multimatch_gaze.docomparison(record(a), record(b), screensize=list(SIZE))
        got = sp.multimatch(a, b, SIZE)
        np.testing.assert_allclose(list(got.values()), expected, atol=1e-9)


def test_multimatch_of_identical_scanpaths_is_one_and_short_scanpaths_are_nan():
    path = random_scanpath(np.random.default_rng(1), 6)
    assert all(v == pytest.approx(1.0) for v in sp.multimatch(path, path, SIZE).values())
    assert all(math.isnan(v) for v in sp.multimatch(path[:2], path, SIZE).values())


def test_multimatch_hand_case_shifted_copy_only_loses_position():
    path = np.array([[100, 100, 200], [300, 100, 200], [300, 300, 200], [500, 300, 200.0]])
    shifted = path + np.array([30, 40, 0])  # every fixation moved by 50 px
    got = sp.multimatch(path, shifted, SIZE)
    assert got["mm_vector"] == pytest.approx(1.0)
    assert got["mm_direction"] == pytest.approx(1.0)
    assert got["mm_duration"] == pytest.approx(1.0)
    assert got["mm_position"] == pytest.approx(1 - 50 / 1000)  # diagonal of 800 x 600 is 1000


# ---------------------------------------------------------------------------------------------
# DTW and time-delay embedding
# ---------------------------------------------------------------------------------------------


def reference_dtw(a, b):
    n, m = len(a), len(b)
    cost = np.full((n + 1, m + 1), np.inf)
    cost[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d = math.dist(a[i - 1, :2], b[j - 1, :2])
            cost[i, j] = d + min(cost[i - 1, j], cost[i, j - 1], cost[i - 1, j - 1])
    return cost[n, m]


def test_dtw_matches_plain_dynamic_program():
    rng = np.random.default_rng(2)
    for _ in range(40):
        a, b = (random_scanpath(rng, n) for n in rng.integers(1, 14, 2))
        assert sp.dtw(a, b)["dtw"] == pytest.approx(reference_dtw(a, b), rel=1e-10)


def test_dtw_hand_case():
    a = np.array([[0.0, 0], [10, 0], [20, 0]])
    b = np.array([[0.0, 0], [20, 0]])
    # best warping: (0,0)-(0,0)=0, (10,0)-(0,0) or -(20,0)=10, (20,0)-(20,0)=0
    assert sp.dtw(a, b)["dtw"] == pytest.approx(10.0)


def reference_tde(predicted, human, k):
    distances = []
    for i in range(len(predicted) - k + 1):
        window = predicted[i : i + k, :2]
        norms = [np.sqrt(np.sum((window - human[j : j + k, :2]) ** 2)) for j in range(len(human) - k + 1)]
        distances.append(min(norms) / k)
    return distances


def test_time_delay_embedding_matches_plain_loops():
    rng = np.random.default_rng(3)
    for _ in range(30):
        a, b = (random_scanpath(rng, n) for n in rng.integers(3, 12, 2))
        for k in (2, 3):
            expected = reference_tde(a, b, k)
            assert sp.time_delay_embedding(a, b, k=k)["tde"] == pytest.approx(np.mean(expected))
            assert sp.time_delay_embedding(a, b, k=k, mode="hausdorff")["tde"] == pytest.approx(np.max(expected))


def test_discrete_frechet_matches_similaritymeasures():
    rng = np.random.default_rng(3)
    predicted = random_scanpath(rng, 7)
    humans = [random_scanpath(rng, n) for n in (1, 4, 9, 12)]
    values = sp.discrete_frechet_many(predicted, humans, SIZE)["dfd"]
    expected = [similaritymeasures.frechet_dist(predicted[:, :2], h[:, :2]) for h in humans]
    np.testing.assert_allclose(values, expected, rtol=1e-12)


def test_discrete_frechet_hand_case():
    path = np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]])
    # the leash is longest where the detour is: 5 px off the line at the middle point
    assert sp.discrete_frechet(path, path + [0.0, 5.0])["dfd"] == pytest.approx(5.0)
    assert sp.discrete_frechet(path, path[::-1])["dfd"] == pytest.approx(20.0)


def test_time_delay_embedding_hand_case():
    path = np.array([[0.0, 0], [100, 0], [100, 100]])
    shifted = path + np.array([3.0, 4.0])
    # one window each; the difference is (3, 4) at each of 3 fixations: sqrt(3 * 25) / 3
    assert sp.time_delay_embedding(path, shifted, k=3)["tde"] == pytest.approx(math.sqrt(75) / 3)
    assert math.isnan(sp.time_delay_embedding(path[:2], shifted, k=3)["tde"])
    with pytest.raises(DataValidationError):
        sp.time_delay_embedding(path, shifted, mode="median")


# ---------------------------------------------------------------------------------------------
# String metrics and ScanMatch
# ---------------------------------------------------------------------------------------------


def test_grid_cells_are_row_major_and_clipped():
    path = np.array([[0.0, 0, 1], [499.9, 0, 1], [0, 499.9, 1], [500, 500, 1]])
    assert sp.grid_cells(path, (500, 500), (5, 5)).tolist() == [0, 4, 20, 24]


def test_string_edit_distance_hand_cases():
    size = (500, 500)
    a = cells_to_scanpath([0, 1, 2, 3])
    b = cells_to_scanpath([0, 2, 3, 4, 5])  # delete 1, insert 4 and 5: 3 edits
    got = sp.string_edit_distance(a, b, size)
    assert got["sed"] == 3 and got["sed_normalised"] == pytest.approx(3 / 5)
    assert sp.string_edit_distance(a, a, size)["sed"] == 0
    # kitten -> sitting, with letters as cells: 3 edits
    kitten = cells_to_scanpath([10, 8, 19, 19, 4, 13])
    sitting = cells_to_scanpath([18, 8, 19, 19, 8, 13, 6])
    assert sp.string_edit_distance(kitten, sitting, size)["sed"] == 3


def test_grid_lcs_is_common_subsequence_over_longer_length():
    size = (500, 500)
    a = cells_to_scanpath([0, 1, 2, 3])
    b = cells_to_scanpath([0, 2, 3, 4, 5])  # longest common subsequence 0, 2, 3
    assert sp.grid_lcs(a, b, size)["grid_lcs"] == pytest.approx(3 / 5)
    assert sp.grid_lcs(a, a, size)["grid_lcs"] == pytest.approx(1.0)


def reference_needleman_wunsch(similarity, gap):
    n, m = similarity.shape
    score = np.zeros((n + 1, m + 1))
    score[:, 0] = gap * np.arange(n + 1)
    score[0, :] = gap * np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            diagonal = score[i - 1, j - 1] + similarity[i - 1, j - 1]
            score[i, j] = max(diagonal, score[i - 1, j] + gap, score[i, j - 1] + gap)
    return score[n, m]


def test_alignment_matches_plain_needleman_wunsch():
    rng = np.random.default_rng(4)
    for _ in range(40):
        similarity = rng.normal(size=tuple(rng.integers(1, 12, 2)))
        gap = float(rng.choice([0.0, -0.5, -2.0]))
        assert sp._align(similarity, gap)[-1] == pytest.approx(reference_needleman_wunsch(similarity, gap))


def test_scanmatch_substitution_matrix_is_cristino_formula():
    grid, threshold = (4, 3), 2.5
    # the toolbox's construction: distances between cell positions, then abs(D - max) - (max - T)
    positions = [(i, j) for i in range(grid[1]) for j in range(grid[0])]
    distance = np.array([[math.dist(p, q) for q in positions] for p in positions])
    expected = np.abs(distance - distance.max()) - (distance.max() - threshold)
    np.testing.assert_allclose(sp.scanmatch_substitution_matrix(grid, threshold), expected)


def test_scanmatch_hand_cases():
    size = (500, 500)
    a = cells_to_scanpath([0])
    neighbour = cells_to_scanpath([1])
    # one symbol each (no temporal binning): score (T - 1) / (T * 1)
    got = sp.scanmatch(a, neighbour, size, grid=(5, 5), threshold=2.0, temporal_bin_ms=0)
    assert got["scanmatch"] == pytest.approx(0.5)
    # temporal binning: 200 ms at 50 ms bins repeats each fixation 4 times; identical -> 1
    path = cells_to_scanpath([0, 6, 12])
    assert sp.scanmatch(path, path, size, grid=(5, 5))["scanmatch"] == pytest.approx(1.0)
    assert len(sp.scanmatch_sequence(path, size, (5, 5), 50.0)) == 12
    # a gap is cheaper than a far substitution: [0] vs [24] aligns as two gaps of -1 each
    far = cells_to_scanpath([24])
    got = sp.scanmatch(a, far, size, grid=(5, 5), threshold=2.0, gap=-1.0, temporal_bin_ms=0)
    assert got["scanmatch"] == pytest.approx(-2.0 / 2.0)


def test_scanmatch_threshold_is_two_sd_of_amplitudes_in_cells():
    paths = [np.array([[0.0, 0], [100, 0], [100, 200]])]  # amplitudes 1 and 2 cells of 100 px
    assert sp.scanmatch_threshold(paths, (500, 500), (5, 5)) == pytest.approx(2 * 0.5)


# ---------------------------------------------------------------------------------------------
# Registry-wide properties and bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(sp.SCANPATH_METRICS))
def test_identical_scanpath_scores_at_least_as_well_as_a_random_one(name):
    rng = np.random.default_rng(5)
    human = random_scanpath(rng, 8)
    self_scores = sp.SCANPATH_METRICS[name](human, [human], SIZE)
    for _ in range(5):
        other_scores = sp.SCANPATH_METRICS[name](random_scanpath(rng, 8), [human], SIZE)
        for output, value in self_scores.items():
            assert np.isfinite(value)
            if output in sp.LOWER_IS_BETTER:
                assert value <= other_scores[output]
            else:
                assert value >= other_scores[output]


@pytest.mark.parametrize("name", sorted(sp.SCANPATH_METRICS))
def test_bad_scanpaths_are_rejected(name):
    good = random_scanpath(np.random.default_rng(6), 5)
    with pytest.raises(DataValidationError, match="predicted"):
        sp.SCANPATH_METRICS[name](np.zeros((5, 4)), [good], SIZE)
    nan_path = good.copy()
    nan_path[0, 0] = np.nan
    with pytest.raises(DataValidationError, match="human"):
        sp.SCANPATH_METRICS[name](good, [good, nan_path], SIZE)


def test_duration_metrics_need_durations_and_image_size_must_be_positive():
    good = random_scanpath(np.random.default_rng(7), 5)
    with pytest.raises(DataValidationError, match="duration"):
        sp.multimatch(good[:, :2], good, SIZE)
    with pytest.raises(DataValidationError, match="image_size"):
        sp.multimatch(good, good, (0, 600))


def test_score_pair_collects_all_outputs_and_rejects_unknown_names():
    rng = np.random.default_rng(8)
    a, b = random_scanpath(rng, 6), random_scanpath(rng, 7)
    values = sp.score_pair(a, b, SIZE, params={"scanmatch": {"threshold": 2.0}})
    assert {"mm_vector", "scanmatch", "grid_lcs", "sed", "dtw", "tde"} <= set(values)
    assert values["scanmatch"] == sp.scanmatch(a, b, SIZE, threshold=2.0)["scanmatch"]
    with pytest.raises(DataValidationError, match="metrics"):
        sp.score_pair(a, b, SIZE, metrics=["hausdorff"])


@pytest.mark.parametrize("name", sorted(sp.SCANPATH_METRICS))
def test_batch_of_humans_equals_one_pair_at_a_time(name):
    rng = np.random.default_rng(9)
    predicted = random_scanpath(rng, 7)
    # lengths around every metric's minimum (MultiMatch 3, TDE k = 3), plus an empty scanpath
    humans = [random_scanpath(rng, n) for n in (1, 2, 3, 4, 11, 0, 6)]
    batch = sp.SCANPATH_METRICS[name](predicted, humans, SIZE)
    for output, values in batch.items():
        assert values.shape == (len(humans),)
        one_at_a_time = [sp.SCANPATH_METRICS[name](predicted, [h], SIZE)[output][0] for h in humans]
        np.testing.assert_allclose(values, one_at_a_time, rtol=1e-12, atol=1e-12)


def test_multimatch_batch_matches_multimatch_gaze_per_human():
    multimatch_gaze = pytest.importorskip("multimatch_gaze")
    rng = np.random.default_rng(10)
    predicted = random_scanpath(rng, 9)
    humans = [random_scanpath(rng, n) for n in (3, 5, 8, 13, 20)]
    batch = sp.multimatch_many(predicted, humans, SIZE)

    def record(s):
        return np.rec.fromarrays([s[:, 0], s[:, 1], s[:, 2] / 1000], names="start_x,start_y,duration")

    for b, human in enumerate(humans):
        expected = multimatch_gaze.docomparison(record(predicted), record(human), screensize=list(SIZE))
        np.testing.assert_allclose([batch[k][b] for k in sp.MULTIMATCH_OUTPUTS], expected, atol=1e-9)


def test_humans_must_be_a_list_of_scanpaths():
    path = random_scanpath(np.random.default_rng(11), 5)
    with pytest.raises(DataValidationError, match="humans"):
        sp.dtw_many(path, path, SIZE)
    assert sp.string_edit_distance_many(path, [np.empty((0, 3))], (500, 500))["sed"][0] == 5


def _edit_distance_by_search(a, b, alphabet) -> int:
    """Breadth-first search over single insertions, deletions, substitutions and adjacent swaps:
    the shortest edit path, an independent definition of the Damerau-Levenshtein distance."""
    from collections import deque

    start, goal, limit = tuple(a), tuple(b), max(len(a), len(b)) + 1
    seen, queue = {start: 0}, deque([start])
    while queue:
        word = queue.popleft()
        if word == goal:
            return seen[word]
        neighbours = [word[:i] + (c,) + word[i:] for i in range(len(word) + 1) for c in alphabet]
        neighbours += [word[:i] + word[i + 1:] for i in range(len(word))]
        neighbours += [word[:i] + (c,) + word[i + 1:] for i in range(len(word)) for c in alphabet]
        neighbours += [word[:i] + (word[i + 1], word[i]) + word[i + 2:] for i in range(len(word) - 1)]
        for neighbour in neighbours:
            if len(neighbour) <= limit and neighbour not in seen:
                seen[neighbour] = seen[word] + 1
                queue.append(neighbour)
    raise AssertionError("unreachable")


def test_damerau_levenshtein_is_the_shortest_edit_path_with_swaps():
    rng = np.random.default_rng(0)
    for _ in range(150):
        a = list(rng.choice(list("abc"), rng.integers(0, 6)))
        b = list(rng.choice(list("abc"), rng.integers(0, 6)))
        assert sp.damerau_levenshtein(a, b) == _edit_distance_by_search(a, b, "abc"), (a, b)
    assert sp.damerau_levenshtein("ca", "abc") == 2  # 3 for the restricted (adjacent-only) variant


def test_fixatons_edit_distance_counts_a_swap_once():
    size = (400, 400)
    a = np.array([[50, 50, 200], [350, 50, 200], [50, 350, 200]])
    b = a[[1, 0, 2]]
    assert sp.string_edit_distance(a, b, size, grid=(4, 4))["sed"] == 2
    assert sp.string_edit_distance(a, b, size, grid=(4, 4), transpositions=True)["sed"] == 1


def test_paper_config_scores_with_the_fixatons_settings():
    from neurogaze.config import load_config, repository_root

    params = load_config(repository_root() / "config" / "paper.yaml")["gaze_evaluation"]["metric_params"]
    assert params["string_edit_distance"] == {"grid": [4, 4], "transpositions": True}
    assert params["scanmatch"]["grid"] == [14, 8]
