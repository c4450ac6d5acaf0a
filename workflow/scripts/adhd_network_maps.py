"""A loaded resting-state cohort -> per-subject network maps (degree, clustering, 3-cycles)."""

from neurogaze.brain.adhd import run_cohort_maps
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    run_cohort_maps(
        snakemake.input[0],  # noqa: F821
        snakemake.output[0],  # noqa: F821
        snakemake.params.settings,  # noqa: F821
        snakemake.params.seed,  # noqa: F821
        cache_dir=snakemake.params.cache_dir,  # noqa: F821
    )
