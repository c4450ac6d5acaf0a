"""Voxel-wise encoders: the spectral K-fold ridge against himalaya and scikit-learn, planted-truth
recovery on demo-clip features, BrainDiVE's linear probe, checkpoints, and the stages of rules
encoding_fit and encoding_evaluate (also through the CLI)."""

import dataclasses
import importlib

import numpy as np
import pandas as pd
import pytest
import torch
from himalaya.backend import set_backend
from himalaya.ridge import RidgeCV
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold

from neurogaze import cli
from neurogaze.brain import encoding
from neurogaze.brain.encoding import (
    EncodingConfig,
    LinearProbeEncoder,
    ProbeConfig,
    VoxelRidge,
    align_features,
    augment_pixels,
    checkpoint_config,
    kfold_splits,
    load_encoder,
    make_estimator,
    save_encoder,
)
from neurogaze.config import load_config, schema_defaults
from neurogaze.data.contracts import BrainResponses, read_metrics, write_brain_responses, write_features
from neurogaze.errors import ConfigError, DataValidationError
from neurogaze.metrics.encoding import noise_ceiling_from_ncsnr, pearson_per_unit
from neurogaze.runlog import derive_seed, stage_context
from neurogaze.stages import stage_params

ALPHAS = np.logspace(-2, 5, 12)


def regression_data(n=200, p=30, t=40, seed=0):
    """Offset, correlated features; units with very different signal-to-noise (so alphas differ)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) @ rng.normal(size=(p, p)) / np.sqrt(p) + 3.0
    W = rng.normal(size=(p, t)) * rng.uniform(0, 1, t)
    Y = X @ W + rng.normal(size=(n, t)) * rng.uniform(0.3, 30, t) + 5.0
    return X, Y


@pytest.fixture(scope="module")
def himalaya_numpy():
    set_backend("numpy")
    return RidgeCV


@pytest.mark.parametrize("dtype,tolerance", [("float64", 1e-8), ("float32", 1e-4)])
def test_voxel_ridge_matches_himalaya_ridgecv(himalaya_numpy, dtype, tolerance):
    X, Y = regression_data()
    ours = VoxelRidge(ALPHAS, cv=5, dtype=dtype, device="cpu").fit(X.astype(dtype), Y.astype(dtype))
    theirs = himalaya_numpy(alphas=ALPHAS, cv=5, fit_intercept=True).fit(X, Y)
    np.testing.assert_allclose(ours.best_alphas_, theirs.best_alphas_, rtol=1e-6)
    assert len(np.unique(ours.best_alphas_)) > 3  # the check is not trivially about one alpha
    scale = np.abs(theirs.predict(X)).max()
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), atol=tolerance * scale)


def test_himalaya_estimator_is_selectable_and_agrees(tmp_path):
    """encoding.estimator: himalaya_ridge fits through himalaya and round-trips its checkpoint."""
    X, Y = regression_data()
    settings = EncodingConfig(estimator="himalaya_ridge", alphas=tuple(float(a) for a in ALPHAS), dtype="float64")
    theirs = make_estimator(settings, device="cpu").fit(X, Y)
    ours = VoxelRidge(ALPHAS, cv=5, dtype="float64", device="cpu").fit(X, Y)
    np.testing.assert_allclose(theirs.best_alphas_, ours.best_alphas_, rtol=1e-6)
    np.testing.assert_allclose(theirs.predict(X), ours.predict(X), atol=1e-8 * np.abs(ours.predict(X)).max())
    save_encoder(tmp_path / "model.pt", theirs, settings)
    loaded = load_encoder(tmp_path / "model.pt")
    assert type(loaded).__name__ == "HimalayaRidge"
    np.testing.assert_array_equal(loaded.predict(X), theirs.predict(X))


def test_voxel_ridge_cv_choice_matches_brute_force_sklearn():
    """Fold-by-fold, alpha-by-alpha sklearn Ridge fits pick the same per-unit alphas."""
    X, Y = regression_data(n=150, p=20, t=25, seed=1)
    mse = np.zeros((len(ALPHAS), Y.shape[1]))
    for train, val in KFold(5).split(X):
        for a, alpha in enumerate(ALPHAS):
            pred = Ridge(alpha=alpha).fit(X[train], Y[train]).predict(X[val])
            mse[a] += ((Y[val] - pred) ** 2).mean(0) / 5
    ours = VoxelRidge(ALPHAS, cv=5, dtype="float64", device="cpu").fit(X, Y)
    np.testing.assert_allclose(ours.cv_mse_, mse, rtol=1e-8)
    np.testing.assert_array_equal(ours.best_alphas_, ALPHAS[mse.argmin(0)])
    refit = Ridge(alpha=ours.best_alphas_).fit(X, Y)
    np.testing.assert_allclose(ours.coef_, refit.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.intercept_, refit.intercept_, rtol=1e-7, atol=1e-9)


def test_voxel_ridge_without_intercept_and_with_given_folds_and_batches():
    X, Y = regression_data(n=120, p=15, t=12, seed=2)
    folds = [(np.arange(60, 120), np.arange(60)), (np.arange(60), np.arange(60, 120))]
    full = VoxelRidge(ALPHAS, cv=folds, fit_intercept=False, dtype="float64", device="cpu").fit(X, Y)
    batched = VoxelRidge(ALPHAS, cv=folds, fit_intercept=False, dtype="float64", device="cpu", n_targets_batch=5).fit(
        X, Y
    )
    np.testing.assert_allclose(batched.coef_, full.coef_)
    assert np.all(full.intercept_ == 0)
    np.testing.assert_allclose(
        full.coef_, Ridge(alpha=full.best_alphas_, fit_intercept=False).fit(X, Y).coef_, rtol=1e-7, atol=1e-9
    )


def brute_force_cv_mse(X, Y, alphas, splits):
    """Validation MSE of every alpha, fold by fold with scikit-learn's Ridge, in float64."""
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    mse = np.zeros((len(alphas), Y.shape[1]))
    for train, val in splits:
        for a, alpha in enumerate(alphas):
            pred = Ridge(alpha=alpha).fit(X[train], Y[train]).predict(X[val])
            mse[a] += ((Y[val] - pred) ** 2).mean(0) / len(splits)
    return mse


