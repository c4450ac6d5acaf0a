"""Build a demo backbone from its architecture with its seed and save it like a released checkpoint."""

from neurogaze.backbones import build_backbone
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    build_backbone(snakemake.params.spec, device="cpu")  # noqa: F821
