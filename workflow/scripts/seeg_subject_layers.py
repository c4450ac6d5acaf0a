from neurogaze.brain.seeg import stages
from neurogaze.runlog import job

with job(snakemake) as arguments:
    stages.subject_layers(**arguments)