def test_float32_predictions_are_sklearn_ridge_at_the_chosen_alphas():
    """The float32 solver against scikit-learn's float64 Ridge refitted at its per-unit alphas:
    equal to 1e-4 of the predictions' scale (the benchmark's criterion)."""
    X, Y = regression_data(n=1000, p=40, t=60, seed=3)
    X, Y = X.astype(np.float32), Y.astype(np.float32)
    ours = VoxelRidge(ALPHAS, cv=5, device="cpu", n_targets_batch=25).fit(X, Y)
    assert len(np.unique(ours.best_alphas_)) > 3
    theirs = Ridge(alpha=ours.best_alphas_, solver="svd").fit(X.astype(np.float64), Y.astype(np.float64))
    expected = theirs.predict(X.astype(np.float64))
    np.testing.assert_allclose(ours.predict(X), expected, atol=1e-4 * np.abs(expected).max())


def test_near_zero_snr_alpha_choice_is_the_float64_one():
    """Pure-noise units on offset features and responses, at large alphas: the float64 validation
    MSEs of the alphas differ by less than float32's resolution (median relative margin below its
    eps), so comparing float32 MSEs (|y|^2-sized terms, as before) picks at random -- the previous
    solver agreed with float64 on ~59 % of these units. The alpha-dependent part alone, summed in
    float64, picks the float64 reference's alpha (sklearn Ridge fold by fold) on every unit."""
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(300, 12)) * 2 + 3).astype(np.float32)
    Y = (1e3 + 10 * rng.normal(size=(300, 300))).astype(np.float32)
    alphas = np.logspace(6, 10, 5)
    mse = brute_force_cv_mse(X, Y, alphas, list(KFold(5).split(X)))
    ranked = np.sort(mse, axis=0)
    assert np.median((ranked[1] - ranked[0]) / ranked[0]) < np.finfo(np.float32).eps
    expected = alphas[mse.argmin(0)]
    assert 0.2 < np.mean(expected == alphas[0]) < 0.8  # both ends of the grid are chosen: not one answer
    ours = VoxelRidge(alphas, cv=5, device="cpu").fit(X, Y)
    np.testing.assert_array_equal(ours.best_alphas_, expected)


