"""MindEye's stages on a tiny generated NSD, called as their rules call them (params from the
registry, the rule's threads): pipeline -> train -> low-level -> reconstruct -> evaluate -> plot,
the metric table's schema, byte-identical reruns, resume (and its discarding when the inputs
change), the CLI giving the rule's bytes, and bad inputs."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import threadpoolctl
import torch
import yaml

from neurogaze.brain.mindeye import evaluate as mev
from neurogaze.brain.mindeye import stages as ms
from neurogaze.brain.mindeye.low_level import load_low_level, open_low_level
from neurogaze.brain.mindeye.train import load_checkpoint
from neurogaze.cli import main
from neurogaze.config import schema_defaults, validate_config
from neurogaze.data import nsd as loader
from neurogaze.data.contracts import (
    METRIC_COLUMNS,
    read_brain_responses,
    read_metrics,
    write_brain_responses,
)
from neurogaze.data.synthetic.nsd import NSDSyntheticConfig, generate_nsd_like, random_pixel_features
from neurogaze.errors import ConfigError, DataValidationError
from neurogaze.runlog import THREAD_ENVIRONMENT, stage_context
from neurogaze.stages import STAGES, stage_params

from .synthetic import released_high_level_payload, released_low_level_payload
from .test_model import released_layout

REPO = Path(__file__).resolve().parents[3]
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
              "image_augment": False, "trials": "mean"},
    "tiny_variation": {"image_size": 32, "unet_channels": [32, 64], "vae_channels": [32, 64]},
    "low_level": {"enabled": True, "hidden": 16, "n_blocks": 1, "map_channels": 8, "map_side": 4,
                  "decoder_channels": [8, 16, 16], "epochs": 2, "batch_size": 16, "max_lr": 3e-3,
                  "mixup_fraction": 0.33, "pixel_weight": 2.0, "cont_weight": 0.0, "trials": "mean"},
    "reconstruction": {"steps": 2, "n_samples": 2, "n_images": 3},
    "evaluation": {"subset": 300, "n_draws": 30, "two_way_backbones": ["demo-clip"], "top_k": 3},
    "figures": {"n_images": 3},
}
WILDCARDS = {"dataset": "nsd", "subject": "subj01"}


def raw_config(**section_changes) -> dict:
    """The demo config with the small MindEye section (not yet validated)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["mindeye"] = {**config["mindeye"], **SECTION, **section_changes}
    return config


@contextlib.contextmanager
def restored_threads():
    """Give the test session back the torch, BLAS and environment threads it had (a stage's
    context sets them for the rest of its process)."""
    torch_threads = torch.get_num_threads()
    environment = {name: os.environ.get(name) for name in THREAD_ENVIRONMENT}
    try:
        with threadpoolctl.threadpool_limits(limits=None):
            yield
    finally:
        torch.set_num_threads(torch_threads)
        for name, value in environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def rule_threads(rule: str):
    """Run as the rule does: its log context and thread count."""
    with restored_threads(), stage_context(None, rule, STAGES[rule].threads):
        yield


def run(rule: str, config: dict, **files):
    """Call a rule's stage with its registry params, as the rule's script does."""
    entry = STAGES[rule]
    with rule_threads(rule):
        return entry.load()(**files, **entry.params(config))


@pytest.fixture(scope="module")
def config() -> dict:
    return validate_config(raw_config())


@pytest.fixture(scope="module")
def nsd(tmp_path_factory, demo_backbone) -> dict[str, Path]:
    """A loaded tiny synthetic NSD: responses (45 train, 15 test rows), its stimulus set, the backbone."""
    root = tmp_path_factory.mktemp("mindeye_nsd")
    generate_nsd_like(root / "raw", NSDSyntheticConfig(**SMALL_NSD), random_pixel_features(16), seed=0, progress=False)
    loader.export_subject(root / "raw", "subj01", root / "subj01.h5", roi="nsdgeneral", roi_files=["planted"])
    loader.export_stimuli(root / "raw", ["subj01"], root / "stimuli", progress=False)
    return {"responses": root / "subj01.h5", "stimuli": root / "stimuli", "backbone": demo_backbone.weights_file}


