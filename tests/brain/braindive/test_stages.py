"""BrainDiVE's stages on tiny files: encoder checkpoint -> guidance targets, the demo pipeline,
synthesis, evaluation (also through the CLI), and bad input named before anything is written."""

import dataclasses
import json

import numpy as np
import open_clip
import pandas as pd
import pytest
import torch
from PIL import Image

from neurogaze import cli
from neurogaze.backbones import BACKBONES
from neurogaze.backbones.diffusion import save_pipeline
from neurogaze.brain.braindive import guidance as bd
from neurogaze.brain.braindive import stages
from neurogaze.brain.encoding import EncodingConfig, VoxelRidge, save_encoder
from neurogaze.config import load_config
from neurogaze.data.contracts import (
    BrainResponses,
    read_metrics,
    write_brain_responses,
    write_stimulus_set,
)
from neurogaze.errors import ConfigError, DataValidationError
from neurogaze.runlog import stage_context
from neurogaze.stages import stage_params

from .test_guidance import (  # noqa: F401 (fixtures)
    _warmth,
    colourful_stimuli,
    pipe,
    small_config,
    tokenizer_dir,
)

N_UNITS = 6
RIDGE = EncodingConfig(estimator="ridge", alphas=(1e-2, 1.0), cv_folds=2)


def _write_inputs(folder, model, n=24):
    """Stimuli, responses (3 warmth units, 3 others) and a ridge encoder on the model's embeddings."""
    images = colourful_stimuli(n, 16, seed=9)
    ids = [f"s{i:03d}" for i in range(n)]
    splits = ["train"] * (n - 4) + ["test"] * 4
    write_stimulus_set(folder / "stimuli", ids, images, splits)
    warm = _warmth(images)
    rng = np.random.default_rng(3)
    responses = np.stack([warm + 0.01 * rng.normal(size=n) for _ in range(N_UNITS)], axis=1).astype(np.float32)
    rois = {"warm": np.arange(N_UNITS) < 3, "other": np.arange(N_UNITS) >= 3}
    data = BrainResponses(responses, np.array(ids), np.array(splits), np.ones(N_UNITS, np.float32), rois)
    write_brain_responses(folder / "subj01.h5", data)
    (folder / "synthetic").mkdir()
    truth = {"rois": {"warm": "warmth", "other": "feature"}}
    (folder / "synthetic" / "ground_truth.json").write_text(json.dumps(truth))
    probe = bd.roi_predictor_from_encoder(model, np.zeros((1, 32)), np.zeros(1), np.ones(1, bool))
    probe.normalize_features = False  # the ridge encoder reads raw embeddings
    features = bd.predictor_features(probe, images[: n - 4])
    ridge = VoxelRidge(alphas=RIDGE.alphas, cv=RIDGE.cv_folds, device="cpu").fit(features, responses[: n - 4])
    save_encoder(folder / "model.pt", ridge, RIDGE)
    return images, responses, rois, features, ridge


@pytest.fixture()
def inputs(tmp_path, pipe, demo_backbone):  # noqa: F811
    written = _write_inputs(tmp_path, demo_backbone.model)
    save_pipeline(pipe, tmp_path / "sd")
    return tmp_path, demo_backbone.model, written


@pytest.fixture()
def spec(demo_backbone):
    """The demo backbone's spec; its weights file (the rules' input) is `weights`."""
    return {"name": "demo-clip", **BACKBONES["demo-clip"]}, str(demo_backbone.weights_file)


def _synthesis(folder, spec, config, rois):
    backbone_spec, weights = spec
    return stages.synthesis(pipeline=folder / "sd", encoder=folder / "model.pt", responses=folder / "subj01.h5",
                            backbone=weights, images=folder / "out", settings=dataclasses.asdict(config), rois=rois,
                            backbone_spec=backbone_spec, device="cpu", dataset="demo", subject="subj01")


