"""DiffEye's denoiser, CPE, training (resume) and DDIM sampling, on tiny sizes."""

import copy

import numpy as np
import pytest
import torch

from neurogaze.errors import ConfigError, MissingWeightsError
from neurogaze.gaze.diffeye import diffusion
from neurogaze.gaze.diffeye import features as feat
from neurogaze.gaze.diffeye.model import (
    AttentionBlock,
    DiffEyeConfig,
    DiffEyeUNet,
    cpe_at_patches,
    cpe_at_points,
    cpe_grid,
)

TINY = {"length": 32, "channels": (16, 32), "n_heads": 2, "time_dim": 32, "feature_dim": 32, "patch_grid": 4,
        "cpe_grid": 16, "batch_size": 4, "train_steps": 4, "checkpoint_every": 2, "inference_steps": 3}


# the project's fixture: tiny models run several times faster on one intra-op thread
pytestmark = pytest.mark.usefixtures("one_thread")


def test_cpe_gives_a_gaze_point_the_code_of_the_patch_it_lies_on():
    grid = cpe_grid(16, 32)
    patches = cpe_at_patches(grid, 4)
    rows, cols = np.divmod(np.arange(16), 4)
    centres = torch.tensor(np.column_stack([(cols + 0.5) / 4, (rows + 0.5) / 4]), dtype=torch.float32)
    points = cpe_at_points(grid, centres[None])[0]
    torch.testing.assert_close(points, patches, atol=1e-5, rtol=0)
    # and only that patch: the nearest patch code of every centre is its own
    distance = torch.cdist(points, patches)
    assert torch.equal(distance.argmin(dim=1), torch.arange(16))


def test_cpe_has_no_parameters_and_the_switch_removes_it():
    with_cpe, without = DiffEyeUNet(DiffEyeConfig(**TINY)), DiffEyeUNet(DiffEyeConfig(**TINY, cpe=False))
    assert sum(p.numel() for p in with_cpe.parameters()) == sum(p.numel() for p in without.parameters())
    assert not any("cpe" in name for name in with_cpe.state_dict())
    without.load_state_dict(with_cpe.state_dict())
    x, t = torch.randn(2, 2, 32), torch.tensor([5, 500])
    features = torch.randn(2, 32, 4, 4)
    assert not torch.allclose(with_cpe(x, t, features), without(x, t, features))



def test_cpe_tells_a_point_where_the_patches_it_reads_lie():
    """With every patch's content the same, what the cross-attention reads back differs only by
    the patches' positions: the patch code must ride in the values, not only in the keys."""
    block = AttentionBlock(16, 8, 2)
    for weights in (block.image, block.self_attention.out_proj):  # the cross-attention alone
        torch.nn.init.zeros_(weights.weight)
        torch.nn.init.zeros_(weights.bias)
    grid = cpe_grid(16, 16)
    points = torch.tensor([[[0.1, 0.1], [0.9, 0.9]]])
    h, tokens = torch.zeros(1, 16, 2), torch.randn(1, 1, 8).expand(1, 16, 8)
    out = block(h, tokens, cpe_at_points(grid, points), cpe_at_patches(grid, 4))
    assert not torch.allclose(out[..., 0], out[..., 1], atol=1e-4)
    unplaced = block(h, tokens, None, None)
    torch.testing.assert_close(unplaced[..., 0], unplaced[..., 1])

def test_output_shape_and_the_null_condition_ignores_the_image():
    model = DiffEyeUNet(DiffEyeConfig(**TINY)).eval()
    x, t = torch.randn(2, 2, 32), torch.tensor([10, 900])
    a, b = torch.randn(2, 32, 4, 4), torch.randn(2, 32, 4, 4)
    assert model(x, t, a).shape == (2, 2, 32)
    drop = torch.tensor([True, False])
    out_a, out_b = model(x, t, a, drop), model(x, t, b, drop)
    torch.testing.assert_close(out_a[0], out_b[0])
    assert not torch.allclose(out_a[1], out_b[1])
    with pytest.raises(ConfigError, match="patch_grid"):
        model(x, t, torch.randn(2, 32, 3, 3))


@pytest.mark.parametrize(("change", "key"), [
    ({"length": 30, "channels": (16, 32, 64)}, "length"),
    ({"channels": (12,)}, "channels"),
    ({"cond_dropout": 1.0}, "cond_dropout"),
])
def test_config_rejects_bad_settings(change, key):
    with pytest.raises(ConfigError, match=key):
        DiffEyeConfig(**{**TINY, **change})


def test_paper_schedule():
    scheduler = diffusion.training_scheduler(DiffEyeConfig())
    assert scheduler.config.num_train_timesteps == 1000 and scheduler.config.prediction_type == "epsilon"
    np.testing.assert_allclose(scheduler.betas[[0, -1]].numpy(), [1e-4, 2e-2], rtol=1e-6)
    assert len(diffusion.sampling_scheduler(DiffEyeConfig()).timesteps) == 50


def _data():
    rng = np.random.default_rng(0)
    return rng.uniform(0.2, 0.8, (6, 32, 2)), np.array([0, 0, 0, 1, 1, 1]), torch.randn(2, 32, 4, 4)


def test_training_resumes_to_the_same_model():
    config = DiffEyeConfig(**TINY)
    xy, image_of, features = _data()
    states = []
    whole, progress = diffusion.train(config, xy, image_of, features, save=lambda s: states.append(copy.deepcopy(s)))
    assert [h["step"] for h in progress["history"]] == [2, 4]
    resumed, _ = diffusion.train(config, xy, image_of, features, state=states[0])
    for name, value in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=0, atol=0)


def test_sampling_is_seeded_batch_independent_and_on_the_image():
    config = DiffEyeConfig(**TINY)
    xy, image_of, features = _data()
    model, _ = diffusion.train(config, xy, image_of, features)
    samples = diffusion.sample(model, features, k=3, seed=7, batch_size=4)
    assert samples.shape == (2, 3, 32, 2)
    assert samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_array_equal(samples, diffusion.sample(model, features, k=3, seed=7, batch_size=64))
    assert not np.array_equal(samples, diffusion.sample(model, features, k=3, seed=8))


def test_tiny_dinov2_patch_features_on_the_patch_grid(tmp_path):
    backbone = feat.tiny_dinov2(image_size=56, seed=0)
    images = [np.full((30, 50, 3), 40, np.uint8), np.full((30, 50, 3), 200, np.uint8)]
    features = feat.patch_features(backbone, images, 56, 8)
    assert features.shape == (2, 32, 8, 8)
    torch.testing.assert_close(features, feat.patch_features(feat.tiny_dinov2(image_size=56, seed=0), images, 56, 8))
    backbone.save_pretrained(tmp_path / "dinov2")
    torch.testing.assert_close(feat.patch_features(feat.load_dinov2(tmp_path / "dinov2"), images, 56, 8), features)
    with pytest.raises(MissingWeightsError, match="nothing is downloaded"):
        feat.load_dinov2(tmp_path / "absent")
