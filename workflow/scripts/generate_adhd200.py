"""Write a synthetic ADHD-200-like cohort in the Athena layout (+ ground_truth.json)."""

from neurogaze.data.synthetic.adhd200 import SyntheticAdhd200Config, generate_adhd200
from neurogaze.runlog import derive_seed, job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    seed = derive_seed(snakemake.params.seed, "adhd200")  # noqa: F821
    generate_adhd200(snakemake.output[0], SyntheticAdhd200Config.from_config(snakemake.params.config["synthetic"], seed=seed))  # noqa: F821
