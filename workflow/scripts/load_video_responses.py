"""Video-evoked betas (sub-<id>_betas.nii.gz) -> results/data/brain/video/<subject>.h5."""

from neurogaze.data.video import load_video_responses
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    load_video_responses(snakemake.params.betas, snakemake.input.videos, snakemake.output[0])  # noqa: F821