def run_all(nsd: dict, out: Path, config: dict) -> dict[str, Path]:
    paths = {name: out / file for name, file in (
        ("model", "model.pt"), ("low_level", "low_level.pt"), ("pipeline", "pipeline"),
        ("reconstructions", "reconstructions"), ("metrics", "metrics.csv"), ("retrievals", "retrievals.csv"),
        ("retrieval", "retrieval.png"), ("reconstruction", "reconstruction.png"))}
    data = {"responses": nsd["responses"], "stimuli": nsd["stimuli"]}
    run("mindeye_pipeline", config, stimuli=nsd["stimuli"], pipeline=paths["pipeline"])
    run("mindeye_train", config, **data, backbone=nsd["backbone"], model=paths["model"], **WILDCARDS)
    run("mindeye_train_low_level", config, **data, pipeline=paths["pipeline"], low_level=paths["low_level"],
        **WILDCARDS)
    run("mindeye_reconstruct", config, **data, backbone=nsd["backbone"], model=paths["model"],
        pipeline=paths["pipeline"], low_level=paths["low_level"], reconstructions=paths["reconstructions"],
        **WILDCARDS)
    run("mindeye_evaluate", config, **data, backbone=nsd["backbone"], model=paths["model"],
        reconstructions=paths["reconstructions"], two_way=[nsd["backbone"]], metrics=paths["metrics"],
        retrievals=paths["retrievals"], **WILDCARDS)
    run("mindeye_plot", config, stimuli=nsd["stimuli"], retrievals=paths["retrievals"],
        reconstructions=paths["reconstructions"], retrieval=paths["retrieval"],
        reconstruction=paths["reconstruction"], **WILDCARDS)
    return paths


@pytest.fixture(scope="module")
def outputs(nsd, config, tmp_path_factory) -> dict[str, Path]:
    return run_all(nsd, tmp_path_factory.mktemp("mindeye_run"), config)


def train(config: dict, nsd: dict, model: Path, responses: Path | None = None, **options):
    stage = STAGES["mindeye_train"]
    with rule_threads("mindeye_train"):
        return ms.train(responses=responses or nsd["responses"], stimuli=nsd["stimuli"], backbone=nsd["backbone"],
                        model=model, **stage.params(config), **options)


def assert_same_weights(first: Path, second: Path) -> None:
    a, b = load_checkpoint(first)[0].state_dict(), load_checkpoint(second)[0].state_dict()
    for key, value in a.items():
        assert torch.equal(value, b[key]), key


def test_stages_write_every_output_and_a_tidy_metric_table(outputs):
    table = read_metrics(outputs["metrics"])
    assert list(table.columns) == list(METRIC_COLUMNS)
    overall = table[table["unit"] == "all"].set_index("metric")["value"]
    for metric in ("image_top1", "brain_top1", "image_top1_shuffled", "brain_top1_shuffled", "pixcorr", "ssim",
                   "two_way_demo-clip", "pixcorr_low_level", "ssim_low_level"):
        assert metric in overall.index, metric
    # 15 test items: retrieval among all of them, chance 1/15
    assert overall["retrieval_subset"] == 15 and overall["chance"] == pytest.approx(1 / 15)
    per_image = table[(table["unit"] != "all") & (table["metric"] == "ssim")]
    assert len(per_image) == 3
    assert not Path(f"{outputs['model']}.resume").exists()
    for name in ("final", "low_level"):
        index = pd.read_parquet(outputs["reconstructions"] / name / "index.parquet")
        assert len(index) == 3 and set(index["split"]) == {"test"}
    retrievals = pd.read_csv(outputs["retrievals"])
    assert len(retrievals) == 15 * 3 and retrievals.groupby("stim_id")["rank"].max().eq(3).all()
    assert outputs["retrieval"].stat().st_size > 0 and outputs["reconstruction"].stat().st_size > 0