@pytest.mark.parametrize(
    "n,p,duplicate",
    [(100, 30, False), (200, 12, True)],
    ids=["fewer-validation-rows-than-features", "collinear-features"],
)
def test_singular_validation_gram_matches_brute_force(n, p, duplicate):
    """Validation folds with a singular Gram matrix (20 rows for 30 features; a duplicated feature)."""
    X, Y = regression_data(n=n, p=p, t=15, seed=4)
    if duplicate:
        X = np.hstack([X, X[:, :1]])
    ours = VoxelRidge(ALPHAS, cv=5, dtype="float64", device="cpu").fit(X, Y)
    mse = brute_force_cv_mse(X, Y, ALPHAS, list(KFold(5).split(X)))
    np.testing.assert_allclose(ours.cv_mse_, mse, rtol=1e-8)
    np.testing.assert_array_equal(ours.best_alphas_, ALPHAS[mse.argmin(0)])


@pytest.mark.parametrize("jitter", [0.0, 1e-9, 1e-5], ids=["equal", "near-equal", "close"])
def test_repeated_eigenvalues_match_brute_force(jitter):
    """The first fold's training rows are centred orthogonal columns, three of equal norm (split by
    ``jitter``) and one longer, so its Gram matrix has one eigenvalue three times (or three split
    by tiny gaps) below the largest, while its validation rows are correlated. The quadratic
    term's partial fractions divide by eigenvalue gaps, so pairs of (near-)equal eigenvalues must
    be summed directly (without that, "equal" and "near-equal" fail)."""
    rng = np.random.default_rng(5)
    n, n_val = 300, 60
    train = rng.normal(size=(n - n_val, 4))
    orthonormal = np.linalg.qr(train - train.mean(0))[0]
    norms = np.array([10 * (1 + jitter), 10, 10 * (1 - jitter), 20])  # the largest apart
    X = np.vstack([rng.normal(size=(n_val, 4)) @ rng.normal(size=(4, 4)), orthonormal * norms + 1])
    Y = X @ rng.normal(size=(4, 20)) + rng.normal(size=(n, 20)) * 2
    alphas = np.logspace(-2, 3, 6)
    ours = VoxelRidge(alphas, cv=5, dtype="float64", device="cpu").fit(X, Y)
    mse = brute_force_cv_mse(X, Y, alphas, list(KFold(5).split(X)))
    np.testing.assert_allclose(ours.cv_mse_, mse, rtol=1e-8)
    np.testing.assert_array_equal(ours.best_alphas_, alphas[mse.argmin(0)])


def test_given_folds_that_do_not_partition_the_rows():
    """Interleaved validation rows (not contiguous) covering only part of the data."""
    X, Y = regression_data(n=90, p=8, t=10, seed=5)
    rows = np.arange(90)
    splits = [(rows[rows % 3 != k], rows[rows % 3 == k]) for k in (0, 1)]
    ours = VoxelRidge(ALPHAS, cv=splits, dtype="float64", device="cpu").fit(X, Y)
    mse = brute_force_cv_mse(X, Y, ALPHAS, splits)
    np.testing.assert_allclose(ours.cv_mse_, mse, rtol=1e-8)
    with pytest.raises(ValueError, match="every row outside"):
        VoxelRidge(ALPHAS, cv=[(rows[:40], rows[60:])], device="cpu").fit(X, Y)


def test_torch_only_path_a_gpu_takes_gives_the_same_fit(monkeypatch):
    """Without numpy's CPU helpers (the path on a GPU) the fit is the same, in the same batches."""
    X, Y = regression_data(n=300, p=20, t=30, seed=6)
    X, Y = X.astype(np.float32), Y.astype(np.float32)
    numpy_fit = VoxelRidge(ALPHAS, cv=5, device="cpu", n_targets_batch=7).fit(X, Y)
    monkeypatch.setattr(encoding, "NUMPY_ON_CPU", False)
    torch_fit = VoxelRidge(ALPHAS, cv=5, device="cpu", n_targets_batch=7).fit(X, Y)
    np.testing.assert_array_equal(torch_fit.best_alphas_, numpy_fit.best_alphas_)
    np.testing.assert_allclose(torch_fit.coef_, numpy_fit.coef_, rtol=1e-4, atol=1e-5 * np.abs(numpy_fit.coef_).max())
    np.testing.assert_allclose(torch_fit.cv_mse_, numpy_fit.cv_mse_, rtol=1e-5)


