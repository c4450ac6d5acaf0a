"""MindEye's low-level path: the released layout, learning planted latents, uint8 images, checkpoints."""

from __future__ import annotations

import copy
import dataclasses
import re

import numpy as np
import pytest
import torch

from neurogaze.backbones.diffusion import save_pipeline
from neurogaze.brain.mindeye import low_level as ml
from neurogaze.brain.mindeye import reconstruct as mr
from neurogaze.config import schema_defaults
from neurogaze.errors import ConfigError, DataValidationError

pytestmark = pytest.mark.usefixtures("one_thread")

# the path these tests were written for: repeat averages, pixel loss 2, mixup the first third, no teacher
AVERAGED = dict(trials="mean", pixel_weight=2.0, mixup_fraction=0.33, cont_weight=0.0)


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    """The VAE of the default tiny variation pipeline, saved and loaded as a released folder is."""
    folder = tmp_path_factory.mktemp("vd") / "tiny-vd"
    save_pipeline(mr.build_tiny_variation_pipeline(mr.TinyVariationConfig()), folder, {"tiny_variation": "default"})
    return mr.load_variation_pipeline(folder).vae


def test_paper_size_low_level_network_has_the_released_layout():
    with torch.device("meta"):
        model = ml.Voxel2Latent(ml.LowLevelConfig())
        out = model(torch.zeros(2, 15724))
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["lin0.0.weight"] == (4096, 15724) and "lin0.0.bias" not in shapes
    assert shapes["lin1.weight"] == (16384, 4096) and shapes["norm.weight"] == (64,)
    assert shapes["upsampler.conv_in.weight"] == (256, 64, 3, 3)
    assert shapes["upsampler.conv_out.weight"] == (4, 64, 3, 3)
    assert len({k.split(".")[1] for k in shapes if k.startswith("mlp.")}) == 4
    assert tuple(out.shape) == (2, 4, 64, 64)


@pytest.mark.parametrize("seed", [0, 1])
def test_low_level_path_learns_planted_latents(vae, seed):
    torch.manual_seed(seed)
    n, v = 64, 40
    images = torch.nn.functional.interpolate(torch.rand(n, 3, 4, 4), 64, mode="bilinear") * 2 - 1
    vae = copy.deepcopy(vae)
    # unit-variance latents, as a fitted VAE's scaling factor gives (a random VAE's are nearly constant)
    vae.register_to_config(scaling_factor=float(1 / ml.encode_latents(vae, images).std() * vae.config.scaling_factor))
    latents = ml.encode_latents(vae, images)
    rng = np.random.default_rng(seed)
    flat = latents.flatten(1).numpy()
    voxels = (flat - flat.mean(0)) / (flat.std(0) + 1e-6) @ rng.standard_normal((flat.shape[1], v)) / 30
    # 30 epochs: at 15, err / baseline was 0.73-0.79 over seeds 0-5 (0.788 for seed 0); at 30 it is
    # 0.57-0.61 over seeds 0-3
    config = ml.LowLevelConfig(n_voxels=v, hidden=64, n_blocks=1, map_channels=16, map_side=8,
                               decoder_channels=(16, 32, 32), epochs=30, batch_size=16, max_lr=3e-3,
                               dropout_in=0.0, dropout_block=0.0, seed=seed, **{**AVERAGED, "pixel_weight": 0.0})
    model = ml.fit_low_level(voxels.astype(np.float32), images, vae, config, progress=False)
    pred = ml.predict_latents(model, voxels.astype(np.float32))
    err = (pred - latents).abs().mean()
    baseline = (latents - latents.mean(0)).abs().mean()  # predicting the average latent
    assert err < 0.8 * baseline, (err, baseline)
    assert ml.decode_latents(vae, pred[:2]).shape == (2, 64, 64, 3)


def test_low_level_path_trains_the_same_on_uint8_images(vae):
    # uint8 keeps NSD's training images in a quarter of the memory; the weights must not change
    torch.manual_seed(0)
    uint8 = (torch.rand(16, 3, 64, 64) * 255).round().to(torch.uint8)
    as_float = uint8.float() / 127.5 - 1.0
    assert torch.equal(ml.vae_range(uint8), as_float) and ml.vae_range(as_float) is as_float
    voxels = np.random.default_rng(0).standard_normal((16, 6)).astype(np.float32)
    config = ml.LowLevelConfig(n_voxels=6, hidden=8, n_blocks=1, map_channels=8, map_side=8,
                               decoder_channels=(8, 8, 8), epochs=2, batch_size=8, dropout_in=0.0, dropout_block=0.0,
                               **AVERAGED)
    first = ml.fit_low_level(voxels, uint8, vae, config, progress=False).state_dict()
    second = ml.fit_low_level(voxels, as_float, vae, config, progress=False).state_dict()
    for key, value in first.items():
        assert torch.equal(value, second[key]), key


