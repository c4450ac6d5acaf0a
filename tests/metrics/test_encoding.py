"""Encoding metrics: against scipy / scikit-learn, and NSD's noise-ceiling convention by simulation."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import r2_score

from neurogaze.data.contracts import METRIC_COLUMNS, read_metrics, write_metrics
from neurogaze.errors import DataValidationError
from neurogaze.metrics.encoding import (
    encoding_metric_table,
    noise_ceiling_from_ncsnr,
    pearson_per_unit,
    r2_per_unit,
    r_over_noise_ceiling,
)


def pair(seed=0, n=50, t=6):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(n, t))
    return y, y + rng.normal(size=(n, t)) * np.linspace(0.1, 3, t)


def test_r2_and_pearson_match_sklearn_and_scipy():
    y, pred = pair()
    np.testing.assert_allclose(r2_per_unit(y, pred), r2_score(y, pred, multioutput="raw_values"))
    np.testing.assert_allclose(pearson_per_unit(y, pred), [stats.pearsonr(y[:, i], pred[:, i])[0] for i in range(6)])


def test_constant_columns_give_nan_not_errors():
    y, pred = pair()
    y[:, 0] = 1.0
    pred[:, 1] = 2.0
    assert np.isnan(r2_per_unit(y, pred)[0]) and np.isnan(pearson_per_unit(y, pred)[[0, 1]]).all()


def test_shape_mismatch_is_rejected():
    with pytest.raises(DataValidationError, match="y_pred"):
        pearson_per_unit(np.zeros((5, 2)), np.zeros((5, 3)))


@pytest.mark.parametrize("ncsnr,n_repeats", [(0.5, 3), (1.0, 1), (0.3, 10)])
def test_noise_ceiling_is_the_correlation_a_perfect_model_reaches(ncsnr, n_repeats):
    """Simulate signal + trial noise: r(true signal, n-trial average) equals the ceiling."""
    rng = np.random.default_rng(1)
    signal = rng.normal(size=200_000)
    average = signal + rng.normal(size=(n_repeats, signal.size)).mean(0) / ncsnr
    # r's SE is (1 - r^2) / sqrt(n) <= 0.0013 here, so 5e-3 is >= 3.9 SE (seeds 0-9: errors <= 0.0028)
    assert stats.pearsonr(signal, average)[0] == pytest.approx(noise_ceiling_from_ncsnr(ncsnr, n_repeats), abs=5e-3)
    # NSD's percentage: NC = 100 * ncsnr^2 / (ncsnr^2 + 1/n)
    nc_percent = 100 * ncsnr**2 / (ncsnr**2 + 1 / n_repeats)
    assert 100 * noise_ceiling_from_ncsnr(ncsnr, n_repeats) ** 2 == pytest.approx(nc_percent)


def test_r_over_ceiling_is_nan_without_explainable_signal():
    np.testing.assert_allclose(r_over_noise_ceiling([0.4, 0.2], [0.8, 0.0]), [0.5, np.nan])


def test_metric_table_is_tidy_and_round_trips(tmp_path):
    y, pred = pair()
    table = encoding_metric_table(y, pred, np.full(6, 0.9), method="encoding", dataset="nsd/subj01")
    assert list(table.columns) == list(METRIC_COLUMNS) and len(table) == 18
    assert set(table["metric"]) == {"r2", "pearson_r", "r_over_nc"}
    write_metrics(tmp_path / "m.csv", table)
    again = read_metrics(tmp_path / "m.csv")
    r = again.loc[again["metric"] == "pearson_r"].sort_values("unit")["value"].to_numpy()
    np.testing.assert_allclose(r, pearson_per_unit(y, pred), rtol=1e-9)
    with pytest.raises(DataValidationError, match="unit names"):
        encoding_metric_table(y, pred, np.ones(6), "encoding", "nsd", units=["a"])