def _evaluate(folder, spec, **options):
    backbone_spec, weights = spec
    return stages.evaluate(images=folder / "out", encoder=folder / "model.pt", responses=folder / "subj01.h5",
                           stimuli=folder / "stimuli", backbone=weights, metrics=folder / "metrics.csv",
                           dataset_top=folder / "dataset_top.csv", backbone_spec=backbone_spec,
                           independent_spec=backbone_spec, independent=weights, categories=[], device="cpu",
                           dataset="demo", subject="subj01", synthetic=folder / "synthetic", **options)


def test_encoder_predictors_are_the_roi_mean_of_the_encoder(inputs):
    folder, model, (images, _, rois, features, ridge) = inputs
    predictors = stages.encoder_predictors(folder / "model.pt", model, rois, N_UNITS)
    expected = ridge.predict(features)
    for name, mask in rois.items():
        predicted = bd.predict_images(predictors[name], images[:20])
        np.testing.assert_allclose(predicted, expected[:, mask].mean(1), atol=1e-4)
    with pytest.raises(DataValidationError, match="coef_"):
        stages.encoder_predictors(folder / "model.pt", model, rois, N_UNITS + 1)


def test_synthesis_then_evaluation(inputs, spec):
    folder, _, _ = inputs
    config = small_config(num_inference_steps=2, n_images=5, batch_size=5, prior_noise_correction=True)
    index = _synthesis(folder, spec, config, ["other", "warm"])
    assert set(index["roi"]) == {"warm", "other"} and len(index) == 20
    assert bd.read_synthesis_config(folder / "out") == config
    table = _evaluate(folder, spec)
    assert read_metrics(folder / "metrics.csv").shape[0] == len(table)
    warm = table[table["unit"] == "warm"].set_index("metric")["value"]
    assert {"gain_sd_units", "indep_change", "attr_warmth_change", "attr_warmth_readout_r"} <= set(warm.index)
    # Evaluation rebuilds the sampler's guidance target: its scores of the written images agree.
    guided = index[(index["roi"] == "warm") & (index["condition"] == "guided")]["predicted"]
    assert warm["pred_guided_mean"] == pytest.approx(guided.mean(), abs=1e-6)
    # the encoder was fitted to warmth (in-sample ridge on 20 images, 32 features): data seeds 0-7 of
    # _write_inputs (stimuli 9+s, noise 3+s) gave r = 0.95-0.998, 0.95 being these seeds
    assert warm["attr_warmth_readout_r"] > 0.9
    top = pd.read_csv(folder / "dataset_top.csv")
    assert set(top["roi"]) == {"warm", "other"} and (top.groupby("roi").size() == config.n_keep).all()
    first = (folder / "metrics.csv").read_bytes()
    _evaluate(folder, spec)
    assert (folder / "metrics.csv").read_bytes() == first


def test_unknown_roi_is_named_before_anything_is_written(inputs, spec):
    folder, _, _ = inputs
    config = small_config(num_inference_steps=2, n_images=5, batch_size=5)
    with pytest.raises(DataValidationError, match="rois/faces"):
        _synthesis(folder, spec, config, ["faces"])
    assert not (folder / "out").exists()


def test_encoder_of_another_backbone_is_refused(inputs):
    folder, model, _ = inputs
    ridge = VoxelRidge(alphas=[1.0], cv=2, device="cpu").fit(np.random.default_rng(0).normal(size=(10, 7)),
                                                            np.zeros((10, N_UNITS)))
    save_encoder(folder / "other.pt", ridge, EncodingConfig())
    with pytest.raises(DataValidationError, match="embedding width"):
        stages.encoder_predictors(folder / "other.pt", model, {"warm": np.ones(N_UNITS, bool)}, N_UNITS)


