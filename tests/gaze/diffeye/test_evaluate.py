"""DiffEye's per-image scores: mean and best over samples, diversity, saliency."""

import numpy as np
import pytest

from neurogaze.gaze.diffeye.diffusion import saliency_from_scanpaths
from neurogaze.gaze.diffeye.evaluate import DISTANCES, score_image
from neurogaze.metrics import saliency as sal

SIZE = (200, 100)


def scanpath(rng, n=6):
    return np.column_stack([rng.uniform(0, 200, n), rng.uniform(0, 100, n), rng.uniform(100, 300, n)])


def test_best_finds_the_sample_equal_to_each_human_and_mean_does_not():
    rng = np.random.default_rng(0)
    humans = [scanpath(rng), scanpath(rng)]
    samples = [humans[0], humans[1], scanpath(rng)]
    smap = saliency_from_scanpaths(samples, SIZE, 5.0)
    scores = score_image(samples, humans, SIZE, smap, 5.0)
    for name in DISTANCES:
        assert scores[f"{name}_best"] == pytest.approx(0.0)
        assert scores[f"{name}_mean"] > 0
    assert scores["diversity_dfd"] > 0 and scores["human_diversity_dfd"] > 0


def test_collapsed_samples_have_no_diversity_and_saliency_prefers_the_human_places():
    rng = np.random.default_rng(1)
    humans = [scanpath(rng) for _ in range(3)]
    collapsed = [humans[0]] * 4
    on_humans = score_image(collapsed, humans, SIZE, saliency_from_scanpaths(humans, SIZE, 5.0), 5.0)
    assert on_humans["diversity_dfd"] == 0.0
    uniform = score_image(collapsed, humans, SIZE, sal.uniform_map(*SIZE), 5.0)
    assert on_humans["nss"] > 1.0 > uniform["nss"]
    assert on_humans["cc"] == pytest.approx(1.0) and on_humans["kld"] < uniform["kld"]
