"""The ADHD rules' stages: their registry entries, the files they read and write, the CLI running
them as the rules do, and the demo's checks along the pipeline's own path."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurogaze.brain.adhd import classification, stages
from neurogaze.brain.adhd.graphs import GraphConfig
from neurogaze.cli import main
from neurogaze.config import load_config
from neurogaze.data.contracts import read_metrics
from neurogaze.errors import DataValidationError
from neurogaze.runlog import stage_context
from neurogaze.shards import shard_subjects, table_subjects
from neurogaze.stages import (
    ADHD_CLASSIFIER_KEYS,
    ADHD_MAPS_KEYS,
    ADHD_SUBJECT_MAPS_KEYS,
    STAGES,
    stage,
    stage_params,
)

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
    _fan_out_maps(config, rest, root, test_subjects=None)
    return root


def _fan_out_maps(config, rest, out, test_subjects, subjects_per_job=25):
    """adhd_subject_maps per shard, then adhd_maps, as the rules run them (demo settings but a
    denser graph for the small mask)."""
    subject_settings = {**stage_params("adhd_subject_maps", config)["settings"],
                        "graph": {"mode": "density", "density": 0.05}}
    subjects = list(pd.read_csv(rest / "phenotype.csv", dtype={"subject": str})["subject"])
    parts = []
    for shard in shard_subjects(subjects, subjects_per_job):
        parts.append(str(out / "subject_maps" / f"{shard}.h5"))
        stages.subject_maps(rest=rest, shard=shard, subject_maps=parts[-1], settings=subject_settings,
                            subjects_per_job=subjects_per_job, dataset="toy")
    stages.maps(rest=rest, parts=parts, cohort_maps=out / "cohort_maps.h5", phenotype=out / "cohort_maps.phenotype.csv",
                settings=stage_params("adhd_maps", config)["settings"], test_subjects=test_subjects, seed=0,
                dataset="toy")
    return parts


def test_each_rule_gets_only_its_settings(config):
    subject_maps = stage_params("adhd_subject_maps", config)
    maps = stage_params("adhd_maps", config)
    evaluate = stage_params("adhd_evaluate", config)
    assert set(subject_maps) == {"settings", "subjects_per_job"}
    assert set(maps) == {"settings", "test_subjects", "seed"}
    assert set(evaluate) == {"settings", "seed"}
    assert stage_params("adhd_plot", config) == {}
    # The registry's key lists are the dataclasses' fields: every setting reaches its rule.
    fields = {f.name for f in dataclasses.fields(classification.MapsConfig)}
    assert set(subject_maps["settings"]) | set(maps["settings"]) == fields
    assert set(subject_maps["settings"]) == set(ADHD_SUBJECT_MAPS_KEYS) and set(maps["settings"]) == set(ADHD_MAPS_KEYS)
    classifier = {f.name for f in dataclasses.fields(classification.ClassifierConfig)}
    assert set(evaluate["settings"]) == set(ADHD_CLASSIFIER_KEYS) == classifier
    # A classifier setting does not touch the maps (which are the costly part), nor a split
    # setting the per-subject maps.
    changed = {**config, "adhd": {**config["adhd"], "n_permutations": 7, "mask_alpha": 0.2, "test_fraction": 0.5}}
    assert stage_params("adhd_subject_maps", changed) == subject_maps
    for rule in ("adhd_subject_maps", "adhd_maps", "adhd_evaluate", "adhd_plot"):
        assert callable(stage(rule).load())


def test_maps_fan_out_per_shard_and_gather_the_cohort(toy):
    cohort = classification.read_cohort_maps(toy / "cohort_maps.h5", toy / "cohort_maps.phenotype.csv")
    assert cohort.maps.shape == (60, 3, 8 * 8 * 6)
    assert cohort.feature_names == ("degree", "clustering", "triangles")
    assert set(cohort.phenotype["split"]) == {"train", "test"}
    # 60 subjects at 25 per job: three shards, named after their first subject
    assert sorted(path.name for path in (toy / "subject_maps").glob("*.h5")) == ["s000.h5", "s025.h5", "s050.h5"]


def test_gather_is_the_single_process_cohort_byte_for_byte(toy, tmp_path, config):
    """One job per subject and a gather write the bytes compute_cohort_maps writes in one process."""
    rest = toy / "rest"
    parts = _fan_out_maps(config, rest, tmp_path / "fanned", test_subjects=None, subjects_per_job=1)
    assert len(parts) == 60
    table = pd.read_csv(rest / "phenotype.csv", dtype={"subject": str, "site": str, "dx_code": str})
    maps_config = classification.MapsConfig(graph=GraphConfig(mode="density", density=0.05),
                                            features=tuple(config["adhd"]["features"]),
                                            test_fraction=config["adhd"]["test_fraction"])
    whole = classification.compute_cohort_maps([rest / f"{s}.h5" for s in table["subject"]], maps_config,
                                               phenotype=table, seed=0)
    classification.write_cohort_maps(tmp_path / "whole.h5", whole, tmp_path / "whole.csv")
    assert (tmp_path / "whole.h5").read_bytes() == (tmp_path / "fanned" / "cohort_maps.h5").read_bytes()
    assert (tmp_path / "whole.csv").read_bytes() == (tmp_path / "fanned" / "cohort_maps.phenotype.csv").read_bytes()
    # A shard missing from the gather is named, before anything is written.
    with pytest.raises(DataValidationError, match="s059"):
        stages.maps(rest=rest, parts=parts[:-1], cohort_maps=tmp_path / "none.h5", phenotype=tmp_path / "none.csv",
                    settings=stage_params("adhd_maps", config)["settings"], test_subjects=None, seed=0, dataset="toy")
    assert not (tmp_path / "none.h5").exists()


def test_maps_takes_the_listed_test_subjects(toy, tmp_path, config):
    listed = tmp_path / "test_subjects.csv"
    pd.DataFrame({"subject": ["s001", "s002", "s010"]}).to_csv(listed, index=False)
    _fan_out_maps(config, toy / "rest", tmp_path, test_subjects=listed)
    table = pd.read_csv(tmp_path / "cohort_maps.phenotype.csv", dtype={"subject": str})
    assert sorted(table.loc[table["split"] == "test", "subject"]) == ["s001", "s002", "s010"]


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
    config/config.yaml): generate_adhd200 -> adhd200_cohort -> load_adhd200_subjects per shard (the
    config's cleaning) -> load_adhd200 -> adhd_subject_maps per shard -> adhd_maps -> adhd_evaluate ->
    metrics.csv."""
    name = config["adhd"]["dataset"]
    assert config["datasets"][name]["root"] is None  # the demo cohort is the synthetic one (planted regions)
    raw, rest, out = tmp_path / "synthetic", tmp_path / "rest", tmp_path / "adhd"

    def run(rule, **files):
        stage(rule).load()(**files, **stage_params(rule, config))

    run(f"generate_{name}", root=raw)
    parts_dir = tmp_path / "rest_parts"
    cohort = {"phenotype": parts_dir / "phenotype.csv", "mask": parts_dir / "mask.nii.gz"}
    run(f"{name}_cohort", root=raw, scans=parts_dir / "scans.parquet", **cohort)
    subjects = table_subjects(cohort["phenotype"])
    shards = shard_subjects(subjects, config["datasets"][name]["subjects_per_job"])
    for shard in shards:
        run(f"load_{name}_subjects", root=raw, scans=parts_dir / "scans.parquet", mask=cohort["mask"], shard=shard,
            part=parts_dir / shard)
    run(f"load_{name}", **cohort, parts=[str(parts_dir / shard) for shard in shards], rest=rest)
    map_shards = shard_subjects(subjects, config["adhd"]["subjects_per_job"])
    parts = [str(out / "subject_maps" / f"{shard}.h5") for shard in map_shards]
    for part in parts:
        run("adhd_subject_maps", rest=rest, shard=Path(part).stem, subject_maps=part, dataset=name)
    run("adhd_maps", rest=rest, parts=parts, cohort_maps=out / "cohort_maps.h5",
        phenotype=out / "cohort_maps.phenotype.csv", dataset=name)
    run("adhd_evaluate", cohort_maps=out / "cohort_maps.h5", phenotype=out / "cohort_maps.phenotype.csv",
        synthetic=raw, metrics=out / "metrics.csv", predictions=out / "predictions.csv", maps=out / "maps.h5",
        dataset=name)

    metrics = read_metrics(out / "metrics.csv").set_index(["unit", "split", "metric"])["value"]
    assert metrics[("cohort", "test", "accuracy")] >= 0.8
    assert metrics[("cohort", "train", "mask_dice_planted")] >= 0.5
    assert metrics[("cohort", "permutation", "permuted_accuracy_mean")] <= 0.6
