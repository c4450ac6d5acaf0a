"""MindEye reconstruction: the image-variation pipeline folder, img2img, best-of-N, voxels to scored images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurogaze.backbones.diffusion import images_to_tensor, save_pipeline
from neurogaze.brain.mindeye import low_level as ml
from neurogaze.brain.mindeye import model as me
from neurogaze.brain.mindeye import reconstruct as mr
from neurogaze.config import schema_defaults
from neurogaze.errors import DataValidationError, MissingWeightsError
from neurogaze.metrics.reconstruction import evaluate_reconstructions, metric_rows

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = mr.ReconstructionConfig(steps=4, guidance_scale=3.5, strength=0.85, n_samples=3, seed=0)


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vd") / "tiny-vd"
    save_pipeline(mr.build_tiny_variation_pipeline(mr.TinyVariationConfig()), folder, {"tiny_variation": "default"})
    return folder


@pytest.fixture(scope="module")
def pipe(pipeline_dir):
    return mr.load_variation_pipeline(pipeline_dir)


@pytest.fixture(scope="module")
def targets(demo_backbone):
    return me.TokenTargets(demo_backbone, augment=False)


def test_saved_pipeline_loads_offline_and_samples_identically(pipeline_dir, pipe):
    built = mr.build_tiny_variation_pipeline(mr.TinyVariationConfig())
    tokens, uncond = torch.randn(2, 17, 32), torch.zeros(17, 32)
    a = mr.sample_variations(built, tokens, uncond, FAST, generator=torch.Generator().manual_seed(0))
    b = mr.sample_variations(pipe, tokens, uncond, FAST, generator=torch.Generator().manual_seed(0))
    assert type(pipe).__name__ == "VersatileDiffusionImageVariationPipeline"
    assert a.shape == (2, 3, 64, 64)
    assert torch.allclose(a, b, atol=1e-5)


def test_demo_pipeline_scales_its_latents_to_unit_variance(tmp_path):
    rng = np.random.default_rng(0)
    images = list(rng.integers(0, 255, (8, 40, 40, 3), dtype=np.uint8))
    config = mr.TinyVariationConfig(image_size=32, vae_channels=(16, 32))
    folder = mr.build_demo_variation_pipeline(tmp_path / "vd", config, images)
    vae = mr.load_variation_pipeline(folder).vae
    latents = ml.encode_latents(vae, images_to_tensor(images, 32))
    assert float(latents.std()) == pytest.approx(1.0, rel=1e-3)


def test_missing_pipeline_folder_says_what_to_fetch(tmp_path):
    with pytest.raises(MissingWeightsError, match="versatile-diffusion"):
        mr.load_variation_pipeline(tmp_path / "nowhere")


def test_folder_without_model_index_is_named(tmp_path):
    (tmp_path / "vd").mkdir()
    with pytest.raises(DataValidationError, match="model_index.json"):
        mr.load_variation_pipeline(tmp_path / "vd")


def test_low_strength_img2img_stays_near_its_start(pipe):
    start = torch.randn(2, 4, 32, 32, generator=torch.Generator().manual_seed(3))
    tokens, uncond = torch.randn(2, 17, 32, generator=torch.Generator().manual_seed(4)), torch.zeros(17, 32)
    gentle = mr.ReconstructionConfig(steps=20, strength=0.1, n_samples=1)
    near = mr.denoise(pipe, tokens, uncond, gentle, start, torch.Generator().manual_seed(0))
    far = mr.denoise(pipe, tokens, uncond, gentle, None, torch.Generator().manual_seed(0))
    # strength 0.1 starts at t = 51 of 1000 (noise sd 0.22) for the last 2 of 20 steps: over seeds
    # 0-7 (start, tokens, noise) the ratio was 0.020-0.021, 25x below the bound
    assert (near - start).abs().mean() < 0.5 * (far - start).abs().mean()


def test_best_of_picks_the_closest_candidate():
    g = torch.Generator().manual_seed(0)
    brain = torch.randn(17, 32, generator=g)
    candidates = torch.randn(5, 17, 32, generator=g)
    # cosine ~1.0 for the planted candidate, ~N(0, 1/sqrt(544) = 0.04) for random ones
    candidates[3] = brain * 2 + 0.01 * torch.randn(17, 32, generator=g)
    assert mr.best_of(candidates, brain) == 3


def test_reconstruct_keeps_the_best_sample_and_is_reproducible(pipe, targets):
    rng = np.random.default_rng(0)
    prior = rng.standard_normal((2, 17, 32)).astype(np.float32)
    brain = rng.standard_normal((2, 17, 32)).astype(np.float32)
    first = mr.reconstruct(pipe, prior, brain, targets, FAST, progress=False)
    again = mr.reconstruct(pipe, prior, brain, targets, FAST, progress=False)
    assert first.images.shape == (2, 64, 64, 3) and first.candidates.shape == (2, 3, 64, 64, 3)
    np.testing.assert_array_equal(first.images, again.images)
    for i in range(2):
        np.testing.assert_array_equal(first.images[i], first.candidates[i, first.chosen[i]])
        pixels = torch.from_numpy(first.candidates[i]).permute(0, 3, 1, 2).float() / 255
        pixels = torch.nn.functional.interpolate(pixels, size=(32, 32), mode="bilinear", antialias=True)
        sims = torch.nn.functional.cosine_similarity(targets(pixels, train=False).flatten(1),
                                                     torch.from_numpy(brain[i]).flatten()[None])
        assert int(sims.argmax()) == first.chosen[i]


def test_reconstruct_refuses_unpaired_inputs(pipe, targets):
    with pytest.raises(DataValidationError, match="retrieval_tokens"):
        mr.reconstruct(pipe, np.zeros((2, 17, 32)), np.zeros((3, 17, 32)), targets, FAST, progress=False)


def test_voxels_to_scored_reconstructions_end_to_end(pipe, targets):
    """Brain network -> prior sample -> low-level start -> best-of-N variations -> metric table."""
    torch.manual_seed(0)
    config = me.MindEyeConfig(n_voxels=20, hidden=16, n_blocks=1, n_tokens=17, token_dim=32, projector_hidden=16,
                              prior_depth=1, prior_heads=1, prior_dim_head=16, prior_timesteps=5)
    model = me.MindEye(config).eval()
    voxels = np.random.default_rng(0).standard_normal((3, 20)).astype(np.float32)
    raw, projected = me.predict_tokens(model, voxels)
    prior_tokens = me.sample_prior_tokens(model, raw, seed=0)
    assert prior_tokens.shape == (3, 17, 32)
    low = ml.Voxel2Latent(ml.LowLevelConfig(n_voxels=20, hidden=16, n_blocks=1, map_channels=8, map_side=8,
                                            decoder_channels=(8, 16, 16))).eval()
    init = ml.predict_latents(low, voxels)
    result = mr.reconstruct(pipe, prior_tokens, projected, targets, FAST, init_latents=init, progress=False)
    seen = np.random.default_rng(1).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    clip = (projected.reshape(3, -1), projected.reshape(3, -1)[::-1])
    values = evaluate_reconstructions(result.images, seen, {"clip": clip})
    table = metric_rows(values, method="mindeye", dataset="demo", units=["a", "b", "c"])
    assert set(table["metric"]) == {"pixcorr", "ssim", "two_way_clip"} and len(table) == 9
    assert np.isfinite(table["value"]).all()


def test_schema_defaults_are_the_config_defaults():
    def schema(section):
        return {k: tuple(v) if isinstance(v, list) else v for k, v in schema_defaults(section).items()}

    recon = {f: getattr(mr.ReconstructionConfig(), f) for f in mr.ReconstructionConfig.__dataclass_fields__}
    assert schema("mindeye.reconstruction") == {k: v for k, v in recon.items() if k != "seed"}
    tiny = {f: getattr(mr.TinyVariationConfig(), f) for f in mr.TinyVariationConfig.__dataclass_fields__}
    assert schema("mindeye.tiny_variation") == {k: v for k, v in tiny.items() if k != "token_dim"}  # model's
