"""Stimuli (+ humans' prompts: search targets or captions) -> NevaClip scanpaths."""

from neurogaze.gaze.stages import run_nevaclip
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    run_nevaclip(
        snakemake.input.fixations,  # noqa: F821
        snakemake.input.stimuli,  # noqa: F821
        snakemake.output[0],  # noqa: F821
        snakemake.params.settings,  # noqa: F821
        snakemake.params.evaluation,  # noqa: F821
        snakemake.wildcards.dataset,  # noqa: F821
        snakemake.params.backbones,  # noqa: F821
        snakemake.params.device,  # noqa: F821
        resume_dir=snakemake.params.resume_dir,  # noqa: F821
        captions_path=snakemake.input.get("captions"),  # noqa: F821
    )
