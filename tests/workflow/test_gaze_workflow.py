"""Gaze and NevaClip in the DAG: the demo runs every rule; NevaClip's backbone weights are an input,
so a missing released checkpoint stops the run with Snakemake's missing-input message naming the
file; a config that leaves NevaClip off needs no backbone for it and still scores the baselines."""

import re

import yaml

from .conftest import run_snakemake

GAZE_RULES = {"gaze_baseline", "gaze_evaluate", "gaze_human_consistency", "gaze_plot", "nevaclip_scanpaths"}


def _rules(stdout: str) -> dict[str, int]:
    return {name: int(count) for name, count in re.findall(r"^(\w+)\s+(\d+)\s*$", stdout, flags=re.MULTILINE)}


def _config_with(workflow_copy, edit) -> str:
    config = yaml.safe_load((workflow_copy / "config" / "config.yaml").read_text())
    edit(config)
    path = workflow_copy / "config" / "edited.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_demo_dry_run_scores_every_baseline_and_nevaclip(workflow_copy):
    rules = _rules(run_snakemake(workflow_copy, "-n", "--quiet", "rules").stdout)
    assert GAZE_RULES <= set(rules), rules
    # OSIE: centre_bias, uniform, nevaclip; CapMIT1003: the same and the free-viewing control
    assert rules["gaze_evaluate"] == 7 and rules["gaze_baseline"] == 4
    assert rules["nevaclip_scanpaths"] == 3


def test_missing_released_weights_stop_the_run_naming_the_file(workflow_copy, tmp_path):
    missing = tmp_path / "released" / "RN50.pt"

    def released_rn50(config):
        config["backbones"]["RN50-released"] = {"model": "RN50", "pretrained": "openai", "weights": str(missing)}
        config["nevaclip"]["backbone"] = "RN50-released"

    configfile = _config_with(workflow_copy, released_rn50)
    target = "results/gaze/nevaclip/osie/metrics.csv"
    result = run_snakemake(workflow_copy, target, "-n", "--configfile", configfile, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "MissingInputException" in output and str(missing) in output, output[-3000:]


def test_nevaclip_off_needs_no_backbone_and_scores_the_baselines(workflow_copy):
    def nevaclip_off(config):
        config["nevaclip"] = {"enabled": False}  # its default backbone (RN50-openai) is not configured here

    configfile = _config_with(workflow_copy, nevaclip_off)
    rules = _rules(run_snakemake(workflow_copy, "-n", "--quiet", "rules", "--configfile", configfile).stdout)
    assert rules["gaze_evaluate"] == 4 and "nevaclip_scanpaths" not in rules
