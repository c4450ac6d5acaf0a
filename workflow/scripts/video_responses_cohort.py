from neurogaze.data import video
from neurogaze.runlog import job

with job(snakemake) as arguments:
    video.video_responses_cohort(**arguments)
