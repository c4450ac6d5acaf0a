"""MindEye checkpoint + test voxels + reconstructions -> metrics.csv (tidy) and retrievals.csv."""

import torch

from neurogaze.brain.mindeye_stages import MindEyeSettings, run_evaluate
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    torch.set_num_threads(snakemake.threads)  # noqa: F821 (tiny demo models thrash on more threads than cores)
    params, inputs, output = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
    run_evaluate(
        inputs.model,
        inputs.responses,
        inputs.stimuli,
        output.metrics,
        output.retrievals,
        MindEyeSettings.from_config(params.settings, params.seed),
        dataset=snakemake.wildcards.dataset,  # noqa: F821
        backbones=params.backbones,
        recon_dir=inputs.reconstructions,
        device=params.device,
    )
