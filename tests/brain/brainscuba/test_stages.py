"""Rules brainscuba_project and brainscuba_caption on a planted case: voxels whose weights point at
a concept's embeddings are captioned with that concept's word."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from neurogaze.backbones.clipcap import train_clipcap
from neurogaze.backbones.diffusion import TinySDConfig, build_tiny_pipeline, load_sd_pipeline, save_pipeline
from neurogaze.backbones.tokenizer import write_clip_tokenizer
from neurogaze.brain.brainscuba import stages
from neurogaze.brain.encoding import EncodingConfig, LinearProbeEncoder, save_encoder
from neurogaze.data.contracts import (
    BrainResponses,
    read_stimulus_set,
    write_brain_responses,
    write_features,
    write_stimulus_set,
)
from neurogaze.errors import DataValidationError

pytestmark = pytest.mark.usefixtures("one_thread")

DIM = 8
CONCEPTS = {"face": 0, "car": 1, "tree": 2}  # concept -> the embedding axis its images lie along
# units 0-2: early visual (excluded), 3-6: face voxels, 7-10: car voxels, 11-14: tree voxels
N_UNITS = 15


def concept_embeddings(rng, concept, n):
    rows = rng.normal(scale=0.15, size=(n, DIM))
    rows[:, CONCEPTS[concept]] += 1.0
    return (rows * rng.uniform(8, 12, size=(n, 1))).astype(np.float32)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("scuba")
    rng = np.random.default_rng(0)
    # a captioner that says "a <concept>." of its concept's embeddings
    names = [name for name in CONCEPTS for _ in range(40)]
    features = np.concatenate([concept_embeddings(rng, name, 40) for name in CONCEPTS])
    ids = [f"img{number}" for number in range(len(names))]
    write_features(root / "features.npy", features, ids)
    pd.DataFrame({"stim_id": ids, "caption_id": range(len(ids)), "caption": [f"a {name}." for name in names],
                  "split": "train"}).to_parquet(root / "captions.parquet")
    train_clipcap(features=root / "features.npy", feature_ids=root / "features.ids.txt",
                  captions=root / "captions.parquet", captioner=root / "captioner", seed=0,
                  settings={"training": {"epochs": 30, "lr": 0.01, "warmup_steps": 5, "batch_size": 20,
                                         "prefix_length": 2,
                                         "architecture": {"n_positions": 8, "n_embd": 16, "n_layer": 1,
                                                          "n_head": 2, "dropout": 0.0}}})
    # a pool of the three concepts' embeddings, in two shards
    pool = np.concatenate([concept_embeddings(rng, name, 30) for name in CONCEPTS])
    np.save(root / "pool_a.npy", pool[::2])
    np.save(root / "pool_b.npy", pool[1::2])
    # voxel weights: each ROI's voxels point (noisily) at its concept's axis
    coef = rng.normal(scale=0.3, size=(N_UNITS, DIM)).astype(np.float32)
    rois = {"nsdgeneral": np.ones(N_UNITS, bool), "early": np.zeros(N_UNITS, bool)}
    rois["early"][:3] = True
    for number, name in enumerate(CONCEPTS):
        units = np.arange(3 + 4 * number, 7 + 4 * number)
        coef[units, CONCEPTS[name]] += 2.0
        rois[f"{name}s"] = np.isin(np.arange(N_UNITS), units)
    encoder = LinearProbeEncoder(augment=False)
    encoder.coef_, encoder.intercept_, encoder.loss_curve_ = coef, np.zeros(N_UNITS, np.float32), np.zeros(1)
    save_encoder(root / "encoder.pt", encoder, EncodingConfig(estimator="linear_probe"))
    write_brain_responses(root / "responses.h5", BrainResponses(
        responses=rng.normal(size=(4, N_UNITS)).astype(np.float32), stim_ids=np.array(["a", "b", "c", "d"]),
        split=np.array(["train", "train", "test", "test"]), noise_ceiling=np.ones(N_UNITS, np.float32), rois=rois))
    return root


def caption_settings(**overrides):
    return {"prefix_length": 2, "normalize_prefix": False, "decoding": {"beam_size": 5, "max_tokens": 6},
            "nouns": {"lexicon": list(CONCEPTS)}, "person_words": ["face"], "rois": ["faces", "cars", "trees"],
            "concepts": {"faces": ["face"], "cars": ["car"], "trees": ["tree"]}, **overrides}


def test_projected_voxels_are_captioned_with_their_concept(planted, tmp_path):
    stages.project(encoder=planted / "encoder.pt", responses=planted / "responses.h5",
                   pool=[planted / "pool_a.npy", planted / "pool_b.npy"], projection=tmp_path / "projection.npz",
                   settings={"chunk_size": 7}, selection={"include": "nsdgeneral", "exclude": ["early"]},
                   rois=["faces"], seed=0, dataset="nsd", subject="subj01")
    units, embedded = stages.read_projection(tmp_path / "projection.npz")
    assert list(units) == list(range(3, N_UNITS))  # the early visual voxels are not projected
    assert not (tmp_path / "projection.npz.resume").exists()
    outputs = {name: tmp_path / f"{name}.{ext}" for name, ext in
               (("captions", "parquet"), ("nouns", "csv"), ("person", "csv"), ("concepts", "csv"))}
    table = stages.caption(projection=tmp_path / "projection.npz", responses=planted / "responses.h5",
                           captioner=planted / "captioner", settings=caption_settings(), device="cpu",
                           dataset="nsd", subject="subj01", **outputs)
    rates = pd.read_csv(outputs["concepts"]).set_index("roi")
    # every ROI's voxels name its concept and the other ROIs' voxels do not
    assert (rates["rate_in"] == 1.0).all() and (rates["rate_out"] == 0.0).all(), table[["unit", "caption"]]
    shares = pd.read_csv(outputs["person"]).set_index("roi")["person_share"]
    assert shares["faces"] == 1.0 and shares["cars"] == 0.0
    nouns = pd.read_csv(outputs["nouns"])
    assert set(nouns.loc[nouns["roi"] == "trees", "noun"]) == {"tree"}


def test_captioner_of_another_prefix_size_is_refused_before_any_output(planted, tmp_path):
    with open(tmp_path / "projection.npz", "wb") as handle:
        np.savez(handle, unit=np.arange(3, N_UNITS), embedding=np.ones((12, DIM + 4), np.float32))
    outputs = {name: tmp_path / f"{name}.out" for name in ("captions", "nouns", "person", "concepts")}
    with pytest.raises(DataValidationError, match="prefix|features|embeddings"):
        stages.caption(projection=tmp_path / "projection.npz", responses=planted / "responses.h5",
                       captioner=planted / "captioner", settings=caption_settings(), device="cpu",
                       dataset="nsd", subject="subj01", **outputs)
    assert not any(path.exists() for path in outputs.values())


def test_a_zero_voxel_weight_is_refused_before_any_output(planted, tmp_path):
    encoder = LinearProbeEncoder(augment=False)
    coef = np.ones((N_UNITS, DIM), np.float32)
    coef[5] = 0
    encoder.coef_, encoder.intercept_, encoder.loss_curve_ = coef, np.zeros(N_UNITS, np.float32), np.zeros(1)
    save_encoder(tmp_path / "encoder.pt", encoder, EncodingConfig(estimator="linear_probe"))
    with pytest.raises(DataValidationError, match=r"coef_\[2\]"):  # unit 5 is the 3rd projected voxel
        stages.project(encoder=tmp_path / "encoder.pt", responses=planted / "responses.h5",
                       pool=[planted / "pool_a.npy"], projection=tmp_path / "projection.npz", settings={},
                       selection={"include": "nsdgeneral", "exclude": ["early"]}, rois=[], seed=0, dataset="nsd",
                       subject="subj01")
    assert not (tmp_path / "projection.npz").exists() and not (tmp_path / "projection.npz.resume").exists()


def test_caption_images_share_seeds_with_the_unguided_ones(tmp_path):
    """Rule brainscuba_images through a (tiny, untrained) diffusers folder: each ROI's captions are
    rendered from the same seeds as the empty-prompt control, deterministically."""
    tiny = TinySDConfig(image_size=16, unet_channels=(16, 32), vae_channels=(16, 32), vae_mid_attention=False)
    save_pipeline(build_tiny_pipeline(tiny, write_clip_tokenizer(tmp_path / "tok")), tmp_path / "pipe")
    table = pd.DataFrame({"unit": [0, 1, 2, 3], "caption": ["a red face.", "a face.", "a blue car.", "a car."],
                          "nouns": ["face", "face", "car", "car"], "person": [True, True, False, False],
                          "roi_faces": [True, True, False, False], "roi_cars": [False, False, True, True]})
    table.to_parquet(tmp_path / "captions.parquet")
    settings = {"n_per_roi": 2, "num_inference_steps": 2, "guidance_scale": 1.0, "height": 16, "width": 16,
                "batch_size": 3}
    for out in ("a", "b"):
        stages.images(captions=tmp_path / "captions.parquet", pipeline=tmp_path / "pipe", images=tmp_path / out,
                      settings=settings, rois=["faces", "cars"], device="cpu", dataset="nsd", subject="subj01")
    index, drawn = stages.read_images(tmp_path / "a")
    assert set(drawn) == {("faces", "caption"), ("cars", "caption"), ("", "unguided")}
    seeds = index.groupby(["roi", "condition"])["seed"].apply(list)
    assert seeds[("faces", "caption")] == seeds[("cars", "caption")] == seeds[("", "unguided")]
    assert not np.array_equal(drawn[("faces", "caption")], drawn[("", "unguided")])  # the prompt conditions the UNet
    for path in index["path"]:
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()


def _captioned_set(root, rng):
    images = rng.integers(0, 256, size=(6, 16, 16, 3), dtype=np.uint8)
    ids = [f"img{number}" for number in range(6)]
    write_stimulus_set(root / "stimuli", ids, images, ["train"] * 5 + ["test"])
    rows = [{"stim_id": stim_id, "caption_id": 2 * number + k, "caption": f"a {colour} box {k}.",
             "split": "test" if number == 5 else "train"}
            for number, (stim_id, colour) in enumerate(zip(ids, ["red", "blue"] * 3)) for k in range(2)]
    pd.DataFrame(rows).to_parquet(root / "captions.parquet")


def test_demo_pipeline_trains_the_base_on_the_train_captions(tmp_path):
    """Rule brainscuba_demo_pipeline: a diffusers folder like the base, its VAE changed by the VAE
    fit and its UNet and text encoder by the caption fit (train split only), sampling with the
    fitted prediction type, and its provenance naming the base and both fits."""
    tiny = TinySDConfig(image_size=16, unet_channels=(16, 32), vae_channels=(16, 32), vae_mid_attention=False)
    base = build_tiny_pipeline(tiny, write_clip_tokenizer(tmp_path / "tok"))
    save_pipeline(base, tmp_path / "base", {"tiny_sd": "tiny"})
    _captioned_set(tmp_path, np.random.default_rng(0))
    train_ids, texts = stages.train_captions(tmp_path / "captions.parquet", read_stimulus_set(tmp_path / "stimuli"))
    assert train_ids == [f"img{number}" for number in range(5)] and texts[1] == ["a blue box 0.", "a blue box 1."]
    settings = {"vae_fit": {"steps": 2, "batch_size": 4},
                "unet_fit": {"steps": 3, "batch_size": 4, "train_text_encoder": True,
                             "prediction_type": "v_prediction"}}
    stages.demo_pipeline(base=tmp_path / "base", stimuli=tmp_path / "stimuli", captions=tmp_path / "captions.parquet",
                         pipeline=tmp_path / "fitted", settings=settings)
    fitted = load_sd_pipeline(tmp_path / "fitted")
    assert fitted.scheduler.config.prediction_type == "v_prediction"
    for module in ("vae", "unet", "text_encoder"):
        before, after = getattr(base, module).state_dict(), getattr(fitted, module).state_dict()
        assert any(not torch.equal(before[key], after[key]) for key in before), module
    record = json.loads((tmp_path / "fitted" / "neurogaze.json").read_text())
    assert record["base"]["tiny_sd"] == "tiny" and record["caption_fit"]["n_images"] == 5
    assert record["vae_fit"]["steps"] == 2 and record["vae_fit"]["n_images"] == 5


def test_demo_pipeline_without_a_vae_fit_keeps_the_base_vae(tmp_path):
    tiny = TinySDConfig(image_size=16, unet_channels=(16, 32), vae_channels=(16, 32), vae_mid_attention=False)
    base = build_tiny_pipeline(tiny, write_clip_tokenizer(tmp_path / "tok"))
    save_pipeline(base, tmp_path / "base", {"tiny_sd": "tiny"})
    _captioned_set(tmp_path, np.random.default_rng(0))
    stages.demo_pipeline(base=tmp_path / "base", stimuli=tmp_path / "stimuli", captions=tmp_path / "captions.parquet",
                         pipeline=tmp_path / "fitted", settings={"vae_fit": None, "unet_fit": {"steps": 1}})
    before, after = base.vae.state_dict(), load_sd_pipeline(tmp_path / "fitted").vae.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)
    assert "vae_fit" not in json.loads((tmp_path / "fitted" / "neurogaze.json").read_text())


def test_demo_pipeline_refuses_captions_of_images_it_does_not_have(tmp_path):
    _captioned_set(tmp_path, np.random.default_rng(0))
    table = pd.read_parquet(tmp_path / "captions.parquet")
    table.loc[0, "stim_id"] = "elsewhere"
    table.to_parquet(tmp_path / "captions.parquet")
    with pytest.raises(DataValidationError, match="elsewhere missing"):
        stages.demo_pipeline(base=tmp_path / "base", stimuli=tmp_path / "stimuli",
                             captions=tmp_path / "captions.parquet", pipeline=tmp_path / "fitted", settings={})
    assert not (tmp_path / "fitted").exists()


def test_sample_units_keeps_the_category_rois_and_samples_the_others():
    rois = {"faces": np.arange(20) < 5, "cars": (np.arange(20) >= 5) & (np.arange(20) < 8)}
    units = np.arange(2, 20)
    chosen = stages.sample_units(units, rois, ["faces", "cars", "absent"], 4, seed=0)
    assert set(range(2, 8)) <= set(chosen) and len(chosen) == 6 + 4 and set(chosen) <= set(units)
    assert list(stages.sample_units(units, rois, ["faces"], None, seed=0)) == list(units)
