"""Saliency metrics: against pysaliency 0.2.22 on the same inputs, and hand-computed cases."""

import numpy as np
import pytest
from scipy import ndimage

from neurogaze.errors import DataValidationError
from neurogaze.metrics import saliency as sal

SHAPE = (40, 60)


@pytest.fixture
def pysaliency(monkeypatch):
    """pysaliency, with numpy 2's ``trapezoid`` under the ``trapz`` name its ROC code still calls."""
    monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)
    return pytest.importorskip("pysaliency")


def smooth_map(rng, sigma=3.0, shape=SHAPE):
    return ndimage.gaussian_filter(rng.random(shape), sigma)


def random_fixations(rng, n, shape=SHAPE):
    return np.column_stack([rng.integers(0, shape[1], n), rng.integers(0, shape[0], n)])


def cases():
    rng = np.random.default_rng(0)
    for case in range(6):
        smap = smooth_map(rng)
        if case % 2:  # coarse values: many ties among pixels and fixations
            smap = np.round(smap * 20)
        fixations = random_fixations(rng, 30)
        fixations[:4] = fixations[0]  # a pixel fixated several times
        yield smap, fixations, random_fixations(rng, 80), smooth_map(rng, 2.0)


def test_location_metrics_match_pysaliency_functions(pysaliency):
    from pysaliency.roc import general_roc

    for smap, fixations, nonfixations, _ in cases():
        positives = smap[fixations[:, 1], fixations[:, 0]].astype(float)
        fixated = np.zeros(SHAPE, dtype=bool)
        fixated[fixations[:, 1], fixations[:, 0]] = True
        judd = general_roc(positives, smap[~fixated].astype(float), judd=1)[0]
        assert sal.auc_judd(smap, fixations) == pytest.approx(judd, abs=1e-12)
        shuffled = general_roc(positives, smap[nonfixations[:, 1], nonfixations[:, 0]].astype(float), judd=0)[0]
        assert sal.shuffled_auc(smap, fixations, nonfixations) == pytest.approx(shuffled, abs=1e-12)
        expected_nss = pysaliency.metrics.NSS(smap, fixations[:, 0], fixations[:, 1]).mean()
        assert sal.nss(smap, fixations) == pytest.approx(expected_nss, abs=1e-12)


def test_distribution_metrics_match_pysaliency_functions(pysaliency):
    for smap, _, _, target in cases():
        assert sal.cc(smap, target) == pytest.approx(pysaliency.metrics.CC(smap, target), abs=1e-12)
        assert sal.kl_divergence(smap, target) == pytest.approx(pysaliency.metrics.MIT_KLDiv(smap, target), abs=1e-12)
        assert sal.sim(smap, target) == pytest.approx(pysaliency.metrics.SIM(smap, target), abs=1e-12)


class _FixedMaps:
    """Stimuli whose first pixel holds their index, so a model can look its map up."""

    def __init__(self, pysaliency, maps):
        self.stimuli = pysaliency.Stimuli([np.full(m.shape, float(i)) for i, m in enumerate(maps)])
        self.maps = maps

    def lookup(self, stimulus):
        return self.maps[int(np.asarray(stimulus)[0, 0])]


def test_model_level_auc_judd_and_information_gain_match_pysaliency(pysaliency):
    from pysaliency.models import Model
    from pysaliency.saliency_map_models import SaliencyMapModel

    rng = np.random.default_rng(1)
    maps = [smooth_map(rng) + 0.01 for _ in range(3)]
    baselines = [smooth_map(rng, 8.0) + 0.01 for _ in range(3)]
    fixations = [random_fixations(rng, 25) for _ in range(3)]
    lookup = _FixedMaps(pysaliency, maps)
    baseline_lookup = _FixedMaps(pysaliency, baselines)
    xs = np.concatenate([f[:, 0] for f in fixations]).astype(float)
    ys = np.concatenate([f[:, 1] for f in fixations]).astype(float)
    ns = np.repeat(np.arange(3), 25)
    pys_fixations = pysaliency.Fixations.create_without_history(xs, ys, ns)

    class MapModel(SaliencyMapModel):
        def _saliency_map(self, stimulus):
            return lookup.lookup(stimulus)

    class DensityModel(Model):
        def __init__(self, table):
            super().__init__(caching=False)
            self.table = table

        def _log_density(self, stimulus):
            density = self.table.lookup(stimulus)
            return np.log(density / density.sum())

    expected_judd = MapModel(caching=False).AUC_Judd(lookup.stimuli, pys_fixations, jitter=False)
    got_judd = np.mean([sal.auc_judd(m, f) for m, f in zip(maps, fixations)])
    assert got_judd == pytest.approx(expected_judd, abs=1e-12)

    gains = DensityModel(lookup).information_gains(lookup.stimuli, pys_fixations, DensityModel(baseline_lookup))
    got_ig = [sal.information_gain(m, f, b) for m, f, b in zip(maps, fixations, baselines)]
    # eps = 2.2e-16 inside the logs moves densities of ~1e-4 by ~1e-12 bits
    np.testing.assert_allclose(got_ig, gains.reshape(3, 25).mean(axis=1), atol=1e-9)


