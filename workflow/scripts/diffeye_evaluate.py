from neurogaze.gaze.diffeye import stages
from neurogaze.runlog import job

with job(snakemake) as arguments:
    stages.diffeye_evaluate(**arguments)
