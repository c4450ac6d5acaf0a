"""BrainDiVE's guidance: it raises the predicted ROI activation and moves a planted attribute on the pixels.

Nothing here uses another stage's output: the pipelines and CLIP models are tiny, built from
config with open_clip / diffusers directly, and the readouts are planted.
"""

import dataclasses
import json

import numpy as np
import open_clip
import pandas as pd
import pytest
import torch
from diffusers import StableDiffusionSAGPipeline
from PIL import Image

from neurogaze.backbones.diffusion import (
    TinySDConfig,
    UNetFitConfig,
    VAEFitConfig,
    build_tiny_pipeline,
    fit_vae,
    images_to_tensor,
)
from neurogaze.backbones.tokenizer import write_clip_tokenizer
from neurogaze.brain.braindive import guidance as bd
from neurogaze.config import from_section, load_config, schema_defaults
from neurogaze.data.contracts import read_metrics, write_metrics
from neurogaze.errors import ConfigError, DataValidationError

TINY_SD = TinySDConfig(image_size=16, unet_channels=(16, 32), vae_channels=(16, 32), vae_mid_attention=False)
TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    return write_clip_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer")


@pytest.fixture(scope="module")
def pipe(tokenizer_dir):
    return build_tiny_pipeline(TINY_SD, tokenizer_dir)


def tiny_clip(tmp_path_factory, seed=0):
    folder = tmp_path_factory.mktemp("clip")
    (folder / "braindive-test-clip.json").write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(folder / "braindive-test-clip.json")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model, _, preprocess = open_clip.create_model_and_transforms("braindive-test-clip", pretrained=None)
    return model.eval(), preprocess


@pytest.fixture(scope="module")
def clip_model(tmp_path_factory):
    return tiny_clip(tmp_path_factory)


class LowPassWarmth(torch.nn.Module):
    """A fixed conv net reading warmth (mean red - mean blue) off a low-passed image."""

    def __init__(self, grid: int = 4):
        super().__init__()
        self.grid = grid
        self.mix = torch.nn.Conv2d(3, 1, kernel_size=1, bias=False)
        with torch.no_grad():
            self.mix.weight.copy_(torch.tensor([1.0, 0.0, -1.0]).view(1, 3, 1, 1))
        self.mix.requires_grad_(False)
        self.register_buffer("weight", torch.ones(1))  # predict_images reads the device from a buffer

    def forward(self, images):
        return self.mix(bd.lowpass(images, self.grid)).mean(dim=(1, 2, 3))


def small_config(**overrides):
    values = {"num_inference_steps": 5, "scheduler": "DDIMScheduler", "guidance_scale": 30.0, "n_images": 6,
              "batch_size": 6}
    values.update(overrides)
    return bd.BrainDiVEConfig(**values)


# --- configuration and selection --------------------------------------------------------------


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="braindive.sampling.scheduler"):
        bd.BrainDiVEConfig(scheduler="EulerDiscreteScheduler")
    with pytest.raises(ConfigError, match="top_fraction"):
        bd.BrainDiVEConfig(top_fraction=0.0)
    with pytest.raises(ConfigError, match="braindive.sampling.steps"):
        from_section(bd.BrainDiVEConfig, {"steps": 50}, "braindive.sampling")
    with pytest.raises(ConfigError, match="guidance_scale"):
        bd.BrainDiVEConfig(guidance_scale=-1)
    with pytest.raises(ConfigError, match="braindive.sampling.sag_scale"):
        bd.BrainDiVEConfig(sag_scale=-0.1)
    with pytest.raises(ConfigError, match="braindive.sampling.guidance_image"):
        bd.BrainDiVEConfig(guidance_image="x_t")
    paper = bd.BrainDiVEConfig()
    assert (paper.scheduler, paper.num_inference_steps, paper.prompt, paper.n_keep) == (
        "DPMSolverMultistepScheduler", 50, "", 100)
    assert not paper.prior_noise_correction


def test_config_defaults_are_the_schemas():
    assert schema_defaults("braindive.sampling") == dataclasses.asdict(bd.BrainDiVEConfig())
    assert schema_defaults("braindive.demo_pipeline.vae_fit") == dataclasses.asdict(VAEFitConfig())
    assert schema_defaults("braindive.demo_pipeline.unet_fit") == dataclasses.asdict(UNetFitConfig())


