"""The ADHD rules' stages: their registry entries, the files they read and write, the CLI running
them as the rules do, and the demo's checks along the pipeline's own path."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from neurogaze.brain.adhd import classification, stages
from neurogaze.cli import main
from neurogaze.config import load_config
from neurogaze.data.contracts import read_metrics
from neurogaze.errors import DataValidationError
from neurogaze.runlog import stage_context
from neurogaze.stages import ADHD_CLASSIFIER_KEYS, ADHD_MAPS_KEYS, STAGES, stage, stage_params

from .cohorts import make_cohort, write_rest_folder


@pytest.fixture(scope="module")
def config(repo_root):
    return load_config(repo_root / "config" / "config.yaml")


@pytest.fixture(scope="module")
def toy(tmp_path_factory, config):
    """A loaded 60-subject cohort with planted regions, its maps (demo settings but a denser
    graph for the small mask) and the generator-like folder with its ground truth."""
    root = tmp_path_factory.mktemp("adhd")
    subjects, planted = make_cohort()
    rest = write_rest_folder(root / "rest", subjects)
    (root / "synthetic").mkdir()
    truth = {"regions": [{"name": "planted", "voxel_indices": np.flatnonzero(planted).tolist()}]}
    (root / "synthetic" / "ground_truth.json").write_text(json.dumps(truth))
    settings = {**stage_params("adhd_maps", config)["settings"], "graph": {"mode": "density", "density": 0.05}}
    stages.maps(rest=rest, cohort_maps=root / "cohort_maps.h5", phenotype=root / "cohort_maps.phenotype.csv",
                settings=settings, test_subjects=None, seed=0, dataset="toy")
    return root


def test_each_rule_gets_only_its_settings(config):
    maps = stage_params("adhd_maps", config)
    evaluate = stage_params("adhd_evaluate", config)
    assert set(maps) == {"settings", "test_subjects", "seed"}
    assert set(evaluate) == {"settings", "seed"}
    assert stage_params("adhd_plot", config) == {}
    # The registry's key lists are the dataclasses' fields: every setting reaches its rule.
    fields = {f.name for f in dataclasses.fields(classification.MapsConfig)}
    assert set(maps["settings"]) == set(ADHD_MAPS_KEYS) == fields
    classifier = {f.name for f in dataclasses.fields(classification.ClassifierConfig)}
    assert set(evaluate["settings"]) == set(ADHD_CLASSIFIER_KEYS) == classifier
    # A classifier setting does not touch the maps (which are the costly part).
    changed = {**config, "adhd": {**config["adhd"], "n_permutations": 7, "mask_alpha": 0.2}}
    assert stage_params("adhd_maps", changed) == maps
    for rule in ("adhd_maps", "adhd_evaluate", "adhd_plot"):
        assert callable(stage(rule).load())


def test_maps_writes_the_cohort_and_caches_each_subject(toy):
    cohort = classification.read_cohort_maps(toy / "cohort_maps.h5", toy / "cohort_maps.phenotype.csv")
    assert cohort.maps.shape == (60, 3, 8 * 8 * 6)
    assert cohort.feature_names == ("degree", "clustering", "triangles")
    assert set(cohort.phenotype["split"]) == {"train", "test"}
    assert len(list((toy / stages.MAPS_CACHE).glob("s0*.npy"))) == 60


def test_maps_takes_the_listed_test_subjects(toy, tmp_path, config):
    listed = tmp_path / "test_subjects.csv"
    pd.DataFrame({"subject": ["s001", "s002", "s010"]}).to_csv(listed, index=False)
    settings = {**stage_params("adhd_maps", config)["settings"], "graph": {"mode": "density", "density": 0.05}}
    out = tmp_path / "cohort_maps.h5"
    stages.maps(rest=toy / "rest", cohort_maps=out, phenotype=tmp_path / "phenotype.csv", settings=settings,
                test_subjects=listed, seed=0, dataset="toy")
    table = pd.read_csv(tmp_path / "phenotype.csv", dtype={"subject": str})
    assert sorted(table.loc[table["split"] == "test", "subject"]) == ["s001", "s002", "s010"]
    # Each subject's maps are cached beside the output.
    assert len(list((tmp_path / stages.MAPS_CACHE).glob("*.npy"))) == 60


def test_evaluate_scores_the_planted_regions_and_needs_the_ground_truth(toy, tmp_path, config):
    params = stage_params("adhd_evaluate", config)
    files = {"cohort_maps": toy / "cohort_maps.h5", "phenotype": toy / "cohort_maps.phenotype.csv"}
    outputs = {"metrics": tmp_path / "metrics.csv", "predictions": tmp_path / "predictions.csv",
               "maps": tmp_path / "maps.h5"}
    stages.evaluate(**files, synthetic=toy / "synthetic", **outputs, **params, dataset="toy")
    metrics = read_metrics(outputs["metrics"]).set_index(["unit", "split", "metric"])["value"]
    assert metrics[("cohort", "test", "accuracy")] >= 0.8
    assert metrics[("cohort", "train", "mask_dice_planted")] > 0
    # A synthetic cohort without its ground truth stops before any output is written.
    elsewhere = {name: tmp_path / "none" / path.name for name, path in outputs.items()}
    with pytest.raises(DataValidationError, match="ground_truth.json"):
        stages.evaluate(**files, synthetic=tmp_path, **elsewhere, **params, dataset="toy")
    assert not (tmp_path / "none").exists()


def test_cli_runs_adhd_evaluate_as_the_rule_does(toy, tmp_path, repo_root):
    """``neurogaze adhd-evaluate`` and a direct call of the stage on the rule's thread count write
    the same bytes."""
    configfile = repo_root / "config" / "config.yaml"
    inputs = [str(toy / "cohort_maps.h5"), str(toy / "cohort_maps.phenotype.csv")]
    cli = [str(tmp_path / "cli" / name) for name in ("metrics.csv", "predictions.csv", "maps.h5")]
    assert main(["adhd-evaluate", *inputs, *cli, "toy", "--synthetic", str(toy / "synthetic"),
                 "--config", str(configfile), "--log", str(tmp_path / "cli.log")]) == 0

    direct = {name: tmp_path / "direct" / name for name in ("metrics.csv", "predictions.csv", "maps.h5")}
    with stage_context(None, "adhd_evaluate", STAGES["adhd_evaluate"].threads):
        stages.evaluate(cohort_maps=inputs[0], phenotype=inputs[1], synthetic=toy / "synthetic",
                        metrics=direct["metrics.csv"], predictions=direct["predictions.csv"], maps=direct["maps.h5"],
                        **stage_params("adhd_evaluate", load_config(configfile)), dataset="toy")
    for name in ("metrics.csv", "predictions.csv"):
        assert (tmp_path / "cli" / name).read_bytes() == direct[name].read_bytes(), name
    assert f"adhd_evaluate runs on {STAGES['adhd_evaluate'].threads} thread(s)" in (tmp_path / "cli.log").read_text()


@pytest.mark.slow
def test_demo_config_passes_the_issue_checks_through_the_pipeline_path(config, tmp_path):
    """The demo's checks along the pipeline's own stages and settings (the registry's params of
    config/config.yaml): generate_adhd200 -> load_adhd200 (the config's cleaning) -> adhd_maps ->
    adhd_evaluate -> metrics.csv."""
    name = config["adhd"]["dataset"]
    assert config["datasets"][name]["root"] is None  # the demo cohort is the synthetic one (planted regions)
    raw, rest, out = tmp_path / "synthetic", tmp_path / "rest", tmp_path / "adhd"

    def run(rule, **files):
        stage(rule).load()(**files, **stage_params(rule, config))

    run(f"generate_{name}", root=raw)
    run(f"load_{name}", root=raw, rest=rest)
    run("adhd_maps", rest=rest, cohort_maps=out / "cohort_maps.h5", phenotype=out / "cohort_maps.phenotype.csv",
        dataset=name)
    run("adhd_evaluate", cohort_maps=out / "cohort_maps.h5", phenotype=out / "cohort_maps.phenotype.csv",
        synthetic=raw, metrics=out / "metrics.csv", predictions=out / "predictions.csv", maps=out / "maps.h5",
        dataset=name)

    metrics = read_metrics(out / "metrics.csv").set_index(["unit", "split", "metric"])["value"]
    assert metrics[("cohort", "test", "accuracy")] >= 0.8
    assert metrics[("cohort", "train", "mask_dice_planted")] >= 0.5
    assert metrics[("cohort", "permutation", "permuted_accuracy_mean")] <= 0.6
