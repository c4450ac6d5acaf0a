"""A folder of videos / frame folders -> results/data/videos/video/ (frames, fps, optical flow)."""

from neurogaze.data.video import VideoOptions, load_video_set
from neurogaze.runlog import job_log

with job_log(snakemake):  # noqa: F821 (injected by Snakemake)
    options = VideoOptions.from_config({**snakemake.params.config, "device": snakemake.params.device})  # noqa: F821
    load_video_set(snakemake.params.videos, snakemake.output[0], options)  # noqa: F821
