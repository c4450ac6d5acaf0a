"""The rules' stages on a tiny trunk and one experiment: with and without the human file, released
weights, the registry's params (only what each rule uses), the CLI against a direct call, and the
plot stage."""

import json
import logging

import pandas as pd
import pytest
import torch

from neurogaze.cli import main
from neurogaze.config import load_config
from neurogaze.data.contracts import read_metrics
from neurogaze.errors import DataValidationError, MissingWeightsError
from neurogaze.figures.search_asymmetry import plot
from neurogaze.gaze.search_asymmetry import stages
from neurogaze.gaze.search_asymmetry.eccnet import EccNet, EccNetConfig, load_checkpoint
from neurogaze.gaze.search_asymmetry.experiments import (
    PAPER_HARD_CONDITIONS,
    asymmetry_table,
    condition_table,
    load_human_rt,
    paper_hard_conditions,
)
from neurogaze.gaze.search_asymmetry.stimuli import EXPERIMENTS
from neurogaze.runlog import stage_context
from neurogaze.stages import stage_params

pytestmark = pytest.mark.usefixtures("one_thread")

TABLES = ("trials", "conditions", "asymmetry", "metrics")
WIDTHS = [4, 8, 8, 8, 8]
TINY = [
    "search_asymmetry.backbone.widths=[4, 8, 8, 8, 8]",
    "search_asymmetry.backbone.training={steps: 2, batch_size: 4, crop: 32, lr: 0.001}",
    "search_asymmetry.experiments=[intersection]",
    "search_asymmetry.n_per_set_size=1",
    "search_asymmetry.seed=3",
    "device=cpu",
]


def _config(repo_root, *overrides):
    return load_config(repo_root / "config" / "config.yaml", overrides=[*TINY, *overrides])


def _outputs(folder):
    return {name: folder / f"{name}.csv" for name in TABLES}


def _write_human(path, experiment="Exp3 Intersection cross vs non-cross"):
    """A human file in the shared JSON's format: 'cross' is the steeper condition."""
    content = {
        "rt_from_fixations_model": {"slope_ms_per_fixation": 252.359, "intercept_ms": 376.271},
        "experiments": [{
            "experiment": experiment, "set_sizes": [3, 6, 9], "human_asymmetry_index": 0.36,
            "conditions": [
                {"key": "non_cross", "label": "No intersection target", "human_rt_ms": [645.0, 780.0, 915.0]},
                {"key": "cross", "label": "Cross target", "human_rt_ms": [829.0, 1117.0, 1405.0]},
            ],
        }],
    }
    path.write_text(json.dumps(content))
    return path


@pytest.fixture(scope="module")
def config(repo_root):
    return _config(repo_root)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, config):
    path = tmp_path_factory.mktemp("search_asymmetry") / "backbone.pt"
    stages.backbone(checkpoint=path, **stage_params("search_asymmetry_backbone", config))
    return path


def _experiments(checkpoint, folder, config, **changes):
    params = {**stage_params("search_asymmetry_experiments", config), **changes}
    stages.experiments(checkpoint=checkpoint, **_outputs(folder), **params)


def test_model_only_run_is_deterministic_and_plots(checkpoint, config, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="neurogaze.gaze.search_asymmetry.stages"):
        _experiments(checkpoint, tmp_path / "a", config)
    assert "search_asymmetry.human_rt: null" in caplog.text
    _experiments(checkpoint, tmp_path / "b", config)
    for name in TABLES:
        assert (tmp_path / "a" / f"{name}.csv").read_bytes() == (tmp_path / "b" / f"{name}.csv").read_bytes(), name
    asymmetry = pd.read_csv(tmp_path / "a" / "asymmetry.csv")
    assert asymmetry["hard_condition"].tolist() == ["cross"]  # the paper's split, without the human file
    assert asymmetry["human_asymmetry_index"].isna().all()
    metrics = read_metrics(tmp_path / "a" / "metrics.csv")
    assert not metrics["metric"].str.startswith("human").any()
    assert {"model_asymmetry_index", "model_rt_ms", "mean_fixations"} <= set(metrics["metric"])
    assert metrics["value"].notna().all()
    assert set(metrics["method"]) == {"eccnet"} and set(metrics["seed"]) == {3}
    trials = pd.read_csv(tmp_path / "a" / "trials.csv")
    assert len(trials) == 2 * len(EXPERIMENTS["intersection"].set_sizes)

    figures = {"rt_vs_set_size": tmp_path / "rt.png", "asymmetry_index": tmp_path / "index.png"}
    plot(conditions=tmp_path / "a" / "conditions.csv", asymmetry=tmp_path / "a" / "asymmetry.csv", **figures)
    assert all(path.stat().st_size > 1000 for path in figures.values())


def test_run_with_the_human_file_adds_human_rows(checkpoint, config, tmp_path):
    human = _write_human(tmp_path / "human.json")
    _experiments(checkpoint, tmp_path / "out", config, human_rt=str(human))
    asymmetry = pd.read_csv(tmp_path / "out" / "asymmetry.csv")
    assert asymmetry["human_asymmetry_index"].iloc[0] == pytest.approx((96 - 45) / (96 + 45))
    metrics = read_metrics(tmp_path / "out" / "metrics.csv")
    assert {"human_asymmetry_index", "human_rt_ms", "model_asymmetry_index"} <= set(metrics["metric"])
    figures = {"rt_vs_set_size": tmp_path / "rt.png", "asymmetry_index": tmp_path / "index.png"}
    plot(conditions=tmp_path / "out" / "conditions.csv", asymmetry=tmp_path / "out" / "asymmetry.csv", **figures)
    assert all(path.stat().st_size > 1000 for path in figures.values())


