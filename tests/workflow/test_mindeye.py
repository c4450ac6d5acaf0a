"""MindEye in the DAG: the demo builds its tiny variation pipeline and runs every MindEye rule, with
each file a rule reads among its inputs and the checkpoints among the final targets; the paper
config reads the configured Versatile Diffusion folder instead."""

import re
from pathlib import Path

import torch
import yaml

from neurogaze.brain.mindeye.low_level import LowLevelConfig, Voxel2Latent
from neurogaze.brain.mindeye.model import MindEye, MindEyeConfig

from ..brain.mindeye.synthetic import released_high_level_payload, released_low_level_payload
from .conftest import run_snakemake
from .paper_tree import write_paper_tree

MINDEYE_RULES = ("mindeye_train", "mindeye_train_low_level", "mindeye_reconstruct", "mindeye_evaluate", "mindeye_plot")


def write_released_files(template: dict, subjects: list[str]) -> dict[str, tuple[Path, Path]]:
    """Tiny untrained checkpoints in the released key layout at each subject's paths."""
    torch.manual_seed(0)
    high = MindEye(MindEyeConfig(n_voxels=20, hidden=8, n_blocks=1, n_tokens=2, token_dim=8, projector_hidden=8,
                                 prior_depth=1, prior_heads=1, prior_dim_head=8, prior_timesteps=4))
    low = Voxel2Latent(LowLevelConfig(n_voxels=20, hidden=8, n_blocks=1, map_channels=8, map_side=2,
                                      decoder_channels=(8, 8)))
    files = {}
    for subject in subjects:
        paths = tuple(Path(template[kind].replace("{subject}", subject)) for kind in ("high_level", "low_level"))
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(released_high_level_payload(high.state_dict()), paths[0])
        torch.save(released_low_level_payload(low.state_dict(), 8), paths[1])
        files[subject] = paths
    return files


def _rules(stdout: str) -> set[str]:
    return set(re.findall(r"^(\w+)\s+\d+\s*$", stdout, flags=re.MULTILINE))


def _inputs(stdout: str, rule: str) -> list[str]:
    """The input files of the dry run's (first) job of ``rule``."""
    block = re.search(rf"^(?:local)?rule {rule}:\n(.*?)(?:\n\n|\Z)", stdout, flags=re.MULTILINE | re.DOTALL)
    assert block, f"no job of {rule}"
    line = re.search(r"^\s+input: (.*)$", block.group(1), flags=re.MULTILINE)
    return [] if line is None else line.group(1).split(", ")


def test_demo_dry_run_includes_every_mindeye_rule_and_its_inputs(workflow_copy):
    stdout = run_snakemake(workflow_copy, "-n").stdout
    assert set(MINDEYE_RULES) | {"mindeye_pipeline"} <= _rules(stdout)
    pipeline = "results/mindeye/variation_pipeline"
    assert set(_inputs(stdout, "mindeye_train")) == {
        "results/data/brain/nsd/subj01.h5", "results/data/stimuli/nsd", "results/backbones/world-clip/world-clip.pt"}
    assert pipeline in _inputs(stdout, "mindeye_train_low_level")
    assert {pipeline, "results/mindeye/nsd/subj01/model.pt", "results/mindeye/nsd/subj01/low_level.pt",
            "results/backbones/world-clip/world-clip.pt"} <= set(_inputs(stdout, "mindeye_reconstruct"))
    # the two-way identification backbone's weights too
    assert {"results/mindeye/nsd/subj01/reconstructions", "results/backbones/world-clip/world-clip.pt"} <= set(
        _inputs(stdout, "mindeye_evaluate"))
    # the checkpoints are final targets: deleting one reruns it, even with its consumers in place
    targets = set(_inputs(stdout, "all"))
    assert {"results/mindeye/nsd/subj01/model.pt", "results/mindeye/nsd/subj01/low_level.pt",
            "results/mindeye/nsd/subj01/metrics.csv", "results/figures/mindeye/nsd_subj01_retrieval.png"} <= targets


def test_paper_dry_run_uses_the_configured_variation_pipeline(workflow_copy, tmp_path):
    paper = yaml.safe_load((workflow_copy / "config" / "paper.yaml").read_text())
    assert paper["mindeye"]["variation_pipeline_dir"].startswith("FILL_IN")
    configfile = write_paper_tree(paper, tmp_path / "real")
    filled = yaml.safe_load(configfile.read_text())
    stdout = run_snakemake(workflow_copy, "-n", "--configfile", str(configfile)).stdout
    rules = _rules(stdout)
    assert set(MINDEYE_RULES) <= rules, rules
    assert "mindeye_pipeline" not in rules
    pipeline = filled["mindeye"]["variation_pipeline_dir"]
    assert pipeline in _inputs(stdout, "mindeye_reconstruct")
    assert pipeline in _inputs(stdout, "mindeye_train_low_level")


def test_a_missing_variation_pipeline_is_named_before_anything_runs(workflow_copy, tmp_path):
    paper = yaml.safe_load((workflow_copy / "config" / "paper.yaml").read_text())
    configfile = write_paper_tree(paper, tmp_path / "real")
    filled = yaml.safe_load(configfile.read_text())
    missing = tmp_path / "nowhere" / "versatile-diffusion"
    filled["mindeye"]["variation_pipeline_dir"] = str(missing)
    configfile.write_text(yaml.safe_dump(filled))
    result = run_snakemake(workflow_copy, "-n", "--configfile", str(configfile), check=False)
    assert result.returncode != 0
    assert "MissingInputException" in result.stderr + result.stdout and str(missing) in result.stderr + result.stdout


def test_released_checkpoints_replace_training_in_the_paper_dag(workflow_copy, tmp_path):
    """With mindeye.released set, the paper DAG reconstructs and evaluates from the released files
    (the subject's name filled into the path) and trains nothing."""
    paper = yaml.safe_load((workflow_copy / "config" / "paper.yaml").read_text())
    assert paper["mindeye"]["released"] == {"high_level": None, "low_level": None}  # the paper trains by default
    configfile = write_paper_tree(paper, tmp_path / "real")
    filled = yaml.safe_load(configfile.read_text())
    models = tmp_path / "real" / "mindeye_models"
    template = {"high_level": str(models / "prior_257_final_{subject}_bimixco_softclip_byol" / "last.pth"),
                "low_level": str(models / "autoencoder_{subject}_4x_locont_no_reconst" / "epoch120.pth")}
    filled["mindeye"]["released"] = template
    configfile.write_text(yaml.safe_dump(filled))
    files = write_released_files(template, filled["mindeye"]["subjects"])
    stdout = run_snakemake(workflow_copy, "-n", "--configfile", str(configfile)).stdout
    rules = _rules(stdout)
    assert {"mindeye_reconstruct", "mindeye_evaluate", "mindeye_plot"} <= rules, rules
    assert not {"mindeye_train", "mindeye_train_low_level"} & rules
    high, low = files[filled["mindeye"]["subjects"][0]]
    assert {str(high), str(low)} <= set(_inputs(stdout, "mindeye_reconstruct"))
    assert str(high) in _inputs(stdout, "mindeye_evaluate")