def test_top_fraction_keeps_the_highest_scores():
    scores = np.array([0.1, 0.9, 0.3, 0.8, 0.2, 0.0, 0.5, 0.4, 0.6, 0.7])
    keep = bd.select_top(scores, 0.2)
    assert np.flatnonzero(keep).tolist() == [1, 3]
    assert bd.rank_descending(np.array([1.0, 1.0, 2.0])).tolist() == [1, 2, 0]  # ties: stable


def test_roi_readout_is_the_mean_of_the_roi_units():
    coef = np.arange(12, dtype=float).reshape(4, 3)
    weight, bias = bd.roi_readout(coef, np.array([1.0, 2.0, 3.0, 4.0]), np.array([True, False, True, False]))
    np.testing.assert_allclose(weight, [3.0, 4.0, 5.0])
    assert bias == pytest.approx(2.0)
    with pytest.raises(DataValidationError, match="roi_mask"):
        bd.roi_readout(coef, np.zeros(4), np.zeros(4, dtype=bool))
    with pytest.raises(DataValidationError, match="roi_mask"):
        bd.roi_readout(coef, np.zeros(4), np.ones(3, dtype=bool))


def test_predictor_matches_open_clip_preprocessing(clip_model):
    """The differentiable input path gives the features open_clip's own (PIL) preprocessing gives."""
    model, preprocess = clip_model
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    weight = rng.normal(size=32)
    predictor = bd.roi_predictor_from_encoder(model, weight[None, :].repeat(2, 0), np.array([0.5, 0.5]),
                                              np.ones(2, bool))
    with torch.no_grad():
        reference = model.encode_image(torch.stack([preprocess(Image.fromarray(im)) for im in images])).float()
    reference = torch.nn.functional.normalize(reference, dim=-1).numpy() @ weight + 0.5
    np.testing.assert_allclose(bd.predict_images(predictor, images), reference, rtol=1e-4, atol=1e-5)


def test_fit_roi_predictors_recover_a_planted_linear_readout(clip_model):
    """Without low-pass (the independent readout's path): a planted readout of the features comes back."""
    model, _ = clip_model
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(80, 32, 32, 3), dtype=np.uint8)
    probe = bd.roi_predictor_from_encoder(model, np.zeros((1, 32)), np.zeros(1), np.ones(1, bool))
    features = bd.predictor_features(probe, images)
    response = features @ rng.normal(size=32) + 3.0
    (predictor,) = bd.fit_roi_predictors(model, images, response[:, None], {"roi": np.ones(1, bool)}, alpha=1e-8,
                                         lowpass_grid=None).values()
    np.testing.assert_allclose(bd.predict_images(predictor, images), response, atol=1e-3)
    with pytest.raises(DataValidationError, match="responses"):
        bd.fit_roi_predictors(model, images, response[:5, None], {"roi": np.ones(1, bool)})


# --- the guided sampler -----------------------------------------------------------------------


def test_guidance_step_ascends_the_roi_score(pipe):
    """One step: the x0 estimate from the guided noise prediction scores higher than the plain one."""
    predictor = LowPassWarmth()
    config = small_config(prior_noise_correction=True)
    scheduler = bd._fresh_scheduler(pipe, config.scheduler)
    scheduler.set_timesteps(config.num_inference_steps)
    t = scheduler.timesteps[1]
    alpha_bar = scheduler.alphas_cumprod[int(t)]
    latents = bd._initial_latents(pipe, [1, 2, 3], 16, 16, "cpu")
    embeds = bd._prompt_embeddings(pipe, "", 3, "cpu")
    scores = []
    for scale in (0.0, 1.0):
        eps = bd._guided_eps(pipe, scheduler, predictor, config, latents, t, embeds, alpha_bar, scale)
        x0 = (latents - torch.sqrt(1 - alpha_bar) * eps) / torch.sqrt(alpha_bar)
        with torch.no_grad():
            scores.append(predictor(bd.decode_latents(pipe, x0)))
    # First order, the guided x0 moves along the score's gradient, so the score rises by ~|grad|^2.
    # Pipelines and latents of seeds 0-5 gave rises of 4e-5 to 1.3e-4, over 1000x float32 rounding.
    assert torch.all(scores[1] > scores[0])