def test_checkpoints_describe_themselves(outputs):
    model, payload = load_checkpoint(outputs["model"])
    assert payload["extra"]["backbone"] == "demo-clip" and payload["extra"]["n_train"] == 45
    assert payload["extra"]["subject"] == "subj01"
    assert payload["optimizer"] is None and model.config.n_voxels == 200
    low, low_payload = load_low_level(outputs["low_level"])
    assert low_payload["config"]["map_side"] == 4 and low_payload["neurogaze_version"]
    assert low.config.n_voxels == 200  # the ROI's voxels, read off the responses


def test_same_config_gives_byte_identical_outputs(outputs, nsd, config, tmp_path):
    again = run_all(nsd, tmp_path, config)
    for name in ("model", "metrics", "retrievals"):
        assert again[name].read_bytes() == outputs[name].read_bytes(), name
    for name in ("final", "low_level"):
        index = "reconstructions", name, "index.parquet"
        assert again[index[0]].joinpath(*index[1:]).read_bytes() == outputs[index[0]].joinpath(*index[1:]).read_bytes()
    # low_level.pt records its pipeline folder, which differs here; its weights must not
    first, second = load_low_level(outputs["low_level"])[0], load_low_level(again["low_level"])[0]
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key


def test_interrupted_training_resumes_to_the_same_weights(outputs, nsd, config, tmp_path):
    model = tmp_path / "model.pt"
    train(config, nsd, model, stop_after_epoch=1, **WILDCARDS)
    assert Path(f"{model}.resume", "checkpoint.pt").exists() and not model.exists()
    train(config, nsd, model, **WILDCARDS)
    assert not Path(f"{model}.resume").exists()
    assert_same_weights(model, outputs["model"])


def test_a_rerun_on_changed_responses_discards_the_checkpoint(nsd, config, tmp_path, caplog):
    """A run killed part-way and rerun on other data (say, another NSD root behind the same results
    path) must not continue from the checkpoint trained on the old data."""
    responses = tmp_path / "subj01.h5"
    responses.write_bytes(nsd["responses"].read_bytes())
    model = tmp_path / "model.pt"
    train(config, nsd, model, responses=responses, stop_after_epoch=1, **WILDCARDS)
    changed = read_brain_responses(responses)
    changed.responses = changed.responses + np.random.default_rng(1).standard_normal(changed.responses.shape)
    write_brain_responses(responses, changed)
    with caplog.at_level(logging.INFO, logger="neurogaze"):
        train(config, nsd, model, responses=responses, **WILDCARDS)
    fresh = tmp_path / "fresh" / "model.pt"
    fresh_responses = tmp_path / "fresh" / "subj01.h5"
    write_brain_responses(fresh_responses, changed)
    train(config, nsd, fresh, responses=fresh_responses, **WILDCARDS)
    assert_same_weights(model, fresh)
    assert "MindEye training: discarding the partial results" in caplog.text


def test_cli_gives_the_bytes_of_the_rule(outputs, nsd, config, tmp_path):
    """`neurogaze mindeye-evaluate` and the rule's call of the same stage on the same thread count."""
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(raw_config()))
    files = [str(outputs["model"]), str(nsd["responses"]), str(nsd["stimuli"]), str(nsd["backbone"])]
    cli = tmp_path / "cli"
    cli.mkdir()
    with restored_threads():
        assert main(["mindeye-evaluate", *files, str(cli / "metrics.csv"), str(cli / "retrievals.csv"), "nsd",
                     "--reconstructions", str(outputs["reconstructions"]), "--two-way", str(nsd["backbone"]),
                     "--config", str(path)]) == 0
    for name in ("metrics", "retrievals"):
        assert (cli / f"{name}.csv").read_bytes() == outputs[name].read_bytes(), name


