"""Encoder metrics -> accuracy map as NIfTI (subject space) and a glass-brain / fsaverage5 figure."""

from neurogaze.figures.encoding import plot_encoder_files
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    plot_encoder_files(
        snakemake.input.metrics,  # noqa: F821
        snakemake.input.responses,  # noqa: F821
        snakemake.output.nifti,  # noqa: F821
        snakemake.output.figure,  # noqa: F821
        metric=snakemake.params.figure.get("metric", "r_over_nc"),  # noqa: F821
        surface=snakemake.params.figure.get("surface", False),  # noqa: F821
        title=f"{snakemake.wildcards.dataset} {snakemake.wildcards.subject}",  # noqa: F821
    )