def test_images_depend_on_their_seed_only(pipe):
    config = small_config(num_inference_steps=3)
    seeds = bd.image_seeds(config)[:3]
    together = bd.sample_batch(pipe, None, config, seeds)
    alone = torch.cat([bd.sample_batch(pipe, None, config, [seed]) for seed in seeds])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(bd.sample_batch(pipe, None, config, seeds), together, atol=0, rtol=0)
    assert bd.image_seeds(config) == bd.image_seeds(small_config(num_inference_steps=3))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("grad_through_unet", [True, False])
def test_guidance_raises_the_predicted_activation_by_one_unguided_sd(tokenizer_dir, tmp_path_factory, grad_through_unet,
                                                                     seed):
    """Planted-truth check 1 on a tiny open_clip encoder with a random ROI readout; the pipeline,
    encoder, readout and image seeds all follow ``seed``."""
    pipe = build_tiny_pipeline(dataclasses.replace(TINY_SD, seed=seed), tokenizer_dir)
    model, _ = tiny_clip(tmp_path_factory, seed=seed)
    rng = np.random.default_rng(3 + seed)
    coef, intercept, roi = rng.normal(size=(20, 32)), rng.normal(size=20), np.arange(20) < 8
    predictor = bd.roi_predictor_from_encoder(model, coef, intercept, roi)
    # Guidance 60: at 30 the gain was 1.2-8.7 unguided SDs over seeds 0-5 (1.2 for seed 5); at 60 it
    # is 2.1-14 (through the UNet) and 5.2-25 (without) over seeds 0-7.
    config = small_config(grad_through_unet=grad_through_unet, prior_noise_correction=True, guidance_scale=60.0,
                          seed=seed)
    result = bd.synthesise_roi(pipe, predictor, config, "roi-a")
    gain = result.guided_score.mean() - result.unguided_score.mean()
    assert gain > result.unguided_score.std(ddof=1)
    assert result.selected.sum() == 1 and result.guided_score[result.selected][0] == result.guided_score.max()


@pytest.fixture(scope="module")
def colour_pipe(tokenizer_dir):
    """A 16 px pipeline whose VAE was trained briefly on colourful images: a random VAE decoder
    cannot change the mean colour, whatever the guidance."""
    stimuli = colourful_stimuli(256, 16, seed=4)
    config = TinySDConfig(image_size=16, unet_channels=(16, 32), vae_channels=(16, 32), vae_mid_attention=False)
    pipe = build_tiny_pipeline(config, tokenizer_dir)
    fit_vae(pipe.vae, images_to_tensor(stimuli, 16), VAEFitConfig(steps=150, batch_size=16, lr=2e-3))
    return pipe


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_guidance_moves_planted_warmth_on_the_pixels(colour_pipe, seed):
    """Planted-truth check 2: a warmth-selective readout makes the images warmer (paired test).

    Image seeds 0-7 on this VAE: change 0.029-0.034, all 12 pairs warmer (p = 1/4096), gain 4.2-7.1
    unguided SDs; VAE fits of seeds 0-3 (pipeline, stimuli, fit) gave changes of 0.033-0.051."""
    predictor = LowPassWarmth()
    config = small_config(
        num_inference_steps=10, n_images=12, batch_size=12, guidance_scale=1000.0, prior_noise_correction=True,
        seed=seed,
    )
    unguided = bd.unguided_images(colour_pipe, config)
    result = bd.synthesise_roi(colour_pipe, predictor, config, "warm", unguided=unguided)
    test = bd.paired_attribute_test(_warmth(result.guided), _warmth(result.unguided))
    print("warmth on the pixels, guided vs unguided:", test)  # shown with pytest -s
    assert test["change"] > 0.015  # absolute: 1.5 % of the full red-minus-blue range
    assert test["p_wilcoxon"] < 0.01
    assert result.guided_score.mean() - result.unguided_score.mean() > result.unguided_score.std(ddof=1)


def _warmth(images):
    pixels = np.asarray(images, dtype=float) / 255.0
    return pixels[..., 0].mean(axis=(1, 2)) - pixels[..., 2].mean(axis=(1, 2))


# --- outputs, evaluation, figures -------------------------------------------------------------