def test_low_level_size_mismatch_is_a_config_error(vae):
    config = ml.LowLevelConfig(n_voxels=5, hidden=8, n_blocks=1, map_channels=8, map_side=4,
                               decoder_channels=(8, 8), epochs=1, batch_size=4, **AVERAGED)
    with pytest.raises(ConfigError, match="mindeye.low_level.map_side"):
        ml.fit_low_level(np.zeros((4, 5), np.float32), torch.zeros(4, 3, 64, 64), vae, config, progress=False)


def test_checkpoint_round_trips_and_other_files_are_refused(tmp_path):
    config = ml.LowLevelConfig(n_voxels=6, hidden=8, n_blocks=1, map_channels=8, map_side=4, decoder_channels=(8, 8),
                               projector_dim=16, teacher_projector=(16,))
    torch.manual_seed(0)
    model = ml.Voxel2Latent(config)
    ml.save_low_level(tmp_path / "low_level.pt", model, {"n_train": 3})
    loaded, payload = ml.load_low_level(tmp_path / "low_level.pt")
    assert loaded.config == config and payload["extra"] == {"n_train": 3} and payload["neurogaze_version"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(DataValidationError, match="other.pt.*format"):
        ml.load_low_level(tmp_path / "other.pt")


def test_schema_defaults_are_the_config_defaults():
    defaults = {field.name: field.default for field in dataclasses.fields(ml.LowLevelConfig)}
    schema = {k: tuple(v) if isinstance(v, list) else v for k, v in schema_defaults("mindeye.low_level").items()}
    assert schema.pop("enabled") is True  # whether the rule exists, not a setting of the network
    assert schema.pop("teacher_weights") is None  # a file: the rule's input
    # n_voxels: the ROI's size in the responses; seed: from the master seed
    assert schema == {k: v for k, v in defaults.items() if k not in ("n_voxels", "seed")}


# --- the released low-level training ("4x_locont_no_reconst") ------------------------------------

TINY_TEACHER = dict(teacher_depths=(1, 1, 1, 1), teacher_dims=(8, 8, 16, 16), teacher_projector=(16, 16),
                    projector_dim=16)


def test_released_low_level_defaults_and_projector_layout():
    config = ml.LowLevelConfig()
    assert (config.pixel_weight, config.cont_weight, config.mixup_fraction, config.trials) == (0.0, 0.1, 0.0, "mixed")
    with torch.device("meta"):
        model = ml.Voxel2Latent(config)
        latents, maps = model(torch.zeros(2, 15724), return_maps=True)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items() if k.startswith("maps_projector.")}
    assert shapes == {"maps_projector.0.weight": (512, 64, 1, 1), "maps_projector.1.weight": (512,),
                      "maps_projector.1.bias": (512,), "maps_projector.3.weight": (512, 512, 1, 1),
                      "maps_projector.4.weight": (512,), "maps_projector.4.bias": (512,),
                      "maps_projector.6.weight": (512, 512, 1, 1), "maps_projector.6.bias": (512,)}
    assert tuple(maps.shape) == (2, 256, 512) and tuple(latents.shape) == (2, 4, 64, 64)
    assert config.teacher_image_size == 512  # ConvNeXt's 16 x 16 token grid, the maps' grid


def test_trials_are_mixed_as_the_official_voxel_select():
    torch.manual_seed(0)
    counts = torch.tensor([3, 2, 1])
    trials = torch.tensor([[1.0, 2.0, 4.0], [1.0, 3.0, 1e6], [5.0, 1e6, 1e6]])[..., None]  # 1e6: no trial
    outputs = torch.stack([ml.select_trials(trials, counts)[:, 0] for _ in range(400)])
    assert torch.allclose(outputs[:, 2], torch.tensor(5.0))  # one trial: every mode gives it
    assert ((outputs[:, 0] >= 1) & (outputs[:, 0] <= 4)).all() and ((outputs[:, 1] >= 1) & (outputs[:, 1] <= 3)).all()
    means = torch.isclose(outputs[:, 0], torch.tensor(7 / 3))
    singles = (outputs[:, 0] == 1) | (outputs[:, 0] == 2) | (outputs[:, 0] == 4)
    # shares 0.5 / 0.3 / 0.2 (a random convex combination almost never hits a mean or a trial);
    # 400 draws: binomial SE of a share <= 0.025, so 4 SE is 0.1
    assert abs(float(means.float().mean()) - 0.3) < 0.1 and abs(float(singles.float().mean()) - 0.2) < 0.1


