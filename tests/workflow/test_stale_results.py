"""No silent stale results: every file a rule reads is an input (a missing one stops the run with
Snakemake's missing-input message), a rule's params carry only the config it uses (an unrelated
change reruns nothing), jobs run on the threads they are given, and the CLI gives the rule's bytes."""

import hashlib
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import run_snakemake

OSIE = ["results/data/gaze/osie/fixations.parquet", "results/features/demo-clip/osie.npy"]


def _config_with(workdir: Path, edit) -> Path:
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    edit(config)
    path = workdir / "config" / "edited.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))  # a user edits values, not the key order
    return path


def _released(config: dict, name: str, model: str, weights: str) -> None:
    config["backbones"][name] = {"model": model, "pretrained": "openai", "weights": weights}


def test_a_missing_released_weights_file_stops_the_run_naming_it(workflow_copy, tmp_path):
    missing = tmp_path / "absent" / "ViT-B-32.pt"

    def edit(config):
        _released(config, "ViT-B-32-openai", "ViT-B-32", str(missing))
        config["encoding"]["backbone"] = "ViT-B-32-openai"

    result = run_snakemake(workflow_copy, "-n", "--configfile", str(_config_with(workflow_copy, edit)), check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Missing input files" in output and str(missing) in output


def test_nevaclip_on_a_released_backbone_whose_file_is_missing_stops_the_run(workflow_copy, tmp_path):
    missing = tmp_path / "RN50.pt"

    def edit(config):
        _released(config, "RN50-openai", "RN50", str(missing))
        config["nevaclip"]["backbone"] = "RN50-openai"

    result = run_snakemake(workflow_copy, "-n", "--configfile", str(_config_with(workflow_copy, edit)), check=False)
    assert result.returncode != 0
    assert "Missing input files" in result.stdout + result.stderr and str(missing) in result.stdout + result.stderr


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_unrelated_changes_rerun_nothing_and_the_cli_gives_the_rule_s_bytes(workflow_copy, tmp_path):
    run_snakemake(workflow_copy, "--cores", "2", *OSIE)

    def unused_backbone(config):
        _released(config, "ViT-L-14-openai", "ViT-L-14", str(tmp_path / "never-read.pt"))

    def other_method(config):
        config["mindeye"]["model"]["epochs"] = 3
        config["gaze_evaluation"]["sigma_deg"] = 2.0

    for edit in (unused_backbone, other_method):
        configfile = _config_with(workflow_copy, edit)
        result = run_snakemake(workflow_copy, *OSIE, "-n", "--configfile", str(configfile))
        assert "Nothing to be done" in result.stdout + result.stderr, (edit.__name__, result.stdout[-3000:])

    def osie_images(config):  # the control: a setting the OSIE set is made from reruns it
        config["datasets"]["osie"]["synthetic"]["n_images"] = 6

    result = run_snakemake(workflow_copy, *OSIE, "-n", "--configfile", str(_config_with(workflow_copy, osie_images)))
    assert "generate_osie" in result.stdout

    # the same stage by hand, from another folder, with the rule's thread count: the same bytes
    out = tmp_path / "cli"
    results = workflow_copy / "results"
    command = [sys.executable, "-m", "neurogaze.cli", "extract-image-features", "--config",
               str(workflow_copy / "config" / "config.yaml"), str(results / "data/stimuli/osie"),
               str(results / "backbones/demo-clip/demo-clip.pt"), str(out / "osie.npy"), str(out / "osie.ids.txt"),
               "demo-clip", "osie"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert _sha(out / "osie.npy") == _sha(results / "features/demo-clip/osie.npy")
    assert (out / "osie.ids.txt").read_text() == (results / "features/demo-clip/osie.ids.txt").read_text()


def test_a_job_runs_on_the_threads_it_is_given(workflow_copy):
    run_snakemake(workflow_copy, "results/synthetic/osie", "--cores", "2", "--set-threads", "generate_osie=2")
    log = (workflow_copy / "logs" / "data" / "generate_osie.log").read_text()
    assert "runs on 2 thread(s): torch 2" in log and "openblas 2" in log
