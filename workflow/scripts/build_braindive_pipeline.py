"""Stimulus images -> the demo's tiny Stable Diffusion folder (VAE fitted on the images)."""

from neurogaze.brain.braindive_stages import build_pipeline_stage
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    settings = dict(snakemake.params.settings)  # noqa: F821
    build_pipeline_stage(
        snakemake.input.stimuli,  # noqa: F821
        snakemake.output[0],  # noqa: F821
        settings.get("tiny", {}),
        settings.get("vae_fit"),
    )
