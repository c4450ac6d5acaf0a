"""Cohort network maps -> PCA-LDA metrics, predictions and the learned mask."""

from pathlib import Path

from neurogaze.brain.adhd import run_evaluation
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    run_evaluation(
        snakemake.input.maps,  # noqa: F821
        Path(snakemake.output.metrics).parent,  # noqa: F821
        snakemake.params.settings,  # noqa: F821
        snakemake.params.seed,  # noqa: F821
        dataset=snakemake.wildcards.dataset,  # noqa: F821
        ground_truth_path=snakemake.params.ground_truth,  # noqa: F821
    )
