"""MindEye reconstruction: the image-variation pipeline folder, img2img, best-of-N, voxels to scored images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import UniPCMultistepScheduler
from torchvision.transforms import Normalize

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
    tokens = torch.randn(2, 17, 32)
    a = mr.sample_variations(built, tokens, FAST, generator=torch.Generator().manual_seed(0))
    b = mr.sample_variations(pipe, tokens, FAST, generator=torch.Generator().manual_seed(0))
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
    tokens = torch.randn(2, 17, 32, generator=torch.Generator().manual_seed(4))
    gentle = mr.ReconstructionConfig(steps=20, strength=0.1, n_samples=1)
    near = mr.denoise(pipe, tokens, gentle, start, torch.Generator().manual_seed(0))
    far = mr.denoise(pipe, tokens, gentle, None, torch.Generator().manual_seed(0))
    # strength 0.1 keeps the last 2 of 20 UniPC steps (from t = 105 of 1000, noise sd 0.3): the
    # start moves a fraction of what sampling from noise moves it
    assert (near - start).abs().mean() < 0.5 * (far - start).abs().mean()


def test_best_of_picks_the_closest_candidate():
    g = torch.Generator().manual_seed(0)
    brain = torch.randn(17, 32, generator=g)
    candidates = torch.randn(5, 17, 32, generator=g)
    # cosine ~1.0 for the planted candidate, ~N(0, 1/sqrt(544) = 0.04) for random ones
    candidates[3] = brain * 2 + 0.01 * torch.randn(17, 32, generator=g)
    assert mr.best_of(candidates, brain) == 3


@pytest.fixture(scope="module")
def prior():
    """A tiny untrained MindEye (17 x 32 tokens, a 5-step prior)."""
    torch.manual_seed(0)
    config = me.MindEyeConfig(n_voxels=20, hidden=16, n_blocks=1, n_tokens=17, token_dim=32, projector_hidden=16,
                              prior_depth=1, prior_heads=1, prior_dim_head=16, prior_timesteps=5)
    return me.MindEye(config).eval()


def test_reconstruct_keeps_the_best_sample_and_is_reproducible(pipe, prior, targets):
    rng = np.random.default_rng(0)
    brain_tokens = rng.standard_normal((2, 17, 32)).astype(np.float32)
    brain = rng.standard_normal((2, 17, 32)).astype(np.float32)
    first = mr.reconstruct(pipe, prior, brain_tokens, brain, targets, FAST, progress=False)
    again = mr.reconstruct(pipe, prior, brain_tokens, brain, targets, FAST, progress=False)
    assert first.images.shape == (2, 64, 64, 3) and first.candidates.shape == (2, 3, 64, 64, 3)
    np.testing.assert_array_equal(first.images, again.images)
    for i in range(2):
        np.testing.assert_array_equal(first.images[i], first.candidates[i, first.chosen[i]])
        pixels = torch.from_numpy(first.candidates[i]).permute(0, 3, 1, 2).float() / 255
        pixels = torch.nn.functional.interpolate(pixels, size=(32, 32), mode="bilinear", antialias=True)
        sims = torch.nn.functional.cosine_similarity(targets(pixels, train=False).flatten(1),
                                                     torch.from_numpy(brain[i]).flatten()[None])
        assert int(sims.argmax()) == first.chosen[i]


def test_reconstruct_refuses_unpaired_inputs(pipe, prior, targets):
    with pytest.raises(DataValidationError, match="retrieval_tokens"):
        mr.reconstruct(pipe, prior, np.zeros((2, 17, 32)), np.zeros((3, 17, 32)), targets, FAST, progress=False)


class Spy:
    """Records the arguments of each call of a wrapped function, then calls it."""

    def __init__(self, function):
        self.function, self.calls = function, []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self.function(*args, **kwargs)


def test_each_candidate_conditions_on_its_own_prior_draw_renormalised_by_its_cls(pipe, prior, targets, monkeypatch):
    """The release repeats the brain tokens n_samples times before the prior's sampling loop: one
    draw per candidate (one draw expanded n_samples times was ours), then divides each by its CLS norm."""
    spy = Spy(mr.sample_variations)
    monkeypatch.setattr(mr, "sample_variations", spy)
    brain_tokens = np.random.default_rng(0).standard_normal((2, 17, 32)).astype(np.float32)
    mr.reconstruct(pipe, prior, brain_tokens, brain_tokens, targets, FAST, progress=False)
    for i, (args, _) in enumerate(spy.calls):
        cond = args[1]
        assert cond.shape == (FAST.n_samples, 17, 32)
        # the draws differ by the prior's sampling noise (5 steps from N(0, 1) start points)
        assert all(not torch.allclose(cond[a], cond[b], atol=1e-3) for a in range(3) for b in range(a))
        assert torch.allclose(cond[:, 0].norm(dim=-1), torch.ones(3), atol=1e-5)
        repeated = torch.from_numpy(brain_tokens[i])[None].repeat(3, 1, 1)
        draws = prior.sample(repeated, generator=torch.Generator().manual_seed(FAST.seed + i))
        torch.testing.assert_close(cond, draws / (draws[:, :1].norm(dim=-1, keepdim=True) + 1e-6))


def test_sampling_is_unipc_guided_against_zero_tokens(pipe, monkeypatch):
    step = Spy(UniPCMultistepScheduler.step)
    monkeypatch.setattr(UniPCMultistepScheduler, "step", lambda self, *a, **k: step(self, *a, **k))
    contexts = []
    handle = pipe.image_unet.register_forward_pre_hook(
        lambda _m, _a, kwargs: contexts.append(kwargs["encoder_hidden_states"]), with_kwargs=True)
    tokens = torch.randn(2, 17, 32, generator=torch.Generator().manual_seed(1))
    start = torch.randn(2, 4, 32, 32, generator=torch.Generator().manual_seed(2))
    try:
        mr.denoise(pipe, tokens, mr.ReconstructionConfig(steps=20, strength=0.85), start, torch.Generator())
    finally:
        handle.remove()
    # img2img at 0.85 of 20 steps runs the last int(20 x 0.85) = 17, as the release counts them
    assert len(step.calls) == len(contexts) == 17
    assert all(torch.equal(c[:2], torch.zeros_like(tokens)) and torch.equal(c[2:], tokens) for c in contexts)
    timesteps = [int(args[2]) for args, _ in step.calls]
    # linspace spacing over 0..999 (diffusers 0.13's UniPC): 999, 949, ..., the last 17 of them
    assert timesteps == [int(t) for t in np.linspace(0, 999, 21).round()[::-1][:-1][3:]]


def test_img2img_start_re_encodes_the_clip_normalised_blurry_image(pipe):
    """The release's start: decode the low-level latent, x / 2 + 0.5, CLIP-normalise, encode, sample."""
    low = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(5))
    start = mr.img2img_start(pipe.vae, low, torch.Generator().manual_seed(6))
    scaling = pipe.vae.config.scaling_factor
    blurry = pipe.vae.decode(low / scaling).sample / 2 + 0.5
    normalise = Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
    posterior = pipe.vae.encode(normalise(blurry)).latent_dist
    torch.testing.assert_close(start, posterior.sample(torch.Generator().manual_seed(6)) * scaling)
    # a sampled latent, not the mode; and not the low-level latent itself (what ours started from)
    assert not torch.allclose(start, posterior.mode() * scaling)
    assert not torch.allclose(start, low, atol=0.1)