def test_hand_cases():
    smap = np.zeros((3, 4))
    smap[1, 2] = 1.0
    peak = np.array([[2, 1]])
    # one fixated pixel holding the only non-zero value: mean 1/12, population std sqrt(11)/12
    assert sal.nss(smap, peak) == pytest.approx((1 - 1 / 12) / (np.sqrt(11) / 12))
    assert sal.auc_judd(smap, peak) == pytest.approx(1.0)
    assert sal.shuffled_auc(smap, peak, np.array([[0, 0], [2, 1]])) == pytest.approx(0.75)  # 1 below, 1 tie
    assert sal.nss(np.ones((3, 4)), peak) == 0.0
    other = np.random.default_rng(2).random((3, 4))
    assert sal.cc(other, other) == pytest.approx(1.0)
    assert sal.cc(other, -other) == pytest.approx(-1.0)
    assert sal.sim(other, other) == pytest.approx(1.0)
    assert sal.kl_divergence(other, other) == pytest.approx(0.0, abs=1e-12)
    assert sal.information_gain(other, peak, other) == pytest.approx(0.0)
    # twice the density at the fixation: exactly one bit
    baseline = np.ones((3, 4))
    doubled = baseline.copy()
    doubled[1, 2] = 2.0
    ratio = (2 / 13) / (1 / 12)
    assert sal.information_gain(doubled, peak, baseline) == pytest.approx(np.log2(ratio))


def test_fixation_density_equals_gaussian_filter_of_counts():
    rng = np.random.default_rng(3)
    fixations = random_fixations(rng, 50)
    fixations[:5] = fixations[0]
    for sigma in (0.7, 3.0, 12.0):
        expected = ndimage.gaussian_filter(sal.fixation_map(fixations, SHAPE), sigma, mode="constant")
        np.testing.assert_allclose(sal.fixation_density(fixations, SHAPE, sigma), expected / expected.sum(), atol=1e-15)
    assert sal.fixation_map(fixations, SHAPE).sum() == 50
    uniform = sal.fixation_density(np.empty((0, 2), int), SHAPE, 2.0)
    assert np.allclose(uniform, 1 / uniform.size)


def test_to_pixels_floors_and_clips():
    pixels = sal.to_pixels([[0.9, 5.2], [59.99, 39.5], [60.0, -0.1]], 60, 40)
    assert pixels.tolist() == [[0, 5], [59, 39], [59, 0]]


@pytest.mark.parametrize("name", sorted(sal.SALIENCY_METRICS))
def test_registry_perfect_map_beats_flat_noise(name):
    rng = np.random.default_rng(4)
    fixations = random_fixations(rng, 20)
    target = sal.SaliencyTarget.from_fixations(fixations, SHAPE, 2.0, random_fixations(rng, 60), np.ones(SHAPE))
    perfect, noise = target.empirical_density(), rng.random(SHAPE)
    good, bad = sal.SALIENCY_METRICS[name](perfect, target), sal.SALIENCY_METRICS[name](noise, target)
    assert np.isfinite(good) and np.isfinite(bad)
    assert (good < bad) if name in sal.SALIENCY_LOWER_IS_BETTER else (good > bad)


@pytest.mark.parametrize("name", ["auc_judd", "sauc", "nss", "ig"])
def test_fixation_based_metrics_reject_fixations_outside_the_map(name):
    target = sal.SaliencyTarget(np.array([[60, 0]]), SHAPE, 2.0, nonfixations=np.array([[0, 0]]))
    with pytest.raises(DataValidationError, match="fixations"):
        sal.SALIENCY_METRICS[name](np.ones(SHAPE), target)


def test_target_from_fixations_rejects_fixations_outside_the_map():
    with pytest.raises(DataValidationError, match="inside a 60 x 40 map"):
        sal.SaliencyTarget.from_fixations(np.array([[0, 40]]), SHAPE, 2.0)


def test_target_density_is_built_once_on_demand_and_needs_a_blur():
    fixations = np.array([[3, 4], [10, 20]])
    target = sal.SaliencyTarget.from_fixations(fixations, SHAPE, 2.0)
    assert target.density is None
    np.testing.assert_array_equal(target.empirical_density(), sal.fixation_density(fixations, SHAPE, 2.0))
    assert target.empirical_density() is target.density
    with pytest.raises(DataValidationError, match="sigma_px"):
        sal.SaliencyTarget(fixations, SHAPE).empirical_density()
    given = sal.SaliencyTarget(fixations, SHAPE, density=np.ones(SHAPE))
    assert sal.SALIENCY_METRICS["sim"](np.ones(SHAPE), given) == pytest.approx(1.0)