def _fake_result(roi="roi-a", n=5, seed=0):
    rng = np.random.default_rng(seed)
    unguided = rng.integers(0, 200, size=(n, 8, 8, 3), dtype=np.uint8)
    guided = unguided.copy()
    guided[..., 0] += 40  # warmer by construction
    return bd.SynthesisResult(
        roi=roi,
        seeds=list(range(n)),
        guided=guided,
        unguided=unguided,
        guided_score=rng.normal(2.0, 0.1, size=n),
        unguided_score=rng.normal(0.0, 0.1, size=n),
        selected=bd.select_top(rng.normal(size=n), 0.4),
    )


def test_synthesis_round_trip(tmp_path):
    results = [_fake_result("roi-a"), _fake_result("roi-b", seed=1)]
    index = bd.write_synthesis(tmp_path / "out", results, small_config(n_images=5))
    read_index, images = bd.read_synthesis(tmp_path / "out")
    pd.testing.assert_frame_equal(read_index[index.columns], index, check_dtype=False)
    np.testing.assert_array_equal(images[("roi-b", "guided")], results[1].guided)
    np.testing.assert_array_equal(images[("roi-a", "unguided")], results[0].unguided)
    assert len(list((tmp_path / "out" / "unguided").glob("*.png"))) == 5  # shared by all ROIs
    with pytest.raises(DataValidationError, match="index.csv"):
        bd.read_synthesis(tmp_path)


def test_roi_names_become_safe_folders(tmp_path):
    """An ROI name that is not a file name (a path, say) gets a safe folder; 'unguided' is refused."""
    bd.write_synthesis(tmp_path / "out", [_fake_result("lh/V1 ventral")], small_config(n_images=5))
    index, images = bd.read_synthesis(tmp_path / "out")
    assert set(index["roi"]) == {"lh/V1 ventral"} and not (tmp_path / "out" / "lh").exists()
    assert images[("lh/V1 ventral", "guided")].shape == (5, 8, 8, 3)
    with pytest.raises(DataValidationError, match="unguided"):
        bd.roi_folder("unguided")


def test_planted_attribute_rois_keeps_pixel_attributes():
    truth = {"rois": {"faces": "face", "warm": "warmth", "vertical": "vertical_energy", "feature": "feature"}}
    assert bd.planted_attribute_rois(truth) == {"vertical": "vertical_energy", "warm": "warmth"}
    with pytest.raises(DataValidationError, match="rois"):
        bd.planted_attribute_rois({"roi": []}, "ground_truth.json")


def test_paired_attribute_test_known_answer():
    unguided = np.linspace(0.0, 1.0, 10)
    test = bd.paired_attribute_test(unguided + 0.5, unguided)
    assert test["change"] == pytest.approx(0.5)
    assert test["change_sd_units"] == pytest.approx(0.5 / unguided.std(ddof=1))
    assert test["p_wilcoxon"] == pytest.approx(1 / 2**10)  # exact test: all 10 pairs positive
    assert bd.paired_attribute_test(unguided, unguided)["p_wilcoxon"] == 1.0


def test_evaluation_rows_form_a_metric_table(tmp_path):
    result = _fake_result(n=8)
    rows = bd.evaluation_rows(
        result, "nsd-demo", seed=0, dataset_top=np.array([1.0, 0.8]), independent=LowPassWarmth(2),
        attributes=["warmth"],
    )
    write_metrics(tmp_path / "metrics.csv", bd.evaluation_table(rows))
    table = read_metrics(tmp_path / "metrics.csv").set_index("metric")["value"]
    assert table["pred_dataset_top_mean"] == pytest.approx(0.9)
    # gain 2 +- 0.05 over an SD of 8 draws of N(0, 0.1): below 10 only if that SD exceeds 0.2,
    # P(chi2_7 > 28) < 3e-4 (seeds 0-9 of _fake_result: 13-31)
    assert table["gain_sd_units"] > 10
    assert table["attr_warmth_change"] == pytest.approx(40 / 255, abs=1e-9)
    assert table["indep_change"] > 0
    assert table["attr_warmth_p_wilcoxon"] < 0.01
    with pytest.raises(DataValidationError, match="attributes"):
        bd.evaluation_rows(result, "nsd-demo", 0, attributes=["colourfulness"])


# --- the demo recipe: colourful stimuli and readouts fitted on them ------------------------------


