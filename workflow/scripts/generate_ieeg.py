"""Write a synthetic BIDS-iEEG movie-watching SEEG dataset (+ ground_truth.json)."""

from neurogaze.data.synthetic.ieeg import SyntheticIeegConfig, generate_ieeg
from neurogaze.runlog import derive_seed, job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    seed = derive_seed(snakemake.params.seed, "ieeg")  # noqa: F821
    generate_ieeg(snakemake.output[0], SyntheticIeegConfig.from_config(snakemake.params.config["synthetic"], seed=seed))  # noqa: F821
