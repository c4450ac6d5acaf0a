"""Gaze metric tables and predicted scanpaths -> metric bars and scanpaths on images."""

from neurogaze.figures.gaze import plot_gaze_files
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    plot_gaze_files(
        list(snakemake.input.tables),  # noqa: F821
        list(snakemake.input.predictions),  # noqa: F821
        snakemake.input.fixations,  # noqa: F821
        snakemake.input.stimuli,  # noqa: F821
        snakemake.output.metrics,  # noqa: F821
        snakemake.output.scanpaths,  # noqa: F821
        dataset=snakemake.wildcards.dataset,  # noqa: F821
    )
