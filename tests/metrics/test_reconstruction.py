"""Retrieval and reconstruction metrics against brute-force and independent implementations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity

from neurogaze.data.contracts import METRIC_COLUMNS, read_metrics, write_metrics
from neurogaze.errors import DataValidationError
from neurogaze.metrics import reconstruction as rm


def brute_force_top1(brain, images, pick):
    """Loop version: cosine similarity of each pair in the subset, argmax both ways."""
    def cos(a, b):
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

    img_hits = brain_hits = 0
    for i in pick:
        img_hits += max(pick, key=lambda j: cos(brain[i], images[j])) == i
        brain_hits += max(pick, key=lambda j: cos(brain[j], images[i])) == i
    return img_hits / len(pick), brain_hits / len(pick)


def test_retrieval_matches_brute_force_on_each_draw():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((60, 3, 4))
    brain = images + 1.2 * rng.standard_normal(images.shape)
    scores = rm.retrieval_top1(brain, images, subset=20, n_draws=4, seed=7)
    draws = np.random.default_rng(7)
    expected = [brute_force_top1(brain.reshape(60, -1), images.reshape(60, -1),
                                 list(np.sort(draws.choice(60, 20, replace=False)))) for _ in range(4)]
    assert scores["image_top1"] == pytest.approx(np.mean([e[0] for e in expected]))
    assert scores["brain_top1"] == pytest.approx(np.mean([e[1] for e in expected]))
    assert scores["chance"] == pytest.approx(1 / 20)
    assert scores["image_top1"] != scores["brain_top1"]  # the two directions are scored separately


def test_retrieval_is_perfect_for_identical_and_near_chance_for_random():
    rng = np.random.default_rng(1)
    images = rng.standard_normal((400, 32))
    assert rm.retrieval_top1(images, images)["image_top1"] == 1.0
    random = rm.retrieval_top1(rng.standard_normal((400, 32)), images, subset=300, n_draws=30)
    # chance 1/300 = 0.0033: one draw's rate has an SE of 0.0033 (Poisson(1) hits in 300), so even
    # perfectly correlated draws put 0.02 at 5 SE (seeds 0-9: <= 0.009)
    assert random["image_top1"] < 0.02 and random["brain_top1"] < 0.02


def test_pixcorr_is_pearson_r():
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    recon = np.clip(truth + rng.normal(0, 40, truth.shape), 0, 255).astype(np.uint8)
    expected = [pearsonr(r.ravel().astype(float), t.ravel().astype(float))[0] for r, t in zip(recon, truth)]
    np.testing.assert_allclose(rm.pixcorr(recon, truth), expected, rtol=1e-10)


def test_ssim_is_one_for_identical_images_and_matches_skimage():
    rng = np.random.default_rng(3)
    truth = rng.random((2, 32, 32, 3))
    recon = np.clip(truth + rng.normal(0, 0.1, truth.shape), 0, 1)
    np.testing.assert_allclose(rm.ssim(truth, truth), 1.0)
    expected = [structural_similarity(rgb2gray(t), rgb2gray(r), gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, data_range=1.0) for r, t in zip(recon, truth)]
    np.testing.assert_allclose(rm.ssim(recon, truth), expected)
    assert np.all(rm.ssim(recon, truth) < 1)


def test_two_way_identification_matches_a_loop():
    rng = np.random.default_rng(4)
    truth = rng.standard_normal((12, 30))
    recon = truth + 2.0 * rng.standard_normal(truth.shape)
    expected = []
    for i in range(12):
        own = pearsonr(recon[i], truth[i])[0]
        expected.append(np.mean([pearsonr(recon[i], truth[j])[0] < own for j in range(12) if j != i]))
    np.testing.assert_allclose(rm.two_way_identification(recon, truth), expected)
    assert np.all(rm.two_way_identification(truth, truth) == 1.0)


@pytest.mark.parametrize("metric", [rm.pixcorr, rm.ssim])
def test_mismatched_image_sets_are_refused(metric):
    with pytest.raises(DataValidationError, match="reconstructions"):
        metric(np.zeros((2, 8, 8, 3), np.uint8), np.zeros((3, 8, 8, 3), np.uint8))


def test_non_rgb_images_are_refused():
    with pytest.raises(DataValidationError, match="images"):
        rm.pixcorr(np.zeros((2, 8, 8)), np.zeros((2, 8, 8)))


def test_retrieval_refuses_unpaired_rows():
    with pytest.raises(DataValidationError, match="images"):
        rm.retrieval_top1(np.zeros((5, 3)), np.zeros((4, 3)))


def test_metric_rows_follow_the_metrics_contract(tmp_path):
    table = rm.metric_rows({"image_top1": 0.9, "pixcorr": np.array([0.1, 0.2])}, method="mindeye",
                           dataset="nsd-demo", units=["s1", "s2"])
    assert tuple(table.columns) == METRIC_COLUMNS
    write_metrics(tmp_path / "metrics.csv", table)
    back = read_metrics(tmp_path / "metrics.csv")
    assert len(back) == 3 and set(back["unit"]) == {"all", "s1", "s2"}