def colourful_stimuli(n: int, size: int, seed: int) -> np.ndarray:
    """Smooth random colour fields with an oriented grating on top: warmth and orientation vary."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 1, size=(n, 3, 4, 4)).astype(np.float32)
    fields = torch.nn.functional.interpolate(torch.from_numpy(coarse), size=(size, size), mode="bicubic")
    y, x = np.mgrid[0:size, 0:size] / size
    theta = rng.uniform(0, np.pi, size=n)[:, None, None]
    gratings = 0.25 * np.sin(2 * np.pi * 4 * (x * np.cos(theta) + y * np.sin(theta)))
    images = fields.numpy().transpose(0, 2, 3, 1) + gratings[..., None]
    return (np.clip(images, 0, 1) * 255).astype(np.uint8)


def test_fit_roi_predictors_fit_each_roi_mean(clip_model):
    model, _ = clip_model
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, size=(60, 32, 32, 3), dtype=np.uint8)
    probe = bd.roi_predictor_from_encoder(model, np.zeros((1, 32)), np.zeros(1), np.ones(1, bool), lowpass_grid=4)
    features = bd.predictor_features(probe, images)
    responses = features @ rng.normal(size=(32, 5))
    rois = {"a": np.array([1, 1, 0, 0, 0], bool), "b": np.array([0, 0, 1, 1, 1], bool)}
    predictors = bd.fit_roi_predictors(model, images, responses, rois, alpha=1e-8, lowpass_grid=4)
    for name, mask in rois.items():
        np.testing.assert_allclose(bd.predict_images(predictors[name], images), responses[:, mask].mean(1), atol=1e-3)
    with pytest.raises(DataValidationError, match="rois/c"):
        bd.fit_roi_predictors(model, images, responses, {"c": np.zeros(5, bool)})


def test_guidance_score_averages_the_translated_scores():
    class FirstPixel(torch.nn.Module):
        def forward(self, images):
            return images[:, 0, 0, 0]

    images = torch.arange(2 * 3 * 64 * 64, dtype=torch.float32).reshape(2, 3, 64, 64)
    predictor = FirstPixel()
    assert torch.equal(bd.guidance_score(predictor, images, 0), images[:, 0, 0, 0])
    assert torch.equal(bd.guidance_score(predictor, images, 1), images[:, 0, 0, 0])  # (0, 0) comes first
    # The second shift is (2, 1) in 1/32 of the side: 4 rows and 2 columns at 64 px.
    expected = (images[:, 0, 0, 0] + images[:, 0, -4, -2]) / 2
    assert torch.equal(bd.guidance_score(predictor, images, 2), expected)
    with pytest.raises(ConfigError, match="guidance_shifts"):
        small_config(guidance_shifts=len(bd.GUIDANCE_SHIFTS) + 1)


# --- the official sampler: x0 with residual noise, self-attention guidance ----------------------


def test_guidance_latents_keep_residual_noise():
    """brain_guide_pipeline.py's cond_fn: x0 * sqrt(1 - a) + x_t * (1 - sqrt(1 - a))."""
    x0, latents = torch.full((1, 4, 2, 2), 2.0), torch.full((1, 4, 2, 2), -1.0)
    alpha_bar = torch.tensor(0.64)  # sqrt(1 - a) = 0.6
    torch.testing.assert_close(bd.guidance_latents(x0, latents, alpha_bar, "x0_noised"),
                               torch.full_like(x0, 2.0 * 0.6 - 1.0 * 0.4))
    assert bd.guidance_latents(x0, latents, alpha_bar, "x0") is x0