def test_shuffled_fmri_control_falls_to_chance_when_the_true_pairing_is_perfect(monkeypatch):
    rng = np.random.default_rng(0)
    tokens = rng.standard_normal((400, 1, 8)).astype(np.float32)
    monkeypatch.setattr(mev, "predict_tokens", lambda model, voxels: (voxels, voxels.reshape(len(voxels), 1, 8)))
    test = mev.SplitData(tokens.reshape(400, -1), [f"s{i}" for i in range(400)])
    config = mev.EvaluationConfig(draw_seed=ms.derive(0, "draws"), shuffle_seed=ms.derive(0, "shuffle"))
    values, _ = mev.retrieval_scores(None, test, tokens, config)
    assert values["image_top1"] == values["brain_top1"] == 1.0
    assert values["chance"] == pytest.approx(1 / 300) and values["retrieval_subset"] == 300
    # chance is 1/300 = 0.0033, with an SE of 0.0033 for one draw of 300: 0.02 is 5 SE even if the
    # draws were one (token seeds 0-9: <= 0.006)
    assert values["image_top1_shuffled"] < 0.02 and values["brain_top1_shuffled"] < 0.02


def test_seeds_derive_from_the_master_seed():
    # the values the demo's tables were made with (master seed 0): another derivation changes every number
    names = ("train", "low_level", "reconstruct", "draws", "shuffle")
    assert [ms.derive(0, name) for name in names] == [2026729280, 1097436251, 631680398, 685029089, 1754897929]
    assert ms.derive(1, "train") != ms.derive(0, "train")


def test_each_rule_gets_only_the_settings_it_uses(config):
    def settings(rule):
        return set(STAGES[rule].params(config)["settings"])

    assert settings("mindeye_pipeline") == {"tiny_variation", "model"}
    assert set(STAGES["mindeye_pipeline"].params(config)["settings"]["model"]) == {"token_dim"}
    assert settings("mindeye_train") == {"model", "roi"}
    assert settings("mindeye_train_low_level") == {"low_level", "roi"}
    assert settings("mindeye_reconstruct") == {"reconstruction", "roi"}
    assert settings("mindeye_evaluate") == {"evaluation", "roi"}
    assert settings("mindeye_plot") == {"figures"}
    assert all(STAGES[rule].threads == 1 for rule in STAGES if rule.startswith("mindeye_"))


@pytest.mark.parametrize(("section", "key", "value", "rule"), [
    ("model", "epochs", 9, "mindeye_train"),
    ("figures", "n_images", 4, "mindeye_plot"),
    ("evaluation", "top_k", 4, "mindeye_evaluate"),
    ("reconstruction", "n_samples", 4, "mindeye_reconstruct"),
    ("low_level", "epochs", 4, "mindeye_train_low_level"),
    ("tiny_variation", "seed", 1, "mindeye_pipeline"),
])
def test_a_setting_changes_the_params_of_its_rule_alone(config, section, key, value, rule):
    changed = validate_config(raw_config(**{section: {**SECTION.get(section, {}), key: value}}))
    rules = [name for name in STAGES if name.startswith("mindeye_")]
    assert [name for name in rules if stage_params(name, config) != stage_params(name, changed)] == [rule]


# --- bad inputs ----------------------------------------------------------------------------------


def test_wrong_voxel_count_names_the_file_and_field(nsd, tmp_path):
    bad = validate_config(raw_config(model={**SECTION["model"], "n_voxels": 201}))
    with pytest.raises(DataValidationError, match=r"subj01\.h5.*responses.*201 voxels"):
        train(bad, nsd, tmp_path / "model.pt")
    assert not any(tmp_path.iterdir())


def test_missing_roi_is_named(nsd, tmp_path):
    with pytest.raises(DataValidationError, match=r"rois/V1v"):
        train(validate_config(raw_config(roi="V1v")), nsd, tmp_path / "model.pt")


def test_stimulus_missing_from_the_set_is_named(nsd, config, tmp_path):
    responses = read_brain_responses(nsd["responses"])
    responses.stim_ids = responses.stim_ids.copy()
    responses.stim_ids[0] = "nsd-99999"
    path = tmp_path / "subj01.h5"
    write_brain_responses(path, responses)
    with pytest.raises(DataValidationError, match=r"index\.parquet.*stim_id.*nsd-99999"):
        train(config, nsd, tmp_path / "model.pt", responses=path)
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "model.pt.resume").exists()