def test_reconstruct_starts_each_image_from_its_img2img_start(pipe, prior, targets, monkeypatch):
    spy = Spy(mr.sample_variations)
    monkeypatch.setattr(mr, "sample_variations", spy)
    low = torch.randn(2, 4, 32, 32, generator=torch.Generator().manual_seed(7))
    brain_tokens = np.random.default_rng(1).standard_normal((2, 17, 32)).astype(np.float32)
    mr.reconstruct(pipe, prior, brain_tokens, brain_tokens, targets, FAST, low_latents=low, progress=False)
    for i, (args, _) in enumerate(spy.calls):
        expected = mr.img2img_start(pipe.vae, low[i:i + 1], torch.Generator().manual_seed(FAST.seed + i))
        torch.testing.assert_close(args[3], expected.expand(FAST.n_samples, -1, -1, -1))


def test_voxels_to_scored_reconstructions_end_to_end(pipe, prior, targets):
    """Brain network -> prior draws -> low-level start -> best-of-N variations -> metric table."""
    voxels = np.random.default_rng(0).standard_normal((3, 20)).astype(np.float32)
    raw, projected = me.predict_tokens(prior, voxels)
    low = ml.Voxel2Latent(ml.LowLevelConfig(n_voxels=20, hidden=16, n_blocks=1, map_channels=8, map_side=8,
                                            decoder_channels=(8, 16, 16))).eval()
    init = ml.predict_latents(low, voxels)
    result = mr.reconstruct(pipe, prior, raw, projected, targets, FAST, low_latents=init, progress=False)
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
