"""ADHD in the DAG: every file of the chain is a final target, so a deleted intermediate (the
cohort maps) is rebuilt by a plain rerun instead of "Nothing to be done"; the configured list of
test subjects is an input of the maps."""

import os
import re

import yaml

from .conftest import run_snakemake
from .paper_tree import write_paper_tree

DATASET = "adhd200"
# The chain's files in the order its rules write them (the demo's synthetic cohort).
CHAIN = [
    f"results/synthetic/{DATASET}/",
    *(f"results/data/rest_parts/{DATASET}/{name}" for name in ("phenotype.csv", "scans.parquet", "mask.nii.gz")),
    f"results/data/rest/{DATASET}/",
    f"results/adhd/{DATASET}/cohort_maps.h5",
    f"results/adhd/{DATASET}/cohort_maps.phenotype.csv",
    *(f"results/adhd/{DATASET}/{name}" for name in ("metrics.csv", "predictions.csv", "maps.h5")),
    *(f"results/figures/adhd/{DATASET}_{name}.png" for name in ("group_difference", "learned_mask", "roc", "accuracy")),
]


def _planned(workdir) -> set[str]:
    # Files' presence and age only: the stand-ins below have no run records (params, code).
    stdout = run_snakemake(workdir, "-n", "--quiet", "rules", "--rerun-triggers", "mtime").stdout
    return set(re.findall(r"^(\w+)\s+\d+\s*$", stdout, flags=re.MULTILINE))


def test_a_deleted_cohort_maps_file_is_rebuilt(workflow_copy):
    # Stand-ins for a finished run, each file newer than the ones it is made from.
    for age, name in enumerate(reversed(CHAIN), start=1):
        path = workflow_copy / name
        if name.endswith("/"):
            path.mkdir(parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        os.utime(path, (1e9 - 60 * age, 1e9 - 60 * age))
    assert not {"adhd_maps", "adhd_evaluate", "adhd_plot"} & _planned(workflow_copy)

    (workflow_copy / f"results/adhd/{DATASET}/cohort_maps.h5").unlink()
    assert {"adhd_maps", "adhd_evaluate", "adhd_plot"} <= _planned(workflow_copy)


def test_the_configured_test_list_is_an_input_of_the_maps(workflow_copy, tmp_path):
    paper = yaml.safe_load((workflow_copy / "config" / "paper.yaml").read_text())
    configfile = write_paper_tree(paper, tmp_path / "real")
    listed = yaml.safe_load(configfile.read_text())["adhd"]["test_subjects"]
    target = f"results/adhd/{DATASET}/cohort_maps.h5"
    result = run_snakemake(workflow_copy, target, "-n", "--configfile", str(configfile))
    assert re.search(rf"rule adhd_maps:\n\s+input: .*{re.escape(listed)}", result.stdout), result.stdout

    os.remove(listed)  # a missing list stops the run, naming the file
    result = run_snakemake(workflow_copy, target, "-n", "--configfile", str(configfile), check=False)
    assert result.returncode != 0
    assert "MissingInputException" in result.stdout + result.stderr and listed in result.stdout + result.stderr