def test_kfold_splits_are_sklearn_kfold():
    for (ours_train, ours_val), (train, val) in zip(kfold_splits(23, 4), KFold(4).split(np.zeros(23))):
        np.testing.assert_array_equal(ours_val, val)
        np.testing.assert_array_equal(ours_train, train)


@pytest.mark.parametrize(
    "X,Y,match",
    [
        (np.zeros((10, 3, 1)), np.zeros((10, 2)), "'X'"),
        (np.zeros((10, 3)), np.zeros((9, 2)), "'Y'"),
        (np.full((10, 3), np.nan), np.zeros((10, 2)), "finite feature"),
        (np.zeros((10, 3)), np.full((10, 2), np.inf), "finite responses"),
    ],
)
def test_voxel_ridge_rejects_bad_input(X, Y, match):
    with pytest.raises(DataValidationError, match=match):
        VoxelRidge(device="cpu").fit(X, Y)


def test_voxel_ridge_rejects_bad_settings():
    X, Y = regression_data(n=20, p=3, t=2)
    with pytest.raises(ValueError, match="alphas must be positive"):
        VoxelRidge(alphas=[0.0, 1.0], device="cpu").fit(X, Y)
    with pytest.raises(ValueError, match="cv must be"):
        VoxelRidge(cv=1, device="cpu").fit(X, Y)
    fitted = VoxelRidge(device="cpu", cv=2).fit(X, Y)
    with pytest.raises(DataValidationError, match="3 features"):
        fitted.predict(np.zeros((4, 5)))


# --- planted truth on demo-clip features ------------------------------------------------------

N_TRAIN, N_TEST, N_SELECTIVE, N_NULL, N_REPEATS, NOISE_SD = 400, 100, 12, 8, 3, 1.0


@pytest.fixture(scope="module", params=[0, 1, 2])
def planted(demo_backbone, request):
    """Responses = a linear readout of demo-clip features (selective units) or nothing (null units),
    plus trial noise averaged over repeats; the ceiling follows NSD's ncsnr convention. Three seeds
    (images, readout, noise)."""
    rng = np.random.default_rng(request.param)
    images = rng.integers(0, 256, (N_TRAIN + N_TEST, 32, 32, 3), dtype=np.uint8)
    features = demo_backbone.encode_images(list(images))
    z = (features - features.mean(0)) / features.std(0)
    signal = z @ rng.normal(size=(z.shape[1], N_SELECTIVE))
    signal = (signal - signal.mean(0)) / signal.std(0)
    signal = np.hstack([signal, np.zeros((len(z), N_NULL))])
    trials = signal[None] + NOISE_SD * rng.normal(size=(N_REPEATS, *signal.shape))
    ncsnr = np.r_[np.full(N_SELECTIVE, 1.0 / NOISE_SD), np.zeros(N_NULL)]
    stim_ids = np.array([f"s{i:04d}" for i in range(len(z))])
    responses = BrainResponses(
        responses=trials.mean(0).astype(np.float32),
        stim_ids=stim_ids,
        split=np.array(["train"] * N_TRAIN + ["test"] * N_TEST),
        noise_ceiling=noise_ceiling_from_ncsnr(ncsnr, N_REPEATS).astype(np.float32),
    ).validate()
    # Features are stored shuffled: alignment must go by stimulus id, not by row.
    order = rng.permutation(len(z))
    return features[order], list(stim_ids[order]), responses, images


def test_planted_selective_units_reach_the_noise_ceiling(planted):
    features, ids, responses, _ = planted
    train = align_features(features, ids, responses, "train")
    test = align_features(features, ids, responses, "test")
    model = VoxelRidge(np.logspace(-3, 6, 10), cv=5, device="cpu").fit(train.X, train.Y)
    r = pearson_per_unit(test.Y, model.predict(test.X))
    ceiling = responses.noise_ceiling
    # seeds 0-9: min r / ceiling 0.87-0.96 (r's SE over 100 test images is ~0.03 of the ceiling)
    assert np.all(r[:N_SELECTIVE] >= 0.8 * ceiling[:N_SELECTIVE]), (r[:N_SELECTIVE], ceiling[:N_SELECTIVE])
    # Null units: r over 100 test images is ~N(0, 0.1), so mean |r| over 8 units is 0.080 +- 0.021
    # (0.15 is 3.3 SE above) and P(any |r| > 0.35) = 8 x 2 x Phi(-3.5) < 0.4 %. Seeds 0-9: mean
    # 0.06-0.13, max 0.10-0.29.
    assert np.abs(r[N_SELECTIVE:]).max() < 0.35 and np.abs(r[N_SELECTIVE:]).mean() < 0.15
    # Null units get the strongest regularisation on offer; selective ones do not.
    assert np.median(model.best_alphas_[N_SELECTIVE:]) > np.median(model.best_alphas_[:N_SELECTIVE])


