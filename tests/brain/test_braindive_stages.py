"""BrainDiVE's pipeline stages on tiny files: encoder checkpoint -> guidance targets, synthesis,
evaluation, and bad input named before anything is written."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from neurogaze.backbones.diffusion import save_pipeline
from neurogaze.brain import braindive as bd
from neurogaze.brain import braindive_stages as stages
from neurogaze.brain.encoding import VoxelRidge, save_encoder
from neurogaze.data.contracts import (
    BrainResponses,
    read_metrics,
    write_brain_responses,
    write_stimulus_set,
)
from neurogaze.errors import DataValidationError

from .test_braindive import (  # noqa: F401
    _warmth,
    clip_model,
    colourful_stimuli,
    pipe,
    small_config,
    tokenizer_dir,
)

N_UNITS = 6


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
    (folder / "ground_truth.json").write_text(json.dumps({"rois": {"warm": "warmth", "other": "feature"}}))
    probe = bd.roi_predictor_from_encoder(model, np.zeros((1, 32)), np.zeros(1), np.ones(1, bool))
    probe.normalize_features = False  # the ridge encoder reads raw embeddings
    features = bd.predictor_features(probe, images[: n - 4])
    ridge = VoxelRidge(alphas=[1e-2, 1.0], cv=2, device="cpu").fit(features, responses[: n - 4])
    save_encoder(folder / "model.pt", ridge, {"estimator": "ridge", "alphas": [1e-2, 1.0], "cv_folds": 2})
    return images, responses, rois, features, ridge


@pytest.fixture()
def inputs(tmp_path, pipe, clip_model):  # noqa: F811
    model, _ = clip_model
    written = _write_inputs(tmp_path, model)
    save_pipeline(pipe, tmp_path / "sd")
    return tmp_path, model, written


def test_encoder_predictors_are_the_roi_mean_of_the_encoder(inputs):
    folder, model, (images, _, rois, features, ridge) = inputs
    predictors = stages.encoder_predictors(folder / "model.pt", model, rois, N_UNITS)
    expected = ridge.predict(features)
    for name, mask in rois.items():
        np.testing.assert_allclose(bd.predict_images(predictors[name], images[:20]), expected[:, mask].mean(1), atol=1e-4)
    with pytest.raises(DataValidationError, match="coef_"):
        stages.encoder_predictors(folder / "model.pt", model, rois, N_UNITS + 1)


def test_synthesis_then_evaluation(inputs):
    folder, model, _ = inputs
    config = small_config(num_inference_steps=2, n_images=5, batch_size=5, prior_noise_correction=True)
    index = stages.synthesis_stage(folder / "sd", folder / "model.pt", folder / "subj01.h5", folder / "out", config,
                                   model, rois=["other", "warm"], progress=False)
    assert set(index["roi"]) == {"warm", "other"} and len(index) == 20
    table = stages.evaluation_stage(
        folder / "out", folder / "model.pt", folder / "subj01.h5", folder / "stimuli", folder / "metrics.csv", "demo",
        model, independent_clip_model=model, ground_truth_path=folder / "ground_truth.json",
        dataset_top_path=folder / "dataset_top.csv",
    )
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
    stages.evaluation_stage(folder / "out", folder / "model.pt", folder / "subj01.h5", folder / "stimuli",
                            folder / "metrics.csv", "demo", model, independent_clip_model=model,
                            ground_truth_path=folder / "ground_truth.json")
    assert (folder / "metrics.csv").read_bytes() == first


def test_unknown_roi_is_named_before_anything_is_written(inputs):
    folder, model, _ = inputs
    config = small_config(num_inference_steps=2, n_images=5, batch_size=5)
    with pytest.raises(DataValidationError, match="rois/faces"):
        stages.synthesis_stage(folder / "sd", folder / "model.pt", folder / "subj01.h5", folder / "out", config,
                               model, rois=["faces"], progress=False)
    assert not (folder / "out").exists()


def test_encoder_of_another_backbone_is_refused(inputs):
    folder, model, _ = inputs
    ridge = VoxelRidge(alphas=[1.0], cv=2, device="cpu").fit(np.random.default_rng(0).normal(size=(10, 7)),
                                                            np.zeros((10, N_UNITS)))
    save_encoder(folder / "other.pt", ridge, {"estimator": "ridge"})
    with pytest.raises(DataValidationError, match="embedding width"):
        stages.encoder_predictors(folder / "other.pt", model, {"warm": np.ones(N_UNITS, bool)}, N_UNITS)


def test_zero_shot_shares_match_open_clip_argmax(clip_model):  # noqa: F811 (fixture)
    """Shares equal the argmax of open_clip's own image/text features (its PIL preprocessing)."""
    import open_clip
    from PIL import Image

    model, preprocess = clip_model
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    images = colourful_stimuli(12, 32, seed=2)
    categories = ["face", "house", "dog"]
    shares = bd.zero_shot_shares(model, tokenizer, images, categories)
    with torch.no_grad():
        pixels = torch.stack([preprocess(Image.fromarray(image)) for image in images])
        image = torch.nn.functional.normalize(model.encode_image(pixels), dim=-1)
        text = torch.nn.functional.normalize(model.encode_text(tokenizer([f"a photo of {c}" for c in categories])), dim=-1)
    labels = (image @ text.T).argmax(1).numpy()
    assert sum(shares.values()) == pytest.approx(1.0)
    for k, category in enumerate(categories):
        assert shares[category] == pytest.approx(np.mean(labels == k))
