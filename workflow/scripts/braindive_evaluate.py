"""BrainDiVE images + encoder (+ an independent backbone, planted truth) -> metrics.csv."""

from pathlib import Path

from neurogaze.backbones import build_backbone
from neurogaze.brain.braindive_stages import evaluation_stage
from neurogaze.runlog import job_log, resolve_device

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    inputs, params = snakemake.input, snakemake.params  # noqa: F821
    device = resolve_device(params.device)
    backbone = build_backbone(params.backbone, device, params.backbones)
    independent = None
    if params.independent_backbone:
        independent = build_backbone(params.independent_backbone, device, params.backbones).model
    truth = Path(inputs.synthetic) / "ground_truth.json" if "synthetic" in inputs.keys() else None
    evaluation_stage(
        inputs.synthesis,
        inputs.encoder,
        inputs.responses,
        inputs.stimuli,
        snakemake.output.metrics,  # noqa: F821
        snakemake.wildcards.dataset,  # noqa: F821
        backbone.model,
        independent_clip_model=independent,
        ground_truth_path=truth,
        categories=params.categories,
        tokenizer=backbone.tokenizer,
        dataset_top_path=snakemake.output.dataset_top,  # noqa: F821
        device=device,
    )
