"""The SEEG stages on files in the real layout (a BIDS-iEEG movie with stim_file and sentence
columns and a stimuli/ folder, loaded by the iEEG loader), and their named errors on bad input:
nothing is written when an event lacks its frame or sentence, an electrode is missing from
channels.tsv or a model's features are constant."""

import shutil

import numpy as np
import pandas as pd
import pytest

from neurogaze.brain.seeg import stages
from neurogaze.brain.seeg.features import layer_key
from neurogaze.brain.seeg.models import OUTPUT_LAYER, backbone_inputs, backbone_layers, read_models
from neurogaze.cli import main
from neurogaze.config import load_config
from neurogaze.data.synthetic.ieeg import SyntheticIeegConfig, generate_ieeg
from neurogaze.data.synthetic.world import WorldConfig, generate_world
from neurogaze.errors import DataValidationError
from neurogaze.stages import SEEG_ENCODE_KEYS, SEEG_LAYER_KEYS


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeg")
    generate_world(root / "world", WorldConfig(n_train=1, n_test=40, image_size=32))
    generate_ieeg(root / "bids", SyntheticIeegConfig(n_subjects=2, duration_s=120.0, contacts_per_shaft=3,
                                                     mean_scene_s=2.0, world=str(root / "world")))
    # the loader's three commands, as its rules run them: the checkpoint, one job per subject, the gather
    parts = root / "brain_parts"
    tables = [str(parts / name) for name in ("subjects.csv", "events.parquet", "electrodes.parquet")]
    assert main(["ieeg-cohort", str(root / "bids"), *tables]) == 0
    files = []
    for subject in ("01", "02"):
        files += [str(parts / f"{subject}{suffix}") for suffix in (".h5", ".features.parquet")]
        assert main(["load-ieeg-subject", str(root / "bids"), subject, *files[-2:]]) == 0
    assert main(["load-ieeg", *tables, *files, str(root / "brain")]) == 0
    assert main(["seeg-events", str(root / "brain"), str(root / "bids"), str(root / "pairs.parquet")]) == 0
    return root


def _copy(loaded, tmp_path):
    for name in ("bids", "brain"):
        shutil.copytree(loaded / name, tmp_path / name)
    return tmp_path


def _error(capsys) -> str:
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    return stderr.strip().splitlines()[-1]


def test_the_loader_s_events_pair_with_the_movie_s_frames_and_sentences(loaded):
    pairs = pd.read_parquet(loaded / "pairs.parquet")
    events = pd.read_parquet(loaded / "brain" / "events.parquet")
    assert set(pairs["alignment"]) == {"language", "vision"}
    assert len(pairs) >= len(events) - 2  # at most the first cut (no sentence yet) is left out
    assert all((loaded / "bids" / "stimuli" / frame).is_file() for frame in pairs["frame"])


def test_a_frame_missing_from_stimuli_is_named(loaded, tmp_path, capsys):
    root = _copy(loaded, tmp_path)
    frame = pd.read_parquet(loaded / "pairs.parquet")["frame"].iloc[0]
    (root / "bids" / "stimuli" / frame).unlink()
    assert main(["seeg-events", str(root / "brain"), str(root / "bids"), str(root / "out" / "pairs.parquet")]) == 2
    error = _error(capsys)
    assert frame.split("/")[-1] in error and "stim_file" in error and "no such file" in error
    assert not (root / "out").exists()


def test_a_word_without_its_sentence_is_named(loaded, tmp_path, capsys):
    root = _copy(loaded, tmp_path)
    events = pd.read_parquet(root / "brain" / "events.parquet")
    word = events.index[events["trial_type"] == "word"][3]
    events.loc[word, "sentence"] = pd.NA
    events.to_parquet(root / "brain" / "events.parquet")
    assert main(["seeg-events", str(root / "brain"), str(root / "bids"), str(root / "out" / "pairs.parquet")]) == 2
    error = _error(capsys)
    assert "events.parquet" in error and "sentence" in error and events.loc[word, "stim_id"] in error
    assert not (root / "out").exists()


