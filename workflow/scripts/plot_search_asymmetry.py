"""Search-asymmetry tables -> RT against set size and the asymmetry-index figure."""

from neurogaze.figures.search_asymmetry import plot_search_asymmetry_files
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    plot_search_asymmetry_files(
        snakemake.input.conditions,  # noqa: F821
        snakemake.input.asymmetry,  # noqa: F821
        snakemake.output.rt_vs_set_size,  # noqa: F821
        snakemake.output.asymmetry_index,  # noqa: F821
    )
