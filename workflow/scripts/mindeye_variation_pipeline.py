"""The demo's tiny Versatile-Diffusion image-variation pipeline, saved as a diffusers folder."""

from neurogaze.brain.mindeye_stages import (
    MindEyeSettings,
    build_demo_variation_pipeline,
)
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    settings = MindEyeSettings.from_config(snakemake.params.settings, snakemake.params.seed)  # noqa: F821
    build_demo_variation_pipeline(snakemake.output[0], settings, stimuli_dir=snakemake.input.stimuli)  # noqa: F821
