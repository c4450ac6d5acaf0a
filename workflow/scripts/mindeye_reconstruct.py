"""MindEye checkpoints + test voxels -> best-of-N image-variation reconstructions (two stimulus sets)."""

import torch

from neurogaze.brain.mindeye_stages import MindEyeSettings, run_reconstruct
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    torch.set_num_threads(snakemake.threads)  # noqa: F821 (tiny demo models thrash on more threads than cores)
    params, inputs = snakemake.params, snakemake.input  # noqa: F821
    run_reconstruct(
        inputs.model,
        inputs.responses,
        inputs.stimuli,
        inputs.pipeline,
        snakemake.output[0],  # noqa: F821
        MindEyeSettings.from_config(params.settings, params.seed),
        backbones=params.backbones,
        low_level_path=inputs.get("low_level"),
        device=params.device,
    )
