"""MindEye retrievals and reconstructions -> the retrieval grid and the reconstruction grid."""

from neurogaze.brain.mindeye_stages import MindEyeSettings, run_figures
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    inputs, output = snakemake.input, snakemake.output  # noqa: F821
    run_figures(
        inputs.stimuli,
        inputs.retrievals,
        inputs.reconstructions,
        output.retrieval,
        output.reconstruction,
        MindEyeSettings.from_config(snakemake.params.settings, snakemake.params.seed),  # noqa: F821
    )
