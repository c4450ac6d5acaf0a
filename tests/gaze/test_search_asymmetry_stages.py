"""The file-level search-asymmetry stages on a tiny trunk and one experiment, with and without
the (optional) human reference file."""

import json
import logging

import pandas as pd
import pytest

from neurogaze.data.contracts import read_metrics
from neurogaze.errors import DataValidationError, MissingWeightsError
from neurogaze.figures.search_asymmetry import plot_search_asymmetry_files
from neurogaze.gaze.search_asymmetry import (
    PAPER_HARD_CONDITIONS,
    asymmetry_table,
    condition_table,
    load_human_rt,
    paper_hard_conditions,
)
from neurogaze.gaze.search_asymmetry_stages import (
    OUTPUT_FILES,
    run_backbone,
    run_search_asymmetry,
)
from neurogaze.gaze.search_stimuli import EXPERIMENTS

SETTINGS = {
    "backbone": {"weights": None, "widths": [4, 8, 8, 8, 8],
                 "training": {"steps": 2, "batch_size": 4, "crop": 32, "lr": 0.001}, "image_dir": None},
    "model": {},
    "experiments": ["intersection"],
    "n_per_set_size": 1,
}


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


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Small convolutions on a busy 2-core machine run ~10x faster on one thread than on two."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    path = tmp_path_factory.mktemp("eccnet") / "backbone.pt"
    run_backbone(path, SETTINGS, seed=0)
    return path


def test_model_only_run_is_deterministic_and_plots(backbone, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        run_search_asymmetry(backbone, tmp_path / "a", SETTINGS, seed=3, human_rt_path=tmp_path / "absent.json",
                             device="cpu")
    assert "no human search-asymmetry RTs" in caplog.text
    run_search_asymmetry(backbone, tmp_path / "b", SETTINGS, seed=3, human_rt_path=None, device="cpu")
    for name in OUTPUT_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    asymmetry = pd.read_csv(tmp_path / "a" / "asymmetry.csv")
    assert asymmetry["hard_condition"].tolist() == ["cross"]  # the paper's split, without the human file
    assert asymmetry["human_asymmetry_index"].isna().all()
    metrics = read_metrics(tmp_path / "a" / "metrics.csv")
    assert not metrics["metric"].str.startswith("human").any()
    assert {"model_asymmetry_index", "model_rt_ms", "mean_fixations"} <= set(metrics["metric"])
    assert metrics["value"].notna().all()
    trials = pd.read_csv(tmp_path / "a" / "trials.csv")
    assert len(trials) == 2 * len(EXPERIMENTS["intersection"].set_sizes)

    figures = [tmp_path / "rt.png", tmp_path / "index.png"]
    plot_search_asymmetry_files(tmp_path / "a" / "conditions.csv", tmp_path / "a" / "asymmetry.csv", *figures)
    assert all(path.stat().st_size > 1000 for path in figures)


def test_run_with_the_human_file_adds_human_rows(backbone, tmp_path):
    human = _write_human(tmp_path / "human.json")
    run_search_asymmetry(backbone, tmp_path / "out", SETTINGS, seed=3, human_rt_path=human, device="cpu")
    asymmetry = pd.read_csv(tmp_path / "out" / "asymmetry.csv")
    assert asymmetry["human_asymmetry_index"].iloc[0] == pytest.approx((96 - 45) / (96 + 45))
    metrics = read_metrics(tmp_path / "out" / "metrics.csv")
    assert {"human_asymmetry_index", "human_rt_ms", "model_asymmetry_index"} <= set(metrics["metric"])
    figures = [tmp_path / "rt.png", tmp_path / "index.png"]
    plot_search_asymmetry_files(tmp_path / "out" / "conditions.csv", tmp_path / "out" / "asymmetry.csv", *figures)
    assert all(path.stat().st_size > 1000 for path in figures)


def test_a_human_file_missing_a_condition_fails_before_writing(backbone, tmp_path):
    human = _write_human(tmp_path / "human.json", experiment="Exp4 Intersection T vs L")
    with pytest.raises(DataValidationError, match="human_rt_ms"):
        run_search_asymmetry(backbone, tmp_path / "out", SETTINGS, seed=3, human_rt_path=human, device="cpu")
    assert not (tmp_path / "out" / "metrics.csv").exists()


def test_released_weights_are_repacked_and_searched_with(tmp_path):
    """A torchvision-layout VGG16 state dict (tiny widths here) becomes the stage's checkpoint."""
    import torch

    from neurogaze.gaze.eccnet import EccNet, EccNetConfig, load_checkpoint

    torch.manual_seed(1)
    state = EccNet(EccNetConfig(widths=tuple(SETTINGS["backbone"]["widths"]))).trunk.state_dict()
    torch.save({**state, "classifier.0.weight": torch.zeros(2, 2)}, tmp_path / "vgg16.pth")
    settings = {**SETTINGS, "backbone": {**SETTINGS["backbone"], "weights": str(tmp_path / "vgg16.pth")}}
    run_backbone(tmp_path / "backbone.pt", settings, seed=0)
    model, record = load_checkpoint(tmp_path / "backbone.pt")
    assert record["objective"] == "released torchvision VGG16 weights"
    assert all(torch.equal(model.trunk.state_dict()[key], value) for key, value in state.items())
    run_search_asymmetry(tmp_path / "backbone.pt", tmp_path / "out", settings, seed=0, device="cpu")
    assert (tmp_path / "out" / "metrics.csv").is_file()


def test_released_weights_that_are_missing_name_the_file(tmp_path):
    settings = {**SETTINGS, "backbone": {**SETTINGS["backbone"], "weights": str(tmp_path / "vgg16.pth")}}
    with pytest.raises(MissingWeightsError, match="vgg16.pth"):
        run_backbone(tmp_path / "backbone.pt", settings, seed=0)
    assert not (tmp_path / "backbone.pt").exists()


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
