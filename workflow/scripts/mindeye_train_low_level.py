"""Brain responses (train split) + the variation pipeline's VAE -> MindEye's low-level checkpoint."""

import torch

from neurogaze.brain.mindeye_stages import MindEyeSettings, run_train_low_level
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    torch.set_num_threads(snakemake.threads)  # noqa: F821 (tiny demo models thrash on more threads than cores)
    params = snakemake.params  # noqa: F821
    run_train_low_level(
        snakemake.input.responses,  # noqa: F821
        snakemake.input.stimuli,  # noqa: F821
        snakemake.input.pipeline,  # noqa: F821
        snakemake.output[0],  # noqa: F821
        MindEyeSettings.from_config(params.settings, params.seed),
        device=params.device,
    )
