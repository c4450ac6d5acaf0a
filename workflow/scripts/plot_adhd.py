"""ADHD evaluation outputs -> group-difference and learned-mask glass brains, ROC, accuracy vs paper."""

from pathlib import Path

from neurogaze.figures.adhd import plot_adhd_files
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    out = snakemake.output  # noqa: F821
    plot_adhd_files(Path(snakemake.input.metrics).parent, out.group_difference, out.mask, out.roc, out.accuracy)  # noqa: F821
