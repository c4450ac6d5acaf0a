"""BrainDiVE images + dataset top-N -> top-images grid and activation comparison figures."""

from neurogaze.figures.braindive import plot_braindive_files
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    plot_braindive_files(
        snakemake.input.synthesis,  # noqa: F821
        snakemake.input.dataset_top,  # noqa: F821
        snakemake.output.top_images,  # noqa: F821
        snakemake.output.activation,  # noqa: F821
        n_per_roi=snakemake.params.figure.get("n_per_roi", 8),  # noqa: F821
    )