def test_align_features_names_missing_stimuli(planted):
    features, ids, responses, _ = planted
    # drop a test stimulus's row (rows are shuffled: dropping row 0 hit a test stimulus for 1 seed in 5)
    test_ids = set(responses.stim_ids[responses.split == "test"])
    row = next(i for i, stim in enumerate(ids) if stim in test_ids)
    with pytest.raises(DataValidationError, match="feature row for every stimulus"):
        align_features(np.delete(features, row, 0), ids[:row] + ids[row + 1:], responses, "test",
                       features_source="f.npy")


def test_linear_probe_on_embeddings_recovers_planted_units(planted):
    features, ids, responses, _ = planted
    train = align_features(features, ids, responses, "train")
    test = align_features(features, ids, responses, "test")
    probe = LinearProbeEncoder(
        augment=False, epochs=150, lr=3e-2, lr_halving_epochs=50, batch_size=64, device="cpu"
    ).fit(train.X, train.Y)
    assert probe.loss_curve_[-1] < probe.loss_curve_[0]
    r = pearson_per_unit(test.Y, probe.predict(test.X))
    assert np.median(r[:N_SELECTIVE] / responses.noise_ceiling[:N_SELECTIVE]) > 0.8  # seeds 0-9: 0.875-0.95
    again = LinearProbeEncoder(
        augment=False, epochs=150, lr=3e-2, lr_halving_epochs=50, batch_size=64, device="cpu"
    ).fit(train.X, train.Y)
    np.testing.assert_array_equal(again.coef_, probe.coef_)


def test_linear_probe_with_augmented_images(planted, demo_backbone):
    _, _, responses, images = planted
    Y, _ = responses.select("train")
    probe = LinearProbeEncoder(
        backbone=demo_backbone, epochs=2, lr=1e-2, lr_halving_epochs=1, batch_size=64, device="cpu"
    ).fit(images[:120], Y[:120])
    assert probe.coef_.shape == (Y.shape[1], 32) and len(probe.loss_curve_) == 2
    assert probe.predict(images[N_TRAIN : N_TRAIN + 5]).shape == (5, Y.shape[1])
    with pytest.raises(ValueError, match="needs a backbone"):
        LinearProbeEncoder(augment=True).fit(np.zeros((4, 3)), np.zeros((4, 2)))


def test_augmentations_keep_pixels_in_range_and_are_seeded():
    pixels = torch.rand((3, 3, 16, 16))
    first = augment_pixels(pixels, torch.Generator().manual_seed(0), 3, 0.1, 0.3)
    second = augment_pixels(pixels, torch.Generator().manual_seed(0), 3, 0.1, 0.3)
    assert torch.equal(first, second) and first.shape == pixels.shape
    assert float(first.min()) >= 0 and float(first.max()) <= 1 and not torch.equal(first, pixels)


@pytest.mark.parametrize(
    "settings",
    [
        EncodingConfig(estimator="ridge", alphas=(0.1, 10.0), cv_folds=3),
        EncodingConfig(estimator="linear_probe", probe=ProbeConfig(augment=False, epochs=2)),
    ],
)
def test_encoder_checkpoint_round_trip(tmp_path, settings):
    X, Y = regression_data(n=60, p=6, t=4)
    model = make_estimator(settings, device="cpu").fit(X, Y)
    save_encoder(tmp_path / "model.pt", model, settings, {"subject": "subj01"})
    loaded = load_encoder(tmp_path / "model.pt")
    np.testing.assert_allclose(loaded.predict(X), model.predict(X), rtol=1e-6)


