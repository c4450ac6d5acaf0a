"""A fitted encoder -> test-split metrics.csv (per unit) and roi_summary.csv (per ROI)."""

from neurogaze.brain.encoding import evaluate_encoder_files
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    evaluate_encoder_files(
        snakemake.input.model,  # noqa: F821
        snakemake.input.features,  # noqa: F821
        snakemake.input.responses,  # noqa: F821
        snakemake.output.metrics,  # noqa: F821
        snakemake.output.rois,  # noqa: F821
        dict(snakemake.params.settings),  # noqa: F821
        dataset=f"{snakemake.wildcards.dataset}/{snakemake.wildcards.subject}",  # noqa: F821
        stimuli_dir=snakemake.input.stimuli,  # noqa: F821
        backbones=snakemake.params.backbones,  # noqa: F821
        device=snakemake.params.device,  # noqa: F821
        seed=snakemake.params.seed,  # noqa: F821
    )
