"""Write synthetic moving-grating/disc videos and motion-selective voxel betas (+ ground_truth.json)."""

from neurogaze.data.synthetic.video import SyntheticVideoConfig, generate_video
from neurogaze.runlog import derive_seed, job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    seed = derive_seed(snakemake.params.seed, "video")  # noqa: F821
    generate_video(snakemake.output[0], SyntheticVideoConfig.from_config(snakemake.params.config["synthetic"], seed=seed))  # noqa: F821