def test_unreadable_checkpoint_is_named(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataValidationError, match="model.pt"):
        load_encoder(tmp_path / "model.pt")
    # A checkpoint whose settings are not EncodingConfig's (an older layout) is named too.
    torch.save({"estimator": "ridge", "config": {"estimator": "ridge", "enabled": True}, "state_dict": {}},
               tmp_path / "old.pt")
    with pytest.raises(DataValidationError, match="old.pt.*'config'"):
        load_encoder(tmp_path / "old.pt")


@pytest.mark.slow
def test_benchmark_script_runs_at_small_scale(repo_root, monkeypatch):
    """benchmarks/encoding.py end to end (three fresh processes), at a size that takes seconds."""
    # On sys.path (inherited by the spawned workers) so that they can import the script's functions.
    monkeypatch.syspath_prepend(str(repo_root / "benchmarks"))
    module = importlib.import_module("encoding")
    summary = module.main(
        ["--n-train", "600", "--n-test", "50", "--n-features", "32", "--n-voxels", "200", "--threads", "1"]
    )
    assert summary["max_diff_same_alphas"] < 1e-4 and summary["alpha_agreement"] > 0.5


# --- settings and stages ----------------------------------------------------------------------


def test_config_defaults_are_the_schemas():
    defaults = {field.name: field.default for field in dataclasses.fields(EncodingConfig) if field.name != "probe"}
    schema = schema_defaults("encoding")
    for name, value in defaults.items():
        if name == "seed":  # not a config key: derived from the master seed
            continue
        assert schema[name] == (list(value) if isinstance(value, tuple) else value), name
    assert schema_defaults("encoding.probe") == dataclasses.asdict(ProbeConfig())
    assert EncodingConfig().probe == ProbeConfig()


def test_fit_params_are_the_estimators_own_settings(repo_root):
    config = load_config(repo_root / "config" / "config.yaml", overrides=["encoding.estimator=ridge"])
    params = stage_params("encoding_fit", config)
    assert set(params["settings"]) == {"estimator", "alphas", "cv_folds", "dtype"}
    assert params["backbone_spec"]["name"] == config["encoding"]["backbone"]
    # A probe setting does not change a ridge fit's params (nothing reruns).
    other = load_config(repo_root / "config" / "config.yaml", overrides=["encoding.probe.epochs=7"])
    assert stage_params("encoding_fit", other) == params
    probe = load_config(repo_root / "config" / "config.yaml", overrides=["encoding.estimator=linear_probe"])
    assert set(stage_params("encoding_fit", probe)["settings"]) == {"estimator", "probe"}


N_STIMULI, N_UNITS = 60, 9


@pytest.fixture
def stage_files(tmp_path):
    """Features, responses (two ROIs; the first five units read the features) of 60 stimuli."""
    rng = np.random.default_rng(0)
    ids = [f"s{i:03d}" for i in range(N_STIMULI)]
    features = rng.normal(size=(N_STIMULI, 8)).astype(np.float32)
    signal = features @ rng.normal(size=(8, N_UNITS))
    signal[:, 5:] = 0
    responses = (signal + 0.3 * rng.normal(size=signal.shape)).astype(np.float32)
    rois = {"readout": np.arange(N_UNITS) < 5, "rest": np.arange(N_UNITS) >= 5}
    split = np.array(["train"] * 48 + ["test"] * 12)
    write_brain_responses(tmp_path / "subj01.h5", BrainResponses(responses, np.array(ids), split,
                                                                   np.full(N_UNITS, 0.9, np.float32), rois))
    write_features(tmp_path / "features.npy", features[::-1], ids[::-1])  # rows are matched by id
    return {"features": tmp_path / "features.npy", "responses": tmp_path / "subj01.h5",
            "stimuli": tmp_path / "stimuli", "backbone": tmp_path / "demo-clip.pt"}


RIDGE = {"estimator": "ridge", "alphas": [0.1, 1.0, 10.0, 100.0], "cv_folds": 4, "dtype": "float64"}
SPEC = {"name": "demo-clip", "model": "demo-clip"}


