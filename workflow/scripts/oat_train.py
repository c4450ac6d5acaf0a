from neurogaze.gaze.oat import stages
from neurogaze.runlog import job

with job(snakemake) as arguments:
    stages.oat_train(**arguments)