@pytest.mark.parametrize("mode", ["x0", "x0_noised"])
def test_guidance_decodes_the_configured_latent(pipe, monkeypatch, mode):
    """The step's decoded latent is the one guidance_image names, built from the step's own eps."""
    config = small_config(guidance_image=mode)
    scheduler = bd._fresh_scheduler(pipe, config.scheduler)
    scheduler.set_timesteps(config.num_inference_steps)
    t = scheduler.timesteps[1]
    alpha_bar = scheduler.alphas_cumprod[int(t)]
    latents = bd._initial_latents(pipe, [1, 2], 16, 16, "cpu")
    embeds = bd._prompt_embeddings(pipe, "", 2, "cpu")
    decoded = []
    decode = bd.decode_latents
    monkeypatch.setattr(bd, "decode_latents", lambda p, z: decoded.append(z.detach()) or decode(p, z))
    bd._guided_eps(pipe, scheduler, LowPassWarmth(), config, latents, t, embeds, alpha_bar, 1.0)
    with torch.no_grad():
        eps = bd._unet_eps(pipe, scheduler, latents, t, embeds, alpha_bar)
    sigma = torch.sqrt(1 - alpha_bar)
    x0 = (latents - sigma * eps) / torch.sqrt(alpha_bar)
    expected = x0 if mode == "x0" else x0 * sigma + latents * (1 - sigma)
    torch.testing.assert_close(decoded[0], expected, atol=1e-5, rtol=1e-5)
    assert mode == "x0" or (decoded[0] - x0).abs().max() > 0.1  # the two forms differ at this step


@pytest.mark.parametrize(("scheduler", "prediction_type"), [
    ("DDIMScheduler", "epsilon"), ("DPMSolverMultistepScheduler", "epsilon"), ("DDIMScheduler", "v_prediction")
])
def test_sag_matches_diffusers_sag_pipeline(tokenizer_dir, scheduler, prediction_type):
    """Unguided sampling with sag_scale gives diffusers' StableDiffusionSAGPipeline's images
    (guidance_scale 1: no classifier-free guidance, as the official runs) from the same latents;
    without SAG the images differ by far more than the tolerance."""
    pipe = build_tiny_pipeline(TINY_SD, tokenizer_dir)
    pipe.scheduler = bd.scheduler_class(scheduler).from_config(pipe.scheduler.config, prediction_type=prediction_type)
    config = small_config(scheduler=scheduler, n_images=2, batch_size=2, sag_scale=0.75)
    seeds = bd.image_seeds(config)
    ours = bd.sample_batch(pipe, None, config, seeds)
    reference = StableDiffusionSAGPipeline(
        vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, unet=pipe.unet,
        scheduler=pipe.scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    reference.set_progress_bar_config(disable=True)
    expected = reference([""] * 2, guidance_scale=1.0, sag_scale=0.75, num_inference_steps=config.num_inference_steps,
                         latents=bd._initial_latents(pipe, seeds, 16, 16, "cpu"), output_type="pt").images
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)
    plain = bd.sample_batch(pipe, None, dataclasses.replace(config, sag_scale=0.0), seeds)
    assert (plain - expected).abs().max() > 0.01
    assert not any(isinstance(proc, bd.AttentionStore) for proc in pipe.unet.attn_processors.values())


def test_sag_combines_with_brain_guidance(pipe):
    """Guided sampling with SAG: the ROI gradient still raises the score over SAG alone (same seeds)."""
    config = small_config(sag_scale=0.75, guidance_image="x0_noised", prior_noise_correction=True)
    seeds = bd.image_seeds(config)[:3]
    predictor = LowPassWarmth()
    with torch.no_grad():
        plain = predictor(bd.sample_batch(pipe, None, config, seeds))
        guided = predictor(bd.sample_batch(pipe, predictor, config, seeds))
    assert torch.all(guided > plain)


def test_sag_needs_mid_block_attention(pipe, monkeypatch):
    monkeypatch.setattr(pipe.unet, "mid_block", torch.nn.Identity())
    with pytest.raises(ConfigError, match="sag_scale"):
        bd.sample_batch(pipe, None, small_config(sag_scale=0.75), [1])


def test_paper_config_samples_as_the_official_runs(repo_root):
    """run_brain_guidance_category.py: pipe("", sag_scale=0.75, guidance_scale=0.0, num_inference_steps=50,
    clip_guidance_scale=130.0) with DPMSolverMultistepScheduler; cond_fn decodes x0 with residual noise."""
    settings = load_config(repo_root / "config" / "paper.yaml")["braindive"]["sampling"]
    config = from_section(bd.BrainDiVEConfig, settings, "braindive.sampling")
    assert (config.scheduler, config.num_inference_steps, config.guidance_scale, config.prompt) == (
        "DPMSolverMultistepScheduler", 50, 130.0, "")
    assert (config.guidance_image, config.sag_scale, config.guidance_shifts, config.prior_noise_correction) == (
        "x0_noised", 0.75, 0, False)