def test_token_grid_that_does_not_match_the_backbone_is_a_config_error(nsd, tmp_path):
    with pytest.raises(ConfigError, match="mindeye.model.n_tokens"):
        train(validate_config(raw_config(model={**SECTION["model"], "n_tokens": 5})), nsd, tmp_path / "model.pt")


def test_two_way_backbones_without_their_weights_are_a_config_error(outputs, nsd, config, tmp_path):
    with pytest.raises(ConfigError, match="two_way_backbones"):
        ms.evaluate(model=outputs["model"], responses=nsd["responses"], stimuli=nsd["stimuli"],
                    backbone=nsd["backbone"], reconstructions=outputs["reconstructions"], two_way=[],
                    metrics=tmp_path / "metrics.csv", retrievals=tmp_path / "retrievals.csv", dataset="nsd",
                    **STAGES["mindeye_evaluate"].params(config))
    assert not any(tmp_path.iterdir())


def test_low_level_checkpoint_of_another_kind_is_refused(outputs):
    with pytest.raises(DataValidationError, match="format"):
        load_low_level(outputs["model"])


def test_evaluation_schema_defaults_are_the_config_defaults():
    defaults = {field: getattr(mev.EvaluationConfig(), field) for field in mev.EvaluationConfig.__dataclass_fields__}
    schema = {k: tuple(v) if isinstance(v, list) else v for k, v in schema_defaults("mindeye.evaluation").items()}
    assert schema == {k: v for k, v in defaults.items() if k not in ("draw_seed", "shuffle_seed")}  # derived


# --- the paper's data: single trials, the 37-session split, the released low-level path ----------


@pytest.fixture(scope="module")
def nsd_trials(nsd, tmp_path_factory) -> Path:
    """The same tiny NSD with its single trials (datasets.nsd.single_trials)."""
    path = tmp_path_factory.mktemp("mindeye_trials") / "subj01.h5"
    loader.export_subject(nsd["responses"].parent / "raw", "subj01", path, roi="nsdgeneral", roi_files=["planted"],
                          single_trials=True, progress=False)
    return path


def test_training_reads_the_single_trials_of_the_train_images(nsd, nsd_trials, tmp_path):
    single = validate_config(raw_config(model={**SECTION["model"], "trials": "single"}))
    with pytest.raises(DataValidationError, match=r"subj01\.h5.*trial_responses"):
        train(single, nsd, tmp_path / "refused.pt")  # a file of averages only
    train(single, nsd, tmp_path / "model.pt", responses=nsd_trials)
    extra = load_checkpoint(tmp_path / "model.pt")[1]["extra"]
    data = read_brain_responses(nsd_trials, trials=True)
    train_rows = np.nonzero(data.split == "train")[0]
    assert extra["n_train"] == len(train_rows) == 45
    assert extra["n_train_trials"] == int(np.isin(data.trial_rows, train_rows).sum()) == 45 * 3


def test_low_level_stage_mixes_the_single_trials(nsd, nsd_trials, config, tmp_path):
    pipeline = tmp_path / "pipeline"
    run("mindeye_pipeline", config, stimuli=nsd["stimuli"], pipeline=pipeline)
    mixed = validate_config(raw_config(low_level={**SECTION["low_level"], "trials": "mixed"}))
    run("mindeye_train_low_level", mixed, responses=nsd_trials, stimuli=nsd["stimuli"], pipeline=pipeline,
        low_level=tmp_path / "low_level.pt", **WILDCARDS)
    model, payload = load_low_level(tmp_path / "low_level.pt")
    assert model.config.trials == "mixed" and payload["extra"]["n_train_trials"] == 45 * 3
    contrastive = validate_config(raw_config(low_level={**SECTION["low_level"], "cont_weight": 0.1}))
    with pytest.raises(ConfigError, match="teacher_weights"):
        run("mindeye_train_low_level", contrastive, responses=nsd["responses"], stimuli=nsd["stimuli"],
            pipeline=pipeline, low_level=tmp_path / "refused.pt", **WILDCARDS)
    assert not (tmp_path / "refused.pt").exists()


