"""The learned fixation classifier: its own B-spline evaluation against scikit-learn's, its saved
form, its errors, and (on the shared recordings) the leave-one-recording-out comparison that
made it the default."""

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import SplineTransformer

from neurogaze.data.gaze.sample_classifier import (
    SHIPPED_MODEL,
    FixationClassifier,
    feature_names,
    sample_features,
)
from neurogaze.errors import DataValidationError

from .conftest import planted_trace


def _toy_problem(seed=0, n=3000):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 5.0, 0.1] + [0.0, 10.0, -2.0]
    logit = np.sin(X[:, 0]) * 2 + (X[:, 1] - 10) / 5 - np.abs(X[:, 2] + 2) * 10
    return X, rng.random(n) < 1 / (1 + np.exp(-logit))


def test_spline_basis_matches_scikit_learn_inside_and_beyond_the_training_range():
    X, y = _toy_problem()
    model = FixationClassifier().fit(X, y)
    reference = SplineTransformer(n_knots=4, degree=2, extrapolation="constant").fit(X)
    probe = np.vstack([X[:200], X[:50] * 3.0, X.min(0) - 1, X.max(0) + 1])
    np.testing.assert_allclose(model._basis(probe), reference.transform(probe), atol=1e-12)


def test_probabilities_match_the_scikit_learn_pipeline():
    X, y = _toy_problem(seed=1)
    model = FixationClassifier(C=0.5).fit(X, y)
    splines = SplineTransformer(n_knots=4, degree=2, extrapolation="constant").fit(X)
    logistic = LogisticRegression(C=0.5, max_iter=3000).fit(splines.transform(X), y)
    np.testing.assert_allclose(model.predict_proba(X), logistic.predict_proba(splines.transform(X)), atol=1e-6)
    assert (model.predict(X) == logistic.predict(splines.transform(X))).all()


def test_saved_model_gives_the_same_probabilities(tmp_path):
    t, x, y, truth, _ = planted_trace(deg_per_px=0.03, seed=2)
    features = sample_features(x, y, t, 0.03)
    assert features.shape == (len(t), len(feature_names()))
    model = FixationClassifier().fit(features, truth)
    model.save(tmp_path / "model.json")
    again = FixationClassifier.load(tmp_path / "model.json")
    np.testing.assert_array_equal(again.predict_proba(features), model.predict_proba(features))


def test_features_use_ms_and_degrees_so_rate_and_geometry_do_not_matter():
    """The same movement recorded at 500 and 1000 Hz, in pixels of two sizes, gives nearly the
    same features at the same moments."""
    t, x, y, _, _ = planted_trace(rate_hz=1000.0, deg_per_px=0.03, seed=4)
    fine = sample_features(x, y, t, 0.03)
    coarse = sample_features(x[::2] * 2, y[::2] * 2, t[::2], 0.015)
    assert np.median(np.abs(fine[::2] - coarse)) < 0.1


def test_shipped_model_loads_and_names_the_current_features():
    state = json.loads(SHIPPED_MODEL.read_text())
    assert state["features"] == feature_names()
    assert FixationClassifier.load().n_features_in_ == len(feature_names())


def test_bad_model_files_are_named(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(DataValidationError, match="broken.json"):
        FixationClassifier.load(broken)
    state = json.loads(SHIPPED_MODEL.read_text())
    older = tmp_path / "older.json"
    older.write_text(json.dumps({**state, "features": state["features"][:-1]}))
    with pytest.raises(DataValidationError, match="older.json.*features"):
        FixationClassifier.load(older)
    short = tmp_path / "short.json"
    short.write_text(json.dumps({**state, "coef": state["coef"][:-1]}))
    with pytest.raises(DataValidationError, match="short.json.*coef"):
        FixationClassifier.load(short)


def test_too_few_valid_samples_is_a_named_error():
    with pytest.raises(DataValidationError, match="valid"):
        sample_features(np.full(10, np.nan), np.full(10, np.nan), np.arange(10.0), 0.03)


@pytest.mark.realdata
def test_real_andersson_learned_detector_beats_threshold_detectors_on_held_out_recordings(real_data_dir):
    """Leave one recording out over the shared recordings (0.856 vs 0.777 for I-VT at 30 deg/s and
    0.825 for REMoDNaV at its published settings; the second coder RA 0.881 with pursuit counted
    as fixation); and the shipped fit is the fit of all of them."""
    from neurogaze.data.gaze.andersson import leave_one_recording_out, read_coded_recordings
    from neurogaze.data.gaze.detection import DetectorConfig
    from neurogaze.data.gaze.sample_classifier import fit_fixation_classifier

    recordings = read_coded_recordings(real_data_dir / "andersson2017", "MN")
    fixed = {
        "ivt_30": DetectorConfig(method="ivt", min_fixation_ms=0.0),
        "remodnav": DetectorConfig(method="remodnav"),
    }
    table, _ = leave_one_recording_out(recordings, fixed, {}, {"learned": {}})
    print("\n" + table.round(3).to_string(index=False))
    assert table["learned"].mean() > table["ivt_30"].mean()
    assert table["learned"].mean() > table["remodnav"].mean()
    assert (table["learned"] > table["ivt_30"]).mean() > 0.5
    refit = fit_fixation_classifier(recordings)
    features = sample_features(recordings[0].x, recordings[0].y, recordings[0].t_ms, 0.03)
    np.testing.assert_allclose(
        refit.predict_proba(features), FixationClassifier.load().predict_proba(features), atol=1e-4
    )


def test_nested_selection_scores_each_held_out_recording_with_settings_chosen_without_it():
    from pathlib import Path

    from neurogaze.data.gaze.andersson import Recording, nested_learned_kappas
    from neurogaze.data.screen import ScreenGeometry

    geometry = ScreenGeometry((1024, 768), (0.38, 0.30), 0.67)
    recordings = []
    for seed in range(4):
        t, x, y, truth, _ = planted_trace(deg_per_px=geometry.degrees_per_pixel(), seed=seed, n_fix=6)
        recordings.append(Recording(f"s{seed}", "img", "MN", Path("none"), t, x, y, np.zeros_like(x),
                                    np.where(truth, 1, 2), geometry))
    grid = [{"n_knots": 3, "C": 0.1}, {"n_knots": 4, "C": 1.0}]
    table = nested_learned_kappas(recordings, grid, inner_folds=3)
    assert list(table["recording"]) == [f"s{seed}_img" for seed in range(4)]
    assert table["chosen"].isin([repr(g) for g in grid]).all()
    # planted fixations against minimum-jerk saccades: learned from three traces, found on the fourth
    assert (table["learned_nested"] > 0.7).all(), table
