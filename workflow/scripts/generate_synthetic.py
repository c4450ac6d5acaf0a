"""Write a dataset's synthetic set in its real on-disk layout (plus ground_truth.json)."""

from neurogaze.data.synthetic import generate_synthetic
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    generate_synthetic(
        snakemake.wildcards.dataset,  # noqa: F821
        snakemake.output[0],  # noqa: F821
        snakemake.params.dataset_config,  # noqa: F821
        snakemake.params.seed,  # noqa: F821
        backbones=snakemake.params.backbones,  # noqa: F821
    )
