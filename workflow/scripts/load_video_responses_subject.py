from neurogaze.data import video
from neurogaze.runlog import job

with job(snakemake) as arguments:
    video.load_video_responses_subject(**arguments)
