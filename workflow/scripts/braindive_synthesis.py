"""Diffusers pipeline + fitted encoder + ROI masks -> guided and unguided images per ROI."""

from neurogaze.backbones import build_backbone
from neurogaze.brain.braindive import BrainDiVEConfig
from neurogaze.brain.braindive_stages import synthesis_stage
from neurogaze.runlog import job_log, resolve_device

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    params = snakemake.params  # noqa: F821
    device = resolve_device(params.device)
    synthesis_stage(
        snakemake.input.pipeline,  # noqa: F821
        snakemake.input.encoder,  # noqa: F821
        snakemake.input.responses,  # noqa: F821
        snakemake.output[0],  # noqa: F821
        BrainDiVEConfig.from_dict(dict(params.sampling)),
        build_backbone(params.backbone, device, params.backbones).model,
        rois=params.rois,
        device=device,
    )
