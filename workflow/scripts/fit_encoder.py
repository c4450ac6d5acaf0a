"""Cached features + brain responses -> a fitted voxel-wise encoder checkpoint (model.pt)."""

from neurogaze.brain.encoding import fit_encoder_files
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    fit_encoder_files(
        snakemake.input.features,  # noqa: F821
        snakemake.input.responses,  # noqa: F821
        snakemake.output[0],  # noqa: F821
        dict(snakemake.params.settings),  # noqa: F821
        stimuli_dir=snakemake.input.stimuli,  # noqa: F821
        backbones=snakemake.params.backbones,  # noqa: F821
        device=snakemake.params.device,  # noqa: F821
    )
