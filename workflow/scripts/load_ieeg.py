"""BIDS-iEEG -> results/data/brain/ieeg/<subject>.h5 (+ features, events, electrodes tables)."""

from neurogaze.data.ieeg import IeegOptions, load_ieeg
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    load_ieeg(snakemake.input[0], snakemake.output[0], IeegOptions.from_config(snakemake.params.config), dataset="ieeg")  # noqa: F821