def test_paper_config_is_the_papers_data_and_low_level_training():
    paper = validate_config(yaml.safe_load((REPO / "config" / "paper.yaml").read_text()))
    nsd = paper["datasets"]["nsd"]
    assert nsd["sessions"] == 37 and nsd["single_trials"] is True  # 8,859 train / 982 test images, single trials
    mindeye = paper["mindeye"]
    assert mindeye["model"]["trials"] == "single"
    assert mindeye["evaluation"]["subset"] == 300  # drawn from the test split: the 982
    low = mindeye["low_level"]
    assert (low["pixel_weight"], low["cont_weight"], low["mixup_fraction"], low["trials"]) == (0.0, 0.1, 0.0, "mixed")
    assert "FILL_IN" in low["teacher_weights"]  # a file the user gives (validation makes the path absolute)
# --- released checkpoints --------------------------------------------------------------------------


def write_released(outputs: dict, folder: Path) -> tuple[Path, Path]:
    """The trained demo weights re-saved as the release saves its files (key layout, wrappers,
    diffusers 0.13 attention names, the low-level maps_projector)."""
    folder.mkdir(parents=True, exist_ok=True)
    high, low = folder / "last.pth", folder / "epoch120.pth"
    model = load_checkpoint(outputs["model"])[0]
    torch.save(released_high_level_payload(model.state_dict()), high)
    low_model = load_low_level(outputs["low_level"])[0]
    torch.save(released_low_level_payload(low_model.state_dict(), low_model.config.map_channels), low)
    return high, low


def test_released_checkpoints_reconstruct_and_evaluate_as_the_trained_ones(outputs, nsd, config, tmp_path):
    """mindeye_reconstruct and mindeye_evaluate take the released files where model.pt and
    low_level.pt would be, with no training, and give the same bytes as from the same weights in
    neurogaze's format."""
    high, low = write_released(outputs, tmp_path / "mindeye_models")
    state = torch.load(high, weights_only=False)["model_state_dict"]
    assert set(state) == set(released_layout(v=200, h=32, blocks=1, n=1, d=32, p=32, depth=1, heads=2, dh=8,
                                             steps=100))
    low_state = torch.load(low, weights_only=False)["model_state_dict"]
    assert "upsampler.mid_block.attentions.0.query.weight" in low_state and "maps_projector.6.bias" in low_state
    data = {"responses": nsd["responses"], "stimuli": nsd["stimuli"], "backbone": nsd["backbone"]}
    recons = tmp_path / "reconstructions"
    run("mindeye_reconstruct", config, **data, model=high, pipeline=outputs["pipeline"], low_level=low,
        reconstructions=recons, **WILDCARDS)
    files = sorted(p for p in outputs["reconstructions"].rglob("*") if p.is_file())
    assert len(files) > 6  # both stimulus sets' indexes and images
    for file in files:
        relative = file.relative_to(outputs["reconstructions"])
        assert (recons / relative).read_bytes() == file.read_bytes(), relative
    metrics, retrievals = tmp_path / "metrics.csv", tmp_path / "retrievals.csv"
    run("mindeye_evaluate", config, **data, model=high, reconstructions=recons, two_way=[nsd["backbone"]],
        metrics=metrics, retrievals=retrievals, **WILDCARDS)
    assert metrics.read_bytes() == outputs["metrics"].read_bytes()
    assert retrievals.read_bytes() == outputs["retrievals"].read_bytes()


def test_a_released_low_level_file_of_another_layout_is_named(outputs, tmp_path):
    low_model = load_low_level(outputs["low_level"])[0]
    payload = released_low_level_payload(low_model.state_dict(), low_model.config.map_channels)
    del payload["model_state_dict"]["lin1.weight"]
    torch.save(payload, tmp_path / "epoch120.pth")
    with pytest.raises(DataValidationError, match=r"epoch120\.pth.*lin1\.weight"):
        open_low_level(tmp_path / "epoch120.pth")


def test_a_neurogaze_file_of_another_kind_is_refused_as_a_model(outputs):
    with pytest.raises(DataValidationError, match=r"low_level\.pt.*format.*mindeye-low-level"):
        ms.open_mindeye(outputs["low_level"], "cpu")