def _fake_features(loaded, folder, settings, constant=None):
    """Random embeddings and layers of every paired frame and sentence for each backbone the demo reads."""
    pairs = pd.read_parquet(loaded / "pairs.parquet")
    rng = np.random.default_rng(0)
    files = []
    layers = backbone_layers(settings)
    for backbone in backbone_inputs(settings):
        frames, sentences = sorted(pairs["frame"].unique()), sorted(pairs["sentence"].unique())
        image, text = rng.normal(size=(len(frames), 8)), rng.normal(size=(len(sentences), 8))
        if backbone == constant:
            image, text = np.ones_like(image), np.ones_like(text)
        extra = {layer_key(label, tower): rng.normal(size=(len(frames if tower == "image" else sentences), 12))
                 for label, towers in layers[backbone].items() for tower in towers}
        files.append(folder / f"{backbone}.npz")
        np.savez(files[-1], frames=np.asarray(frames), image=image, sentences=np.asarray(sentences), text=text,
                 **extra)
    return files


@pytest.fixture
def settings():
    config = load_config("config/config.yaml")
    return {**{key: config["seeg"][key] for key in SEEG_ENCODE_KEYS}, "n_resamples": 20}


def test_encoding_writes_scores_and_p_values(loaded, tmp_path, settings):
    features = _fake_features(loaded, tmp_path, settings)
    stages.encode_cohort(pairs=loaded / "pairs.parquet", brain=loaded / "brain", features=features,
                  scores=tmp_path / "scores.parquet", pvalues=tmp_path / "p.parquet",
                  layers=tmp_path / "layers.csv", settings=settings, seed=0)
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    assert set(scores["model"]) == {"world-clip", "world-clip (random)", "world-simclr", "world-simclr (random)",
                                    "world-text", "world-text (random)", "linear combination"}
    assert pd.read_parquet(tmp_path / "p.parquet")["p"].between(0, 1).all()
    # every layer of every trained model cross-validated; one chosen per model, its random version
    # read at the same layer
    layers = pd.read_csv(tmp_path / "layers.csv")
    assert set(layers["layer"]) == {OUTPUT_LAYER, "block2"}
    chosen = layers.loc[layers["chosen"]].drop_duplicates("model").set_index("model")["layer"]
    assert layers.loc[layers["chosen"]].groupby("model")["layer"].nunique().eq(1).all()
    read_at = scores.drop_duplicates("model").set_index("model")["layer"]
    for model in ("world-clip", "world-simclr", "world-text"):
        assert read_at[model] == read_at[f"{model} (random)"] == chosen[model]
    assert read_at["linear combination"] == (f"world-simclr: {chosen['world-simclr']} + "
                                             f"world-text: {chosen['world-text']}")


def _fan_out(loaded, out, features, settings, subjects=("01", "02")):
    """seeg_subject_layers and seeg_encode_subject per subject and their gathers, as the rules run them."""
    common = {"pairs": loaded / "pairs.parquet", "brain": loaded / "brain", "features": features}
    layer_settings = {key: settings[key] for key in SEEG_LAYER_KEYS}
    for subject in subjects:
        stages.subject_layers(**common, subject=subject, layers=out / f"{subject}.layers.parquet",
                              settings=layer_settings)
    stages.gather_layers(parts=[str(out / f"{s}.layers.parquet") for s in subjects], layers=out / "layers.csv",
                         settings={"models": settings["models"]})
    parts = []
    for subject in subjects:
        parts += [str(out / f"{subject}.scores.parquet"), str(out / f"{subject}.pvalues.parquet")]
        stages.encode_subject(**common, layers=out / "layers.csv", subject=subject, scores=parts[-2],
                              pvalues=parts[-1], settings=settings, seed=0)
    return parts


