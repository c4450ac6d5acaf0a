"""MindEye training: losses, schedule, optimiser groups, retrieval on planted data, checkpoints and resume."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from neurogaze.brain.mindeye import model as me
from neurogaze.brain.mindeye import train as mt
from neurogaze.errors import ConfigError, DataValidationError
from neurogaze.metrics.reconstruction import retrieval_top1

from .synthetic import planted_voxels, smooth_images

pytestmark = pytest.mark.usefixtures("one_thread")

N_TRAIN, N_TEST, N_VOXELS = 1000, 300, 400

# Small widths, the paper's algorithm: BiMixCo then SoftCLIP, prior weighted 30, OneCycle.
DEMO = me.MindEyeConfig(
    n_voxels=N_VOXELS, hidden=256, n_blocks=2, n_tokens=17, token_dim=32, projector_hidden=128,
    epochs=10, batch_size=32, max_lr=1e-3, prior_depth=1, prior_heads=2, prior_dim_head=16, image_augment=False,
    trials="mean",
)


@pytest.fixture(scope="module", params=[0, 1, 2])
def planted(demo_backbone, request):
    """Planted data and training seed: images from seed 2s, the voxel map from 2s + 1, MindEye seed s."""
    seed = request.param
    pixels = smooth_images(N_TRAIN + N_TEST, seed=2 * seed)
    targets = me.TokenTargets(demo_backbone, augment=False)
    tokens = me.target_tokens(targets, pixels)
    return pixels, tokens, planted_voxels(tokens, N_VOXELS, noise=0.7, seed=2 * seed + 1), targets, seed


# --- losses and schedule --------------------------------------------------------------------


def test_mixco_nce_without_mixing_is_symmetric_cross_entropy():
    g = torch.Generator().manual_seed(0)
    preds = F.normalize(torch.randn(8, 20, generator=g), dim=-1)
    targs = F.normalize(torch.randn(8, 20, generator=g), dim=-1)
    logits = preds @ targs.T / 0.1
    labels = torch.arange(8)
    reference = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    loss = mt.mixco_nce(preds, targs, 0.1, perm=torch.randperm(8, generator=g), betas=torch.ones(8))
    assert torch.allclose(loss, reference, atol=1e-6)


def test_soft_clip_with_orthogonal_targets_is_cross_entropy():
    targs = torch.eye(6, 10)
    preds = F.normalize(torch.randn(6, 10, generator=torch.Generator().manual_seed(1)), dim=-1)
    logits = preds @ targs.T / 0.01
    labels = torch.arange(6)
    reference = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    assert torch.allclose(mt.soft_clip_loss(preds, targs, 0.01), reference, atol=1e-5)


def test_mixco_mixes_selected_rows_only():
    torch.manual_seed(0)
    voxels = torch.randn(64, 5)
    mixed, perm, betas = mt.mixco(voxels.clone())
    unmixed = betas == 1
    assert 0 < unmixed.sum() < 64  # each row is mixed with probability 0.5: fails with p = 2^-63
    assert torch.allclose(mixed[unmixed], voxels[unmixed])
    b = betas[:, None]
    assert torch.allclose(mixed, voxels * b + voxels[perm] * (1 - b), atol=1e-6)


def test_temperature_schedule():
    config = me.MindEyeConfig(epochs=30)
    assert [mt.epoch_temperature(config, e) for e in range(9)] == [0.006] * 9
    soft = [mt.epoch_temperature(config, e) for e in range(9, 30)]
    assert soft[0] == pytest.approx(0.004) and soft[-1] == pytest.approx(0.0075)
    assert np.all(np.diff(soft) > 0)


def test_no_weight_decay_on_biases_and_norms():
    model = me.MindEye(DEMO)
    optimizer, _ = mt.make_optimizer(model, DEMO, steps_per_epoch=10)
    decayed = {id(p) for p in optimizer.param_groups[0]["params"]}
    assert optimizer.param_groups[0]["weight_decay"] == 1e-2 and optimizer.param_groups[1]["weight_decay"] == 0
    assert id(model.voxel2clip.lin0[1].weight) not in decayed  # LayerNorm gain
    assert id(model.net.causal_transformer.norm.g) not in decayed
    assert id(model.voxel2clip.lin0[0].bias) not in decayed
    assert id(model.voxel2clip.lin0[0].weight) in decayed


# --- training on planted data ---------------------------------------------------------------


def test_retrieval_on_planted_responses(planted):
    pixels, tokens, voxels, targets, seed = planted
    config = me.MindEyeConfig(**{**DEMO.__dict__, "seed": seed})
    model = mt.fit_mindeye(voxels[:N_TRAIN], pixels[:N_TRAIN], targets, config, progress=False)
    _, projected = me.predict_tokens(model, voxels[N_TRAIN:])
    scores = retrieval_top1(projected, tokens[N_TRAIN:], subset=300, n_draws=1)
    # seeds 0-7: image 0.88-0.97, brain 0.98-1.00 (one item is 1/300: 0.80 is 25 items below the worst)
    assert scores["image_top1"] >= 0.80 and scores["brain_top1"] >= 0.80, scores


def test_retrieval_is_at_chance_when_fmri_is_shuffled(planted):
    pixels, tokens, voxels, targets, seed = planted
    shuffled = voxels[:N_TRAIN][np.random.default_rng(5 + seed).permutation(N_TRAIN)]
    config = me.MindEyeConfig(**{**DEMO.__dict__, "use_prior": False, "epochs": 6, "seed": seed})
    model = mt.fit_mindeye(shuffled, pixels[:N_TRAIN], targets, config, progress=False)
    _, projected = me.predict_tokens(model, voxels[N_TRAIN:])
    scores = retrieval_top1(projected, tokens[N_TRAIN:], subset=300, n_draws=5)
    # Among all 300 test items (one draw), a chance model's hits are ~Poisson(1): 4 % is 12 hits,
    # P(>= 12) < 1e-8. Seeds 0-7 gave 0-3 hits; the planted result is 20x higher.
    assert scores["image_top1"] < 0.04 and scores["brain_top1"] < 0.04, scores


# --- checkpoints and resume -------------------------------------------------------------------

TINY = me.MindEyeConfig(
    n_voxels=20, hidden=16, n_blocks=1, n_tokens=17, token_dim=32, projector_hidden=16, epochs=3,
    batch_size=16, prior_depth=1, prior_heads=1, prior_dim_head=16, image_augment=True, trials="mean",
)


def _tiny_data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((48, 20)).astype(np.float32), smooth_images(48, seed=9)


def _assert_same_weights(first: torch.nn.Module, second: torch.nn.Module) -> None:
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key


def test_interrupted_and_resumed_run_ends_with_the_same_weights(tmp_path, demo_backbone):
    voxels, pixels = _tiny_data()
    targets = me.TokenTargets(demo_backbone, augment=True)
    full = mt.fit_mindeye(voxels, pixels, targets, TINY, checkpoint=tmp_path / "a.pt", progress=False)
    mt.fit_mindeye(voxels, pixels, targets, TINY, checkpoint=tmp_path / "b.pt", progress=False, stop_after_epoch=1)
    torch.manual_seed(1234)  # a resumed process starts with other RNG state
    resumed = mt.fit_mindeye(voxels, pixels, targets, TINY, checkpoint=tmp_path / "b.pt", progress=False)
    _assert_same_weights(full, resumed)


def test_checkpoint_describes_itself(tmp_path, demo_backbone):
    voxels, pixels = _tiny_data()
    config = me.MindEyeConfig(**{**TINY.__dict__, "epochs": 1, "image_augment": False})
    model = mt.fit_mindeye(voxels, pixels, me.TokenTargets(demo_backbone, False), config,
                           checkpoint=tmp_path / "m.pt", progress=False)
    loaded, payload = mt.load_checkpoint(tmp_path / "m.pt")
    assert mt.checkpoint_config(payload["config"]) == config
    assert payload["epoch"] == 1 and "neurogaze_version" in payload and len(payload["history"]) == 1
    _assert_same_weights(model, loaded)


def test_checkpoint_of_another_config_is_discarded_with_a_log_line(tmp_path, demo_backbone, caplog):
    voxels, pixels = _tiny_data()
    targets = me.TokenTargets(demo_backbone, False)
    config = me.MindEyeConfig(**{**TINY.__dict__, "epochs": 2, "image_augment": False})
    mt.fit_mindeye(voxels, pixels, targets, config, checkpoint=tmp_path / "m.pt", progress=False, stop_after_epoch=1)
    other = me.MindEyeConfig(**{**config.__dict__, "max_lr": 1e-3})
    with caplog.at_level(logging.INFO, logger="neurogaze"):
        resumed = mt.fit_mindeye(voxels, pixels, targets, other, checkpoint=tmp_path / "m.pt", progress=False)
    assert "discarding the checkpoint" in caplog.text and "max_lr" in caplog.text
    fresh = mt.fit_mindeye(voxels, pixels, targets, other, progress=False)
    _assert_same_weights(fresh, resumed)


def test_a_file_of_another_kind_is_named(tmp_path):
    torch.save({"model_state_dict": {}}, tmp_path / "last.pth")
    with pytest.raises(DataValidationError, match="last.pth.*format.*load_released_mindeye"):
        mt.load_checkpoint(tmp_path / "last.pth")
    (tmp_path / "model.pt").write_text("not a checkpoint")
    with pytest.raises(DataValidationError, match="model.pt.*a torch checkpoint"):
        mt.load_checkpoint(tmp_path / "model.pt")


@pytest.mark.parametrize("problem", ["voxels", "rows", "nan"])
def test_bad_training_input_is_named(problem, demo_backbone, tmp_path):
    voxels, pixels = _tiny_data()
    if problem == "voxels":
        voxels = voxels[:, :10]
    elif problem == "rows":
        pixels = pixels[:40]
    else:
        voxels[3, 4] = np.nan
    with pytest.raises(DataValidationError, match="responses|stim_ids"):
        mt.fit_mindeye(voxels, pixels, me.TokenTargets(demo_backbone, False), TINY, checkpoint=tmp_path / "x.pt",
                       source="subj01.h5")
    assert not (tmp_path / "x.pt").exists()


# --- single trials (the official Train_MindEye.py: repeat_index = train_i % 3) ------------------


def test_each_step_trains_on_the_repeat_of_its_index():
    # trial value = 10 * image + repeat; image 1 has two trials, image 2 one
    counts = torch.tensor([3, 2, 1, 3])
    voxels = (10 * torch.arange(4)[:, None] + torch.arange(3)[None, :]).float()[..., None]
    index = torch.tensor([3, 0, 1, 2])
    seen = [mt.step_trials(voxels, counts, index, step)[:, 0].tolist() for step in range(4)]
    assert seen == [[30, 0, 10, 20], [31, 1, 11, 20], [32, 2, 10, 20], [30, 0, 10, 20]]
    # averaged training (the old behaviour) takes the rows as they are
    assert torch.equal(mt.step_trials(voxels[:, 0], None, index, 1), voxels[index, 0])


def test_single_trial_training_takes_trials_not_averages(demo_backbone, tmp_path):
    voxels, pixels = _tiny_data()
    single = me.MindEyeConfig(**{**TINY.__dict__, "epochs": 1, "image_augment": False, "trials": "single"})
    targets = me.TokenTargets(demo_backbone, False)
    with pytest.raises(DataValidationError, match="trial_responses.*repeats"):
        mt.fit_mindeye(voxels, pixels, targets, single, progress=False)
    trials = np.stack([voxels, voxels + 1, voxels - 1], axis=1)
    with pytest.raises(DataValidationError, match="trial_rows"):
        mt.fit_mindeye(trials, pixels, targets, single, progress=False)
    counts = np.full(len(trials), 3)
    model = mt.fit_mindeye(trials, pixels, targets, single, progress=False, counts=counts)
    # the same run on the averages (equal to trial 0 here) ends elsewhere: the trials were used
    mean = mt.fit_mindeye(voxels, pixels, targets, me.MindEyeConfig(**{**single.__dict__, "trials": "mean"}),
                          progress=False)
    assert not torch.equal(model.voxel2clip.lin0[0].weight, mean.voxel2clip.lin0[0].weight)
    with pytest.raises(ConfigError, match="mindeye.model.trials"):
        me.MindEyeConfig(trials="all")
