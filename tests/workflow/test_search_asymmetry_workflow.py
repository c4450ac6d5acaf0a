"""search_asymmetry in the DAG: the demo runs on the model alone; every file a stage reads (the
human RTs, the released VGG16 weights) is an input, so a missing one stops a dry run naming it."""

import re

import yaml

from .conftest import run_snakemake
from .paper_tree import write_paper_tree

RULES = {"search_asymmetry_backbone", "search_asymmetry_experiments", "search_asymmetry_plot"}


def _rules(stdout: str) -> set[str]:
    return set(re.findall(r"^(\w+)\s+\d+\s*$", stdout, flags=re.MULTILINE))


def _with(workflow_copy, section: dict, name: str):
    config = yaml.safe_load((workflow_copy / "config" / "config.yaml").read_text())
    config["search_asymmetry"].update(section)
    path = workflow_copy / "config" / name
    path.write_text(yaml.safe_dump(config))
    return path


def test_demo_dry_run_runs_the_model_without_a_human_file(workflow_copy):
    result = run_snakemake(workflow_copy, "-n", "search_asymmetry_plot", "--quiet", "rules")
    assert RULES <= _rules(result.stdout), result.stdout


def test_a_configured_human_file_that_is_missing_stops_the_dry_run_naming_it(workflow_copy):
    configfile = _with(workflow_copy, {"human_rt": "data/absent_human_rt.json"}, "missing_human.yaml")
    result = run_snakemake(workflow_copy, "search_asymmetry_plot", "-n", "--configfile", str(configfile), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Missing input files for rule search_asymmetry_experiments" in output, output
    assert str(workflow_copy / "data" / "absent_human_rt.json") in output, output


def test_a_configured_human_file_is_an_input(workflow_copy):
    (workflow_copy / "data").mkdir(exist_ok=True)
    (workflow_copy / "data" / "human_rt.json").write_text("{}")
    configfile = _with(workflow_copy, {"human_rt": "data/human_rt.json"}, "human.yaml")
    result = run_snakemake(workflow_copy, "search_asymmetry_plot", "-n", "--configfile", str(configfile))
    assert "human_rt.json" in result.stdout


def test_paper_dry_run_reads_the_released_weights_and_stops_without_them(workflow_copy, tmp_path):
    paper = yaml.safe_load((workflow_copy / "config" / "paper.yaml").read_text())
    configfile = write_paper_tree(paper, tmp_path / "real")
    filled = yaml.safe_load(configfile.read_text())["search_asymmetry"]
    result = run_snakemake(workflow_copy, "search_asymmetry_plot", "-n", "--configfile", str(configfile))
    assert filled["backbone"]["weights"] in result.stdout and filled["human_rt"] in result.stdout
    (tmp_path / "real" / "vgg16_imagenet_filters.h5").unlink()
    result = run_snakemake(workflow_copy, "search_asymmetry_plot", "-n", "--configfile", str(configfile), check=False)
    assert result.returncode != 0
    assert "Missing input files for rule search_asymmetry_backbone" in result.stdout + result.stderr
