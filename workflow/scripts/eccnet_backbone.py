"""eccNET backbone: released VGG16 weights repacked as a checkpoint, or a trunk trained here."""

from neurogaze.gaze.search_asymmetry_stages import run_backbone
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    run_backbone(snakemake.output[0], snakemake.params.settings, snakemake.params.seed)  # noqa: F821