def test_demo_pipeline_is_built_from_the_config_section(tmp_path):
    images = colourful_stimuli(8, 16, seed=1)
    write_stimulus_set(tmp_path / "stimuli", [f"s{i}" for i in range(8)], images, ["train"] * 8)
    settings = {"tiny": {"image_size": 16, "unet_channels": [16, 32], "vae_channels": [16, 32],
                         "vae_mid_attention": False},
                "vae_fit": {"steps": 2, "lr": 2e-3, "batch_size": 4, "kl_weight": 1e-4, "seed": 0},
                "unet_fit": {"steps": 2, "lr": 2e-3, "batch_size": 4, "prompt": "", "seed": 0}}
    stages.pipeline(stimuli=tmp_path / "stimuli", pipeline=tmp_path / "sd", settings=settings)
    provenance = json.loads((tmp_path / "sd" / "neurogaze.json").read_text())
    assert provenance["tiny_sd"]["unet_channels"] == [16, 32] and provenance["vae_fit"]["n_images"] == 8
    assert provenance["unet_fit"]["steps"] == 2 and provenance["unet_fit"]["n_images"] == 8
    with pytest.raises(ConfigError, match="unet_fit.stpes"):
        stages.pipeline(stimuli=tmp_path / "stimuli", pipeline=tmp_path / "sd2",
                        settings={**settings, "unet_fit": {"stpes": 2}})
    assert not (tmp_path / "sd2").exists()


def test_cli_gives_the_rules_bytes(inputs, spec, repo_root):
    """`neurogaze braindive-evaluate` and a direct call of the stage with the params the rule gets,
    both on one thread: the same metrics.csv and dataset_top.csv."""
    folder, _, _ = inputs
    _, weights = spec
    _synthesis(folder, spec, small_config(num_inference_steps=2, n_images=4, batch_size=4), None)
    # the stage's inputs are made on demo-clip (the demo's encoder reads world-clip)
    overrides = ["braindive.independent_backbone=null", "encoding.backbone=demo-clip",
                 f"results_dir={folder / 'results'}"]
    config_path = repo_root / "config" / "config.yaml"
    files = [folder / "out", folder / "model.pt", folder / "subj01.h5", folder / "stimuli", weights]
    argv = ["braindive-evaluate", *map(str, files), str(folder / "cli.csv"), str(folder / "cli_top.csv"), "demo",
            "subj01", "--config", str(config_path), "--threads", "1"]
    assert cli.main(argv + [option for override in overrides for option in ("--set", override)]) == 0
    params = stage_params("braindive_evaluate", load_config(config_path, overrides=overrides))
    assert params["independent_spec"] is None and params["backbone_spec"]["model"] == "demo-clip"
    with stage_context(None, "braindive_evaluate", 1):
        stages.evaluate(images=folder / "out", encoder=folder / "model.pt", responses=folder / "subj01.h5",
                        stimuli=folder / "stimuli", backbone=weights, metrics=folder / "direct.csv",
                        dataset_top=folder / "direct_top.csv", dataset="demo", subject="subj01", **params)
    assert (folder / "cli.csv").read_bytes() == (folder / "direct.csv").read_bytes()
    assert (folder / "cli_top.csv").read_bytes() == (folder / "direct_top.csv").read_bytes()


def test_zero_shot_shares_match_open_clip_argmax(demo_backbone):
    """Shares equal the argmax of open_clip's own image/text features (its PIL preprocessing)."""
    model, preprocess = demo_backbone.model, demo_backbone.preprocess
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    images = colourful_stimuli(12, 32, seed=2)
    categories = ["face", "house", "dog"]
    shares = bd.zero_shot_shares(model, tokenizer, images, categories)
    with torch.no_grad():
        pixels = torch.stack([preprocess(Image.fromarray(image)) for image in images])
        image = torch.nn.functional.normalize(model.encode_image(pixels), dim=-1)
        tokens = tokenizer([f"a photo of {c}" for c in categories])
        text = torch.nn.functional.normalize(model.encode_text(tokens), dim=-1)
    labels = (image @ text.T).argmax(1).numpy()
    assert sum(shares.values()) == pytest.approx(1.0)
    for k, category in enumerate(categories):
        assert shares[category] == pytest.approx(np.mean(labels == k))
