"""Write a synthetic NSD-like root in the released layout (plus ground_truth.json)."""

from neurogaze.runlog import derive_seed, job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    from neurogaze.data.synthetic.nsd import generate_from_config

    params = snakemake.params  # noqa: F821
    generate_from_config(
        snakemake.output[0],  # noqa: F821
        params.synthetic,
        backbone=params.backbone,
        backbones=params.backbones,
        seed=derive_seed(params.seed, "nsd"),
    )