def test_soft_contrastive_loss_matches_a_loop_over_tokens():
    rng = np.random.default_rng(0)
    s, t, a = (torch.nn.functional.normalize(torch.from_numpy(rng.standard_normal((6, 4))), dim=-1) for _ in range(3))
    tau = 0.3

    def cross_entropy(logits_rows, target_rows):
        total = 0.0
        for logits, target in zip(logits_rows, target_rows):
            p = np.exp(target - target.max()) / np.exp(target - target.max()).sum()
            log_q = logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())
            total -= float((p * log_q).sum())
        return total / len(logits_rows)

    sn, tn, an = s.numpy(), t.numpy(), a.numpy()
    expected = (cross_entropy(sn @ an.T / tau, tn @ an.T / tau) + cross_entropy(an @ sn.T / tau, an @ tn.T / tau)) / 2
    assert float(ml.soft_cont_loss(s, t, a, tau)) == pytest.approx(expected, rel=1e-6)


def _facebook_layout(state: dict) -> dict:
    """timm ConvNeXt keys -> the Facebook ConvNeXt keys of the official teacher file."""
    out = {}
    for key, value in state.items():
        key = key.replace("stem.", "downsample_layers.0.").replace("conv_dw", "dwconv").replace("mlp.fc", "pwconv")
        key = re.sub(r"stages\.(\d+)\.downsample\.(\d+)", r"downsample_layers.\1.\2", key)
        key = re.sub(r"stages\.(\d+)\.blocks\.(\d+)", r"stages.\1.\2", key).replace("head.norm.", "norm.")
        out[key] = value
    return out


def test_teacher_loads_from_the_official_file_layout(tmp_path):
    config = ml.LowLevelConfig(**TINY_TEACHER)
    torch.manual_seed(0)
    teacher = ml.ConvNeXtTeacher(config)
    backbone = _facebook_layout(teacher.backbone.state_dict())
    state = {**{f"module.backbone.{k}": v for k, v in backbone.items()},
             **{f"module.maps_projector.{k}": v for k, v in teacher.maps_projector.state_dict().items()}}
    torch.save({"model": state}, tmp_path / "teacher.pth")
    loaded = ml.load_teacher(tmp_path / "teacher.pth", config)
    images = torch.rand(2, 3, 64, 64)
    assert torch.allclose(loaded(images), teacher.eval()(images))
    assert loaded(images).shape == (2, 4, 16)  # 64 px / 32: a 2 x 2 token grid
    del state["module.maps_projector.0.weight"]
    torch.save({"model": state}, tmp_path / "partial.pth")
    with pytest.raises(DataValidationError, match="partial.pth.*maps_projector.0.weight"):
        ml.load_teacher(tmp_path / "partial.pth", config)


def test_contrastive_loss_trains_the_maps_projector_and_needs_a_teacher(vae):
    torch.manual_seed(0)
    images = torch.rand(8, 3, 64, 64) * 2 - 1
    trials = np.random.default_rng(0).standard_normal((8, 3, 6)).astype(np.float32)
    counts = np.array([3, 3, 2, 3, 1, 3, 3, 2])
    config = ml.LowLevelConfig(n_voxels=6, hidden=8, n_blocks=1, map_channels=8, map_side=2, decoder_channels=(8, 8, 8,
                               8, 8), epochs=2, batch_size=4, **TINY_TEACHER)
    with pytest.raises(ConfigError, match="mindeye.low_level.teacher"):
        ml.fit_low_level(trials, images, vae, config, progress=False, counts=counts)
    with pytest.raises(DataValidationError, match="trial_responses"):
        ml.fit_low_level(trials[:, 0], images, vae, config, progress=False, teacher=ml.ConvNeXtTeacher(config))
    teacher = ml.ConvNeXtTeacher(config).eval()
    torch.manual_seed(config.seed)  # the initialisation fit_low_level starts from
    start = ml.Voxel2Latent(config).maps_projector[0].weight.clone()
    model = ml.fit_low_level(trials, images, vae, config, progress=False, counts=counts, teacher=teacher)
    assert not torch.equal(model.maps_projector[0].weight, start)  # only the contrastive loss reaches it
    silent = ml.fit_low_level(trials, images, vae, dataclasses.replace(config, cont_weight=0.0),
                              progress=False, counts=counts)
    assert isinstance(silent.maps_projector, torch.nn.Identity)
