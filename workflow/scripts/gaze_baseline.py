from neurogaze.gaze import stages
from neurogaze.runlog import job

with job(snakemake) as arguments:
    stages.baseline(**arguments)
