"""MindEye pipeline stages on a tiny generated NSD: train -> low-level -> reconstruct -> evaluate ->
figures, the metric table's schema, byte-identical reruns, resume, and bad inputs."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pandas as pd
import pytest
import torch

from neurogaze.brain import mindeye as me
from neurogaze.brain import mindeye_stages as ms
from neurogaze.config import load_schema
from neurogaze.data.contracts import (
    METRIC_COLUMNS,
    read_brain_responses,
    read_metrics,
    write_brain_responses,
)
from neurogaze.errors import ConfigError, DataValidationError

REPO = Path(__file__).resolve().parents[2]
SMALL_NSD = {
    "n_images": 60, "n_shared": 15, "repeats": 3, "n_sessions": 3, "image_size": 32, "n_mask_voxels": 200,
    "roi_sizes": {"faces": 10, "warm": 10, "vertical": 10, "spatial_frequency": 10, "feature": 40, "unselective": 10},
    "n_feature_directions": 8,
}
SECTION = {
    "backbone": "demo-clip",
    "roi": "nsdgeneral",
    "model": {"n_voxels": 200, "hidden": 32, "n_blocks": 1, "n_tokens": 1, "token_dim": 32, "projector_hidden": 32,
              "epochs": 3, "batch_size": 16, "max_lr": 3e-3, "prior_depth": 1, "prior_heads": 2, "prior_dim_head": 8,
              "image_augment": False},
    "tiny_variation": {"image_size": 32, "unet_channels": [32, 64], "vae_channels": [32, 64]},
    "low_level": {"enabled": True, "hidden": 16, "n_blocks": 1, "map_channels": 8, "map_side": 4,
                  "decoder_channels": [8, 16, 16], "epochs": 2, "batch_size": 16, "max_lr": 3e-3},
    "reconstruction": {"steps": 2, "n_samples": 2, "n_images": 3},
    "evaluation": {"subset": 300, "n_draws": 30, "two_way_backbones": ["demo-clip"]},
    "figures": {"n_images": 3, "top_k": 3},
}


def settings(**changes) -> ms.MindEyeSettings:
    section = {**SECTION, **changes}
    return ms.MindEyeSettings.from_config(section, seed=0)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def nsd(tmp_path_factory) -> dict[str, Path]:
    """A loaded tiny synthetic NSD: responses (45 train, 15 test rows) and its stimulus set."""
    from neurogaze.data import nsd as loader
    from neurogaze.data.synthetic.nsd import (
        NSDSyntheticConfig,
        generate_nsd_like,
        random_pixel_features,
    )

    root = tmp_path_factory.mktemp("mindeye_nsd")
    generate_nsd_like(root / "raw", NSDSyntheticConfig(**SMALL_NSD), random_pixel_features(16), seed=0, progress=False)
    loader.export_subject(root / "raw", "subj01", root / "subj01.h5", roi="nsdgeneral", roi_files=["planted"])
    loader.export_stimuli(root / "raw", ["subj01"], root / "stimuli", progress=False)
    return {"responses": root / "subj01.h5", "stimuli": root / "stimuli"}


def run_all(nsd: dict, out: Path, s: ms.MindEyeSettings | None = None) -> dict[str, Path]:
    s = s or settings()
    paths = {name: out / name for name in ("model.pt", "low_level.pt", "pipeline", "reconstructions",
                                            "metrics.csv", "retrievals.csv", "retrieval.png", "reconstruction.png")}
    ms.run_train(nsd["responses"], nsd["stimuli"], paths["model.pt"], s, device="cpu",
                 resume_path=out / "resume" / "model.pt", progress=False)
    ms.build_demo_variation_pipeline(paths["pipeline"], s, stimuli_dir=nsd["stimuli"])
    ms.run_train_low_level(nsd["responses"], nsd["stimuli"], paths["pipeline"], paths["low_level.pt"], s,
                           device="cpu", progress=False)
    ms.run_reconstruct(paths["model.pt"], nsd["responses"], nsd["stimuli"], paths["pipeline"], paths["reconstructions"],
                       s, low_level_path=paths["low_level.pt"], device="cpu", progress=False)
    ms.run_evaluate(paths["model.pt"], nsd["responses"], nsd["stimuli"], paths["metrics.csv"], paths["retrievals.csv"],
                    s, dataset="nsd", recon_dir=paths["reconstructions"], device="cpu")
    return paths


@pytest.fixture(scope="module")
def outputs(nsd, tmp_path_factory) -> dict[str, Path]:
    return run_all(nsd, tmp_path_factory.mktemp("mindeye_run"))


def test_stages_write_every_output_and_a_tidy_metric_table(outputs):
    table = read_metrics(outputs["metrics.csv"])
    assert list(table.columns) == list(METRIC_COLUMNS)
    overall = table[table["unit"] == "all"].set_index("metric")["value"]
    for metric in ("image_top1", "brain_top1", "image_top1_shuffled", "brain_top1_shuffled", "pixcorr", "ssim",
                   "two_way_demo-clip", "pixcorr_low_level", "ssim_low_level"):
        assert metric in overall.index, metric
    # 15 test items: retrieval among all of them, chance 1/15
    assert overall["retrieval_subset"] == 15 and overall["chance"] == pytest.approx(1 / 15)
    per_image = table[(table["unit"] != "all") & (table["metric"] == "ssim")]
    assert len(per_image) == 3
    assert not (outputs["model.pt"].parent / "resume" / "model.pt").exists()
    for name in ("final", "low_level"):
        index = pd.read_parquet(outputs["reconstructions"] / name / "index.parquet")
        assert len(index) == 3 and set(index["split"]) == {"test"}
    retrievals = pd.read_csv(outputs["retrievals.csv"])
    assert len(retrievals) == 15 * 3 and retrievals.groupby("stim_id")["rank"].max().eq(3).all()


def test_checkpoints_describe_themselves(outputs):
    model, payload = me.load_checkpoint(outputs["model.pt"])
    assert payload["extra"]["backbone"] == "demo-clip" and payload["extra"]["n_train"] == 45
    assert payload["optimizer"] is None and model.config.n_voxels == 200
    _, low_payload = ms.load_low_level(outputs["low_level.pt"])
    assert low_payload["config"]["map_side"] == 4 and low_payload["neurogaze_version"]


def test_figures_render(outputs, nsd):
    ms.run_figures(nsd["stimuli"], outputs["retrievals.csv"], outputs["reconstructions"], outputs["retrieval.png"],
                   outputs["reconstruction.png"], settings())
    assert outputs["retrieval.png"].stat().st_size > 0 and outputs["reconstruction.png"].stat().st_size > 0


def test_same_config_gives_byte_identical_outputs(outputs, nsd, tmp_path):
    again = run_all(nsd, tmp_path)
    for name in ("model.pt", "metrics.csv", "retrievals.csv"):
        assert again[name].read_bytes() == outputs[name].read_bytes(), name
    # low_level.pt records its pipeline folder, which differs here; its weights must not
    first, second = ms.load_low_level(outputs["low_level.pt"])[0], ms.load_low_level(again["low_level.pt"])[0]
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key


def test_interrupted_training_resumes_to_the_same_weights(outputs, nsd, tmp_path):
    s = settings()
    out, resume = tmp_path / "model.pt", tmp_path / "resume" / "model.pt"
    ms.run_train(nsd["responses"], nsd["stimuli"], out, s, device="cpu", resume_path=resume, stop_after_epoch=1,
                 progress=False)
    assert resume.exists() and not out.exists()
    ms.run_train(nsd["responses"], nsd["stimuli"], out, s, device="cpu", resume_path=resume, progress=False)
    resumed, _ = me.load_checkpoint(out)
    uninterrupted, _ = me.load_checkpoint(outputs["model.pt"])
    for key, value in uninterrupted.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_shuffled_fmri_control_falls_to_chance_when_the_true_pairing_is_perfect(monkeypatch):
    rng = np.random.default_rng(0)
    tokens = rng.standard_normal((400, 1, 8)).astype(np.float32)
    monkeypatch.setattr(me, "predict_tokens", lambda model, voxels: (voxels, voxels.reshape(len(voxels), 1, 8)))
    test = ms.SplitData(tokens.reshape(400, -1), [f"s{i}" for i in range(400)])
    values, _ = ms.retrieval_scores(None, test, tokens, settings())
    assert values["image_top1"] == values["brain_top1"] == 1.0
    assert values["chance"] == pytest.approx(1 / 300) and values["retrieval_subset"] == 300
    # chance is 1/300 = 0.0033, with an SE of 0.0033 for one draw of 300: 0.02 is 5 SE even if the
    # draws were one (token seeds 0-9: <= 0.006)
    assert values["image_top1_shuffled"] < 0.02 and values["brain_top1_shuffled"] < 0.02


# --- bad inputs ----------------------------------------------------------------------------------


def test_wrong_voxel_count_names_the_file_and_field(nsd, tmp_path):
    bad = settings(model={**SECTION["model"], "n_voxels": 201})
    with pytest.raises(DataValidationError, match=r"subj01\.h5.*responses.*201 voxels"):
        ms.run_train(nsd["responses"], nsd["stimuli"], tmp_path / "model.pt", bad, device="cpu", progress=False)
    assert not any(tmp_path.iterdir())


def test_missing_roi_is_named(nsd, tmp_path):
    with pytest.raises(DataValidationError, match=r"rois/V1v"):
        ms.run_train(nsd["responses"], nsd["stimuli"], tmp_path / "model.pt", settings(roi="V1v"), device="cpu",
                     progress=False)


def test_stimulus_missing_from_the_set_is_named(nsd, tmp_path):
    responses = read_brain_responses(nsd["responses"])
    responses.stim_ids = responses.stim_ids.copy()
    responses.stim_ids[0] = "nsd-99999"
    path = tmp_path / "subj01.h5"
    write_brain_responses(path, responses)
    with pytest.raises(DataValidationError, match=r"index\.parquet.*stim_id.*nsd-99999"):
        ms.run_train(path, nsd["stimuli"], tmp_path / "model.pt", settings(), device="cpu", progress=False)
    assert not (tmp_path / "model.pt").exists()


def test_token_grid_that_does_not_match_the_backbone_is_a_config_error(nsd, tmp_path):
    with pytest.raises(ConfigError, match="mindeye.model.n_tokens"):
        ms.run_train(nsd["responses"], nsd["stimuli"], tmp_path / "model.pt",
                     settings(model={**SECTION["model"], "n_tokens": 5}), device="cpu", progress=False)


def test_low_level_checkpoint_of_another_kind_is_refused(outputs):
    with pytest.raises(DataValidationError, match="format"):
        ms.load_low_level(outputs["model.pt"])


def test_schema_defaults_are_the_paper_settings():
    schema = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")["properties"]["mindeye"]["properties"]
    model = {key: spec["default"] for key, spec in schema["model"]["properties"].items()}
    paper = me.MindEyeConfig()
    for key, value in model.items():
        assert getattr(paper, key) == value, key
    low = {key: spec["default"] for key, spec in schema["low_level"]["properties"].items() if key != "enabled"}
    from neurogaze.brain.mindeye_reconstruction import (
        LowLevelConfig,
        ReconstructionConfig,
    )

    for key, value in low.items():
        assert getattr(LowLevelConfig(), key) == (tuple(value) if isinstance(value, list) else value), key
    recon = schema["reconstruction"]["properties"]
    assert recon["strength"]["default"] == ReconstructionConfig().strength == 0.85
    assert recon["n_samples"]["default"] == ReconstructionConfig().n_samples
    assert schema["evaluation"]["properties"]["subset"]["default"] == 300


def test_retrieval_grid_keeps_the_table_order_of_test_items():
    # test items listed out of alphabetical order: the retrieved rows must follow the seen ones
    table = pd.DataFrame({
        "stim_id": ["b", "b", "a", "a", "c", "c"], "rank": [2, 1, 1, 2, 1, 2],
        "retrieved": ["a", "b", "c", "a", "c", "b"], "correct": [False, True, False, True, True, False],
    })
    shown, retrieved, correct = ms.retrieval_grid(table, n_images=2)
    assert shown == ["b", "a"]
    assert retrieved.tolist() == [["b", "a"], ["c", "a"]]
    assert correct.tolist() == [[True, False], [False, True]]


def test_cli_trains_and_evaluates_with_the_rules_functions(outputs, nsd, tmp_path):
    import yaml

    from neurogaze.cli import main

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["seed"] = 0
    config["mindeye"] = {**config["mindeye"], **SECTION}
    (tmp_path / "config").mkdir()
    (tmp_path / "workflow" / "schemas").mkdir(parents=True)
    (tmp_path / "workflow" / "schemas" / "config.schema.yaml").write_text(
        (REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    path = tmp_path / "config" / "small.yaml"
    path.write_text(yaml.safe_dump(config))
    model = tmp_path / "model.pt"
    common = [str(nsd["responses"]), str(nsd["stimuli"])]
    assert main(["mindeye-train", *common, str(model), "--config", str(path)]) == 0
    assert not (tmp_path / "resume" / "model.pt").exists()
    cli_model, library_model = me.load_checkpoint(model)[0], me.load_checkpoint(outputs["model.pt"])[0]
    for key, value in library_model.state_dict().items():
        assert torch.equal(value, cli_model.state_dict()[key]), key
    assert main(["mindeye-evaluate", str(model), *common, str(tmp_path / "eval"), "--config", str(path)]) == 0
    table = read_metrics(tmp_path / "eval" / "metrics.csv")
    library = read_metrics(outputs["metrics.csv"])
    retrieval = ["image_top1", "brain_top1", "image_top1_shuffled", "brain_top1_shuffled"]
    assert (table.set_index("metric").loc[retrieval, "value"]
            == library[library["unit"] == "all"].set_index("metric").loc[retrieval, "value"]).all()