def test_one_job_per_subject_then_the_gathers_are_the_single_process_tables(loaded, tmp_path, settings):
    """Per-subject layers -> their gather -> per-subject encoding -> its gather write the bytes
    encode_cohort writes in one process (layers.csv, scores.parquet, pvalues.parquet)."""
    features = _fake_features(loaded, tmp_path, settings)
    whole = tmp_path / "whole"
    stages.encode_cohort(pairs=loaded / "pairs.parquet", brain=loaded / "brain", features=features,
                         scores=whole / "scores.parquet", pvalues=whole / "pvalues.parquet",
                         layers=whole / "layers.csv", settings=settings, seed=0)
    fanned = tmp_path / "fanned"
    parts = _fan_out(loaded, fanned, features, settings)
    assert set(pd.read_parquet(parts[0])["subject"]) == {"01"}  # each job holds its subject alone
    with pytest.raises(DataValidationError, match="02.pvalues"):  # a part short: named, nothing written
        stages.encode(parts=parts[:-1], scores=fanned / "none.parquet", pvalues=fanned / "none_p.parquet")
    assert not (fanned / "none.parquet").exists()
    stages.encode(parts=[parts[0], parts[2], parts[1], parts[3]], scores=fanned / "scores.parquet",
                  pvalues=fanned / "pvalues.parquet")
    assert set(pd.read_parquet(whole / "scores.parquet")["subject"]) == {"01", "02"}
    for name in ("layers.csv", "scores.parquet", "pvalues.parquet"):
        assert (whole / name).read_bytes() == (fanned / name).read_bytes(), name
    # a subject without paired events is named
    with pytest.raises(DataValidationError, match="subject 03"):
        stages.subject_layers(pairs=loaded / "pairs.parquet", brain=loaded / "brain", features=features,
                              subject="03", layers=tmp_path / "03.parquet",
                              settings={key: settings[key] for key in SEEG_LAYER_KEYS})


def test_the_best_layer_has_the_highest_validation_r_over_every_target():
    table = pd.DataFrame({"model": ["a", "a", "a", "a", "b"], "layer": ["output", "x", "output", "x", "output"],
                          "val_r": [0.30, 0.10, 0.00, 0.15, 0.2], "targets": [10, 10, 100, 100, 10]})
    models = read_models({"models": {name: {"backbone": name, "inputs": ["image"], "family": "vision"}
                                     for name in ("a", "b", "c")}})
    # a: output (0.3 * 10 + 0) / 110 = 0.027 < x (0.1 * 10 + 15) / 110 = 0.145; c has no rows
    assert stages.best_layers(table, models) == {"a": "x", "b": "output", "c": "output"}


def test_an_electrode_missing_from_channels_tsv_is_named(loaded, tmp_path, settings):
    root = _copy(loaded, tmp_path)
    electrodes = pd.read_parquet(root / "brain" / "electrodes.parquet")
    electrodes.iloc[1:].to_parquet(root / "brain" / "electrodes.parquet")
    features = _fake_features(loaded, tmp_path, settings)
    with pytest.raises(DataValidationError) as error:
        stages.encode_cohort(pairs=loaded / "pairs.parquet", brain=root / "brain", features=features,
                      scores=tmp_path / "out" / "scores.parquet", pvalues=tmp_path / "out" / "p.parquet",
                      layers=tmp_path / "out" / "layers.csv",
                      settings=settings, seed=0)
    assert error.value.path.endswith("electrodes.parquet") and electrodes["name"].iloc[0] in str(error.value)
    assert not (tmp_path / "out").exists()


def test_a_model_with_constant_features_is_named(loaded, tmp_path, settings):
    features = _fake_features(loaded, tmp_path, settings, constant="world-text")
    with pytest.raises(DataValidationError) as error:
        stages.encode_cohort(pairs=loaded / "pairs.parquet", brain=loaded / "brain", features=features,
                      scores=tmp_path / "out" / "scores.parquet", pvalues=tmp_path / "out" / "p.parquet",
                      layers=tmp_path / "out" / "layers.csv",
                      settings=settings, seed=0)
    assert error.value.path.endswith("world-text.npz") and error.value.got == "constant"
    assert not (tmp_path / "out").exists()
