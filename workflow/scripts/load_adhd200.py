"""ADHD-200 (Athena layout) -> results/data/rest/adhd200/<subject>.h5 + phenotype.csv + mask.nii.gz."""

from neurogaze.data.adhd200 import Adhd200Options, load_adhd200
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    load_adhd200(snakemake.input[0], snakemake.output[0], Adhd200Options.from_config(snakemake.params.config), dataset="adhd200")  # noqa: F821
