"""Human fixations -> a baseline's scanpaths for the scored split (centre bias or uniform)."""

from neurogaze.gaze.stages import run_baseline
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    run_baseline(
        snakemake.wildcards.baseline,  # noqa: F821
        snakemake.input.fixations,  # noqa: F821
        snakemake.input.stimuli,  # noqa: F821
        snakemake.output[0],  # noqa: F821
        snakemake.params.settings,  # noqa: F821
        snakemake.params.evaluation,  # noqa: F821
        snakemake.params.seed,  # noqa: F821
    )
