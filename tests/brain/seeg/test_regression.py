"""Cross-validated ridge with the paper's splits and the vectorised bootstrap, each against an
independent computation."""

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold

from neurogaze.brain.encoding import ridge_path_predict
from neurogaze.brain.seeg.regression import (
    bootstrap_counts,
    bootstrap_scores,
    cross_validate,
    p_better,
    pearson_columns,
    refit_bootstrap_scores,
    resample_indices,
    weighted_pearson,
)


@pytest.mark.parametrize("n_rows, n_features, seed", [(50, 6, 0), (20, 60, 2)])
def test_ridge_path_matches_sklearn_at_every_alpha(n_rows, n_features, seed):
    """Both forms of the solver, the primal (more rows) and the kernel one (more features than rows:
    SEEG's projected layers), are sklearn's ridge with intercept."""
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(n_rows, n_features)) + 2, rng.normal(size=(n_rows, 4)) + 3
    X_eval = rng.normal(size=(7, n_features))
    path = ridge_path_predict(X, Y, X_eval, (0.1, 10.0, 1e4), dtype="float64")
    for a, alpha in enumerate((0.1, 10.0, 1e4)):
        np.testing.assert_allclose(path[a], Ridge(alpha=alpha).fit(X, Y).predict(X_eval), atol=1e-9)


def test_pearson_columns_is_scipy_s():
    rng = np.random.default_rng(1)
    y, p = rng.normal(size=(30, 5)), rng.normal(size=(30, 5))
    expected = [stats.pearsonr(y[:, k], p[:, k])[0] for k in range(5)]
    np.testing.assert_allclose(pearson_columns(y, p), expected, atol=1e-12)


def test_cross_validation_follows_the_paper_s_splits_and_alpha_rule():
    """Folds of KFold without shuffling, the first half of each validating, z-scored features; per
    alpha the fold-mean validation and test r, and per target the alpha of the best mean
    validation r (the reference's regress_model_layer): written out here with sklearn's KFold and
    Ridge and scipy's Pearson r."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 5)) * [1, 10, 100, 1, 1]
    Y = X @ rng.normal(size=(5, 4)) * [1, 0.1, 0.01, 0] + rng.normal(size=(60, 4)) * 5
    alphas = (0.1, 10.0, 1000.0, 1e5)
    fit = cross_validate(X, Y, alphas, 5)
    val_r = np.zeros((len(alphas), 5, Y.shape[1]))  # alpha x fold x target
    test_r = np.zeros_like(val_r)
    for a, alpha in enumerate(alphas):
        for f, (train, held) in enumerate(KFold(5, shuffle=False).split(X)):
            val, test = held[: len(held) // 2], held[len(held) // 2 :]
            mean, std = X[train].mean(0), X[train].std(0)
            model = Ridge(alpha=alpha).fit((X[train] - mean) / std, Y[train])
            for k in range(Y.shape[1]):
                val_r[a, f, k] = stats.pearsonr(Y[val, k], model.predict((X[val] - mean) / std)[:, k])[0]
                test_r[a, f, k] = stats.pearsonr(Y[test, k], model.predict((X[test] - mean) / std)[:, k])[0]
    for k in range(Y.shape[1]):
        best = int(np.argmax(val_r[:, :, k].mean(1)))
        assert fit.alphas[k] == alphas[best]
        np.testing.assert_allclose(fit.val_r[k], val_r[best, :, k].mean(), atol=1e-5)
        np.testing.assert_allclose(fit.test_r[k], test_r[best, :, k].mean(), atol=1e-5)
    assert len(set(fit.alphas)) > 1  # the targets do not all share one alpha: the rule is per target
    assert fit.is_test.sum() == sum(len(h) - len(h) // 2 for _, h in KFold(5).split(X))
    # the held-out predictions are each target's at its alpha, in every fold
    for train, held in KFold(5, shuffle=False).split(X):
        mean, std = X[train].mean(0), X[train].std(0)
        for k in range(Y.shape[1]):
            model = Ridge(alpha=fit.alphas[k]).fit((X[train] - mean) / std, Y[train, k])
            np.testing.assert_allclose(fit.predictions[held, k], model.predict((X[held] - mean) / std), atol=1e-4)


def test_weighted_pearson_equals_the_correlation_of_the_resampled_rows():
    rng = np.random.default_rng(3)
    y, p = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    counts = bootstrap_counts(40, 5, seed=0)
    r = weighted_pearson(counts, y, p)
    for b in range(5):
        rows = np.repeat(np.arange(40), counts[b].astype(int))  # the resample, written out
        expected = [np.corrcoef(y[rows, k], p[rows, k])[0, 1] for k in range(3)]
        np.testing.assert_allclose(r[b], expected, atol=1e-5)


def test_bootstrap_counts_draw_every_event_once_on_average():
    counts = bootstrap_counts(200, 400, seed=1)
    assert np.all(counts.sum(1) == 200)
    # Poisson(1)-like counts: mean 1; the mean over 400 resamples has SE 1 / sqrt(400)
    assert np.abs(counts.mean(0) - 1).max() < 5 / np.sqrt(400)


def test_a_planted_better_model_wins_the_bootstrap_and_an_equal_one_does_not():
    rng = np.random.default_rng(4)
    signal = rng.normal(size=(300, 1))
    Y = signal + rng.normal(size=(300, 1))
    good = np.hstack([signal, rng.normal(size=(300, 3))])
    bad = rng.normal(size=(300, 4))
    counts = bootstrap_counts(300, 500, seed=2)
    _, test_good = bootstrap_scores(counts, Y, cross_validate(good, Y))
    _, test_bad = bootstrap_scores(counts, Y, cross_validate(bad, Y))
    assert p_better(test_good, test_bad)[0] <= 2 / 501
    assert p_better(test_good, test_good)[0] == pytest.approx(1.0)


def test_refit_resamples_are_the_counts_in_time_order_and_each_is_cross_validated():
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(60, 3)), rng.normal(size=(60, 2))
    counts = bootstrap_counts(60, 4, seed=3)
    indices = resample_indices(counts)
    for row, index in zip(counts, indices):
        assert len(index) == 60 and np.all(np.diff(index) >= 0)  # sorted, as the reference sorts them
        np.testing.assert_array_equal(np.bincount(index, minlength=60), row)
    val, test = refit_bootstrap_scores(counts, X, Y)
    for b, index in enumerate(indices):
        fit = cross_validate(X[index], Y[index])
        np.testing.assert_allclose(test[b], fit.test_r)
        np.testing.assert_allclose(val[b], fit.val_r)


def test_a_planted_better_model_wins_the_refit_bootstrap():
    rng = np.random.default_rng(4)
    signal = rng.normal(size=(200, 1))
    Y = signal + rng.normal(size=(200, 1))
    good = np.hstack([signal, rng.normal(size=(200, 3))])
    bad = rng.normal(size=(200, 4))
    counts = bootstrap_counts(200, 60, seed=2)
    _, test_good = refit_bootstrap_scores(counts, good, Y)
    _, test_bad = refit_bootstrap_scores(counts, bad, Y)
    assert p_better(test_good, test_bad)[0] <= 2 / 61
    assert p_better(test_good, test_good)[0] == pytest.approx(1.0)