def test_a_configured_human_file_that_is_missing_fails_naming_it(checkpoint, config, tmp_path):
    """The rule makes the file an input (Snakemake stops first); a direct call fails just as loudly."""
    with pytest.raises(DataValidationError, match="absent.json.*no such file"):
        _experiments(checkpoint, tmp_path / "out", config, human_rt=str(tmp_path / "absent.json"))
    assert not (tmp_path / "out").exists()


def test_a_human_file_missing_a_condition_fails_before_writing(checkpoint, config, tmp_path):
    human = _write_human(tmp_path / "human.json", experiment="Exp4 Intersection T vs L")
    with pytest.raises(DataValidationError, match="human_rt_ms"):
        _experiments(checkpoint, tmp_path / "out", config, human_rt=str(human))
    assert not (tmp_path / "out").exists()


def test_released_weights_are_repacked_and_searched_with(repo_root, tmp_path):
    """A torchvision-layout VGG16 state dict (tiny widths here) becomes the stage's checkpoint."""
    torch.manual_seed(1)
    state = EccNet(EccNetConfig(widths=WIDTHS)).trunk.state_dict()
    torch.save({**state, "classifier.0.weight": torch.zeros(2, 2)}, tmp_path / "vgg16.pth")
    config = _config(repo_root, f"search_asymmetry.backbone.weights={tmp_path / 'vgg16.pth'}")
    stages.backbone(checkpoint=tmp_path / "backbone.pt", **stage_params("search_asymmetry_backbone", config))
    model, record = load_checkpoint(tmp_path / "backbone.pt")
    assert record["objective"] == "released torchvision VGG16 weights"
    assert all(torch.equal(model.trunk.state_dict()[key], value) for key, value in state.items())
    _experiments(tmp_path / "backbone.pt", tmp_path / "out", config)
    assert (tmp_path / "out" / "metrics.csv").is_file()


def test_released_weights_that_are_missing_name_the_file(repo_root, tmp_path):
    config = _config(repo_root, f"search_asymmetry.backbone.weights={tmp_path / 'vgg16.pth'}")
    with pytest.raises(MissingWeightsError, match="vgg16.pth"):
        stages.backbone(checkpoint=tmp_path / "backbone.pt", **stage_params("search_asymmetry_backbone", config))
    assert not (tmp_path / "backbone.pt").exists()


def test_params_carry_only_what_each_rule_uses(repo_root, tmp_path):
    config = _config(repo_root)
    backbone = stage_params("search_asymmetry_backbone", config)
    assert backbone["model"] == {"rf_min": 2, "pool_type": "avg"}  # the pooling the trunk trains with
    searching = _config(repo_root, "search_asymmetry.model.dog_iterations=1", "search_asymmetry.n_per_set_size=5",
                        "search_asymmetry.human_rt=human.json")
    assert stage_params("search_asymmetry_backbone", searching) == backbone
    experiments = stage_params("search_asymmetry_experiments", searching)
    assert experiments["model"]["dog_iterations"] == 1 and experiments["n_per_set_size"] == 5
    assert experiments["human_rt"] == str(repo_root / "human.json")  # resolved against the repository root
    assert stage_params("search_asymmetry_plot", config) == {}
    # released weights are repacked: the training settings, images and seed do not apply
    released = _config(repo_root, "search_asymmetry.backbone.weights=vgg16.pth", "search_asymmetry.seed=9",
                       "search_asymmetry.backbone.training.steps=7")
    assert stage_params("search_asymmetry_backbone", released) == {
        "weights": str(repo_root / "vgg16.pth"), "widths": WIDTHS, "image_dir": None, "training": None,
        "model": None, "seed": None}


def test_the_cli_command_gives_the_bytes_of_a_direct_call(repo_root, config, tmp_path):
    """`neurogaze search-asymmetry-backbone` = rule search_asymmetry_backbone on the same threads."""
    overrides = [arg for override in TINY for arg in ("--set", override)]
    assert main(["search-asymmetry-backbone", str(tmp_path / "cli.pt"), "--config", str(repo_root / "config" /
                 "config.yaml"), *overrides, "--threads", "1"]) == 0
    with stage_context(None, "search_asymmetry_backbone", 1):
        stages.backbone(checkpoint=tmp_path / "direct.pt", **stage_params("search_asymmetry_backbone", config))
    assert (tmp_path / "cli.pt").read_bytes() == (tmp_path / "direct.pt").read_bytes()


@pytest.mark.realdata
def test_paper_hard_conditions_are_the_steeper_human_conditions(real_data_dir):
    human, _ = load_human_rt(real_data_dir / "search_asymmetry_human_rt.json")
    conditions = human.assign(model_rt_ms=human["human_rt_ms"])
    by_human_slope = asymmetry_table(conditions)
    assert dict(zip(by_human_slope["experiment"], by_human_slope["hard_condition"])) == paper_hard_conditions()
    assert set(PAPER_HARD_CONDITIONS) == set(EXPERIMENTS)


def test_model_only_conditions_need_a_hard_condition_mapping():
    trials = pd.DataFrame({"experiment": "e", "condition": ["a", "a", "b", "b"], "set_size": [1, 2, 1, 2],
                           "trial": 0, "n_fixations": [1, 2, 1, 1], "found": True})
    conditions = condition_table(trials, None)
    with pytest.raises(DataValidationError, match="hard_conditions"):
        asymmetry_table(conditions)
    table = asymmetry_table(conditions, {"e": "a"})
    assert table["model_asymmetry_index"].iloc[0] == pytest.approx(1.0)