def test_bad_inputs_are_named():
    smap = np.ones(SHAPE)
    with pytest.raises(DataValidationError, match="integer"):
        sal.nss(smap, np.array([[1.5, 2.0]]))
    with pytest.raises(DataValidationError, match=r"\(n, 2\)"):
        sal.nss(smap, np.array([1, 2]))
    with pytest.raises(DataValidationError, match="2-D"):
        sal.nss(np.ones((2, 3, 4)), np.array([[0, 0]]))
    with pytest.raises(DataValidationError, match="finite"):
        sal.cc(np.full(SHAPE, np.nan), smap)
    with pytest.raises(DataValidationError, match="target_map"):
        sal.sim(smap, np.ones((4, 4)))
    with pytest.raises(DataValidationError, match="sigma_px"):
        sal.fixation_density(np.array([[0, 0]]), SHAPE, 0.0)
    assert np.isnan(sal.auc_judd(np.ones((1, 1)), np.array([[0, 0]])))  # no unfixated pixel


def test_centre_bias_map_is_an_anisotropic_gaussian_density():
    density = sal.centre_bias_map(200, 100, sigma_x=0.1, sigma_y=0.3)
    assert density.shape == (100, 200) and density.sum() == pytest.approx(1.0)
    assert np.unravel_index(density.argmax(), density.shape) in {(49, 99), (49, 100), (50, 99), (50, 100)}
    x = (np.arange(200) + 0.5) / 200
    y = (np.arange(100) + 0.5) / 100
    assert np.sqrt(np.sum(density.sum(0) * (x - 0.5) ** 2)) == pytest.approx(0.1, rel=1e-3)
    profile = density.sum(1) / density.sum(1).max()  # truncated by the border, so compare shapes
    gaussian = np.exp(-0.5 * ((y - 0.5) / 0.3) ** 2)
    np.testing.assert_allclose(profile, gaussian / gaussian.max(), rtol=1e-12)
    with pytest.raises(DataValidationError, match="sigma"):
        sal.centre_bias_map(10, 10, sigma_x=0)


def test_uniform_map_is_flat_and_sums_to_one():
    density = sal.uniform_map(6, 4)
    assert density.shape == (4, 6) and np.all(density == density[0, 0]) and density.sum() == pytest.approx(1.0)


# --- information gain of a sampled model: a probabilistic model, not a truncated blur ---------


def test_probabilistic_density_is_an_untruncated_blur_mixed_with_a_uniform_share():
    fixations = np.array([[10, 12], [40, 30], [41, 30]])
    shape = (48, 64)
    density = sal.probabilistic_density(fixations, shape, 3.0, uniform_weight=0.1)
    blurred = ndimage.gaussian_filter(sal.fixation_map(fixations, shape), 3.0, mode="constant", truncate=40.0)
    np.testing.assert_allclose(density, 0.9 * blurred / blurred.sum() + 0.1 / (48 * 64), rtol=1e-9, atol=1e-15)
    assert density.sum() == pytest.approx(1.0) and density.min() > 0


def test_density_parameters_are_recovered_from_the_samples_alone():
    """Half the samples on a tight spot, half uniform: the held-out likelihood picks a share near
    one half and a narrow kernel; a tight spot alone, almost no uniform share."""
    rng = np.random.default_rng(0)
    spot = rng.normal([20, 20], 1.0, (200, 2))
    spread = rng.uniform([0, 0], [64, 48], (200, 2))
    fixations = sal.to_pixels(np.concatenate([spot, spread])[rng.permutation(400)], 64, 48)
    bandwidth, share = sal.fit_density(fixations, (48, 64), 1.5)
    assert 0.2 < share < 0.7 and bandwidth <= 1.5
    tight = sal.to_pixels(rng.normal([20, 20], 1.0, (400, 2)), 64, 48)
    assert sal.fit_density(tight, (48, 64), 1.5)[1] < 1e-3


def test_information_gain_of_a_model_that_samples_the_baseline_is_near_zero():
    """Kummerer et al.'s information gain: 100 samples of the centre bias, as a probabilistic model,
    gain about nothing over the centre bias (seeds 0-4: -0.10 to -0.02 bits, the price of
    estimating the density from 100 samples); the old truncated blur lost 6-8 bits to the
    fixations its 4-sigma kernels missed."""
    shape, width, height = (120, 160), 160, 120
    rng = np.random.default_rng(1)
    baseline = sal.centre_bias_map(width, height)
    flat = np.cumsum(baseline.ravel())

    def draw(n):
        index = np.searchsorted(flat, rng.random(n) * flat[-1])
        return np.column_stack([index % width, index // width])

    model, humans = draw(100), draw(2000)
    gain = sal.information_gain(sal.probabilistic_density(model, shape, 2.0), humans, baseline)
    assert -0.3 < gain <= 0.05
    truncated = sal.information_gain(sal.fixation_density(model, shape, 2.0), humans, baseline)
    assert truncated < -5