def test_fit_then_evaluate_scores_the_readout_units(stage_files, tmp_path, one_thread):
    model = tmp_path / "out" / "model.pt"
    encoding.fit(**stage_files, model=model, settings=RIDGE, backbone_spec=SPEC, seed=0, device="cpu",
                 dataset="nsd", subject="subj01")
    assert checkpoint_config(model).alphas == (0.1, 1.0, 10.0, 100.0)
    metrics, summary = tmp_path / "out" / "metrics.csv", tmp_path / "out" / "roi_summary.csv"
    encoding.evaluate(**stage_files, model=model, metrics=metrics, roi_summary=summary, backbone_spec=SPEC, seed=3,
                      device="cpu", dataset="nsd", subject="subj01")
    table = read_metrics(metrics)
    assert set(table["dataset"]) == {"nsd/subj01"} and set(table["seed"]) == {3}
    medians = pd.read_csv(summary).set_index(["roi", "metric"])["median"]
    assert medians["readout", "pearson_r"] > 0.9 > 0.5 > medians["rest", "pearson_r"]


def test_fit_names_too_many_folds_before_writing(stage_files, tmp_path):
    with pytest.raises(ConfigError, match="encoding.cv_folds"):
        encoding.fit(**stage_files, model=tmp_path / "model.pt", settings={**RIDGE, "cv_folds": 49},
                     backbone_spec=SPEC, seed=0, device="cpu", dataset="nsd", subject="subj01")
    assert not (tmp_path / "model.pt").exists()


def test_linear_probe_seed_derives_from_the_master_seed(stage_files, tmp_path, one_thread):
    settings = {"estimator": "linear_probe", "probe": {"augment": False, "epochs": 3, "batch_size": 16}}
    coefs = {}
    for seed in (5, 6):
        model = tmp_path / f"{seed}.pt"
        encoding.fit(**stage_files, model=model, settings=settings, backbone_spec=SPEC, seed=seed, device="cpu",
                     dataset="nsd", subject="subj01")
        assert checkpoint_config(model).seed == derive_seed(seed, "encoding")
        coefs[seed] = load_encoder(model).coef_
    assert not np.array_equal(coefs[5], coefs[6])


def test_cli_gives_the_rules_bytes(stage_files, tmp_path, repo_root, one_thread):
    """`neurogaze encoding-fit` and a direct call of the stage, both on one thread: the same model.pt."""
    config_path = repo_root / "config" / "config.yaml"
    files = [str(stage_files[name]) for name in ("features", "responses", "stimuli", "backbone")]
    argv = ["encoding-fit", *files, str(tmp_path / "cli.pt"), "nsd", "subj01", "--config", str(config_path),
            "--threads", "1"]
    assert cli.main(argv) == 0
    params = stage_params("encoding_fit", load_config(config_path))
    with stage_context(None, "encoding_fit", 1):
        encoding.fit(**stage_files, model=tmp_path / "direct.pt", dataset="nsd", subject="subj01", **params)
    assert (tmp_path / "cli.pt").read_bytes() == (tmp_path / "direct.pt").read_bytes()


def test_probe_lr_schedules_step_and_exponential():
    """BrainDiVE halves the lr every lr_halving_epochs; BrainSCUBA decays it as 0.5^(epoch/100)."""
    exponential = [0.5 ** (epoch / 2) for epoch in range(5)]
    for schedule, expected in (("step", [1.0, 1.0, 0.5, 0.5, 0.25]), ("exponential", exponential)):
        probe = LinearProbeEncoder(lr=1.0, lr_halving_epochs=2, lr_schedule=schedule, augment=False)
        optimiser = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        scheduler = probe._schedule(optimiser)
        seen = []
        for _ in range(5):
            seen.append(optimiser.param_groups[0]["lr"])
            optimiser.step()
            scheduler.step()
        np.testing.assert_allclose(seen, expected)


def test_replicate_padding_repeats_the_border():
    """A shifted image's new border copies the edge row (replicate), not the row inside it (reflect)."""
    pixels = torch.zeros(64, 1, 6, 6)
    pixels[:, :, 0, :] = 1.0  # the top row is 1, the rest 0
    shifted = augment_pixels(pixels, torch.Generator().manual_seed(0), 2, 0.0, 0.0, padding="replicate")
    reflected = augment_pixels(pixels, torch.Generator().manual_seed(0), 2, 0.0, 0.0, padding="reflect")
    # shifted down by k rows, replicate shows k + 1 rows of 1 at the top; reflect shows a 1 below a 0
    top_ones = (shifted[:, 0, :, 0] == 1).sum(1)
    assert ((shifted[:, 0, :, 0] == 1).int().diff(dim=1) <= 0).all()  # ones only as a top block
    assert (top_ones >= 1).any() and ((reflected[:, 0, :, 0] == 1).int().diff(dim=1) > 0).any()


