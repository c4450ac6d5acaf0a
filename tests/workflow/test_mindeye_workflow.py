"""MindEye in the DAG: the demo builds its tiny variation pipeline and runs every MindEye rule; the
paper config reads the configured Versatile Diffusion folder instead."""

import re

import yaml

from .conftest import run_snakemake
from .paper_tree import write_paper_tree

MINDEYE_RULES = ("mindeye_train", "mindeye_train_low_level", "mindeye_reconstruct", "mindeye_evaluate", "plot_mindeye")


def _rules(stdout: str) -> set[str]:
    return set(re.findall(r"^(\w+)\s+\d+\s*$", stdout, flags=re.MULTILINE))


def test_demo_dry_run_includes_every_mindeye_rule(workflow_copy):
    rules = _rules(run_snakemake(workflow_copy, "-n", "--quiet", "rules").stdout)
    assert set(MINDEYE_RULES) | {"mindeye_variation_pipeline"} <= rules, rules


def test_paper_dry_run_uses_the_configured_variation_pipeline(workflow_copy, tmp_path):
    paper = yaml.safe_load((workflow_copy / "config" / "paper.yaml").read_text())
    assert paper["mindeye"]["variation_pipeline_dir"].startswith("FILL_IN")
    configfile = write_paper_tree(paper, tmp_path / "real")
    result = run_snakemake(workflow_copy, "-n", "--quiet", "rules", "--configfile", str(configfile))
    rules = _rules(result.stdout)
    assert set(MINDEYE_RULES) <= rules, rules
    assert "mindeye_variation_pipeline" not in rules