# --- the official BrainDiVE trainer's options (config/paper.yaml) ------------------------------


def test_clip_space_noise_has_its_sd_after_normalisation_and_is_not_clamped():
    """BrainDiVE adds N(0, 0.05) to the CLIP-normalised input: in pixels that is 0.05 * std per
    channel, and white pixels stay above 1 where the noise is positive (no clamp)."""
    std = torch.tensor([0.2, 0.3, 0.4])
    pixels = torch.ones((8, 3, 32, 32))
    noisy = augment_pixels(pixels, torch.Generator().manual_seed(0), 0, 0.05, 0.0, "replicate", std)
    in_normalised_space = (noisy - pixels) / std.view(1, 3, 1, 1)
    measured = in_normalised_space.transpose(0, 1).reshape(3, -1).std(dim=1)
    # 8,192 draws per channel: the sample SD's standard error is 0.05 / sqrt(2 * 8191) = 4e-4
    torch.testing.assert_close(measured, torch.full((3,), 0.05), atol=5 * 0.05 / (2 * 8191) ** 0.5, rtol=0)
    assert float(noisy.max()) > 1.0
    pixel_noise = augment_pixels(pixels, torch.Generator().manual_seed(0), 0, 0.05, 0.0, "replicate")
    assert float(pixel_noise.max()) <= 1.0


def test_raw_targets_are_fitted_unscaled():
    """standardize_targets=False fits the responses themselves: the first epoch's MSE is about
    mean(Y^2) (here ~109), where standardised targets start near 1."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 8)).astype(np.float32)
    Y = (10.0 + 3.0 * rng.normal(size=(64, 4))).astype(np.float32)
    settings = {"augment": False, "epochs": 1, "batch_size": 64, "device": "cpu"}
    raw = LinearProbeEncoder(standardize_targets=False, **settings).fit(X, Y)
    scaled = LinearProbeEncoder(**settings).fit(X, Y)
    assert raw.loss_curve_[0] > 50 and scaled.loss_curve_[0] < 5
    np.testing.assert_array_equal(raw.y_mean_, 0.0)


@pytest.mark.parametrize(("device", "fp16", "training", "expected"), [
    ("cuda", True, True, True), ("cuda", False, True, False), ("cuda", True, False, False), ("cpu", True, True, False)
])
def test_fp16_autocast_only_while_training_on_cuda(device, fp16, training, expected):
    backbone = type("Backbone", (), {"device": torch.device(device)})()
    assert LinearProbeEncoder(backbone=backbone, fp16=fp16).uses_fp16(training) is expected


def test_paper_config_probe_is_the_official_trainer(repo_root):
    """encoder_trainer.py / encoder_options.py / encoder_dataloader.py of aluo-x/BrainDiVE."""
    probe = load_config(repo_root / "config" / "paper.yaml")["encoding"]["probe"]
    official = {"epochs": 100, "batch_size": 64, "lr": 3e-4, "lr_halving_epochs": 100, "lr_schedule": "exponential",
                "weight_decay": 0.02, "max_shift": 4, "shift_padding": "replicate", "noise_std": 0.05,
                "noise_space": "clip", "brightness": 0.05, "standardize_targets": False, "fp16": True,
                "augment": True}
    assert {key: probe[key] for key in official} == official


def test_official_probe_recipe_fits_on_augmented_images(demo_backbone):
    """The paper config's recipe runs end to end on a backbone (fp16 is ignored on a CPU)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    Y = rng.normal(size=(16, 3)).astype(np.float32)
    settings = {"backbone": demo_backbone, "epochs": 2, "batch_size": 8, "lr_schedule": "exponential",
                "shift_padding": "replicate", "brightness": 0.05, "standardize_targets": False, "device": "cpu"}
    probe = LinearProbeEncoder(noise_space="clip", fp16=True, **settings).fit(images, Y)
    assert probe.coef_.shape == (3, 32) and np.isfinite(probe.loss_curve_).all()
    torch.testing.assert_close(demo_backbone.normalise_std, torch.tensor(demo_backbone.preprocess.transforms[-1].std))
    pixel_noise = LinearProbeEncoder(noise_space="pixels", **settings).fit(images, Y)
    assert not np.array_equal(pixel_noise.coef_, probe.coef_)
